/**
 * EfficientNet forward graphs (Tan & Le, "EfficientNet: Rethinking Model Scaling for
 * Convolutional Neural Networks", ICML 2019) built from the compound-scaling definition: the B0
 * stage table (Table 1) scaled by width / depth multipliers. Parameter names, initialisation and
 * channel rounding follow timm's `efficientnet_b*` (PyTorch padding k//2, BatchNorm eps 1e-5),
 * so timm state dicts map one to one (timm's key list for B0 and B3 ships in the shared reference
 * folder, ../shared/reference/effnet_b*_keys.txt, which test/engine checks against).
 */
import { GraphBuilder, bceWithLogitsLoss, crossEntropyLoss } from '../engine/index.ts';
import type { Graph } from '../engine/index.ts';
import { ParamFactory, paramsOf } from './layers.ts';

/** One stage of the B0 table. `block`: 'ds' depthwise-separable, 'ir' inverted residual (MBConv). */
export interface StageSpec {
  block: 'ds' | 'ir';
  expand: number;
  kernel: number;
  stride: number;
  channels: number;
  repeats: number;
  seRatio: number;
}

/** EfficientNet-B0 stages (paper Table 1, stages 2-8); SE ratio 0.25 of the block input. */
export const EFFICIENTNET_B0_STAGES: readonly StageSpec[] = [
  { block: 'ds', expand: 1, kernel: 3, stride: 1, channels: 16, repeats: 1, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 3, stride: 2, channels: 24, repeats: 2, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 5, stride: 2, channels: 40, repeats: 2, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 3, stride: 2, channels: 80, repeats: 3, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 5, stride: 1, channels: 112, repeats: 3, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 5, stride: 2, channels: 192, repeats: 4, seRatio: 0.25 },
  { block: 'ir', expand: 6, kernel: 3, stride: 1, channels: 320, repeats: 1, seRatio: 0.25 },
];

export interface EfficientNetConfig {
  name: string;
  widthMult: number;
  depthMult: number;
  /** Native input resolution of the variant. */
  resolution: number;
  /** Dropout before the classifier. */
  dropRate: number;
  stemChannels: number;
  headChannels: number;
  stages: readonly StageSpec[];
}

/** Compound-scaling coefficients (width, depth, resolution, dropout) of B0-B7 as in timm. */
const VARIANTS: [string, number, number, number, number][] = [
  ['efficientnet_b0', 1.0, 1.0, 224, 0.2],
  ['efficientnet_b1', 1.0, 1.1, 240, 0.2],
  ['efficientnet_b2', 1.1, 1.2, 260, 0.3],
  ['efficientnet_b3', 1.2, 1.4, 300, 0.3],
  ['efficientnet_b4', 1.4, 1.8, 380, 0.4],
  ['efficientnet_b5', 1.6, 2.2, 456, 0.4],
  ['efficientnet_b6', 1.8, 2.6, 528, 0.5],
  ['efficientnet_b7', 2.0, 3.1, 600, 0.5],
];

export const EFFICIENTNET_CONFIGS: Record<string, EfficientNetConfig> = Object.fromEntries(
  VARIANTS.map(([name, w, d, r, drop]) => [name, { name, widthMult: w, depthMult: d, resolution: r, dropRate: drop, stemChannels: 32, headChannels: 1280, stages: EFFICIENTNET_B0_STAGES }]),
);

