// SPDX-License-Identifier: MIT
/*
 * core/safetensors.c - the safetensors reader and writer (see safetensors.h).
 * The header is parsed with jansson; nothing in it is trusted until it has
 * been checked against the size of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <config.h> /* TS_HAVE_JANSSON (build/config.h) */

#include "log.h"
#include "safetensors.h"

#define WHO "safetensors"
/* A header beyond this is not a weights file but an attack on our memory. */
#define ST_MAX_HEADER (100u << 20)

struct st_entry {
	char *name;
	enum ts_dtype dtype;
	int ndim;
	int64_t shape[TS_MAX_DIMS];
	uint64_t begin, end;
};

struct ts_st {
	char *path;
	const uint8_t *map;
	size_t map_len;
	const uint8_t *data; /* first byte after the header */
	uint64_t data_len;
	struct st_entry *t;
	int n;
	char **meta;         /* key, value pairs */
	int n_meta;
};

const char *ts_st_path(struct ts_st *st)
{
	return st->path;
}

int ts_st_count(struct ts_st *st)
{
	return st->n;
}

const char *ts_st_key(struct ts_st *st, int i)
{
	return i >= 0 && i < st->n ? st->t[i].name : NULL;
}

const char *ts_st_meta(struct ts_st *st, const char *key)
{
	for (int i = 0; key && i < st->n_meta; i++)
		if (!strcmp(st->meta[2 * i], key))
			return st->meta[2 * i + 1];
	return NULL;
}

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct st_entry *)a)->name, ((const struct st_entry *)b)->name);
}

int ts_st_get(struct ts_st *st, const char *key, struct ts_tensor *out)
{
	struct st_entry probe = { .name = (char *)key }, *e;

	if (!key)
		return TS_ENOENT;
	e = bsearch(&probe, st->t, (size_t)st->n, sizeof(*st->t), cmp_entry_name);
	if (!e)
		return TS_ENOENT;
	memset(out, 0, sizeof(*out));
	out->name = e->name;
	out->dtype = e->dtype;
	out->ndim = e->ndim;
	memcpy(out->shape, e->shape, sizeof(e->shape));
	out->data = (void *)(st->data + e->begin);
	return 0;
}

void ts_st_close(struct ts_st *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n; i++)
		free(st->t[i].name);
	for (int i = 0; i < 2 * st->n_meta; i++)
		free(st->meta[i]);
	free(st->meta);
	free(st->t);
	if (st->map)
		munmap((void *)st->map, st->map_len);
	free(st->path);
	free(st);
}

static int parse_dtype(const char *s)
{
	for (int i = 0; i < TS_DTYPE_COUNT_; i++)
		if (!strcmp(s, ts_dtype_name((enum ts_dtype)i)))
			return i;
	return -1;
}

#ifdef TS_HAVE_JANSSON
#include <jansson.h>

static __attribute__((format(printf, 3, 4))) int
bad(const struct ts_st *st, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (key)
		ts_err(WHO, "%s: tensor '%s': %s", st->path, key, why);
	else
		ts_err(WHO, "%s: header: %s", st->path, why);
	return TS_EFORMAT;
}

static int parse_shape(struct ts_st *st, const char *key, json_t *shape, struct st_entry *e,
		       uint64_t *numel)
{
	size_t i;
	json_t *d;

	if (!json_is_array(shape))
		return bad(st, key, "shape is not an array");
	if (json_array_size(shape) > TS_MAX_DIMS)
		return bad(st, key, "%zu dimensions, at most %d supported", json_array_size(shape),
			   TS_MAX_DIMS);
	*numel = 1;
	json_array_foreach(shape, i, d) {
		json_int_t v = json_is_integer(d) ? json_integer_value(d) : -1;

		if (v < 0)
			return bad(st, key, "shape[%zu] is not a non-negative integer", i);
		if (v > 0 && *numel > (uint64_t)INT64_MAX / (uint64_t)v)
			return bad(st, key, "shape overflows 64 bits");
		*numel *= (uint64_t)v;
		e->shape[i] = v;
	}
	e->ndim = (int)json_array_size(shape);
	return 0;
}

