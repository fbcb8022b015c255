-- The Order "create" command on a new stream per request: load the state
-- (none), check guard and schema, append with the loaded version.
local token = os.getenv("TOKEN")
local function uuid()
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff),
    math.random(0, 0xffffffffffff))
end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16)) end
local body = '{"customer_id":"c-1","total":10}'
function request()
  return wrk.format("POST", "/v1/aggregates/Order/" .. uuid() .. "/commands/create",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
function response(status) if status ~= 201 then print("unexpected status " .. status) end end
