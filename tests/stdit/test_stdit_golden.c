/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/test_stdit_golden.c - every STDiT3 case through `tetriserve
 * run-case` at every degree up to 4 the case allows (it divides the heads and
 * leaves each rank a position): each output the file has, final and
 * intermediate, within relative L2 and max error 1e-4. Cases: upstream's a
 * and b (tests/data/golden/stdit3, copied from ../shared/golden/stdit3) and
 * ours c .. g (tests/stdit/make_cases.py: x_mask, no text mask, sizes not a
 * multiple of the patch, one frame, patches (2, 2, 2), (2, 1, 1), (1, 3, 3),
 * qk_norm and pred_sigma off, 6 heads for degree 3).
 */
#include <sys/wait.h>

#include "sttest.h"
#include "model/mgolden.h"

static const char *const cases[] = {
	ST_GOLDEN "/a", ST_GOLDEN "/b", ST_OURS "/c", ST_OURS "/d", ST_OURS "/e", ST_OURS "/f",
	ST_OURS "/g",
};

/* An integer of the case's metadata config ("key": n). */
static long cfg_int(struct ts_st *st, const char *key)
{
	const char *cfg = ts_st_meta(st, "config");
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = cfg ? strstr(cfg, pat) : NULL;
	return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

/* Positions per frame: ceil(H / ph) * ceil(W / pw) from the config and input.x. */
static long case_positions(struct ts_st *st)
{
	const char *cfg = ts_st_meta(st, "config");
	const char *p = cfg ? strstr(cfg, "\"patch_size\": [") : NULL;
	struct ts_tensor x;
	int pt, ph, pw;

	if (!p || sscanf(p, "\"patch_size\": [%d, %d, %d]", &pt, &ph, &pw) != 3 ||
	    ts_st_get(st, "input.x", &x) || x.ndim != 5)
		return 0;
	return (long)((x.shape[3] + ph - 1) / ph) * ((x.shape[4] + pw - 1) / pw);
}

static void check_case(const char *name)
{
	char in[PATH_MAX];
	struct ts_st *gold;
	long heads, S;

	snprintf(in, sizeof(in), "%s.safetensors", name);
	if (!ok(ts_st_open(in, &gold) == 0, "open case %s", in))
		return;
	heads = cfg_int(gold, "num_heads");
	S = case_positions(gold);
	ok(heads > 0 && S > 0, "case %s: %ld heads, %ld positions per frame", name, heads, S);
	for (int k = 1; k <= 4 && heads > 0; k++)
		if (heads % k == 0 && k <= S)
			mt_golden_degree(name, in, gold, k);
	ts_st_close(gold);
}

/* A degree that does not divide the heads is refused, with the reason. */
static void check_refused(void)
{
	char out[2 * PATH_MAX], cmd[8 * PATH_MAX];

	snprintf(out, sizeof(out), "%s/refused.safetensors", mt_tmp);
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case %s/d.safetensors --out '%s' "
		 "--degree 4 --module-path '%s/modules' 2>'%s/err'", mt_builddir, ST_OURS, out,
		 mt_builddir, mt_tmp);
	ok(system(cmd) != 0 && access(out, F_OK) != 0, "degree 4 with 2 heads is refused");
	snprintf(cmd, sizeof(cmd), "grep -q 'must divide num_heads 2' '%s/err'", mt_tmp);
	ok(system(cmd) == 0, "the refusal says the degree must divide the heads");
}

/*
 * Case b rewritten with tensor @key changed by @how ('w': same bytes, half
 * the last dimension; 'd': dropped) must fail without output, logging @expect.
 */
static void check_broken(const char *key, char how, const char *expect, const char *what)
{
	char in[PATH_MAX], out[PATH_MAX], cmd[8 * PATH_MAX];
	struct ts_tensor t[160];
	const char *meta[] = { "model", "stdit3", "config", NULL, NULL };
	struct ts_st *st;
	int n = 0;

	if (!ok(!ts_st_open(ST_GOLDEN "/b.safetensors", &st), "open case b"))
		return;
	meta[3] = ts_st_meta(st, "config");
	for (int i = 0; i < ts_st_count(st) && n < 160; i++) {
		ts_st_get(st, ts_st_key(st, i), &t[n]);
		t[n].name = ts_st_key(st, i);
		if (strcmp(t[n].name, key)) {
			n++;
		} else if (how == 'w') {
			t[n].shape[t[n].ndim - 1] /= 2;
			t[n].shape[t[n].ndim - 2] *= 2;
			n++;
		}
	}
	snprintf(in, sizeof(in), "%.200s/broken.safetensors", mt_tmp);
	snprintf(out, sizeof(out), "%.200s/broken_out.safetensors", mt_tmp);
	ok(!ts_st_write(in, t, n, meta), "write case b with %s %s", key,
	   how == 'w' ? "reshaped" : "dropped");
	ts_st_close(st);
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case '%s' --out '%s' --module-path "
		 "'%s/modules' 2>'%s/err'; grep -qF \"%s\" '%s/err'", mt_builddir, in, out,
		 mt_builddir, mt_tmp, expect, mt_tmp);
	ok(system(cmd) == 0 && access(out, F_OK) != 0, "%s", what);
	unlink(in);
}

static void check_bad_files(void)
{
	check_broken("input.y", 'w', "tensor 'input.y' must be F32",
		     "a caption of the wrong width is refused, naming input.y");
	check_broken("temporal_blocks.1.attn.qkv.weight", 'w',
		     "tensor 'temporal_blocks.1.attn.qkv.weight' has shape [384, 32], expected "
		     "[192, 64]", "a weight of the wrong shape is refused with both shapes");
	check_broken("spatial_blocks.0.cross_attn.kv_linear.bias", 'd',
		     "missing tensor 'spatial_blocks.0.cross_attn.kv_linear.bias'",
		     "a missing weight is refused, naming it");
	check_broken("input.timestep", 'd', "tensor 'input.timestep' is missing",
		     "a missing input is refused, naming it");
}

int main(int argc, char **argv)
{
	st_init(argv[0]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i]);
	check_refused();
	check_bad_files();
	return tap_done();
}