static int parse_offsets(struct ts_st *st, const char *key, json_t *off, struct st_entry *e)
{
	json_t *b = json_array_get(off, 0), *x = json_array_get(off, 1);

	if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) ||
	    !json_is_integer(x) || json_integer_value(b) < 0 || json_integer_value(x) < 0)
		return bad(st, key, "data_offsets is not [begin, end] of non-negative integers");
	e->begin = (uint64_t)json_integer_value(b);
	e->end = (uint64_t)json_integer_value(x);
	if (e->end < e->begin)
		return bad(st, key, "data_offsets end %llu before begin %llu",
			   (unsigned long long)e->end, (unsigned long long)e->begin);
	if (e->end > st->data_len)
		return bad(st, key, "data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
			   (unsigned long long)e->begin, (unsigned long long)e->end,
			   (unsigned long long)st->data_len);
	return 0;
}

static int parse_tensor(struct ts_st *st, const char *key, json_t *v, struct st_entry *e)
{
	json_t *dt = json_object_get(v, "dtype");
	uint64_t numel = 0, size;
	int rc, t;

	if (!json_is_object(v))
		return bad(st, key, "entry is not an object");
	if (!json_is_string(dt))
		return bad(st, key, "dtype missing or not a string");
	t = parse_dtype(json_string_value(dt));
	if (t < 0)
		return bad(st, key, "dtype '%s' not supported (F32 F16 BF16 F64 I64 I32 U8 BOOL)",
			   json_string_value(dt));
	e->dtype = (enum ts_dtype)t;
	rc = parse_shape(st, key, json_object_get(v, "shape"), e, &numel);
	if (!rc)
		rc = parse_offsets(st, key, json_object_get(v, "data_offsets"), e);
	if (rc)
		return rc;
	size = e->end - e->begin;
	if (numel > UINT64_MAX / ts_dtype_size(e->dtype) || size != numel * ts_dtype_size(e->dtype))
		return bad(st, key, "%llu bytes of data, shape and dtype %s need %llu",
			   (unsigned long long)size, ts_dtype_name(e->dtype),
			   (unsigned long long)(numel * ts_dtype_size(e->dtype)));
	e->name = strdup(key);
	return e->name ? 0 : TS_ENOMEM;
}

static int parse_meta(struct ts_st *st, json_t *meta)
{
	const char *k;
	json_t *v;

	if (!json_is_object(meta))
		return bad(st, "__metadata__", "not an object");
	st->meta = calloc(2 * json_object_size(meta) + 1, sizeof(*st->meta));
	if (!st->meta)
		return TS_ENOMEM;
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v))
			return bad(st, "__metadata__", "value of '%s' is not a string", k);
		st->meta[2 * st->n_meta] = strdup(k);
		st->meta[2 * st->n_meta + 1] = strdup(json_string_value(v));
		st->n_meta++;
		if (!st->meta[2 * st->n_meta - 2] || !st->meta[2 * st->n_meta - 1])
			return TS_ENOMEM;
	}
	return 0;
}

