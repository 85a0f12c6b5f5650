-- wrk script for scripts/bench.sh: every request carries "Authorization: Bearer <token>", rotating through the
-- tokens of the file named by TOKENS (one per line). With DELAY_MS set, each connection waits that long between
-- requests, which makes the offered rate about connections * 1000 / DELAY_MS requests per second.
--
-- Every request is built once, at start: building one per request (wrk.format) made garbage on every request, and
-- Lua's collector then walked the whole token list (10,000 tokens are about 7 MB) in pauses that wrk counted as the
-- server's latency: NGINX `return 200` measured a half-rate p99 of 1.4-1.5 ms with 10,000 tokens against 0.4 ms with
-- one, on the same machine.
local requests = {}
local n = 0
local i = 0
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local path = os.getenv("BENCH_PATH") or "/graphql"

function init(args)
  local file = assert(io.open(os.getenv("TOKENS"), "r"))
  for line in file:lines() do
    if #line > 0 then
      n = n + 1
      requests[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
    end
  end
  file:close()
  -- Each thread starts at its own place in the list.
  i = math.random(n) - 1
end

function request()
  i = (i % n) + 1
  return requests[i]
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
