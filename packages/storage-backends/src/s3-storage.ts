import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NotFoundError, RegionStoreError, StorageError } from '@regionstore/core';
import { checkObjectName, checkRange, sizeMismatch } from './object-name';
import type { ExternalStorage, StorageObject, WriteOptions } from './storage';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix without leading or trailing `/`; empty for the bucket root. */
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Multipart part size; memory per upload is about partSize × queueSize. */
  partSize?: number;
  queueSize?: number;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Objects in an S3 bucket (AWS or any S3-compatible server). Credentials come from the standard AWS
 * chain (environment, shared profile, instance role); they never appear in the URL. Large writes go
 * up as multipart uploads, so memory stays at a few parts whatever the object size.
 */
export class S3Storage implements ExternalStorage {
  private readonly client: S3Client;

  constructor(private readonly options: S3StorageOptions) {
    const config: S3ClientConfig = {
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      // Servers other than AWS often reject the SDK's default trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
    this.client = new S3Client(config);
  }

  private key(name: string): string {
    checkObjectName(name);
    return this.options.prefix ? `${this.options.prefix}/${name}` : name;
  }

  private fail(what: string, name: string, err: unknown): RegionStoreError {
    if (err instanceof RegionStoreError) return err;
    const key = this.options.prefix ? `${this.options.prefix}/${name}` : name;
    if (isNotFound(err)) {
      return new NotFoundError(`object ${name} not found in ${this.url()}`, {
        name,
        bucket: this.options.bucket,
        key,
      });
    }
    return new StorageError(
      `${what} of s3://${this.options.bucket}/${key} failed: ${(err as Error).message}`,
      {
        bucket: this.options.bucket,
        key,
      },
      { cause: err },
    );
  }

  async write(
    name: string,
    data: Readable | AsyncIterable<Buffer>,
    options: WriteOptions = {},
  ): Promise<{ size: number }> {
    const key = this.key(name);
    let size = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of data) {
          size += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        // Failing the body makes the SDK abort the upload, so an object of the wrong size never lands.
        if (options.size !== undefined && size !== options.size) {
          throw sizeMismatch(name, size, options.size);
        }
      })(),
    );
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.options.bucket, Key: key, Body: counted },
        partSize: this.options.partSize ?? 8 * 1024 * 1024,
        queueSize: this.options.queueSize ?? 2,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.fail('upload', name, err);
    }
    return { size };
  }

  private async get(name: string, range?: string): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.options.bucket,
          Key: this.key(name),
          ...(range ? { Range: range } : {}),
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      throw this.fail('read', name, err);
    }
  }

  read(name: string): Promise<Readable> {
    return this.get(name);
  }

  async readRange(name: string, offset: number, length: number): Promise<Readable> {
    checkRange(offset, length);
    if (length === 0) {
      if (!(await this.exists(name))) throw this.fail('read', name, { name: 'NotFound' });
      return Readable.from([]);
    }
    return this.get(name, `bytes=${offset}-${offset + length - 1}`);
  }

  async *list(prefix = ''): AsyncIterable<StorageObject> {
    const base = this.options.prefix ? `${this.options.prefix}/` : '';
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: base + prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw this.fail('list', prefix, err);
      }
      for (const item of page.Contents ?? []) {
        if (item.Key) yield { name: item.Key.slice(base.length), size: item.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A server-side copy (up to S3's 5 GiB limit for one CopyObject; regions split well before that). */
  async copy(from: string, to: string): Promise<{ size: number }> {
    const source = `${this.options.bucket}/${this.key(from).split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.options.bucket, Key: this.key(to), CopySource: source }),
      );
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(to) }),
      );
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      throw this.fail('copy', from, err);
    }
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(name) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.fail('head', name, err);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(name) }));
    } catch (err) {
      if (!isNotFound(err)) throw this.fail('delete', name, err);
    }
  }

  url(): string {
    const query = new URLSearchParams();
    if (this.options.endpoint) query.set('endpoint', this.options.endpoint);
    if (this.options.region) query.set('region', this.options.region);
    if (this.options.forcePathStyle !== undefined)
      query.set('forcePathStyle', String(this.options.forcePathStyle));
    const q = query.toString();
    return `s3://${this.options.bucket}/${this.options.prefix}${q ? `?${q}` : ''}`;
  }

  destroy(): void {
    this.client.destroy();
  }
}
