// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_golden.c - every case of the sd_vae_decoder and
 * vae_temporal golden files (tests/data/golden/), and of our own extra cases
 * (tests/data/vae_cases/: other level, block and group counts, up-level
 * attention, single-frame video, 4x time), run through the module's
 * run_case as `tetriserve run-case` does: each final output and every
 * intermediate must be within rel_err_inf 1e-4 of the float64 reference, and
 * every "output.*" tensor of the file must have been produced.
 */
#include <config.h> /* TS_HAVE_JANSSON */
#ifdef TS_HAVE_JANSSON
#include <jansson.h>
#endif

#include "safetensors.h"
#include "vaetest.h"

#define TOL 1e-4

struct gcase {
	struct vaetest *vt;
	struct ts_st *st;
	void *dec, *w;
	const char *file;
	int seen[64];
	int n_out;
	const char *outs[64];
};

static int emit(void *arg, const struct ts_tensor *t)
{
	struct gcase *g = arg;
	struct ts_tensor ref;
	int same = 1;
	double rel;

	for (int i = 0; i < g->n_out; i++)
		if (!strcmp(g->outs[i], t->name))
			g->seen[i] = 1;
	if (ts_st_get(g->st, t->name, &ref)) {
		tap_diag("%s: %s is not in the file (not compared)", g->file, t->name);
		return 0;
	}
	same = ref.ndim == t->ndim && ts_tensor_numel(&ref) == ts_tensor_numel(t);
	for (int i = 0; same && i < t->ndim; i++)
		same = ref.shape[i] == t->shape[i];
	if (!ok(same, "%s: %s has the reference shape", g->file, t->name))
		return 0;
	rel = vaetest_rel_inf(t->data, ref.data, ts_tensor_numel(t));
	ok(rel < TOL, "%s: %s rel_err_inf %.2e < %.0e", g->file, t->name, rel, TOL);
	return 0;
}

static int run(struct ts_dev *dev, void *arg)
{
	struct gcase *g = arg;
	int err = g->vt->ops->load(g->dec, dev, &g->w);

	if (err)
		return err;
	err = g->vt->ops->run_case(g->dec, dev, g->w, g->st, emit, g);
	g->vt->ops->unload(g->dec, dev, g->w);
	return err;
}

/*
 * The case's GroupNorm settings as section keys, as `tetriserve run-case`
 * sets them from the file's config (the keys are named as upstream's).
 */
static void case_keys(struct ts_st *st, char kv[3][64], const char **list)
{
	static const char *const keys[3] = { "groupnorm_groups", "num_groups", "groupnorm_eps" };
	int n = 0;
#ifdef TS_HAVE_JANSSON
	const char *text = ts_st_meta(st, "config");
	json_t *cfg = text ? json_loads(text, 0, NULL) : NULL;

	for (int i = 0; cfg && i < 3; i++) {
		json_t *v = json_object_get(cfg, keys[i]);

		if (json_is_number(v)) {
			snprintf(kv[n], 64, "%s=%.17g", keys[i], json_number_value(v));
			list[n] = kv[n];
			n++;
		}
	}
	json_decref(cfg);
#endif
	list[n] = NULL;
}

static void one_case(struct vaetest *vt, const char *file)
{
	struct gcase g = { .vt = vt, .file = file };
	char wkey[600], ckv[3][64];
	const char *kv[5] = { wkey };
	struct ts_config *cfg = NULL;
	int err;

	snprintf(wkey, sizeof(wkey), "weights=%s", file);
	err = ts_st_open(file, &g.st);
	if (!ok(!err, "%s opens", file))
		return;
	for (int i = 0; i < ts_st_count(g.st) && g.n_out < 64; i++)
		if (!strncmp(ts_st_key(g.st, i), "output.", 7))
			g.outs[g.n_out++] = ts_st_key(g.st, i);
	case_keys(g.st, ckv, kv + 1);
	err = vaetest_configure_v(vt, &cfg, &g.dec, kv);
	if (ok(!err, "%s: decoder configured", file)) {
		err = vaetest_on_dev(vt, run, &g);
		ok(!err, "%s: run_case returns 0 (%s)", file, ts_strerror(err));
		for (int i = 0; i < g.n_out; i++)
			ok(g.seen[i], "%s: %s produced", file, g.outs[i]);
		vt->ops->release(g.dec);
	}
	ts_config_free(cfg);
	ts_st_close(g.st);
}

int main(int argc, char **argv)
{
	size_t n;
	const char *const *files = vaetest_cases(&n);
	struct vaetest vt;
	int err = vaetest_open(&vt, argv[0], 0);

	if (!ok(!err, "vae3d module loaded and a CPU device opened (%s)", ts_strerror(err)))
		return tap_done();
	for (size_t i = 0; i < n; i++)
		one_case(&vt, files[i]);
	vaetest_close(&vt);
	return tap_done();
}
