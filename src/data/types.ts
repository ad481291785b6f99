/** The label-file layouts dr-xai reads (see loaders.ts for each one's files). */
export type DatasetFormat = 'aptos' | 'aptos224' | 'eyepacs' | 'messidor2' | 'idrid' | 'generic' | 'folder';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['aptos', 'aptos224', 'eyepacs', 'messidor2', 'idrid', 'generic', 'folder'];

/** One fundus photograph and its ICDR grade (0 no DR .. 4 proliferative), null when unlabelled. */
export interface Sample {
  id: string;
  /** Absolute path of the image file. */
  path: string;
  grade: number | null;
}

export interface Dataset {
  /** The root folder's (or CSV file's) base name, e.g. `aptos2019-224`. */
  name: string;
  format: DatasetFormat;
  /** Absolute path the data set was loaded from. */
  root: string;
  /** In label-file order (file-name order for `folder`). */
  samples: Sample[];
  /** Rows deliberately left out (e.g. Messidor-2 ungradable images), with why. */
  skipped: { reason: string; count: number }[];
}
