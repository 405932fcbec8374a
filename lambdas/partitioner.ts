import { partitionStep, splitStep, type PartitionEvent, type PartitionOutput, type SplitEvent, type SplitOutput } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());

/** Lists the input and plans balanced partitions; or, given `split`, halves a partition that timed out. */
export async function handler(event: PartitionEvent | SplitEvent): Promise<PartitionOutput | SplitOutput> {
  return 'split' in event ? splitStep(event, { s3 }) : partitionStep(event, { s3 });
}
