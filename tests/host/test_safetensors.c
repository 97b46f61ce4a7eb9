// SPDX-License-Identifier: MIT
/*
 * tests/host/test_safetensors.c - the safetensors reader on files this test
 * writes: a good file (through our writer, read back through the host
 * table), then hand-made bad ones: truncated, bad header, overlapping
 * offsets, wrong dtype, wrong sizes. Each must be refused with a message
 * naming the file and the key.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "registry.h"
#include "safetensors.h"
#include "tap.h"
#include "util.h"

/* A file of the 8-byte length, @json, then @data_len zero bytes (or @cut bytes less). */
static const char *raw_file(const char *name, const char *json, size_t data_len, size_t cut)
{
	static char path[512];
	uint64_t n = strlen(json);
	uint8_t le[8];
	FILE *f;
	size_t total;

	snprintf(path, sizeof(path), "%s/%s", tu_dir, name);
	f = fopen(path, "wb");
	if (!f)
		exit(2);
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(n >> (8 * i));
	fwrite(le, 1, 8, f);
	fwrite(json, 1, n, f);
	for (size_t i = 0; i < data_len; i++)
		fputc(0, f);
	fclose(f);
	total = 8 + n + data_len;
	if (cut && truncate(path, (off_t)(total - cut)))
		exit(2);
	return path;
}

static void refused(const char *name, const char *json, size_t data_len, size_t cut,
		    const char *why)
{
	const char *path = raw_file(name, json, data_len, cut);
	struct ts_st *st = (struct ts_st *)1;
	int rc;

	tu_capture();
	rc = ts_st_open(path, &st);
	tu_release();
	ok(rc == TS_EFORMAT && st == NULL, "%s refused (rc %d)", name, rc);
	ok(tu_logged(path) && tu_logged(why), "%s: message names the file and says '%s'", name, why);
	if (!tu_logged(why))
		tap_diag("log: %s", tu_log);
}

static void test_roundtrip(void)
{
	const struct ts_host *host = ts_host_api();
	float w[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t ids[3] = { 7, -1, 1LL << 40 };
	uint8_t flag = 1;
	struct ts_tensor t[3] = {
		{ .name = "w", .dtype = TS_F32, .ndim = 2, .shape = { 2, 3 }, .data = w },
		{ .name = "b.ids", .dtype = TS_I64, .ndim = 1, .shape = { 3 }, .data = ids },
		{ .name = "scalar", .dtype = TS_BOOL, .ndim = 0, .data = &flag },
	};
	static const char *const meta[] = { "format", "pt", "model", "test", NULL };
	struct ts_tensor got;
	struct ts_st *st = NULL;
	char path[512];
	int rc;

	snprintf(path, sizeof(path), "%s/good.safetensors", tu_dir);
	ok(ts_st_write(path, t, 3, meta) == 0, "writer writes three tensors");
	rc = host->st_open(path, &st);
	ok(rc == 0 && st, "host->st_open reads them back (rc %d)", rc);
	if (!st)
		return;
	ok(host->st_count(st) == 3 && !strcmp(host->st_key(st, 0), "b.ids") &&
	   !strcmp(host->st_key(st, 1), "scalar") && !strcmp(host->st_key(st, 2), "w"),
	   "keys listed in sorted order");
	ok(!strcmp(host->st_meta(st, "model"), "test") && !host->st_meta(st, "nope"),
	   "metadata read");
	ok(!strcmp(host->st_path(st), path), "path remembered");
	rc = host->st_get(st, "w", &got);
	ok(rc == 0 && got.dtype == TS_F32 && got.ndim == 2 && got.shape[0] == 2 &&
	   got.shape[1] == 3 && !memcmp(got.data, w, sizeof(w)), "F32 [2,3] intact");
	rc = host->st_get(st, "b.ids", &got);
	ok(rc == 0 && got.dtype == TS_I64 && !memcmp(got.data, ids, sizeof(ids)), "I64 intact");
	rc = host->st_get(st, "scalar", &got);
	ok(rc == 0 && got.ndim == 0 && *(uint8_t *)got.data == 1, "0-d BOOL intact");
	got.ndim = 99;
	ok(host->st_get(st, "missing", &got) == TS_ENOENT && got.ndim == 99,
	   "missing key: TS_ENOENT, output untouched");
	host->st_close(st);
}

/* A byte tensor written before a float one must not misalign the floats. */
static void test_alignment(void)
{
	uint8_t bytes[3] = { 1, 2, 3 };
	double d[1] = { 0.25 };
	float f[2] = { 1.5f, -2.5f };
	struct ts_tensor t[3] = {
		{ .name = "u8", .dtype = TS_U8, .ndim = 1, .shape = { 3 }, .data = bytes },
		{ .name = "f32", .dtype = TS_F32, .ndim = 1, .shape = { 2 }, .data = f },
		{ .name = "f64", .dtype = TS_F64, .ndim = 1, .shape = { 1 }, .data = d },
	};
	struct ts_tensor got[3];
	struct ts_st *st = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/align.safetensors", tu_dir);
	ok(ts_st_write(path, t, 3, NULL) == 0 && ts_st_open(path, &st) == 0, "written, read back");
	if (!st)
		return;
	ts_st_get(st, "u8", &got[0]);
	ts_st_get(st, "f32", &got[1]);
	ts_st_get(st, "f64", &got[2]);
	ok((uintptr_t)got[1].data % 4 == 0 && (uintptr_t)got[2].data % 8 == 0,
	   "every tensor aligned to its element size");
	ok(!memcmp(got[0].data, bytes, 3) && !memcmp(got[1].data, f, 8) && !memcmp(got[2].data, d, 8),
	   "data intact whatever the order");
	ts_st_close(st);
}

static void test_bad(void)
{
	refused("short.st", "", 0, 8, "too short for the header length");
	refused("hlen.st", "{}", 0, 1, "header length 2 does not fit");
	refused("json.st", "{\"w\": {\"dtype\": \"F32\",", 0, 0, "header: JSON at byte");
	refused("array.st", "[1, 2]", 0, 0, "header: not a JSON object");
	refused("dup.st",
		"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
		"\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, 0,
		"duplicate");
	refused("dtype.st", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
		0, "tensor 'w': dtype 'F8_E4M3' not supported");
	refused("nodtype.st", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
		"tensor 'w': dtype missing");
	refused("shape.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
		0, "tensor 'w': shape[1] is not a non-negative integer");
	refused("size.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0,
		"tensor 'w': 8 bytes of data, shape and dtype F32 need 12");
	refused("past.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, 4,
		"tensor 'w': data_offsets [0, 16] past the end of the data (12 bytes)");
	refused("overflow.st",
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,0]}}",
		0, 0, "tensor 'w': shape overflows 64 bits");
	refused("bytes.st",
		"{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}",
		0, 0, "tensor 'w': 0 bytes of data");
	refused("overlap.st",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0,
		"tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
	refused("offsets.st", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2]}}", 2, 0,
		"tensor 'w': data_offsets is not [begin, end]");
	refused("meta.st", "{\"__metadata__\":{\"n\":3}}", 0, 0,
		"tensor '__metadata__': value of 'n' is not a string");

	/* Empty tensors may sit anywhere, even at another tensor's offset. */
	{
		const char *path = raw_file("empty.st",
			"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			"\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]}}", 8, 0);
		struct ts_st *st = NULL;

		ok(ts_st_open(path, &st) == 0, "an empty tensor inside another's bytes is no overlap");
		ts_st_close(st);
	}
	{
		struct ts_st *st = NULL;

		tu_capture();
		ok(ts_st_open("/nonexistent.safetensors", &st) == TS_ENOENT &&
		   tu_logged("/nonexistent.safetensors"), "missing file named");
		tu_release();
	}
}

