import type { RawLine } from './split-lines.ts';

export const RECORD_FORMATS = ['lines', 'ndjson', 'csv'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A line's text, without the UTF-8 byte-order mark a file may start with. */
export function lineText(line: RawLine): string {
  const bytes = line.offset === 0 && line.bytes.subarray(0, 3).equals(BOM) ? line.bytes.subarray(3) : line.bytes;
  return bytes.toString('utf8');
}

/** Turns one line into a record; throws (the record is then rejected) when it does not parse. */
export type LineDecoder = (line: RawLine) => unknown;

export function linesDecoder(): LineDecoder {
  return lineText;
}

export function ndjsonDecoder(): LineDecoder {
  return (line) => JSON.parse(lineText(line)) as unknown;
}

export function csvDecoder(header: readonly string[]): LineDecoder {
  return (line) => {
    const fields = parseCsvLine(lineText(line));
    if (fields.length !== header.length) {
      throw new Error(`has ${fields.length} fields where the header has ${header.length}`);
    }
    const record: Record<string, string> = {};
    header.forEach((name, index) => {
      record[name] = fields[index]!;
    });
    return record;
  };
}

/**
 * RFC 4180 fields of one line: quoted fields may hold commas and doubled quotes. A record may not
 * span lines (quoted newlines), as with Spark's default `multiLine=false`.
 */
export function parseCsvLine(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) throw new Error('has a quoted field with no closing quote');
        value += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      if (i < text.length && text[i] !== ',') throw new Error(`has text after a closing quote at column ${i + 1}`);
      fields.push(value);
    } else {
      const comma = text.indexOf(',', i);
      fields.push(text.slice(i, comma === -1 ? text.length : comma));
      i = comma === -1 ? text.length : comma;
    }
    if (i >= text.length) return fields;
    i += 1; // the comma
    if (i === text.length) {
      fields.push('');
      return fields;
    }
  }
}
