import { InputError } from '../errors.ts';
import { parseTemplateText } from '../local/cfn-yaml.ts';

interface Template {
  readonly Parameters?: Record<string, unknown>;
  readonly Conditions?: Record<string, unknown>;
  readonly Resources?: Record<string, unknown>;
  readonly Outputs?: Record<string, unknown>;
}

/**
 * Refuses a template whose Ref, Fn::GetAtt, Fn::Sub or condition names something it does not
 * declare (a renamed parameter), before anything is uploaded or deployed, as the local engine does
 * when it resolves the template. CloudFormation would refuse it only at the change set.
 */
export function checkTemplateReferences(templateText: string, file: string): void {
  const template = (parseTemplateText(templateText) ?? {}) as Template;
  const parameters = new Set(Object.keys(template.Parameters ?? {}));
  const resources = new Set(Object.keys(template.Resources ?? {}));
  const conditions = new Set(Object.keys(template.Conditions ?? {}));
  const unknown: string[] = [];
  const ref = (name: string, where: string) => {
    if (!name.startsWith('AWS::') && !parameters.has(name) && !resources.has(name)) unknown.push(`${where} refers to "${name}", which is neither a parameter nor a resource`);
  };
  const resource = (name: string, where: string) => {
    if (!resources.has(name)) unknown.push(`${where} reads an attribute of "${name}", which is not a resource`);
  };
  const condition = (name: unknown, where: string) => {
    if (typeof name === 'string' && !conditions.has(name)) unknown.push(`${where} uses condition "${name}", which is not in Conditions`);
  };
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) return node.forEach((item, index) => walk(item, `${where}[${index}]`));
    if (typeof node !== 'object' || node === null) return;
    const object = node as Record<string, unknown>;
    if (typeof object.Ref === 'string') ref(object.Ref, where);
    const getAtt = object['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') resource(getAtt[0], where);
    if (typeof getAtt === 'string') resource(getAtt.split('.')[0]!, where);
    const sub = object['Fn::Sub'];
    const [text, variables] = Array.isArray(sub) ? [sub[0], (sub[1] ?? {}) as Record<string, unknown>] : [sub, {}];
    if (typeof text === 'string') {
      for (const [, name] of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const [head, attribute] = name!.trim().split('.');
        if (head! in variables) continue;
        if (attribute === undefined) ref(head!, where);
        else resource(head!, where);
      }
    }
    if (Array.isArray(object['Fn::If'])) condition(object['Fn::If'][0], where);
    for (const [key, value] of Object.entries(object)) walk(value, `${where}.${key}`);
  };
  for (const [section, entries] of [['Resources', template.Resources], ['Outputs', template.Outputs], ['Conditions', template.Conditions]] as const) {
    for (const [name, value] of Object.entries(entries ?? {})) {
      condition((value as { Condition?: unknown } | null)?.Condition, `${section}.${name}`);
      walk(value, name);
    }
  }
  if (unknown.length > 0) throw new InputError(`Template ${file}: ${unknown.join('; ')}.`);
}
