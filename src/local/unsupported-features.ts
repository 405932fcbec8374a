import { UnsupportedFeatureError } from '../errors.ts';
import { assertDistributedMapRunsLocally, isDistributedMap } from './distributed-map.ts';

type State = Record<string, unknown>;

const DISTRIBUTED_MAP_FIELDS = ['ItemReader', 'ItemBatcher', 'ResultWriter', 'ToleratedFailurePercentage', 'ToleratedFailurePercentagePath', 'ToleratedFailureCount', 'ToleratedFailureCountPath', 'Label'];
const JSONATA_FIELDS = ['Arguments', 'Output', 'Assign'];
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

/**
 * Refuses a definition that uses anything the interpreter would not execute as AWS does: it
 * would silently ignore these fields (or pass input through), so a local run would lie.
 */
export function assertRunsLocally(definition: State, knownFunctions: ReadonlySet<string>): void {
  if (definition.QueryLanguage === 'JSONata') {
    throw unsupported('the state machine', 'QueryLanguage JSONata', 'write it in JSONPath (the default query language)');
  }
  visitStates(definition, (name, state) => {
    if (state.QueryLanguage === 'JSONata') throw unsupported(name, 'QueryLanguage JSONata', 'write this state in JSONPath');
    for (const field of JSONATA_FIELDS) {
      if (field in state) throw unsupported(name, `the ${field} field (JSONata or variables)`, 'use Parameters, ResultSelector and ResultPath');
    }
    if (isDistributedMap(state)) {
      // The local engine runs Distributed Maps itself (distributed-map.ts), within a supported subset.
      assertDistributedMapRunsLocally(name, state);
    } else if (state.Type === 'Map') {
      for (const field of DISTRIBUTED_MAP_FIELDS) {
        if (field in state) throw unsupported(name, `${field} (a Distributed Map field)`, 'use an Inline Map for local runs');
      }
    }
    if (state.Type === 'Task') checkTask(name, state, knownFunctions);
  });
}

function checkTask(name: string, state: State, knownFunctions: ReadonlySet<string>): void {
  if ('Credentials' in state) throw unsupported(name, 'Credentials (cross-account tasks)', 'remove them for local runs');
  const resource = String(state.Resource);
  if (resource === LAMBDA_INVOKE) {
    const parameters = (state.Parameters ?? {}) as Record<string, unknown>;
    const target = parameters.FunctionName;
    if (typeof target !== 'string' || !knownFunctions.has(target)) {
      throw unsupported(name, `a FunctionName (${JSON.stringify(target ?? parameters['FunctionName.$'])}) that is not a function of the template`, 'use a DefinitionSubstitution of !GetAtt <Function>.Arn');
    }
    return;
  }
  if (!knownFunctions.has(resource)) {
    throw unsupported(name, `the resource ${resource}`, `call the template's Lambda functions through ${LAMBDA_INVOKE}`);
  }
}

/** Calls `visit` for every state, those inside Map and Parallel states included. */
export function visitStates(machine: State, visit: (name: string, state: State) => void): void {
  for (const [name, state] of Object.entries((machine.States ?? {}) as Record<string, State>)) {
    visit(name, state);
    const nested = (state.ItemProcessor ?? state.Iterator) as State | undefined;
    if (nested !== undefined) visitStates(nested, visit);
    for (const branch of (state.Branches ?? []) as State[]) visitStates(branch, visit);
  }
}

/** Every Task state's name, nested ones included: each gets a local handler. */
export function taskStateNames(machine: State): string[] {
  const names: string[] = [];
  visitStates(machine, (name, state) => {
    if (state.Type === 'Task') names.push(name);
  });
  return names;
}

/** Every state with a Retry, for shortening its waits in tests. */
export function retryingStateNames(machine: State): string[] {
  const names: string[] = [];
  visitStates(machine, (name, state) => {
    if (Array.isArray(state.Retry)) names.push(name);
  });
  return names;
}

function unsupported(where: string, feature: string, fix: string): UnsupportedFeatureError {
  const subject = where === 'the state machine' ? where : `State "${where}"`;
  return new UnsupportedFeatureError(`${subject} uses ${feature}, which the local engine cannot execute faithfully: ${fix}, or run it with engine aws.`);
}
