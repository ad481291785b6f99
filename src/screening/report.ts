/**
 * report.html of `dr-xai screen`: one self-contained page (thumbnails and heat maps inlined) with
 * the counts, the model and its operating point, a table sortable by any column (referable
 * first by default: sorted by probability, highest first) and the photographs that failed with
 * their reasons. Written with core's htmlPage, like every other report of the project.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { classNamesFor, escapeHtml, htmlPage } from '../core/index.ts';
import type { ModelSidecar } from '../models/index.ts';
import type { ScreenRecord } from './batch.ts';

async function inline(out: string, rel: string | null, mime: string, alt: string, width: number): Promise<string> {
  if (!rel) return '';
  const bytes = await fsp.readFile(path.join(out, rel)).catch(() => null);
  return bytes ? `<img src="data:${mime};base64,${bytes.toString('base64')}" alt="${escapeHtml(alt)}" width="${width}" loading="lazy">` : '';
}

function decisionText(r: ScreenRecord): string {
  if (r.status === 'failed') return 'failed';
  if (!r.gradable) return 'ungradable';
  if (r.referable === null) return 'no threshold';
  return r.referable ? 'REFER' : 'no referral';
}

export async function screeningReportHtml(records: ScreenRecord[], ctx: { out: string; model: string; info: ModelSidecar; explain: boolean }): Promise<string> {
  const ok = records.filter((r) => r.status === 'ok');
  const failed = records.filter((r) => r.status === 'failed');
  const count = (p: (r: ScreenRecord) => boolean) => ok.filter(p).length;
  const op = ctx.info.operatingPoint;
  const sorted = [...ok].sort((a, b) => (b.probability ?? -1) - (a.probability ?? -1));
  // A grade model's records carry its predicted grade: one more column, named as the ICDR scale.
  const grade = ok.some((r) => r.gradeProbabilities);
  const gradeNames = classNamesFor('grade');
  const gradeCell = (r: ScreenRecord) => (grade ? `<td data-sort="${r.predictedGrade ?? ''}">${r.predictedGrade == null ? '' : escapeHtml(gradeNames[r.predictedGrade])}</td>` : '');
  const rows: string[] = [];
  for (const r of sorted) {
    const p = r.probability;
    rows.push(
      `<tr><td>${await inline(ctx.out, r.thumbnail, 'image/jpeg', r.id, 96)}</td><td>${escapeHtml(r.id)}</td>` +
        `<td data-sort="${p ?? ''}">${p === null ? '' : p.toFixed(3)}</td><td>${decisionText(r)}</td>${gradeCell(r)}<td>${r.gradable ? 'yes' : 'no'}</td>` +
        `<td>${escapeHtml(r.reasons.join('; '))}</td><td>${r.quality ? r.quality.retinaFraction.toFixed(2) : ''}</td><td>${r.quality ? r.quality.sharpness.toFixed(2) : ''}</td>` +
        (ctx.explain ? `<td>${await inline(ctx.out, r.heatmap, 'image/png', `heat map of ${r.id}`, 96)}</td>` : '') +
        '</tr>',
    );
  }
  const failedRows = failed.map((r) => `<tr><td>${escapeHtml(r.id)}</td><td>${escapeHtml(r.error ?? '')}</td></tr>`);
  const opText = op
    ? `referable when P &ge; ${op.threshold.toFixed(4)} (chosen on ${escapeHtml(op.chosenOn)}, ${op.mode}, target specificity ${op.targetSpecificity}${op.protocol ? `; ${escapeHtml(op.protocol)}` : ''})`
    : 'no stored operating point: probabilities only, no decisions';
  // What "no referral" means at this threshold: what it referred of each true grade where it was chosen.
  const referral = op?.referralByGrade?.filter((r) => r.n > 0) ?? [];
  const referralTable = referral.length
    ? `<p>Where the threshold was chosen (${escapeHtml(op!.chosenOn)}) it referred, by true grade:</p>
<table><thead><tr><th>true grade</th>${referral.map((r) => `<th>${escapeHtml(gradeNames[r.grade])}</th>`).join('')}</tr></thead>
<tbody><tr><td>referred</td>${referral.map((r) => `<td>${r.referred} / ${r.n} (${((100 * r.referred) / r.n).toFixed(1)}%)</td>`).join('')}</tr></tbody></table>
`
    : '';
  const body = `<h1>dr-xai screening report</h1>
<blockquote><strong>Research decision support, not a diagnosis.</strong> Every decision below needs a qualified grader's review.</blockquote>
<h2>Summary</h2>
<table><thead><tr><th>photographs</th><th>refer</th><th>no referral</th><th>ungradable</th><th>failed</th></tr></thead>
<tbody><tr><td>${records.length}</td><td>${count((r) => r.referable === true)}</td><td>${count((r) => r.referable === false)}</td><td>${count((r) => r.gradable === false)}</td><td>${failed.length}</td></tr></tbody></table>
${grade ? `<table><thead><tr><th>predicted grade</th>${gradeNames.map((n) => `<th>${escapeHtml(n)}</th>`).join('')}</tr></thead>
<tbody><tr><td>photographs</td>${gradeNames.map((_, g) => `<td>${count((r) => r.predictedGrade === g)}</td>`).join('')}</tr></tbody></table>
` : ''}<p>Model: <code>${escapeHtml(ctx.model)}</code>, input ${ctx.info.input.size} px. Decision: ${opText}.${grade ? ' Predicted grade: the expected grade over the five grade probabilities, rounded (the rule <code>dr-xai evaluate</code> scores with QWK); the decision uses the operating point on P(grade &ge; 2), which is set for specificity, so a photograph can be graded 2 without a referral.' : ''} Ungradable photographs get no decision${grade ? ' and no grade' : ''}.</p>
${referralTable}<h2>Photographs</h2>
<p>Click a column header to sort. Thumbnails show the network's input (after retina masking, cropping and contrast enhancement)${ctx.explain ? '; heat maps show where the network looked (the sidecar\'s explanation method over its target layer)' : ''}.</p>
<table><thead><tr><th>photo</th><th>id</th><th>probability</th><th>decision</th>${grade ? '<th>predicted grade</th>' : ''}<th>gradable</th><th>reasons</th><th>retina fraction</th><th>sharpness</th>${ctx.explain ? '<th>heat map</th>' : ''}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
${failed.length ? `<h2>Failed (${failed.length})</h2>\n<table><thead><tr><th>id</th><th>reason</th></tr></thead><tbody>\n${failedRows.join('\n')}\n</tbody></table>` : ''}`;
  return htmlPage('dr-xai screening report', body);
}
