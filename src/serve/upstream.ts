/**
 * The one place src/serve reaches into the preprocessing and explanation libraries, so the
 * worker, the page and the tests agree on which functions run.
 */
// TODO(preprocess index.ts): switch to '../preprocess/index.ts' once it lands.
export { preprocessFundus, type PreprocessConfig, type PreprocessResult } from '../preprocess/pipeline.ts';
