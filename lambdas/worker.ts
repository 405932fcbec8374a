import type { PartitionSummary } from '../src/partition/outcome.ts';
import { handlerFromEnv, workStep, type WorkEvent } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const userHandler = handlerFromEnv();

/** Runs the user's handler over one partition. */
export async function handler(event: WorkEvent): Promise<PartitionSummary> {
  return workStep(event, { s3, handler: userHandler });
}
