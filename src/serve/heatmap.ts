/**
 * The /v1/explain heat map. Placeholder until src/explain lands: returns null (the API and
 * page then say "no heat map for this model").
 */
import type { FundusModel, Prediction } from '../models/index.ts';
import type { ExplainResponseT } from './schemas.ts';
import type { PreprocessResult } from './upstream.ts';

export const EXPLAIN_METHOD: string | null = null;

export async function explainHeatmap(_model: FundusModel, _pre: PreprocessResult, _prediction: Prediction): Promise<ExplainResponseT['heatmap']> {
  return null;
}
