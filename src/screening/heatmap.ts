/**
 * The heat map of a screening (/v1/explain, `dr-xai screen --explain`, the page's server mode):
 * the referable score explained by src/explain with the layer and method the model's sidecar
 * names (default Grad-CAM++ on the `features` output, on the closed-form path when that output
 * feeds a GAP + linear head). The colouring is cam-map.ts's, which the page's in-browser heat map
 * uses too. One explainer per worker, single-threaded like the worker's model session.
 */
import sharp from 'sharp';
import { encodePng, type RgbImage } from '../core/index.ts';
import { CamExplainer, defaultExplainLayer, heatRgbaOnRetina, mapToGrey, overlayHeat, REFERABLE_TARGET } from '../explain/index.ts';
import type { FundusModel } from '../models/index.ts';
import type { PreprocessResult } from '../preprocess/index.ts';

/** Heat weight in the blended overlay (the page has its own opacity slider over `heat`). */
const OVERLAY_ALPHA = 0.5;

const explainers = new WeakMap<FundusModel, Promise<CamExplainer | null>>();

/** One explainer per model and thread, created on the first explanation asked for. */
function explainerFor(model: FundusModel): Promise<CamExplainer | null> {
  let e = explainers.get(model);
  if (!e) {
    // A package with no layer to explain (no explain layer, no `features` output): no heat map, not an error.
    // (Static import above: tsx's loader cannot load .ts modules by dynamic import() inside a
    // worker thread, so src/explain is loaded with the worker.)
    e = defaultExplainLayer(model.info) ? CamExplainer.create(model, { threads: 1 }) : Promise.resolve(null);
    explainers.set(model, e);
  }
  return e;
}

/** PNG data URLs: the blend over the preprocessed image, the coloured map (RGBA, transparent off the retina), the raw map in [0,1] as grey. */
export interface HeatmapImages {
  method: string;
  overlay: string;
  heat: string;
  map: string;
}

/** An image as a `data:image/png;base64,` URL. */
export async function pngDataUrl(img: RgbImage): Promise<string> {
  return `data:image/png;base64,${(await encodePng(img)).toString('base64')}`;
}

export async function explainHeatmap(model: FundusModel, pre: PreprocessResult): Promise<HeatmapImages | null> {
  const explainer = await explainerFor(model);
  if (!explainer) return null;
  const [attribution] = await explainer.attribute([pre.image], { target: REFERABLE_TARGET });
  const { map, size } = attribution;
  const heat = await sharp(heatRgbaOnRetina(map, size, pre.mask), { raw: { width: size, height: size, channels: 4 } }).png().toBuffer();
  return {
    method: explainer.method.name,
    overlay: await pngDataUrl(overlayHeat(pre.image, map, { alpha: OVERLAY_ALPHA, retina: pre.mask })),
    heat: `data:image/png;base64,${heat.toString('base64')}`,
    map: await pngDataUrl({ width: size, height: size, channels: 1, data: mapToGrey(map) }),
  };
}
