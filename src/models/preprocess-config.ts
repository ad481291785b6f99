/**
 * The preprocessing a model was trained with (its sidecar's config) at the model's input size.
 * Kept out of package.ts so that file stays free of Node-only imports for the browser build.
 */
import { resolveConfig, type PreprocessConfig } from '../preprocess/index.ts';
import type { ModelSidecar } from './package.ts';

export function modelPreprocessConfig(info: ModelSidecar): PreprocessConfig {
  return resolveConfig({ ...(info.preprocess as Partial<PreprocessConfig>), size: info.input.size });
}
