import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { executionAcceptor } from '../src/aws/execution-acceptor.ts';
import { executionArnOf, executionName, jobLeg, startOrAttach, waitForExecution, type StepIdentity } from '../src/aws/execution.ts';
import { applyHistory, NO_PROGRESS } from '../src/aws/map-progress.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:sfn-fanout-nightly';
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:sfn-fanout-nightly:sfn-fanout-9-1-abc';
const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({ region: 'us-east-1' });

function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
}

/** DescribeExecution: RUNNING until `runMs` of virtual time has passed, then `final`. */
function executionFinishingAfter(clock: VirtualClock, runMs: number, final: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED') {
  const start = clock.now();
  sfnMock.on(DescribeExecutionCommand).callsFake(() => ({
    executionArn: EXECUTION,
    stateMachineArn: STATE_MACHINE,
    status: clock.now() - start >= runMs ? final : 'RUNNING',
    startDate: new Date(start),
  }));
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
}

beforeEach(() => sfnMock.reset());

describe('waiting for an execution', () => {
  it.each([
    ['RUNNING', 'RETRY'],
    ['PENDING_REDRIVE', 'RETRY'],
    ['SUCCEEDED', 'SUCCESS'],
    ['FAILED', 'FAILURE'],
    ['TIMED_OUT', 'FAILURE'],
    ['ABORTED', 'FAILURE'],
  ] as const)('maps status %s to %s', (status, state) => {
    expect(executionAcceptor({ status })).toBe(state);
  });

  it.each([
    [60_000, 0],
    [60_000, 1],
    [150 * 60_000, 0],
    [150 * 60_000, 0.5],
    [150 * 60_000, 1],
  ])('polls a %i ms execution (jitter draw %d) inside the throttling buckets and notices its end soon after', async (runMs, draw) => {
    const clock = new VirtualClock();
    const start = clock.now();
    executionFinishingAfter(clock, runMs);
    const result = await waitForExecution(sfn, EXECUTION, { clock, random: () => draw });
    expect(result.status).toBe('SUCCEEDED');
    const seconds = (clock.now() - start) / 1000;
    const describes = sfnMock.commandCalls(DescribeExecutionCommand).length;
    const histories = sfnMock.commandCalls(GetExecutionHistoryCommand).length;
    // Refill rates: DescribeExecution 15/s, GetExecutionHistory 20/s. Even the shortest waits stay far below.
    expect(describes / seconds).toBeLessThanOrEqual(1.05);
    expect(histories / seconds).toBeLessThanOrEqual(1.05);
    expect(clock.now() - (start + runMs)).toBeLessThanOrEqual(Math.max(10_000, 0.05 * runMs));
    expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(60_000);
  });

  it('slows down on ThrottlingException and carries on', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    sfnMock.on(DescribeExecutionCommand).callsFake(() => {
      calls += 1;
      if (calls >= 3 && calls <= 5) throw throttled();
      return { executionArn: EXECUTION, status: calls >= 8 ? 'SUCCEEDED' : 'RUNNING' };
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const result = await waitForExecution(sfn, EXECUTION, { clock, random: () => 1, firstDelayMs: 1000 });
    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(8);
    // The waits after each throttle grow beyond what the plain schedule would give.
    expect(clock.sleeps[4]!).toBeGreaterThan(clock.sleeps[1]! * 2);
  });

  it('gives up on an error that is not transient, naming it', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(Object.assign(new Error('User is not authorized to perform: states:DescribeExecution'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    await expect(waitForExecution(sfn, EXECUTION, { clock: new VirtualClock() })).rejects.toThrow('not authorized to perform: states:DescribeExecution');
  });

  it('stops the execution when it runs past the timeout, and returns its final state', async () => {
    const clock = new VirtualClock();
    let stopped = false;
    sfnMock.on(DescribeExecutionCommand).callsFake(() => ({ executionArn: EXECUTION, status: stopped ? 'ABORTED' : 'RUNNING' }));
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfnMock.on(StopExecutionCommand).callsFake(() => {
      stopped = true;
      return { stopDate: new Date(clock.now()) };
    });
    const result = await waitForExecution(sfn, EXECUTION, { clock, timeoutMs: 5 * 60_000 });
    expect(result.status).toBe('ABORTED');
    expect(sfnMock.commandCalls(StopExecutionCommand)).toHaveLength(1);
    expect(sfnMock.commandCalls(StopExecutionCommand)[0]!.args[0].input).toEqual({
      executionArn: EXECUTION,
      error: 'SfnFanout.Stopped',
      cause: 'sfn-fanout stopped the execution: it ran past the timeout of 300 s.',
    });
    expect(clock.now() - Date.UTC(2026, 10, 27, 2, 0, 0)).toBeLessThan(5 * 60_000 + 30_000);
  });

  it('stops the execution when the job is cancelled', async () => {
    const clock = new VirtualClock();
    const controller = new AbortController();
    let stopped = false;
    let polls = 0;
    sfnMock.on(DescribeExecutionCommand).callsFake(() => {
      if (++polls === 3) controller.abort();
      return { executionArn: EXECUTION, status: stopped ? 'ABORTED' : 'RUNNING' };
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfnMock.on(StopExecutionCommand).callsFake(() => {
      stopped = true;
      return {};
    });
    const result = await waitForExecution(sfn, EXECUTION, { clock, signal: controller.signal });
    expect(result.status).toBe('ABORTED');
    expect(sfnMock.commandCalls(StopExecutionCommand)[0]!.args[0].input.cause).toBe('sfn-fanout stopped the execution: the job was cancelled.');
  });

  it('reports partition progress from the history events added since the last poll', async () => {
    const clock = new VirtualClock();
    const history: HistoryEvent[] = [];
    const add = (type: string, details: Partial<HistoryEvent> = {}) => history.push({ id: history.length + 1, type, timestamp: new Date(), ...details } as HistoryEvent);
    let poll = 0;
    sfnMock.on(DescribeExecutionCommand).callsFake(() => {
      poll += 1;
      if (poll === 1) {
        add('ExecutionStarted');
        add('MapStateStarted', { mapStateStartedEventDetails: { length: 3 } });
        add('MapIterationStarted');
        add('MapIterationStarted');
      }
      if (poll === 2) {
        add('TaskStateExited', { stateExitedEventDetails: { name: 'ProcessPartition' } });
        add('MapIterationStarted');
        add('PassStateExited', { stateExitedEventDetails: { name: 'PartitionFailed' } });
      }
      return { executionArn: EXECUTION, status: poll >= 3 ? 'SUCCEEDED' : 'RUNNING' };
    });
    sfnMock.on(GetExecutionHistoryCommand).callsFake(({ reverseOrder }) => ({ events: reverseOrder ? [...history].reverse() : history }));
    const seen: string[] = [];
    await waitForExecution(sfn, EXECUTION, { clock, onProgress: (p, status) => seen.push(`${status} ${p.total} ${p.started}/${p.succeeded}/${p.failed}`) });
    expect(seen).toEqual(['RUNNING 3 2/0/0', 'RUNNING 3 3/1/1', 'SUCCEEDED 3 3/1/1']);
    expect(sfnMock.commandCalls(GetExecutionHistoryCommand).every((call) => call.args[0].input.reverseOrder === true)).toBe(true);
  });

  it('keeps the batch’s partition count when a split partition’s halves start their own Map', () => {
    const event = (id: number, type: string, details: Partial<HistoryEvent> = {}) => ({ id, type, timestamp: new Date(), ...details }) as HistoryEvent;
    const progress = applyHistory(NO_PROGRESS, [
      event(1, 'MapStateEntered', { stateEnteredEventDetails: { name: 'Work' } }),
      event(2, 'MapStateStarted', { mapStateStartedEventDetails: { length: 4 } }),
      event(3, 'MapIterationStarted'),
      event(4, 'MapStateEntered', { stateEnteredEventDetails: { name: 'ProcessHalves' } }),
      event(5, 'MapStateStarted', { mapStateStartedEventDetails: { length: 2 } }),
    ]);
    expect(progress.total).toBe(4);
  });

  it('counts each history event once however the pages overlap', () => {
    const events = [1, 2, 3].map((id) => ({ id, type: 'MapIterationStarted', timestamp: new Date() }) as HistoryEvent);
    const once = applyHistory(NO_PROGRESS, events);
    expect(applyHistory(once, events)).toEqual(once);
    expect(once).toMatchObject({ started: 3, lastEventId: 3 });
  });
});

describe('starting an execution', () => {
  const step: StepIdentity = { repository: 'acme/logs', workflow: 'nightly', job: 'batch', step: 'fanout', runId: '9876543210', runAttempt: 1 };

  it('names executions deterministically: the same step and attempt give the same name, a new attempt a new one', () => {
    expect(executionName(step)).toBe(executionName({ ...step }));
    expect(executionName(step)).not.toBe(executionName({ ...step, runAttempt: 2 }));
    expect(executionName(step)).not.toBe(executionName({ ...step, job: 'other' }));
    expect(executionName({ ...step, runId: '9'.repeat(90) }).length).toBeLessThanOrEqual(80);
    expect(executionName(step)).toMatch(/^sfn-fanout-9876543210-1-[0-9a-f]{12}$/);
  });

  it('gives each leg of a matrix (one job and step, other input or output) its own name, the same on a retry of that leg', () => {
    const leg = (input: string, output: string) => executionName({ ...step, runId: '98765432101', leg: jobLeg({ input, output }) });
    const names = [leg('s3://logs/day1/', 's3://out/'), leg('s3://logs/day2/', 's3://out/'), leg('s3://logs/day1/', 's3://out/b/')];
    expect(new Set(names).size).toBe(3);
    expect(leg('s3://logs/day1/', 's3://out/')).toBe(names[0]);
    for (const name of names) expect(name).toMatch(/^sfn-fanout-98765432101-1-[0-9a-f]{12}$/);
  });

  it('derives the execution ARN from the state machine ARN', () => {
    expect(executionArnOf(STATE_MACHINE, 'run-1')).toBe('arn:aws:states:us-east-1:123456789012:execution:sfn-fanout-nightly:run-1');
  });

  it('starts a new execution', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
    expect(await startOrAttach(sfn, STATE_MACHINE, 'run-1', { input: 's3://b/p/' })).toEqual({ executionArn: EXECUTION, attached: false });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({ stateMachineArn: STATE_MACHINE, name: 'run-1', input: '{"input":"s3://b/p/"}' });
  });

  it('re-attaches to its own execution when it already exists with the same input', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: executionArnOf(STATE_MACHINE, 'run-1'), status: 'SUCCEEDED', input: '{"input":"s3://b/p/"}' });
    expect(await startOrAttach(sfn, STATE_MACHINE, 'run-1', { input: 's3://b/p/' })).toEqual({ executionArn: executionArnOf(STATE_MACHINE, 'run-1'), attached: true });
  });

  it('refuses to attach to an execution of the same name with other input', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', input: '{"input":"s3://b/other/"}' });
    const failure = startOrAttach(sfn, STATE_MACHINE, 'run-1', { input: 's3://b/p/' });
    await expect(failure).rejects.toThrow('Execution run-1 already exists with different input (status RUNNING): this step of this run attempt already ran with other inputs.');
    // B10: a Standard execution's name stays taken for 90 days after it closes; stopping it frees nothing.
    await expect(failure).rejects.toThrow('stays taken for 90 days after it closes, so stopping it does not free the name: re-run the workflow');
    await expect(failure).rejects.not.toThrow(/stop arn:/);
  });
});

