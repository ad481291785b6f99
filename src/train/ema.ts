/**
 * Exponential moving average of the weights (Polyak and Juditsky 1992; timm's ModelEmaV2): after
 * every optimizer step ema = d * ema + (1 - d) * w, with the decay warmed up as TensorFlow's
 * ExponentialMovingAverage with num_updates, d_t = min(decay, (1 + t) / (10 + t)), so the first
 * steps do not pin the average to the starting weights. Validation, the best epoch's checkpoint
 * and the exported model use the average; the optimizer keeps stepping the live weights.
 */
export class WeightEma {
  /** The averaged copy of every tensor of the live state. */
  readonly average: Map<string, Float32Array>;

  constructor(state: ReadonlyMap<string, Float32Array>, readonly decay: number) {
    this.average = new Map([...state].map(([n, d]) => [n, Float32Array.from(d)]));
  }

  /** The decay used after optimizer step `t` (0-based). */
  decayAt(t: number): number {
    return Math.min(this.decay, (1 + t) / (10 + t));
  }

  /** Fold the live weights after optimizer step `t` into the average. */
  update(state: ReadonlyMap<string, Float32Array>, t: number): void {
    const d = this.decayAt(t);
    for (const [name, avg] of this.average) {
      const w = state.get(name) as Float32Array;
      for (let i = 0; i < avg.length; i++) avg[i] = d * avg[i] + (1 - d) * w[i];
    }
  }

  /** Run `fn` with the averaged weights in `state`, then put the live weights back (also when fn throws). */
  async withAverage<T>(state: Map<string, Float32Array>, fn: () => Promise<T>): Promise<T> {
    const live = new Map([...state].map(([n, d]) => [n, Float32Array.from(d)]));
    for (const [name, avg] of this.average) state.get(name)?.set(avg);
    try {
      return await fn();
    } finally {
      for (const [name, w] of live) state.get(name)?.set(w);
    }
  }
}
