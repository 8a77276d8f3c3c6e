import { z } from 'zod';

/**
 * Where a process finds Redis: one server (`redisUrl`), a Redis Cluster (`redis.cluster`: seed URLs;
 * the rest of the topology is discovered), or a primary watched by Sentinel (`redis.sentinels` and
 * `redis.sentinelName`; `redisUrl` then only lends its password and database).
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; seeds: string[] }
  | { kind: 'sentinel'; sentinels: string[]; name: string; url: string };

/** The `redis` section every app's config has, next to `redisUrl`. */
export const redisSectionSchema = z
  .object({
    cluster: z.array(z.string().min(1)).min(1).optional(),
    sentinels: z.array(z.string().min(1)).min(1).optional(),
    sentinelName: z.string().min(1).default('mymaster'),
  })
  .refine((s) => !(s.cluster && s.sentinels), 'set redis.cluster or redis.sentinels, not both')
  .prefault({});

export type RedisSection = z.output<typeof redisSectionSchema>;

export function redisTarget(config: { redisUrl: string; redis?: RedisSection }): RedisTarget {
  const section = config.redis;
  if (section?.cluster) return { kind: 'cluster', seeds: section.cluster };
  if (section?.sentinels) {
    return {
      kind: 'sentinel',
      sentinels: section.sentinels,
      name: section.sentinelName,
      url: config.redisUrl,
    };
  }
  return { kind: 'single', url: config.redisUrl };
}

/** How a target reads in logs and errors (no passwords). */
export function describeRedisTarget(target: RedisTarget | string): string {
  const strip = (url: string) => url.replace(/\/\/[^@/]*@/, '//');
  if (typeof target === 'string') return strip(target);
  switch (target.kind) {
    case 'single':
      return strip(target.url);
    case 'cluster':
      return `cluster ${target.seeds.map(strip).join(',')}`;
    case 'sentinel':
      return `sentinel ${target.name}@${target.sentinels.map(strip).join(',')}`;
  }
}
