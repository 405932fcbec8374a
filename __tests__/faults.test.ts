import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, CreateChangeSetCommand, DescribeChangeSetCommand, DescribeStackEventsCommand, DescribeStacksCommand, ExecuteChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { deployStack } from '../src/aws/deploy.ts';
import { StoreError } from '../src/errors.ts';
import { parseJob } from '../src/job.ts';
import { LambdaFunctionError } from '../src/lambda-error.ts';
import { runLocal, type Invoke } from '../src/local/local-engine.ts';
import { runPartition } from '../src/partition/run-partition.ts';
import { planPartitions } from '../src/plan/partition-plan.ts';
import type { StoredObject } from '../src/store/object-store.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { collectingHandler, expectedLines, sortedCopy, tempDir, testAttempt } from './helpers/corpus.ts';
import { startFaultProxy, type S3Fault } from './helpers/fault-proxy.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const echo = path.join(here, 'fixtures/echo-handler.ts');

function lineCorpus(files: number, linesPerFile: number): { key: string; body: Buffer }[] {
  return Array.from({ length: files }, (_, f) => ({
    key: `in/file-${f}.txt`,
    body: Buffer.from(Array.from({ length: linesPerFile }, (_, l) => `file ${f} line ${l} ${'é€'.repeat((l * 7) % 13)}`).join('\n') + '\n'),
  }));
}

describe('S3 faults on ranged reads, injected by a proxy in front of s3rver', () => {
  let s3: LocalS3;
  const files = lineCorpus(3, 2000);
  beforeAll(async () => {
    s3 = await startLocalS3(['fault-input']);
    const direct = new S3Store(s3.client, 'fault-input', '');
    for (const file of files) await direct.write(file.key, file.body);
  });
  afterAll(async () => s3.stop());

  async function readAllThrough(faults: S3Fault[]) {
    const proxy = await startFaultProxy(s3.endpoint, faults);
    const client = createS3Client({ endpoint: proxy.endpoint, region: 'us-east-1' });
    try {
      const source = new S3Store(client, 'fault-input', 'in/');
      const listing: StoredObject[] = [];
      for await (const object of source.list()) listing.push(object);
      const plan = planPartitions(listing, { sizing: { partitionBytes: 30_000 }, maxPartitions: 100 });
      const seen: string[] = [];
      for (const partition of plan.partitions) {
        const outcome = await runPartition({ partition, format: 'lines', maxRejected: { count: 0 }, source, output: testAttempt(source, partition), handler: collectingHandler() });
        seen.push(...(outcome.result as { lines: string[] }).lines);
      }
      return { seen, injected: proxy.injected, pending: proxy.pending };
    } finally {
      client.destroy();
      await proxy.stop();
    }
  }

  it.each<[string, S3Fault[]]>([
    ['SlowDown, retried by the SDK', ['slowdown', 'slowdown']],
    ['500 InternalError, retried by the SDK', ['internal-error', 'internal-error']],
    ['a connection dropped mid-body, resumed from the first byte not read', ['drop-mid-body', 'drop-mid-body', 'drop-mid-body']],
    ['all of them in a row', ['slowdown', 'drop-mid-body', 'internal-error', 'drop-mid-body', 'slowdown']],
  ])('%s: every record is read exactly once', async (_name, faults) => {
    const { seen, injected, pending } = await readAllThrough(faults);
    expect(injected).toEqual(faults);
    expect(pending).toEqual([]);
    expect(sortedCopy(seen)).toEqual(sortedCopy(expectedLines(files)));
  });

  it('gives up with an error naming the object when S3 keeps failing', async () => {
    const failure = readAllThrough(Array.from({ length: 40 }, () => 'internal-error' as const));
    await expect(failure).rejects.toThrow(StoreError);
    await expect(readAllThrough(Array.from({ length: 40 }, () => 'internal-error' as const))).rejects.toThrow(/Cannot read s3:\/\/fault-input\/in\/file-0\.txt: .*\(InternalError\)/);
  });
});

/** Every line the output's partition files hold. */
async function outputLines(output: string): Promise<string[]> {
  const dir = path.join(output, 'partitions');
  const lines: string[] = [];
  for (const part of (await readdir(dir)).sort()) {
    lines.push(...(await readFile(path.join(dir, part, 'lines.txt'), 'utf8')).split('\n').filter((line) => line !== ''));
  }
  return lines;
}

/** Equal-sized files, so each is its own partition. */
async function equalFiles(contents: string[][]): Promise<string> {
  const dir = await tempDir();
  for (const [index, lines] of contents.entries()) await writeFile(path.join(dir, `f${index}.txt`), `${lines.join('\n')}\n`);
  return dir;
}

