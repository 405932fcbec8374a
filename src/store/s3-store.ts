import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { InputChangedError, MissingObjectError, StoreError, errorMessage } from '../errors.ts';
import { s3KeyUri } from '../location.ts';
import type { ByteRange, ObjectStore, ObjectWriter, StoredObject } from './object-store.ts';

/** The name of the error a response body ends with once its request's deadline passed (open-store.ts). */
export const REQUEST_DEADLINE_ERROR = 'RequestDeadlineError';

const MAX_RESUMES = 5;
/** S3's smallest part but the last is 5 MiB; 8 MiB parts keep 10,000 parts (S3's most) above 78 GiB. */
export const PART_BYTES = 8 * 1024 * 1024;

function isNetworkError(error: unknown): boolean {
  const { code, name } = error as { code?: string; name?: string };
  return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED'].includes(code ?? '') || name === 'TimeoutError' || /socket hang up/i.test(errorMessage(error));
}

/** An S3 bucket and prefix as an object store; the client is built once by the caller. */
export class S3Store implements ObjectStore {
  readonly uri: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #only: string | undefined;

  /** With `only`, the store lists that one object of the prefix (an input that is a single object). */
  constructor(client: S3Client, bucket: string, prefix: string, only?: string) {
    this.#client = client;
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#only = only;
    this.uri = `s3://${bucket}/${prefix}${only ?? ''}`;
  }

  async *list(): AsyncIterable<StoredObject> {
    let token: string | undefined;
    let found = false;
    do {
      // One object is listed, not read with HeadObject: the role's s3:ListBucket on the prefix covers it.
      const page = await this.#client
        .send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + (this.#only ?? ''), ContinuationToken: token }))
        .catch((error: unknown) => {
          throw this.#explain('list', this.uri, error);
        });
      for (const object of page.Contents ?? []) {
        const key = object.Key!.slice(this.#prefix.length);
        if (this.#only !== undefined && key !== this.#only) continue;
        if (key === '' || key.endsWith('/')) {
          // Zero-byte "folder" markers made by the console are not data; one that holds data is refused, never skipped.
          if ((object.Size ?? 0) === 0) continue;
          throw new StoreError(
            `${this.uriOf(key)} holds ${object.Size} bytes, but its key ends in "/" as a folder marker's does: sfn-fanout does not read it as data, and will not skip it silently. Move it to a key without the trailing "/" (aws s3 mv), or delete it if it is not data.`,
          );
        }
        found = true;
        yield { key, size: object.Size ?? 0, ...(object.ETag === undefined ? {} : { identity: object.ETag }) };
      }
      token = page.IsTruncated === true && (this.#only === undefined || !found) ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    if (this.#only !== undefined && !found) {
      throw new StoreError(`Cannot list ${this.uri}: no object has that key. End the URI with / if it is a folder.`);
    }
  }

  /**
   * Streams the bytes of a range. The SDK retries a failed request (SlowDown, 5xx); a connection
   * dropped in the middle of a body is resumed here with a new ranged GET from the first byte not yet
   * yielded, so no byte is lost or repeated. Given the planned ETag, every GET carries it as
   * If-Match: S3 answers 412 once the object was replaced, and the bytes never mix two versions.
   */
  async *read(key: string, range?: ByteRange, identity?: string): AsyncIterable<Uint8Array> {
    if (range !== undefined && range.end <= range.start) return;
    let position = range?.start ?? 0;
    for (let resumes = 0; ; resumes += 1) {
      let body: Readable;
      try {
        const response = await this.#client.send(
          new GetObjectCommand({
            Bucket: this.#bucket,
            Key: this.#prefix + key,
            ...(range === undefined && position === 0 ? {} : { Range: `bytes=${position}-${range === undefined ? '' : range.end - 1}` }),
            ...(identity === undefined ? {} : { IfMatch: identity }),
          }),
        );
        body = response.Body as Readable;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // A range that starts at or past the end of the object: there is nothing more to read.
        if (status === 416) return;
        if (status === 412) {
          throw new InputChangedError(
            `${this.uriOf(key)} changed after the plan was made (planned ETag ${identity}; S3 answered 412 Precondition Failed to If-Match): its partitions cannot read the records they were planned with. Run the batch again once the input no longer changes.`,
            { cause: error },
          );
        }
        // A connection lost before the response: ask again, within the same budget.
        if (isNetworkError(error) && resumes < MAX_RESUMES) continue;
        throw this.#explain('read', this.uriOf(key), error);
      }
      try {
        for await (const chunk of body) {
          position += (chunk as Uint8Array).byteLength;
          yield chunk as Uint8Array;
        }
        return;
      } catch (error) {
        // A body cut at its deadline is not read again: that would give it the time again.
        if (resumes >= MAX_RESUMES || (error as { name?: string }).name === REQUEST_DEADLINE_ERROR) throw this.#explain('read', this.uriOf(key), error);
      } finally {
        body.destroy();
      }
    }
  }

  async write(key: string, body: string | Uint8Array): Promise<void> {
    await this.#client
      .send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Body: body }))
      .catch((error: unknown) => {
        throw this.#explain('write', this.uriOf(key), error);
      });
  }

