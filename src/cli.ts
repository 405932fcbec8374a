import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Clock } from './aws/clock.ts';
import { abortable } from './concurrency.ts';
import { FanoutError, errorMessage } from './errors.ts';
import { parseJob, readJobRequest } from './job.ts';
import { consoleText, renderConsoleReport, renderProgress } from './report/console.ts';
import { renderPlan } from './plan/render-plan.ts';
import { renderSummary } from './report/summary.ts';
import { runBatch } from './run-batch.ts';
import { Redactor, environmentSecrets, possibleSecrets } from './secrets.ts';
import { SETTING_NAMES, checkLocalPaths, parseRunSettings } from './settings.ts';
import { planJob } from './steps/steps.ts';
import { CLI_REQUEST_DEADLINE_MS, lazyS3Client } from './store/open-store.ts';

export const HELP = `sfn-fanout: fan a batch job out over many Lambdas with a Step Functions Map state.

Usage:
  sfn-fanout run  --input <uri> --output <uri> --handler <module> [options]
  sfn-fanout plan --input <uri> [--partitions <n> | --partition-size <size>]
  sfn-fanout --version

Commands:
  run    Run the template's state machine (Partition -> Map -> Reduce): locally by default (a real
         States Language interpreter, each Lambda in a worker thread), or in AWS with --engine aws.
  plan   List the input and print the partition plan; reads no data.

Run sfn-fanout <command> --help for the command's options.
Exit codes: 0 the batch succeeded, 1 it failed, 2 the command line or the input is wrong (an empty input
included), 130 or 143 the run was stopped by SIGINT or SIGTERM (the report is still written; a second
signal stops at once). Known secrets (AWS keys, GitHub tokens, secret-named parameters and variables)
are written as *** in everything the CLI prints and writes.
`;

export const RUN_HELP = `Usage: sfn-fanout run --input <uri> --output <uri> --handler <module> [options]

Runs the template's state machine over the input: Partition -> Map(workers) -> Reduce.
The options have the same names as the action's inputs.

Data and handler:
  --input <uri>                   Data to process: s3://bucket/prefix/, s3://bucket/key.csv, a local
                                  directory or a local file.
  --output <uri>                  Where results go: s3://bucket/prefix/ or a local directory.
  --handler <module>              Your handler module (exports processRecord or processPartition), in
                                  TypeScript or JavaScript; bundled with esbuild with its npm packages.
  --format <lines|ndjson|csv>     How records are read (default ndjson).

Partitions:
  --partitions <n>                Number of partitions (1-10000).
  --partition-size <size>         Target bytes per partition, like 64MiB (default 64MiB).
  --max-partitions <n>            Cap on the partition count (default 1000).
  --max-rejected <n|p%>           Rejected records a partition tolerates (default 0).
  --allow-empty <bool>            An input with no data succeeds with a warning (default false: refused, exit 2).

State machine (both engines):
  --engine <local|aws>            Where to run (default local).
  --map-mode <auto|inline|distributed>  Inline or Distributed Map; auto decides from the plan and says why.
  --max-concurrency <n>           The Map's MaxConcurrency (0-10000; Inline runs at most 40; 0 = as many as allowed).
  --tolerated-failure-percentage <p>  Share of partitions that may fail before the batch does (default 0).
  --template <file>               CloudFormation template (default: the bundled sfn-fanout.yaml).
  --parameters <map>              Template parameters, a YAML or JSON map, checked against the template.

Local engine:
  --concurrency <n>               Lambda environments (threads) at once (default: one per core; at
                                  most 4 per core).
  --pass-env <names>              Variables of this environment the local Lambdas get too (comma-separated);
                                  otherwise they get only what Lambda gives: template variables, AWS_REGION,
                                  the AWS_LAMBDA_* variables and, when the run uses S3, credentials.
  --s3-endpoint <url>             An S3-compatible endpoint (s3rver, MinIO), path-style.
  --region <region>               AWS region for S3.

AWS engine (credentials from the default chain):
  --region <region>               Region of the stack (and of S3).
  --stack-name <name>             Stack to create or update.
  --artifact-bucket <bucket>      Bucket for the code zip; a bootstrap stack makes one when empty.
  --capabilities <list>           CloudFormation capabilities (default CAPABILITY_IAM).
  --tags <map>                    Stack tags, a YAML or JSON map.
  --role-arn <arn>                Role CloudFormation deploys with.
  --termination-protection <bool> Turn stack termination protection on or off.
  --delete-stack <bool>           Delete the stack after the run.
  --timeout-minutes <n>           Stop the execution after this long.
  --lambda-price-per-gb-second <usd>, --lambda-price-per-million-requests <usd>,
  --price-per-thousand-state-transitions <usd>   Prices for the cost estimate.

Recovery (both engines):
  --resume <run-id>               Run again only the partitions that failed in that run (same input and
                                  format), and count the others' committed results as they are. With
                                  --engine aws also previous-attempt or an execution ARN.

Results (both engines):
  --summary <file>                Write the Markdown job summary here.
  --report <file>                 Write the JSON batch report here.
  -h, --help                      Show this help.

Exit codes: 0 the batch succeeded, 1 it failed, 2 the command line or the input is wrong (checked
before any work; an empty input included), 130 or 143 the run was stopped by SIGINT or SIGTERM (the
report is still written; a second signal stops at once). Known secrets are written as *** in
everything the CLI prints and writes.
`;

