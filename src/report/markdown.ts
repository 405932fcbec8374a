import { consoleText } from './console.ts';

/**
 * Text from outside (object keys, error messages, handler output) made inert in GitHub Markdown:
 * no HTML, emphasis, table cell break, mention or link. Escaping `:` and `@` stops GitHub's
 * autolinks of `https://…` and `user@host`; escaping the dot of `www.` stops the last kind.
 */
export function escapeMarkdown(text: string): string {
  // Markdown punctuation first, so the entities added after keep their own `#` and `;`.
  return escapeHtml(text.replace(/([\\|*_[\]()#~!@:])/g, '\\$1'))
    .replace(/\r?\n|\r/g, ' ')
    .replace(/(www)\./gi, '$1\\.');
}

/** Text for inside a `<pre>` block: HTML-escaped, newlines kept, no control or direction-override character. */
export function escapeHtml(text: string): string {
  return consoleText(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/`/g, '&#96;');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
