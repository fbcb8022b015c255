-- One ContactNoted event appended to a new stream of TYPE (Contact: two
-- declared personal fields; PlainContact: the same definition without
-- them), for bench/privacy.sh.
local common = dofile("bench/wrk/common.lua")
init = common.seed
local kind = os.getenv("TYPE")
local body = '{"expected_version":0,"events":[{"event_type":"ContactNoted","payload":' ..
  '{"email":"someone@example.org","phone":"+44 20 7946 0000","source":"web","score":7}}]}'
function request()
  return common.post("/v1/aggregates/" .. kind .. "/" .. common.uuid() .. "/events", body)
end
response = common.expect(201)
