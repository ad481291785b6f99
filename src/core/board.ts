/**
 * Boards, the one composer of picture grids (heat-map boards, the preprocessing board): a grid of
 * cells, each a row of equally sized images with caption lines under it, a title on top and the
 * research-use disclaimer at the bottom. Text is an SVG rendered by resvg with the font of the
 * plots (font.ts); images are composited by sharp.
 */
import { Resvg } from '@resvg/resvg-js';
import sharp, { type OverlayOptions } from 'sharp';
import { findPlotFont, FONT_FAMILY } from './font.ts';
import type { RgbImage } from './image.ts';

export interface BoardCell {
  images: RgbImage[];
  caption: string[];
}

export interface BoardOptions {
  title: string;
  /** Lines under the grid (the disclaimer goes here). */
  footer: string[];
  columns?: number;
  /** Caption font size in pixels (default scales with the image size). */
  fontSize?: number;
}

const GAP = 8;
const BACKGROUND = '#101010';

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** DejaVu Sans averages about 0.6 em per character; wrap at spaces to stay inside `width` px. */
export function wrapText(line: string, width: number, fontSize: number): string[] {
  const maxChars = Math.max(8, Math.floor(width / (0.6 * fontSize)));
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > maxChars) {
      out.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  out.push(cur);
  return out;
}

/** Compose the board as PNG bytes. All images of all cells must have one size. */
export async function composeBoard(cells: BoardCell[], opts: BoardOptions): Promise<Buffer> {
  if (cells.length === 0) throw new Error('a board needs at least one cell');
  const tile = cells[0].images[0];
  const perCell = Math.max(...cells.map((c) => c.images.length));
  const columns = Math.max(1, Math.min(opts.columns ?? 2, cells.length));
  const rows = Math.ceil(cells.length / columns);
  const font = opts.fontSize ?? Math.max(11, Math.round(tile.width / 24));
  const lineH = Math.round(font * 1.3);
  const cellW = perCell * tile.width + (perCell - 1) * 2;
  const boardW = columns * cellW + (columns + 1) * GAP;
  cells = cells.map((c) => ({ ...c, caption: c.caption.flatMap((l) => wrapText(l, cellW, font)) }));
  const footer = opts.footer.flatMap((l) => wrapText(l, boardW - 2 * GAP, font));
  const captionLines = Math.max(...cells.map((c) => c.caption.length));
  const cellH = tile.height + captionLines * lineH + 6;
  const titleH = Math.round(font * 2.2);
  const footerH = footer.length * lineH + 8;
  const width = boardW;
  const height = titleH + rows * (cellH + GAP) + GAP + footerH;
  const texts: string[] = [];
  const text = (x: number, y: number, s: string, size: number, fill = '#e8e8e8', weight = 'normal') =>
    texts.push(`<text x="${x}" y="${y}" font-family="${FONT_FAMILY}" font-size="${size}" font-weight="${weight}" fill="${fill}">${escapeXml(s)}</text>`);
  text(GAP, Math.round(titleH * 0.7), opts.title, Math.round(font * 1.25), '#ffffff', 'bold');
  const composites: OverlayOptions[] = [];
  cells.forEach((cell, i) => {
    const x0 = GAP + (i % columns) * (cellW + GAP);
    const y0 = titleH + Math.floor(i / columns) * (cellH + GAP) + GAP;
    cell.images.forEach((img, j) => {
      composites.push({ input: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), raw: { width: img.width, height: img.height, channels: img.channels }, left: x0 + j * (tile.width + 2), top: y0 });
    });
    cell.caption.forEach((line, l) => text(x0, y0 + tile.height + 4 + (l + 1) * lineH - Math.round(lineH * 0.25), line, font));
  });
  footer.forEach((line, l) => text(GAP, height - footerH + (l + 1) * lineH, line, font, '#ffcc66'));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${BACKGROUND}"/>${texts.join('')}</svg>`;
  const fontFile = findPlotFont();
  const background = new Resvg(svg, { font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY } }).render().asPng();
  return sharp(background).composite(composites).removeAlpha().png({ compressionLevel: 6 }).toBuffer();
}
