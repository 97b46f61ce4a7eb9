#!/bin/sh
# tests/examples.test.sh - a module author's path, end to end: build
# examples/hello-policy out of tree against the pkg-config file alone (the
# build's $BUILDDIR/tetri.pc, then an installed one from scripts/install),
# load it with `tetriserve modules`, and check that the same module built
# against a copy of the headers with TS_ABI_MAJOR 2 is refused with a message
# naming both versions.
set -u
cd "$(dirname "$0")/.."
BUILDDIR=${BUILDDIR:-build}
bd=$(cd "$BUILDDIR" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

result() { # status, description
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

# build DIR PKG_CONFIG_PATH: copy the example to DIR and make it there.
build() {
	cp -r examples/hello-policy "$1" &&
	PKG_CONFIG_PATH=$2 make -s -C "$1" > "$1.log" 2>&1 || { sed 's/^/# /' "$1.log"; return 1; }
}

for tool in make pkg-config nm; do
	if ! command -v $tool > /dev/null 2>&1; then
		echo "ok 1 - example module # SKIP $tool not installed"
		echo "1..1"
		exit 0
	fi
done

cflags=$(PKG_CONFIG_PATH=$bd pkg-config --cflags tetri 2>&1 | sed "s/ *$//")
[ "$cflags" = "-I$(pwd)/include" ]
result $? "\$BUILDDIR/tetri.pc gives the in-tree headers ($cflags)"

build "$tmp/ok" "$bd"
result $? "example builds out of tree against pkg-config alone"
[ "$(nm -D --defined-only "$tmp/ok/llf.so" 2>/dev/null | awk '{ print $3 }')" = ts_module_llf_v1 ]
result $? "example exports only ts_module_llf_v1"

"$bd/tetriserve" modules --module-path "$tmp/ok" > "$tmp/ok.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '^llf  *1.0.0  *MIT' "$tmp/ok.out" && grep -q 'registers: policy llf' "$tmp/ok.out"
result $? "tetriserve modules loads it and lists policy llf (exit $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/ok.out"

# The example as the policy of a simulation: found on the config's module_path.
if "$bd/tetriserve" --help | grep -q '^  sim '; then
	cat > "$tmp/ok/sim.ini" <<-EOF
	[server]
	module_path = .
	[pool]
	backend = sim
	devices = 8
	device_kind = H100
	[scheduler]
	policy = llf
	late_last = no
	[model flux1-dev]
	profile = $(pwd)/profiles/flux1-dev-h100x8.csv
	steps = 28
	EOF
	"$bd/tetriserve" sim --config "$tmp/ok/sim.ini" --trace traces/flux-uniform-r12-s1.csv \
		--out "$tmp/sim" --quiet > "$tmp/sim.out" 2>&1 &&
	grep -q '"policy": "llf"' "$tmp/sim/summary.json" &&
	grep -q '"completed": 300' "$tmp/sim/summary.json"
	result $? "llf schedules a 300-request simulation to completion"
else
	echo "ok $((n = n + 1)) - llf in a simulation # SKIP no sim command in this build"
fi

# The same source against ABI major 2 headers, found through their own tetri.pc.
mkdir -p "$tmp/abi2/include"
cp -r include/tetri "$tmp/abi2/include/"
sed -i 's/^#define TS_ABI_MAJOR 1$/#define TS_ABI_MAJOR 2/' "$tmp/abi2/include/tetri/abi.h"
scripts/gen-pc scripts/tetri.pc.in "$tmp/abi2/tetri.pc" "$tmp/abi2/include"
grep -q '^#define TS_ABI_MAJOR 2$' "$tmp/abi2/include/tetri/abi.h" && build "$tmp/v2" "$tmp/abi2"
result $? "example builds against a header copy with TS_ABI_MAJOR 2"
"$bd/tetriserve" modules --module-path "$tmp/v2" > "$tmp/v2.out" 2>&1
rc=$?
[ $rc -eq 1 ] &&
grep -q "$tmp/v2/llf.so: module built for ABI major 2 (ABI 2.0), host has ABI major 1 (ABI 1.0)" \
	"$tmp/v2.out" && ! grep -q 'registers: policy llf' "$tmp/v2.out"
result $? "the ABI 2 build is refused, naming both versions (exit $rc)"
sed 's/^/# /' "$tmp/v2.out" | grep 'ABI major'

scripts/install "$tmp/prefix" > /dev/null &&
	[ -f "$tmp/prefix/include/tetri/tetri.h" ] && build "$tmp/inst" "$tmp/prefix/lib/pkgconfig" &&
	grep -q -- "-I$tmp/prefix/include" "$tmp/inst.log" &&
	"$bd/tetriserve" modules --module-path "$tmp/inst" > /dev/null 2>&1
result $? "scripts/install PREFIX: builds against the installed headers and loads"

echo "1..$n"
exit $failed