/** The options plan reads; any other is refused, so a run option given to plan is not silently ignored. */
const PLAN_OPTIONS = ['input', 'output', 'format', 'partitions', 'partition-size', 'max-partitions', 'allow-empty', 's3-endpoint', 'region', 'report'];

export const PLAN_HELP = `Usage: sfn-fanout plan --input <uri> [options]

Lists the input (sizes only, and the last 4 bytes of each gzip object: its uncompressed size) and
prints the partition plan a run would make. Reads no records, writes nothing but --report.

  --input <uri>                   s3://bucket/prefix/, s3://bucket/key.csv, a local directory or file.
  --partitions <n>                Number of partitions (1-10000).
  --partition-size <size>         Target bytes per partition, like 64MiB (default 64MiB).
  --max-partitions <n>            Cap on the partition count (default 1000).
  --format <lines|ndjson|csv>     Checked like run's; the plan does not depend on it.
  --output <uri>                  Checked like run's; nothing is written there.
  --s3-endpoint <url>             An S3-compatible endpoint (s3rver, MinIO), path-style.
  --region <region>               AWS region for S3.
  --report <file>                 Write the plan as JSON here.
  -h, --help                      Show this help.
`;

export interface CliIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Set on a terminal: progress redraws one line instead of logging. */
  readonly tty: boolean;
  readonly signal?: AbortSignal;
  /** The AWS engine's clock; tests swap it for one whose sleeps take no time. */
  readonly clock?: Clock;
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  // Everything printed is redacted and stripped of control characters; the secrets of the run join once its settings are read.
  const redactor = new Redactor(environmentSecrets(process.env));
  const say: Console = {
    out: (text) => io.out(consoleText(redactor.redact(text))),
    err: (text) => io.err(consoleText(redactor.redact(text))),
    redraw: (line) => io.err(`\r\x1b[2K${consoleText(line)}`),
    tty: io.tty,
  };
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    say.err(`${errorMessage(error)}\nRun sfn-fanout --help for the options.\n`);
    return 2;
  }
  if (parsed.version) {
    io.out(`sfn-fanout ${packageVersion()} (Node.js ${process.version})\n`);
    return 0;
  }
  if (parsed.help || parsed.command === undefined) {
    io.out(parsed.command === 'run' ? RUN_HELP : parsed.command === 'plan' ? PLAN_HELP : HELP);
    return parsed.help ? 0 : 2;
  }
  try {
    const code = parsed.command === 'plan' ? await planCommand(parsed.read, say, io.signal) : await runCommand(parsed.read, say, redactor, io.signal, io.clock);
    return io.signal?.aborted === true ? cancelledExitCode(io.signal) : code;
  } catch (error) {
    say.err(`${error instanceof FanoutError ? '' : 'Unexpected error: '}${errorMessage(error)}\n`);
    if (io.signal?.aborted === true) return cancelledExitCode(io.signal);
    return error instanceof FanoutError ? 2 : 1;
  }
}

