import { workerData } from 'node:worker_threads';
import { escapeHtml, escapeMarkdown } from './report/markdown.ts';
import type { RunSettings } from './settings.ts';

/** What a redacted secret becomes: what the runner's own masking writes. */
export const REDACTED = '***';

/** Shorter values are flags and numbers, not secrets; masking them would garble every report. */
const MIN_SECRET_LENGTH = 4;

const SECRET_NAME = /secret|password|passwd|token|credential|private|api[-_]?key|access[-_]?key/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** Variables that hold credentials whatever they are called elsewhere. */
const SECRET_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN', 'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'];

/**
 * Tokens recognisable by their shape, registered or not: GitHub's (`ghp_`, `gho_`, `ghu_`, `ghs_`,
 * `ghr_`, `github_pat_`) and AWS access key ids. A `\` may stand before each `_`: Markdown escaping.
 */
const TOKEN_SHAPES = [/\bgh[pousr]\\?_[A-Za-z0-9]{20,}/, /\bgithub\\?_pat\\?_(?:[A-Za-z0-9]|\\?_){20,}/, /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/];

/**
 * Takes known secret values, and anything shaped like a token, out of text. Every text sfn-fanout
 * writes (summary, JSON report, batch and rejected files, console, action outputs) passes through
 * one of these at the point it is written. A value is also found in the forms our own escaping
 * gives it (Markdown, HTML, JSON), so redacting a rendered text is as safe as redacting its parts.
 */
export class Redactor {
  readonly #values = new Set<string>();
  #pattern: RegExp;

  constructor(values: Iterable<string> = []) {
    this.#pattern = this.#compile();
    this.add(values);
  }

  /** The secret values known, for a process (a Lambda thread) that must redact them too. */
  get values(): string[] {
    return [...this.#values];
  }

  add(values: Iterable<string>): this {
    const before = this.#values.size;
    for (const value of values) if (value.length >= MIN_SECRET_LENGTH) this.#values.add(value);
    if (this.#values.size !== before) this.#pattern = this.#compile();
    return this;
  }

  redact(text: string): string {
    return text.replace(this.#pattern, REDACTED);
  }

  /**
   * A JSON value with every string in it (keys too) redacted. One scan of its JSON text decides (a
   * walk testing each string was slower: 1 M keys took seconds); a value with nothing to redact
   * comes back as it is, and JSON.parse keeps a `__proto__` key a key.
   */
  redactDeep<T>(value: T): T {
    return this.redactWithJson(value).value;
  }

  /** `redactDeep`, with the redacted value's JSON text: a writer of the value needs no second serialisation. */
  redactWithJson<T>(value: T): { value: T; json: string } {
    const json = JSON.stringify(value);
    if (json === undefined) return { value, json: 'null' };
    this.#pattern.lastIndex = 0;
    if (!this.#pattern.test(json)) return { value, json };
    const redacted = json.replace(this.#pattern, REDACTED);
    return { value: JSON.parse(redacted) as T, json: redacted };
  }

  #compile(): RegExp {
    const json = (text: string): string => JSON.stringify(text).slice(1, -1);
    const forms = new Set([...this.#values].flatMap((value) => [value, escapeMarkdown(value), escapeHtml(value), json(value), json(json(value))]));
    // Longest first, so a secret that contains another is taken whole.
    const literals = [...forms].sort((a, b) => b.length - a.length).map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp([...literals, ...TOKEN_SHAPES.map((shape) => shape.source)].join('|'), 'g');
  }
}

/** The secret values in an environment: credentials and tokens, and any variable named like a secret. */
export function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([name, value]) => value !== undefined && (SECRET_VARIABLES.includes(name) || SECRET_NAME.test(name)))
    .map(([, value]) => value!);
}

/**
 * Values of a run that may be secret, for the runner to mask in every log line: template
 * parameters and tags with secret-sounding names, a password in an S3 endpoint URL, and
 * variables passed to the local Lambdas (pass-env) with secret-sounding names.
 */
export function possibleSecrets(settings: RunSettings, env: NodeJS.ProcessEnv = process.env): string[] {
  const named = [...Object.entries(settings.parameters), ...Object.entries(settings.aws?.tags ?? {}), ...settings.passEnv.map((name) => [name, env[name] ?? ''] as const)]
    .filter(([name, value]) => isSecretName(name) && value !== '')
    .map(([, value]) => value);
  const endpointPassword = settings.s3.endpoint === undefined ? '' : decodeURIComponent(new URL(settings.s3.endpoint).password);
  return endpointPassword === '' ? named : [...named, endpointPassword];
}

/** Every secret a run's process knows: its environment's and the run's own. */
export function runSecrets(settings: RunSettings, env: NodeJS.ProcessEnv = process.env): Redactor {
  return new Redactor([...environmentSecrets(env), ...possibleSecrets(settings, env)]);
}

/**
 * The secrets a Lambda handler process knows: its own environment's (in AWS, the role's
 * credentials) and, in a local engine's thread, the list the engine handed over.
 */
export function lambdaSecrets(env: NodeJS.ProcessEnv = process.env): Redactor {
  const handedOver = (workerData as { secrets?: unknown } | null)?.secrets;
  return new Redactor([...environmentSecrets(env), ...(Array.isArray(handedOver) ? handedOver.filter((value): value is string => typeof value === 'string') : [])]);
}