static int cmp_entry_begin(const void *a, const void *b)
{
	const struct st_entry *x = *(const struct st_entry *const *)a;
	const struct st_entry *y = *(const struct st_entry *const *)b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Two tensors must not share a byte (empty tensors share none). */
static int check_overlap(struct ts_st *st)
{
	struct st_entry **by = malloc((size_t)(st->n ? st->n : 1) * sizeof(*by));
	const struct st_entry *prev = NULL;
	int rc = 0;

	if (!by)
		return TS_ENOMEM;
	for (int i = 0; i < st->n; i++)
		by[i] = &st->t[i];
	qsort(by, (size_t)st->n, sizeof(*by), cmp_entry_begin);
	for (int i = 0; i < st->n && !rc; i++) {
		if (by[i]->begin == by[i]->end)
			continue;
		if (prev && by[i]->begin < prev->end)
			rc = bad(st, by[i]->name, "data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
				 (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end,
				 prev->name, (unsigned long long)prev->begin,
				 (unsigned long long)prev->end);
		prev = by[i];
	}
	free(by);
	return rc;
}

static int parse_header(struct ts_st *st, const char *text, size_t len)
{
	json_error_t err;
	const char *key;
	json_t *root, *v;
	int rc = 0;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return bad(st, NULL, "JSON at byte %d: %s", err.position, err.text);
	if (!json_is_object(root)) {
		rc = bad(st, NULL, "not a JSON object");
		goto put_root;
	}
	st->t = calloc(json_object_size(root) + 1, sizeof(*st->t));
	if (!st->t) {
		rc = TS_ENOMEM;
		goto put_root;
	}
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__"))
			rc = parse_meta(st, v);
		else if (!(rc = parse_tensor(st, key, v, &st->t[st->n])))
			st->n++;
		if (rc)
			goto put_root;
	}
	qsort(st->t, (size_t)st->n, sizeof(*st->t), cmp_entry_name);
	rc = check_overlap(st);
put_root:
	json_decref(root);
	return rc;
}

static int map_file(struct ts_st *st)
{
	struct stat sb;
	int fd, rc = 0;

	fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ts_err(WHO, "%s: %s", st->path, strerror(errno));
		return errno == ENOENT ? TS_ENOENT : TS_EIO;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		ts_err(WHO, "%s: not a regular file", st->path);
		rc = TS_EIO;
		goto close_fd;
	}
	if (sb.st_size < 8) {
		rc = bad(st, NULL, "file of %lld bytes is too short for the header length",
			 (long long)sb.st_size);
		goto close_fd;
	}
	st->map_len = (size_t)sb.st_size;
	st->map = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (st->map == MAP_FAILED) {
		st->map = NULL;
		ts_err(WHO, "%s: mmap: %s", st->path, strerror(errno));
		rc = TS_EIO;
	}
close_fd:
	close(fd);
	return rc;
}

int ts_st_open(const char *path, struct ts_st **out)
{
	struct ts_st *st;
	uint64_t hlen = 0;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return TS_ENOMEM;
	st->path = strdup(path);
	if (!st->path) {
		rc = TS_ENOMEM;
		goto close_st;
	}
	rc = map_file(st);
	if (rc)
		goto close_st;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | st->map[i];
	if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > st->map_len - 8) {
		rc = bad(st, NULL, "header length %llu does not fit a file of %zu bytes",
			 (unsigned long long)hlen, st->map_len);
		goto close_st;
	}
	st->data = st->map + 8 + hlen;
	st->data_len = st->map_len - 8 - hlen;
	rc = parse_header(st, (const char *)st->map + 8, (size_t)hlen);
	if (rc)
		goto close_st;
	*out = st;
	return 0;

close_st:
	ts_st_close(st);
	return rc;
}

static json_t *tensor_json(const struct ts_tensor *t, uint64_t begin, uint64_t end)
{
	json_t *shape = json_array();

	for (int d = 0; shape && d < t->ndim; d++)
		json_array_append_new(shape, json_integer(t->shape[d]));
	return json_pack("{s:s, s:o, s:[I, I]}", "dtype", ts_dtype_name(t->dtype), "shape", shape,
			 "data_offsets", (json_int_t)begin, (json_int_t)end);
}

/*
 * Data order: widest dtype first. The data starts 8-aligned, so each tensor
 * then starts aligned to its element size and a module may read the mapped
 * floats in place (the reference writer does the same).
 */
static int *data_order(const struct ts_tensor *t, int n)
{
	int *order = malloc((size_t)(n ? n : 1) * sizeof(*order)), k = 0;

	if (!order)
		return NULL;
	for (size_t size = 8; size >= 1; size /= 2)
		for (int i = 0; i < n; i++)
			if (ts_dtype_size(t[i].dtype) == size)
				order[k++] = i;
	return order;
}

