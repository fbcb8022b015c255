-- The folded state of one aggregate (STATE_PATH, e.g. /v1/aggregates/Account/<id>).
local token = os.getenv("TOKEN")
local path = os.getenv("STATE_PATH")
function request()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
function response(status) if status ~= 200 then print("unexpected status " .. status) end end
