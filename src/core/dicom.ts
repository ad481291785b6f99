/**
 * DICOM ophthalmic photographs (Part 10 files, e.g. modality OP or XC from a fundus camera)
 * through dicom-parser, the Cornerstone project's parser. We read only what the pixels need:
 * the transfer syntax, the image pixel module and the SOP Instance UID. Patient and study
 * attributes are never read, so they cannot reach a log, a CSV or a report.
 *
 * Supported (DICOM PS3.5 section 8 and annex A): native 8-bit colour, implicit or explicit VR
 * little endian (1.2.840.10008.1.2, .1.2.1), RGB or YBR_FULL, planar configuration 0 or 1; and
 * JPEG baseline (1.2.840.10008.1.2.4.50), whose frame is returned as JPEG bytes for sharp to
 * decode like any JPEG. One frame per file: a multi-frame object is refused with its frame count.
 */
import dicomParser from 'dicom-parser';
// Browser-safe (the page reads DICOM too): no sharp, no Node imports.
import type { RgbImage } from './image.ts';
import { DrXaiError } from './errors.ts';
import { checkImageGeometry } from './limits.ts';

const NATIVE_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'implicit VR little endian',
  '1.2.840.10008.1.2.1': 'explicit VR little endian',
};
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
/** Names of transfer syntaxes a camera may write that we do not decode, for the error message. */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.1.99': 'deflated explicit VR little endian',
  '1.2.840.10008.1.2.4.51': 'JPEG extended',
  '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
};

/** A DICOM Part 10 file: 128-byte preamble then "DICM". */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

export interface DicomPhotograph {
  pixels: { kind: 'jpeg'; bytes: Uint8Array } | { kind: 'raw'; image: RgbImage };
  sopInstanceUid?: string;
  modality?: string;
}

/** Full-range YCbCr (PS3.3 C.7.6.3.1.2, YBR_FULL) to RGB, rounded and clamped to 8 bits. */
function ybrFullToRgb(y: number, cb: number, cr: number): [number, number, number] {
  const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  return [clamp(y + 1.402 * (cr - 128)), clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)), clamp(y + 1.772 * (cb - 128))];
}

/** Read the one colour frame of a DICOM photograph; one-line DrXaiError naming `source` otherwise. */
export function readDicomPhotograph(bytes: Uint8Array, source: string, limits: { maxPixels: number }): DicomPhotograph {
  const fail = (message: string, kind?: 'corrupt' | 'greyscale' | 'unsupported-depth' | 'not-an-image'): never => {
    throw new DrXaiError(`DICOM: ${message}`, { file: source, kind: kind ?? 'not-an-image' });
  };
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (e) {
    // dicom-parser throws strings or {exception} objects as well as Errors.
    const why = e instanceof Error ? e.message : typeof e === 'string' ? e : String((e as { exception?: unknown }).exception ?? e);
    return fail(`malformed or truncated file (${why.split('\n')[0]})`, 'corrupt');
  }
  const syntax = ds.string('x00020010') ?? '1.2.840.10008.1.2';
  const pixelData = ds.elements.x7fe00010;
  if (!pixelData) return fail('no pixel data (not an image object)');
  const frames = Number.parseInt(ds.string('x00280008') ?? '1', 10);
  if (Number.isFinite(frames) && frames > 1) return fail(`multi-frame object (${frames} frames); one photograph per file is supported`);
  const samples = ds.uint16('x00280002') ?? 0;
  const photometric = (ds.string('x00280004') ?? '').trim();
  if (samples !== 3) return fail(`${photometric || `${samples}-sample`} image; a colour fundus photograph is needed`, 'greyscale');
  const width = ds.uint16('x00280011') ?? 0;
  const height = ds.uint16('x00280010') ?? 0;
  if (width === 0 || height === 0) return fail('no image size (Rows/Columns)', 'corrupt');
  checkImageGeometry(width, height, limits.maxPixels, source);
  const bits = ds.uint16('x00280100') ?? 0;
  if (bits !== 8) return fail(`${bits}-bit samples; 8-bit colour is supported`, 'unsupported-depth');
  const meta = { sopInstanceUid: ds.string('x00080018'), modality: ds.string('x00080060') };

  if (syntax === JPEG_BASELINE) {
    let frame: Uint8Array;
    try {
      frame = pixelData.basicOffsetTable && pixelData.basicOffsetTable.length > 0
        ? dicomParser.readEncapsulatedImageFrame(ds, pixelData, 0)
        : dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixelData, 0, pixelData.fragments?.length ?? 0);
    } catch (e) {
      return fail(`unreadable JPEG frame (${e instanceof Error ? e.message : String(e)})`, 'corrupt');
    }
    return { pixels: { kind: 'jpeg', bytes: new Uint8Array(frame.buffer, frame.byteOffset, frame.length) }, ...meta };
  }
  if (!(syntax in NATIVE_SYNTAXES)) {
    return fail(`unsupported transfer syntax ${syntax}${KNOWN_UNSUPPORTED[syntax] ? ` (${KNOWN_UNSUPPORTED[syntax]})` : ''}; supported: native little endian and JPEG baseline`);
  }
  if (photometric !== 'RGB' && photometric !== 'YBR_FULL') return fail(`photometric interpretation ${photometric || '(none)'} in a native file; RGB or YBR_FULL is supported`);
  const n = width * height;
  if (pixelData.dataOffset + 3 * n > bytes.length || pixelData.length < 3 * n) return fail(`pixel data holds ${Math.max(0, Math.min(pixelData.length, bytes.length - pixelData.dataOffset))} bytes, ${3 * n} expected (${width}x${height} RGB)`, 'corrupt');
  const src = bytes.subarray(pixelData.dataOffset, pixelData.dataOffset + 3 * n);
  const planar = (ds.uint16('x00280006') ?? 0) === 1;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const a = planar ? src[i] : src[3 * i];
    const b = planar ? src[n + i] : src[3 * i + 1];
    const c = planar ? src[2 * n + i] : src[3 * i + 2];
    const rgb = photometric === 'RGB' ? [a, b, c] : ybrFullToRgb(a, b, c);
    data[3 * i] = rgb[0];
    data[3 * i + 1] = rgb[1];
    data[3 * i + 2] = rgb[2];
  }
  return { pixels: { kind: 'raw', image: { width, height, channels: 3, data } }, ...meta };
}
