/* SPDX-License-Identifier: MIT */
/*
 * core/cmd_run_case.c - `tetriserve run-case FILE --out OUT [--degree K]`:
 * evaluate a golden case (../shared/golden/README.md: weights under upstream
 * keys, input.* tensors, the config in the metadata) with the module its
 * metadata names, and write every output.* the module computes to OUT.
 *
 * The case's config becomes a synthetic [model case] section: every config
 * key the module's schema knows is set (nested objects are flattened one
 * level, arrays become comma lists), `weights` points at the case file, and
 * the section is validated like one from an ini file. With --degree K the
 * case runs SPMD on K CPU virtual devices over one communicator, as a
 * sequence-parallel step would.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <config.h> /* TS_HAVE_JANSSON (build/config.h) */
#ifdef TS_HAVE_JANSSON
#include <jansson.h>
#endif

#include "backend.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "safetensors.h"

#define WHO "run-case"
#define RC_MAX_OUT 256

struct rc_opts {
	const char *in, *out, *module_path, *backend;
	int degree, threads;
};

/* What the case runs with: a model or a decoder, configured from the case. */
struct rc_target {
	const struct ts_model_ops *model;
	const struct ts_decoder_ops *dec;
	void *inst;
};

struct rc_outputs {
	struct ts_tensor t[RC_MAX_OUT];
	int n;
};

struct rc_job {
	const struct rc_target *tg;
	const struct ts_backend_ops *be;
	struct ts_comm *comm;
	struct ts_st *st;
	int degree;
	void **weights;        /* [degree] */
	struct rc_outputs *outs;
};

static void run_case_usage(void)
{
	printf("usage: tetriserve run-case FILE.safetensors --out OUT.safetensors [--degree K]\n"
	       "                              [--threads N] [--backend NAME] [--module-path DIRS]\n\n"
	       "Evaluate a golden case with the module named in its metadata and write the\n"
	       "outputs under the same keys. --degree K runs it sequence-parallel on K devices:\n"
	       "CPU virtual devices (N threads each; default: cores / K), or those of --backend\n"
	       "(e.g. cuda).\n");
}

static int parse_opts(int argc, char **argv, struct rc_opts *o)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "degree", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "module-path", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct rc_opts){ .degree = 1, .backend = "cpu" };
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:k:t:m:b:", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'k': o->degree = atoi(optarg); break;
		case 't': o->threads = atoi(optarg); break;
		case 'm': o->module_path = optarg; break;
		case 'b': o->backend = optarg; break;
		default: return TS_EINVAL;
		}
	}
	if (optind != argc - 1 || !o->out || o->degree < 1 || o->degree > 64 || o->threads < 0) {
		ts_err(WHO, "need one case file, --out, and 1 <= --degree <= 64");
		return TS_EINVAL;
	}
	o->in = argv[optind];
	return 0;
}

/* 1 when some folder of the module path has NAME.so. */
static int module_file_exists(const char *name)
{
	char *path = strdup(ts_loader_path()), *dir, *save = NULL, file[PATH_MAX];
	int found = 0;

	for (dir = path ? strtok_r(path, ":", &save) : NULL; dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/%s.so", dir, name);
		found = access(file, R_OK) == 0;
	}
	free(path);
	return found;
}

static void lookup(const char *name, struct rc_target *tg)
{
	tg->model = ts_find_model(name);
	tg->dec = tg->model ? NULL : ts_find_decoder(name);
}

static int find_target(const char *name, struct rc_target *tg)
{
	struct ts_module *mod;

	lookup(name, tg);
	if (!tg->model && !tg->dec && module_file_exists(name) && !ts_module_load(name, &mod))
		lookup(name, tg);
	if (!tg->model && !tg->dec) {
		/* the module file may be named differently from the kind it registers */
		ts_module_load_path();
		lookup(name, tg);
	}
	if (!tg->model && !tg->dec) {
		ts_err(WHO, "no module in %s registers a model or decoder '%s'", ts_loader_path(),
		       name);
		return TS_ENOENT;
	}
	return 0;
}

static const struct ts_key *find_key(const struct ts_key *keys, const char *name)
{
	for (; keys && keys->name; keys++)
		if (!strcmp(keys->name, name))
			return keys;
	return NULL;
}

#ifdef TS_HAVE_JANSSON
/* A JSON scalar, or an array of scalars ("1,2,2"), as ini text; 0 or TS_EINVAL. */
static int json_text(json_t *v, char *buf, size_t n)
{
	char item[64];
	size_t i, used = 0;
	json_t *e;

	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
	else if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (!json_is_array(v))
		return TS_EINVAL;
	if (!json_is_array(v))
		return 0;
	buf[0] = '\0';
	json_array_foreach(v, i, e) {
		if (json_is_array(e) || json_text(e, item, sizeof(item)))
			return TS_EINVAL;
		used += snprintf(buf + used, used < n ? n - used : 0, "%s%s", i ? "," : "", item);
		if (used >= n)
			return TS_EINVAL;
	}
	return 0;
}

