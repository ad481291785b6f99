// Entry of each screening worker thread (plain JavaScript on purpose). It registers tsx's
// TypeScript loader inside the worker itself, as bin/dr-xai.js does for the CLI, then loads
// worker.ts. Inheriting `--import tsx` from the parent instead breaks inside worker threads as
// soon as the module graph contains a module with top-level await (vega, under src/explain),
// with a misleading "Unknown file extension .ts".
import { register } from 'tsx/esm/api';

register();
const { default: screen } = await import('./worker.ts');
export default screen;
