-- The event the "create" command emits, appended by the plain append route
-- to a new stream of a type without a definition: the command's baseline.
local token = os.getenv("TOKEN")
local function uuid()
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff),
    math.random(0, 0xffffffffffff))
end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16)) end
local body = '{"expected_version":0,"events":[{"event_type":"OrderCreated","payload":{"customer_id":"c-1","total":10}}]}'
function request()
  return wrk.format("POST", "/v1/aggregates/PlainOrder/" .. uuid() .. "/events",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
function response(status) if status ~= 201 then print("unexpected status " .. status) end end
