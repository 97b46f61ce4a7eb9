#!/bin/sh
# tests/gpu/run.sh - the GPU check, one prepared script for a machine with an
# NVIDIA GPU (written for an H200): build the CUDA backend there, compare every
# CUDA op with the CPU backend on fresh random inputs (fp32 storage to 1e-5,
# bf16 to 1e-2; tests/gpu/test_cuda_backend.c), then time GEMM and attention
# against cuBLAS's own rate measured in the same run (tests/gpu/gpu_bench.c).
# Prints a short table last. Meant to finish in under 5 minutes, build included.
#
#   tests/gpu/run.sh [BUILDDIR]      (default build-gpu)
#
# Exits 0 with a message when there is no GPU. Logs go to $OUT when set.
# Where the machine lacks libraries ./configure needs (inih, OpenBLAS,
# pkg-config), fetch their .deb files beforehand with tests/gpu/fetch-debs.sh
# into TS_GPU_DEBS (default .debs/) and carry that folder: they are unpacked
# under /tmp/ts-debs and used from there, never installed.
set -u
cd "$(dirname "$0")/../.." || exit 2
bd=${1:-build-gpu}
logs=${OUT:-$bd}
start=$(date +%s)
say() { printf 'gpu/run.sh [%3ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	say "no NVIDIA GPU here (nvidia-smi finds none): nothing to check"
	exit 0
fi
nvidia-smi -L | sed 's/^/gpu: /'
mkdir -p "$bd" "$logs"

# Libraries carried as .deb files (tests/gpu/fetch-debs.sh): unpack under /tmp
# and point the tools there. pkg-config sees only those .pc files, with the
# unpacked tree as its sysroot, so its -I and -L name the unpacked folders.
debs=${TS_GPU_DEBS:-.debs}
if [ -d "$debs" ] && ls "$debs"/*.deb >/dev/null 2>&1; then
	p=/tmp/ts-debs
	for f in "$debs"/*.deb; do dpkg -x "$f" "$p"; done
	ml=$p/usr/lib/x86_64-linux-gnu
	PATH="$p/usr/bin:$PATH"
	PKG_CONFIG_LIBDIR="$ml/pkgconfig:$ml/openblas-pthread/pkgconfig:$p/usr/share/pkgconfig"
	PKG_CONFIG_SYSROOT_DIR=$p
	LD_LIBRARY_PATH="$ml:$ml/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH
	say "using libraries unpacked from $debs/"
fi

# NCCL from the Python wheel when the toolkit has none: a CUDA home of links.
cuda_home=${CUDA_HOME:-/usr/local/cuda}
if [ ! -e "$cuda_home/include/nccl.h" ] && [ ! -e /usr/include/nccl.h ]; then
	nccl=$(python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null)
	if [ -n "$nccl" ] && [ -e "$nccl/include/nccl.h" ]; then
		h=/tmp/ts-cuda
		rm -rf "$h" && mkdir -p "$h/include" "$h/lib"
		for f in "$cuda_home"/*; do # bin, nvvm, ...: nvcc finds its tools beside it
			case "${f##*/}" in include|lib|lib64) ;; *) ln -s "$f" "$h/" ;; esac
		done
		for f in "$cuda_home"/include/* "$nccl"/include/*; do
			ln -sf "$f" "$h/include/"
		done
		for f in "$cuda_home"/lib64/* "$cuda_home"/lib/* "$nccl"/lib/*; do
			[ -e "$f" ] && ln -sf "$f" "$h/lib/"
		done
		[ -e "$h/lib/libnccl.so" ] || ln -s "$nccl/lib/libnccl.so.2" "$h/lib/libnccl.so"
		cuda_home=$h
		say "NCCL from the Python wheel at $nccl"
	fi
fi

say "configure ($bd)"
if ! ./configure --builddir="$bd" --cuda-home="$cuda_home" > "$logs/configure.log" 2>&1; then
	cat "$logs/configure.log"
	say "FAIL: ./configure failed (missing libraries? see TS_GPU_DEBS above)"
	exit 1
fi
if ! grep -q '^have_cuda = 1' "$bd/config.ninja"; then
	cat "$logs/configure.log"
	say "FAIL: ./configure found no CUDA toolkit with cuBLAS and NCCL under $cuda_home"
	exit 1
fi
say "build"
# Each stage has a time limit, so the whole stays under 5 minutes (about 1 expected).
if ! timeout 120 ninja -f "$bd/build.ninja" -j"$(nproc)" "$bd/backends/cuda.so" \
	"$bd/tests/test_cuda_backend" "$bd/tests/gpu_bench" > "$logs/build.log" 2>&1; then
	tail -n 40 "$logs/build.log"
	say "FAIL: build failed or took over 2 minutes"
	exit 1
fi

say "compare every op with the CPU backend"
timeout 120 "$bd/tests/test_cuda_backend" > "$logs/compare.log" 2>&1
crc=$?
pass=$(grep -c '^ok ' "$logs/compare.log")
fail=$(grep -c '^not ok ' "$logs/compare.log")
grep -E '^not ok|^# ' "$logs/compare.log" | head -n 40

say "time GEMM and attention against cuBLAS"
timeout 50 "$bd/tests/gpu_bench" > "$logs/bench.log" 2>&1
brc=$?
sed '/^op /,$d' "$logs/bench.log" | grep -v '^$' | tail -n 20

echo
echo "== compare: $pass passed, $fail failed (exit $crc; every line in $logs/compare.log)"
grep -E '^(ok|not ok) ' "$logs/compare.log" | grep -E 'attention|gemm m=256' | cut -c1-100
echo "== timing (exit $brc):"
sed -n '/^op /,$p' "$logs/bench.log"
say "done"
[ "$crc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$brc" -eq 0 ]