/* Tiny deterministic generator, so a failing case can be replayed. */
static uint32_t fz_state = 12345;

static uint32_t fz_next(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 17;
	fz_state ^= fz_state << 5;
	return fz_state;
}

/*
 * Mutated headers: whatever the bytes say, open either refuses the file or
 * every tensor it hands out lies inside the file (ASan watches the reads).
 */
static void test_mutations(void)
{
	const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
			   "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[16,20]}}";
	static const char alphabet[] = "0123456789[]{}\",:-FUI8 abe";
	size_t len = strlen(good);
	int opened = 0, refused_n = 0, inside = 1;
	char buf[256];

	for (int iter = 0; iter < 300; iter++) {
		struct ts_st *st = NULL;
		const char *path;

		memcpy(buf, good, len + 1);
		for (int m = 0; m < 1 + (int)(fz_next() % 3); m++)
			buf[fz_next() % len] = alphabet[fz_next() % (sizeof(alphabet) - 1)];
		path = raw_file("fuzz.st", buf, 20, 0);
		tu_capture();
		if (ts_st_open(path, &st) == 0) {
			opened++;
			for (int i = 0; i < ts_st_count(st); i++) {
				struct ts_tensor t;
				volatile uint8_t sum = 0;
				size_t bytes;

				ts_st_get(st, ts_st_key(st, i), &t);
				bytes = (size_t)ts_tensor_numel(&t) * ts_dtype_size(t.dtype);
				inside &= bytes <= 20;
				for (size_t b = 0; b < bytes; b++)
					sum += ((const uint8_t *)t.data)[b];
			}
			ts_st_close(st);
		} else {
			refused_n++;
		}
		tu_release();
	}
	ok(inside, "300 mutated headers: %d opened with every tensor inside the data, %d refused",
	   opened, refused_n);
}

int main(void)
{
	tu_tmpdir();
	test_roundtrip();
	test_alignment();
	test_bad();
	test_mutations();
	return tap_done();
}
