import { parse, type Tags } from 'yaml';

const FUNCTIONS = ['Base64', 'Cidr', 'FindInMap', 'GetAtt', 'GetAZs', 'If', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'Equals', 'Not', 'And', 'Or', 'Length', 'ToJsonString'];

/** CloudFormation's short-form tags (`!Ref`, `!GetAtt A.Arn`, `!Sub ...`) as their long JSON forms. */
const CFN_TAGS: Tags = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  ...FUNCTIONS.flatMap((name) => {
    const key = `Fn::${name}`;
    const scalar = name === 'GetAtt' ? (value: string) => ({ [key]: value.split('.') }) : (value: string) => ({ [key]: value });
    return [
      { tag: `!${name}`, resolve: scalar },
      { tag: `!${name}`, collection: 'seq' as const, resolve: (value: { toJSON(): unknown }) => ({ [key]: value.toJSON() }) },
      { tag: `!${name}`, collection: 'map' as const, resolve: (value: { toJSON(): unknown }) => ({ [key]: value.toJSON() }) },
    ];
  }),
];

/** Templates parsed in this process, by their text: a run reads its template five times (checks, parameters, the definition), and a parse takes 60-150 ms. */
const parsedTemplates = new Map<string, unknown>();

/** Parses a CloudFormation template written in YAML (short-form tags included) or JSON; each caller gets its own copy. */
export function parseTemplateText(text: string): unknown {
  let parsed = parsedTemplates.get(text);
  if (parsed === undefined) {
    parsed = parse(text, { customTags: CFN_TAGS, prettyErrors: true });
    parsedTemplates.set(text, parsed);
  }
  return structuredClone(parsed);
}
