import { DataError } from '../errors.ts';
import type { RawLine } from './split-lines.ts';

export const RECORD_FORMATS = ['lines', 'ndjson', 'csv'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

/** A line's text, without the UTF-8 byte-order mark a file may start with. */
export function lineText(line: RawLine): string {
  const { buffer, start } = line;
  const bom = line.offset === 0 && line.end - start >= 3 && buffer[start] === 0xef && buffer[start + 1] === 0xbb && buffer[start + 2] === 0xbf;
  return buffer.toString('utf8', bom ? start + 3 : start, line.end);
}

/** Turns one line into a record; throws (the record is then rejected) when it does not parse. */
export type LineDecoder = (line: RawLine) => unknown;

export function linesDecoder(): LineDecoder {
  return lineText;
}

export function ndjsonDecoder(): LineDecoder {
  return (line) => JSON.parse(lineText(line)) as unknown;
}

/**
 * An object's CSV header, from its first line. A blank first line is refused, not skipped: the
 * header would otherwise be a column named "" and every row a rejected record, or the next line
 * would be read as the header by one partition and as a record by another.
 */
export function csvHeader(line: RawLine, uri: string): string[] {
  const text = lineText(line);
  if (text.trim() === '') {
    throw new DataError(`${uri} starts with a blank line, but with format csv an object's first line is its header. Remove the blank line(s) before the header.`);
  }
  return parseCsvLine(text);
}

export function csvDecoder(header: readonly string[]): LineDecoder {
  return (line) => {
    const text = lineText(line);
    // Most lines quote nothing: a plain split is the same answer, several times faster.
    const fields = text.includes('"') ? parseCsvLine(text) : text.split(',');
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
