import { partitionStep, type PartitionEvent, type PartitionOutput } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());

/** Lists the input and plans balanced partitions. */
export async function handler(event: PartitionEvent): Promise<PartitionOutput> {
  return partitionStep(event, { s3 });
}
