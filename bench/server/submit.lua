-- bench/server/submit.lua - wrk script: POST a job, write the id of every
-- 202 to $IDS_DIR/ids.THREAD, count replies by status. With RATE and CONNS
-- set, each connection waits CONNS/RATE s before each request, so the whole
-- run offers about RATE requests/s (wrk has no rate option of its own).
wrk.method = "POST"
wrk.path = "/v1/jobs"
wrk.body = os.getenv("BODY") or '{"model":"tiny","num_inference_steps":2,"slo_scale":20}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}
local n = 0

function setup(thread)
	n = n + 1
	thread:set("tid", n)
	table.insert(threads, thread)
end

function init(args)
	out = io.open(os.getenv("IDS_DIR") .. "/ids." .. tid, "w")
	c202, c429, cother = 0, 0, 0
end

local pause_ms = 0
if os.getenv("RATE") and os.getenv("CONNS") then
	pause_ms = tonumber(os.getenv("CONNS")) * 1000 / tonumber(os.getenv("RATE"))
end

function delay()
	return pause_ms
end

function response(status, headers, body)
	if status == 202 then
		c202 = c202 + 1
		out:write(body:match('"id":"([^"]+)"') or "MISSING", "\n")
		out:flush()
	elseif status == 429 then
		c429 = c429 + 1
	else
		cother = cother + 1
	end
end

function done(summary, latency, requests)
	local a, r, o = 0, 0, 0
	for _, t in ipairs(threads) do
		a = a + t:get("c202")
		r = r + t:get("c429")
		o = o + t:get("cother")
	end
	io.write(string.format("wrk: accepted=%d refused_429=%d other=%d p50_ms=%.3f p99_ms=%.3f rate=%.0f/s\n",
		a, r, o, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.requests / (summary.duration / 1e6)))
end
