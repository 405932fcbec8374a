import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { checkHandler, type LoadedHandler } from '../../src/handler/load-handler.ts';
import { AttemptOutput } from '../../src/partition/attempt-output.ts';
import type { PartitionName } from '../../src/partition/outcome.ts';
import { DirStore } from '../../src/store/dir-store.ts';
import type { ObjectStore } from '../../src/store/object-store.ts';

export interface CorpusFile {
  readonly key: string;
  readonly body: Buffer;
}

export async function tempDir(prefix = 'fanout-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function tempDirStore(): Promise<DirStore> {
  return new DirStore(await tempDir());
}

/** Where a partition run in a test stages its files: one attempt of a run named "test-run". */
export function testAttempt(store: ObjectStore, partition: PartitionName, attempt = 'test'): AttemptOutput {
  return new AttemptOutput(store, { runId: 'test-run', partition, attempt });
}

export async function writeCorpus(store: ObjectStore, files: readonly CorpusFile[]): Promise<void> {
  for (const file of files) await store.write(file.key, file.body);
}

/**
 * The records a reader must see, by definition: split on `\n`, drop one trailing `\r`, skip empty
 * lines, decompress `.gz` first. The oracle the property tests hold the data path to.
 */
export function expectedLines(files: readonly CorpusFile[]): string[] {
  return files.flatMap((file) => {
    const text = (file.key.endsWith('.gz') ? gunzipSync(file.body) : file.body).toString('utf8');
    return text
      .split('\n')
      .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
      .filter((line) => line !== '');
  });
}

/** A handler that records every line it is given, as the multiset a test compares. */
export function collectingHandler(): LoadedHandler {
  return checkHandler(
    {
      init: () => ({ lines: [] as string[] }),
      processRecord: (state: { lines: string[] }, record: string) => {
        state.lines.push(record);
      },
    },
    'collecting-handler',
  );
}

const lineText = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '\r', ' '), minLength: 200, maxLength: 2000 }) },
).map((text) => text.replace(/\n/g, ' '));

/** One file: lines joined by LF or CRLF, maybe no trailing newline, maybe blank lines, maybe gzipped. */
export const corpusFile = fc
  .record({
    lines: fc.array(lineText, { maxLength: 40 }),
    crlf: fc.boolean(),
    trailingNewline: fc.boolean(),
    gzip: fc.boolean(),
  })
  .map(({ lines, crlf, trailingNewline, gzip }) => {
    const eol = crlf ? '\r\n' : '\n';
    const text = lines.join(eol) + (trailingNewline && lines.length > 0 ? eol : '');
    return { text, gzip };
  });

export const corpus = fc.array(corpusFile, { minLength: 1, maxLength: 6 }).map((files) =>
  files.map(({ text, gzip }, index): CorpusFile => {
    const raw = Buffer.from(text, 'utf8');
    return gzip
      ? { key: `dir/part-${index}.txt.gz`, body: gzipSync(raw) }
      : { key: `${index % 2 === 0 ? 'dir/' : ''}part-${index}.txt`, body: raw };
  }),
);

export function sortedCopy(values: readonly string[]): string[] {
  return [...values].sort();
}
