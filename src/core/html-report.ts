/**
 * Self-contained HTML next to a Markdown report: one file a person can open, mail or archive,
 * with every image it shows inlined as a data URL and the tables sortable by clicking a header.
 * The Markdown stays the source (it diffs well and renders on GitHub); `marked` (CommonMark +
 * GFM tables) renders it, so every report command gets the same HTML from the same text.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { marked } from 'marked';
import { DISCLAIMER } from './disclaimer.ts';
import { writeFileAtomic } from './fs.ts';

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml' };

const REPORT_CSS = `body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1d232a}
table{border-collapse:collapse;margin:1rem 0;font-size:13px}th,td{border:1px solid #d0d7de;padding:.3rem .55rem;text-align:left;vertical-align:middle}
th{background:#f3f5f7;cursor:pointer;user-select:none}th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
img{max-width:100%}blockquote{margin:1rem 0;padding:.6rem 1rem;background:#fff4e5;border-left:4px solid #d9822b}
code{background:#f3f5f7;padding:0 .2rem;border-radius:3px}.disclaimer{font-weight:600}`;

/** Click a header to sort its table by that column (numbers numerically, blanks last). */
const SORT_SCRIPT = `document.querySelectorAll('table').forEach(function(t){var hs=t.querySelectorAll('thead th');hs.forEach(function(h,i){h.addEventListener('click',function(){var dir=h.dataset.dir==='asc'?'desc':'asc';hs.forEach(function(o){delete o.dataset.dir});h.dataset.dir=dir;var b=t.tBodies[0];var rows=Array.prototype.slice.call(b.rows);var key=function(r){var c=r.cells[i];var v=c?(c.dataset.sort!==undefined?c.dataset.sort:c.textContent.trim()):'';var n=parseFloat(v);return v===''?null:(isNaN(n)||!/^[-+.\\d]/.test(v)?v.toLowerCase():n)};rows.sort(function(a,c){var x=key(a),y=key(c);if(x===null)return 1;if(y===null)return -1;if(typeof x===typeof y)return (x<y?-1:x>y?1:0)*(dir==='asc'?1:-1);return typeof x==='number'?-1:1});rows.forEach(function(r){b.appendChild(r)})})})})`;

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** A whole HTML page around `body` (already HTML), with the report style, sorting and the disclaimer. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${REPORT_CSS}</style></head>
<body>
${body}
<p class="disclaimer">${escapeHtml(DISCLAIMER)}</p>
<script>${SORT_SCRIPT}</script>
</body></html>
`;
}

/**
 * Render `markdownFile` to `report.html` (or `outFile`) beside it. Images the Markdown links by
 * relative path are read from its folder and inlined; a missing one is an error, not a broken
 * picture. Returns the path written.
 */
export async function writeHtmlReport(markdownFile: string, outFile = path.join(path.dirname(markdownFile), 'report.html')): Promise<string> {
  const dir = path.dirname(markdownFile);
  const markdown = await fsp.readFile(markdownFile, 'utf8');
  let html = await marked.parse(markdown, { gfm: true });
  const sources = new Set<string>();
  for (const m of html.matchAll(/<img src="([^"]+)"/g)) if (!/^(data:|https?:)/.test(m[1])) sources.add(m[1]);
  for (const src of sources) {
    const file = path.resolve(dir, decodeURI(src));
    const mime = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const bytes = await fsp.readFile(file);
    html = html.split(`<img src="${src}"`).join(`<img src="data:${mime};base64,${bytes.toString('base64')}"`);
  }
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1] ?? 'dr-xai report';
  await writeFileAtomic(outFile, htmlPage(title, html));
  return outFile;
}
