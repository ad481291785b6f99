"""DICOM test fixtures for src/core/dicom.ts, written with pydicom (Debian python3-pydicom).

Reads test/fixtures/screening/phantom.{png,jpg} (from scripts/make-screening-fixtures.ts; PNG read with PIL)
and writes, next to them:
  phantom_rgb.dcm       Ophthalmic Photography, explicit VR LE, RGB, planar configuration 0
  phantom_ybr.dcm       the same pixels as YBR_FULL, planar configuration 1 (colour-by-plane)
  phantom_jpeg.dcm      JPEG baseline (1.2.840.10008.1.2.4.50), the phantom.jpg bytes encapsulated
  bad_multiframe.dcm    two frames                      -> refused with the frame count
  bad_jpeg2000.dcm      JPEG 2000 transfer syntax       -> refused, syntax named
  bad_mono.dcm          MONOCHROME2                     -> refused as greyscale
  bad_truncated.dcm     phantom_rgb.dcm cut in the pixel data -> refused as truncated
Every file carries a patient name and ID that no output of dr-xai may contain.
Run: /usr/bin/python3 scripts/make-dicom-fixtures.py
"""
import os

import numpy as np
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEG2000

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'screening')
OP_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.5.1'  # Ophthalmic Photography 8 Bit Image Storage
PATIENT_NAME = 'DOE^JANE'
PATIENT_ID = 'SECRET-PATIENT-4711'


def base(syntax, uid_suffix):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = OP_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = f'1.2.826.0.1.3680043.10.1234.{uid_suffix}'
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = OP_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'OP'
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = '19500101'
    ds.StudyInstanceUID = '1.2.826.0.1.3680043.10.1234.900'
    ds.SeriesInstanceUID = '1.2.826.0.1.3680043.10.1234.901'
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def image(syntax, uid_suffix, rows, cols, photometric, pixels, samples=3, planar=0, encapsulated=False):
    """An image object: the base dataset plus the image pixel module (PS3.3 C.7.6.3)."""
    ds = base(syntax, uid_suffix)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = planar
    if encapsulated:
        ds.PixelData = encapsulate([pixels])
        ds['PixelData'].is_undefined_length = True
        ds['PixelData'].VR = 'OB'
    else:
        ds.PixelData = pixels
    return ds


def save(ds, name):
    path = os.path.join(DIR, name)
    ds.save_as(path, write_like_original=False)
    return path


def rgb_to_ybr_full(rgb):
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.clip(np.rint(np.stack([y, cb, cr], -1)), 0, 255).astype(np.uint8)


def main():
    rgb = np.asarray(Image.open(os.path.join(DIR, 'phantom.png')).convert('RGB'))
    h, w = rgb.shape[:2]

    rgb_path = save(image(ExplicitVRLittleEndian, 1, h, w, 'RGB', rgb.tobytes()), 'phantom_rgb.dcm')
    ybr = np.ascontiguousarray(rgb_to_ybr_full(rgb).transpose(2, 0, 1)).tobytes()
    save(image(ExplicitVRLittleEndian, 2, h, w, 'YBR_FULL', ybr, planar=1), 'phantom_ybr.dcm')
    jpeg = open(os.path.join(DIR, 'phantom.jpg'), 'rb').read()
    save(image(JPEGBaseline8Bit, 3, h, w, 'YBR_FULL_422', jpeg, encapsulated=True), 'phantom_jpeg.dcm')
    multi = image(ExplicitVRLittleEndian, 4, 8, 8, 'RGB', bytes(2 * 8 * 8 * 3))
    multi.NumberOfFrames = 2
    save(multi, 'bad_multiframe.dcm')
    save(image(JPEG2000, 5, 8, 8, 'YBR_ICT', b'\xff\x4f\xff\x51' + bytes(60), encapsulated=True), 'bad_jpeg2000.dcm')
    save(image(ExplicitVRLittleEndian, 6, 16, 16, 'MONOCHROME2', bytes(16 * 16), samples=1), 'bad_mono.dcm')

    data = open(rgb_path, 'rb').read()
    open(os.path.join(DIR, 'bad_truncated.dcm'), 'wb').write(data[: len(data) - 1000])


if __name__ == '__main__':
    main()
