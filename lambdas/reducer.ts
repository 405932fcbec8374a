import type { BatchResult } from '../src/partition/reduce.ts';
import { handlerFromEnv, reduceStep, type ReduceEvent } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const userHandler = handlerFromEnv();

/** Merges the partitions' results and decides whether the batch succeeded. */
export async function handler(event: ReduceEvent): Promise<BatchResult> {
  return reduceStep(event, { s3, handler: userHandler });
}