/** timm's make_divisible: round to a multiple of 8, never more than 10% below the target. */
export function roundChannels(channels: number, mult: number, divisor = 8): number {
  const v = channels * mult;
  let r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

export interface BuildOptions {
  numClasses: number;
  /** Batch size the graph is built for (exported models accept any). */
  batch: number;
  imageSize: number;
  /** Seed of the weight initialisation. */
  seed?: number;
  /**
   * Add dropout / drop-path mask inputs (training graphs). Off: a deterministic graph (eval,
   * export, reference checks).
   */
  regularize?: boolean;
  /** Stochastic depth rate at the last block (timm default 0.2), linear in block index. */
  dropPathRate?: number;
  /** Override the variant's classifier dropout. */
  dropRate?: number;
}

/** A network's forward graph and the names of its input, logits and CAM features (what an architecture builds). */
export interface ModelGraph {
  graph: Graph;
  builder: GraphBuilder;
  /** Input [N, 3, S, S]. */
  input: string;
  /** Output [N, K]. */
  logits: string;
  /** Head activation after conv_head, bn2 and SiLU, before pooling (for CAM). */
  features: string;
  /** Trainable parameter names (timm naming). */
  params: string[];
}

/** Build an EfficientNet forward graph (eval-form BatchNorm, initialised weights). */
export function buildEfficientNet(config: EfficientNetConfig, opts: BuildOptions): ModelGraph {
  const b = new GraphBuilder(config.name);
  const pf = new ParamFactory(b, opts.seed ?? 0);
  const regularize = opts.regularize ?? false;
  const dropPathRate = regularize ? opts.dropPathRate ?? 0.2 : 0;
  const dropRate = regularize ? opts.dropRate ?? config.dropRate : 0;
  const input = b.input('image', 'float32', [opts.batch, 3, opts.imageSize, opts.imageSize]);

  let x = pf.convBnAct(input, 'conv_stem', 'bn1', roundChannels(config.stemChannels, config.widthMult), 3, 2, 1, 'stem.act');
  const repeats = config.stages.map((s) => Math.ceil(s.repeats * config.depthMult));
  const totalBlocks = repeats.reduce((a, r) => a + r, 0);
  let blockIndex = 0;
  config.stages.forEach((stage, si) => {
    const out = roundChannels(stage.channels, config.widthMult);
    for (let j = 0; j < repeats[si]; j++) {
      const p = `blocks.${si}.${j}`;
      const stride = j === 0 ? stage.stride : 1;
      const inCh = b.shape(x)[1];
      const reduced = Math.max(1, Math.round(inCh * stage.seRatio));
      const shortcut = x;
      let y: string;
      if (stage.block === 'ds') {
        y = pf.convBnAct(x, `${p}.conv_dw`, `${p}.bn1`, inCh, stage.kernel, stride, inCh, `${p}.act1`);
        y = pf.squeezeExcite(y, `${p}.se`, reduced);
        y = pf.convBnAct(y, `${p}.conv_pw`, `${p}.bn2`, out, 1, 1, 1, false);
      } else {
        const mid = inCh * stage.expand;
        y = pf.convBnAct(x, `${p}.conv_pw`, `${p}.bn1`, mid, 1, 1, 1, `${p}.act1`);
        y = pf.convBnAct(y, `${p}.conv_dw`, `${p}.bn2`, mid, stage.kernel, stride, mid, `${p}.act2`);
        y = pf.squeezeExcite(y, `${p}.se`, reduced);
        y = pf.convBnAct(y, `${p}.conv_pwl`, `${p}.bn3`, out, 1, 1, 1, false);
      }
      if (stride === 1 && inCh === out) {
        // Stochastic depth (Huang et al. 2016), rate growing linearly with depth as in timm.
        const rate = (dropPathRate * blockIndex) / totalBlocks;
        if (rate > 0) y = b.maskedBy(y, 'droppath', rate, `${p}.drop_path_mask`);
        y = b.add(y, shortcut);
      }
      x = y;
      blockIndex++;
    }
  });
  const features = pf.convBnAct(x, 'conv_head', 'bn2', roundChannels(config.headChannels, config.widthMult), 1, 1, 1, 'features');
  const logits = pf.poolAndClassify(features, 'classifier', opts.numClasses, dropRate);
  return { graph: b.graph, builder: b, input, logits, features, params: paramsOf(b.graph) };
}

/** EfficientNet-B0 (5,288,548 parameters with a 1000-class head). */
export function efficientnetB0(opts: BuildOptions): ModelGraph {
  return buildEfficientNet(EFFICIENTNET_CONFIGS.efficientnet_b0, opts);
}

/**
 * A tiny CNN in the same style (conv-bn-SiLU stem, a depthwise-separable block with SE, a 3x3
 * residual conv, 1x1 head, pooling, linear), ~62k parameters: for tests and the 2-minute demo.
 */
export function tinyCnn(opts: BuildOptions): ModelGraph {
  const b = new GraphBuilder('tiny_cnn');
  const pf = new ParamFactory(b, opts.seed ?? 0);
  const input = b.input('image', 'float32', [opts.batch, 3, opts.imageSize, opts.imageSize]);
  let x = pf.convBnAct(input, 'conv_stem', 'bn1', 16, 3, 2);
  x = pf.convBnAct(x, 'blocks.0.conv', 'blocks.0.bn', 32, 3, 2);
  x = pf.convBnAct(x, 'blocks.1.conv_dw', 'blocks.1.bn1', 32, 3, 2, 32);
  x = pf.squeezeExcite(x, 'blocks.1.se', 8);
  x = pf.convBnAct(x, 'blocks.1.conv_pw', 'blocks.1.bn2', 64, 1);
  x = b.add(pf.convBnAct(x, 'blocks.2.conv', 'blocks.2.bn', 64, 3), x);
  const features = pf.convBnAct(x, 'conv_head', 'bn2', 256, 1, 1, 1, 'features');
  const logits = pf.poolAndClassify(features, 'classifier', opts.numClasses, opts.regularize ? opts.dropRate ?? 0.2 : 0);
  return { graph: b.graph, builder: b, input, logits, features, params: paramsOf(b.graph) };
}

export type LossKind = { kind: 'bce'; posWeight?: boolean; sampleWeights?: boolean } | { kind: 'ce'; sampleWeights?: boolean };

/**
 * Append a loss to a built model: inputs `targets` [N, K] (and `pos_weight` [K],
 * `sample_weights` [N] when asked) and the scalar output `loss`. Returns the loss name.
 */
export function addLoss(m: ModelGraph, loss: LossKind): string {
  const b = m.builder;
  const [n, k] = b.shape(m.logits);
  const targets = b.input('targets', 'float32', [n, k]);
  const sampleWeights = loss.sampleWeights ? b.input('sample_weights', 'float32', [n]) : undefined;
  const l =
    loss.kind === 'bce'
      ? bceWithLogitsLoss(b, m.logits, targets, { posWeight: loss.posWeight ? b.input('pos_weight', 'float32', [k]) : undefined, sampleWeights })
      : crossEntropyLoss(b, m.logits, targets, { sampleWeights });
  const named = b.op('Identity', [l], {}, 'loss');
  b.output(named);
  return named;
}
