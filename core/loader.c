// SPDX-License-Identifier: MIT
/*
 * core/loader.c - loading and unloading module files.
 *
 * dlopen(RTLD_NOW | RTLD_LOCAL): unresolved symbols fail here and not in the
 * middle of a request, and one module's symbols never satisfy another's.
 * The accessor is the only symbol we look up; what it returns is checked
 * (magic, major, minor, size, signature, name) before a single function
 * pointer in it is called. Anything that fails after dlopen is undone in
 * reverse, so a refused module leaves no trace in the host.
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"

#define WHO "loader"

struct loaded {
	struct ts_module *mod;
	void *dl;
	char *path;
};

static struct loaded *mods;
static int n_mods, cap_mods;
static char *search_path;
static char default_path[PATH_MAX + 16];

/* The module whose init is running: registrations during init belong to it. */
static struct ts_module *initializing;

void ts_loader_set_path(const char *path)
{
	free(search_path);
	search_path = path && *path ? strdup(path) : NULL;
}

/* Default: the modules/ folder beside the executable (build/modules for build/tetriserve). */
const char *ts_loader_path(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (search_path)
		return search_path;
	if (default_path[0])
		return default_path;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		strcpy(default_path, "modules");
		return default_path;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(default_path, sizeof(default_path), "%s/modules", exe);
	return default_path;
}

int ts_module_count(void)
{
	return n_mods;
}

struct ts_module *ts_module_at(int i)
{
	return i >= 0 && i < n_mods ? mods[i].mod : NULL;
}

struct ts_module *ts_module_find(const char *name)
{
	for (int i = 0; name && i < n_mods; i++)
		if (!strcmp(mods[i].mod->name, name))
			return mods[i].mod;
	return NULL;
}

const char *ts_module_file(const struct ts_module *mod)
{
	for (int i = 0; i < n_mods; i++)
		if (mods[i].mod == mod)
			return mods[i].path;
	return NULL;
}

int ts_module_is_registering(const struct ts_module *mod)
{
	return mod && (mod == initializing || ts_module_file(mod));
}

/* "dir/fixed.so" -> "fixed"; the name must be a C identifier to name an accessor. */
static int module_basename(const char *path, char *name, size_t n)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len <= 3 || strcmp(base + len - 3, ".so") || len - 3 >= n) {
		ts_err(WHO, "%s: a module file is named <name>.so", path);
		return TS_EINVAL;
	}
	memcpy(name, base, len - 3);
	name[len - 3] = '\0';
	for (size_t i = 0; i < len - 3; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
			ts_err(WHO, "%s: module name '%s' is not a C identifier", path, name);
			return TS_EINVAL;
		}
	}
	return 0;
}

/* The checks of DESIGN.md §3, in order; then the descriptor must be self-consistent. */
static int check_descriptor(const char *path, const char *name, const struct ts_module *mod)
{
	int rc;

	rc = ts_abi_check(path, "module", &mod->hdr, TS_MAGIC_MODULE, sizeof(struct ts_module));
	if (rc)
		return rc;
	rc = ts_abi_check_signature(path, mod->signature);
	if (rc)
		return rc;
	if (!mod->name || strcmp(mod->name, name)) {
		ts_err(WHO, "%s: descriptor name '%s' differs from the file's name '%s'", path,
		       mod->name ? mod->name : "(null)", name);
		return TS_EABI;
	}
	if (!mod->init) {
		ts_err(WHO, "%s: module has no init", path);
		return TS_EABI;
	}
	if (ts_module_find(name)) {
		ts_err(WHO, "%s: a module named '%s' is already loaded (from %s)", path, name,
		       ts_module_file(ts_module_find(name)));
		return TS_EEXIST;
	}
	return 0;
}

static struct ts_module *find_accessor(void *dl, const char *path, const char *name)
{
	char sym[256];
	ts_module_accessor_fn fn;
	struct ts_module *mod;

	snprintf(sym, sizeof(sym), TS_MODULE_ACCESSOR_PREFIX "%s" TS_MODULE_ACCESSOR_SUFFIX, name);
	*(void **)&fn = dlsym(dl, sym);
	if (!fn) {
		ts_err(WHO, "%s: no accessor %s (is it built with TS_MODULE(%s, ...)?)", path, sym,
		       name);
		return NULL;
	}
	mod = fn();
	if (!mod)
		ts_err(WHO, "%s: %s returned no descriptor", path, sym);
	return mod;
}

static int list_add(struct ts_module *mod, void *dl, const char *path)
{
	if (n_mods == cap_mods) {
		int cap = cap_mods ? 2 * cap_mods : 8;
		struct loaded *grown = realloc(mods, (size_t)cap * sizeof(*grown));

		if (!grown)
			return TS_ENOMEM;
		mods = grown;
		cap_mods = cap;
	}
	mods[n_mods].path = strdup(path);
	if (!mods[n_mods].path)
		return TS_ENOMEM;
	mods[n_mods].mod = mod;
	mods[n_mods].dl = dl;
	n_mods++;
	return 0;
}

