-- wrk script for the end-to-end scenario: POST an `echo` notification to a rotating set of
-- agents that the benchmark runs (vos-agent-demo answers the payload as the result). Same
-- shape as notify.lua: agent names from BENCH_AGENTS (comma-separated), the API key from
-- BENCH_KEY. No `sleep_ms`: the agent answers at once.
local agents = {}
for a in string.gmatch(os.getenv("BENCH_AGENTS") or "echo_agent", "[^,]+") do
  agents[#agents + 1] = a
end
local headers = {["Content-Type"]="application/json"}
if os.getenv("BENCH_KEY") then
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end
local i = 0
request = function()
  i = i + 1
  local a = agents[(i % #agents) + 1]
  local body = '{"notification_type":"echo","source":"bench","payload":{"text":"hello from the load test","n":' .. i .. '}}'
  return wrk.format("POST", "/api/v1/agents/" .. a .. "/notify", headers, body)
end
