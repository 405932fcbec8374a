import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from './corpus.ts';

/** The input every project handler reads: one level per line. */
export const LEVELS = ['info', 'warn', 'info', 'error', 'info', 'warn'];

/**
 * What esbuild must compile in TypeScript handlers users actually write, one handler module per
 * feature the old packaging could not carry, each with the result it gives over LEVELS (computed
 * here by hand, not by running it).
 */
const TYPESCRIPT_FEATURES: Record<string, { module: string; expected: unknown }> = {
  enum: { module: 'enum', expected: { records: 6, severe: 3 } },
  namespace: { module: 'namespace', expected: { records: 6, weight: 3 + 2 * 2 + 1 * 3 } },
  'parameter properties': { module: 'parameter-properties', expected: { records: 6, tagged: 'info!,warn!,info!,error!,info!,warn!' } },
  'a CommonJS dependency': { module: 'cjs-dependency', expected: { records: 6, padded: '...info|...warn|...info|..error|...info|...warn' } },
  'a JSON import': { module: 'json-import', expected: { records: 6, codes: [20, 30, 20, 40, 20, 30] } },
};

/**
 * The handlers to run in both engines: one that imports every TypeScript feature's module and
 * gives each one's result under its name (a run each would cost a second apiece), and the two
 * module formats a handler's entry can have besides ESM.
 */
export const PROJECT_HANDLERS: Record<string, { file: string; expected: unknown }> = {
  [`TypeScript (${Object.keys(TYPESCRIPT_FEATURES).join(', ')})`]: {
    file: 'handlers/typescript.ts',
    expected: Object.fromEntries(Object.entries(TYPESCRIPT_FEATURES).map(([feature, { expected }]) => [feature, expected])),
  },
  'require() in a CommonJS handler': { file: 'handlers/required.js', expected: { records: 6, digest: 'sha256:6' } },
  'ESM syntax in a "type": "commonjs" package': { file: 'handlers/esm-in-commonjs.js', expected: { records: 6, last: 'warn' } },
};

/**
 * A user's project as `npm init -y` leaves it (`"type": "commonjs"`), with a CommonJS dependency
 * (which itself requires a Node built-in and reads __dirname) and an ESM dependency of which only
 * one export is used.
 */
export async function writeHandlerProject(dir?: string): Promise<string> {
  const root = dir ?? (await tempDir('handler-project-'));
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'my-batch', version: '1.0.0', type: 'commonjs', main: 'index.js' }, null, 2),
    'node_modules/legacy-pad/package.json': JSON.stringify({ name: 'legacy-pad', version: '2.0.0', main: 'lib/pad.js' }),
    'node_modules/legacy-pad/lib/pad.js': [
      "'use strict';",
      "const util = require('util');",
      '// CommonJS code reads __dirname; in an ESM bundle it must still be defined.',
      "const here = typeof __dirname === 'string' ? '' : 'no __dirname';",
      'module.exports = function pad(text, width) { return util.format("%s", here + ".".repeat(Math.max(0, width - text.length)) + text); };',
    ].join('\n'),
    'node_modules/shapes/package.json': JSON.stringify({ name: 'shapes', version: '1.0.0', type: 'module', exports: './index.js', sideEffects: false }),
    'node_modules/shapes/index.js': "export const used = (s) => s + '!';\nexport const unused = () => 'TREE-SHAKEN-AWAY';\n",
    'data/codes.json': JSON.stringify({ info: 20, warn: 30, error: 40 }),
    'handlers/enum.ts': [
      'enum Severity { Low = 1, High = 2 }',
      "const severity = (level: string): Severity => (level === 'info' ? Severity.Low : Severity.High);",
      'export function init() { return { records: 0, severe: 0 }; }',
      'export function processRecord(state: { records: number; severe: number }, level: string) {',
      '  state.records += 1;',
      '  if (severity(level) === Severity.High) state.severe += 1;',
      '}',
    ].join('\n'),
    'handlers/namespace.ts': [
      'namespace Weights {',
      '  export const of: Record<string, number> = { info: 1, warn: 2, error: 3 };',
      '}',
      'export function init() { return { records: 0, weight: 0 }; }',
      'export function processRecord(state: { records: number; weight: number }, level: string) {',
      '  state.records += 1;',
      '  state.weight += Weights.of[level] ?? 0;',
      '}',
    ].join('\n'),
    'handlers/parameter-properties.ts': [
      "import { used } from 'shapes';",
      'class Tagger { constructor(private readonly mark: (s: string) => string) {} tag(s: string) { return this.mark(s); } }',
      'const tagger = new Tagger(used);',
      'export function init() { return { records: 0, tags: [] as string[] }; }',
      'export function processRecord(state: { records: number; tags: string[] }, level: string) { state.records += 1; state.tags.push(tagger.tag(level)); }',
      "export function finish(state: { records: number; tags: string[] }) { return { records: state.records, tagged: state.tags.join(',') }; }",
    ].join('\n'),
    'handlers/cjs-dependency.ts': [
      "import pad from 'legacy-pad';",
      'export function init() { return { records: 0, padded: [] as string[] }; }',
      'export function processRecord(state: { records: number; padded: string[] }, level: string) { state.records += 1; state.padded.push(pad(level, 7)); }',
      "export function finish(state: { records: number; padded: string[] }) { return { records: state.records, padded: state.padded.join('|') }; }",
    ].join('\n'),
    'handlers/required.js': [
      "const { createHash } = require('node:crypto');",
      "const pad = require('legacy-pad');",
      'module.exports = {',
      '  init: () => ({ records: 0 }),',
      '  processRecord(state, level) { state.records += 1; createHash("sha256").update(pad(level, 1)); },',
      "  finish: (state) => ({ records: state.records, digest: createHash('sha256').digest('hex').length === 64 ? 'sha256:' + state.records : 'no' }),",
      '};',
    ].join('\n'),
    'handlers/esm-in-commonjs.js': [
      'export function init() { return { records: 0, last: null }; }',
      'export function processRecord(state, level) { state.records += 1; state.last = level; }',
    ].join('\n'),
    'handlers/json-import.ts': [
      "import codes from '../data/codes.json';",
      'export function init() { return { records: 0, codes: [] as number[] }; }',
      'export function processRecord(state: { records: number; codes: number[] }, level: keyof typeof codes) { state.records += 1; state.codes.push(codes[level]); }',
    ].join('\n'),
    'handlers/typescript.ts': [
      ...Object.values(TYPESCRIPT_FEATURES).map(({ module }, index) => `import * as feature${index} from './${module}';`),
      `const features: Record<string, any> = { ${Object.keys(TYPESCRIPT_FEATURES).map((feature, index) => `${JSON.stringify(feature)}: feature${index}`).join(', ')} };`,
      'const each = <T>(make: (handler: any, name: string) => T): Record<string, T> => Object.fromEntries(Object.entries(features).map(([name, handler]) => [name, make(handler, name)]));',
      'export function init() { return each((handler) => handler.init()); }',
      'export function processRecord(state: Record<string, unknown>, level: string) { for (const [name, handler] of Object.entries(features)) handler.processRecord(state[name], level); }',
      'export function finish(state: Record<string, unknown>) { return each((handler, name) => (handler.finish === undefined ? state[name] : handler.finish(state[name]))); }',
    ].join('\n'),
    'input/levels.txt': `${LEVELS.join('\n')}\n`,
  };
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), `${text}\n`);
  }
  return root;
}
