import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DrXaiError } from './errors.ts';

/**
 * Write a file so that readers never see half of it: write to a temporary sibling, fsync,
 * then rename (atomic on POSIX within one file system). A crash leaves either the old file
 * or the new one, never a torn one.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
}

/** Read a whole file, turning "not found" and friends into a one-line user error. */
export async function readFileOrFail(file: string, what = 'file'): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DrXaiError(`${what} not found`, { file });
    if (code === 'EISDIR') throw new DrXaiError(`expected a ${what}, found a directory`, { file });
    if (code === 'EACCES') throw new DrXaiError(`${what} is not readable (permission denied)`, { file });
    throw e;
  }
}

/** Fail with a clear message unless `dir` is an existing directory. */
export async function assertDirectory(dir: string, what = 'directory'): Promise<void> {
  let stat;
  try {
    stat = await fsp.stat(dir);
  } catch {
    throw new DrXaiError(`${what} not found`, { file: dir });
  }
  if (!stat.isDirectory()) throw new DrXaiError(`${what} is not a directory`, { file: dir });
}
