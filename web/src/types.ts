/** What the page reads from the API (the server's zod schemas are the reference: src/serve/schemas.ts). */
import type { ModelResponseT, ModelsResponseT, ExplainResponseT } from '../../src/serve/schemas.ts';

export type ModelInfo = ModelResponseT;
export type ModelList = ModelsResponseT;
export type ExplainResult = ExplainResponseT;

/** One screening as the page shows it, from either path. */
export interface Screening {
  probability: number | null;
  referable: boolean | null;
  threshold: number | null;
  gradable: boolean;
  reasons: string[];
  /** P(grade = 0..4) for a 5-grade model, else null. */
  gradeProbabilities: number[] | null;
  /** The grade a 5-grade model predicts (src/core/tasks.ts predictedGrade); null when ungradable or for a binary model. */
  predictedGrade: number | null;
  timings: { decodeMs: number; preprocessMs: number; inferMs: number; totalMs: number; queueMs?: number; explainMs?: number };
  where: 'browser' | 'server';
}
