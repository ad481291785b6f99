/**
 * The one font of every picture dr-xai draws (plots, boards). resvg draws no text without a font
 * and does not see fontconfig, so it is handed a TTF file: $DRXAI_FONT if set, else DejaVu Sans
 * from the npm package dejavu-fonts-ttf (so `npm ci` brings it: identical pictures on every
 * machine, nothing to apt-get), else a system copy where Debian/Ubuntu, Fedora or Arch install it.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { DrXaiError } from './errors.ts';

export const FONT_FAMILY = 'DejaVu Sans';

function bundledFont(): string {
  try {
    return createRequire(import.meta.url).resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
  } catch {
    return '';
  }
}

const FONT_CANDIDATES = [
  bundledFont(),
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

export function findPlotFont(): string {
  const fromEnv = process.env.DRXAI_FONT;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new DrXaiError('font file named by DRXAI_FONT not found', { file: fromEnv });
    return fromEnv;
  }
  const found = FONT_CANDIDATES.find((f) => existsSync(f));
  if (!found) {
    throw new DrXaiError(
      `no font to draw plot text (looked for ${FONT_CANDIDATES[0]}); run npm ci (it installs dejavu-fonts-ttf) or set DRXAI_FONT to a .ttf file`,
    );
  }
  return found;
}
