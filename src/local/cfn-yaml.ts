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

/** Parses a CloudFormation template written in YAML (short-form tags included) or JSON. */
export function parseTemplateText(text: string): unknown {
  return parse(text, { customTags: CFN_TAGS, prettyErrors: true });
}