/** Where the CLI prints: `out` and `err` take text that may hold data; `redraw` rewrites the progress line of a terminal. */
interface Console {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly redraw: (line: string) => void;
  readonly tty: boolean;
}

function parseCommandLine(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      ...Object.fromEntries(SETTING_NAMES.map((name) => [name, { type: 'string' as const }])),
    },
  });
  const [command, ...extra] = positionals;
  if (command !== undefined && command !== 'run' && command !== 'plan') throw new Error(`Unknown command "${command}": use run or plan.`);
  if (extra.length > 0) throw new Error(`Unexpected argument "${extra[0]}".`);
  if (command === 'plan') {
    const unused = SETTING_NAMES.filter((name) => values[name as keyof typeof values] !== undefined && !PLAN_OPTIONS.includes(name));
    if (unused.length > 0) throw new Error(`plan does not use ${unused.map((name) => `--${name}`).join(', ')}: it only lists the input and plans (see sfn-fanout plan --help).`);
  }
  const read = (name: string): string | undefined => values[name as keyof typeof values] as string | undefined;
  return { help: values.help === true, version: values.version === true, command, read };
}

/** The version in package.json (one level up from src/cli.ts; ncc inlines it into dist/cli.js). */
function packageVersion(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

async function runCommand(read: (name: string) => string | undefined, say: Console, redactor: Redactor, signal: AbortSignal | undefined, clock: Clock | undefined): Promise<number> {
  const settings = parseRunSettings(read);
  redactor.add(possibleSecrets(settings));
  const started = Date.now();
  let lastLogged = 0;
  const ran = await runBatch(settings, {
    ...(signal === undefined ? {} : { signal }),
    ...(clock === undefined ? {} : { clock }),
    redactor,
    log: (line) => say.err(`${line}\n`),
    warn: (line) => say.err(`warning: ${line}\n`),
    onProgress(progress) {
      const line = renderProgress(progress, Date.now() - started);
      if (say.tty) say.redraw(line);
      else if (Date.now() - lastLogged >= 2000 || progress.succeeded + progress.failed === progress.total) {
        lastLogged = Date.now();
        say.err(`${line}\n`);
      }
    },
  });
  if (say.tty) say.redraw('');
  const report = redactor.redactDeep(ran);
  say.out(`${renderConsoleReport(report)}\n`);
  if (settings.summary !== undefined) {
    await writeText(settings.summary, redactor.redact(renderSummary(report)));
    say.out(`summary: ${settings.summary}\n`);
  }
  if (settings.report !== undefined) {
    await writeText(settings.report, redactor.redact(JSON.stringify(report, null, 2)));
    say.out(`report: ${settings.report}\n`);
  }
  return report.status === 'SUCCEEDED' ? 0 : 1;
}

async function planCommand(read: (name: string) => string | undefined, say: Console, signal: AbortSignal | undefined): Promise<number> {
  // Planning writes nothing, so the output only needs to parse.
  const job = parseJob({ ...readJobRequest(read), output: read('output') ?? '.' }, { outputUnused: true });
  checkLocalPaths({ input: job.input, report: read('report') });
  const plan = await abortable(planJob(job, { s3: lazyS3Client({ endpoint: read('s3-endpoint'), region: read('region') }, { signal, requestDeadlineMs: CLI_REQUEST_DEADLINE_MS }) }), signal);
  say.out(`${renderPlan(plan, job.sizing)}\n`);
  const report = read('report');
  if (report !== undefined) await writeText(report, JSON.stringify(plan, null, 2));
  return 0;
}

/** What a shell expects of a process a signal stopped: 128 and the signal's number. */
function cancelledExitCode(signal: AbortSignal): number {
  return 128 + (constants.signals[signal.reason as NodeJS.Signals] ?? constants.signals.SIGINT);
}

async function writeText(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}
