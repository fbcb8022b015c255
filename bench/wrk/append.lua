-- One event appended to a new stream per request (no contention between
-- requests, like the pgbench script it is compared with).
local token = os.getenv("TOKEN")
local function uuid()
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff),
    math.random(0, 0xffffffffffff))
end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16)) end
local body = '{"expected_version":0,"events":[{"event_type":"Tick","payload":{"n":1}}]}'
function request()
  return wrk.format("POST", "/v1/aggregates/Bench/" .. uuid() .. "/events",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
function response(status) if status ~= 201 then print("unexpected status " .. status) end end
