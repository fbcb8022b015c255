-- One event appended to a new stream per request (no contention between
-- requests, like the pgbench script it is compared with).
local common = dofile("bench/wrk/common.lua")
init = common.seed
local body = '{"expected_version":0,"events":[{"event_type":"Tick","payload":{"n":1}}]}'
function request()
  return common.post("/v1/aggregates/Bench/" .. common.uuid() .. "/events", body)
end
response = common.expect(201)
