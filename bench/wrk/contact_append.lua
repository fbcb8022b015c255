-- One event appended to a new stream of TYPE (Contact: two declared
-- personal fields; PlainContact: the same definition without them), for
-- bench/privacy.sh. Without SUBJECTS, a ContactNoted whose subject is the
-- new stream's id (every append a new subject: its key is made); with
-- SUBJECTS=N, a ContactNotedFor one of N customers (after the first N
-- appends, a subject whose key exists).
local common = dofile("bench/wrk/common.lua")
init = common.seed
local kind = os.getenv("TYPE")
local subjects = tonumber(os.getenv("SUBJECTS") or "")
local fields = '"email":"someone@example.org","phone":"+44 20 7946 0000","source":"web","score":7'
local fixed = '{"expected_version":0,"events":[{"event_type":"ContactNoted","payload":{' .. fields .. '}}]}'
local function body()
  if not subjects then return fixed end
  return '{"expected_version":0,"events":[{"event_type":"ContactNotedFor","payload":{"customer_id":"customer-' ..
    math.random(1, subjects) .. '",' .. fields .. '}}]}'
end
function request()
  return common.post("/v1/aggregates/" .. kind .. "/" .. common.uuid() .. "/events", body())
end
response = common.expect(201)
