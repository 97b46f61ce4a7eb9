// SPDX-License-Identifier: MIT
/*
 * tests/gpu/test_cuda_backend.c - the CUDA backend .so: it exports its
 * accessor and nothing else, loads (directly and through the backend
 * registry) with a sound ABI header, and, when a GPU is present, every op
 * of its op table matches the CPU backend's on fresh random inputs (fp32
 * storage to 1e-5, then bf16 to 1e-2), and its NCCL collectives do what
 * NCCL's semantics say. Without a GPU (the backend's create answers
 * TS_ENODEV) it reports one skipped test and succeeds.
 *
 * The .so is found at <this binary's folder>/../backends/cuda.so, or at
 * $TS_CUDA_SO.
 */
#include <dlfcn.h>
#include <elf.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>

#include <cuda_runtime.h>

#include "backend.h"
#include "registry.h"

#include "opcheck.h"

/*
 * A key mask is bytes: each side takes it through its backend's raw byte
 * ops (alloc_bytes, upload_bytes), and reads it back (download_bytes) to
 * check the bytes arrived unchanged.
 */
static int oc_mask_upload(struct oc *oc, const uint8_t *mask, int64_t n, uint8_t *out[2])
{
	uint8_t *back = malloc((size_t)n);
	int rc = back ? 0 : TS_ENOMEM;

	for (int s = 0; s < 2 && !rc; s++) {
		const struct ts_backend_ops *be = oc->side[s].be_ops;
		struct ts_dev *dev = oc->side[s].dev;

		if (!TS_ABI_HAS(be, struct ts_backend_ops, download_bytes) || !be->alloc_bytes ||
		    !be->upload_bytes || !be->download_bytes) {
			rc = TS_ENOTSUP;
			break;
		}
		out[s] = be->alloc_bytes(dev, (size_t)n);
		rc = out[s] ? be->upload_bytes(dev, out[s], mask, (size_t)n) : TS_ENOMEM;
		if (!rc)
			rc = be->download_bytes(dev, back, out[s], (size_t)n);
		if (!rc && memcmp(back, mask, (size_t)n)) {
			tap_diag("side %d: the key mask came back changed", s);
			rc = TS_EDEVICE;
		}
	}
	free(back);
	return rc;
}

static void oc_mask_free(struct oc *oc, uint8_t *m[2])
{
	for (int s = 0; s < 2; s++)
		if (m[s])
			oc->side[s].be_ops->free(oc->side[s].dev, m[s]);
}

#include "collcheck.h"
#include "opcases.h"

/*
 * Under ASan: CUDA's driver maps device memory where ASan's shadow gap is,
 * and the CUDA libraries keep allocations until exit.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
	return "protect_shadow_gap=0";
}

const char *__lsan_default_suppressions(void)
{
	return "leak:libcuda.so\nleak:libcudart.so\nleak:libcublas.so\nleak:libcublasLt.so\n"
	       "leak:libnccl.so\nleak:libnvidia\n";
}

/*
 * Defined global symbols in @path's dynamic symbol table, the first one's
 * name in @first; -1 when the file cannot be read as a 64-bit ELF.
 */
