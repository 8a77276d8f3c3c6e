/*
 * Lua run atomically by Redis. Each touches only one region's keys, which share a hash tag, so
 * the scripts work unchanged on Redis Cluster. Stream ids are `<entry id>-0`, so entry ids are plain
 * integers and XRANGE/XTRIM address them directly.
 */

/**
 * The fence check of every fenced script: `m` holds the meta hash's node and epoch first, ARGV the
 * caller's node and epoch first. No fence yet, or another node or epoch: refused.
 */
const FENCED = `
if not m[1] then return redis.error_reply('NOFENCE') end
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then
  return redis.error_reply('NOTLEADER ' .. m[1] .. ' ' .. m[2])
end`;

/** KEYS: log, meta. ARGV: node, epoch, batch token, entry… → last entry id. */
export const APPEND = `
local m = redis.call('HMGET', KEYS[2], 'node', 'epoch', 'last', 'batch', 'batchLast')
${FENCED}
-- The same token again is a client resend after a lost reply: answer it, do not append twice.
if m[4] == ARGV[3] then return tonumber(m[5]) end
local last = tonumber(m[3] or '0')
for i = 4, #ARGV do
  last = last + 1
  redis.call('XADD', KEYS[1], last .. '-0', 'd', ARGV[i])
end
redis.call('HSET', KEYS[2], 'last', last, 'batch', ARGV[3], 'batchLast', last)
return last
`;

/**
 * KEYS: meta. ARGV: node, epoch, incarnation. The first fence of a new WAL also names its incarnation
 * (a WAL from before incarnations existed keeps none).
 */
export const SET_FENCE = `
local m = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'last', 'inc', 'retired')
if m[5] then return redis.error_reply('RETIRED') end
if not m[3] and not m[4] then redis.call('HSET', KEYS[1], 'inc', ARGV[3]) end
if m[2] then
  local current = tonumber(m[2])
  local wanted = tonumber(ARGV[2])
  if wanted < current or (wanted == current and m[1] ~= ARGV[1]) then
    return redis.error_reply('STALEFENCE ' .. m[1] .. ' ' .. m[2])
  end
end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', ARGV[2])
return 1
`;

/** Redis's own clock in ms, so positions written by one node and read by another need no clock of theirs. */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: log, meta, followers. ARGV: node, epoch, manifest, previous manifest ('' for none), upto, floor,
 * leader node, stale ms → the trimmed id after the call. Commits a flush: fenced like APPEND, and only
 * over the manifest it was built on (a region whose WAL names none yet takes any), it names `manifest`
 * the region's committed one, then trims up to `upto`, except what a follower that reported within
 * `stale ms` has not applied yet, and those down to `floor` at most. Positions older than that are
 * dropped: a follower that stopped reporting (closed, dead) holds nothing back.
 */
export const COMMIT_FLUSH = `
local m = redis.call('HMGET', KEYS[2], 'node', 'epoch', 'manifest', 'last', 'trimmed')
${FENCED}
if m[3] and m[3] ~= ARGV[4] then return redis.error_reply('STALEMANIFEST ' .. m[3]) end
redis.call('HSET', KEYS[2], 'manifest', ARGV[3])
local upto = math.min(tonumber(ARGV[5]), tonumber(m[4] or '0'))
local floor = math.min(tonumber(ARGV[6]), upto)
${NOW_MS}
local rows = redis.call('HGETALL', KEYS[3])
for i = 1, #rows, 2 do
  local applied, at = string.match(rows[i + 1], '^(%d+):(%d+)$')
  if not at or now - tonumber(at) > tonumber(ARGV[8]) then
    redis.call('HDEL', KEYS[3], rows[i])
  elseif rows[i] ~= ARGV[7] then
    upto = math.min(upto, math.max(tonumber(applied), floor))
  end
end
local trimmed = tonumber(m[5] or '0')
if upto <= trimmed then return trimmed end
redis.call('XTRIM', KEYS[1], 'MINID', (upto + 1) .. '-0')
redis.call('HSET', KEYS[2], 'trimmed', upto)
return upto
`;

/**
 * KEYS: followers, meta. ARGV: node, applied entry id → 1, or 0 for a retired WAL. Where a follower
 * stands, stamped with Redis's clock. A report that lands after the region was retired (dropped, a
 * merge's source, an abandoned split's child) would bring back the hash RETIRE deleted, for good.
 */
export const FOLLOWER_APPLIED = `
if redis.call('HEXISTS', KEYS[2], 'retired') == 1 then return 0 end
${NOW_MS}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. string.format('%d', now))
return 1
`;

/**
 * KEYS: log, meta. ARGV: entry id, incarnation → the last entry id after the call. A WAL rebuilt after
 * Redis lost writes: if it still reaches the entry, it keeps its entries under a new incarnation;
 * otherwise it becomes empty, continuing after that entry, with no fence yet.
 */
export const RESTORE = `
if redis.call('HEXISTS', KEYS[2], 'retired') == 1 then return redis.error_reply('RETIRED') end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if last >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[2], 'inc', ARGV[2])
  redis.call('HDEL', KEYS[2], 'batch', 'batchLast')
  return last
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], 'last', ARGV[1], 'trimmed', ARGV[1], 'inc', ARGV[2])
return tonumber(ARGV[1])
`;

/**
 * KEYS: log, meta, followers. ARGV: none, or the node and epoch that must hold the fence → 1. Deletes a
 * region no route will name again (dropped by its leader, a split child whose split was abandoned, a
 * region merged away) and leaves only a mark that SET_FENCE and RESTORE refuse: a node still acting on
 * the region (a split job that ran late) can neither recreate the WAL nor take a fence, and with no
 * fence every fenced script refuses it too. A drop names its fence: a leader deposed without knowing
 * it is refused, so it cannot retire its successor's WAL.
 */
export const RETIRE = `
if ARGV[1] then
  local m = redis.call('HMGET', KEYS[2], 'node', 'epoch')
  ${FENCED.trim()}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'retired', '1')
return 1
`;

/**
 * KEYS: meta. ARGV: node, epoch, ts (20-digit decimal) → 1. Fenced like APPEND, so a leader that lost
 * the region can no longer promise anything for it; a smaller ts than the one stored is ignored.
 */
export const RESOLVE = `
local m = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'last', 'rts')
${FENCED}
if m[4] and m[4] >= ARGV[3] then return 1 end
redis.call('HSET', KEYS[1], 'rts', ARGV[3], 'rtsEntry', m[3] or '0')
return 1
`;
