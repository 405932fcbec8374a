import { redactingHandler } from '../src/lambda-error.ts';
import type { FailedSummary, PartitionSummary } from '../src/partition/outcome.ts';
import { lambdaSecrets } from '../src/secrets.ts';
import { batchStep, handlerFromEnv, workStep, type BatchEvent, type WorkEvent } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const userHandler = handlerFromEnv();
const secrets = lambdaSecrets();
const redact = (text: string): string => secrets.redact(text);
// Which execution environment this is, read before the user's module loads (and could change it): the summary's timeline lanes.
const lane = process.env.AWS_LAMBDA_LOG_STREAM_NAME;

/** Runs the user's handler over one partition, or over each partition of a batch. */
export const handler = redactingHandler(secrets, async (event: WorkEvent | BatchEvent): Promise<PartitionSummary | FailedSummary | (PartitionSummary | FailedSummary)[]> =>
  'Items' in event ? batchStep(event, { s3, handler: userHandler, redact, lane }) : workStep(event, { s3, handler: userHandler, redact, lane }),
);
