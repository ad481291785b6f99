/**
 * Learning-rate schedule of the reference recipe: linear warm-up then cosine annealing
 * (Loshchilov & Hutter, "SGDR", ICLR 2017, eq. 5, one cycle without restarts; warm-up as Goyal et
 * al., "Accurate, Large Minibatch SGD", 2017), evaluated per optimizer step as timm's
 * CosineLRScheduler with t_in_epochs=False.
 */
export interface CosineSchedule {
  baseLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for optimizer step `step` (0-based): lr_t = min + (base - min)(1 + cos(pi t / T)) / 2 after warm-up. */
export function learningRateAt(s: CosineSchedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.baseLr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.baseLr - s.minLr) * (1 + Math.cos(Math.PI * t));
}