static int set_json_keys(struct ts_section *sec, const struct ts_key *keys, json_t *obj,
			 int depth)
{
	const char *k;
	json_t *v;
	char text[1024];

	json_object_foreach(obj, k, v) {
		if (json_is_object(v) && depth == 0) {
			if (set_json_keys(sec, keys, v, 1))
				return TS_EINVAL;
			continue;
		}
		if (!find_key(keys, k) || !strcmp(k, "weights"))
			continue; /* e.g. batch, num_patches: facts of the case, not settings */
		if (json_text(v, text, sizeof(text)))
			continue;
		if (ts_section_set(sec, k, text, "case config"))
			return TS_EINVAL;
	}
	return 0;
}

static int section_from_case(struct ts_st *st, const struct ts_key *keys,
			     struct ts_section *sec)
{
	const char *text = ts_st_meta(st, "config");
	json_error_t jerr;
	json_t *cfg;
	int err;

	if (!text) {
		ts_err(WHO, "%s: no 'config' in the metadata", ts_st_path(st));
		return TS_EFORMAT;
	}
	cfg = json_loads(text, 0, &jerr);
	if (!cfg || !json_is_object(cfg)) {
		ts_err(WHO, "%s: metadata 'config' is not a JSON object: %s", ts_st_path(st),
		       jerr.text);
		json_decref(cfg);
		return TS_EFORMAT;
	}
	err = set_json_keys(sec, keys, cfg, 0);
	json_decref(cfg);
	return err;
}
#else
static int section_from_case(struct ts_st *st, const struct ts_key *keys,
			     struct ts_section *sec)
{
	ts_err(WHO, "%s: reading the case config needs jansson (not found by ./configure)",
	       ts_st_path(st));
	return TS_ENOTSUP;
}
#endif

static int configure_target(struct rc_target *tg, struct ts_st *st, struct ts_config **cfg_out)
{
	const struct ts_key *keys = tg->model ? tg->model->keys : tg->dec->keys;
	struct ts_config *cfg = ts_config_new();
	struct ts_section *sec;
	char path[PATH_MAX];
	int err;

	if (!cfg)
		return TS_ENOMEM;
	*cfg_out = cfg;
	sec = ts_config_section_get(cfg, "model case");
	if (!sec)
		return TS_ENOMEM;
	if (!realpath(ts_st_path(st), path))
		snprintf(path, sizeof(path), "%s", ts_st_path(st));
	if (find_key(keys, "weights") && ts_section_set(sec, "weights", path, "case file"))
		return TS_EINVAL;
	err = section_from_case(st, keys, sec);
	if (!err)
		err = ts_section_validate(sec, keys, NULL);
	if (err)
		return err;
	if (tg->model)
		return tg->model->configure(ts_host_api(), sec, &tg->inst);
	return tg->dec->configure(ts_host_api(), sec, &tg->inst);
}

/* Rank 0 keeps a copy of each output (the module's buffer lives only during the call). */
static int keep_output(void *arg, const struct ts_tensor *t)
{
	struct rc_outputs *o = arg;
	struct ts_tensor *k;
	size_t bytes = (size_t)ts_tensor_numel(t) * ts_dtype_size(t->dtype);

	if (o->n == RC_MAX_OUT || !t->name) {
		ts_err(WHO, "more than %d outputs, or one without a name", RC_MAX_OUT);
		return TS_ERANGE;
	}
	k = &o->t[o->n];
	*k = *t;
	k->name = strdup(t->name);
	k->data = malloc(bytes ? bytes : 1);
	if (!k->name || !k->data) {
		free((void *)k->name);
		free(k->data);
		return TS_ENOMEM;
	}
	memcpy(k->data, t->data, bytes);
	o->n++;
	return 0;
}

static int rank_main(struct ts_dev *dev, int rank, void *arg)
{
	struct rc_job *j = arg;
	const struct rc_target *tg = j->tg;
	const struct ts_host *host = ts_host_api();
	struct ts_step_ctx ctx = {
		.host = host, .dev = dev, .ops = j->be->ops(dev), .comm = j->comm,
		.coll = j->be->coll, .rank = rank, .degree = j->degree, .model = tg->inst,
	};
	int err;

	err = tg->model ? tg->model->load(tg->inst, dev, &j->weights[rank])
			: tg->dec->load(tg->inst, dev, &j->weights[rank]);
	if (err)
		return err;
	ctx.weights = j->weights[rank];
	if (tg->dec)
		return tg->dec->run_case(tg->inst, dev, ctx.weights, j->st, keep_output, j->outs);
	return tg->model->run_case(&ctx, j->st, rank == 0 ? keep_output : NULL, j->outs);
}