  /**
   * A multipart upload, one part each PART_BYTES: memory stays at one part whatever the size. An
   * object that ends within its first part is a single PutObject.
   */
  writer(key: string): ObjectWriter {
    const target = { Bucket: this.#bucket, Key: this.#prefix + key };
    const fail = (error: unknown): never => {
      throw this.#explain('write', this.uriOf(key), error);
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const take = (): Buffer => {
      const body = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      return body;
    };
    const uploadPart = async (body: Buffer): Promise<void> => {
      uploadId ??= (await this.#client.send(new CreateMultipartUploadCommand(target)).catch(fail)).UploadId!;
      const PartNumber = parts.length + 1;
      const { ETag } = await this.#client.send(new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber, Body: body })).catch(fail);
      parts.push({ ETag: ETag!, PartNumber });
    };
    return {
      write: async (chunk) => {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= PART_BYTES) await uploadPart(take());
      },
      end: async () => {
        if (uploadId === undefined) {
          await this.write(key, take());
          return;
        }
        if (pendingBytes > 0) await uploadPart(take());
        await this.#client.send(new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts } })).catch(fail);
      },
      abort: async () => {
        pending = [];
        // An upload left incomplete is never an object; a lifecycle rule (AbortIncompleteMultipartUpload) clears its parts.
        if (uploadId !== undefined) await this.#client.send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId })).catch(() => {});
      },
    };
  }

  /** A server-side copy (CopyObject: objects up to 5 GB, far above what one Lambda writes). */
  async copy(fromKey: string, toKey: string): Promise<void> {
    const source = `${this.#bucket}/${(this.#prefix + fromKey).split('/').map(encodeURIComponent).join('/')}`;
    await this.#client.send(new CopyObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + toKey, CopySource: source })).catch((error: unknown) => {
      throw this.#explain('copy', `${this.uriOf(fromKey)} to ${this.uriOf(toKey)}`, error);
    });
  }

  uriOf(key: string): string {
    return s3KeyUri(this.#bucket, this.#prefix, key);
  }

  #explain(action: 'list' | 'read' | 'write' | 'copy', uri: string, error: unknown): StoreError {
    const name = (error as { name?: string }).name ?? 'Error';
    const hint =
      name === 'NoSuchBucket'
        ? `bucket "${this.#bucket}" does not exist: create it or fix the URI`
        : name === 'NoSuchKey'
          ? 'the object is gone: was it deleted after the plan was made?'
          : name === 'AccessDenied'
            ? `the role has no permission to ${action} it: allow s3:${action === 'list' ? 'ListBucket' : action === 'read' ? 'GetObject' : action === 'copy' ? 'GetObject on the source and s3:PutObject on the target' : 'PutObject'}`
            : errorMessage(error);
    return new (name === 'NoSuchKey' ? MissingObjectError : StoreError)(`Cannot ${action} ${uri}: ${hint} (${name}).`, { cause: error });
  }
}
