#!/bin/sh
# tests/engine-cli.test.sh - `tetriserve trace` and `tetriserve sim` as a user
# runs them: reproducible traces, the files sim writes and their columns and
# keys, --swap-at, and refusals of bad arguments.
set -u
BUILDDIR=${BUILDDIR:-build}
ts=$BUILDDIR/tetriserve
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

t() { # description, command...
	desc=$1; shift
	n=$((n + 1))
	if "$@" > "$tmp/out" 2>&1; then echo "ok $n - $desc"; else
		echo "not ok $n - $desc"; sed 's/^/# /' "$tmp/out"; fi
}
fails() { ! "$@"; }

t "trace: 50 skewed requests" $ts trace --rate 12 --count 50 --mix skewed --seed 3 \
	--model flux1-dev --out "$tmp/a.csv"
t "trace: header and 50 lines" sh -c "head -1 '$tmp/a.csv' | grep -qx 'id,arrival_s,model,width,height,steps,slo_s' && [ \$(wc -l < '$tmp/a.csv') -eq 51 ]"
$ts trace --rate 12 --count 50 --mix skewed --seed 3 --model flux1-dev > "$tmp/b.csv"
t "trace: same seed, same file" cmp -s "$tmp/a.csv" "$tmp/b.csv"
$ts trace --rate 12 --count 50 --mix skewed --seed 3 --burst 4 --model flux1-dev > "$tmp/c.csv"
t "trace: burstier arrivals differ" fails cmp -s "$tmp/a.csv" "$tmp/c.csv"
t "trace: --mix must be uniform or skewed" fails $ts trace --mix odd --model m

t "sim: fixed k=4 on the generated trace" $ts sim --config configs/default.ini \
	--trace "$tmp/a.csv" --policy fixed --policy-param k=4 --out "$tmp/o"
t "sim: requests.csv has a row per request" sh -c "[ \$(wc -l < '$tmp/o/requests.csv') -eq 51 ]"
t "sim: requests.csv columns" sh -c "head -1 '$tmp/o/requests.csv' | grep -q '^id,arrival,start,finish,latency,deadline,met,degrees'"
t "sim: every request at degree 4" sh -c "tail -n +2 '$tmp/o/requests.csv' | cut -d, -f8 | sort -u | grep -qx 4"
for key in policy requests met sar sar_by_resolution latency_p50 latency_p99 gpu_seconds \
	mean_degree; do
	t "sim: summary.json has $key" grep -q "\"$key\":" "$tmp/o/summary.json"
done
t "sim: policy named in the summary" grep -q '"policy": "fixed"' "$tmp/o/summary.json"
t "sim: --swap-at 60:fixed" $ts sim --config configs/default.ini --trace "$tmp/a.csv" \
	--policy fixed --swap-at 60:fixed --swap-param k=8 --out "$tmp/s"
t "sim: the swap is recorded" grep -q '"swapped_to": "fixed"' "$tmp/s/summary.json"
t "sim: degrees before and after the swap" sh -c "tail -n +2 '$tmp/s/requests.csv' | cut -d, -f8 | sort -u | tr '\n' ' ' | grep -qx '1 8 '"
t "sim: SD3 on 4 A40s with islands" $ts sim --config configs/sim-sd3-medium-a40x4.ini \
	--trace traces/sd3-skewed-r12-s1.csv --policy fixed --policy-param k=2 --quiet
t "sim: unknown policy refused" fails $ts sim --config configs/default.ini \
	--trace "$tmp/a.csv" --policy nosuch
t "sim: bad policy param refused" fails $ts sim --config configs/default.ini \
	--trace "$tmp/a.csv" --policy fixed --policy-param k=0
t "sim: unknown policy param refused" fails $ts sim --config configs/default.ini \
	--trace "$tmp/a.csv" --policy fixed --policy-param kk=2
t "sim: --trace is required" fails $ts sim --config configs/default.ini
t "sim: a trace asking for an unknown model is refused" sh -c "sed 's/flux1-dev/nomodel/' '$tmp/a.csv' > '$tmp/x.csv'; ! $ts sim --config configs/default.ini --trace '$tmp/x.csv' --policy fixed"
sed "s|\.\./profiles|$PWD/profiles|" configs/default.ini > "$tmp/bogus.ini"
echo "bogus = 3" >> "$tmp/bogus.ini"
t "sim: an unknown key in a profile-only model is refused" fails $ts sim \
	--config "$tmp/bogus.ini" --trace "$tmp/a.csv" --policy fixed --quiet
t "sim: the refusal names file, line and key" sh -c "$ts sim --config '$tmp/bogus.ini' --trace '$tmp/a.csv' --policy fixed 2>&1 | grep -q 'bogus.ini:[0-9]*: \\[model flux1-dev\\] bogus: unknown key'"
echo "1..$n"
