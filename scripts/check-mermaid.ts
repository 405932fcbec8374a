/**
 * Renders every mermaid block of a Markdown file (a job summary) with mermaid from npm in headless
 * Chromium, as GitHub renders them, and prints what came out as JSON: per block, the error if
 * mermaid refused it, the gantt bars drawn, the rows they sit on and the section titles.
 *   node scripts/check-mermaid.ts summary.md
 * Exit 0 when every block rendered, 1 when one did not, 3 when Chromium is missing (CHROMIUM
 * names the binary; default `chromium`). Nothing is fetched: the page loads mermaid from
 * node_modules, and Chromium runs with networking and its background services off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface RenderedBlock {
  readonly error?: string;
  readonly bars: number;
  /** Distinct vertical positions of the bars: one per lane in compact mode. */
  readonly rows: number;
  readonly sections: readonly string[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MERMAID = path.join(root, 'node_modules/mermaid/dist/mermaid.min.js');

export function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

function page(blocks: readonly string[]): string {
  return `<!doctype html><html><head><meta charset="utf-8"></head><body><div id="out"></div><pre id="result">pending</pre>
<script src="${pathToFileURL(MERMAID).href}"></script>
<script>
const blocks = ${JSON.stringify(blocks).replace(/</g, '\\u003c')};
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
(async () => {
  const results = [];
  for (const [index, text] of blocks.entries()) {
    const holder = document.createElement('div');
    document.getElementById('out').appendChild(holder);
    try {
      await mermaid.parse(text);
      const { svg } = await mermaid.render('block' + index, text);
      holder.innerHTML = svg;
      const bars = [...holder.querySelectorAll('rect.task')];
      // Some failures are drawn, not thrown: an error diagram, or a box saying the text is too long.
      const drawn = /Syntax error in text|Maximum text size in diagram exceeded/.exec(holder.textContent);
      const failed = drawn !== null || holder.querySelector('.error-icon, .error-text') !== null;
      results.push({
        ...(failed ? { error: 'mermaid drew an error: ' + (drawn ? drawn[0] : 'error diagram') } : {}),
        bars: bars.length,
        rows: new Set(bars.map((bar) => bar.getAttribute('y'))).size,
        sections: [...holder.querySelectorAll('text.sectionTitle')].map((title) => title.textContent),
      });
    } catch (error) {
      results.push({ error: String(error && error.message || error), bars: 0, rows: 0, sections: [] });
    }
  }
  document.getElementById('result').textContent = JSON.stringify(results);
})();
</script></body></html>`;
}

/** Renders the blocks in Chromium; undefined when Chromium is not installed. */
export function renderInChromium(blocks: readonly string[], chromium = process.env.CHROMIUM ?? 'chromium'): RenderedBlock[] | undefined {
  const work = mkdtempSync(path.join(tmpdir(), 'mermaid-'));
  try {
    const file = path.join(work, 'page.html');
    writeFileSync(file, page(blocks));
    const run = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${path.join(work, 'profile')}`,
        '--allow-file-access-from-files',
        // Virtual time runs the page's async rendering to the end before the DOM is dumped.
        '--virtual-time-budget=60000',
        '--dump-dom',
        pathToFileURL(file).href,
      ],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 },
    );
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    if (run.error !== undefined) throw run.error;
    const result = /<pre id="result">([^<]*)<\/pre>/.exec(run.stdout)?.[1];
    if (result === undefined || result === 'pending') throw new Error(`Chromium rendered no result (exit ${run.status}): ${run.stderr.slice(-2000)}`);
    return JSON.parse(result.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as RenderedBlock[];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: node scripts/check-mermaid.ts <markdown file>');
    process.exit(2);
  }
  const rendered = renderInChromium(mermaidBlocks(readFileSync(file, 'utf8')));
  if (rendered === undefined) {
    console.error('Chromium is not installed (apt-get install -y chromium, or set CHROMIUM to its binary).');
    process.exit(3);
  }
  console.log(JSON.stringify(rendered));
  process.exit(rendered.some((block) => block.error !== undefined) ? 1 : 0);
}
