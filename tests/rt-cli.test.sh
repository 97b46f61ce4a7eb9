#!/bin/sh
# tests/rt-cli.test.sh - `tetriserve generate` and `tetriserve profile` as a
# user runs them on configs/cpu-dit.ini (tiny DiTs, 4 CPU devices): the files
# they write, that a run is reproducible and the seed matters, that the
# profile is a cost table the engine accepts, and refusals of bad arguments.
# (Outputs across degree schedules agree to 1e-4, not bit for bit: test_rt.)
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

mods=$(cd "$BUILDDIR/modules" && pwd)
sed -e "s|^module_path = .*|module_path = $mods|" configs/cpu-dit.ini > "$tmp/c.ini"
g() { $ts generate --config "$tmp/c.ini" --model dit-s-64 --steps 6 "$@"; }

t "generate: degrees 1,2,4,1" sh -c "$ts generate --config '$tmp/c.ini' --model dit-s-64 \
	--steps 6 --seed 5 --degrees 1,2,4,1 --out '$tmp/a.safetensors' > '$tmp/gen.txt'"
t "generate: reports three migrations" grep -q "migrations 3" "$tmp/gen.txt"
t "generate: the latent file names its key" grep -q '"latent"' "$tmp/a.safetensors"
g --seed 5 --degrees 1,2,4,1 --out "$tmp/b.safetensors" > /dev/null 2>&1
t "generate: same seed and schedule, same bytes" cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors"
g --seed 6 --degrees 1,2,4,1 --out "$tmp/c.safetensors" > /dev/null 2>&1
t "generate: another seed, another latent" fails cmp -s "$tmp/a.safetensors" "$tmp/c.safetensors"
t "generate: tetri on 4 devices" g --seed 5 --class 3 --out "$tmp/d.safetensors"
t "generate: unknown model refused" fails $ts generate --config "$tmp/c.ini" --model nope \
	--out "$tmp/e.safetensors"
t "generate: --out required" fails g --seed 1
t "generate: bad --degrees refused" fails g --degrees 1,x --out "$tmp/f.safetensors"
t "generate: degree 3 is not allowed (4 heads)" fails g --degrees 3 --out "$tmp/f.safetensors"

t "profile: degrees 1,2, batches 1,2" sh -c "$ts profile --config '$tmp/c.ini' \
	--model dit-s-64 --degrees 1,2 --batches 1,2 --warmup 1 --repeats 3 --out '$tmp/p.csv' \
	> '$tmp/prof.txt'"
t "profile: header and four rows" sh -c "head -1 '$tmp/p.csv' | grep -qx 'model,width,height,degree,batch,step_s' && [ \$(wc -l < '$tmp/p.csv') -eq 5 ]"
t "profile: prints median and CV" grep -q "median_ms *cv_%" "$tmp/prof.txt"
awk -v p="$tmp/p.csv" '{ print } $0 == "[model dit-s-64]" { print "profile = " p }' \
	"$tmp/c.ini" > "$tmp/cp.ini"
t "profile: the CSV plans a request" $ts generate --config "$tmp/cp.ini" --model dit-s-64 \
	--steps 4 --out "$tmp/g.safetensors"
t "profile: bad --sizes refused" fails $ts profile --config "$tmp/c.ini" --model dit-s-64 \
	--sizes 64 --out "$tmp/q.csv"
# a decoder named by the model: the golden SD VAE case (4 latent channels, x2 upsampling)
vae=$(pwd)/tests/data/golden/sd_vae_decoder/a.safetensors
awk '{ print } $0 == "[model dit-s-64]" { print "decoder = vae" }' "$tmp/c.ini" > "$tmp/cd.ini"
printf '\n[model vae]\nmodule = vae3d\nweights = %s\n' "$vae" >> "$tmp/cd.ini"
t "generate: with a decoder" sh -c "$ts generate --config '$tmp/cd.ini' --model dit-s-64 \
	--steps 3 --seed 2 --out '$tmp/img.safetensors' > '$tmp/img.txt'"
t "generate: the image is a 16x16 PNG next to the latent" sh -c "grep -q '(16x16)' '$tmp/img.txt' && head -c 4 '$tmp/img.png' | od -c | grep -q 'P   N   G'"
echo "1..$n"
