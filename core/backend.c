// SPDX-License-Identifier: MIT
/*
 * core/backend.c - the backend registry and the SPMD runner.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/error.h>

#include "backend.h"
#include "cpu/cpu.h"
#include "log.h"

#define BACKEND_MAX 16

struct backend_entry {
	const struct ts_backend_ops *ops;
	void *dl; /* dlopen handle, or NULL for built-in and registered tables */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backend_entry reg[BACKEND_MAX];
static int reg_n;
static char backend_dir[PATH_MAX];

static int backend_check(const struct ts_backend_ops *ops, const char *where)
{
	if (!ops || ops->hdr.magic != TS_MAGIC_BACKEND) {
		ts_err("backend", "%s: not a backend table (magic 0x%08x, want 0x%08x)", where,
		       ops ? ops->hdr.magic : 0, TS_MAGIC_BACKEND);
		return TS_EABI;
	}
	if (ops->hdr.major != TS_ABI_MAJOR || ops->hdr.minor > TS_ABI_MINOR) {
		ts_err("backend", "%s: ABI %u.%u, host has %d.%d", where, ops->hdr.major,
		       ops->hdr.minor, TS_ABI_MAJOR, TS_ABI_MINOR);
		return TS_EABI;
	}
	/* Every field of minor 0 is required, so the table must cover them all. */
	if (ops->hdr.size < offsetof(struct ts_backend_ops, comm_destroy) + sizeof(void *)) {
		ts_err("backend", "%s: table size %u too small (want >= %zu)", where, ops->hdr.size,
		       offsetof(struct ts_backend_ops, comm_destroy) + sizeof(void *));
		return TS_EABI;
	}
	if (!ops->name || !ops->create || !ops->destroy || !ops->device_count || !ops->device) {
		ts_err("backend", "%s: table lacks name or create/destroy/device", where);
		return TS_EABI;
	}
	return 0;
}

static const struct ts_backend_ops *reg_lookup(const char *name)
{
	if (!strcmp(name, ts_cpu_backend_ops.name))
		return &ts_cpu_backend_ops;
	for (int i = 0; i < reg_n; i++)
		if (!strcmp(reg[i].ops->name, name))
			return reg[i].ops;
	return NULL;
}

static int reg_add(const struct ts_backend_ops *ops, void *dl)
{
	if (reg_lookup(ops->name)) {
		ts_err("backend", "a backend named '%s' already exists", ops->name);
		return TS_EEXIST;
	}
	if (reg_n == BACKEND_MAX) {
		ts_err("backend", "too many backends (%d)", BACKEND_MAX);
		return TS_EBUSY;
	}
	reg[reg_n++] = (struct backend_entry){ .ops = ops, .dl = dl };
	return 0;
}

int ts_backend_register(const struct ts_backend_ops *ops)
{
	int ret = backend_check(ops, ops && ops->name ? ops->name : "registered backend");

	if (ret)
		return ret;
	pthread_mutex_lock(&reg_lock);
	ret = reg_add(ops, NULL);
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

void ts_backend_set_dir(const char *dir)
{
	pthread_mutex_lock(&reg_lock);
	snprintf(backend_dir, sizeof(backend_dir), "%s", dir ? dir : "");
	pthread_mutex_unlock(&reg_lock);
}

/* <dir>/backends/<name>.so, dir defaulting to the executable's folder. */
static int backend_path(const char *name, char *path, size_t size)
{
	char exe[PATH_MAX];
	const char *dir = backend_dir;
	ssize_t len;

	if (!dir[0]) {
		len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (len <= 0) {
			ts_err("backend", "cannot find the executable's folder for backend '%s'",
			       name);
			return TS_ENODEV;
		}
		exe[len] = 0;
		*strrchr(exe, '/') = 0;
		dir = exe;
	}
	if ((size_t)snprintf(path, size, "%s/backends/%s.so", dir, name) >= size) {
		ts_err("backend", "path of backend '%s' too long", name);
		return TS_ENODEV;
	}
	return 0;
}

static int backend_load(const char *name, const struct ts_backend_ops **out)
{
	char path[PATH_MAX + 32], sym[64];
	ts_backend_accessor_fn acc;
	const struct ts_backend_ops *ops;
	void *dl;
	int ret;

	ret = backend_path(name, path, sizeof(path));
	if (ret)
		return ret;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		ts_err("backend", "backend '%s' not available: %s", name, dlerror());
		return TS_ENODEV;
	}
	snprintf(sym, sizeof(sym), "ts_backend_%s_v1", name);
	*(void **)&acc = dlsym(dl, sym);
	if (!acc) {
		ts_err("backend", "%s: no accessor %s", path, sym);
		ret = TS_EABI;
		goto close_dl;
	}
	ops = acc();
	ret = backend_check(ops, path);
	if (ret)
		goto close_dl;
	if (strcmp(ops->name, name)) {
		ts_err("backend", "%s: names itself '%s', expected '%s'", path, ops->name, name);
		ret = TS_EABI;
		goto close_dl;
	}
	ret = reg_add(ops, dl);
	if (ret)
		goto close_dl;
	*out = ops;
	return 0;

close_dl:
	dlclose(dl);
	return ret;
}

