-- One event appended with expected_version to an existing stream, the
-- common case for aggregates. The streams (ids in STREAMS, one per line,
-- each at version 1) are shared out between wrk's threads; a thread walks
-- its share in turn and counts each stream's version, so no two requests
-- race for one stream (a share is far longer than the requests in flight).
local common = dofile("bench/wrk/common.lua")
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local ids, versions, at = {}, {}, 1
function init(args)
  local n, every = 0, tonumber(os.getenv("WRK_THREADS") or "2")
  for line in io.lines(os.getenv("STREAMS")) do
    if n % every == tid then
      ids[#ids + 1] = line
      versions[#versions + 1] = 1
    end
    n = n + 1
  end
end
function request()
  local i = at
  at = at % #ids + 1
  local body = '{"expected_version":' .. versions[i] ..
    ',"events":[{"event_type":"Tick","payload":{"n":1}}]}'
  versions[i] = versions[i] + 1
  return common.post("/v1/aggregates/BenchX/" .. ids[i] .. "/events", body)
end
response = common.expect(201)
