import type { FailedPartition, PartitionSummary } from '../src/partition/outcome.ts';
import { batchStep, handlerFromEnv, workStep, type BatchEvent, type WorkEvent } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const userHandler = handlerFromEnv();

/** Runs the user's handler over one partition, or over each partition of a batch. */
export async function handler(event: WorkEvent | BatchEvent): Promise<PartitionSummary | (PartitionSummary | FailedPartition)[]> {
  return 'Items' in event ? batchStep(event, { s3, handler: userHandler }) : workStep(event, { s3, handler: userHandler });
}
