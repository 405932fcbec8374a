import { redactingHandler } from '../src/lambda-error.ts';
import { lambdaSecrets } from '../src/secrets.ts';
import { handlerFromEnv, reduceStep, type ReduceEvent, type ReduceOutput } from '../src/steps/steps.ts';
import { lazyS3Client, s3SettingsFromEnv } from '../src/store/open-store.ts';

const s3 = lazyS3Client(s3SettingsFromEnv());
const userHandler = handlerFromEnv();
const secrets = lambdaSecrets();
const redact = (text: string): string => secrets.redact(text);

/** Merges the partitions' results and decides whether the batch succeeded; the batch file has the result, the state only the counts. */
export const handler = redactingHandler(secrets, async (event: ReduceEvent): Promise<ReduceOutput> => reduceStep(event, { s3, handler: userHandler, redact }));
