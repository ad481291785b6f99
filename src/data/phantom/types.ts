import type { RgbImage } from '../../core/index.ts';

/**
 * Lesion kinds a phantom can show. MA microaneurysm, HE haemorrhage, EX hard exudate,
 * SE soft exudate (cotton-wool spot): the four IDRiD lesion masks. NV neovascularisation
 * (fine tortuous new vessels) has no IDRiD mask; it is listed in `lesions` only.
 */
export type LesionType = 'MA' | 'HE' | 'EX' | 'SE' | 'NV';
export const LESION_TYPES: readonly LesionType[] = ['MA', 'HE', 'EX', 'SE', 'NV'];
/** The lesion kinds that have a pixel mask, in IDRiD's file-name spelling. */
export type MaskedLesionType = 'MA' | 'HE' | 'EX' | 'SE';
export const MASKED_LESION_TYPES: readonly MaskedLesionType[] = ['MA', 'HE', 'EX', 'SE'];

/** ICDR grade: 0 no DR, 1 mild, 2 moderate, 3 severe non-proliferative, 4 proliferative. */
export type Grade = 0 | 1 | 2 | 3 | 4;

/** One drawn lesion: its centre and nominal radius in pixels of the generated image. */
export interface Lesion {
  type: LesionType;
  x: number;
  y: number;
  radius: number;
}

/** How many lesions of each kind to draw (NV: number of new-vessel tufts). */
export interface LesionCounts {
  MA: number;
  HE: number;
  EX: number;
  SE: number;
  NV: number;
}

/** Binary planes (0 or 255), `size * size`, row-major, aligned with the image. */
export interface PhantomMasks {
  retina: Uint8Array;
  MA: Uint8Array;
  HE: Uint8Array;
  EX: Uint8Array;
  SE: Uint8Array;
  OD: Uint8Array;
}

/** Where the anatomy landed, in pixels. */
export interface PhantomAnatomy {
  /**
   * Centre and semi-axes of the retina (an ellipse: APTOS-style images are resized without
   * keeping the aspect ratio). When `radiusY` exceeds the distance to the image edge the
   * retina is cut off at the top and bottom, as on many fundus cameras.
   */
  retina: { x: number; y: number; radiusX: number; radiusY: number };
  opticDisc: { x: number; y: number; radius: number };
  fovea: { x: number; y: number };
}

/**
 * Knobs that make the referable / non-referable task harder or easier for a classifier.
 * Contrast multiplies every lesion's colour change; jitters draw per-lesion factors.
 */
export interface PhantomDifficulty {
  /** Multiplier on every lesion's colour change (1 = the default look). */
  lesionContrast: number;
  /** Each lesion's contrast is `lesionContrast * U(1 - contrastJitter, 1)`. In [0, 1]. */
  contrastJitter: number;
  /** Each lesion's radius is multiplied by `U(1 - sizeJitter, 1 + sizeJitter)`. In [0, 0.9]. */
  sizeJitter: number;
  /** Standard deviation of per-pixel sensor noise, in 8-bit levels (scaled by U(0.5, 1.5) per image). */
  noise: number;
  /**
   * Fraction of grade-1 and grade-2 images drawn right at the referable border:
   * grade 1 with the most MAs the rule allows, grade 2 with just over that and nothing else.
   */
  borderlineFraction: number;
}

export interface PhantomOptions {
  seed: number;
  /** Width and height in pixels (default 512). */
  size?: number;
  /** Target grade: lesion counts are drawn so that `gradeFromLesions` gives back this grade. */
  grade?: Grade;
  /**
   * Lesion counts instead of a grade; the grade is then computed from what was drawn. On a
   * crowded retina a lesion that finds no free place is left out: `lesions` lists what was drawn.
   */
  counts?: Partial<LesionCounts>;
  difficulty?: Partial<PhantomDifficulty>;
}

export interface PhantomImage {
  image: RgbImage;
  masks: PhantomMasks;
  grade: Grade;
  lesions: Lesion[];
  anatomy: PhantomAnatomy;
}
