/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/test_dit_golden.c - every golden DiT case (tests/data/golden/dit,
 * copied from ../shared/golden/dit, and tests/data/dit) through `tetriserve
 * run-case` at every degree up to 4 the case's head count allows: each output
 * the file has, final and intermediate, within relative L2 and max error 1e-4.
 */
#include <sys/wait.h>

#include "ditest.h"
#include "model/mgolden.h"

/*
 * Upstream's cases, then ours from tests/dit/make_cases.py (patch 4 with 9
 * padded tokens and learn_sigma off; an input not a multiple of the patch,
 * 3 channels, no null class).
 */
static const char *const cases[] = {
	DT_GOLDEN "/a", DT_GOLDEN "/b", "tests/data/dit/c", "tests/data/dit/d",
};

/* Heads of a case, from its metadata config (the degree must divide them). */
static int case_heads(struct ts_st *st)
{
	const char *cfg = ts_st_meta(st, "config");
	const char *p = cfg ? strstr(cfg, "\"num_heads\":") : NULL;

	return p ? atoi(p + strlen("\"num_heads\":")) : 0;
}

static void check_case(const char *name)
{
	char in[PATH_MAX];
	struct ts_st *gold;
	int heads;

	snprintf(in, sizeof(in), "%s.safetensors", name);
	if (!ok(ts_st_open(in, &gold) == 0, "open golden case %s", in))
		return;
	heads = case_heads(gold);
	ok(heads > 0, "case %s names its heads (%d)", name, heads);
	for (int k = 1; k <= 4; k++)
		if (heads % k == 0)
			mt_golden_degree(name, in, gold, k);
	ts_st_close(gold);
}

/* A degree that does not divide the heads is refused, with the reason. */
static void check_refused(void)
{
	char in[PATH_MAX], out[2 * PATH_MAX], cmd[8 * PATH_MAX];

	snprintf(in, sizeof(in), "%s/b.safetensors", DT_GOLDEN);
	snprintf(out, sizeof(out), "%s/refused.safetensors", mt_tmp);
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case '%s' --out '%s' --degree 4 2>'%s/err'",
		 mt_builddir, in, out, mt_tmp);
	ok(system(cmd) != 0 && access(out, F_OK) != 0, "degree 4 with 6 heads is refused");
	snprintf(cmd, sizeof(cmd), "grep -q 'must divide num_heads 6' '%s/err'", mt_tmp);
	ok(system(cmd) == 0, "the refusal says the degree must divide the heads");
}

/* Command-line mistakes: usage (status 2) or a named error (status 1), no output file. */
static void check_cli(void)
{
	char cmd[8 * PATH_MAX], out[2 * PATH_MAX];

	snprintf(out, sizeof(out), "%s/cli.safetensors", mt_tmp);
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case %s/a.safetensors >/dev/null 2>&1",
		 mt_builddir, DT_GOLDEN);
	ok(WEXITSTATUS(system(cmd)) == 2, "run-case without --out prints its usage");
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case %s/a.safetensors --out '%s' "
		 "--degree 0 >/dev/null 2>&1", mt_builddir, DT_GOLDEN, out);
	ok(WEXITSTATUS(system(cmd)) == 2, "--degree 0 prints the usage");
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case '%s/none.safetensors' --out '%s' "
		 "2>'%s/err'", mt_builddir, mt_tmp, out, mt_tmp);
	ok(WEXITSTATUS(system(cmd)) == 1 && access(out, F_OK) != 0, "a missing case file fails");
	snprintf(cmd, sizeof(cmd), "grep -q 'none.safetensors' '%s/err'", mt_tmp);
	ok(system(cmd) == 0, "the error names the file");
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case %s/a.safetensors --out '%s' "
		 "--backend nosuch 2>'%s/err'", mt_builddir, DT_GOLDEN, out, mt_tmp);
	ok(WEXITSTATUS(system(cmd)) == 1 && access(out, F_OK) != 0, "an unknown backend fails");
	snprintf(cmd, sizeof(cmd), "grep -q \"unknown backend 'nosuch'\" '%s/err'", mt_tmp);
	ok(system(cmd) == 0, "the error names the backend");
}

int main(int argc, char **argv)
{
	dt_init(argv[0]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i]);
	check_refused();
	check_cli();
	return tap_done();
}
