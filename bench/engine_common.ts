// Shared by the benches: the median, the load average, flags; and for bench/train.ts and
// bench/infer.ts, ours and the PyTorch reference run as separate processes (so each one's peak
// RSS is its own), alternating, with the ratios printed.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export interface Measure {
  imgPerSec: number;
  peakRssMB: number;
  secPerStep: number;
  /** User + system CPU seconds per step: less sensitive than wall time to other processes on a shared machine. */
  cpuSecPerStep: number;
}

const root = path.resolve(import.meta.dirname, '..');

function runJson(cmd: string, args: string[]): Measure {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Measure;
  } catch {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  }
}

export function ours(script: string, args: string[]): Measure {
  return runJson(process.execPath, ['--import', 'tsx', script, '--worker', ...args]);
}

export function reference(script: string, args: string[]): Measure {
  return runJson('/usr/bin/python3', [script, ...args]);
}

/** The median; of an even count, the mean of the middle two (not the larger one). */
export const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Whether Debian's python3 can import torch: the reference side needs it (apt-get install python3-torch). */
function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
}

/** Alternate ours / PyTorch `rounds` times per setting and print a table with ratios. */
export function compare(title: string, settings: { label: string; args: string[] }[], oursScript: string, refScript: string, rounds: number): void {
  if (!torchAvailable()) {
    console.log(`${title}: the PyTorch reference is skipped (/usr/bin/python3 cannot import torch; apt-get install -y python3-torch); our side only, no ratio`);
    for (const s of settings) {
      const a = Array.from({ length: rounds }, () => ours(oursScript, s.args));
      console.log(`${s.label.padEnd(18)} ours ${median(a.map((m) => m.imgPerSec)).toFixed(2)} img/s, peak RSS ${Math.max(...a.map((m) => m.peakRssMB)).toFixed(0)} MB`);
    }
    return;
  }
  console.log(`${title} (rounds=${rounds}, alternating; medians, [min, max] of the rounds; ratios > 1 favour ours for speed, < 1 for RSS; load average ${loadAverage()})`);
  console.log('setting            ours img/s [spread]       torch img/s [spread]      speed ratio  CPU-time ratio  ours RSS MB  torch RSS MB  RSS ratio');
  for (const s of settings) {
    const a: Measure[] = [];
    const b: Measure[] = [];
    for (let i = 0; i < rounds; i++) {
      a.push(ours(oursScript, s.args));
      b.push(reference(refScript, s.args));
    }
    const oi = median(a.map((m) => m.imgPerSec));
    const ti = median(b.map((m) => m.imgPerSec));
    const cpuRatio = median(b.map((m) => m.cpuSecPerStep)) / median(a.map((m) => m.cpuSecPerStep));
    const or = Math.max(...a.map((m) => m.peakRssMB));
    const tr = Math.max(...b.map((m) => m.peakRssMB));
    const spread = (v: Measure[]) => `[${Math.min(...v.map((m) => m.imgPerSec)).toFixed(2)}, ${Math.max(...v.map((m) => m.imgPerSec)).toFixed(2)}]`;
    console.log(
      `${s.label.padEnd(18)} ${oi.toFixed(2).padStart(10)} ${spread(a).padEnd(14)} ${ti.toFixed(2).padStart(10)} ${spread(b).padEnd(14)} ${(oi / ti).toFixed(2).padStart(11)}x ${cpuRatio.toFixed(2).padStart(14)}x ${or.toFixed(0).padStart(11)} ${tr.toFixed(0).padStart(13)} ${(or / tr).toFixed(2).padStart(9)}x`,
    );
  }
  console.log(`load average at end ${loadAverage()}`);
}

/** The 1, 5 and 15 minute load averages, for the line a bench prints at its start and end. */
export const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** The value after --name, or undefined. */
export function argString(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function argValue(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
