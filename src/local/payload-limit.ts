import { StateMachine, type RunOptions } from 'aws-local-stepfunctions';
import { FanoutError } from '../errors.ts';

/** Step Functions' quota for any state's input or output, and a task's result: 256 KiB of UTF-8 JSON. */
export const PAYLOAD_LIMIT_BYTES = 256 * 1024;

/** Hears the size of every payload a run checks: the state, what it is, its bytes. */
export type PayloadListener = (state: string, kind: PayloadKind, bytes: number) => void;
export type PayloadKind = 'input' | 'output' | 'task input' | 'task result';

/**
 * What AWS raises when a payload passes the quota: a terminal error that no Retry and no Catch
 * handles, States.ALL included, so the execution fails.
 */
export class DataLimitExceededError extends FanoutError {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(state: string, kind: PayloadKind, bytes: number) {
    super(`The ${kind} of state "${state}" is ${bytes.toLocaleString('en-US')} bytes, over Step Functions' limit of ${PAYLOAD_LIMIT_BYTES.toLocaleString('en-US')} bytes for a state's input or output.`);
    this.name = 'States.DataLimitExceeded';
  }
}

/** Measures a payload as AWS does (its JSON text in UTF-8) and fails past the quota. */
export function checkPayload(state: string, kind: PayloadKind, payload: unknown, listener?: PayloadListener): void {
  const bytes = payload === undefined ? 0 : Buffer.byteLength(JSON.stringify(payload));
  listener?.(state, kind, bytes);
  if (bytes > PAYLOAD_LIMIT_BYTES) throw new DataLimitExceededError(state, kind, bytes);
}

/** Run options carry the check, so the Map iterations and child workflows the interpreter starts from them check too. */
const WATCH = Symbol.for('sfn-fanout.payload-limit');

export function withPayloadLimit(options: RunOptions, listener?: PayloadListener): RunOptions {
  installPayloadLimit();
  return { ...options, [WATCH]: { listener } } as RunOptions;
}

export function payloadListenerOf(options: RunOptions): PayloadListener | undefined {
  return (options as { [WATCH]?: { listener?: PayloadListener } })[WATCH]?.listener;
}

type EventLogger = {
  dispatchStateEnteredEvent: (name: string, type: string, input: unknown) => void;
  dispatchStateExitedEvent: (name: string, type: string, input: unknown, output: unknown) => void;
};
type Execute = (this: unknown, input: unknown, options: { runOptions?: RunOptions; eventLogger?: EventLogger }, cleanup: () => void) => Promise<unknown>;

let installed = false;

/**
 * aws-local-stepfunctions has no size limit and no hook between states, but its execution loop
 * announces each state's input as it enters and its output as it leaves, inside the loop's own
 * error handling. Wrapping those two announcements of a run that asks for the check fails the
 * execution there, as AWS does; runs that do not ask are untouched.
 */
function installPayloadLimit(): void {
  if (installed) return;
  const prototype = StateMachine.prototype as unknown as { execute?: Execute };
  const execute = prototype.execute;
  if (typeof execute !== 'function') throw new Error('aws-local-stepfunctions no longer has StateMachine.prototype.execute: the 256 KiB payload limit cannot be enforced; update src/local/payload-limit.ts.');
  prototype.execute = function (input, options, cleanup) {
    const watch = (options.runOptions as { [WATCH]?: { listener?: PayloadListener } } | undefined)?.[WATCH];
    const logger = options.eventLogger;
    if (watch !== undefined && logger !== undefined) {
      const entered = logger.dispatchStateEnteredEvent;
      const exited = logger.dispatchStateExitedEvent;
      if (typeof entered !== 'function' || typeof exited !== 'function') throw new Error('aws-local-stepfunctions no longer announces state inputs and outputs: update src/local/payload-limit.ts.');
      logger.dispatchStateEnteredEvent = (name, type, stateInput) => {
        checkPayload(name, 'input', stateInput, watch.listener);
        entered.call(logger, name, type, stateInput);
      };
      logger.dispatchStateExitedEvent = (name, type, stateInput, output) => {
        checkPayload(name, 'output', output, watch.listener);
        exited.call(logger, name, type, stateInput, output);
      };
    }
    return execute.call(this, input, options, cleanup);
  };
  installed = true;
}
