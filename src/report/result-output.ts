import { formatBytes, jsonPreview } from './markdown.ts';

/** GitHub allows a step 1 MB of outputs in all: the result takes at most this much of it. */
export const RESULT_OUTPUT_BYTES = 256 * 1024;

/**
 * The action's `result` output: the result as JSON, or, when that is too big for an output, a small
 * JSON object that says so and where the whole result is. Always valid JSON; the result is
 * serialised only as far as the cap.
 */
export function resultOutput(result: unknown, reportPath: string, maxBytes = RESULT_OUTPUT_BYTES): { json: string; truncated: boolean } {
  const { text, cut } = jsonPreview(result, maxBytes, 0);
  if (!cut && Buffer.byteLength(text) <= maxBytes) return { json: text, truncated: false };
  const message = `The result is more than the ${formatBytes(maxBytes)} of JSON this output holds (GitHub allows a step 1 MB of outputs): it is whole under "result" in the report file (report-path).`;
  return { json: JSON.stringify({ truncated: true, reportPath, message }), truncated: true };
}

/** Reports up to this size are written indented, for people; bigger ones as they were serialised, compact. */
export const INDENTED_REPORT_BYTES = 1024 * 1024;

/** The report file's text from the report's (already redacted) JSON. */
export function reportFileText(json: string): string {
  return json.length <= INDENTED_REPORT_BYTES ? `${JSON.stringify(JSON.parse(json), null, 2)}\n` : `${json}\n`;
}
