/**
 * Shared conv-bn-act building blocks for the CNN graph builders, with parameters created as
 * named initializers in timm's naming and initialised as timm's `_init_weight_goog`
 * (EfficientNet's TensorFlow-derived init).
 */
import { Rng } from '../core/index.ts';
import { GraphBuilder, float32 } from '../engine/index.ts';
import type { Graph } from '../engine/index.ts';

/** Creates named, initialised parameters on a builder. */
export class ParamFactory {
  readonly b: GraphBuilder;
  readonly rng: Rng;
  readonly bnEps: number;
  constructor(b: GraphBuilder, seed: number, bnEps = 1e-5) {
    this.b = b;
    this.rng = new Rng(seed);
    this.bnEps = bnEps;
  }

  /** Conv weight [out, in/groups, k, k] ~ N(0, 2 / fan_out), fan_out = k*k*out/groups (He et al. 2015, fan-out mode). */
  convWeight(name: string, out: number, inPerGroup: number, k: number, groups: number): string {
    const std = Math.sqrt(2 / ((k * k * out) / groups));
    const n = out * inPerGroup * k * k;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = this.rng.normal(0, std);
    return this.b.initializer(name, float32([out, inPerGroup, k, k], d));
  }

  zeros(name: string, shape: number[]): string {
    return this.b.initializer(name, float32(shape));
  }

  ones(name: string, shape: number[]): string {
    return this.b.initializer(name, float32(shape, new Float32Array(shape.reduce((a, c) => a * c, 1)).fill(1)));
  }

  /** Linear weight [out, in] ~ U(-1/sqrt(out), 1/sqrt(out)) as timm's goog init; bias 0. */
  linear(prefix: string, inCh: number, out: number): { weight: string; bias: string } {
    const r = 1 / Math.sqrt(out);
    const d = new Float32Array(out * inCh);
    for (let i = 0; i < d.length; i++) d[i] = this.rng.uniform(-r, r);
    return { weight: this.b.initializer(`${prefix}.weight`, float32([out, inCh], d)), bias: this.zeros(`${prefix}.bias`, [out]) };
  }

  /** Conv (no bias, symmetric k//2 padding as PyTorch) named `${name}.weight`. */
  conv(x: string, name: string, out: number, k: number, stride = 1, groups = 1): string {
    const inCh = this.b.shape(x)[1];
    const w = this.convWeight(`${name}.weight`, out, inCh / groups, k, groups);
    return this.b.conv(x, w, undefined, { strides: stride, pads: Math.floor(k / 2), group: groups }, name);
  }

  /** Conv with bias (SE convs). */
  convBias(x: string, name: string, out: number): string {
    const inCh = this.b.shape(x)[1];
    const w = this.convWeight(`${name}.weight`, out, inCh, 1, 1);
    return this.b.conv(x, w, this.zeros(`${name}.bias`, [out]), {}, name);
  }

  /** BatchNormalization with weight 1, bias 0, running mean 0, running var 1. */
  bn(x: string, name: string): string {
    const c = this.b.shape(x)[1];
    return this.b.batchNorm(x, this.ones(`${name}.weight`, [c]), this.zeros(`${name}.bias`, [c]), this.zeros(`${name}.running_mean`, [c]), this.ones(`${name}.running_var`, [c]), this.bnEps, `${name}.out`);
  }

  /** Conv -> BN -> optional SiLU; the activation is named `${act}` when given. */
  convBnAct(x: string, conv: string, bn: string, out: number, k: number, stride = 1, groups = 1, act?: string | false): string {
    const y = this.bn(this.conv(x, conv, out, k, stride, groups), bn);
    return act === false ? y : this.b.silu(y, act || undefined);
  }

  /**
   * The classification head of every CNN here (timm's and torchvision's): global average pooling,
   * optional dropout (a mask input named head.dropout_mask), linear `${prefix}` -> the graph
   * output 'logits'.
   */
  poolAndClassify(features: string, prefix: string, numClasses: number, dropRate: number): string {
    const b = this.b;
    let pooled = b.flatten(b.globalAveragePool(features), 1);
    if (dropRate > 0) pooled = b.maskedBy(pooled, 'dropout', dropRate, 'head.dropout_mask');
    const fc = this.linear(prefix, b.shape(pooled)[1], numClasses);
    const logits = b.op('Gemm', [pooled, fc.weight, fc.bias], { transB: { i: 1 } }, 'logits');
    b.output(logits);
    return logits;
  }

  /**
   * Squeeze-and-excitation (Hu et al. 2018) as timm's SqueezeExcite: mean over space,
   * conv_reduce + SiLU, conv_expand + sigmoid gate, multiply.
   */
  squeezeExcite(x: string, prefix: string, reduced: number): string {
    const b = this.b;
    const c = b.shape(x)[1];
    const pooled = b.globalAveragePool(x);
    const r = b.silu(this.convBias(pooled, `${prefix}.conv_reduce`, reduced));
    const gate = b.sigmoid(this.convBias(r, `${prefix}.conv_expand`, c));
    return b.mul(x, gate);
  }
}

/** Trainable parameters of a built graph: every named initializer except BatchNorm running statistics. */
export function paramsOf(g: Graph): string[] {
  return [...g.initializers.keys()].filter((n) => !g.constants.has(n) && !n.endsWith('.running_mean') && !n.endsWith('.running_var'));
}