int ts_backend_find(const char *name, const struct ts_backend_ops **out)
{
	const struct ts_backend_ops *ops;
	int ret = 0;

	if (!name || !*name) {
		ts_err("backend", "no backend name");
		return TS_EINVAL;
	}
	pthread_mutex_lock(&reg_lock);
	ops = reg_lookup(name);
	if (!ops && !strcmp(name, "cuda"))
		ret = backend_load(name, &ops);
	else if (!ops) {
		ts_err("backend", "unknown backend '%s' (cpu, cuda, or one the core registers)",
		       name);
		ret = TS_ENOENT;
	}
	pthread_mutex_unlock(&reg_lock);
	if (!ret)
		*out = ops;
	return ret;
}

int ts_backend_open(const char *name, const struct ts_host *host, int n_devices,
		    int threads_per_device, const struct ts_backend_ops **ops_out,
		    struct ts_backend **be_out)
{
	const struct ts_backend_ops *ops;
	int ret = ts_backend_find(name, &ops);

	if (ret)
		return ret;
	if (ops == &ts_cpu_backend_ops)
		ret = ts_cpu_backend_create(n_devices, threads_per_device, be_out);
	else
		ret = ops->create(host, n_devices, be_out);
	if (ret)
		return ret;
	*ops_out = ops;
	return 0;
}

void ts_backend_unload_all(void)
{
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < reg_n; i++)
		if (reg[i].dl)
			dlclose(reg[i].dl);
	reg_n = 0;
	pthread_mutex_unlock(&reg_lock);
}

/* Other backends: one thread per device, bound to it, for the job's duration. */
struct spmd_thread {
	pthread_t tid;
	struct ts_dev *dev;
	int rank, ret;
	ts_spmd_fn fn;
	void *arg;
};

static void *spmd_thread_main(void *p)
{
	struct spmd_thread *t = p;
	const struct ts_backend_ops *be = ts_dev_base(t->dev)->be;

	t->ret = be->bind_thread ? be->bind_thread(t->dev) : 0;
	if (!t->ret)
		t->ret = t->fn(t->dev, t->rank, t->arg);
	return NULL;
}

static int spmd_threads(struct ts_dev *const *devs, int n, ts_spmd_fn fn, void *arg)
{
	struct spmd_thread *t = calloc((size_t)n, sizeof(*t));
	int started = 0, ret = 0;

	if (!t) {
		ts_err("backend", "spmd: out of memory for %d threads", n);
		return TS_ENOMEM;
	}
	for (; started < n; started++) {
		t[started] = (struct spmd_thread){ .dev = devs[started], .rank = started,
						   .fn = fn, .arg = arg };
		if (pthread_create(&t[started].tid, NULL, spmd_thread_main, &t[started])) {
			ts_err("backend", "spmd: cannot start thread %d of %d", started, n);
			ret = TS_ENOMEM;
			break;
		}
	}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i].tid, NULL);
		if (!ret || (ret == TS_ECOMM && t[i].ret && t[i].ret != TS_ECOMM))
			ret = t[i].ret;
	}
	free(t);
	return ret;
}

static int spmd_cpu(struct ts_dev *const *devs, int n, ts_spmd_fn fn, void *arg)
{
	int submitted = 0, ret = 0;

	/* Refuse up front rather than strand ranks already started in a collective. */
	for (int i = 0; i < n; i++) {
		if (!ts_cpu_dev_idle(ts_cpu_dev(devs[i]))) {
			ts_err("backend", "spmd: device %d is already running a job",
			       ts_dev_base(devs[i])->index);
			return TS_EBUSY;
		}
	}
	/* The marks of an earlier run are cleared on all ranks before any starts. */
	for (int i = 0; i < n; i++)
		atomic_store(&ts_cpu_dev(devs[i])->gone, 0);
	for (; submitted < n; submitted++) {
		ret = ts_cpu_dev_submit(ts_cpu_dev(devs[submitted]), fn, submitted, arg);
		if (ret)
			break;
	}
	/* A group with a rank that never started would hang in its first collective. */
	if (ret && submitted)
		ts_warn("backend", "spmd: rank %d could not start; ranks before it may block",
			submitted);
	for (int i = 0; i < submitted; i++) {
		int r = ts_cpu_dev_wait(ts_cpu_dev(devs[i]));

		/* The peers of a failed rank say ECOMM; the failed rank says why. */
		if (!ret || (ret == TS_ECOMM && r && r != TS_ECOMM))
			ret = r;
	}
	return ret;
}

int ts_backend_run_spmd(struct ts_dev *const *devs, int n, ts_spmd_fn fn, void *arg)
{
	int all_cpu = 1;

	if (n < 1 || !devs || !fn) {
		ts_err("backend", "spmd: needs at least one device and a function");
		return TS_EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (!devs[i]) {
			ts_err("backend", "spmd: device %d is NULL", i);
			return TS_EINVAL;
		}
		for (int j = 0; j < i; j++) {
			if (devs[j] == devs[i]) {
				ts_err("backend", "spmd: ranks %d and %d are the same device",
				       j, i);
				return TS_EINVAL;
			}
		}
		all_cpu &= ts_cpu_is_dev(devs[i]);
	}
	return all_cpu ? spmd_cpu(devs, n, fn, arg) : spmd_threads(devs, n, fn, arg);
}
