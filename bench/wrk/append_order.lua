-- The event the "create" command emits, appended by the plain append route
-- to a new stream of a type without a definition: the command's baseline.
local common = dofile("bench/wrk/common.lua")
init = common.seed
local body = '{"expected_version":0,"events":[{"event_type":"OrderCreated","payload":{"customer_id":"c-1","total":10}}]}'
function request()
  return common.post("/v1/aggregates/PlainOrder/" .. common.uuid() .. "/events", body)
end
response = common.expect(201)
