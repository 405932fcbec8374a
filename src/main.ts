import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { FanoutError, errorMessage } from './errors.ts';
import { renderConsoleReport, renderProgress } from './report/console.ts';
import { renderDeployFailure, renderSummary } from './report/summary.ts';
import { StackDeployError } from './aws/deploy.ts';
import { runBatch } from './run-batch.ts';
import { possibleSecrets } from './secrets.ts';
import { parseRunSettings } from './settings.ts';

/** The action: read and validate the inputs once, run the batch, write the summary and outputs. */
export async function run(): Promise<void> {
  // A cancelled job gets SIGINT, then SIGTERM: stop the execution rather than leave it running.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  try {
    const settings = parseRunSettings((name) => core.getInput(name));
    for (const secret of possibleSecrets(settings)) core.setSecret(secret);
    const started = Date.now();
    let lastLogged = 0;
    const report = await runBatch(settings, {
      signal: controller.signal,
      log: (line) => core.info(line),
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
    core.info(renderConsoleReport(report));
    const reportPath = settings.report ?? path.join(process.env.RUNNER_TEMP ?? tmpdir(), `sfn-fanout-${report.runId}.json`);
    await mkdir(path.dirname(path.resolve(reportPath)), { recursive: true });
    await writeFile(reportPath, JSON.stringify(report, null, 2));
    const summary = renderSummary(report);
    if (settings.summary !== undefined) await writeFile(settings.summary, summary);
    await core.summary.addRaw(summary).write();
    core.setOutput('status', report.status);
    core.setOutput('run-id', report.runId);
    core.setOutput('partitions', report.totals.partitions);
    core.setOutput('succeeded', report.totals.succeeded);
    core.setOutput('failed', report.totals.failed);
    core.setOutput('records', report.totals.records);
    core.setOutput('rejected', report.totals.rejected);
    core.setOutput('result', JSON.stringify(report.result));
    core.setOutput('report-path', reportPath);
    if (report.aws !== undefined) {
      core.setOutput('execution-arn', report.aws.executionArn);
      core.setOutput('stack-id', report.aws.stackId);
    }
    // The post step has nothing left to stop.
    core.saveState('execution-arn', '');
    if (report.status === 'FAILED') {
      core.setFailed(`The batch failed${report.error === undefined ? '' : `: ${report.error.name}: ${report.error.message}`}. The job summary lists each failed partition.`);
    }
  } catch (error) {
    if (error instanceof StackDeployError) {
      await core.summary.addRaw(renderDeployFailure(core.getInput('stack-name'), error.message, error.failures)).write();
    }
    core.setFailed(error instanceof FanoutError ? errorMessage(error) : `Unexpected error: ${errorMessage(error)}`);
  }
}
