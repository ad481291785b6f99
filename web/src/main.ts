/**
 * The screening page: drop or pick photos; one photo gives the full view (steps, probability,
 * decision, heat map), several give a sortable table with a CSV download. Two switchable paths:
 * in this browser (browser-model.ts, nothing uploaded) or on the server (POST /v1/explain).
 */
import { DISCLAIMER } from '../../src/core/disclaimer.ts';
import type { RgbImage } from '../../src/core/index.ts';
import { classNamesFor } from '../../src/core/tasks.ts';
import { screenInBrowser, webgpuAvailable } from './browser-model.ts';
import type { ExplainResult, ModelInfo, ModelList, Screening } from './types.ts';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const disclaimer = $('disclaimer');
disclaimer.textContent = DISCLAIMER;

/** The model the browser mode runs (chosen in the list) and the one the server screens with. */
let info: ModelInfo | null = null;
let servedInfo: ModelInfo | null = null;
let catalog: ModelList | null = null;
const status = $('status');
function say(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}
/** Where the model runs: in this browser on the CPU (WASM) or the GPU (WebGPU), or on the server. */
function mode(): 'browser' | 'gpu' | 'server' {
  return (document.querySelector('input[name="mode"]:checked') as HTMLInputElement).value as 'browser' | 'gpu' | 'server';
}
// The GPU choice is offered only where the browser has a WebGPU adapter.
void webgpuAvailable().then((yes) => { $('gpu-choice').hidden = !yes; });

/** For the end-to-end tests: the last result with full precision and the model input pixels. */
interface Debug {
  last?: { file: string; where: string; backend?: string; probability: number | null; referable: boolean | null; gradable: boolean; gradeProbabilities: number[] | null; predictedGrade: number | null; preprocessed?: number[]; heatmap?: number[] };
  done: number;
}
const debug: Debug = { done: 0 };
(window as unknown as { drxai: Debug }).drxai = debug;

const modelSelect = $<HTMLSelectElement>('model-select');

/** The model the chosen mode uses: the selected one in the browser, the served one on the server. */
function activeInfo(): ModelInfo | null {
  return mode() === 'server' ? servedInfo : info;
}

/** What the operating point referred of each true grade where it was chosen: which grades its errors are. */
function referralText(rows: { grade: number; n: number; referred: number }[] | undefined): string {
  if (!rows?.length) return '';
  const names = classNamesFor('grade');
  const share = (r: { n: number; referred: number }) => `${((100 * r.referred) / r.n).toFixed(r.referred / r.n < 0.01 ? 1 : 0)}%`;
  return `; there it referred ${rows.filter((r) => r.n > 0).map((r) => `${share(r)} of ${names[r.grade].replace(/^\d /, '')}`).join(', ')}`;
}

function describeModel(): void {
  const m = activeInfo();
  if (!m) return;
  const op = m.operatingPoint;
  $('model').textContent = `${m.task === 'grade' ? '5-grade model' : 'Referable-DR model'} ${m.name} v${m.version} (${m.input.size}×${m.input.size})` +
    (op ? ` · operating point ${op.threshold.toFixed(3)} (target specificity ${op.targetSpecificity}, chosen on ${op.chosenOn})${referralText(op.referralByGrade)}` : ' · no stored operating point: no decisions') +
    (mode() === 'server' && catalog && catalog.models.length > 1 ? ' · the server screens with this model; the list applies to the browser mode' : '');
}

async function loadInfo(): Promise<void> {
  try {
    const res = await fetch('/v1/models');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    catalog = (await res.json()) as ModelList;
    servedInfo = catalog.models.find((m) => m.id === catalog!.served) ?? null;
    info = servedInfo;
    modelSelect.replaceChildren(...catalog.models.map((m) => {
      const o = document.createElement('option');
      o.value = m.id;
      o.textContent = `${m.id} (${m.task}${m.id === catalog!.served ? ', served' : ''}${m.default ? ', default' : ''})`;
      return o;
    }));
    modelSelect.value = catalog.served;
    modelSelect.disabled = catalog.models.length < 2 || mode() === 'server';
    describeModel();
  } catch (e) {
    $('model').textContent = `Could not load the model description (${(e as Error).message}).`;
  }
}
modelSelect.addEventListener('change', () => {
  info = catalog?.models.find((m) => m.id === modelSelect.value) ?? servedInfo;
  describeModel();
});
for (const r of document.querySelectorAll('input[name="mode"]')) {
  r.addEventListener('change', () => {
    modelSelect.disabled = !catalog || catalog.models.length < 2 || mode() === 'server';
    describeModel();
  });
}