static int exported_symbols(const char *path, char *first, size_t n)
{
	FILE *f = fopen(path, "rb");
	Elf64_Ehdr eh;
	Elf64_Shdr *sh = NULL;
	char *names = NULL;
	int count = -1;

	if (!f || fread(&eh, sizeof(eh), 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
		goto out;
	sh = calloc(eh.e_shnum, sizeof(*sh));
	if (!sh || fseek(f, (long)eh.e_shoff, SEEK_SET) ||
	    fread(sh, sizeof(*sh), eh.e_shnum, f) != eh.e_shnum)
		goto out;
	for (int i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr *str;

		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh.e_shnum)
			continue;
		str = &sh[sh[i].sh_link];
		names = malloc(str->sh_size + 1);
		if (!names || fseek(f, (long)str->sh_offset, SEEK_SET) ||
		    fread(names, 1, str->sh_size, f) != str->sh_size)
			goto out;
		names[str->sh_size] = 0;
		count = 0;
		for (uint64_t j = 0; j < sh[i].sh_size / sizeof(Elf64_Sym); j++) {
			Elf64_Sym sym;

			if (fseek(f, (long)(sh[i].sh_offset + j * sizeof(sym)), SEEK_SET) ||
			    fread(&sym, sizeof(sym), 1, f) != 1 || sym.st_name >= str->sh_size) {
				count = -1;
				goto out;
			}
			if (sym.st_shndx == SHN_UNDEF || ELF64_ST_BIND(sym.st_info) == STB_LOCAL ||
			    ELF64_ST_VISIBILITY(sym.st_other) != STV_DEFAULT)
				continue;
			if (count++ == 0)
				snprintf(first, n, "%s", names + sym.st_name);
		}
		break;
	}
out:
	free(names);
	free(sh);
	if (f)
		fclose(f);
	return count;
}

static void so_path(char *out, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len;

	if (getenv("TS_CUDA_SO")) {
		snprintf(out, n, "%s", getenv("TS_CUDA_SO"));
		return;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = 0;
	snprintf(out, n, "%s/../backends/cuda.so", dirname(exe));
}

/*
 * One comparison with the GPU storing @dtype ("f32" or "bf16") and using the
 * bf16 attention kernel @attn: every op and the collectives, or (@attn_only)
 * the attention cases alone, for the kernels that are not the default.
 */
static void compare_dtype(const struct ts_backend_ops *cuda, const struct ts_backend_ops *cpu,
			  struct ts_backend *cpu_be, const char *dtype, const char *attn,
			  int attn_only)
{
	char tag[32];
	struct oc oc = { 0 };
	int rc;

	setenv("TS_CUDA_DTYPE", dtype, 1);
	setenv("TS_CUDA_ATTN", attn, 1);
	rc = cuda->create(ts_host_api(), -1, &oc.side[1].be);
	if (!ok(rc == 0, "cuda backend opens with TS_CUDA_DTYPE=%s", dtype))
		return;
	oc.side[0] = (struct oc_side){ cpu, cpu_be, cpu->device(cpu_be, 0), NULL, 4 };
	oc.side[0].ops = cpu->ops(oc.side[0].dev);
	oc.side[1].be_ops = cuda;
	oc.side[1].dev = cuda->device(oc.side[1].be, 0);
	oc.side[1].ops = cuda->ops(oc.side[1].dev);
	oc.bf16 = !strcmp(dtype, "bf16");
	oc.side[1].esz = oc.bf16 ? 2 : 4;
	oc.tol = oc.bf16 ? 1e-2 : 1e-5;
	snprintf(tag, sizeof(tag), "%s%s%s", dtype, attn_only ? "/" : "", attn_only ? attn : "");
	oc.tag = tag;
	ok(oc.side[1].ops->dtype == (oc.bf16 ? TS_BF16 : TS_F32),
	   "%s op table stores %s", tag, ts_dtype_name(oc.side[1].ops->dtype));
	cuda->bind_thread(oc.side[1].dev);
	if (attn_only) {
		run_attention_cases(&oc);
	} else {
		run_op_cases(&oc);
		run_coll_cases(&oc);
	}
	tap_diag("%s: %d comparisons failed", tag, oc.failed);
	cuda->destroy(oc.side[1].be);
}

int main(void)
{
	const struct ts_backend_ops *cuda, *cpu;
	struct ts_backend *be = NULL, *cpu_be;
	ts_backend_accessor_fn fn;
	char path[PATH_MAX + 32];
	void *so;
	int rc;

	so_path(path, sizeof(path));
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		ok(0, "cuda backend: dlopen %s: %s", path, dlerror());
		return tap_done();
	}
	fn = (ts_backend_accessor_fn)dlsym(so, "ts_backend_cuda_v1");
	cuda = fn ? fn() : NULL;
	if (!cuda || cuda->hdr.magic != TS_MAGIC_BACKEND || cuda->hdr.major != TS_ABI_MAJOR ||
	    cuda->hdr.minor > TS_ABI_MINOR || cuda->hdr.size != sizeof(*cuda) ||
	    strcmp(cuda->name, "cuda") || !cuda->coll) {
		ok(0, "cuda backend: accessor ts_backend_cuda_v1 missing or its header is wrong");
		return tap_done();
	}

	/* DESIGN.md §1: the .so exports its accessor and nothing else. */
	{
		char first[128] = "";
		int n = exported_symbols(path, first, sizeof(first));

		if (n != 1 || strcmp(first, "ts_backend_cuda_v1")) {
			ok(0, "cuda backend: %s exports %d symbols (first '%s'), want only "
			   "ts_backend_cuda_v1", path, n, first);
			return tap_done();
		}
	}

	/* The registry's own loader must accept the same file (ABI checks, name). */
	if (!getenv("TS_CUDA_SO")) {
		const struct ts_backend_ops *found = NULL;
		char dir[PATH_MAX + 32];

		snprintf(dir, sizeof(dir), "%s", path);
		ts_backend_set_dir(dirname(dirname(dir)));
		rc = ts_backend_find("cuda", &found);
		if (rc || found != cuda) {
			ok(0, "cuda backend: the registry refuses %s (%s)", path, ts_strerror(rc));
			return tap_done();
		}
	}

	setenv("TS_CUDA_DTYPE", "bf16", 1);
	rc = cuda->create(ts_host_api(), -1, &be);
	if (rc == TS_ENODEV) {
		tap_skip("no GPU", "cuda backend");
		return tap_done();
	}
	if (!ok(rc == 0, "cuda backend opens (%s)", ts_strerror(rc)))
		return tap_done();
	for (int i = 0; i < cuda->device_count(be); i++) {
		struct ts_device_info info;

		cuda->device_info(cuda->device(be, i), &info);
		tap_diag("device %d: %s, %.1f GiB, peak %.0f TFLOP/s (bf16 dense)", i, info.kind,
			 (double)info.mem_bytes / (1 << 30), info.peak_flops / 1e12);
	}
	cuda->destroy(be);

	rc = ts_backend_open("cpu", ts_host_api(), 1, 0, &cpu, &cpu_be);
	if (!ok(rc == 0, "cpu backend opens as the reference (%s)", ts_strerror(rc)))
		return tap_done();
	oc_seed();
	compare_dtype(cuda, cpu, cpu_be, "f32", "fa", 0);
	compare_dtype(cuda, cpu, cpu_be, "bf16", "fa", 0);
	compare_dtype(cuda, cpu, cpu_be, "bf16", "wmma", 1);
	compare_dtype(cuda, cpu, cpu_be, "bf16", "simt", 1);
	cpu->destroy(cpu_be);
	/* cuda.so stays loaded: CUDA's libraries tear down at exit, not at dlclose. */
	return tap_done();
}
