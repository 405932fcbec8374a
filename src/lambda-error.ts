import type { Redactor } from './secrets.ts';

/**
 * A function error as Step Functions reports it: the error name is the function's errorType
 * (what Retry and Catch match), and the cause is the JSON document Lambda returns.
 */
export class LambdaFunctionError extends Error {
  constructor(errorType: string, errorMessage: string, trace: readonly string[] = []) {
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

export interface SerializedError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n').slice(1, 11).map((line) => line.trim()) };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

/** The errorMessage of a Lambda cause document, or the cause itself when it is not one. */
export function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

/**
 * A Lambda handler that never returns or throws a known secret: what it returns and throws is
 * written to Step Functions' history, the execution output and the logs, in AWS as locally.
 */
export function redactingHandler<E, R>(redactor: Redactor, handler: (event: E) => Promise<R>): (event: E) => Promise<R> {
  return async (event) => {
    try {
      return redactor.redactDeep(await handler(event));
    } catch (error) {
      const { errorType, errorMessage, trace } = serializeError(error);
      const redacted = new Error(redactor.redact(errorMessage));
      redacted.name = errorType;
      redacted.stack = [`${errorType}: ${redacted.message}`, ...trace.map((line) => `    ${redactor.redact(line)}`)].join('\n');
      throw redacted;
    }
  };
}
