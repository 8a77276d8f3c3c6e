import { CancelledError, InvalidArgumentError, isRegionStoreError } from '@regionstore/core';
import type { Logger, RedisClient } from '@regionstore/runtime';

/** What every long-running admin operation (a backup, a restore) records about itself. */
export interface OperationRecord {
  id: string;
  status: 'Running' | 'Done' | 'Failed';
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** The failure's stable code, when it has one (`FailedPrecondition`, `ChecksumMismatch`, …). */
  code?: string;
}

/** What tells this run of an operation from an earlier one under the same id: its start, in base 36. */
export function runTag(record: OperationRecord): string {
  return Date.parse(record.startedAt).toString(36);
}

/** How many finished records of a kind are kept, and for how long. */
export interface RecordRetention {
  keep: number;
  maxAgeMs: number;
}

export const DEFAULT_RETENTION: RecordRetention = { keep: 100, maxAgeMs: 30 * 24 * 3600 * 1000 };

/**
 * KEYS: the records' hash. ARGV: id, record JSON, 'start' or 'update'. A start is refused ('RUNNING')
 * while a record of that id runs; an update only lands on the same run's record (its `startedAt`)
 * while it is still Running ('ENDED' otherwise): a metasrv that lost the lease and resumed cannot
 * write Done over what the new leader ended, nor over a new run of the same id.
 */
const SAVE_RECORD = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local current = stored and cjson.decode(stored)
local running = current and current.status == 'Running'
if ARGV[3] == 'start' and running then return redis.error_reply('RUNNING') end
if ARGV[3] == 'update' and not (running and current.startedAt == cjson.decode(ARGV[2]).startedAt) then
  return redis.error_reply('ENDED')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

const runningAlready = (id: string) => new InvalidArgumentError(`operation ${id} is running already`, { id });

type SaveRecord = (key: string, id: string, json: string, mode: 'start' | 'update') => Promise<number>;

/**
 * Long-running admin operations of one kind, one JSON record per id in a Redis hash. `launch` saves
 * the Running record (refused while a record of that id runs), runs the work in the background (the
 * work saves progress into the record as it goes) and ends the record Done or Failed, unless the
 * record was ended elsewhere meanwhile (failed as orphaned, the id started again): then the stored
 * record stands. Finished records beyond the newest `retention.keep`, or older than
 * `retention.maxAgeMs`, are deleted whenever an operation finishes.
 */
export class Operations<R extends OperationRecord> {
  /** Ids this process is running (a record Running in Redis but not here was orphaned). */
  private readonly running = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly logger: Logger,
    private readonly retention: RecordRetention = DEFAULT_RETENTION,
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('rsSaveOperationRecord', { numberOfKeys: 1, lua: SAVE_RECORD });
  }

  /**
   * Saves a running operation's record; refused with Cancelled once the stored one ended (another
   * metasrv failed it as orphaned): the work then stops.
   */
  async save(record: R): Promise<void> {
    await this.write(record, 'update');
  }

  private async write(record: R, mode: 'start' | 'update'): Promise<void> {
    const save = (this.redis as unknown as { rsSaveOperationRecord: SaveRecord }).rsSaveOperationRecord;
    try {
      await save.call(this.redis, this.key, record.id, JSON.stringify(record), mode);
    } catch (err) {
      const message = (err as Error).message;
      if (/\bRUNNING\b/.test(message)) throw runningAlready(record.id);
      if (/\bENDED\b/.test(message))
        throw new CancelledError(`operation ${record.id} was ended elsewhere; this run stops`, {
          id: record.id,
        });
      throw err;
    }
  }

  async list(): Promise<R[]> {
    const records: Record<string, string> = await this.redis.hgetall(this.key);
    return Object.values(records).map((json) => JSON.parse(json) as R);
  }

  /** Refuses (InvalidArgument) while a record of `id` runs: a start checks before it acts. */
  async checkNotRunning(id: string): Promise<void> {
    if ((await this.get(id))?.status === 'Running') throw runningAlready(id);
  }

  async get(id: string): Promise<R | undefined> {
    const json = await this.redis.hget(this.key, id);
    return json ? (JSON.parse(json) as R) : undefined;
  }

  /**
   * Resolves once the Running record is saved; `done` settles with the final one, or with the stored
   * record when this run's outcome could not be recorded (ended elsewhere).
   */
  async launch(record: R, work: (record: R) => Promise<void>): Promise<{ record: R; done: Promise<R> }> {
    await this.write(record, 'start');
    const started = { ...record };
    this.running.add(record.id);
    const done = (async () => {
      try {
        await work(record);
        record.status = 'Done';
      } catch (err) {
        Object.assign(record, {
          status: 'Failed',
          error: (err as Error).message,
          ...(isRegionStoreError(err) ? { code: err.code } : {}),
        });
        this.logger.error({ operation: record.id, err }, `${record.id} failed`);
      }
      record.finishedAt = new Date(this.now()).toISOString();
      try {
        await this.save(record);
      } catch (err) {
        // Ended elsewhere meanwhile: the stored record stands, and is the outcome.
        this.logger.warn(
          { operation: record.id, status: record.status, err },
          `${record.id}: outcome not recorded`,
        );
        return (await this.get(record.id)) ?? record;
      } finally {
        // Only now: until its outcome is saved, this process still runs it (no orphan to fail).
        this.running.delete(record.id);
      }
      await this.prune().catch((err: unknown) =>
        this.logger.warn({ err }, 'pruning old operation records failed'),
      );
      return record;
    })();
    return { record: started, done };
  }

  /** Deletes finished records past the retention; returns their ids. */
  async prune(): Promise<string[]> {
    const finished = (await this.list())
      .filter((r) => r.status !== 'Running')
      .sort((a, b) => Date.parse(b.finishedAt ?? b.startedAt) - Date.parse(a.finishedAt ?? a.startedAt));
    const oldest = this.now() - this.retention.maxAgeMs;
    const doomed = finished
      .filter((r, at) => at >= this.retention.keep || Date.parse(r.finishedAt ?? r.startedAt) < oldest)
      .map((r) => r.id);
    if (doomed.length > 0) await this.redis.hdel(this.key, ...doomed);
    return doomed;
  }

  /**
   * Marks Failed every record still Running that no live process runs: its metasrv died or lost the
   * lease for good. A new leader calls it; the operation can be started again.
   */
  async failOrphans(): Promise<string[]> {
    const orphans = (await this.list()).filter((r) => r.status === 'Running' && !this.running.has(r.id));
    const failed: string[] = [];
    for (const record of orphans) {
      Object.assign(record, {
        status: 'Failed',
        error: 'interrupted: the metasrv running it stopped before it finished; start it again',
        finishedAt: new Date().toISOString(),
      });
      // One that finished meanwhile keeps its outcome.
      await this.save(record).then(
        () => failed.push(record.id),
        (err: unknown) => {
          if (!(err instanceof CancelledError)) throw err;
        },
      );
    }
    return failed;
  }
}
