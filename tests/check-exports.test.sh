#!/bin/sh
# tests/check-exports.test.sh - every module exports exactly one dynamic
# symbol, its accessor: $BUILDDIR/modules/<name>.so -> ts_module_<name>_v1,
# $BUILDDIR/backends/<name>.so -> ts_backend_<name>_v1 (DESIGN.md §1).
# Anything else exported could collide with the host or another module.
# The check is also run on two loader fixtures: fx_good.so must pass and
# fx_twosym.so (a second exported function) must be caught.
set -u
BUILDDIR=${BUILDDIR:-build}
n=0
failed=0

# check FILE PREFIX: 0 when FILE exports exactly PREFIX<name>_v1; prints why not.
check() {
	file=$1; prefix=$2
	name=$(basename "$file" .so)
	syms=$(nm -D --defined-only "$file" 2>&1 | awk 'NF >= 3 { print $3 }') || {
		echo "# nm failed on $file: $syms"; return 1; }
	want="${prefix}${name}_v1"
	if [ "$syms" = "$want" ]; then
		return 0
	fi
	echo "# $file exports: $(echo $syms | tr '\n' ' ') (want exactly $want)"
	return 1
}

result() { # ok?, description
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

if ! command -v nm >/dev/null 2>&1; then
	echo "ok 1 - exports # SKIP nm not installed"
	echo "1..1"
	exit 0
fi

for dir in modules backends; do
	case $dir in modules) prefix=ts_module_ ;; *) prefix=ts_backend_ ;; esac
	for f in "$BUILDDIR/$dir"/*.so; do
		[ -f "$f" ] || continue
		check "$f" "$prefix"
		result $? "$dir/$(basename "$f") exports only ${prefix}$(basename "$f" .so)_v1"
	done
done

fx="$BUILDDIR/tests/fixtures"
if [ -f "$fx/fx_good.so" ] && [ -f "$fx/fx_twosym.so" ]; then
	check "$fx/fx_good.so" ts_module_ >/dev/null
	result $? "the check passes a one-symbol fixture"
	out=$(check "$fx/fx_twosym.so" ts_module_)
	rc=$?
	[ "$rc" -ne 0 ] && echo "$out" | grep -q fx_twosym_extra
	result $? "the check catches the two-symbol fixture (fx_twosym_extra)"
else
	result 1 "loader fixtures built in $fx"
fi

echo "1..$n"
exit $failed
