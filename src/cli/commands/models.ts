import type { Command } from 'commander';
import { DISCLAIMER } from '../../core/index.ts';
import { formatReferralByGrade } from '../../evaluate/index.ts';
import { MODELS_DIR, listPackagedModels, type PackagedModel } from '../../models/index.ts';

const fmt = (x: unknown, digits = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');

/** The validation figures a reader compares models by: CV where there is one, else the single split. */
function metricsText(m: PackagedModel): string {
  const r = m.metrics;
  const parts: string[] = [];
  if (typeof r.cvAurocMean === 'number') parts.push(`CV AUROC ${fmt(r.cvAurocMean)} +/- ${fmt(r.cvAurocSd)}`);
  if (typeof r.valAuroc === 'number') parts.push(`val AUROC ${fmt(r.valAuroc)}`);
  if (typeof r.cvQwkMean === 'number') parts.push(`CV QWK ${fmt(r.cvQwkMean)} +/- ${fmt(r.cvQwkSd)}`);
  if (typeof r.valQwk === 'number') parts.push(`val QWK ${fmt(r.valQwk)}`);
  const op = m.operatingPoint;
  if (op) parts.push(`threshold ${fmt(op.threshold, 4)} (${op.mode}, spec >= ${op.targetSpecificity})`);
  return parts.join(', ');
}

export function register(program: Command): void {
  program
    .command('models')
    .description('list the packaged models (name, task, size, input, validation metrics) and the default of each task')
    .option('--dir <folder>', 'folder of model packages', MODELS_DIR)
    .option('--json', 'print a JSON array (path, name, task, default, architecture, sizeMb, inputSize, metrics, operatingPoint)')
    .addHelpText(
      'after',
      `
The default of a task (models/defaults.json) is what serve, evaluate and cam use without --model.
models/MODEL_CARD.md says how each was trained and where it falls short. ${DISCLAIMER}`,
    )
    .action(async (opts: { dir: string; json?: boolean }) => {
      const models = await listPackagedModels(opts.dir);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
        return;
      }
      for (const m of models) {
        const referral = m.operatingPoint?.referralByGrade;
        const referred = referral ? `    referred at that threshold, by true grade (${m.operatingPoint!.chosenOn}): ${formatReferralByGrade(referral)}\n` : '';
        process.stdout.write(`${m.default ? '*' : ' '} ${m.name}  [${m.task}${m.default ? ', default' : ''}]  ${m.architecture}, ${m.inputSize} px, ${m.sizeMb.toFixed(1)} MB\n    ${metricsText(m)}\n${referred}    ${m.path}\n`);
      }
      process.stdout.write(`* default of its task\n${DISCLAIMER}\n`);
    });
}
