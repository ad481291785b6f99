/**
 * The model registry, in the manner of timm's `create_model`: one name -> a builder plus the
 * pretrained config that travels with the weights (input size, normalisation, source, BatchNorm
 * epsilon, classifier names). EfficientNet-B0..B7 come from one compound-scaling definition
 * (src/models/efficientnet.ts, timm's table of width, depth, resolution, dropout); `tiny_cnn`
 * is the small network of the tests and the demo.
 */
import { DrXaiError } from '../core/index.ts';
import { EFFICIENTNET_CONFIGS, buildEfficientNet, tinyCnn, type ModelGraph } from './efficientnet.ts';
import { mobilenetV2 } from './mobilenet.ts';
import { importWeights, readSafetensors, type ImportReport, type WeightNaming } from './weights.ts';

/** ImageNet channel statistics (torchvision / timm IMAGENET_DEFAULT_MEAN, _STD). */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Facts about the weights a model expects, kept with the model (timm's pretrained_cfg). */
export interface PretrainedConfig {
  inputSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** Where weights come from: no pretrained weights ship with dr-xai, so 'scratch' unless imported. */
  source: string;
  bnEps: number;
  /** The parameter naming the graph is built in (imports in another naming are renamed when a mapping exists). */
  naming: WeightNaming;
  /**
   * BatchNorm when fine-tuning imported weights: 'train' (batch statistics) or 'frozen' (running
   * statistics, as eval mode). Weights whose BatchNorms were folded into the convolutions must
   * stay frozen; a model trained from scratch always uses batch statistics.
   */
  batchNorm: 'train' | 'frozen';
  /** The classifier's parameters (re-initialised when an import has another class count). */
  classifier: string[];
  /** Stochastic depth rate at the last block used by the reference recipe. */
  dropPathRate: number;
  /** Dropout before the classifier. */
  dropRate: number;
}

export interface CreateModelOptions {
  numClasses: number;
  /** Square input size; default: the variant's native resolution. */
  inputSize?: number;
  /** Batch size the graph is built for (an exported model accepts any); default 1. */
  batch?: number;
  dropRate?: number;
  dropPathRate?: number;
  /** Seed of the weight initialisation; default 0. */
  seed?: number;
  /** Add dropout / drop-path masks (training). Default false: a deterministic graph. */
  regularize?: boolean;
  /** EfficientNet only: override the width / depth multipliers (timm's channel_multiplier / depth_multiplier). */
  widthMult?: number;
  depthMult?: number;
  /** A .safetensors file of weights to import (EfficientNet: timm or torchvision naming; MobileNetV2: torchvision). */
  pretrained?: string;
  log?: (line: string) => void;
}

/** A ModelGraph made by createModel, with what the registry knows of it: its name, pretrained config and weight import. */
export interface RegisteredModel extends ModelGraph {
  name: string;
  pretrainedCfg: PretrainedConfig;
  importReport?: ImportReport;
}

interface RegistryEntry {
  description: string;
  pretrainedCfg: PretrainedConfig;
  build(opts: CreateModelOptions & { inputSize: number }): ModelGraph;
}

const REGISTRY = new Map<string, RegistryEntry>();

for (const [name, cfg] of Object.entries(EFFICIENTNET_CONFIGS)) {
  REGISTRY.set(name, {
    description: `EfficientNet ${name.slice(-2).toUpperCase()} (width ${cfg.widthMult}, depth ${cfg.depthMult}, ${cfg.resolution} px, dropout ${cfg.dropRate})`,
    pretrainedCfg: {
      inputSize: cfg.resolution,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      source: 'scratch',
      bnEps: 1e-5,
      naming: 'timm',
      batchNorm: 'train',
      classifier: ['classifier.weight', 'classifier.bias'],
      dropPathRate: 0.2,
      dropRate: cfg.dropRate,
    },
    build: (o) =>
      buildEfficientNet(
        { ...cfg, widthMult: o.widthMult ?? cfg.widthMult, depthMult: o.depthMult ?? cfg.depthMult },
        { numClasses: o.numClasses, batch: o.batch ?? 1, imageSize: o.inputSize, seed: o.seed, regularize: o.regularize, dropPathRate: o.dropPathRate, dropRate: o.dropRate },
      ),
  });
}

REGISTRY.set('tiny_cnn', {
  description: 'tiny CNN (~62k parameters, conv-bn-SiLU, depthwise-separable + SE block): tests and the demo',
  pretrainedCfg: {
    inputSize: 128,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    source: 'scratch',
    bnEps: 1e-5,
    naming: 'timm',
    batchNorm: 'train',
    classifier: ['classifier.weight', 'classifier.bias'],
    dropPathRate: 0,
    dropRate: 0.2,
  },
  build: (o) => tinyCnn({ numClasses: o.numClasses, batch: o.batch ?? 1, imageSize: o.inputSize, seed: o.seed, regularize: o.regularize, dropRate: o.dropRate }),
});

REGISTRY.set('mobilenet_v2', {
  description: 'MobileNetV2 1.0 (Sandler et al. 2018; torchvision naming, ImageNet weights importable; BatchNorm frozen when fine-tuning folded weights)',
  pretrainedCfg: {
    // torchvision's ImageNet recipe: 224 px, ImageNet mean/std, BatchNorm eps 1e-5, dropout 0.2.
    inputSize: 224,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    source: 'scratch',
    bnEps: 1e-5,
    naming: 'torchvision',
    // The shared ImageNet weights have every BatchNorm folded into its convolution (identity BN
    // plus bias): batch statistics would re-normalise away the learnt per-channel scales.
    batchNorm: 'frozen',
    classifier: ['classifier.1.weight', 'classifier.1.bias'],
    dropPathRate: 0,
    dropRate: 0.2,
  },
  build: (o) => mobilenetV2({ numClasses: o.numClasses, batch: o.batch ?? 1, imageSize: o.inputSize, seed: o.seed, regularize: o.regularize, dropRate: o.dropRate }),
});

/**
 * timm's (and torchvision's) EfficientNet head init draws U(-r, r) with r = 1/sqrt(num_classes)
 * (fan-out): r = 0.03 for 1000 classes, but r = 1 for a one-logit binary head, whose initial
 * logits then have a standard deviation near 10 and a BCE loss that AdamW needs hundreds of
 * steps to bring down. We scale the draw to PyTorch nn.Linear's default bound 1/sqrt(in_features)
 * (He et al. 2015, as torch.nn.init.kaiming_uniform_ with a = sqrt(5)), which for 1000 classes is
 * almost the same as timm's.
 */
function rescaleClassifierInit(built: ModelGraph, weightName: string): void {
  const w = built.graph.initializers.get(weightName);
  if (!w || w.shape.length !== 2) return;
  const [out, inFeatures] = w.shape;
  const factor = Math.sqrt(out / inFeatures);
  const data = Float32Array.from(w.data as Float32Array, (v) => v * factor);
  built.graph.initializers.set(weightName, { ...w, data });
}

/** Registered model names, sorted. */
export function listModels(): string[] {
  return [...REGISTRY.keys()].sort();
}

/** One-line description and pretrained config of a registered model. */
export function modelInfo(name: string): { description: string; pretrainedCfg: PretrainedConfig } {
  const e = REGISTRY.get(name);
  if (!e) throw new DrXaiError(`unknown model '${name}' (available: ${listModels().join(', ')})`);
  return { description: e.description, pretrainedCfg: { ...e.pretrainedCfg } };
}

/**
 * Build a registered model's forward graph. With `pretrained`, weights are imported from a
 * .safetensors file (see importWeights); the classifier is re-initialised when its shape differs.
 */
export async function createModel(name: string, opts: CreateModelOptions): Promise<RegisteredModel> {
  const entry = REGISTRY.get(name);
  if (!entry) throw new DrXaiError(`unknown model '${name}' (available: ${listModels().join(', ')})`);
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 1) throw new DrXaiError(`numClasses must be a positive integer, got ${opts.numClasses}`);
  const inputSize = opts.inputSize ?? entry.pretrainedCfg.inputSize;
  const built = entry.build({
    ...opts,
    inputSize,
    dropRate: opts.dropRate ?? entry.pretrainedCfg.dropRate,
    dropPathRate: opts.dropPathRate ?? entry.pretrainedCfg.dropPathRate,
  });
  rescaleClassifierInit(built, entry.pretrainedCfg.classifier[0]);
  const pretrainedCfg: PretrainedConfig = { ...entry.pretrainedCfg, inputSize };
  let importReport: ImportReport | undefined;
  if (opts.pretrained) {
    const { tensors } = await readSafetensors(opts.pretrained);
    try {
      importReport = importWeights(built.graph, tensors, { classifier: entry.pretrainedCfg.classifier, bnEps: entry.pretrainedCfg.bnEps, naming: entry.pretrainedCfg.naming, log: opts.log });
    } catch (e) {
      if (e instanceof DrXaiError) throw new DrXaiError(e.message, { file: opts.pretrained });
      throw e;
    }
    pretrainedCfg.source = opts.pretrained;
  }
  return { ...built, name, pretrainedCfg, importReport };
}
