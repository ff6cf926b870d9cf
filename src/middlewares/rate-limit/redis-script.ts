/**
 * The Lua script that decides all limits of a route in one Redis round trip.
 *
 * Why a script: a read-modify-write from the gateway would race between gateway
 * processes; a script runs atomically in Redis, so the limit is exact however many
 * gateways share it. Why Redis' own clock (`TIME`): every gateway then measures time
 * the same way, and skew between gateway hosts cannot grant or take away quota.
 * Since Redis 5 scripts are replicated by their effects, so calling `TIME` before
 * writing is allowed (Brisk needs Redis ≥ 6.2 through ioredis 6 anyway).
 *
 * The arithmetic is that of algorithms.ts (keep them in step); times are integer
 * microseconds. Numbers are written back with `%d` because Lua's default number
 * formatting (`%.14g`) would round microsecond timestamps.
 *
 * KEYS[i]: the key of limit i.
 * ARGV[3i-2..3i]: `g`, emission interval (µs), burst — or `s`, window (µs), limit.
 * Reply: { allAllowed, then per limit: allowed, remaining, retryUs, resetUs } (integers).
 * State is written only when every limit allowed the request:
 *   GCRA: a string, the TAT, expiring when the bucket is full again (then it is no
 *   different from a missing key). Sliding window: a hash {w, c, p}, expiring after two
 *   windows (then both counts would be 0).
 */
export const RATE_LIMIT_SCRIPT = `
local function window_wait(prev, cur, elapsed, w, target)
  if math.floor((prev * (w - elapsed)) / w) + cur <= target then return 0 end
  if cur <= target then
    local at = w - ((target - cur + 1) * w) / prev
    return math.floor(at - elapsed) + 1
  end
  local at = w - ((target + 1) * w) / cur
  if at < 0 then return w - elapsed end
  return w - elapsed + math.floor(at) + 1
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1}
local commit = {}
for i = 1, #KEYS do
  local kind = ARGV[3 * i - 2]
  local a = tonumber(ARGV[3 * i - 1])
  local b = tonumber(ARGV[3 * i])
  local o = 4 * (i - 1) + 1
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i])) or 0
    if tat < now then tat = now end
    local new_tat = tat + a
    local allow_at = new_tat - b * a
    if now < allow_at then
      out[1] = 0
      out[o + 1] = 0; out[o + 2] = 0; out[o + 3] = allow_at - now; out[o + 4] = allow_at - now
    else
      local remaining = math.floor((b * a - (new_tat - now)) / a)
      out[o + 1] = 1; out[o + 2] = remaining; out[o + 3] = 0
      out[o + 4] = new_tat - now - (b - remaining - 1) * a
      commit[i] = new_tat
    end
  else
    local idx = math.floor(now / a)
    local st = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
    local win = tonumber(st[1])
    local cur = tonumber(st[2]) or 0
    local prev = tonumber(st[3]) or 0
    if win ~= idx then
      if win == idx - 1 then prev = cur else prev = 0 end
      cur = 0
    end
    local elapsed = now - idx * a
    local estimate = math.floor((prev * (a - elapsed)) / a) + cur
    if estimate + 1 > b then
      out[1] = 0
      local wait = window_wait(prev, cur, elapsed, a, b - 1)
      out[o + 1] = 0; out[o + 2] = 0; out[o + 3] = wait; out[o + 4] = wait
    else
      local remaining = b - estimate - 1
      out[o + 1] = 1; out[o + 2] = remaining; out[o + 3] = 0
      out[o + 4] = window_wait(prev, cur + 1, elapsed, a, b - remaining - 1)
      commit[i] = { idx, cur + 1, prev }
    end
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local a = tonumber(ARGV[3 * i - 1])
    if ARGV[3 * i - 2] == 'g' then
      local ttl = math.ceil((commit[i] - now) / 1000)
      redis.call('SET', KEYS[i], string.format('%d', commit[i]), 'PX', string.format('%d', ttl))
    else
      local c = commit[i]
      redis.call('HSET', KEYS[i], 'w', string.format('%d', c[1]), 'c', string.format('%d', c[2]), 'p', string.format('%d', c[3]))
      redis.call('PEXPIRE', KEYS[i], string.format('%d', math.ceil(2 * a / 1000)))
    end
  end
end
return out
`;
