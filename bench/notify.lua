-- wrk script: POST a small notification to a rotating set of agents.
-- Adapted from the shared seed benchmark's notify.lua; the agent names come from
-- BENCH_AGENTS (comma-separated) so that each benchmark run uses queues of its own.
local agents = {}
for a in string.gmatch(os.getenv("BENCH_AGENTS") or "weather_agent,calendar_agent,search_agent,memory_agent", "[^,]+") do
  agents[#agents + 1] = a
end
-- BENCH_KEY: the API key sent as `Authorization: Bearer` (the seed-style peer ignores it).
local headers = {["Content-Type"]="application/json"}
if os.getenv("BENCH_KEY") then
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end
-- BENCH_TYPE: the notification type (default user_message; the end-to-end scenario sends
-- `echo`, which the demo agent answers with the payload at once).
local kind = os.getenv("BENCH_TYPE") or "user_message"
local i = 0
request = function()
  i = i + 1
  local a = agents[(i % #agents) + 1]
  local body = '{"notification_type":"' .. kind .. '","source":"bench","payload":{"text":"hello from the load test","n":' .. i .. '}}'
  return wrk.format("POST", "/api/v1/agents/" .. a .. "/notify", headers, body)
end
-- BENCH_DELAY_MS: a pause before each request on a connection, to pace the load (wrk calls
-- `delay` when it is defined).
if os.getenv("BENCH_DELAY_MS") then
  local pause = tonumber(os.getenv("BENCH_DELAY_MS"))
  delay = function() return pause end
end
