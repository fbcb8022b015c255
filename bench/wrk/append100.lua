-- 100 events appended to a new stream per request.
local common = dofile("bench/wrk/common.lua")
init = common.seed
local events = {}
for i = 1, 100 do events[i] = '{"event_type":"Tick","payload":{"n":' .. i .. '}}' end
local body = '{"expected_version":0,"events":[' .. table.concat(events, ",") .. ']}'
function request()
  return common.post("/v1/aggregates/Bench/" .. common.uuid() .. "/events", body)
end
response = common.expect(201)
