// SPDX-License-Identifier: MIT
/*
 * tests/host/test_loader.c - the loader against the fixture modules of
 * tests/fixtures: a good one loads and registers; each bad one is refused
 * with a message naming both values and the file, and leaves the module
 * list and the registry exactly as they were.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "tap.h"
#include "util.h"

static char fx_dir[PATH_MAX];

static void find_fixtures(void)
{
	ssize_t n = readlink("/proc/self/exe", fx_dir, sizeof(fx_dir) - 16);
	char *slash;

	if (n <= 0) {
		perror("readlink");
		exit(2);
	}
	fx_dir[n] = '\0';
	slash = strrchr(fx_dir, '/');
	strcpy(slash, "/fixtures");
}

static const char *fx(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s.so", fx_dir, name);
	return path;
}

/* Load fixture @name expecting @want; the log must say @why; nothing may change. */
static void refused(const char *name, int want, const char *why)
{
	int mods = ts_module_count(), regs = ts_registry_count();
	struct ts_module *mod = (struct ts_module *)1;
	char file[PATH_MAX + 64];
	int rc;

	snprintf(file, sizeof(file), "%s", fx(name));
	tu_capture();
	rc = ts_module_load_file(file, &mod);
	tu_release();
	ok(rc == want && mod == NULL, "%s refused with %s (got %d)", name, ts_strerror(want), rc);
	ok(tu_logged(why) && tu_logged(file), "%s: message names the file and says '%s'", name, why);
	if (!tu_logged(why))
		tap_diag("log: %s", tu_log);
	ok(ts_module_count() == mods && ts_registry_count() == regs,
	   "%s: no module and no registration left behind", name);
}

static void test_good(void)
{
	const struct ts_policy_ops *pol;
	struct ts_module *mod = NULL;
	int rc;

	tu_capture();
	rc = ts_module_load("fx_good", &mod);
	tu_release();
	ok(rc == 0 && mod, "fx_good loads from the search path (rc %d)", rc);
	if (!mod) {
		tap_diag("log: %s", tu_log);
		return;
	}
	ok(!strcmp(mod->name, "fx_good") && !strcmp(mod->version, "1.2.3") &&
	   !strcmp(mod->license, "MIT"), "descriptor read: name, version, license");
	ok(ts_module_count() == 1 && ts_module_at(0) == mod && ts_module_find("fx_good") == mod,
	   "listed once");
	ok(!strcmp(ts_module_file(mod), fx("fx_good")), "file remembered");
	ok(ts_find_model("fx_good_model") && ts_find_decoder("fx_good_dec"),
	   "model and decoder registered");
	pol = ts_find_policy("fx_good");
	ok(pol && ts_registry_count() == 3, "policy registered (3 entries)");
	ok(ts_module_load("fx_good", &mod) == 0 && ts_module_count() == 1,
	   "loading by name again returns the loaded module");
	if (pol) {
		long long live = ts_host_alloc_live(NULL);
		void *self = NULL;

		ok(pol->create(ts_host_api(), NULL, &self) == 0 &&
		   ts_host_alloc_live(NULL) == live + 64, "policy allocates through the host");
		pol->destroy(self);
		ok(ts_host_alloc_live(NULL) == live, "and gives it back");
	}
}

static void test_refused(void)
{
	char want[256];

	snprintf(want, sizeof(want), "module magic 0x58585858 ('XXXX'), host expects 0x%08x ('TSMD')",
		 TS_MAGIC_MODULE);
	refused("fx_magic", TS_EABI, want);
	snprintf(want, sizeof(want), "built for ABI major %d (ABI %d.%d), host has ABI major %d (ABI %d.%d)",
		 TS_ABI_MAJOR + 1, TS_ABI_MAJOR + 1, TS_ABI_MINOR, TS_ABI_MAJOR, TS_ABI_MAJOR,
		 TS_ABI_MINOR);
	refused("fx_major", TS_EABI, want);
	snprintf(want, sizeof(want), "built for ABI minor %d (ABI %d.%d), newer than the host's minor %d",
		 TS_ABI_MINOR + 1, TS_ABI_MAJOR, TS_ABI_MINOR + 1, TS_ABI_MINOR);
	refused("fx_minor", TS_EABI, want);
	snprintf(want, sizeof(want), "module size %zu, host needs at least %zu",
		 offsetof(struct ts_module, init), sizeof(struct ts_module));
	refused("fx_size", TS_EABI, want);
	refused("fx_sig", TS_EABI, "ABI signature token 2: module 'ptr32', host 'ptr64'");
	refused("fx_namediff", TS_EABI, "descriptor name 'someone_else' differs from the file's name 'fx_namediff'");
	refused("fx_noacc", TS_EABI, "no accessor ts_module_fx_noacc_v1");
	refused("fx_initfail", TS_EINVAL, "init failed");
	ok(!ts_find_policy("fx_initfail") && !ts_find_model("fx_initfail_model"),
	   "fx_initfail: its registrations were taken back");
	refused("fx_dupreg", TS_EEXIST, "policy 'fx_good' is already registered");
	ok(ts_find_policy("fx_good") && ts_find_model("fx_good_model"),
	   "fx_dupreg: the first module's registrations are untouched");
	refused("fx_badops", TS_EABI, "policy built for ABI major 2 (ABI 2.0), host has ABI major 1");
	refused("dup/fx_good", TS_EEXIST, "a module named 'fx_good' is already loaded");
	refused("fx_nonexistent", TS_ENOENT, "fx_nonexistent.so");

	tu_capture();
	ok(ts_module_load("nothere", NULL) == TS_ENOENT && tu_logged("module 'nothere' not found"),
	   "a module missing from the path is named");
	tu_release();
	tu_capture();
	ok(ts_module_load("../fixtures/fx_good", NULL) == TS_EINVAL &&
	   tu_logged("is not a module name"), "a name cannot reach outside the search path");
	ok(ts_policy_get("x/../y") == NULL, "not through ts_policy_get either");
	tu_release();

	/* Not a shared object at all: dlopen's reason, with the file. */
	{
		const char *garbage = tu_write("garbage.so", "this is not an ELF file\n");
		char named[600];
		int rc;

		snprintf(named, sizeof(named), "%s: ", garbage);
		tu_capture();
		rc = ts_module_load_file(garbage, NULL);
		tu_release();
		ok(rc == TS_EABI && tu_logged(named) && tu_logged("garbage.so"),
		   "a file that is not a shared object is refused with dlopen's reason");
	}
}

