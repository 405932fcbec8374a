import { redactingHandler } from '../src/lambda-error.ts';
import { lambdaSecrets } from '../src/secrets.ts';
import {
  partitionStep,
  recoverBatchStep,
  splitStep,
  type BatchEvent,
  type PartitionEvent,
  type PartitionOutput,
  type RecoverBatchEvent,
  type SplitEvent,
  type SplitOutput,
} from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const secrets = lambdaSecrets();

/** Lists the input and plans balanced partitions; given `split`, halves a partition that timed out; given `recoverBatch`, sorts out a batch that failed. */
export const handler = redactingHandler(secrets, async (event: PartitionEvent | SplitEvent | RecoverBatchEvent): Promise<PartitionOutput | SplitOutput | BatchEvent> => {
  if ('split' in event) return splitStep(event, { s3 });
  if ('recoverBatch' in event) return recoverBatchStep(event, { s3 });
  return partitionStep(event, { s3 });
});
