import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { actionTables, replaceBetween } from '../scripts/action-tables.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('the README', () => {
  it('has the inputs and outputs tables exactly as action.yml describes them', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const tables = actionTables(await readFile(path.join(root, 'action.yml'), 'utf8'));
    expect(readme).toBe(replaceBetween(replaceBetween(readme, 'inputs', tables.inputs), 'outputs', tables.outputs));
  });

  it('gives the two fresh-machine commands on its first screen, and .ci/run runs the test command', async () => {
    const firstScreen = (await readFile(path.join(root, 'README.md'), 'utf8')).split('\n').slice(0, 40).join('\n');
    expect(firstScreen).toContain('```sh\nnpm ci && npm run demo\n```');
    expect(firstScreen).toContain('```sh\nnpm ci && npm test\n```');
    expect(await readFile(path.join(root, '.ci/run'), 'utf8')).toMatch(/^npm ci && npm test\b/m);
  });

  it('links only files that exist', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const missing: string[] = [];
    for (const [, target] of readme.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)) {
      const file = target!.split('#')[0]!;
      await readFile(path.join(root, file)).catch((error: { code?: string }) => (error.code === 'EISDIR' ? undefined : missing.push(file)));
    }
    expect(missing).toEqual([]);
  });

  it('describes every action input and output, and sets branding', async () => {
    const { parse } = await import('yaml');
    const action = parse(await readFile(path.join(root, 'action.yml'), 'utf8')) as {
      inputs: Record<string, { description?: string }>;
      outputs: Record<string, { description?: string }>;
      branding?: { icon?: string; color?: string };
    };
    for (const [name, spec] of [...Object.entries(action.inputs), ...Object.entries(action.outputs)]) {
      expect([name, (spec.description ?? '').length > 10]).toEqual([name, true]);
    }
    expect(action.branding).toEqual({ icon: expect.any(String), color: expect.any(String) });
  });
});
