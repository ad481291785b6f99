/**
 * Worker threads that run TypeScript sources: each pool's worker entry (a plain .mjs next to its
 * worker.ts) registers tsx inside the thread, so the thread must not inherit tsx's own flags from
 * the parent (a second registration breaks as soon as a module has top-level await).
 */

/** The parent's Node flags minus tsx's own, for a piscina pool's `execArgv`. */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.includes('tsx')) continue;
    if (['--import', '--require', '-r', '--loader', '--experimental-loader'].includes(a) && argv[i + 1]?.includes('tsx')) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}
