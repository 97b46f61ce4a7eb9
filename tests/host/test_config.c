// SPDX-License-Identifier: MIT
/*
 * tests/host/test_config.c - the config: a good file with defaults and
 * resolved paths, then one file per kind of mistake, checking that the
 * message names the file, the line and the key, that every mistake of a
 * file is reported, and that a bad file is refused whole.
 */
#include <stdio.h>
#include <string.h>

#include <tetri/devset.h>
#include <tetri/error.h>

#include "config.h"
#include "tap.h"
#include "util.h"

/* Load @text as @name; 0 or TS_E*; the log is captured. */
static int load(const char *name, const char *text, struct ts_config **cfg)
{
	const char *path = tu_write(name, text);
	int rc;

	tu_capture();
	rc = ts_config_load(path, cfg);
	tu_release();
	return rc;
}

/* A refused file whose log names "<name>:<line>: [<section>] <key>: ...<why>". */
static void refused(const char *name, const char *text, int line, const char *section,
		    const char *key, const char *why)
{
	struct ts_config *cfg = (struct ts_config *)1;
	char where[512];
	int rc = load(name, text, &cfg);

	snprintf(where, sizeof(where), "%s/%s:%d: [%s]%s%s%s", tu_dir, name, line, section,
		 key ? " " : "", key ? key : "", key ? ":" : ":");
	ok(rc == TS_EINVAL && cfg == NULL, "%s: refused (rc %d)", name, rc);
	ok(tu_logged(where), "%s: message names '%s'", name, where + strlen(tu_dir) + 1);
	ok(tu_logged(why), "%s: message says '%s'", name, why);
	if (!tu_logged(where) || !tu_logged(why))
		tap_diag("log was: %s", tu_log);
}

static void test_good(void)
{
	static const char text[] =
		"; a comment\n"
		"[server]\n"
		"queue_limit = 64\n"
		"module_path = mods:/abs/mods\n"
		"\n"
		"[pool]\n"
		"backend = sim   ; inline comment\n"
		"devices = 8\n"
		"  prewarm = 0-3 0,2,3,4\n"
		"topology = 0-3 4-7\n"
		"\n"
		"[scheduler]\n"
		"policy = fixed\n"
		"k = 8\n"
		"\n"
		"[model flux]\n"
		"profile = profiles/flux.csv\n"
		"steps = 28\n"
		"decoder = vae\n"
		"\n"
		"[model vae]\n"
		"module = vae3d\n"
		"weights = /models/vae.safetensors\n";
	static const struct ts_key fixed_params[] = {
		{ .name = "k", .type = TS_KEY_INT, .required = 1, .min = 1, .max = 64 },
		{ .name = "fcfs", .type = TS_KEY_BOOL, .def = "yes" },
		{ .name = NULL },
	};
	struct ts_config *cfg = NULL;
	struct ts_section *srv, *pool, *sched, *flux;
	char want[512];
	int rc = load("good.ini", text, &cfg);

	ok(rc == 0 && cfg, "good config loads (rc %d)", rc);
	if (!cfg) {
		tap_diag("log: %s", tu_log);
		return;
	}
	srv = ts_config_section(cfg, "server");
	pool = ts_config_section(cfg, "pool");
	sched = ts_config_section(cfg, "scheduler");
	flux = ts_config_section(cfg, "model flux");
	ok(srv && pool && sched && flux, "sections found by name");
	ok(ts_cfg_int(srv, "queue_limit") == 64, "queue_limit read");
	ok(!strcmp(ts_cfg_str(srv, "listen"), "127.0.0.1:8080"), "listen default applied");
	ok(!strcmp(ts_cfg_str(srv, "log_level"), "info"), "log_level default applied");
	snprintf(want, sizeof(want), "%s/mods:/abs/mods", tu_dir);
	ok(!strcmp(ts_cfg_str(srv, "module_path"), want), "module_path resolved: %s",
	   ts_cfg_str(srv, "module_path"));
	ok(!strcmp(ts_cfg_str(pool, "backend"), "sim"), "inline comment stripped");
	ok(!strcmp(ts_cfg_str(pool, "prewarm"), "0-3 0,2,3,4"), "indented line read");
	ok(ts_cfg_int(sched, "round_steps") == 5, "round_steps default 5");
	ok(ts_cfg_str(sched, "k") != NULL, "policy key kept for the policy's schema");
	snprintf(want, sizeof(want), "%s/profiles/flux.csv", tu_dir);
	ok(!strcmp(ts_cfg_str(flux, "profile"), want), "relative path resolved against the ini");
	ok(!strcmp(ts_section_kind(flux), "model") && !strcmp(ts_section_instance(flux), "flux"),
	   "kind and instance of [model flux]");
	ok(!strcmp(ts_cfg_str(ts_config_section(cfg, "model vae"), "weights"),
		   "/models/vae.safetensors"), "absolute path kept");

	tu_capture();
	rc = ts_config_check_policy(cfg, fixed_params);
	tu_release();
	ok(rc == 0 && ts_cfg_int(sched, "k") == 8 && ts_cfg_bool(sched, "fcfs") == 1,
	   "policy params validated, defaults applied");
	ok(ts_section_set(sched, "k", "99", "--policy-param k=99") == 0, "override set");
	tu_capture();
	rc = ts_config_check_policy(cfg, fixed_params);
	tu_release();
	ok(rc == TS_EINVAL && tu_logged("--policy-param k=99: [scheduler] k: 99 is out of range"),
	   "override checked, message names its origin");
	ts_config_free(cfg);
}

