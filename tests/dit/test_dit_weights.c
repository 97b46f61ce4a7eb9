/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/test_dit_weights.c - weight files: bad ones are refused with a
 * message naming the file and the key (missing key, wrong shape, wrong
 * dtype, truncated file), and good ones load in every accepted form (the
 * diffusers key layout, F16 and BF16) and compute the golden outputs.
 */
#include "ditest.h"

static char src[] = DT_GOLDEN "/a.safetensors";

static const char *const arch[] = {
	"input_size=8", "patch_size=2", "hidden_size=64", "depth=2", "num_heads=4",
	"num_classes=10", NULL,
};

/* Configure golden a's architecture over @file and load it on one device. */
static int try_load(const char *file, const char *layout)
{
	char w[PATH_MAX + 16], l[64];
	const char *kv[16];
	struct mt_rig r;
	int n = 0, err;

	snprintf(w, sizeof(w), "weights=%s", file);
	snprintf(l, sizeof(l), "layout=%s", layout);
	kv[n++] = w;
	kv[n++] = l;
	for (int i = 0; arch[i]; i++)
		kv[n++] = arch[i];
	kv[n] = NULL;
	err = dt_rig_open(&r, 1, kv);
	mt_rig_close(&r);
	return err;
}

static int drop_key(struct ts_tensor *t, void *arg)
{
	return strcmp(t->name, arg) != 0;
}

static int halve_shape(struct ts_tensor *t, void *arg)
{
	if (!strcmp(t->name, arg))
		t->shape[1] /= 2;
	return 1;
}

static int make_i32(struct ts_tensor *t, void *arg)
{
	if (!strcmp(t->name, arg))
		t->dtype = TS_I32; /* same width: only the declared type is wrong */
	return 1;
}

/* Expect a refusal whose message names @file and @key. */
static void refused(const char *what, const char *file, const char *key)
{
	int err;

	mt_capture();
	err = try_load(file, "auto");
	mt_release();
	ok(err != 0, "%s: refused", what);
	ok(mt_logged(file) && mt_logged(key), "%s: the message names the file and '%s'", what,
	   key);
	if (!mt_logged(file) || !mt_logged(key))
		tap_diag("log was: %s", mt_log);
}

static void bad_files(void)
{
	char path[PATH_MAX + 32];
	FILE *in, *out;
	char buf[1 << 16];
	size_t n, total = 0, keep;
	long size;

	mt_path(path, sizeof(path), "missing.safetensors");
	ok(!dt_rewrite(src, path, drop_key, "blocks.1.mlp.fc2.weight"), "write a file without a key");
	refused("missing key", path, "blocks.1.mlp.fc2.weight");

	mt_path(path, sizeof(path), "shape.safetensors");
	ok(!dt_rewrite(src, path, halve_shape, "blocks.0.attn.proj.weight"), "write a bad shape");
	refused("wrong shape", path, "blocks.0.attn.proj.weight");

	mt_path(path, sizeof(path), "dtype.safetensors");
	ok(!dt_rewrite(src, path, make_i32, "t_embedder.mlp.0.bias"), "write a bad dtype");
	refused("wrong dtype", path, "t_embedder.mlp.0.bias");

	/* the last tensor in the data section is the label table (keys are sorted) */
	mt_path(path, sizeof(path), "truncated.safetensors");
	in = fopen(src, "rb");
	out = fopen(path, "wb");
	fseek(in, 0, SEEK_END);
	size = ftell(in);
	rewind(in);
	keep = (size_t)size - 100;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0 && total < keep) {
		n = n < keep - total ? n : keep - total;
		total += fwrite(buf, 1, n, out);
	}
	fclose(in);
	fclose(out);
	refused("truncated file", path, "y_embedder.embedding_table.weight");
}

/* Rename to diffusers' DiTTransformer2DModel keys, splitting qkv into to_q/to_k/to_v. */
struct to_diffusers {
	struct ts_tensor extra[64];
	int n_extra;
};

