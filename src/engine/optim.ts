/**
 * Optimizers over parameters held as Float32Arrays, matching PyTorch's torch.optim
 * implementations step for step (so a run can be checked against PyTorch), with state that
 * serialises for checkpoints.
 */
import { DrXaiError } from '../core/index.ts';

/** Serialisable optimizer state: step count and per-parameter moment buffers. */
export interface OptimizerState {
  kind: 'adamw' | 'sgd';
  step: number;
  /** Buffer name ('exp_avg', 'exp_avg_sq', 'momentum') -> parameter name -> values. */
  buffers: Record<string, Record<string, Float32Array>>;
}

/** Copy of a name -> buffer map (state must not alias the live buffers). */
function copyBuffers(m: Map<string, Float32Array> | Record<string, Float32Array>): Record<string, Float32Array> {
  const entries = m instanceof Map ? [...m] : Object.entries(m);
  return Object.fromEntries(entries.map(([k, v]) => [k, Float32Array.from(v)]));
}

export interface Optimizer {
  /** Learning rate, changed by the caller's schedule between steps. */
  lr: number;
  /** Update `params` in place from `grads` (same names). */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>): void;
  getState(): OptimizerState;
  setState(s: OptimizerState): void;
}

/**
 * Default no-decay rule (timm's convention): tensors of rank <= 1 (norm scales and biases) are
 * not decayed. `shapeOf` gives a parameter's shape.
 */
export function noDecayForNormsAndBiases(shapeOf: (name: string) => number[]): (name: string) => boolean {
  return (name) => shapeOf(name).length <= 1;
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Parameters exempt from weight decay (default: none). */
  noDecay?: (name: string) => boolean;
  /**
   * A parameter's learning rate relative to `lr` (default 1 for all), as PyTorch's parameter
   * groups with their own lr: both the step and the decoupled decay use the scaled rate.
   */
  lrScale?: (name: string) => number;
}

/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Alg. 2), in
 * PyTorch's form: p <- p (1 - lr wd); m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
 * p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
export class AdamW implements Optimizer {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly noDecay: (name: string) => boolean;
  private readonly lrScale: (name: string) => number;
  private t = 0;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();

  constructor(o: AdamWOptions) {
    this.lr = o.lr;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.01;
    this.noDecay = o.noDecay ?? (() => false);
    this.lrScale = o.lrScale ?? (() => 1);
  }

  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const bc1 = 1 - b1 ** this.t;
    const bc2sqrt = Math.sqrt(1 - b2 ** this.t);
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`no parameter '${name}' for its gradient`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const lr = this.lr * this.lrScale(name);
      const stepSize = lr / bc1;
      const decay = this.noDecay(name) ? 1 : 1 - lr * this.weightDecay;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2sqrt + eps);
      }
    }
  }

  getState(): OptimizerState {
    return { kind: 'adamw', step: this.t, buffers: { exp_avg: copyBuffers(this.m), exp_avg_sq: copyBuffers(this.v) } };
  }

  setState(s: OptimizerState): void {
    if (s.kind !== 'adamw') throw new DrXaiError(`checkpoint holds ${s.kind} optimizer state, expected adamw`);
    this.t = s.step;
    this.m = new Map(Object.entries(copyBuffers(s.buffers.exp_avg ?? {})));
    this.v = new Map(Object.entries(copyBuffers(s.buffers.exp_avg_sq ?? {})));
  }
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch SGD's coupled weight decay). */
  weightDecay?: number;
  noDecay?: (name: string) => boolean;
}

/**
 * SGD with momentum as torch.optim.SGD (Sutskever et al. 2013 form): g += wd p;
 * b <- mu b + (1 - dampening) g (b = g on the first step); g <- nesterov ? g + mu b : b; p -= lr g.
 */
export class SGD implements Optimizer {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly noDecay: (name: string) => boolean;
  private t = 0;
  private buf = new Map<string, Float32Array>();

  constructor(o: SgdOptions) {
    this.lr = o.lr;
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.nesterov = o.nesterov ?? false;
    this.weightDecay = o.weightDecay ?? 0;
    this.noDecay = o.noDecay ?? (() => false);
  }

  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>): void {
    this.t++;
    const mu = this.momentum;
    for (const [name, g0] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`no parameter '${name}' for its gradient`);
      const wd = this.noDecay(name) ? 0 : this.weightDecay;
      let b = this.buf.get(name);
      const first = !b;
      if (mu !== 0 && !b) {
        b = new Float32Array(p.length);
        this.buf.set(name, b);
      }
      for (let i = 0; i < p.length; i++) {
        let g = g0[i] + wd * p[i];
        if (b) {
          b[i] = first ? g : mu * b[i] + (1 - this.dampening) * g;
          g = this.nesterov ? g + mu * b[i] : b[i];
        }
        p[i] -= this.lr * g;
      }
    }
  }

  getState(): OptimizerState {
    return { kind: 'sgd', step: this.t, buffers: { momentum: copyBuffers(this.buf) } };
  }

  setState(s: OptimizerState): void {
    if (s.kind !== 'sgd') throw new DrXaiError(`checkpoint holds ${s.kind} optimizer state, expected sgd`);
    this.t = s.step;
    this.buf = new Map(Object.entries(copyBuffers(s.buffers.momentum ?? {})));
  }
}
