import { redactingHandler } from '../src/lambda-error.ts';
import { lambdaSecrets } from '../src/secrets.ts';
import { partitionStep, splitStep, type PartitionEvent, type PartitionOutput, type SplitEvent, type SplitOutput } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const secrets = lambdaSecrets();

/** Lists the input and plans balanced partitions; or, given `split`, halves a partition that timed out. */
export const handler = redactingHandler(secrets, async (event: PartitionEvent | SplitEvent): Promise<PartitionOutput | SplitOutput> =>
  'split' in event ? splitStep(event, { s3 }) : partitionStep(event, { s3 }),
);