static const char *const renames[][2] = {
	{ "x_embedder.proj.", "pos_embed.proj." },
	{ "final_layer.adaLN_modulation.1.", "proj_out_1." },
	{ "final_layer.linear.", "proj_out_2." },
	{ "t_embedder.mlp.0.", "transformer_blocks.0.norm1.emb.timestep_embedder.linear_1." },
	{ "t_embedder.mlp.2.", "transformer_blocks.0.norm1.emb.timestep_embedder.linear_2." },
	{ "y_embedder.embedding_table.", "transformer_blocks.0.norm1.emb.class_embedder.embedding_table." },
	{ "adaLN_modulation.1.", "norm1.linear." },
	{ "attn.proj.", "attn1.to_out.0." },
	{ "mlp.fc1.", "ff.net.0.proj." },
	{ "mlp.fc2.", "ff.net.2." },
};

static char *renamed(const char *name)
{
	char out[160], rest[160];
	int blk;

	if (sscanf(name, "blocks.%d.%159s", &blk, rest) == 2) {
		for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++) {
			size_t n = strlen(renames[i][0]);

			if (!strncmp(rest, renames[i][0], n)) {
				snprintf(out, sizeof(out), "transformer_blocks.%d.%s%s", blk,
					 renames[i][1], rest + n);
				return strdup(out);
			}
		}
		return NULL;
	}
	for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++) {
		size_t n = strlen(renames[i][0]);

		if (!strncmp(name, renames[i][0], n)) {
			snprintf(out, sizeof(out), "%s%s", renames[i][1], name + n);
			return strdup(out);
		}
	}
	return NULL;
}

static char *names_to_free[512];
static int n_names;

static int diffusers_edit(struct ts_tensor *t, void *arg)
{
	char *name;

	if (!strncmp(t->name, "input.", 6) || !strncmp(t->name, "output.", 7))
		return 1;
	if (!strcmp(t->name, "pos_embed"))
		return 0; /* diffusers recomputes it (a non-persistent buffer) */
	if (strstr(t->name, ".attn.qkv.")) {
		struct to_diffusers *d = arg;
		int blk = atoi(t->name + strlen("blocks."));
		const char *kind = strstr(t->name, "weight") ? "weight" : "bias";
		static const char *const qkv[3] = { "to_q", "to_k", "to_v" };
		int64_t third = ts_tensor_numel(t) / 3;

		for (int j = 0; j < 3; j++) {
			struct ts_tensor *x = &d->extra[d->n_extra++];
			char nm[128];

			*x = *t;
			x->shape[0] /= 3;
			/* a copy: the source mapping closes before the final write */
			x->data = malloc(sizeof(float) * (size_t)third);
			memcpy(x->data, (float *)t->data + j * third, sizeof(float) * (size_t)third);
			snprintf(nm, sizeof(nm), "transformer_blocks.%d.attn1.%s.%s", blk, qkv[j],
				 kind);
			x->name = names_to_free[n_names++] = strdup(nm);
		}
		return 0;
	}
	name = renamed(t->name);
	if (!name)
		return 0;
	t->name = names_to_free[n_names++] = name;
	return 1;
}

/* run-case on @file; 0 when every output of golden a is within @tol. */
static int case_matches(const char *file, double tol, const char *what)
{
	char out[PATH_MAX + 32], cmd[4 * PATH_MAX];
	struct ts_st *gold, *got;
	double worst = INFINITY;

	mt_path(out, sizeof(out), "out.safetensors");
	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case '%s' --out '%s' --degree 2 --threads 1",
		 mt_builddir, file, out);
	if (system(cmd) || ts_st_open(out, &got))
		return ok(0, "%s: run-case", what);
	ts_st_open(src, &gold);
	worst = 0;
	for (int i = 0; i < ts_st_count(gold); i++) {
		struct ts_tensor g, o;
		const char *key = ts_st_key(gold, i);

		if (strncmp(key, "output.", 7))
			continue;
		ts_st_get(gold, key, &g);
		if (ts_st_get(got, key, &o) || ts_tensor_numel(&o) != ts_tensor_numel(&g))
			worst = INFINITY;
		else
			worst = fmax(worst, mt_rel_l2(o.data, g.data, ts_tensor_numel(&g)));
	}
	ts_st_close(gold);
	ts_st_close(got);
	return ok(worst < tol, "%s: every golden output within %g (worst rel L2 %.2e)", what, tol,
		  worst);
}

/*
 * The diffusers layout as one file: renamed tensors first (dt_rewrite), then
 * that file again with the split q/k/v tensors added (ts_st_write takes one
 * array).
 */
