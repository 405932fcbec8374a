import { readFile } from 'node:fs/promises';
import { InputError, errorMessage } from '../errors.ts';
import type { Architecture } from '../handler/native-addons.ts';
import { isSecretName } from '../secrets.ts';
import { parseTemplateText } from './cfn-yaml.ts';

interface ParameterSpec {
  readonly Type?: string;
  readonly NoEcho?: boolean | string;
  readonly Default?: unknown;
  readonly AllowedValues?: readonly unknown[];
  readonly AllowedPattern?: string;
  readonly MinValue?: number | string;
  readonly MaxValue?: number | string;
  readonly MinLength?: number | string;
  readonly MaxLength?: number | string;
}

async function templateParameters(templatePath: string): Promise<Record<string, ParameterSpec>> {
  let template: { Parameters?: Record<string, ParameterSpec> } | null;
  try {
    template = parseTemplateText(await readFile(templatePath, 'utf8')) as typeof template;
  } catch (error) {
    throw new InputError(`Template ${templatePath} cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  return template?.Parameters ?? {};
}

/**
 * Checks parameter values against the template's declarations as CloudFormation does on deploy
 * (a known name; Number values numeric within MinValue/MaxValue; AllowedValues; AllowedPattern;
 * MinLength/MaxLength), so a bad value is refused before any work in both engines: the local
 * engine would otherwise run with it (a WorkerTimeout of 0 times every worker out).
 */
export async function checkTemplateParameters(templatePath: string, values: Readonly<Record<string, string>>): Promise<void> {
  const declared = await templateParameters(templatePath);
  for (const [name, value] of Object.entries(values)) {
    const spec = declared[name];
    if (spec === undefined) {
      throw new InputError(`parameters: ${name} is not a parameter of ${templatePath} (it has ${Object.keys(declared).join(', ') || 'none'}).`);
    }
    const problem = parameterProblem(spec, value, WHOLE_NUMBERS.test(name));
    // A NoEcho or secret-sounding parameter's value stays out of the message, as CloudFormation keeps it out of its output.
    const shown = isNoEcho(spec.NoEcho) || isSecretName(name) ? '(value hidden)' : `"${value}"`;
    if (problem !== undefined) throw new InputError(`parameters: ${name} ${shown} ${problem} (${templatePath}).`);
  }
}

/** A parameter's NoEcho, as CloudFormation reads it: true, or the string "true" in any case. */
export function isNoEcho(noEcho: unknown): boolean {
  return noEcho === true || (typeof noEcho === 'string' && noEcho.toLowerCase() === 'true');
}

/**
 * Number parameters that become Lambda's Timeout and MemorySize, a Map's MaxConcurrency or its
 * batch size: CloudFormation takes 5.5 for a Number, but these take only whole numbers.
 */
const WHOLE_NUMBERS = /(?:Timeout|MemorySize|^MaxConcurrency|^ItemsPerBatch)$/;

function parameterProblem(spec: ParameterSpec, value: string, whole: boolean): string | undefined {
  const type = spec.Type ?? 'String';
  const items = type === 'CommaDelimitedList' || type === 'List<Number>' ? value.split(',').map((item) => item.trim()) : [value];
  const numeric = type === 'Number' || type === 'List<Number>';
  for (const item of items) {
    if (numeric && !/^-?\d+(\.\d+)?$/.test(item)) return `must be a number`;
    if (numeric && whole && !/^-?\d+$/.test(item)) return `must be a whole number`;
    if (spec.AllowedValues !== undefined && !spec.AllowedValues.map(String).includes(item)) return `must be one of ${spec.AllowedValues.join(', ')}`;
    if (numeric && spec.MinValue !== undefined && Number(item) < Number(spec.MinValue)) return `is below the template's MinValue ${spec.MinValue}${range(spec)}`;
    if (numeric && spec.MaxValue !== undefined && Number(item) > Number(spec.MaxValue)) return `is above the template's MaxValue ${spec.MaxValue}${range(spec)}`;
    if (!numeric && spec.AllowedPattern !== undefined && !new RegExp(`^(?:${spec.AllowedPattern})$`).test(item)) return `does not match the template's AllowedPattern ${spec.AllowedPattern}`;
    if (!numeric && spec.MinLength !== undefined && item.length < Number(spec.MinLength)) return `is shorter than the template's MinLength ${spec.MinLength}`;
    if (!numeric && spec.MaxLength !== undefined && item.length > Number(spec.MaxLength)) return `is longer than the template's MaxLength ${spec.MaxLength}`;
  }
  return undefined;
}

function range(spec: ParameterSpec): string {
  return spec.MinValue !== undefined && spec.MaxValue !== undefined ? `: give ${spec.MinValue} to ${spec.MaxValue}` : '';
}

/** Whether the template has a parameter of this name (a user's template may not). */
export async function declaresParameter(templatePath: string, name: string): Promise<boolean> {
  return (await templateParameters(templatePath))[name] !== undefined;
}

/** The functions' architecture: the Architecture parameter given, else the template's default, else Lambda's (x86_64). */
export async function functionArchitecture(templatePath: string, values: Readonly<Record<string, string>>): Promise<Architecture> {
  const architecture = values.Architecture ?? (await templateParameters(templatePath)).Architecture?.Default ?? 'x86_64';
  if (architecture !== 'arm64' && architecture !== 'x86_64') throw new InputError(`parameters: Architecture "${String(architecture)}" must be arm64 or x86_64.`);
  return architecture;
}
