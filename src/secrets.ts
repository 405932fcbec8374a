import { readFileSync } from 'node:fs';
import { escapeHtml, escapeMarkdown } from './report/markdown.ts';
import type { RunSettings } from './settings.ts';

/** What a redacted secret becomes: what the runner's own masking writes. */
export const REDACTED = '***';

/** Shorter values are flags and numbers, not secrets; masking them would garble every report. */
const MIN_SECRET_LENGTH = 4;

/** Parts of a name that make it a secret's wherever they stand: `GITHUB_TOKEN`, `DbPassword`, `SlackWebhookUrl`. */
const SECRET_WORDS = /secret|password|passwd|passphrase|token|credential|private|webhook|api[-_]?key|access[-_]?key/i;
/** Whole words that make a name a secret's: `DB_PASS`, `NPM_AUTH`, `SENTRY_DSN`, `HMAC_SALT`. */
const SECRET_PARTS = new Set(['PASS', 'AUTH', 'AUTHORIZATION', 'DSN', 'SALT', 'COOKIE']);

/**
 * Whether a variable or parameter name says it holds a secret. Names are split into words at `_`,
 * `-`, `.` and camelCase humps. `KEY` counts as the last word only (`STRIPE_KEY`, `SigningKey`, not
 * `KEY_PREFIX`), and `PWD` only after another word (`MYSQL_PWD`, not the shell's `PWD`).
 */
export function isSecretName(name: string): boolean {
  if (SECRET_WORDS.test(name)) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter(Boolean);
  const last = words.at(-1);
  return words.some((word) => SECRET_PARTS.has(word)) || last === 'KEY' || last === 'KEYS' || (last === 'PWD' && words.length > 1);
}

/** Variables that hold credentials whatever they are called elsewhere. */
const SECRET_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN', 'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'];

/**
 * Tokens recognisable by their shape, registered or not: GitHub's (`ghp_`, `gho_`, `ghu_`, `ghs_`,
 * `ghr_`, `github_pat_`) and AWS access key ids. A `\` may stand before each `_`: Markdown escaping.
 * No word boundary before them: `Bearerghp_…` or `tok_github_pat_…` hold one too.
 */
const TOKEN_SHAPES = [/gh[pousr]\\?_[A-Za-z0-9]{20,}/, /github\\?_pat\\?_(?:[A-Za-z0-9]|\\?_){20,}/, /(?:AKIA|ASIA)[A-Z0-9]{16}\b/];

/**
 * The passwords of URLs with user information in a text (`postgres://app:pw@db/x`), as written and
 * decoded: `p%40ss` and `p@ss` are both the secret.
 */
