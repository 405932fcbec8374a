import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { PAYLOAD_LIMIT_BYTES, withPayloadLimit } from '../src/local/payload-limit.ts';

/** A Map whose iterations each return a task's text, inside a Catch and a Retry on States.ALL. */
function mapOf(): StateMachineDefinition {
  return {
    StartAt: 'Work',
    States: {
      Work: {
        Type: 'Map',
        ItemsPath: '$.items',
        ItemProcessor: { StartAt: 'Make', States: { Make: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:make', End: true } } },
        Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3, IntervalSeconds: 0 }],
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
        End: true,
      },
      Caught: { Type: 'Pass', Result: 'caught', End: true },
    },
  } as unknown as StateMachineDefinition;
}

/** Runs it; each iteration's output is a JSON string of `length` characters (its text is length + 2 bytes). */
async function run(items: number, length: number, checked: boolean) {
  let calls = 0;
  const overrides = { taskResourceLocalHandlers: { Make: async () => ((calls += 1), 'x'.repeat(length)) } };
  const sizes: number[] = [];
  const options = checked ? withPayloadLimit({ overrides }, (_state, kind, bytes) => kind === 'output' && sizes.push(bytes)) : { overrides };
  const execution = new StateMachine(mapOf(), { validationOptions: { noValidate: true } }).run({ items: Array.from({ length: items }, (_, i) => i) }, options);
  const outcome = await execution.result.then(
    (output) => ({ output, error: undefined }),
    (error: { cause?: { name?: string; message?: string } }) => ({ output: undefined, error: { name: error.cause?.name, message: error.cause?.message } }),
  );
  return { ...outcome, calls, largest: Math.max(0, ...sizes) };
}

describe("the local engine's 256 KiB payload limit", () => {
  it('fails the execution with States.DataLimitExceeded when a Map’s output passes 256 KiB, and no Retry or Catch on States.ALL handles it', async () => {
    // Three iterations of 100,000 characters: an output of about 300 KB.
    const over = await run(3, 100_000, true);
    expect(over.error).toEqual({ name: 'States.DataLimitExceeded', message: 'The output of state "Work" is 300,010 bytes, over Step Functions\' limit of 262,144 bytes for a state\'s input or output.' });
    expect(over.output).toBeUndefined();
    // Each iteration ran once: the Map was not retried.
    expect(over.calls).toBe(3);
  });

  it('passes an output of exactly 262,144 bytes and fails one of 262,145', async () => {
    // ["…"] is the string's length + 4 bytes.
    const at = await run(1, PAYLOAD_LIMIT_BYTES - 4, true);
    expect(at.error).toBeUndefined();
    expect(at.largest).toBe(PAYLOAD_LIMIT_BYTES);
    const past = await run(1, PAYLOAD_LIMIT_BYTES - 3, true);
    expect(past.error?.name).toBe('States.DataLimitExceeded');
  });

  it('checks only the runs that ask: the interpreter itself has no limit', async () => {
    const unchecked = await run(3, 100_000, false);
    expect(unchecked.error).toBeUndefined();
    expect((unchecked.output as string[]).length).toBe(3);
  });
});