static int run_init(const char *path, struct ts_module *mod)
{
	int rc;

	initializing = mod;
	rc = mod->init(ts_host_api(), mod);
	initializing = NULL;
	if (rc) {
		ts_err(WHO, "%s: init failed: %s (%d)", path, ts_strerror(rc), rc);
		return rc < 0 ? rc : TS_EINVAL;
	}
	return 0;
}

int ts_module_load_file(const char *path, struct ts_module **out)
{
	char name[128];
	struct ts_module *mod;
	void *dl;
	int rc;

	if (out)
		*out = NULL;
	rc = module_basename(path, name, sizeof(name));
	if (rc)
		return rc;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		ts_err(WHO, "%s: %s", path, dlerror());
		return access(path, F_OK) ? TS_ENOENT : TS_EABI;
	}
	mod = find_accessor(dl, path, name);
	rc = mod ? check_descriptor(path, name, mod) : TS_EABI;
	if (rc)
		goto close_dl;
	rc = run_init(path, mod);
	if (rc)
		goto unregister;
	rc = list_add(mod, dl, path);
	if (rc)
		goto exit_mod;
	ts_info(WHO, "loaded %s %s from %s", mod->name, mod->version ? mod->version : "", path);
	if (out)
		*out = mod;
	return 0;

exit_mod:
	ts_registry_remove_owner(mod);
	if (mod->exit)
		mod->exit(ts_host_api(), mod);
	goto close_dl;
unregister:
	ts_registry_remove_owner(mod);
close_dl:
	dlclose(dl);
	return rc;
}

static int dir_has(const char *dir, size_t len, const char *name, char *path, size_t n)
{
	if (len == 0)
		return 0;
	snprintf(path, n, "%.*s/%s.so", (int)len, dir, name);
	return access(path, F_OK) == 0;
}

/* A name from a config must not reach outside the search path ("../x"). */
static int valid_name(const char *name)
{
	if (!name || !*name || strlen(name) > 100)
		return 0;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return 0;
	return 1;
}

int ts_module_load(const char *name, struct ts_module **out)
{
	struct ts_module *mod = ts_module_find(name);
	const char *p = ts_loader_path();
	char path[PATH_MAX];

	if (out)
		*out = mod;
	if (mod)
		return 0;
	if (!valid_name(name)) {
		ts_err(WHO, "'%s' is not a module name (letters, digits and _ only)",
		       name ? name : "(null)");
		return TS_EINVAL;
	}
	while (*p) {
		size_t len = strcspn(p, ":");

		if (dir_has(p, len, name, path, sizeof(path)))
			return ts_module_load_file(path, out);
		p += len;
		p += *p == ':';
	}
	ts_err(WHO, "module '%s' not found: no %s.so in %s", name, name, ts_loader_path());
	return TS_ENOENT;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.so of one folder, in name order so the load order does not depend on the file system. */
static int load_dir(const char *dir)
{
	char **names = NULL, **grown, path[PATH_MAX];
	struct dirent *e;
	int n = 0, failed = 0;
	DIR *d = opendir(dir);

	if (!d) {
		ts_dbg(WHO, "%s: %s", dir, strerror(errno));
		return 0;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= 3 || strcmp(e->d_name + len - 3, ".so"))
			continue;
		grown = realloc(names, (size_t)(n + 1) * sizeof(*names));
		if (!grown || !(grown[n] = strdup(e->d_name))) {
			names = grown ? grown : names;
			failed++;
			break;
		}
		names = grown;
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (ts_module_load_file(path, NULL))
			failed++;
		free(names[i]);
	}
	free(names);
	return failed;
}

int ts_module_load_path(void)
{
	char *copy = strdup(ts_loader_path()), *dir, *save = NULL;
	int failed = 0;

	if (!copy)
		return 1;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
		failed += load_dir(dir);
	free(copy);
	return failed;
}

void ts_module_unload(struct ts_module *mod)
{
	int i;

	for (i = 0; i < n_mods && mods[i].mod != mod; i++)
		;
	if (i == n_mods)
		return;
	ts_registry_remove_owner(mod);
	if (mod->exit)
		mod->exit(ts_host_api(), mod);
	dlclose(mods[i].dl);
	free(mods[i].path);
	memmove(&mods[i], &mods[i + 1], (size_t)(n_mods - i - 1) * sizeof(*mods));
	n_mods--;
}

/* Reverse order: a module loaded later may use what an earlier one registered. */
void ts_module_unload_all(void)
{
	long long blocks, bytes;

	while (n_mods > 0)
		ts_module_unload(mods[n_mods - 1].mod);
	free(mods);
	mods = NULL;
	cap_mods = 0;
	/* With every module gone, host memory still out was lost by someone. */
	bytes = ts_host_alloc_live(&blocks);
	if (blocks)
		ts_warn(WHO, "%lld bytes of host memory in %lld blocks still allocated after unloading every module",
			bytes, blocks);
}
