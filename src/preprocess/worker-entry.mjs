// Entry of each preprocessing worker thread (plain JavaScript on purpose): registers tsx's
// TypeScript loader inside the thread, then loads worker.ts (see src/core/workers.ts).
import { register } from 'tsx/esm/api';

register();
const { default: preprocess } = await import('./worker.ts');
export default preprocess;