const GRADE_NAMES = classNamesFor('grade');

/**
 * The 5-grade distribution of a grade model as labelled bars under its predicted grade (the
 * row of that grade marked); hidden for a binary model. An ungradable photo gets no grade.
 */
function showGrades(p: number[] | null, predicted: number | null, referable: boolean | null): void {
  const box = $('grades');
  box.hidden = !p;
  if (!p) return;
  const caption = document.createElement('p');
  caption.className = 'grade-caption';
  caption.dataset.testid = 'predicted-grade';
  caption.textContent = predicted === null
    ? 'Predicted grade: none (ungradable photograph)'
    : `Predicted grade: ${GRADE_NAMES[predicted]} (the expected grade over the five probabilities, rounded)` +
      // The referral uses the stored operating point on P(grade >= 2), set for specificity: the two can differ.
      (referable === false && predicted >= 2 ? '; below the referral threshold, which is set on P(grade ≥ 2) for specificity' : '');
  box.replaceChildren(caption, ...p.map((v, g) => {
    const row = document.createElement('div');
    row.className = g === predicted ? 'grade-row predicted' : 'grade-row';
    row.dataset.grade = String(g);
    row.innerHTML = `<span class="grade-name"></span><span class="grade-bar"><span></span></span><span class="grade-p"></span>`;
    (row.querySelector('.grade-name') as HTMLElement).textContent = GRADE_NAMES[g];
    (row.querySelector('.grade-bar span') as HTMLElement).style.width = `${(100 * v).toFixed(1)}%`;
    (row.querySelector('.grade-p') as HTMLElement).textContent = v.toFixed(3);
    return row;
  }));
}

