-- The Order "create" command on a new stream per request: load the state
-- (none), check guard and schema, append with the loaded version.
local common = dofile("bench/wrk/common.lua")
init = common.seed
local body = '{"customer_id":"c-1","total":10}'
function request()
  return common.post("/v1/aggregates/Order/" .. common.uuid() .. "/commands/create", body)
end
response = common.expect(201)
