import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FanoutError, errorMessage } from './errors.ts';
import { parseJob, readJobRequest } from './job.ts';
import { renderConsoleReport, renderProgress } from './report/console.ts';
import { formatBytes } from './report/markdown.ts';
import { renderSummary } from './report/summary.ts';
import { runBatch } from './run-batch.ts';
import { SETTING_NAMES, parseRunSettings } from './settings.ts';
import { planJob } from './steps/steps.ts';
import { lazyS3Client } from './store/open-store.ts';

export const HELP = `sfn-fanout: fan a batch job out over many Lambdas with a Step Functions Map state.

Usage:
  sfn-fanout run  --input <uri> --output <uri> --handler <module> [options]
  sfn-fanout plan --input <uri> [--partitions <n> | --partition-size <size>]

Commands:
  run    Run the template's state machine (Partition -> Map -> Reduce) with the local engine:
         a real States Language interpreter, each Lambda in a worker thread.
  plan   List the input and print the partition plan; reads no data.

Options (the action's inputs have the same names):
  --input <uri>                   Data to process: s3://bucket/prefix/ or a local directory.
  --output <uri>                  Where results go: s3://bucket/prefix/ or a local directory.
  --handler <module>              Your handler module (exports processRecord or processPartition).
  --format <lines|ndjson|csv>     How records are read (default ndjson).
  --partitions <n>                Number of partitions (1-10000).
  --partition-size <size>         Target bytes per partition, like 64MiB (default 64MiB).
  --max-partitions <n>            Cap on the partition count (default 1000).
  --max-rejected <n|p%>           Rejected records a partition tolerates (default 0).
  --concurrency <n>               Lambda environments run at once locally (default: one per core).
  --max-concurrency <n>           The Map's MaxConcurrency (0-10000; Inline runs at most 40; 0 = as many as allowed).
  --tolerated-failure-percentage <p>  Share of partitions that may fail before the batch does (default 0).
  --template <file>               CloudFormation template (default: the bundled sfn-fanout.yaml).
  --engine <local|aws>            Where to run (default local).
  --map-mode <auto|inline|distributed>  Inline or Distributed Map; auto decides from the plan and says why.
  --parameters <map>              Template parameters, a YAML or JSON map.
  --s3-endpoint <url>             An S3-compatible endpoint (s3rver, MinIO), path-style.
  --region <region>               AWS region for S3.
  --summary <file>                Write the Markdown job summary here.

AWS engine (credentials from the default chain):
  --stack-name <name>             Stack to create or update.
  --artifact-bucket <bucket>      Bucket for the code zip; a bootstrap stack makes one when empty.
  --capabilities <list>           CloudFormation capabilities (default CAPABILITY_IAM).
  --tags <map>                    Stack tags, a YAML or JSON map.
  --role-arn <arn>                Role CloudFormation deploys with.
  --termination-protection <bool> Turn stack termination protection on or off.
  --delete-stack <bool>           Delete the stack after the run.
  --timeout-minutes <n>           Stop the execution after this long.
  --redrive <previous-attempt|arn>  Redrive a failed execution instead of starting one.
  --lambda-price-per-gb-second <usd>, --lambda-price-per-million-requests <usd>,
  --price-per-thousand-state-transitions <usd>   Prices for the cost estimate.
  --report <file>                 Write the JSON batch report here.
  -h, --help                      Show this help.

Exit codes: 0 the batch succeeded, 1 it failed, 2 the command line is wrong.
`;

export interface CliIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Set on a terminal: progress redraws one line instead of logging. */
  readonly tty: boolean;
  readonly signal?: AbortSignal;
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    io.err(`${errorMessage(error)}\nRun sfn-fanout --help for the options.\n`);
    return 2;
  }
  if (parsed.help || parsed.command === undefined) {
    io.out(HELP);
    return parsed.help ? 0 : 2;
  }
  try {
    return parsed.command === 'plan' ? await planCommand(parsed.read, io) : await runCommand(parsed.read, io);
  } catch (error) {
    io.err(`${error instanceof FanoutError ? '' : 'Unexpected error: '}${errorMessage(error)}\n`);
    return error instanceof FanoutError ? 2 : 1;
  }
}

function parseCommandLine(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(SETTING_NAMES.map((name) => [name, { type: 'string' as const }])),
    },
  });
  const [command, ...extra] = positionals;
  if (command !== undefined && command !== 'run' && command !== 'plan') throw new Error(`Unknown command "${command}": use run or plan.`);
  if (extra.length > 0) throw new Error(`Unexpected argument "${extra[0]}".`);
  const read = (name: string): string | undefined => values[name as keyof typeof values] as string | undefined;
  return { help: values.help === true, command, read };
}

async function runCommand(read: (name: string) => string | undefined, io: CliIO): Promise<number> {
  const settings = parseRunSettings(read);
  const started = Date.now();
  let lastLogged = 0;
  const report = await runBatch(settings, {
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    log: (line) => io.err(`${line}\n`),
    onProgress(progress) {
      const line = renderProgress(progress, Date.now() - started);
      if (io.tty) io.err(`\r\x1b[2K${line}`);
      else if (Date.now() - lastLogged >= 2000 || progress.succeeded + progress.failed === progress.total) {
        lastLogged = Date.now();
        io.err(`${line}\n`);
      }
    },
  });
  if (io.tty) io.err('\r\x1b[2K');
  io.out(`${renderConsoleReport(report)}\n`);
  if (settings.summary !== undefined) {
    await writeText(settings.summary, renderSummary(report));
    io.out(`summary: ${settings.summary}\n`);
  }
  if (settings.report !== undefined) {
    await writeText(settings.report, JSON.stringify(report, null, 2));
    io.out(`report: ${settings.report}\n`);
  }
  return report.status === 'SUCCEEDED' ? 0 : 1;
}

async function planCommand(read: (name: string) => string | undefined, io: CliIO): Promise<number> {
  // Planning writes nothing, so the output only needs to parse.
  const job = parseJob({ ...readJobRequest(read), output: read('output') ?? '.' }, { outputUnused: true });
  const plan = await planJob(job, { s3: lazyS3Client({ endpoint: read('s3-endpoint'), region: read('region') }) });
  const lines = [`partition  bytes       segments  first`];
  for (const partition of plan.partitions.slice(0, 100)) {
    const first = partition.segments[0]!;
    lines.push(`${String(partition.id).padEnd(9)}  ${formatBytes(partition.bytes).padStart(10)}  ${String(partition.segments.length).padStart(8)}  ${first.key} [${first.start}, ${first.end})`);
  }
  if (plan.partitions.length > 100) lines.push(`... ${plan.partitions.length - 100} more`);
  const sizes = plan.partitions.map((p) => p.bytes);
  const balance = sizes.length === 0 ? 1 : Math.max(...sizes) / (plan.bytes / sizes.length);
  lines.push('', `${plan.objects} objects, ${formatBytes(plan.bytes)} in ${plan.partitions.length} partitions; max/mean ${balance.toFixed(3)}${plan.cappedAt === undefined ? '' : ` (capped at max-partitions ${plan.cappedAt})`}`);
  io.out(`${lines.join('\n')}\n`);
  const report = read('report');
  if (report !== undefined) await writeText(report, JSON.stringify(plan, null, 2));
  return 0;
}

async function writeText(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}