describe('Lambda faults in the local engine: what reaches the output', () => {
  const groups = [0, 1, 2, 3].map((g) => Array.from({ length: 50 }, (_, i) => `g${g} record ${String(i).padStart(3, '0')}`));

  it('a worker that throws on a chosen partition is reported; the others reach the output once; a fixed re-run gives every record once', async () => {
    const broken = groups.map((lines, g) => (g === 2 ? ['boom', ...lines.slice(1)] : lines));
    const input = await equalFiles(broken.map((lines) => lines.map((line) => line.padEnd(20))));
    const output = await tempDir();
    const job = parseJob({ input, output, format: 'lines', partitions: 4 });
    const first = await runLocal({ job, handler: echo, concurrency: 2, parameters: { ToleratedFailurePercentage: '25' } });
    expect(first.status).toBe('SUCCEEDED');
    expect(first.partitions.map((row) => row.status)).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded']);
    expect(first.partitions[2]).toMatchObject({ error: 'Error', message: 'partition 2 hit a boom line' });
    const afterFirst = await outputLines(output);
    expect(sortedCopy(afterFirst)).toEqual(sortedCopy([...broken[0]!, ...broken[1]!, ...broken[3]!].map((l) => l.padEnd(20))));

    // The fix: same sizes, so the same plan, and the re-run overwrites instead of adding.
    await writeFile(path.join(input, 'f2.txt'), `${['fine', ...groups[2]!.slice(1)].map((l) => l.padEnd(20)).join('\n')}\n`);
    const second = await runLocal({ job, handler: echo, concurrency: 2 });
    expect(second.totals).toMatchObject({ succeeded: 4, failed: 0, records: 200 });
    const all = [...groups[0]!, ...groups[1]!, ['fine', ...groups[2]!.slice(1)], ...groups[3]!].flat().map((l) => l.padEnd(20));
    expect(sortedCopy(await outputLines(output))).toEqual(sortedCopy(all));
  });

  it('Lambda throttling on a burst: each throttled invocation is retried, and every record reaches the output once', async () => {
    const input = await equalFiles(groups);
    const output = await tempDir();
    let throttled = 0;
    const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event) => {
      if (fn.module === 'worker' && throttled < 4) {
        throttled += 1;
        throw new LambdaFunctionError('Lambda.TooManyRequestsException', 'Rate Exceeded.');
      }
      return invoke(fn, event);
    };
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 4 }), handler: echo, concurrency: 4, retryDelayMs: 1, wrapInvoke });
    expect(throttled).toBe(4);
    expect(report.totals).toMatchObject({ succeeded: 4, failed: 0, records: 200 });
    expect(sortedCopy(await outputLines(output))).toEqual(sortedCopy(groups.flat()));
  });
});

// A step re-run while its execution still runs attaches to it and starts no second one: checked
// against moto in aws-emulator.test.ts ("a retried step"), where a mock would supply the sameness.
describe('AWS faults: concurrent runs', () => {
  const cfnMock = mockClient(CloudFormationClient);
  afterAll(() => cfnMock.restore());

  it('two runs against the same stack: the second waits for the first deploy to settle before its change set', async () => {
    const statuses = ['UPDATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'UPDATE_COMPLETE'];
    let call = 0;
    cfnMock.on(DescribeStacksCommand).callsFake(() => ({ Stacks: [{ StackName: 'fanout', StackId: 'stack-id', StackStatus: statuses[Math.min(call++, statuses.length - 1)], CreationTime: new Date() }] }));
    cfnMock.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
    cfnMock.on(CreateChangeSetCommand).resolves({ Id: 'cs', StackId: 'stack-id' });
    cfnMock.on(DescribeChangeSetCommand).resolves({ Status: 'FAILED', StatusReason: "The submitted information didn't contain changes." });
    const log: string[] = [];
    const clock = new VirtualClock();
    await deployStack(new CloudFormationClient({ region: 'us-east-1' }), { stackName: 'fanout', templateBody: 'x', parameters: {}, capabilities: [], tags: {} }, { clock, log: (l) => log.push(l), uploadTemplate: async () => '' });
    expect(log[0]).toBe('Stack fanout is UPDATE_IN_PROGRESS; waiting for it to settle.');
    expect(cfnMock.commandCalls(CreateChangeSetCommand)).toHaveLength(1);
    expect(call).toBeGreaterThanOrEqual(4);
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });
});