static int write_diffusers(const char *path)
{
	struct to_diffusers d = { 0 };
	char tmp[PATH_MAX + 32];
	struct ts_st *st;
	struct ts_tensor *all;
	const char *meta[5];
	int n, err;

	mt_path(tmp, sizeof(tmp), "renamed.safetensors");
	err = dt_rewrite(src, tmp, diffusers_edit, &d);
	if (!err)
		err = ts_st_open(tmp, &st);
	if (err)
		goto free_extra;
	n = ts_st_count(st);
	all = calloc((size_t)(n + d.n_extra), sizeof(*all));
	for (int i = 0; all && i < n; i++) {
		ts_st_get(st, ts_st_key(st, i), &all[i]);
		all[i].name = ts_st_key(st, i);
	}
	if (all)
		memcpy(all + n, d.extra, sizeof(*all) * (size_t)d.n_extra);
	meta[0] = "model";
	meta[1] = ts_st_meta(st, "model");
	meta[2] = "config";
	meta[3] = ts_st_meta(st, "config");
	meta[4] = NULL;
	err = all ? ts_st_write(path, all, n + d.n_extra, meta) : -1;
	free(all);
	ts_st_close(st);
free_extra:
	for (int i = 0; i < d.n_extra; i++)
		free(d.extra[i].data);
	return err;
}

static void layouts(void)
{
	char path[PATH_MAX + 32];

	mt_path(path, sizeof(path), "diffusers.safetensors");
	if (ok(!write_diffusers(path), "golden a in diffusers' key layout")) {
		case_matches(path, 1e-4, "diffusers layout");
		mt_capture();
		ok(try_load(path, "original") != 0 && mt_logged("x_embedder.proj.weight"),
		   "layout=original on a diffusers file names the missing key");
		mt_release();
	}
	for (int i = 0; i < n_names; i++)
		free(names_to_free[i]);
	n_names = 0;
}

/* IEEE half, round to nearest (weights are far from the half range's ends). */
static uint16_t to_f16(float f)
{
	uint32_t x, sign, mant;
	float a = fabsf(f), m;
	int e, he;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	if (a >= 65520.0f)
		return (uint16_t)(sign | 0x7c00);
	if (a < 6.103515625e-05f) /* subnormal: a multiple of 2^-24 */
		return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));
	m = frexpf(a, &e); /* a = m 2^e, m in [0.5, 1) */
	mant = (uint32_t)lrintf((m * 2 - 1) * 1024);
	he = e - 1 + 15;
	if (mant == 1024) {
		mant = 0;
		he++;
	}
	return (uint16_t)(sign | (uint32_t)he << 10 | mant);
}

/* bfloat16: the top half of the float, rounded to nearest even. */
static uint16_t to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* Every weight (not input.* / output.*) stored as @arg's dtype. */
static int narrow(struct ts_tensor *t, void *arg)
{
	enum ts_dtype to = *(enum ts_dtype *)arg;
	int64_t n = ts_tensor_numel(t);
	uint16_t *h;

	if (!strncmp(t->name, "input.", 6) || !strncmp(t->name, "output.", 7))
		return 1;
	h = malloc(sizeof(uint16_t) * (size_t)n);
	for (int64_t i = 0; h && i < n; i++) {
		float v;

		memcpy(&v, (const char *)t->data + 4 * i, 4);
		h[i] = to == TS_BF16 ? to_bf16(v) : to_f16(v);
	}
	t->data = h;
	t->dtype = to;
	return h != NULL;
}

/* Half-precision files load; the outputs move only by the weights' rounding. */
static void half_files(void)
{
	static const struct { enum ts_dtype dt; const char *name; double tol; } kinds[] = {
		{ TS_F16, "f16", 2e-3 }, { TS_BF16, "bf16", 1.5e-2 },
	};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		enum ts_dtype dt = kinds[i].dt;
		char what[32];

		snprintf(what, sizeof(what), "%s weights", kinds[i].name);
		mt_path(path, sizeof(path), "half.safetensors");
		if (ok(!dt_rewrite(src, path, narrow, &dt), "golden a with %s", what))
			case_matches(path, kinds[i].tol, what);
	}
}

int main(int argc, char **argv)
{
	dt_init(argv[0]);
	ts_log_set_level(TS_LOG_WARN);
	bad_files();
	layouts();
	half_files();
	return tap_done();
}
