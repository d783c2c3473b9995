"""The cache generation record: a counter every committed write moves forward, the replication floor
the entries of a generation are computed at, and which Redis master wrote it.

One hash per namespace, `{ns}:generation` = {n, gtid, epoch}:
- `n` addresses the entries (`{ns}:resp:<epoch>-<n>:<digest>`); a write bumps it after its commit.
- `gtid` is the highest position of the writes bumped so far (merged per stream, so a write that
  committed earlier but bumped later cannot move it back). A read filed under generation n reads at
  least at that position: on a replica it waits for it (farmlokal_common/read_routing.py).
- `epoch` is the `master_replid` of the Redis master that last wrote the record. A replica promoted
  by Sentinel has a new replid, so a record it inherited (which may lack the last bumps the old master
  acknowledged before it died) reads as stale, and so does a missing record (a Redis restarted empty).
  A stale record is re-derived before anything is served from it: the floor from the MySQL primary's
  own position (which covers every write that returned), and a new generation, so entries filed
  under the inherited ones are never addressed again.

The `{ns}` hash tag keeps the record, the entries and their locks in one Redis Cluster slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from farmlokal_common.redis_scripts import register_script

# Lua helpers shared by the scripts that read or move the record.
LUA_HELPERS = """
local function master_replid()
  return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
end
local function merge_gtid(a, b)
  local best, order = {}, {}
  for _, position in ipairs({a or '', b or ''}) do
    for item in string.gmatch(position, '[^,%s]+') do
      local stream, seq = string.match(item, '^(%d+)%-%d+%-(%d+)$')
      if not stream then stream, seq = string.match(item, '^([^:]+):.-(%d+)$') end
      if stream then
        seq = tonumber(seq)
        if best[stream] == nil then table.insert(order, stream) end
        if best[stream] == nil or seq > best[stream][1] then best[stream] = {seq, item} end
      end
    end
  end
  local out = {}
  for _, stream in ipairs(order) do table.insert(out, best[stream][2]) end
  return table.concat(out, ',')
end
-- {id, gtid} of a record this master wrote; nil when it is missing or inherited from another master.
-- The id carries the master's epoch: an entry filled from another master's generation (a fill in
-- flight across a failover) can never be addressed under this one's.
local function current_generation(key)
  local record = redis.call('HMGET', key, 'n', 'gtid', 'epoch')
  if not record[1] or record[3] ~= master_replid() then return nil end
  return {string.sub(record[3], 1, 12) .. '-' .. record[1], record[2] or ''}
end
"""

_READ = (
    LUA_HELPERS
    + """
return current_generation(KEYS[1]) or {'', ''}
"""
)
# A write's bump: 0 when the record is stale (the caller re-derives, which bumps too).
_BUMP = (
    LUA_HELPERS
    + """
local record = current_generation(KEYS[1])
if not record then return 0 end
redis.call('HSET', KEYS[1], 'gtid', merge_gtid(record[2], ARGV[1]))
return redis.call('HINCRBY', KEYS[1], 'n', 1)
"""
)
# Re-derivation with the primary's position (ARGV[1]); a no-op if another caller did it first.
_REDERIVE = (
    LUA_HELPERS
    + """
local record = current_generation(KEYS[1])
if record then return record end
redis.call('HINCRBY', KEYS[1], 'n', 1)
local gtid = merge_gtid(redis.call('HGET', KEYS[1], 'gtid'), ARGV[1])
redis.call('HSET', KEYS[1], 'gtid', gtid, 'epoch', master_replid())
return current_generation(KEYS[1])
"""
)


@dataclass(frozen=True)
class Generation:
    number: str  # the id entries are filed under: the master's epoch and the counter
    floor: str  # the replication position its entries are computed at ('' : any)


def record_key(namespace: str) -> str:
    return f"{{{namespace}}}:generation"


class Generations:
    """Reads and moves one namespace's record; Redis errors propagate (callers fail open)."""

    def __init__(self, client: redis.Redis, namespace: str, primary_floor: Callable[[], str]) -> None:
        self.key = record_key(namespace)
        self._primary_floor = primary_floor
        self._read = register_script(client, _READ)
        self._bump = register_script(client, _BUMP)
        self._rederive = register_script(client, _REDERIVE)

    def current(self) -> Generation | None:
        """The generation to read at; None when the record is stale and could not be re-derived
        (the primary unreachable): then nothing cached may be trusted."""
        number, floor = (part.decode() for part in self._read(keys=[self.key]))
        return Generation(number, floor) if number else self.rederive()

    def bump(self, gtid: str) -> None:
        """After a committed write at `gtid` ('' without a binary log)."""
        if not self._bump(keys=[self.key], args=[gtid]):
            self.rederive(gtid)

    def rederive(self, known: str = "") -> Generation | None:
        try:
            floor = self._primary_floor()
        except Exception:
            return None
        number, merged = self._rederive(keys=[self.key], args=[_merge_text(floor, known)])
        return Generation(_text(number), _text(merged))


def _merge_text(a: str, b: str) -> str:
    return ",".join(filter(None, (a, b)))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
