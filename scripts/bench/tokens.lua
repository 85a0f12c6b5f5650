-- wrk script for scripts/bench.sh: every request carries "Authorization: Bearer <token>", rotating through the
-- tokens of the file named by TOKENS (one per line). With DELAY_MS set, each connection waits that long between
-- requests, which makes the offered rate about connections * 1000 / DELAY_MS requests per second.
local tokens = {}
local n = 0
local i = 0
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local path = os.getenv("BENCH_PATH") or "/graphql"

function init(args)
  local file = assert(io.open(os.getenv("TOKENS"), "r"))
  for line in file:lines() do
    if #line > 0 then
      n = n + 1
      tokens[n] = "Bearer " .. line
    end
  end
  file:close()
  -- Each thread starts at its own place in the list.
  i = math.random(n) - 1
end

function request()
  i = (i % n) + 1
  return wrk.format("GET", path, { ["Authorization"] = tokens[i] })
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