function rgbaToDataUrl(rgba: Uint8Array, width: number, height: number): string {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const out = ctx.createImageData(width, height);
  out.data.set(rgba);
  ctx.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

function rgbToDataUrl(img: RgbImage): string {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const out = ctx.createImageData(img.width, img.height);
  for (let i = 0, j = 0; i < img.width * img.height; i++, j += img.channels) {
    out.data[4 * i] = img.data[j];
    out.data[4 * i + 1] = img.data[img.channels === 3 ? j + 1 : j];
    out.data[4 * i + 2] = img.data[img.channels === 3 ? j + 2 : j];
    out.data[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

function setImg(id: string, src: string | null | undefined): void {
  const el = $<HTMLImageElement>(id);
  if (src) el.src = src;
  else el.removeAttribute('src');
}

function decisionText(s: Screening): { text: string; cls: string } {
  if (!s.gradable) return { text: 'Ungradable', cls: 'ungradable' };
  if (s.referable === null) return { text: 'No decision', cls: '' };
  return s.referable ? { text: 'Referable', cls: 'referable' } : { text: 'Not referable', cls: 'not-referable' };
}

function showSingle(file: string, s: Screening, images: Record<string, string | null | undefined>, heatNote: string): void {
  $('batch').hidden = true;
  $('single').hidden = false;
  $('file-name').textContent = `· ${file} · ${s.where === 'browser' ? 'computed in this browser' : 'computed on the server'}`;
  const p = $<HTMLOutputElement>('probability');
  p.textContent = s.probability === null ? '—' : s.probability.toFixed(3);
  p.dataset.value = s.probability === null ? '' : String(s.probability);
  const d = decisionText(s);
  const dec = $<HTMLOutputElement>('decision');
  dec.textContent = d.text;
  dec.className = d.cls;
  $('threshold').textContent = s.threshold === null ? 'none' : `p ≥ ${s.threshold.toFixed(3)}`;
  $('reasons').textContent = s.gradable ? '' : `Ungradable: ${s.reasons.join('; ')}. No decision is given; retake or grade by hand.`;
  const t = s.timings;
  $('timings').textContent = `decode ${t.decodeMs.toFixed(0)} ms · preprocess ${t.preprocessMs.toFixed(0)} ms · network ${t.inferMs.toFixed(0)} ms` +
    (t.explainMs !== undefined ? ` · heat map ${t.explainMs.toFixed(0)} ms` : '') + ` · total ${t.totalMs.toFixed(0)} ms`;
  for (const [id, src] of Object.entries(images)) setImg(id, src);
  $('heat-note').textContent = heatNote;
  showGrades(s.gradeProbabilities, s.predictedGrade, s.referable);
  applyOpacity();
}

function applyOpacity(): void {
  $<HTMLImageElement>('img-heat').style.opacity = $<HTMLInputElement>('opacity').value;
}
$<HTMLInputElement>('opacity').addEventListener('input', applyOpacity);

async function screenOnServer(file: File): Promise<{ s: Screening; body: ExplainResult }> {
  const res = await fetch('/v1/explain?steps=1', { method: 'POST', body: file, headers: { 'content-type': 'application/octet-stream' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return { s: { ...(body as ExplainResult), where: 'server' }, body: body as ExplainResult };
}

/** Screen one file by the chosen path; `full` also renders the steps and heat map. */
async function screenFile(file: File, full: boolean): Promise<Screening> {
  if (!info) throw new Error('the model description is not loaded');
  if (mode() !== 'server') {
    const backend = mode() === 'gpu' ? 'webgpu' : 'wasm';
    const s = await screenInBrowser(file, info, { explain: full, backend });
    debug.last = {
      file: file.name, where: 'browser', backend, probability: s.probability, referable: s.referable, gradable: s.gradable, gradeProbabilities: s.gradeProbabilities, predictedGrade: s.predictedGrade,
      preprocessed: s.pre ? Array.from(s.pre.image.data) : undefined, heatmap: s.heatmap ? Array.from(s.heatmap.map) : undefined,
    };
    if (full) {
      const st = s.pre?.steps;
      showSingle(file.name, s, {
        'img-original': rgbToDataUrl(s.original),
        'img-mask': st ? rgbToDataUrl(st.mask) : null,
        'img-clahe': st?.clahe ? rgbToDataUrl(st.clahe) : null,
        'img-green': st?.green ? rgbToDataUrl(st.green) : null,
        'img-pre': s.pre ? rgbToDataUrl(s.pre.image) : null,
        'img-pre-under': s.pre ? rgbToDataUrl(s.pre.image) : null,
        'img-heat': s.heatmap ? rgbaToDataUrl(s.heatmap.rgba, s.heatmap.size, s.heatmap.size) : null,
      }, s.heatmap ? `${s.heatmap.method}, computed in this browser${backend === 'webgpu' ? ' on the GPU' : ''}: red = regions that raised the referable score most. It shows what the model used, not where disease is.` : 'No heat map for this result.');
    }
    return s;
  }
  const { s, body } = await screenOnServer(file);
  debug.last = { file: file.name, where: 'server', probability: s.probability, referable: s.referable, gradable: s.gradable, gradeProbabilities: s.gradeProbabilities, predictedGrade: s.predictedGrade };
  if (full) {
    showSingle(file.name, s, {
      'img-original': body.steps?.original,
      'img-mask': body.steps?.mask,
      'img-clahe': body.steps?.clahe,
      'img-green': body.steps?.green,
      'img-pre': body.preprocessed,
      'img-pre-under': body.preprocessed,
      'img-heat': body.heatmap?.heat,
    }, body.heatmap ? `${body.heatmap.method}: red = regions that raised the referable score most. It shows what the model used, not where disease is.` : 'No heat map for this result.');
  }
  return s;
}

// ---- batch table -------------------------------------------------------------------------
interface Row { file: string; probability: number | null; decision: string; reasons: string; ms: number }
let rows: Row[] = [];
let sortKey: keyof Row = 'file';
let sortAsc = true;

function renderTable(): void {
  const sorted = [...rows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const c = x === null ? 1 : y === null ? -1 : typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return sortAsc ? c : -c;
  });
  const tbody = $('table').querySelector('tbody')!;
  tbody.replaceChildren(...sorted.map((r) => {
    const tr = document.createElement('tr');
    const cells: Array<[string, string]> = [[r.file, ''], [r.probability === null ? '—' : r.probability.toFixed(3), 'num'], [r.decision, ''], [r.reasons, ''], [r.ms.toFixed(0), 'num']];
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }));
  for (const th of $('table').querySelectorAll('th')) {
    const key = th.querySelector('button')!.dataset.key;
    th.setAttribute('aria-sort', key === sortKey ? (sortAsc ? 'ascending' : 'descending') : 'none');
  }
  $('batch-count').textContent = `(${rows.length})`;
}
for (const b of $('table').querySelectorAll('th button')) {
  b.addEventListener('click', () => {
    const key = (b as HTMLButtonElement).dataset.key as keyof Row;
    sortAsc = key === sortKey ? !sortAsc : true;
    sortKey = key;
    renderTable();
  });
}

/** RFC 4180 quoting; cells starting with = + - @ get a leading ' so spreadsheets do not run them. */
function csvCell(v: string): string {
  const safe = /^[=+\-@]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
$('csv').addEventListener('click', () => {
  const header = 'file,probability,decision,quality,ms,model,where';
  const where = mode();
  const lines = rows.map((r) => [r.file, r.probability === null ? '' : String(r.probability), r.decision, r.reasons, r.ms.toFixed(1), info?.name ?? '', where].map(csvCell).join(','));
  const blob = new Blob([`${header}\n${lines.join('\n')}\n# ${DISCLAIMER}\n`], { type: 'text/csv' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'dr-xai-screening.csv';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

async function handleFiles(list: File[]): Promise<void> {
  const files = list.filter((f) => !f.name.startsWith('.'));
  if (files.length === 0) return;
  if (files.length === 1) {
    say(`Screening ${files[0].name}…`);
    try {
      await screenFile(files[0], true);
      say('');
    } catch (e) {
      $('single').hidden = true;
      say(`${files[0].name}: ${(e as Error).message}`, true);
    }
    debug.done++;
    return;
  }
  rows = [];
  $('single').hidden = true;
  $('batch').hidden = false;
  let i = 0;
  for (const f of files) {
    say(`Screening ${++i} of ${files.length}…`);
    const t0 = performance.now();
    try {
      const s = await screenFile(f, false);
      rows.push({ file: f.webkitRelativePath || f.name, probability: s.probability, decision: decisionText(s).text + (s.predictedGrade === null ? '' : ` · grade ${GRADE_NAMES[s.predictedGrade]}`), reasons: s.gradable ? 'gradable' : s.reasons.join('; '), ms: performance.now() - t0 });
    } catch (e) {
      rows.push({ file: f.webkitRelativePath || f.name, probability: null, decision: 'Error', reasons: (e as Error).message, ms: performance.now() - t0 });
    }
    renderTable();
  }
  say(`Screened ${files.length} photographs.`);
  debug.done++;
}

// ---- input: drop zone, pickers, keyboard --------------------------------------------------
const drop = $('drop');
const filesInput = $<HTMLInputElement>('files');
const folderInput = $<HTMLInputElement>('folder');
drop.addEventListener('click', () => filesInput.click());
// As a native button: Enter acts on keydown, Space on keyup (keydown only stops the page from
// scrolling; Chromium does not open a file picker from a Space keydown).
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    filesInput.click();
  } else if (e.key === ' ') {
    e.preventDefault();
  }
});
drop.addEventListener('keyup', (e) => {
  if (e.key === ' ') {
    e.preventDefault();
    filesInput.click();
  }
});
$('pick-folder').addEventListener('click', () => folderInput.click());
for (const input of [filesInput, folderInput]) {
  input.addEventListener('change', () => {
    void handleFiles(Array.from(input.files ?? []));
    input.value = '';
  });
}
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));

/** Files from a drop, walking dropped folders (webkitGetAsEntry). */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items ?? []).map((it) => it.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return Array.from(dt.files);
  const out: File[] = [];
  async function walk(entry: FileSystemEntry): Promise<void> {
    if (entry.isFile) {
      out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e);
      }
    }
  }
  for (const e of entries) await walk(e);
  return out;
}
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer) void droppedFiles(e.dataTransfer).then(handleFiles);
});

void loadInfo();
