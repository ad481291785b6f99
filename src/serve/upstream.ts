/**
 * The one place src/serve reaches into the preprocessing library, so the worker and the tests
 * agree on which functions run. (The page imports src/preprocess/pipeline.ts itself: the index
 * also exports sharp-based decoding, which cannot enter a browser bundle.)
 */
export { preprocessFundus, type PreprocessConfig, type PreprocessResult } from '../preprocess/index.ts';
