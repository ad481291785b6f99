// Worker thread for runPreprocess: receives TaskInput messages, answers { record } or, for a
// bug (not a user error, which processOne turns into a failed record), { error }.
import { parentPort } from 'node:worker_threads';
import { processOne, type TaskInput } from './batch.ts';

if (!parentPort) throw new Error('preprocess worker must run in a worker thread');
const port = parentPort;
port.on('message', (task: TaskInput) => {
  processOne(task).then(
    (record) => port.postMessage({ record }),
    (e: unknown) => port.postMessage({ error: (e as Error).stack ?? String(e) }),
  );
});
