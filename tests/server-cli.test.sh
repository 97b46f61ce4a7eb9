#!/bin/sh
# tests/server-cli.test.sh - `tetriserve serve` and `tetriserve demo` as a
# user runs them: serve on an ephemeral loopback port with curl against it,
# SIGTERM with jobs in flight (they finish, the process exits 0), refusals
# of bad arguments; the demo end to end (real CPU executor, weights made on
# the first run and reused on the second, PNGs written, SLO table).
set -u
BUILDDIR=${BUILDDIR:-build}
ts=$BUILDDIR/tetriserve
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
n=0

t() { # description, command...
	desc=$1; shift
	n=$((n + 1))
	if "$@" > "$tmp/out" 2>&1; then echo "ok $n - $desc"; else
		echo "not ok $n - $desc"; sed 's/^/# /' "$tmp/out"; fi
}
fails() { ! "$@"; }

# Refusals are bounded in time: a serve that starts by mistake would never exit.
t "serve without --config: usage error" fails timeout 20 $ts serve
t "serve with a config that does not exist" fails timeout 20 $ts serve --config "$tmp/none.ini"
t "serve on a non-numeric host is refused" fails timeout 20 $ts serve \
	--config tests/server/data/server.ini --listen localhost:0
t "serve on port 99999 is refused" fails timeout 20 $ts serve \
	--config tests/server/data/server.ini --listen 127.0.0.1:99999

$ts serve --config tests/server/data/server.ini --listen 127.0.0.1:0 \
	> "$tmp/serve.out" 2> "$tmp/serve.err" &
pid=$!
port=
for i in $(seq 100); do
	port=$(sed -n 's/.*serving on port //p' "$tmp/serve.out")
	[ -n "$port" ] && break
	sleep 0.1
done
t "serve prints its ephemeral port" test -n "$port"
url=http://127.0.0.1:$port
t "curl /health" sh -c "curl -sf $url/health | grep -q '\"ok\"'"
t "curl a submission: 202 and an id" sh -c "curl -s -o '$tmp/j.json' -w '%{http_code}' \
	-d '{\"model\":\"tiny\",\"num_inference_steps\":200}' $url/v1/jobs | grep -qx 202 && \
	grep -q '\"id\":\"job_' '$tmp/j.json'"
id=$(sed 's/.*"id":"\([^"]*\)".*/\1/' "$tmp/j.json")
t "curl /metrics is Prometheus text" sh -c "curl -s -D - $url/metrics | \
	grep -qi 'content-type: text/plain; version=0.0.4'"
kill -TERM "$pid"
# bounded: a drain that hung would otherwise hang the test run
for i in $(seq 300); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$pid" 2> /dev/null && kill -KILL "$pid"
wait "$pid"
rc=$?
pid=
t "SIGTERM with a job in flight: exit 0" test "$rc" -eq 0
t "the drain is logged and the job completed" sh -c "grep -q 'SIGTERM: draining' '$tmp/serve.err' \
	&& grep -q 'stopped: 1 submitted, 1 completed' '$tmp/serve.err'"

t "demo: a short trace end to end" $ts demo --out "$tmp/demo" --requests 6 --seconds 1
cp "$tmp/out" "$tmp/demo1.out"
t "demo: weights generated on the first run" grep -q "generating.*demo-sd-vae-s" "$tmp/demo1.out"
t "demo: all 6 ended and 6 PNGs written" sh -c "grep -q '6/6 requests ended, 6 images' \
	'$tmp/demo1.out' && [ \$(ls '$tmp/demo/images'/*.png | wc -l) -eq 6 ] && \
	head -c 8 \"\$(ls '$tmp/demo/images'/*.png | head -1)\" | grep -q PNG"
t "demo: the SLO table has an 'all' row" grep -q "^all " "$tmp/demo1.out"
t "demo: second run reuses the weights" sh -c "$ts demo --out '$tmp/demo' --requests 2 \
	--seconds 0 > '$tmp/d2' 2>&1 && ! grep -q generating '$tmp/d2'"
t "demo: --requests 0 is refused" fails $ts demo --out "$tmp/demo" --requests 0
echo "1..$n"
