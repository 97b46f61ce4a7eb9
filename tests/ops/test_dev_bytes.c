// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_dev_bytes.c - raw device byte buffers through the host API
 * (dev_alloc_bytes, dev_upload_bytes, dev_download_bytes) on the CPU
 * backend: bytes round-trip unchanged and are counted as bytes, a uint8 key
 * mask put on the device this way reaches attention and masks, and a backend
 * without the ops (or with a table older than them) is refused, not called.
 */
#include <stddef.h>

#include "backend.h"
#include "optest.h"
#include "registry.h"

static void test_round_trip(const struct ts_host *h, struct ts_cpu_backend *be)
{
	struct ts_dev *dev = (struct ts_dev *)be->devs[0];
	size_t used = atomic_load(&be->devs[0]->mem_used);
	uint8_t src[1031], back[1031];
	uint8_t *d;
	int same = 1;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3); /* every byte value, odd length */
	memset(back, 0xa5, sizeof(back));
	ok(TS_ABI_HAS(h, struct ts_host, dev_download_bytes), "the host table covers the byte ops");
	d = h->dev_alloc_bytes(dev, sizeof(src));
	ok(d != NULL, "dev_alloc_bytes(1031)");
	if (!d)
		return;
	ok(atomic_load(&be->devs[0]->mem_used) == used + sizeof(src),
	   "the device counts bytes, not elements: +%zu",
	   atomic_load(&be->devs[0]->mem_used) - used);
	ok(((uintptr_t)d & 63) == 0, "byte buffers are aligned for any dtype");
	ok(h->dev_upload_bytes(dev, d, src, sizeof(src)) == 0 &&
	   h->dev_download_bytes(dev, back, d, sizeof(src)) == 0, "upload and download bytes");
	for (size_t i = 0; i < sizeof(src); i++)
		same &= back[i] == src[i];
	ok(same, "bytes round-trip exactly (no conversion)");
	ok(h->dev_upload_bytes(dev, d, src, 0) == 0, "zero bytes is a no-op");
	ok(h->dev_upload_bytes(dev, NULL, src, 4) == TS_EINVAL, "a NULL buffer is refused");
	h->dev_free(dev, d);
	ok(atomic_load(&be->devs[0]->mem_used) == used, "dev_free gives the bytes back");
}

/*
 * A [B, kv] mask on the device against the same attention run on only the
 * kept keys, packed: equal outputs mean the mask reached the op. Batch 1's
 * mask is all zeros (its rows must come out as zeros).
 */
