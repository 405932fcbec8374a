import { randomBytes } from 'node:crypto';
import type { LocalFunction } from './template-definition.ts';

/**
 * Variables Lambda sets itself and a function's configuration cannot: the local engine sets them
 * as Lambda would, so pass-env may not name them.
 */
export const RESERVED_VARIABLES = [
  '_HANDLER',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
] as const;

/** The role credentials Lambda puts in a function's environment; locally, the caller's for S3. */
export interface LambdaCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly expiration?: Date | undefined;
}

export interface EnvironmentSettings {
  readonly region: string;
  /** What the engine tells its own code: the handler module's path, an S3-compatible endpoint. */
  readonly engine: Readonly<Record<string, string>>;
  /** Given only when the run reads or writes S3, as a Lambda gets its role's. */
  readonly credentials?: LambdaCredentials | undefined;
  /** Variables the user passes on purpose (pass-env). */
  readonly passed: Readonly<Record<string, string>>;
  /** The search path for programs a handler starts; Lambda has one too. */
  readonly path?: string | undefined;
}

/**
 * One execution environment's variables, as Lambda builds them: the function's template
 * variables, what the user passed on purpose, then Lambda's own (which nothing overrides). Nothing
 * of the runner's environment reaches a handler unless it is named here.
 */
export function lambdaEnvironment(fn: LocalFunction, settings: EnvironmentSettings): Record<string, string> {
  const name = `sfn-fanout-local-${fn.logicalId}`;
  const { credentials } = settings;
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    ...fn.environment,
    ...settings.passed,
    ...settings.engine,
    ...(settings.path === undefined ? {} : { PATH: settings.path }),
    LANG: 'en_US.UTF-8',
    _HANDLER: `${fn.module}.${fn.exportName}`,
    AWS_REGION: settings.region,
    AWS_DEFAULT_REGION: settings.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    ...(credentials === undefined
      ? {}
      : {
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          ...(credentials.sessionToken === undefined ? {} : { AWS_SESSION_TOKEN: credentials.sessionToken }),
          ...(credentials.expiration === undefined ? {} : { AWS_CREDENTIAL_EXPIRATION: credentials.expiration.toISOString() }),
        }),
  };
}
