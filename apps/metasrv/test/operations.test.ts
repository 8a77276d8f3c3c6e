import { silentLogger } from '@regionstore/runtime';
import { useRedisNamespace } from '@regionstore/testing';
import { backupRequestSchema } from '@regionstore/protocol';
import { ClusterBackup, type BackupRecord } from '../src/cluster-backup';
import type { ClusterStore } from '../src/cluster-store';
import type { GcSafePoints } from '../src/gc-safe-points';
import type { NodeTaskClient } from '../src/node-client';
import { Operations, type OperationRecord } from '../src/operation-records';

const ns = useRedisNamespace('metasrv-operations');

const record = (id: string): OperationRecord => ({
  id,
  status: 'Running',
  startedAt: new Date().toISOString(),
});

describe('Operations', () => {
  it('records progress and the outcome of background work', async () => {
    const ops = new Operations<OperationRecord & { done?: number }>(
      await ns.connect(),
      ns.key('ops'),
      silentLogger(),
    );
    const ok = await ops.launch({ ...record('a'), done: 0 }, async (r) => {
      r.done = 1;
      await ops.save(r);
    });
    expect(ok.record.status).toBe('Running');
    expect(await ok.done).toMatchObject({ status: 'Done', done: 1 });
    const failed = await ops.launch(record('b'), async () => {
      throw new Error('disk full');
    });
    expect(await failed.done).toMatchObject({ status: 'Failed', error: 'disk full' });
    expect((await ops.list()).map((r) => [r.id, r.status]).sort()).toEqual([
      ['a', 'Done'],
      ['b', 'Failed'],
    ]);
  });

  it('keeps the newest finished records, drops older and expired ones, never a running one', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const ops = new Operations(
      await ns.connect(),
      ns.key('retention'),
      silentLogger(),
      { keep: 3, maxAgeMs: 60_000 },
      () => now,
    );
    let release!: () => void;
    const running = await ops.launch(record('running'), () => new Promise<void>((r) => (release = r)));
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      now += 1000;
      await (
        await ops.launch(record(id), async () => undefined)
      ).done;
    }
    expect((await ops.list()).map((r) => r.id).sort()).toEqual(['r3', 'r4', 'r5', 'running']);
    now += 61_000; // r3..r5 expire
    release();
    await running.done;
    expect((await ops.list()).map((r) => r.id)).toEqual(['running']);
  });

  it('lets a new leader fail the operations nobody runs any more, but not its own', async () => {
    const key = ns.key('orphans');
    const oldLeader = new Operations(await ns.connect(), key, silentLogger());
    const newLeader = new Operations(await ns.connect(), key, silentLogger());
    let finish!: () => void;
    const running = await oldLeader.launch(record('backup-1'), () => new Promise<void>((r) => (finish = r)));
    await newLeader.launch(record('backup-2'), () => new Promise<void>(() => undefined));

    expect(await newLeader.failOrphans()).toEqual(['backup-1']);
    expect(await newLeader.get('backup-1')).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/interrupted/),
    });
    expect(await newLeader.get('backup-2')).toMatchObject({ status: 'Running' });
    expect(await oldLeader.failOrphans()).toEqual(['backup-2']); // from the other side, the same rule
    // The old leader's run ends after the new leader failed it: its Done is not recorded over that.
    finish();
    expect(await running.done).toMatchObject({
      status: 'Failed',
      error: expect.stringMatching(/interrupted/),
    });
    expect(await newLeader.get('backup-1')).toMatchObject({ status: 'Failed' });
  });

  it('stops the work of a run ended elsewhere at its next progress save; refuses a second start of a running id', async () => {
    const key = ns.key('ended');
    const oldLeader = new Operations<OperationRecord & { step?: number }>(
      await ns.connect(),
      key,
      silentLogger(),
    );
    const newLeader = new Operations(await ns.connect(), key, silentLogger());
    let next!: () => void;
    let steps = 0;
    const run = await oldLeader.launch(record('backup-3'), async (r) => {
      for (r.step = 1; r.step <= 3; r.step++) {
        await new Promise<void>((resolve) => (next = resolve));
        await oldLeader.save(r);
        steps = r.step;
      }
    });
    await expect(oldLeader.launch(record('backup-3'), async () => undefined)).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await new Promise((r) => setTimeout(r, 10));
    next();
    await new Promise((r) => setTimeout(r, 20));
    expect(steps).toBe(1);
    expect(await newLeader.failOrphans()).toEqual(['backup-3']);
    next();
    expect(await run.done).toMatchObject({ status: 'Failed', error: expect.stringMatching(/interrupted/) });
    expect(steps).toBe(1); // its second progress save was refused: the work stopped there
    // Once ended, the same id may start again.
    const again = await newLeader.launch(record('backup-3'), async () => undefined);
    expect((await again.done).status).toBe('Done');
  });

  it('a run of an id started again after it was failed writes nothing over the new run', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const key = ns.key('rerun');
    const oldLeader = new Operations(await ns.connect(), key, silentLogger(), undefined, () => now);
    const newLeader = new Operations(await ns.connect(), key, silentLogger(), undefined, () => now);
    let finishOld!: () => void;
    const old = await oldLeader.launch(record('backup-4'), () => new Promise<void>((r) => (finishOld = r)));
    expect(await newLeader.failOrphans()).toEqual(['backup-4']);
    now += 1000;
    let finishNew!: () => void;
    const rerun = await newLeader.launch(
      { ...record('backup-4'), startedAt: new Date(now).toISOString() },
      () => new Promise<void>((r) => (finishNew = r)),
    );
    finishOld(); // the deposed run ends while the new one runs: its Done must not land
    expect(await old.done).toMatchObject({ status: 'Running', startedAt: rerun.record.startedAt });
    expect(await newLeader.get('backup-4')).toMatchObject({
      status: 'Running',
      startedAt: rerun.record.startedAt,
    });
    finishNew();
    expect(await rerun.done).toMatchObject({ status: 'Done', startedAt: rerun.record.startedAt });
  });

  it('a backup started again while its id runs is refused before it touches the GC hold named by the id', async () => {
    const ops = new Operations<BackupRecord>(await ns.connect(), ns.key('backups'), silentLogger());
    const holds: string[] = [];
    const gc = {
      hold: async (service: string) => {
        holds.push(`hold ${service}`);
        return { release: async () => void holds.push(`release ${service}`), check: async () => undefined };
      },
    } as unknown as GcSafePoints;
    // Never reached: the refusal comes first.
    const backup = new ClusterBackup(ops, {} as ClusterStore, {} as NodeTaskClient, {
      gc,
      safePointTtlMs: 1000,
    });
    await ops.launch({ ...record('b1'), storage: 'noop://' }, () => new Promise<void>(() => undefined));
    const request = backupRequestSchema.parse({ storage: 'noop://', endVersion: '5' });
    await expect(backup.start('b1', request)).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(holds).toEqual([]);
  });
});