static int check_run_case(const struct rc_target *tg, int degree)
{
	if (tg->model && !TS_ABI_HAS(tg->model, struct ts_model_ops, run_case))
		goto none;
	if (tg->model && !tg->model->run_case)
		goto none;
	if (tg->dec && (!TS_ABI_HAS(tg->dec, struct ts_decoder_ops, run_case) ||
			!tg->dec->run_case))
		goto none;
	if (tg->dec && degree != 1) {
		ts_err(WHO, "decoder '%s' runs on one device: --degree must be 1", tg->dec->name);
		return TS_EINVAL;
	}
	return 0;
none:
	ts_err(WHO, "'%s' cannot evaluate reference cases (no run_case)",
	       tg->model ? tg->model->name : tg->dec->name);
	return TS_ENOTSUP;
}

static void unload_all(struct rc_job *j, struct ts_backend *be)
{
	for (int r = 0; r < j->degree; r++) {
		if (!j->weights[r])
			continue;
		if (j->tg->model)
			j->tg->model->unload(j->tg->inst, j->be->device(be, r), j->weights[r]);
		else
			j->tg->dec->unload(j->tg->inst, j->be->device(be, r), j->weights[r]);
	}
}

/* Open K devices of the backend and a communicator over them, run the case, tear down. */
static int run_on_devices(struct rc_job *j, const struct rc_opts *o)
{
	struct ts_backend *be;
	struct ts_dev *devs[64];
	size_t comm_bytes;
	int err;

	err = ts_backend_open(o->backend, ts_host_api(), o->degree, o->threads, &j->be, &be);
	if (err)
		return err;
	if (j->be->device_count(be) < o->degree) {
		ts_err(WHO, "backend %s has %d devices, --degree %d needs more", o->backend,
		       j->be->device_count(be), o->degree);
		err = TS_ENODEV;
		goto close_backend;
	}
	for (int r = 0; r < o->degree; r++)
		devs[r] = j->be->device(be, r);
	err = j->be->comm_create(be, devs, o->degree, &j->comm, &comm_bytes);
	if (err)
		goto close_backend;
	err = ts_backend_run_spmd(devs, o->degree, rank_main, j);
	unload_all(j, be);
	j->be->comm_destroy(j->comm);
close_backend:
	j->be->destroy(be);
	return err;
}

static int write_outputs(const struct rc_opts *o, struct ts_st *st, const struct rc_outputs *outs)
{
	char degree[16];
	const char *model = ts_st_meta(st, "model"), *kase = ts_st_meta(st, "case");
	const char *meta[] = { "model", model ? model : "", "case", kase ? kase : "",
			       "degree", degree, NULL };

	snprintf(degree, sizeof(degree), "%d", o->degree);
	if (!outs->n) {
		ts_err(WHO, "%s: the module computed no outputs", o->in);
		return TS_ENOENT;
	}
	return ts_st_write(o->out, outs->t, outs->n, meta);
}

static int run_case(const struct rc_opts *o, struct ts_st *st, struct rc_outputs *outs)
{
	const char *name = ts_st_meta(st, "model");
	struct rc_target tg = { 0 };
	struct ts_config *cfg = NULL;
	void *weights[64] = { 0 };
	struct rc_job j = { .tg = &tg, .st = st, .degree = o->degree, .weights = weights,
			    .outs = outs };
	int err;

	if (!name) {
		ts_err(WHO, "%s: no 'model' in the metadata", o->in);
		return TS_EFORMAT;
	}
	err = find_target(name, &tg);
	if (!err)
		err = check_run_case(&tg, o->degree);
	if (!err)
		err = configure_target(&tg, st, &cfg);
	if (!err)
		err = run_on_devices(&j, o);
	if (tg.inst)
		tg.model ? tg.model->release(tg.inst) : tg.dec->release(tg.inst);
	ts_config_free(cfg);
	if (!err)
		err = write_outputs(o, st, outs);
	return err;
}

static int run_case_main(int argc, char **argv)
{
	struct rc_outputs *outs;
	struct rc_opts o;
	struct ts_st *st;
	int err;

	if (parse_opts(argc, argv, &o)) {
		run_case_usage();
		return 2;
	}
	if (o.module_path)
		ts_loader_set_path(o.module_path);
	outs = calloc(1, sizeof(*outs));
	if (!outs)
		return 1;
	err = ts_st_open(o.in, &st);
	if (!err) {
		err = run_case(&o, st, outs);
		ts_st_close(st);
	}
	for (int i = 0; i < outs->n; i++) {
		free((void *)outs->t[i].name);
		free(outs->t[i].data);
	}
	free(outs);
	ts_module_unload_all();
	if (err)
		ts_err(WHO, "%s: %s", o.in, ts_strerror(err));
	return err ? 1 : 0;
}

const struct ts_cmd ts_cmd_run_case = {
	.name = "run-case",
	.summary = "evaluate a golden reference case (optionally sequence-parallel)",
	.run = run_case_main,
	.usage = run_case_usage,
};