static void test_policy_schema(void)
{
	static const struct ts_key params[] = {
		{ .name = "k", .type = TS_KEY_INT, .required = 1, .min = 1, .max = 64 },
		{ .name = NULL },
	};
	struct ts_config *cfg = NULL;
	int rc = load("pol.ini", "[scheduler]\npolicy = fixed\nkk = 3\n", &cfg);

	ok(rc == 0, "policy keys are not judged before the policy is known");
	if (!cfg)
		return;
	tu_capture();
	rc = ts_config_check_policy(cfg, params);
	tu_release();
	ok(rc == TS_EINVAL, "policy schema refuses the section");
	ok(tu_logged("pol.ini:3: [scheduler] kk: unknown key (known: policy, round_steps, round_ms, k)"),
	   "unknown policy key named with file and line");
	ok(tu_logged("pol.ini:1: [scheduler] k: required key missing"),
	   "missing required key named at the section's line");
	ts_config_free(cfg);
}

static void test_model_schema(void)
{
	static const struct ts_key keys[] = {
		{ .name = "depth", .type = TS_KEY_INT, .def = "28", .min = 1, .max = 100 },
		{ .name = "sampler", .type = TS_KEY_ENUM, .def = "ddim", .choices = "ddpm|ddim" },
		{ .name = NULL },
	};
	struct ts_config *cfg = NULL;
	struct ts_section *sec;
	int rc = load("model.ini", "[model dit]\nmodule = dit\nsampler = euler\n", &cfg);

	ok(rc == 0 && cfg, "module keys are not judged before the module is known");
	if (!cfg)
		return;
	sec = ts_config_section(cfg, "model dit");
	tu_capture();
	rc = ts_config_check_model(sec, keys);
	tu_release();
	ok(rc == TS_EINVAL && tu_logged("model.ini:3: [model dit] sampler: 'euler' is not one of ddpm|ddim"),
	   "module schema names file, line and key");
	ok(ts_section_set(sec, "sampler", "ddpm", "test") == 0 && ts_config_check_model(sec, keys) == 0,
	   "fixed value accepted");
	ok(ts_cfg_int(sec, "depth") == 28 && ts_cfg_int(sec, "sampler") == 0,
	   "module defaults applied; enum index read");
	ts_config_free(cfg);
}

static void test_errors(void)
{
	struct ts_config *cfg = NULL;
	int rc;

	refused("section.ini", "[server]\nlisten = :1\n\n[bogus]\nx = 1\n", 4, "bogus", NULL,
		"unknown section");
	refused("key.ini", "[pool]\nbackend = cpu\ndevicez = 4\n", 3, "pool", "devicez",
		"unknown key");
	refused("int.ini", "[server]\nqueue_limit = many\n", 2, "server", "queue_limit",
		"'many' is not an integer");
	refused("range.ini", "[server]\nqueue_limit = 0\n", 2, "server", "queue_limit",
		"out of range");
	refused("enum.ini", "[pool]\n\nbackend = tpu\n", 3, "pool", "backend",
		"'tpu' is not one of cpu|cuda|sim");
	refused("float.ini", "[scheduler]\nround_ms = fast\n", 2, "scheduler", "round_ms",
		"not a finite number");
	refused("missing.ini", "[server]\n[model x]\nsteps = 4\n", 2, "model x", "module",
		"required key missing");
	refused("devices.ini", "[pool]\ndevices = lots\n", 2, "pool", "devices",
		"neither a count");
	refused("prewarm.ini", "[pool]\ndevices = 8\nprewarm = 0-3 4-9\n", 3, "pool", "prewarm",
		"device 9 is out of range (devices = 8)");
	refused("devset.ini", "[pool]\nprewarm = 0-3 3-1\n", 2, "pool", "prewarm",
		"is not a list of device sets");
	refused("islands.ini", "[pool]\ndevices = 8\ntopology = 0-3 3-7\n", 3, "pool", "topology",
		"device 3 is in two islands");
	refused("decoder.ini", "[model a]\nmodule = dit\ndecoder = vae\n", 3, "model a", "decoder",
		"no [model vae] section");
	refused("dupkey.ini", "[pool]\nbackend = cpu\nbackend = sim\n", 3, "pool", "backend",
		"duplicate key (first at line 2)");
	refused("round.ini", "[scheduler]\nround_steps = 2\nround_ms = 100\n", 3, "scheduler",
		"round_ms", "choose one");

	rc = load("syntax.ini", "[server]\nlisten\n[pool\n", &cfg);
	ok(rc == TS_EINVAL && tu_logged("syntax.ini:2: expected 'key = value'") &&
	   tu_logged("syntax.ini:3: section header without ']'"), "every syntax error reported");
	rc = load("dupsec.ini", "[pool]\n[server]\n[pool]\n", &cfg);
	ok(rc == TS_EINVAL && tu_logged("dupsec.ini:3: [pool]: duplicate section (first at line 1)"),
	   "duplicate section refused");
	rc = load("dupsec2.ini", "[model x]\nmodule = a\n[ model   x ]\nmodule = b\n", &cfg);
	ok(rc == TS_EINVAL && tu_logged("dupsec2.ini:3: [model x]: duplicate section (first at line 1)"),
	   "the same section written differently is a duplicate too");
	rc = load("outside.ini", "x = 1\n[pool]\n", &cfg);
	ok(rc == TS_EINVAL && tu_logged("outside.ini:1: x: key outside any section"),
	   "key before any section refused");

	rc = load("many.ini", "[server]\nqueue_limit = -1\n[pool]\nbackend = x\nfoo = 1\n[what]\n",
		  &cfg);
	ok(rc == TS_EINVAL && cfg == NULL, "several errors: refused whole");
	ok(tu_log_errors() == 5 && tu_logged("4 errors; config refused"),
	   "all four errors reported, then the verdict (%d lines)", tu_log_errors());

	tu_capture();
	rc = ts_config_load("/nonexistent/x.ini", &cfg);
	tu_release();
	ok(rc == TS_ENOENT && tu_logged("/nonexistent/x.ini: cannot open config"),
	   "missing file named");
}

