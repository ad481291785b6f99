/**
 * Gradient accumulation: the gradients of equal-sized micro-batches are summed and divided by
 * their number, which is the gradient of the whole batch's mean loss when nothing couples the
 * images of a batch (BatchNorm in training mode does: its statistics are the micro-batch's, as in
 * PyTorch with accumulation). test/train/accumulate.test.ts checks the equality on a network with
 * frozen BatchNorm.
 */
export class GradientAccumulator {
  private summed: Map<string, Float32Array> | undefined;
  private count = 0;

  /** Micro-batches added since the last mean(). */
  get size(): number {
    return this.count;
  }

  /** Add one micro-batch's gradients (the first call keeps its arrays and sums into them). */
  add(grads: Map<string, Float32Array>): void {
    this.count++;
    if (!this.summed) {
      this.summed = grads;
      return;
    }
    for (const [name, g] of grads) {
      const acc = this.summed.get(name);
      if (!acc || acc.length !== g.length) throw new Error(`gradient '${name}' does not match the first micro-batch's`);
      for (let i = 0; i < g.length; i++) acc[i] += g[i];
    }
  }

  /** The mean over the micro-batches added, and a fresh start for the next batch. */
  mean(): Map<string, Float32Array> {
    const summed = this.summed;
    if (!summed) throw new Error('no gradients to average');
    if (this.count > 1) for (const g of summed.values()) for (let i = 0; i < g.length; i++) g[i] /= this.count;
    this.summed = undefined;
    this.count = 0;
    return summed;
  }
}
