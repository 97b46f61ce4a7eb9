/* SPDX-License-Identifier: MIT */
/*
 * core/safetensors.h - safetensors files: a read-only mmap reader (behind
 * host->st_*) and a small writer (for outputs of `tetriserve run-case` and
 * for tests).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * { "__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]} ... }, then the data; offsets are relative
 * to the first byte after the header. The reader checks everything it will
 * later trust: dtypes, shapes, sizes, offsets inside the file, no two
 * tensors sharing bytes, no duplicate keys; each complaint names the file
 * and the key.
 */
#ifndef TS_CORE_SAFETENSORS_H
#define TS_CORE_SAFETENSORS_H

#include <tetri/error.h>
#include <tetri/host.h>
#include <tetri/tensor.h>

/* 0, or TS_ENOENT / TS_EIO / TS_EFORMAT / TS_ENOMEM after logging why. */
int ts_st_open(const char *path, struct ts_st **out);
/* 0 or TS_ENOENT (not logged: the caller knows why it wanted the key). @out->data is read-only. */
int ts_st_get(struct ts_st *st, const char *key, struct ts_tensor *out);
/* A "__metadata__" value, or NULL. */
const char *ts_st_meta(struct ts_st *st, const char *key);
const char *ts_st_path(struct ts_st *st);
int ts_st_count(struct ts_st *st);
/* Tensor names in byte order (strcmp), i = 0 .. count - 1. */
const char *ts_st_key(struct ts_st *st, int i);
void ts_st_close(struct ts_st *st);

/*
 * Write @n tensors (each with a name) to @path, with optional metadata
 * @meta: key, value, key, value, ..., NULL. Data is packed with no gaps,
 * widest dtype first so every tensor is aligned to its element size, the
 * header padded to 8 bytes, as the reference implementation writes it.
 * Written to a temporary file, then renamed.
 */
int ts_st_write(const char *path, const struct ts_tensor *t, int n, const char *const *meta);

#endif /* TS_CORE_SAFETENSORS_H */
