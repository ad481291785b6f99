// Worker thread for runPreprocess: receives { i, task } messages (several may be in flight), answers { i, record } or, for a
// bug (not a user error, which processOne turns into a failed record), { i, error }; { ready }
// once loaded, so that a pool can wait for its workers before timing starts.
import { parentPort } from 'node:worker_threads';
import { processOne, type TaskInput } from './batch.ts';

if (!parentPort) throw new Error('preprocess worker must run in a worker thread');
const port = parentPort;
port.on('message', ({ i, task }: { i: number; task: TaskInput }) => {
  processOne(task).then(
    (record) => port.postMessage({ i, record }),
    (e: unknown) => port.postMessage({ i, error: (e as Error).stack ?? String(e) }),
  );
});
port.postMessage({ ready: true });
