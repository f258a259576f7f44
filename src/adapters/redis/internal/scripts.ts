/**
 * The Lua scripts behind the cache guard. Each cache entry (a hash) has three companion keys:
 *   ver   a counter bumped by every write of the underlying data (before and after its commit)
 *   pend  how many writes are between their "begin" and their "end" (expires: a dead writer)
 *   epoch one per cache namespace, bumped to invalidate every entry at once
 * and `pendAll`, a namespace-wide pending counter for writes that touch unknown keys.
 * An entry is served only when its `ver` and `epoch` fields equal the current counters and nothing
 * is pending; a reader fills it only if the counters it read before loading are still current.
 */

/** KEYS: entry, ver, pend, epoch, pendAll. ARGV: field. → {status, ver, epoch[, value]} */
export const READ = `
local v = redis.call('GET', KEYS[2]) or '0'
local e = redis.call('GET', KEYS[4]) or '0'
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 or tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then
  return {'busy', v, e}
end
local h = redis.call('HMGET', KEYS[1], 'ver', 'epoch', ARGV[1])
if h[1] == v and h[2] == e and h[3] then return {'hit', v, e, h[3]} end
return {'miss', v, e}`

/**
 * KEYS: entry, ver, pend, epoch, pendAll. ARGV: ver0, epoch0, ttlMs, field, value[, field, value...].
 * Writes only if no write began or ended since the reader read (ver0, epoch0). → 1 written, 0 refused
 */
export const FILL = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] or (redis.call('GET', KEYS[4]) or '0') ~= ARGV[2] then
  return 0
end
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 or tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then
  return 0
end
local h = redis.call('HMGET', KEYS[1], 'ver', 'epoch')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'ver', ARGV[1], 'epoch', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

/**
 * Before a write (its commit): mark it pending, bump the version, drop the entry.
 * KEYS: (ver, pend, entry) per target. ARGV: pendingTtlMs, then verTtlMs per target ('0' = keep).
 */
export const BEGIN = `
for j = 0, #KEYS / 3 - 1 do
  local i = j * 3
  redis.call('INCR', KEYS[i + 2])
  redis.call('PEXPIRE', KEYS[i + 2], ARGV[1])
  redis.call('INCR', KEYS[i + 1])
  if ARGV[j + 2] ~= '0' then redis.call('PEXPIRE', KEYS[i + 1], ARGV[j + 2]) end
  redis.call('DEL', KEYS[i + 3])
end
return 1`

/**
 * After a write committed (or failed): release its pending mark (only if its BEGIN succeeded), bump
 * the version again, drop the entry. KEYS: (ver, pend, entry) per target.
 * ARGV: (began '1'|'0', verTtlMs) per target.
 */
export const END = `
for j = 0, #KEYS / 3 - 1 do
  local i = j * 3
  if ARGV[j * 2 + 1] == '1' and redis.call('DECR', KEYS[i + 2]) <= 0 then redis.call('DEL', KEYS[i + 2]) end
  redis.call('INCR', KEYS[i + 1])
  if ARGV[j * 2 + 2] ~= '0' then redis.call('PEXPIRE', KEYS[i + 1], ARGV[j * 2 + 2]) end
  redis.call('DEL', KEYS[i + 3])
end
return 1`

/**
 * END for session snapshots that committed: also writes the committed snapshot, unless another save
 * of that session is still pending (its commit may be newer) or a newer snapshot is cached.
 * KEYS: (ver, pend, entry, epoch) per session.
 * ARGV: (began, verTtlMs, entryTtlMs, stateVersion, record) per session. → how many were written
 */
export const END_WRITE_SNAPSHOT = `
local written = 0
for j = 0, #KEYS / 4 - 1 do
  local k = j * 4
  local a = j * 5
  if ARGV[a + 1] == '1' and redis.call('DECR', KEYS[k + 2]) <= 0 then redis.call('DEL', KEYS[k + 2]) end
  local nv = redis.call('INCR', KEYS[k + 1])
  redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 2])
  local e = redis.call('GET', KEYS[k + 4]) or '0'
  local h = redis.call('HMGET', KEYS[k + 3], 'sv', 'epoch')
  local newer = h[1] and h[2] == e and tonumber(h[1]) > tonumber(ARGV[a + 4])
  if not newer then
    redis.call('DEL', KEYS[k + 3])
    if tonumber(redis.call('GET', KEYS[k + 2]) or '0') <= 0 then
      redis.call('HSET', KEYS[k + 3], 'ver', nv, 'epoch', e, 'sv', ARGV[a + 4], 'rec', ARGV[a + 5])
      redis.call('PEXPIRE', KEYS[k + 3], ARGV[a + 3])
      written = written + 1
    end
  end
end
return written`