static void test_mask_attention(const struct ts_host *h, struct ts_cpu_backend *be)
{
	const int64_t B = 2, H = 2, Q = 19, KV = 37, D = 8, C = H * D;
	struct ts_dev *dev = (struct ts_dev *)be->devs[0];
	const struct ts_ops *ops = h->dev_ops(dev);
	float *q = optest_rand(B * Q * C, 1), *kv = optest_rand(B * KV * 2 * C, 1);
	float *dq = h->dev_alloc(dev, (size_t)(B * Q * C));
	float *dkv = h->dev_alloc(dev, (size_t)(B * KV * 2 * C));
	float *dpk = h->dev_alloc(dev, (size_t)(KV * 2 * C));
	float *dout = h->dev_alloc(dev, (size_t)(B * Q * C));
	float *dref = h->dev_alloc(dev, (size_t)(Q * C));
	float *dall = h->dev_alloc(dev, (size_t)(B * Q * C));
	float *out = malloc((size_t)(B * Q * C) * sizeof(float));
	float *ref = malloc((size_t)(Q * C) * sizeof(float));
	float *all = malloc((size_t)(B * Q * C) * sizeof(float));
	uint8_t mask[2 * 37];
	uint8_t *dmask = h->dev_alloc_bytes(dev, sizeof(mask));
	int64_t kept = 0;
	int copy_err = 0;
	double diff = 0, maxabs = 0, moved = 0;
	struct ts_attention a = {
		.batch = B, .heads = H, .q_len = Q, .kv_len = KV, .head_dim = D,
		.q = dq, .k = dkv, .v = dkv + C, .o = dout,
		.q_tok = C, .k_tok = 2 * C, .v_tok = 2 * C, .o_tok = C,
		.q_batch = Q * C, .k_batch = KV * 2 * C, .v_batch = KV * 2 * C, .o_batch = Q * C,
		.key_mask = dmask, .scale = 0.5f,
	};
	struct ts_attention p = a;

	if (!q || !kv || !dq || !dkv || !dpk || !dout || !dref || !dall || !out || !ref ||
	    !all || !dmask) {
		ok(0, "buffers for the mask test");
		goto out;
	}
	for (int64_t j = 0; j < KV; j++) {
		mask[j] = optest_int(0, 2) != 0 || j == 0; /* at least one key kept */
		mask[KV + j] = 0;
	}
	ok(h->dev_upload(dev, dq, q, TS_F32, B * Q * C) == 0 &&
	   h->dev_upload(dev, dkv, kv, TS_F32, B * KV * 2 * C) == 0 &&
	   h->dev_upload_bytes(dev, dmask, mask, sizeof(mask)) == 0, "inputs and mask uploaded");
	/* Batch 0's kept keys, packed, as the reference's whole key set. */
	for (int64_t j = 0; j < KV; j++)
		if (mask[j])
			copy_err |= ops->copy2d(dev, dpk + kept++ * 2 * C, 2 * C, dkv + j * 2 * C,
						2 * C, 1, 2 * C);
	ok(copy_err == 0, "kept keys packed");
	ok(ops->attention(dev, &a) == 0, "attention with a device byte mask");
	p.batch = 1, p.kv_len = kept, p.k = dpk, p.v = dpk + C, p.o = dref, p.key_mask = NULL;
	ok(ops->attention(dev, &p) == 0, "attention on the %lld kept keys", (long long)kept);
	p = a;
	p.key_mask = NULL, p.o = dall;
	ok(ops->attention(dev, &p) == 0, "attention without a mask");
	ok(h->dev_download(dev, out, dout, B * Q * C) == 0 &&
	   h->dev_download(dev, ref, dref, Q * C) == 0 &&
	   h->dev_download(dev, all, dall, B * Q * C) == 0, "outputs downloaded");
	for (int64_t i = 0; i < Q * C; i++) {
		diff = fmax(diff, fabs((double)out[i] - ref[i]));
		moved = fmax(moved, fabs((double)out[i] - all[i]));
	}
	for (int64_t i = Q * C; i < B * Q * C; i++)
		maxabs = fmax(maxabs, fabs((double)out[i]));
	ok(diff < 1e-5, "masked keys are left out (max diff %g against packed keys)", diff);
	ok(kept == KV || moved > 1e-3, "the mask changes the output (%g)", moved);
	ok(maxabs == 0, "a fully masked batch gives zeros");
out:
	h->dev_free(dev, dmask);
	h->dev_free(dev, dq);
	h->dev_free(dev, dkv);
	h->dev_free(dev, dpk);
	h->dev_free(dev, dout);
	h->dev_free(dev, dref);
	h->dev_free(dev, dall);
	free(q);
	free(kv);
	free(out);
	free(ref);
	free(all);
}

static int no_create(const struct ts_host *host, int n, struct ts_backend **out)
{
	return TS_ENOTSUP;
}

/* A backend table without the byte ops, and one whose size predates them. */
static void test_refused(const struct ts_host *h, struct ts_cpu_backend *be)
{
	static const struct ts_backend_ops bare = {
		.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
		.name = "bare",
		.create = no_create,
	};
	struct ts_backend_ops old = ts_cpu_backend_ops;
	struct ts_dev_base bare_dev = { .be = &bare }, old_dev = { .be = &old };
	uint8_t b[4] = { 1, 2, 3, 4 };
	size_t used = atomic_load(&be->devs[0]->mem_used);

	ok(h->dev_alloc_bytes((struct ts_dev *)(void *)&bare_dev, 16) == NULL &&
	   h->dev_upload_bytes((struct ts_dev *)(void *)&bare_dev, b, b, 4) == TS_ENOTSUP &&
	   h->dev_download_bytes((struct ts_dev *)(void *)&bare_dev, b, b, 4) == TS_ENOTSUP,
	   "a backend without byte ops: NULL and TS_ENOTSUP");
	/* A table built before the fields were appended: they are not read. */
	old.hdr.size = (uint32_t)offsetof(struct ts_backend_ops, alloc_bytes);
	ok(h->dev_alloc_bytes((struct ts_dev *)(void *)&old_dev, 16) == NULL &&
	   atomic_load(&be->devs[0]->mem_used) == used,
	   "a table older than the byte ops is not read past its size");
}

int main(void)
{
	const struct ts_host *h = ts_host_api();
	struct ts_cpu_backend *be;

	optest_seed();
	be = optest_backend(1, 2);
	if (!be) {
		ok(0, "CPU backend");
		return tap_done();
	}
	test_round_trip(h, be);
	test_mask_attention(h, be);
	test_refused(h, be);
	optest_backend_free(be);
	return tap_done();
}
