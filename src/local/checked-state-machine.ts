import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/** The interpreter, and so the asl-validator it checks definitions with: a definition another version accepted is checked again. */
export const INTERPRETER = 'aws-local-stepfunctions@3.0.0';

/**
 * The state machine of a definition, checked by asl-validator (in StateMachine's constructor) as
 * CreateStateMachine checks it. The validator compiles its JSON schemas anew on every call, 0.4 to
 * 0.8 s of CPU, so a definition it accepted is remembered in the cache (an empty file named by the
 * definition's hash) and not checked again.
 */
export function checkedStateMachine(definition: Readonly<Record<string, unknown>>, cacheRoot: string): StateMachine {
  const hash = createHash('sha256').update(`${INTERPRETER}\n${JSON.stringify(definition)}`).digest('hex');
  const accepted = path.join(cacheRoot, 'accepted-definitions', hash);
  const known = existsSync(accepted);
  const machine = new StateMachine(definition as unknown as StateMachineDefinition, { validationOptions: { checkArn: false, noValidate: known } });
  if (!known) {
    try {
      mkdirSync(path.dirname(accepted), { recursive: true });
      writeFileSync(accepted, '');
    } catch {
      // A cache that cannot be written only means checking the definition again next time.
    }
  }
  return machine;
}
