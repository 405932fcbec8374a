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

/**
 * The start of a JSON value's text as JSON.stringify(value, null, indent) writes it (`indent` 0:
 * compact), cut at `maxChars`: it never serialises more of the value than it keeps, so a result of
 * a million keys costs what its first lines cost.
 */
export function jsonPreview(value: unknown, maxChars: number, indent = 2): { text: string; cut: boolean } {
  let text = '';
  const fits = (piece: string): boolean => {
    text += piece;
    return text.length <= maxChars;
  };
  const [newline, colon] = indent === 0 ? ['', ':'] : ['\n', ': '];
  const step = ' '.repeat(indent);
  const walk = (node: unknown, margin: string): boolean => {
    if (typeof node !== 'object' || node === null) return fits(JSON.stringify(typeof node === 'string' && node.length > maxChars ? node.slice(0, maxChars) : node) ?? 'null');
    const list = Array.isArray(node) ? (node as unknown[]) : undefined;
    const keys = list === undefined ? Object.keys(node) : undefined;
    const count = list?.length ?? keys!.length;
    const [open, close] = list === undefined ? ['{', '}'] : ['[', ']'];
    if (count === 0) return fits(`${open}${close}`);
    if (!fits(open)) return false;
    for (let index = 0; index < count; index += 1) {
      const name = keys === undefined ? '' : `${JSON.stringify(keys[index])}${colon}`;
      if (!fits(`${index === 0 ? '' : ','}${newline}${margin}${step}${name}`)) return false;
      if (!walk(list === undefined ? (node as Record<string, unknown>)[keys![index]!] : list[index], `${margin}${step}`)) return false;
    }
    return fits(`${newline}${margin}${close}`);
  };
  return walk(value, '') ? { text, cut: false } : { text: text.slice(0, maxChars), cut: true };
}
