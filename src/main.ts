import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { FanoutError, errorMessage } from './errors.ts';
import { consoleText, renderConsoleReport, renderProgress } from './report/console.ts';
import { reportFileText, resultOutput } from './report/result-output.ts';
import { renderDeployFailure, renderSummary } from './report/summary.ts';
import { StackDeployError } from './aws/deploy.ts';
import { runBatch } from './run-batch.ts';
import { Redactor, environmentSecrets, possibleSecrets } from './secrets.ts';
import { parseRunSettings } from './settings.ts';

/** The action: read and validate the inputs once, run the batch, write the summary and outputs. */
export async function run(): Promise<void> {
  // A cancelled job gets SIGINT, then SIGTERM: stop the execution rather than leave it running.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort('SIGINT'));
  process.once('SIGTERM', () => controller.abort('SIGTERM'));
  // Every text the step writes (log, summary, report, outputs) is redacted; the run's own secrets join once its inputs are read.
  const redactor = new Redactor(environmentSecrets(process.env));
  const clean = (text: string): string => consoleText(redactor.redact(text));
  try {
    const settings = parseRunSettings((name) => core.getInput(name));
    for (const secret of possibleSecrets(settings)) core.setSecret(secret);
    redactor.add(possibleSecrets(settings));
    const started = Date.now();
    let lastLogged = 0;
    const ran = await runBatch(settings, {
      signal: controller.signal,
      redactor,
      log: (line) => printData(clean(line)),
      warn: (line) => core.warning(clean(line)),
      onExecution(executionArn) {
        core.saveState('execution-arn', executionArn);
        core.saveState('region', settings.aws?.region ?? '');
      },
      onProgress(progress) {
        if (Date.now() - lastLogged < 10_000 && progress.succeeded + progress.failed !== progress.total) return;
        lastLogged = Date.now();
        core.info(renderProgress(progress, Date.now() - started));
      },
    });
    // One serialisation of the report, result included, serves the redaction, the report file and the result output.
    const { value: report, json } = redactor.redactWithJson(ran);
    printData(clean(renderConsoleReport(report)));
    const reportPath = settings.report ?? path.join(process.env.RUNNER_TEMP ?? tmpdir(), `sfn-fanout-${report.runId}.json`);
    await mkdir(path.dirname(path.resolve(reportPath)), { recursive: true });
    await writeFile(reportPath, reportFileText(json));
    const summary = redactor.redact(renderSummary(report));
    if (settings.summary !== undefined) await writeFile(settings.summary, summary);
    await core.summary.addRaw(summary).write();
    const output = (name: string, value: string | number): void => core.setOutput(name, redactor.redact(String(value)));
    output('status', report.status);
    output('run-id', report.runId);
    output('partitions', report.totals.partitions);
    output('succeeded', report.totals.succeeded);
    output('failed', report.totals.failed);
    output('unfinished', report.totals.unfinished ?? 0);
    output('records', report.totals.records);
    output('handed', report.totals.handed);
    output('rejected', report.totals.rejected);
    const result = resultOutput(report.result, reportPath);
    output('result', result.json);
    output('result-partial', String(report.resultPartial));
    output('result-truncated', String(result.truncated));
    output('report-path', reportPath);
    if (report.aws !== undefined) {
      output('execution-arn', report.aws.executionArn);
      output('stack-id', report.aws.stackId);
    }
    // The post step has nothing left to stop.
    core.saveState('execution-arn', '');
    if (report.status === 'FAILED') {
      core.setFailed(clean(`The batch failed${report.error === undefined ? '' : `: ${report.error.name}: ${report.error.message}`}. The job summary lists each failed partition.`));
    }
  } catch (error) {
    if (error instanceof StackDeployError) {
      await core.summary.addRaw(redactor.redact(renderDeployFailure(core.getInput('stack-name'), error.message, error.failures))).write();
    }
    core.setFailed(clean(error instanceof FanoutError ? errorMessage(error) : `Unexpected error: ${errorMessage(error)}`));
  }
  // A cancelled step has written what it had to: nothing still winding down may keep it alive.
  if (controller.signal.aborted) process.exit();
}

/** Prints text that holds data, so that the runner runs no workflow command (`::…`) found in it. */
function printData(text: string): void {
  const token = randomUUID();
  core.info(`::stop-commands::${token}`);
  core.info(text);
  core.info(`::${token}::`);
}
