#!/usr/bin/env node
/**
 * The dr-xai command line: a thin shell over the library. Each subcommand lives in
 * ./commands/<name>.ts and exports `register(program)`; all real work is in src/<concern>.
 */
import { Command, CommanderError } from 'commander';
import { DISCLAIMER, isUserError } from '../core/index.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerPhantom } from './commands/phantom.ts';
import { register as registerSplit } from './commands/split.ts';
import { register as registerPreprocess } from './commands/preprocess.ts';
import { register as registerTrain } from './commands/train.ts';
import { register as registerCv } from './commands/cv.ts';
import { register as registerEvaluate } from './commands/evaluate.ts';
import { register as registerScreen } from './commands/screen.ts';
import { register as registerWorker } from './commands/worker.ts';
import { register as registerCam } from './commands/cam.ts';
import { register as registerCamScore } from './commands/cam-score.ts';
import { register as registerServe } from './commands/serve.ts';
import { register as registerModels } from './commands/models.ts';
import { register as registerProfile } from './commands/profile.ts';
import { register as registerQuantize } from './commands/quantize.ts';

const program = new Command();
program
  .name('dr-xai')
  .description(
    `Explainable diabetic-retinopathy screening from colour fundus photographs.\n${DISCLAIMER}`,
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

// Each subcommand module exports a register function; listed in the order of the workflow,
// which is the order --help shows them in.
const commands: Array<(p: Command) => void> = [
  registerDemo,
  registerPhantom,
  registerSplit,
  registerPreprocess,
  registerTrain,
  registerCv,
  registerEvaluate,
  registerScreen,
  registerWorker,
  registerCam,
  registerCamScore,
  registerServe,
  registerModels,
  registerProfile,
  registerQuantize,
];
for (const register of commands) register(program);

// A reader that stops early (`dr-xai models | head -1`) closes the pipe: end quietly, as Unix
// tools do, instead of a stack trace for the write that found it closed.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(0);
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else if (isUserError(e)) {
    process.stderr.write(`dr-xai: error: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`dr-xai: internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 70;
  }
}
