#!/bin/sh
# tests/host-cli.test.sh - the host's part of the command line: --help,
# --version, help CMD, and `tetriserve modules` (default path, --config with
# a module_path relative to the ini, a refused config, a refused module).
set -u
cd "$(dirname "$0")/.."
BUILDDIR=${BUILDDIR:-build}
bd=$(cd "$BUILDDIR" && pwd)
ts="$bd/tetriserve"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

result() { # status, description
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

"$ts" --help > "$tmp/help" 2>&1
[ $? -eq 0 ] && grep -q '^  modules ' "$tmp/help"
result $? "--help lists the modules command"

"$ts" > /dev/null 2>&1
[ $? -eq 2 ]
result $? "no command: usage, exit 2"

"$ts" frobnicate > "$tmp/unk" 2>&1
[ $? -eq 2 ] && grep -q "unknown command 'frobnicate'" "$tmp/unk"
result $? "unknown command named, exit 2"

major=$(sed -n 's/^#define TS_ABI_MAJOR \([0-9]*\)$/\1/p' include/tetri/abi.h)
minor=$(sed -n 's/^#define TS_ABI_MINOR \([0-9]*\)$/\1/p' include/tetri/abi.h)
"$ts" --version > "$tmp/ver" 2>&1
[ $? -eq 0 ] && grep -q "^tetriserve [0-9.]* (ABI $major.$minor)$" "$tmp/ver" &&
	grep -q "^module ABI signature: tetri-abi/$major ptr" "$tmp/ver"
result $? "--version gives the ABI version of include/tetri/abi.h and the signature"

"$ts" help modules > "$tmp/hm" 2>&1 && grep -q '^usage: tetriserve modules' "$tmp/hm" &&
	"$ts" modules --help | cmp -s - "$tmp/hm"
result $? "help modules = modules --help"

# Default path: the modules/ folder beside the executable.
"$ts" modules > "$tmp/mods" 2>&1
rc=$?
grep -q "^module path: $bd/modules$" "$tmp/mods"
result $? "default module path is \$BUILDDIR/modules"
if [ -f "$bd/modules/fixed.so" ]; then
	[ $rc -eq 0 ] && grep -q '^fixed ' "$tmp/mods" && grep -q 'registers: policy fixed' "$tmp/mods"
	result $? "the tree's modules load and list what they register (exit $rc)"
else
	echo "ok $((n = n + 1)) - tree modules # SKIP no fixed.so in $bd/modules"
fi

# A config's module_path is relative to the ini's folder.
mkdir -p "$tmp/conf/mods"
cp "$bd/tests/fixtures/fx_good.so" "$tmp/conf/mods/"
printf '[server]\nmodule_path = mods\n[scheduler]\npolicy = fx_good\n' > "$tmp/conf/a.ini"
(cd / && "$ts" modules --config "$tmp/conf/a.ini") > "$tmp/conf.out" 2>&1
[ $? -eq 0 ] && grep -q "^module path: $tmp/conf/mods$" "$tmp/conf.out" &&
	grep -q 'registers: model fx_good_model, decoder fx_good_dec, policy fx_good' "$tmp/conf.out"
result $? "--config: module_path resolved against the ini's folder"

printf '[server]\nmodule_path = mods\nqueue_limit = lots\n[pool]\nbogus = 1\n' > "$tmp/conf/b.ini"
"$ts" modules --config "$tmp/conf/b.ini" > "$tmp/bad.out" 2>&1
[ $? -eq 1 ] && grep -q "$tmp/conf/b.ini:3: \[server\] queue_limit: 'lots' is not an integer" "$tmp/bad.out" &&
	grep -q "$tmp/conf/b.ini:5: \[pool\] bogus: unknown key" "$tmp/bad.out" &&
	! grep -q '^fx_good' "$tmp/bad.out"
result $? "a bad config: every error with file:line, nothing loaded, exit 1"

# --config also checks the policy's and the modules' own keys.
cat > "$tmp/conf/c.ini" <<EOF
[server]
module_path = mods
[scheduler]
policy = fx_good
depth = 4
[model m]
module = fx_good
kind = fx_good_model
[model p]
profile = p.csv
EOF
"$ts" modules --config "$tmp/conf/c.ini" > "$tmp/c.out" 2>&1
result $? "--config: policy params and model keys pass their modules' schemas"
cat > "$tmp/conf/d.ini" <<EOF
[server]
module_path = mods
[scheduler]
policy = fx_good
depth = 12
[model m]
module = fx_good
kind = fx_good_model
color = red
[model n]
module = nosuch
[model o]
module = fx_good
kind = fx_nothing
EOF
"$ts" modules --config "$tmp/conf/d.ini" > "$tmp/d.out" 2>&1
[ $? -eq 1 ] && grep -q "d.ini:5: \[scheduler\] depth: 12 is out of range" "$tmp/d.out" &&
	grep -q "d.ini:9: \[model m\] color: unknown key" "$tmp/d.out" &&
	grep -q "d.ini:11: \[model n\] module: cannot load module 'nosuch'" "$tmp/d.out" &&
	grep -q "d.ini:14: \[model o\] kind: module 'fx_good' registers no model or decoder 'fx_nothing'" "$tmp/d.out"
result $? "--config: every schema error of policy and modules named with file:line, exit 1"

"$ts" modules --module-path "$tmp/conf/mods" --keys > "$tmp/keys.out" 2>&1 &&
	grep -q 'policy fx_good keys (\[scheduler\]):' "$tmp/keys.out" &&
	grep -q '^ *depth  *int  *(default 3)$' "$tmp/keys.out" &&
	grep -q 'model fx_good_model keys (\[model NAME\]): none' "$tmp/keys.out"
result $? "--keys lists each registration's config keys"

cp "$bd/tests/fixtures/fx_major.so" "$tmp/conf/mods/"
"$ts" modules --module-path "$tmp/conf/mods" > "$tmp/mixed.out" 2>&1
[ $? -eq 1 ] && grep -q '^fx_good ' "$tmp/mixed.out" &&
	grep -q 'fx_major.so: module built for ABI major 2' "$tmp/mixed.out" &&
	grep -q '1 module or config refused' "$tmp/mixed.out"
result $? "one refused module: the others still listed, the refusal explained, exit 1"

echo "1..$n"
exit $failed
