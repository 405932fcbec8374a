import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, type RunManifest } from '../../src/partition/commit.ts';
import { runKey } from '../../src/partition/outcome.ts';
import { rowName, type BatchReport } from '../../src/report/batch-report.ts';

/**
 * What a local run left in its output directory for a reader: the partitions its manifest says it
 * committed and failed (`3`, or `3/1` for a half), or `undefined` with nothing published when no
 * manifest was written.
 */
export async function committedPartitions(report: BatchReport): Promise<{ partitions: string[]; failed: string[] } | undefined> {
  const file = path.join(report.output, runKey(report.runId, MANIFEST_FILE));
  if (!existsSync(file)) {
    expect(['partitions', 'rejected'].filter((dir) => existsSync(path.join(report.output, dir)))).toEqual([]);
    return undefined;
  }
  const manifest = JSON.parse(await readFile(file, 'utf8')) as RunManifest;
  return { partitions: manifest.partitions.map(rowName), failed: manifest.failed.map(rowName) };
}