export function urlPasswords(text: string): string[] {
  const passwords: string[] = [];
  // Up to the last `@` before the host, as URL parsers read it: a password may hold a raw `@` or `:`.
  for (const [, userinfo] of text.matchAll(/[A-Za-z][A-Za-z0-9+.-]*:\/\/([^\s/?#]*)@/g)) {
    const colon = userinfo!.indexOf(':');
    if (colon === -1 || colon === userinfo!.length - 1) continue;
    const password = userinfo!.slice(colon + 1);
    passwords.push(password, decodedOrSelf(password));
  }
  return passwords;
}

function decodedOrSelf(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Takes known secret values, and anything shaped like a token, out of text. Every text sfn-fanout
 * writes (summary, JSON report, batch and rejected files, console, action outputs) passes through
 * one of these at the point it is written. A value is also found in the forms our own escaping
 * gives it (Markdown, HTML, JSON) and URL-encoded (a key with a `/` in a query string), so
 * redacting a rendered text is as safe as redacting its parts.
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
    const json = JSON.stringify(value);
    if (json === undefined) return value;
    this.#pattern.lastIndex = 0;
    return this.#pattern.test(json) ? (JSON.parse(json.replace(this.#pattern, REDACTED)) as T) : value;
  }

  #compile(): RegExp {
    const json = (text: string): string => JSON.stringify(text).slice(1, -1);
    const forms = new Set([...this.#values].flatMap((value) => [value, escapeMarkdown(value), escapeHtml(value), json(value), json(json(value)), encodeURIComponent(value)]));
    // Longest first, so a secret that contains another is taken whole.
    const literals = [...forms].sort((a, b) => b.length - a.length).map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp([...literals, ...TOKEN_SHAPES.map((shape) => shape.source)].join('|'), 'g');
  }
}

/**
 * The secret values in an environment: credentials and tokens, any variable named like a secret,
 * and the password of any URL with user information in any variable (`DATABASE_URL`, a proxy).
 */
export function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).flatMap(([name, value]) => {
    if (value === undefined) return [];
    return SECRET_VARIABLES.includes(name) || isSecretName(name) ? [value, ...urlPasswords(value)] : urlPasswords(value);
  });
}

/**
 * Values of a run that may be secret, for the runner to mask in every log line: template
 * parameters and tags with secret-sounding names, the values the settings know to be secret
 * (NoEcho parameters, an S3 endpoint's password as written and decoded), variables passed to the
 * local Lambdas (pass-env) with secret-sounding names, and the password of any URL in these.
 */
export function possibleSecrets(settings: RunSettings, env: NodeJS.ProcessEnv = process.env): string[] {
  const values = [...Object.entries(settings.parameters), ...Object.entries(settings.aws?.tags ?? {}), ...settings.passEnv.map((name) => [name, env[name] ?? ''] as const)];
  const named = values.filter(([name, value]) => isSecretName(name) && value !== '').map(([, value]) => value);
  return [...named, ...values.flatMap(([, value]) => urlPasswords(value)), ...(settings.secretValues ?? [])];
}

/** Every secret a run's process knows: its environment's and the run's own. */
export function runSecrets(settings: RunSettings, env: NodeJS.ProcessEnv = process.env): Redactor {
  return new Redactor([...environmentSecrets(env), ...possibleSecrets(settings, env)]);
}

/**
 * This process's environment as it started, which its threads share whatever `env` they were
 * given: on Linux, /proc/self/environ (which a handler can read too); elsewhere, nothing.
 */
function processEnvironment(): NodeJS.ProcessEnv {
  let text: string;
  try {
    text = readFileSync('/proc/self/environ', 'latin1');
  } catch {
    return {};
  }
  return Object.fromEntries(
    text
      .split('\0')
      .filter((entry) => entry.includes('='))
      .map((entry) => [entry.slice(0, entry.indexOf('=')), Buffer.from(entry.slice(entry.indexOf('=') + 1), 'latin1').toString('utf8')]),
  );
}

/** What a Lambda process finds by itself: its own environment's secrets and, in a local thread, those of the process it runs in. */
function secretsFoundBy(env: NodeJS.ProcessEnv): string[] {
  return [...environmentSecrets(env), ...environmentSecrets(processEnvironment())];
}

/**
 * Of the secrets a local engine knows, those a Lambda thread with environment `env` cannot find by
 * itself: the run's own (a NoEcho parameter, an endpoint's password). Only these are handed to the
 * thread, in a message it takes before any handler code loads; a runner's credentials and tokens
 * never are, the thread finds them where a handler could too.
 */
export function secretsToHandOver(known: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const found = new Set(secretsFoundBy(env));
  return known.filter((value) => !found.has(value));
}

let lambdaRedactor: Redactor | undefined;

/**
 * The secrets a Lambda handler process knows: its own environment's (in AWS, the role's
 * credentials), in a local engine's thread also the whole process's, and those handed over
 * (`acceptHandedOverSecrets`). One per process or thread, shared by its three functions.
 */
export function lambdaSecrets(env: NodeJS.ProcessEnv = process.env): Redactor {
  return (lambdaRedactor ??= new Redactor(secretsFoundBy(env)));
}

/** Takes the secrets a local engine hands its thread (see `secretsToHandOver`). */
export function acceptHandedOverSecrets(values: unknown): void {
  lambdaSecrets().add(Array.isArray(values) ? values.filter((value): value is string => typeof value === 'string') : []);
}
