-- Reads one of the seeded 20-event streams of TYPE (ids in STREAMS) per
-- request, with the token in TOKEN (bench/privacy.sh picks one with or
-- without personal:read).
local token = os.getenv("TOKEN")
local kind = os.getenv("TYPE")
local ids = {}
for line in io.lines(os.getenv("STREAMS")) do ids[#ids + 1] = line end
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
function request()
  return wrk.format("GET", "/v1/aggregates/" .. kind .. "/" .. ids[math.random(1, #ids)] .. "/events?limit=100",
    { ["Authorization"] = "Bearer " .. token })
end
function response(status) if status ~= 200 then print("unexpected status " .. status) end end
