// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_runcase.c - the golden cases through the command line,
 * as the issue asks: `tetriserve run-case FILE --out OUT` finds the decoder
 * the file's metadata names (sd_vae_decoder, vae_temporal) in vae3d.so, and
 * every output.* of the golden file must be in OUT within rel_err_inf 1e-4.
 */
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "vaetest.h"

#define TOL 1e-4

static void compare(const char *golden, const char *out)
{
	struct ts_st *g = NULL, *o = NULL;

	if (!ok(!ts_st_open(golden, &g) && !ts_st_open(out, &o), "%s: output file readable", golden))
		goto close;
	for (int i = 0; i < ts_st_count(g); i++) {
		const char *key = ts_st_key(g, i);
		struct ts_tensor ref, got;
		int same;

		if (strncmp(key, "output.", 7))
			continue;
		if (!ok(!ts_st_get(o, key, &got), "%s: %s written by run-case", golden, key))
			continue;
		ts_st_get(g, key, &ref);
		same = ref.ndim == got.ndim && got.dtype == TS_F32;
		for (int d = 0; same && d < ref.ndim; d++)
			same = ref.shape[d] == got.shape[d];
		if (!ok(same, "%s: %s has the reference shape", golden, key))
			continue;
		ok(vaetest_rel_inf(got.data, ref.data, ts_tensor_numel(&ref)) < TOL,
		   "%s: %s rel_err_inf %.2e < %.0e", golden, key,
		   vaetest_rel_inf(got.data, ref.data, ts_tensor_numel(&ref)), TOL);
	}
close:
	if (g)
		ts_st_close(g);
	if (o)
		ts_st_close(o);
}

int main(int argc, char **argv)
{
	size_t n;
	const char *const *files = vaetest_cases(&n);
	char self[PATH_MAX], *bd, cmd[3 * PATH_MAX], out[PATH_MAX], dir[64], so[PATH_MAX], abs[PATH_MAX];

	snprintf(self, sizeof(self), "%s", argv[0]);
	bd = dirname(dirname(self));
	snprintf(out, sizeof(out), "/tmp/test_vae_runcase.%d.safetensors", (int)getpid());
	/* A module path holding vae3d.so alone: other rooms' modules may be mid-rebuild. */
	snprintf(dir, sizeof(dir), "/tmp/test_vae_runcase.%d", (int)getpid());
	snprintf(so, sizeof(so), "%s/modules/vae3d.so", bd);
	if (!ok(mkdir(dir, 0700) == 0 && realpath(so, abs) &&
		symlink(abs, strcat(strcpy(so, dir), "/vae3d.so")) == 0, "module folder %s", dir))
		return tap_done();
	for (size_t i = 0; i < n; i++) {
		int rc;

		snprintf(cmd, sizeof(cmd), "%s/tetriserve run-case %s --out %s --module-path %s "
			 "--threads 1 2>/dev/null", bd, files[i], out, dir);
		rc = system(cmd);
		if (ok(rc == 0, "tetriserve run-case %s exits 0", files[i]))
			compare(files[i], out);
		unlink(out);
	}
	unlink(so);
	rmdir(dir);
	return tap_done();
}
