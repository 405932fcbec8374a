/**
 * The README's inputs and outputs tables, generated from action.yml so they cannot drift:
 * `npm run docs` rewrites them between their markers; a test fails when they differ.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parse } from 'yaml';

interface ActionMetadata {
  inputs: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description?: string }>;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ').trim();

export function actionTables(actionYml: string): { inputs: string; outputs: string } {
  const action = parse(actionYml) as ActionMetadata;
  const inputs = [
    '| Input | Required | Default | Description |',
    '|---|---|---|---|',
    ...Object.entries(action.inputs).map(
      ([name, input]) => `| \`${name}\` | ${input.required === true ? 'yes' : 'no'} | ${input.default === undefined ? '' : `\`${cell(input.default)}\``} | ${cell(input.description ?? '')} |`,
    ),
  ].join('\n');
  const outputs = ['| Output | Description |', '|---|---|', ...Object.entries(action.outputs).map(([name, output]) => `| \`${name}\` | ${cell(output.description ?? '')} |`)].join('\n');
  return { inputs, outputs };
}

export function replaceBetween(text: string, marker: string, content: string): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1) throw new Error(`README has no ${start} ... ${end} markers.`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tables = actionTables(await readFile('action.yml', 'utf8'));
  const readme = await readFile('README.md', 'utf8');
  await writeFile('README.md', replaceBetween(replaceBetween(readme, 'inputs', tables.inputs), 'outputs', tables.outputs));
}
