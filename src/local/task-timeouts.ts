import { UnsupportedFeatureError } from '../errors.ts';
import { valueAt } from './distributed-map.ts';
import { visitStates } from './unsupported-features.ts';

type State = Record<string, unknown>;

/** A Task's own limit as the template writes it: a number of seconds, a path into its input, or none. */
export type TaskTimeout = { readonly seconds: number } | { readonly path: string } | undefined;

/**
 * The longest a Node.js timer waits (2^31 - 1 ms): the interpreter's own timer for every Task, so it
 * never fires first. A longer one would overflow and fire at once.
 */
export const INTERPRETER_NEVER_SECONDS = 2_147_483;

/**
 * Added to the Parameters of a Task with a TimeoutSecondsPath, as `<field>.$: <the path>`: the
 * interpreter evaluates Parameters against the state input, which is what AWS reads the path from,
 * so the Task's local handler receives its limit here.
 */
export const TASK_TIMEOUT_FIELD = 'sfnFanoutTaskTimeoutSeconds';

/**
 * The local engine's limits come from the template, never from the interpreter's defaults.
 * aws-local-stepfunctions gives a Task without TimeoutSeconds 60 s (AWS: the function's own Timeout
 * ends a lambda:invoke), and reads TimeoutSecondsPath from the Task's Parameters output (AWS: from
 * the state input). So each Task's limit is taken off the definition the interpreter runs and its
 * handler enforces it, together with the function's Timeout, by stopping the worker thread.
 */
export function withLocalTaskTimeouts(definition: State): { definition: State; timeouts: ReadonlyMap<string, TaskTimeout> } {
  // A JSON copy, not structuredClone: the interpreter only treats objects of its own realm as plain.
  const copy = JSON.parse(JSON.stringify(definition)) as State;
  const timeouts = new Map<string, TaskTimeout>();
  visitStates(copy, (name, state) => {
    if (state.Type !== 'Task') return;
    timeouts.set(name, taskTimeoutOf(name, state));
    if (typeof state.TimeoutSecondsPath === 'string' && hasParameters(state)) {
      state.Parameters = { ...(state.Parameters as State), [`${TASK_TIMEOUT_FIELD}.$`]: state.TimeoutSecondsPath };
    }
    delete state.TimeoutSecondsPath;
    state.TimeoutSeconds = INTERPRETER_NEVER_SECONDS;
  });
  return { definition: copy, timeouts };
}

function taskTimeoutOf(name: string, state: State): TaskTimeout {
  if (typeof state.TimeoutSeconds === 'number') return { seconds: state.TimeoutSeconds };
  if (typeof state.TimeoutSecondsPath !== 'string') return undefined;
  const path = state.TimeoutSecondsPath;
  // Without Parameters to carry it, the path is read here, from the state input: refuse what that cannot read, before anything runs.
  if (!hasParameters(state)) {
    if (path.startsWith('$$')) {
      throw new UnsupportedFeatureError(`State "${name}" reads TimeoutSecondsPath ${path} from the context object, which the local engine cannot execute faithfully without Parameters: read it from the state input ($.field), or run it with engine aws.`);
    }
    valueAt(path, {}, {});
  }
  return { path };
}

function hasParameters(state: State): boolean {
  return typeof state.Parameters === 'object' && state.Parameters !== null;
}

/**
 * The Task's limit in seconds: its TimeoutSeconds, or what its TimeoutSecondsPath selected (carried in
 * the Parameters, or read from the input of a Task without Parameters). AWS fails the state with
 * States.Runtime when the path gives no positive whole number.
 */
export function taskTimeoutSeconds(timeout: TaskTimeout, carried: { value: unknown } | undefined, stateInput: unknown): number | undefined {
  if (timeout === undefined) return undefined;
  if ('seconds' in timeout) return timeout.seconds;
  const value = carried === undefined ? valueAt(timeout.path, stateInput, {}) : carried.value;
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw Object.assign(new Error(`TimeoutSecondsPath ${timeout.path} selected ${JSON.stringify(value)}, not a positive whole number of seconds.`), { name: 'States.Runtime' });
  }
  return value as number;
}
