#!/bin/sh
# tests/engine-cli.test.sh - `tetriserve trace` and `tetriserve sim` as a user
# runs them: reproducible traces, the files sim writes and their columns and
# keys, --swap-at, refusals of bad arguments, and video requests (the frames
# column) costed by the stdit module's cost function.
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
# Video requests: a tiny stdit model with random weights, costed by its module.
mods=$(cd "$BUILDDIR/modules" && pwd)
printf '[server]\nmodule_path = %s\n[pool]\nbackend = sim\ndevices = 4\n[scheduler]\npolicy = fixed\nk = 1\n[model opensora]\nmodule = stdit\nrandom_weights = true\nhidden_size = 64\ndepth = 2\nnum_heads = 4\ncaption_channels = 32\nmodel_max_length = 8\n' "$mods" > "$tmp/video.ini"
printf 'id,arrival_s,model,width,height,steps,slo_s,frames\n0,0.0,opensora,256,256,8,5.0,1\n1,100.0,opensora,256,256,8,5.0,17\n2,200.0,opensora,256,256,8,5.0,51\n' > "$tmp/v.csv"
t "sim: a trace of an image and two videos on stdit" $ts sim --config "$tmp/video.ini" \
	--trace "$tmp/v.csv" --policy fixed --policy-param k=1 --out "$tmp/vo" --quiet
t "sim: requests.csv carries the frames" sh -c "tail -n +2 '$tmp/vo/requests.csv' | cut -d, -f13 | tr '\n' ' ' | grep -qx '1 17 51 '"
t "sim: longer videos cost more than an image" sh -c "tail -n +2 '$tmp/vo/requests.csv' | cut -d, -f5 | sort -g -c"
t "sim: ... strictly (1 < 17 < 51 frames)" sh -c "[ \$(tail -n +2 '$tmp/vo/requests.csv' | cut -d, -f5 | sort -gu | wc -l) -eq 3 ]"
t "trace: --frames writes the column" sh -c "$ts trace --rate 30 --count 40 --seed 2 --steps 8 --model opensora --frames 1,17,51 > '$tmp/g.csv' && head -1 '$tmp/g.csv' | grep -qx 'id,arrival_s,model,width,height,steps,slo_s,frames' && [ \$(tail -n +2 '$tmp/g.csv' | cut -d, -f8 | sort -u | wc -l) -eq 3 ]"
t "trace: --frames 1 keeps the column, all images" sh -c "$ts trace --count 5 --model m --frames 1 | tail -n +2 | cut -d, -f8 | sort -u | grep -qx 1"
t "trace: --frames 0 refused" fails $ts trace --count 5 --model m --frames 0
t "sim: a generated video trace end to end" $ts sim --config "$tmp/video.ini" \
	--trace "$tmp/g.csv" --policy fixed --policy-param k=2 --out "$tmp/go" --quiet
t "sim: ... a row per request" sh -c "[ \$(wc -l < '$tmp/go/requests.csv') -eq 41 ]"
sed 's/,17$/,1.5/' "$tmp/v.csv" > "$tmp/vbad.csv"
t "sim: a fractional frames value is refused" fails $ts sim --config "$tmp/video.ini" \
	--trace "$tmp/vbad.csv" --policy fixed
t "sim: ... naming file, line and column" sh -c "$ts sim --config '$tmp/video.ini' --trace '$tmp/vbad.csv' --policy fixed 2>&1 | grep -qF '$tmp/vbad.csv:3: frames: bad value '\''1.5'\'''"
sed 's/,51$/,0/' "$tmp/v.csv" > "$tmp/vzero.csv"
t "sim: frames = 0 is refused" sh -c "$ts sim --config '$tmp/video.ini' --trace '$tmp/vzero.csv' --policy fixed 2>&1 | grep -qF '$tmp/vzero.csv:4: frames: bad value'"
printf 'id,arrival_s,model,width,height,steps,slo_s,frames\n0,0.0,flux1-dev,1024,1024,28,5.0,16\n' > "$tmp/pv.csv"
t "sim: a video for a profile-only model is refused, saying why" sh -c "$ts sim --config configs/default.ini --trace '$tmp/pv.csv' --policy fixed 2>&1 | grep -q 'profiles are per image'"
echo "1..$n"
