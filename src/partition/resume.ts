import { InputError } from '../errors.ts';
import type { Job } from '../job.ts';
import { halvesOf, readPlanRefs, type PartitionItem } from '../plan/map-items.ts';
import type { Partition } from '../plan/partition-plan.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readBytes, readJsonIfPresent } from '../store/read-json.ts';
import { manifestKey, type CommittedPartition, type RunManifest } from './commit.ts';
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

/** The run to resume, checked: it reached its reducer, kept its plan, and read what this job reads (given `source`, as it is now). */
export async function resumePoint(store: ObjectStore, runId: string, job: Job, source?: ObjectStore): Promise<ResumePoint> {
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
  const point = { manifest: { ...manifest, plan: manifest.plan }, plan: { objects: batch.plan.objects, bytes: batch.plan.bytes, partitions: batch.plan.partitions } };
  // With the input's store: also what the reused partitions rest on, the attempts they committed and the input they read.
  if (source !== undefined) {
    await checkCommittedAttempts(store, point);
    await checkInputUnchanged(source, store, point);
  }
  return point;
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

/**
 * Refuses a resume over an input that changed since the run it resumes planned it. The partitions
 * that run reused are counted as committed then, so an object added, removed or rewritten since
 * would be left out (or half counted) while the run says SUCCEEDED.
 */
export async function checkInputUnchanged(source: ObjectStore, destination: ObjectStore, point: ResumePoint): Promise<void> {
  const planned = new Map<string, { size: number; identity: string | undefined }>();
  for (const line of (await readBytes(destination, point.manifest.plan)).toString('utf8').split('\n')) {
    if (line === '') continue;
    for (const segment of (JSON.parse(line) as Partition).segments) {
      const known = planned.get(segment.key);
      planned.set(segment.key, { size: Math.max(known?.size ?? 0, segment.end), identity: segment.identity });
    }
  }
  const added: string[] = [];
  const changed: string[] = [];
  const listed = new Set<string>();
  for await (const object of source.list()) {
    listed.add(object.key);
    const was = planned.get(object.key);
    // An empty object holds no records: it was never planned and changes nothing.
    if (was === undefined) {
      if (object.size > 0) added.push(object.key);
    } else if (was.size !== object.size || (was.identity !== undefined && object.identity !== undefined && was.identity !== object.identity)) {
      changed.push(object.key);
    }
  }
  const removed = [...planned.keys()].filter((key) => !listed.has(key));
  if (added.length + changed.length + removed.length === 0) return;
  const some = (what: string, keys: readonly string[]) => (keys.length === 0 ? [] : [`${keys.length} ${what} (${keys.slice(0, 3).map((key) => source.uriOf(key)).join(', ')}${keys.length > 3 ? ', …' : ''})`]);
  throw new InputError(
    `resume ${point.manifest.runId}: the input changed since that run planned it: ${[...some('added', added), ...some('changed', changed), ...some('removed', removed)].join('; ')}. A resumed run counts the partitions that run committed from the input as it was then, so the change would be left out: start a new run over the input as it is now.`,
  );
}

/** Refuses a resume whose earlier run's committed attempts are gone (deleted or expired), before anything runs again. */
export async function checkCommittedAttempts(destination: ObjectStore, point: ResumePoint): Promise<void> {
  const first: CommittedPartition | undefined = point.manifest.partitions[0];
  if (first === undefined || (await readJsonIfPresent<unknown>(destination, first.outcome)) !== undefined) return;
  throw new InputError(
    `resume ${point.manifest.runId}: the attempts that run committed are gone (${destination.uriOf(first.outcome)} does not exist: deleted, or expired by a lifecycle rule), so their results cannot be counted again. Start a new run.`,
  );
}