static void test_empty_and_devsets(void)
{
	struct ts_config *cfg = ts_config_new();
	struct ts_devset *sets;
	int n;

	ok(cfg && !strcmp(ts_cfg_str(ts_config_section(cfg, "pool"), "backend"), "cpu") &&
	   ts_cfg_int(ts_config_section(cfg, "server"), "queue_limit") == 1024,
	   "config without a file has the defaults");
	ts_config_free(cfg);

	ok(ts_devsets_parse("0-3 0,2,3,4  1000", &sets, &n) == 0 && n == 3, "three device sets");
	if (n == 3) {
		ok(ts_devset_count(&sets[0]) == 4 && ts_devset_has(&sets[0], 3) &&
		   !ts_devset_has(&sets[0], 4), "0-3");
		ok(ts_devset_count(&sets[1]) == 4 && !ts_devset_has(&sets[1], 1), "0,2,3,4");
		ok(ts_devset_count(&sets[2]) == 1 && ts_devset_has(&sets[2], 1000),
		   "beyond 64 devices");
	}
	free(sets);
	ok(ts_devsets_parse("0-1024", &sets, &n) == TS_ERANGE, "index past TS_MAX_DEVICES refused");
	ok(ts_devsets_parse("1,,2", &sets, &n) == TS_EINVAL, "empty member refused");
}

static uint32_t fz_state = 777;

static uint32_t fz_next(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 17;
	fz_state ^= fz_state << 5;
	return fz_state;
}

/* Some log line has @file followed by a line number. */
static int names_line(const char *file)
{
	size_t n = strlen(file);

	for (const char *p = tu_log; (p = strstr(p, file)); p += n)
		if (p[n] >= '0' && p[n] <= '9')
			return 1;
	return 0;
}

/* Lines of ini-ish noise: the parser must answer (accept or refuse) and never crash. */
static void test_noise(void)
{
	static const char *const pieces[] = {
		"[", "]", "server", "pool", "model x", "=", " = ", ":", ";", "#", "\n", "\n",
		"devices", "all", "0-3", ",", "-", "backend", "sim", "queue_limit", "99999999999999999999",
		" ", "\t", "prewarm", "topology", "1023", "1024", "module_path", "..", "/", "\"",
	};
	int accepted = 0, refused_n = 0, explained = 0;
	char text[512];

	for (int iter = 0; iter < 300; iter++) {
		struct ts_config *cfg = NULL;
		size_t n = 0;

		text[0] = '\0';
		for (int p = 0; p < 40; p++) {
			const char *piece = pieces[fz_next() % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t l = strlen(piece);

			if (n + l + 1 >= sizeof(text))
				break;
			memcpy(text + n, piece, l + 1);
			n += l;
		}
		if (load("noise.ini", text, &cfg) == 0) {
			accepted++;
			ts_config_free(cfg);
		} else {
			refused_n++;
			explained += names_line("noise.ini:") && tu_logged("config refused");
		}
	}
	ok(accepted + refused_n == 300 && explained == refused_n,
	   "300 noisy files: %d accepted, %d refused, each refusal naming file:line (%d)",
	   accepted, refused_n, explained);
}

int main(void)
{
	tu_tmpdir();
	test_good();
	test_policy_schema();
	test_model_schema();
	test_errors();
	test_empty_and_devsets();
	test_noise();
	return tap_done();
}
