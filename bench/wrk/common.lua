-- common.lua - what the wrk scripts share: the token, random stream ids,
-- and a seed that differs per wrk thread. Loaded with dofile from the
-- repository's top directory (bench/run.sh runs wrk there).
local common = {}
common.token = os.getenv("TOKEN")

function common.uuid()
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff),
    math.random(0, 0xffffffffffff))
end

function common.seed()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16))
end

-- A POST of a JSON body with the bearer token.
function common.post(path, body)
  return wrk.format("POST", path,
    { ["Authorization"] = "Bearer " .. common.token, ["Content-Type"] = "application/json" }, body)
end

-- Prints a line for every answer but the expected one (run.sh counts them).
function common.expect(want)
  return function(status) if status ~= want then print("unexpected status " .. status) end end
end

return common