static int nop_configure(const struct ts_host *h, const struct ts_section *sec, void **m)
{
	return 0;
}

static void nop_release(void *m)
{
}

static int nop_plan(void *m, const struct ts_req_params *p, struct ts_work *w)
{
	return 0;
}

/* Optional fields appended to an ops table may be missing; required ones may not. */
static void test_ops_sizes(void)
{
	struct ts_model_ops old = {
		.hdr = TS_ABI_HDR(TS_MAGIC_MODEL, struct ts_model_ops),
		.name = "before_run_case",
		.configure = nop_configure,
		.release = nop_release,
		.plan = nop_plan,
	};
	struct ts_model_ops cut = old;
	const struct ts_host *host = ts_host_api();
	int regs = ts_registry_count(), rc;

	old.hdr.size = offsetof(struct ts_model_ops, run_case);
	ok(host->register_model(NULL, &old) == 0 && ts_find_model("before_run_case"),
	   "model ops without the optional run_case are accepted");
	cut.name = "cut_short";
	cut.hdr.size = offsetof(struct ts_model_ops, finish);
	tu_capture();
	rc = host->register_model(NULL, &cut);
	tu_release();
	ok(rc == TS_EABI && tu_logged("model size"), "model ops cut before finish are refused");
	ok(ts_registry_remove_owner(NULL) == 1 && ts_registry_count() == regs,
	   "host-owned registrations removed by owner");
}

static void test_builtin_and_lazy(void)
{
	static const struct ts_policy_ops bad_ops = {
		.hdr = { .magic = TS_MAGIC_MODEL, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
			 .size = sizeof(struct ts_policy_ops) },
		.name = "wrong_kind",
	};
	const struct ts_host *host = ts_host_api();
	struct ts_module stranger = { .name = "stranger" };
	const struct ts_policy_ops *twosym;
	int rc;

	tu_capture();
	rc = host->register_policy(NULL, &bad_ops);
	tu_release();
	ok(rc == TS_EABI && tu_logged("policy magic"), "ops of the wrong kind refused");
	tu_capture();
	rc = host->register_policy(&stranger, ts_find_policy("fx_good"));
	tu_release();
	ok(rc == TS_EINVAL && tu_logged("not loaded"), "registration by an unknown module refused");

	test_ops_sizes();
	tu_capture();
	twosym = ts_policy_get("fx_twosym");
	tu_release();
	ok(twosym && ts_module_find("fx_twosym"), "ts_policy_get loads <name>.so on demand");
	ok(ts_policy_get("fx_twosym") == twosym && ts_module_count() == 2, "and only once");
}

static void test_unload(void)
{
	const struct ts_policy_ops *pol = ts_find_policy("fx_good");
	void *forgotten = NULL;
	const char *a, *b;

	/* An instance nobody destroys: its host memory is reported at unload. */
	if (pol)
		pol->create(ts_host_api(), NULL, &forgotten);
	tu_capture();
	ts_module_unload_all();
	tu_release();
	ok(forgotten && tu_logged("64 bytes of host memory in 1 blocks still allocated"),
	   "host memory still out after unloading everything is reported");
	ts_host_free(forgotten);
	a = strstr(tu_log, "exit fx_twosym");
	b = strstr(tu_log, "exit fx_good");
	ok(a && b && a < b, "unloaded in reverse order of loading");
	ok(ts_module_count() == 0 && ts_registry_count() == 0, "nothing left registered");
	tu_capture();
	ok(ts_module_load("fx_good", NULL) == 0 && ts_find_policy("fx_good"),
	   "a module loads again after unload");
	ts_module_unload_all();
	tu_release();
}

int main(void)
{
	tu_tmpdir();
	find_fixtures();
	ts_loader_set_path(fx_dir);
	ok(!strcmp(ts_loader_path(), fx_dir), "search path set");
	test_good();
	test_refused();
	test_builtin_and_lazy();
	test_unload();
	ts_loader_set_path(NULL);
	return tap_done();
}
