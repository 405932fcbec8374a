import { InputError } from '../errors.ts';
import type { Job } from '../job.ts';
import { halvesOf, readPlanRefs, type PartitionItem } from '../plan/map-items.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readJsonIfPresent } from '../store/read-json.ts';
import { manifestKey, type RunManifest } from './commit.ts';
import { BATCH_FILE, partitionLabel, runKey } from './outcome.ts';

/**
 * Resuming a run: the partitions (and halves) that failed there run again, in a new execution;
 * the ones it committed are counted from their committed attempts, as they are. Step Functions'
 * own redrive cannot do this: a failed partition is caught inside its iteration (so the report
 * lists every partition), the Map succeeds, and a redrive only re-enters the states that failed.
 */
export interface ResumePoint {
  readonly manifest: RunManifest & { readonly plan: string };
  /** The plan summary of the run resumed: a resumed run has that plan, not a new one. */
  readonly plan: { readonly objects: number; readonly bytes: number; readonly partitions: number };
}

/** The run to resume, checked: it reached its reducer, kept its plan, and read what this job reads. */
export async function resumePoint(store: ObjectStore, runId: string, job: Job): Promise<ResumePoint> {
  const manifest = await readJsonIfPresent<RunManifest>(store, manifestKey(runId));
  const batch = await readJsonIfPresent<{ job: Job; plan: ResumePoint['plan'] }>(store, runKey(runId, BATCH_FILE));
  if (manifest === undefined || batch === undefined) {
    throw new InputError(
      `resume ${runId}: ${store.uriOf(runKey(runId, ''))} holds no run manifest and batch file, so that run never finished its Reduce step (it was cancelled or stopped, or failed before it) or wrote to another output. Resume runs again the partitions a finished run reported failed: check the run id and the output, or start a new run.`,
    );
  }
  if (manifest.plan === undefined) throw new InputError(`resume ${runId}: that run did not record its plan (an older sfn-fanout made it): start a new run.`);
  if (batch.job.input !== job.input || batch.job.format !== job.format) {
    throw new InputError(`resume ${runId}: that run read ${batch.job.input} as ${batch.job.format}, and this one would read ${job.input} as ${job.format}. A resumed run reads exactly what the run it resumes read: give the same input and format.`);
  }
  return { manifest: { ...manifest, plan: manifest.plan }, plan: { objects: batch.plan.objects, bytes: batch.plan.bytes, partitions: batch.plan.partitions } };
}

/** The items a resumed run runs: exactly the partitions and halves that failed in the run it resumes, by reference to its plan. */
export async function resumeItems(store: ObjectStore, point: ResumePoint): Promise<PartitionItem[]> {
  const refs = new Map((await readPlanRefs(store, point.manifest.plan)).map((ref) => [ref.id, ref]));
  const items: PartitionItem[] = [];
  for (const failed of point.manifest.failed) {
    const ref = refs.get(failed.id);
    if (ref === undefined) throw new InputError(`resume ${point.manifest.runId}: its plan ${store.uriOf(point.manifest.plan)} has no partition ${partitionLabel(failed)}: it was overwritten. Start a new run.`);
    items.push(failed.split === undefined ? ref : (await halvesOf(ref, store)).find((half) => 'split' in half && half.split === failed.split)!);
  }
  return items;
}