static char *header_text(const struct ts_tensor *t, const int *order, int n,
			 const char *const *meta, size_t *len)
{
	json_t *root = json_object(), *m = NULL;
	uint64_t off = 0;
	char *text = NULL;

	if (!root)
		return NULL;
	if (meta && meta[0]) {
		m = json_object();
		for (int i = 0; m && meta[i] && meta[i + 1]; i += 2)
			json_object_set_new(m, meta[i], json_string(meta[i + 1]));
		if (!m || json_object_set_new(root, "__metadata__", m))
			goto put_root;
	}
	for (int j = 0; j < n; j++) {
		const struct ts_tensor *ti = &t[order[j]];
		uint64_t bytes = (uint64_t)ts_tensor_numel(ti) * ts_dtype_size(ti->dtype);
		json_t *e = tensor_json(ti, off, off + bytes);

		if (!e || json_object_set_new(root, ti->name, e))
			goto put_root;
		off += bytes;
	}
	text = json_dumps(root, JSON_COMPACT);
	if (text)
		*len = strlen(text);
put_root:
	json_decref(root);
	return text;
}

static int write_all(FILE *f, const void *p, size_t n)
{
	return n == 0 || fwrite(p, 1, n, f) == n ? 0 : TS_EIO;
}

static int write_body(FILE *f, const struct ts_tensor *t, const int *order, int n,
		      const char *hdr, size_t len)
{
	static const char spaces[8] = "        ";
	size_t padded = (len + 7) & ~(size_t)7;
	uint8_t le[8];
	int rc;

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
	rc = write_all(f, le, 8);
	rc = rc ? rc : write_all(f, hdr, len);
	rc = rc ? rc : write_all(f, spaces, padded - len);
	for (int j = 0; j < n && !rc; j++)
		rc = write_all(f, t[order[j]].data,
			       (size_t)ts_tensor_numel(&t[order[j]]) * ts_dtype_size(t[order[j]].dtype));
	return rc;
}

int ts_st_write(const char *path, const struct ts_tensor *t, int n, const char *const *meta)
{
	char *hdr, *tmp = NULL;
	int *order, rc;
	size_t len = 0;
	FILE *f;

	for (int i = 0; i < n; i++) {
		if (!t[i].name || (unsigned)t[i].dtype >= TS_DTYPE_COUNT_ || t[i].ndim < 0 ||
		    t[i].ndim > TS_MAX_DIMS) {
			ts_err(WHO, "%s: tensor %d has no name, a bad dtype or rank", path, i);
			return TS_EINVAL;
		}
	}
	order = data_order(t, n);
	hdr = order ? header_text(t, order, n, meta, &len) : NULL;
	if (!hdr || asprintf(&tmp, "%s.tmp", path) < 0) {
		free(hdr);
		free(order);
		return TS_ENOMEM;
	}
	f = fopen(tmp, "wb");
	if (!f) {
		ts_err(WHO, "%s: %s", tmp, strerror(errno));
		rc = TS_EIO;
		goto free_hdr;
	}
	rc = write_body(f, t, order, n, hdr, len);
	if (fclose(f) && !rc)
		rc = TS_EIO;
	if (!rc && rename(tmp, path))
		rc = TS_EIO;
	if (rc) {
		ts_err(WHO, "%s: write failed: %s", path, strerror(errno));
		unlink(tmp);
	}
free_hdr:
	free(tmp);
	free(hdr);
	free(order);
	return rc;
}

#else /* !TS_HAVE_JANSSON */

int ts_st_open(const char *path, struct ts_st **out)
{
	*out = NULL;
	ts_err(WHO, "%s: built without jansson: safetensors files cannot be read", path);
	return TS_ENOTSUP;
}

int ts_st_write(const char *path, const struct ts_tensor *t, int n, const char *const *meta)
{
	ts_err(WHO, "%s: built without jansson: safetensors files cannot be written", path);
	return TS_ENOTSUP;
}

#endif /* TS_HAVE_JANSSON */