describe('progress of a Distributed Map', () => {
  it('reads the map run’s item counts once it starts, at most one DescribeMapRun a second', async () => {
    const clock = new VirtualClock();
    const start = clock.now();
    const mapRunArn = 'arn:aws:states:us-east-1:123456789012:mapRun:sfn-fanout-nightly/Work:0d5c';
    sfnMock.on(DescribeExecutionCommand).callsFake(() => ({ executionArn: EXECUTION, status: clock.now() - start >= 120_000 ? 'SUCCEEDED' : 'RUNNING' }));
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 3, type: 'MapRunStarted', timestamp: new Date(), mapRunStartedEventDetails: { mapRunArn } },
        { id: 2, type: 'MapStateStarted', timestamp: new Date(), mapStateStartedEventDetails: { length: 0 } },
        { id: 1, type: 'ExecutionStarted', timestamp: new Date() },
      ] as HistoryEvent[],
    });
    let described = 0;
    sfnMock.on(DescribeMapRunCommand).callsFake(() => {
      described += 1;
      const done = Math.min(10_000, described * 700);
      return { mapRunArn, status: 'RUNNING', itemCounts: { pending: 10_000 - done, running: 0, succeeded: done - 3, failed: 2, timedOut: 1, aborted: 0, total: 10_000, resultsWritten: done } };
    });
    const seen: string[] = [];
    await waitForExecution(sfn, EXECUTION, { clock, random: () => 0, onProgress: (p) => seen.push(`${p.total} ${p.succeeded}/${p.failed}`) });
    expect(seen[0]).toBe('10000 697/3');
    expect(seen.at(-1)).toBe('10000 9997/3');
    expect(described / ((clock.now() - start) / 1000)).toBeLessThanOrEqual(1);
    expect(sfnMock.commandCalls(DescribeMapRunCommand).every((call) => call.args[0].input.mapRunArn === mapRunArn)).toBe(true);
  });
});
