/* SPDX-License-Identifier: MIT */
/*
 * tests/gpu/opcases.h - one function per op of struct ts_ops: random shapes
 * (odd, not multiples of any tile), padded strides, in-place forms, then the
 * same call on both sides of a struct oc and a comparison (opcheck.h).
 */
#ifndef TS_TESTS_GPU_OPCASES_H
#define TS_TESTS_GPU_OPCASES_H

#include "opcheck.h"

#define OPS(s) (oc->side[s].ops)
#define DEV(s) (oc->side[s].dev)
#define I(x) ((long long)(x))

/* rc[s] = expr, for s = reference then GPU. */
#define BOTH(rc, expr)                      \
	do {                                \
		for (int s = 0; s < 2; s++) \
			(rc)[s] = (expr);   \
	} while (0)

/* @share_a: batch entries share one A (stride 0), which cuBLASLt is not asked to do. */
static void case_gemm(struct oc *oc, int64_t m, int64_t n, int64_t k, int64_t batch, int ta,
		      int tbt, int with_bias, float beta, enum ts_act act, int pad, int share_a)
{
	int64_t nb = batch > 1 ? batch : 1, rows_a = ta ? k : m, rows_b = tbt ? n : k;
	int64_t lda = (ta ? m : k) + (pad ? oc_int(1, 3) : 0);
	int64_t ldb = (tbt ? k : n) + (pad ? oc_int(1, 3) : 0);
	int64_t ldc = n + (pad ? oc_int(1, 2) : 0);
	int shared_a = batch > 1 && share_a;
	struct tb a, b, c, bias = { 0 };
	struct ts_gemm g[2];
	char what[160];
	int rc[2];

	tb_new(oc, &a, rows_a * lda * (shared_a ? 1 : nb), 'r', 1);
	tb_new(oc, &b, rows_b * ldb * nb, 'r', 1);
	tb_new(oc, &c, m * ldc * nb, beta == 0 ? 'n' : 'r', 1);
	if (with_bias)
		tb_new(oc, &bias, n, 'r', 1);
	for (int s = 0; s < 2; s++)
		g[s] = (struct ts_gemm){
			.trans_a = ta, .trans_b = tbt, .m = m, .n = n, .k = k,
			.a = a.p[s], .lda = lda, .b = b.p[s], .ldb = ldb, .c = c.p[s], .ldc = ldc,
			.bias = with_bias ? bias.p[s] : NULL, .alpha = 0.75f, .beta = beta,
			.act = act, .batch = batch,
			.stride_a = shared_a ? 0 : rows_a * lda, .stride_b = rows_b * ldb,
			.stride_c = m * ldc,
		};
	BOTH(rc, OPS(s)->gemm(DEV(s), &g[s]));
	snprintf(what, sizeof(what), "gemm m=%lld n=%lld k=%lld batch=%lld ta=%d tb=%d bias=%d "
		 "beta=%g act=%d pad=%d%s", I(m), I(n), I(k), I(batch), ta, tbt, with_bias,
		 (double)beta, (int)act, pad, shared_a ? " sharedA" : "");
	tb_check(oc, &c, rc[0], rc[1], what);
	tb_free(oc, &a);
	tb_free(oc, &b);
	tb_free(oc, &c);
	if (with_bias)
		tb_free(oc, &bias);
}

/*
 * Self-attention on a fused qkv buffer (fused = 1), three buffers with rows
 * padded by multiples of 8 (0), or padded by one element (-1), which rules out
 * the kernels' 16-byte loads; optional key mask.
 */
static void case_attention(struct oc *oc, int64_t batch, int64_t heads, int64_t q_len,
			   int64_t kv_len, int64_t hd, int fused, int masked)
{
	int64_t hw = heads * hd;
	int64_t tok = fused > 0 ? 3 * hw : fused < 0 ? hw + 1 : hw + oc_int(0, 2) * 8;
	struct tb qkv, q = { 0 }, k = { 0 }, v = { 0 }, o;
	struct ts_attention at[2];
	uint8_t *mask = NULL, *mask_dev[2] = { NULL, NULL };
	char what[160];
	int rc[2];

	if (fused > 0) {
		tb_new(oc, &qkv, batch * q_len * tok, 'r', 1);
	} else {
		tb_new(oc, &q, batch * q_len * tok, 'r', 1);
		tb_new(oc, &k, batch * kv_len * tok, 'r', 1);
		tb_new(oc, &v, batch * kv_len * tok, 'r', 1);
	}
	tb_new(oc, &o, batch * q_len * hw, 'n', 0);
	if (masked) {
		mask = malloc((size_t)(batch * kv_len));
		for (int64_t i = 0; i < batch * kv_len; i++)
			/* batch entry 1 (if any) has every key masked: its rows must be zeros */
			mask[i] = i / kv_len == 1 ? 0 : oc_int(0, 9) < 7;
		if (oc_mask_upload(oc, mask, batch * kv_len, mask_dev)) {
			ok(0, "%s attention: key mask upload", oc->tag);
			goto out;
		}
	}
	for (int s = 0; s < 2; s++) {
		at[s] = (struct ts_attention){
			.batch = batch, .heads = heads, .q_len = q_len, .kv_len = kv_len,
			.head_dim = hd, .o = o.p[s], .o_tok = hw, .o_batch = q_len * hw,
			.key_mask = mask_dev[s], .scale = 1.0f / sqrtf((float)hd),
		};
		if (fused > 0) {
			at[s].q = qkv.p[s];
			at[s].k = oc_at(oc, s, qkv.p[s], hw);
			at[s].v = oc_at(oc, s, qkv.p[s], 2 * hw);
		} else {
			at[s].q = q.p[s];
			at[s].k = k.p[s];
			at[s].v = v.p[s];
		}
		at[s].q_tok = at[s].k_tok = at[s].v_tok = tok;
		at[s].q_batch = q_len * tok;
		at[s].k_batch = at[s].v_batch = kv_len * tok;
	}
	BOTH(rc, OPS(s)->attention(DEV(s), &at[s]));
	snprintf(what, sizeof(what), "attention batch=%lld heads=%lld q=%lld kv=%lld hd=%lld%s%s",
		 I(batch), I(heads), I(q_len), I(kv_len), I(hd),
		 fused > 0 ? " fused-qkv" : fused < 0 ? " unaligned" : "",
		 masked ? " masked" : "");
	tb_check(oc, &o, rc[0], rc[1], what);
out:
	oc_mask_free(oc, mask_dev);
	free(mask);
	if (fused > 0) {
		tb_free(oc, &qkv);
	} else {
		tb_free(oc, &q);
		tb_free(oc, &k);
		tb_free(oc, &v);
	}
	tb_free(oc, &o);
}

static void case_conv(struct oc *oc, int64_t n, int64_t ci, int64_t co, int64_t t, int64_t h,
		      int64_t w, int kt, int kh, int kw, int st, int sh, int sw, int pt, int ph,
		      int pw, int with_bias)
{
	int64_t to = (t + pt - kt) / st + 1, ho = (h + 2 * ph - kh) / sh + 1;
	int64_t wo = (w + 2 * pw - kw) / sw + 1;
	struct tb x, wt, b = { 0 }, y;
	struct ts_conv cv[2];
	char what[160];
	int rc[2];

	tb_new(oc, &x, n * ci * t * h * w, 'r', 1);
	tb_new(oc, &wt, co * ci * kt * kh * kw, 'r', 1);
	if (with_bias)
		tb_new(oc, &b, co, 'r', 1);
	tb_new(oc, &y, n * co * to * ho * wo, 'n', 0);
	for (int s = 0; s < 2; s++)
		cv[s] = (struct ts_conv){
			.n = n, .c_in = ci, .c_out = co, .t = t, .h = h, .w = w,
			.kt = kt, .kh = kh, .kw = kw, .st = st, .sh = sh, .sw = sw,
			.pad_t_front = pt, .pad_h = ph, .pad_w = pw,
			.x = x.p[s], .weight = wt.p[s], .bias = with_bias ? b.p[s] : NULL,
			.y = y.p[s],
		};
	BOTH(rc, OPS(s)->conv(DEV(s), &cv[s]));
	snprintf(what, sizeof(what), "conv n=%lld %lld->%lld t,h,w=%lld,%lld,%lld k=%d,%d,%d "
		 "s=%d,%d,%d pad=%d,%d,%d bias=%d", I(n), I(ci), I(co), I(t), I(h), I(w), kt, kh,
		 kw, st, sh, sw, pt, ph, pw, with_bias);
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &wt);
	tb_free(oc, &y);
	if (with_bias)
		tb_free(oc, &b);
}

/* layer_norm (affine or not, in place or not) and rms_norm. */
static void case_norm(struct oc *oc, int rms, int64_t rows, int64_t cols, int affine,
		      int in_place)
{
	struct tb x, y, wt = { 0 }, b = { 0 }, *out;
	char what[128];
	int rc[2];

	/* An offset mean: a one-pass variance would lose digits here. */
	tb_new(oc, &x, rows * cols, 'r', 1);
	for (int64_t i = 0; i < x.n; i++)
		x.h[i] += 3.0f;
	tb_push(oc, &x);
	tb_new(oc, &y, rows * cols, 'n', 0);
	if (affine) {
		tb_new(oc, &wt, cols, 'r', 1);
		tb_new(oc, &b, cols, 'r', 1);
	}
	out = in_place ? &x : &y;
	if (rms)
		BOTH(rc, OPS(s)->rms_norm(DEV(s), out->p[s], x.p[s], affine ? wt.p[s] : NULL, rows,
					  cols, 1e-6f));
	else
		BOTH(rc, OPS(s)->layer_norm(DEV(s), out->p[s], x.p[s], affine ? wt.p[s] : NULL,
					    affine ? b.p[s] : NULL, rows, cols, 1e-5f));
	snprintf(what, sizeof(what), "%s rows=%lld cols=%lld affine=%d in_place=%d",
		 rms ? "rms_norm" : "layer_norm", I(rows), I(cols), affine, in_place);
	tb_check(oc, out, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
	if (affine) {
		tb_free(oc, &wt);
		tb_free(oc, &b);
	}
}

static void case_group_norm(struct oc *oc, int64_t n, int64_t c, int64_t spatial, int groups,
			    int affine)
{
	struct tb x, y, wt = { 0 }, b = { 0 };
	char what[128];
	int rc[2];

	tb_new(oc, &x, n * c * spatial, 'r', 2);
	tb_new(oc, &y, n * c * spatial, 'n', 0);
	if (affine) {
		tb_new(oc, &wt, c, 'r', 1);
		tb_new(oc, &b, c, 'r', 1);
	}
	BOTH(rc, OPS(s)->group_norm(DEV(s), y.p[s], x.p[s], affine ? wt.p[s] : NULL,
				    affine ? b.p[s] : NULL, n, c, spatial, groups, 1e-6f));
	snprintf(what, sizeof(what), "group_norm n=%lld c=%lld spatial=%lld groups=%d affine=%d",
		 I(n), I(c), I(spatial), groups, affine);
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
	if (affine) {
		tb_free(oc, &wt);
		tb_free(oc, &b);
	}
}

/* adaLN: shift and scale are chunks 0 and 1 of a [batch, 6*dim] modulation buffer. */
static void case_ln_modulate(struct oc *oc, int64_t batch, int64_t tokens, int64_t dim,
			     int in_place)
{
	struct tb x, y, mod, *out;
	char what[128];
	int rc[2];

	tb_new(oc, &x, batch * tokens * dim, 'r', 1);
	tb_new(oc, &y, batch * tokens * dim, 'n', 0);
	tb_new(oc, &mod, batch * 6 * dim, 'r', 1);
	out = in_place ? &x : &y;
	BOTH(rc, OPS(s)->layer_norm_modulate(DEV(s), out->p[s], x.p[s], mod.p[s],
					     oc_at(oc, s, mod.p[s], dim), batch, tokens, dim,
					     6 * dim, 1e-6f));
	snprintf(what, sizeof(what), "layer_norm_modulate batch=%lld tokens=%lld dim=%lld "
		 "in_place=%d", I(batch), I(tokens), I(dim), in_place);
	tb_check(oc, out, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
	tb_free(oc, &mod);
}

static void case_gated_residual(struct oc *oc, int64_t batch, int64_t tokens, int64_t dim,
				int with_gate)
{
	struct tb x, r, mod = { 0 };
	char what[128];
	int rc[2];

	tb_new(oc, &x, batch * tokens * dim, 'r', 1);
	tb_new(oc, &r, batch * tokens * dim, 'r', 1);
	if (with_gate)
		tb_new(oc, &mod, batch * 6 * dim, 'r', 1);
	BOTH(rc, OPS(s)->gated_residual(DEV(s), x.p[s], r.p[s],
					with_gate ? oc_at(oc, s, mod.p[s], 2 * dim) : NULL, batch,
					tokens, dim, 6 * dim));
	snprintf(what, sizeof(what), "gated_residual batch=%lld tokens=%lld dim=%lld gate=%d",
		 I(batch), I(tokens), I(dim), with_gate);
	tb_check(oc, &x, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &r);
	if (with_gate)
		tb_free(oc, &mod);
}

static void case_activation(struct oc *oc, int64_t n, enum ts_act act, int in_place)
{
	struct tb x, y;
	char what[96];
	int rc[2];

	tb_new(oc, &x, n, 'r', 4);
	tb_new(oc, &y, n, 'n', 0);
	BOTH(rc, OPS(s)->activation(DEV(s), in_place ? x.p[s] : y.p[s], x.p[s], n, act));
	snprintf(what, sizeof(what), "activation n=%lld act=%d in_place=%d", I(n), (int)act,
		 in_place);
	tb_check(oc, in_place ? &x : &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
}

static void case_softmax(struct oc *oc, int64_t rows, int64_t cols, int in_place)
{
	struct tb x, y;
	char what[96];
	int rc[2];

	tb_new(oc, &x, rows * cols, 'r', 8);
	tb_new(oc, &y, rows * cols, 'n', 0);
	BOTH(rc, OPS(s)->softmax(DEV(s), in_place ? x.p[s] : y.p[s], x.p[s], rows, cols));
	snprintf(what, sizeof(what), "softmax rows=%lld cols=%lld in_place=%d", I(rows), I(cols),
		 in_place);
	tb_check(oc, in_place ? &x : &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
}

static void case_rope(struct oc *oc, int64_t batch, int64_t tokens, int64_t heads, int64_t hd,
		      int64_t n_freq)
{
	int64_t tok = heads * hd + oc_int(0, 3), bstride = tokens * tok + oc_int(0, 5);
	struct tb x, f;
	char what[128];
	int rc[2];

	tb_new(oc, &x, batch * bstride, 'r', 1);
	tb_new(oc, &f, n_freq, 'r', 1);
	for (int64_t i = 0; i < n_freq; i++)
		f.h[i] = (float)pow(10000.0, -2.0 * (double)i / (double)hd);
	tb_push(oc, &f);
	BOTH(rc, OPS(s)->rope(DEV(s), x.p[s], f.p[s], n_freq, batch, tokens, heads, hd, tok,
			      bstride));
	snprintf(what, sizeof(what), "rope batch=%lld tokens=%lld heads=%lld hd=%lld n_freq=%lld",
		 I(batch), I(tokens), I(heads), I(hd), I(n_freq));
	tb_check(oc, &x, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &f);
}

static void case_upsample(struct oc *oc, int64_t n, int64_t c, int64_t t, int64_t h, int64_t w,
			  int ft, int fh, int fw)
{
	struct tb x, y;
	char what[128];
	int rc[2];

	tb_new(oc, &x, n * c * t * h * w, 'r', 1);
	tb_new(oc, &y, n * c * t * ft * h * fh * w * fw, 'n', 0);
	BOTH(rc, OPS(s)->upsample_nearest(DEV(s), y.p[s], x.p[s], n, c, t, h, w, ft, fh, fw));
	snprintf(what, sizeof(what),
		 "upsample_nearest n=%lld c=%lld t,h,w=%lld,%lld,%lld x%d,%d,%d",
		 I(n), I(c), I(t), I(h), I(w), ft, fh, fw);
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
}

static void case_embedding(struct oc *oc, int64_t rows, int64_t dim, int64_t n)
{
	int64_t *ids = malloc((size_t)n * sizeof(*ids));
	struct tb table, y;
	char what[96];
	int rc[2];

	for (int64_t i = 0; i < n; i++)
		ids[i] = oc_int(0, rows - 1);
	tb_new(oc, &table, rows * dim, 'r', 1);
	tb_new(oc, &y, n * dim, 'n', 0);
	BOTH(rc, OPS(s)->embedding(DEV(s), y.p[s], table.p[s], rows, dim, ids, n));
	snprintf(what, sizeof(what), "embedding rows=%lld dim=%lld n=%lld", I(rows), I(dim), I(n));
	tb_check(oc, &y, rc[0], rc[1], what);
	ids[n - 1] = rows;
	ok(OPS(1)->embedding(DEV(1), y.p[1], table.p[1], rows, dim, ids, n) == TS_ERANGE,
	   "%s embedding refuses an id past the table with TS_ERANGE", oc->tag);
	tb_free(oc, &table);
	tb_free(oc, &y);
	free(ids);
}

/* add, mul, axpby (beta 0 on a NaN y, and beta != 0), add_row, fill. */
static void case_elementwise(struct oc *oc, int64_t n)
{
	int64_t rows = 3, cols = n / 3;
	struct tb a, b, y, v;
	float fv = oc_uniform() * 10;
	char what[96];
	int rc[2];

	tb_new(oc, &a, n, 'r', 1);
	tb_new(oc, &b, n, 'r', 1);
	tb_new(oc, &y, n, 'n', 0);
	BOTH(rc, OPS(s)->add(DEV(s), y.p[s], a.p[s], b.p[s], n));
	snprintf(what, sizeof(what), "add n=%lld", I(n));
	tb_check(oc, &y, rc[0], rc[1], what);
	BOTH(rc, OPS(s)->mul(DEV(s), a.p[s], a.p[s], b.p[s], n));
	snprintf(what, sizeof(what), "mul n=%lld in place", I(n));
	tb_check(oc, &a, rc[0], rc[1], what);
	tb_free(oc, &y);
	tb_new(oc, &y, n, 'n', 0);
	BOTH(rc, OPS(s)->axpby(DEV(s), y.p[s], 1.5f, b.p[s], 0.0f, n));
	snprintf(what, sizeof(what), "axpby n=%lld beta=0 (y not read)", I(n));
	tb_check(oc, &y, rc[0], rc[1], what);
	BOTH(rc, OPS(s)->axpby(DEV(s), y.p[s], -0.5f, a.p[s], 0.75f, n));
	snprintf(what, sizeof(what), "axpby n=%lld beta=0.75", I(n));
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_new(oc, &v, cols, 'r', 1);
	BOTH(rc, OPS(s)->add_row(DEV(s), b.p[s], b.p[s], v.p[s], rows, cols));
	snprintf(what, sizeof(what), "add_row batch=%lld n=%lld in place", I(rows), I(cols));
	tb_check(oc, &b, rc[0], rc[1], what);
	BOTH(rc, OPS(s)->fill(DEV(s), y.p[s], fv, n));
	snprintf(what, sizeof(what), "fill n=%lld value=%g", I(n), (double)fv);
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &a);
	tb_free(oc, &b);
	tb_free(oc, &y);
	tb_free(oc, &v);
}

static void case_copy2d(struct oc *oc, int64_t rows, int64_t cols)
{
	int64_t ldx = cols + oc_int(0, 4), ldy = cols + oc_int(1, 4);
	struct tb x, y;
	char what[96];
	int rc[2];

	tb_new(oc, &x, rows * ldx, 'r', 1);
	tb_new(oc, &y, rows * ldy, 'n', 0); /* the gaps stay NaN on both sides */
	BOTH(rc, OPS(s)->copy2d(DEV(s), y.p[s], ldy, x.p[s], ldx, rows, cols));
	snprintf(what, sizeof(what), "copy2d rows=%lld cols=%lld ldx=%lld ldy=%lld", I(rows),
		 I(cols), I(ldx), I(ldy));
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
}

static void case_permute(struct oc *oc, int ndim)
{
	int64_t shape[TS_MAX_DIMS], n = 1;
	int perm[TS_MAX_DIMS];
	struct tb x, y;
	char what[128];
	int rc[2], len = 0;

	for (int d = 0; d < ndim; d++) {
		shape[d] = oc_int(1, 7);
		n *= shape[d];
		perm[d] = d;
	}
	for (int d = ndim - 1; d > 0; d--) { /* Fisher-Yates */
		int j = (int)oc_int(0, d), t = perm[d];

		perm[d] = perm[j];
		perm[j] = t;
	}
	tb_new(oc, &x, n, 'r', 1);
	tb_new(oc, &y, n, 'n', 0);
	BOTH(rc, OPS(s)->permute(DEV(s), y.p[s], x.p[s], ndim, shape, perm));
	len += snprintf(what + len, sizeof(what) - (size_t)len, "permute shape");
	for (int d = 0; d < ndim; d++)
		len += snprintf(what + len, sizeof(what) - (size_t)len, " %lld", I(shape[d]));
	len += snprintf(what + len, sizeof(what) - (size_t)len, " perm");
	for (int d = 0; d < ndim; d++)
		len += snprintf(what + len, sizeof(what) - (size_t)len, " %d", perm[d]);
	tb_check(oc, &y, rc[0], rc[1], what);
	tb_free(oc, &x);
	tb_free(oc, &y);
}

/* Bad shapes are refused with TS_EINVAL, not run. */
static void case_refusals(struct oc *oc)
{
	struct ts_attention a = { .batch = 1, .heads = 1, .q_len = 4, .kv_len = 4,
				  .head_dim = 129, .q_tok = 129, .k_tok = 129, .v_tok = 129,
				  .o_tok = 128, .scale = 1 };
	struct ts_gemm g = { .m = 4, .n = 8, .k = 4, .lda = 4, .ldb = 8, .ldc = 7, .alpha = 1 };
	struct tb buf;

	tb_new(oc, &buf, 4 * 129 * 3, 'r', 1);
	a.q = a.k = a.v = a.o = buf.p[1];
	g.a = g.b = g.c = buf.p[1];
	ok(OPS(1)->attention(DEV(1), &a) == TS_EINVAL,
	   "%s attention refuses an output row shorter than heads * head_dim", oc->tag);
	ok(OPS(1)->gemm(DEV(1), &g) == TS_EINVAL, "%s gemm refuses ldc < n", oc->tag);
	ok(OPS(1)->group_norm(DEV(1), buf.p[1], buf.p[1], NULL, NULL, 1, 6, 4, 4, 1e-5f) ==
	   TS_EINVAL, "%s group_norm refuses channels not divisible by groups", oc->tag);
	tb_free(oc, &buf);
}

/* Odd lengths, every head-dim bucket, strided and fused layouts, key masks. */
static void run_attention_cases(struct oc *oc)
{
	case_attention(oc, 2, 3, 77, 77, 72, 1, 0);
	case_attention(oc, 2, 2, 65, 129, 64, 0, 1);
	case_attention(oc, 1, 2, 130, 33, 128, 0, 0);
	case_attention(oc, 3, 1, 19, 200, 40, 0, 1);
	case_attention(oc, 1, 4, 33, 47, 7, 0, 0);
	case_attention(oc, 2, 2, 100, 90, 96, 0, 1);
	case_attention(oc, 2, 3, 70, 140, 72, -1, 1);
	/* past the fused kernels' 128: the VAE's one head over 512 channels, and masks */
	case_attention(oc, 1, 1, 300, 300, 512, 1, 0);
	case_attention(oc, 2, 2, 37, 81, 160, 0, 1);
	case_attention(oc, 1, 16, 256, 256, 72, 1, 0);
}

/* Every op, on shapes from small and odd to DiT-sized. */
static void run_op_cases(struct oc *oc)
{
	static const enum ts_act acts[] = { TS_ACT_NONE, TS_ACT_GELU_TANH, TS_ACT_SILU,
					    TS_ACT_TANH };

	for (int ta = 0; ta < 2; ta++)
		for (int tbt = 0; tbt < 2; tbt++)
			case_gemm(oc, oc_int(1, 70), oc_int(1, 90), oc_int(1, 130), 0, ta, tbt,
				  (ta + tbt) & 1, 0.0f, TS_ACT_NONE, 1, 0);
	for (int i = 0; i < 4; i++)
		case_gemm(oc, oc_int(20, 200), oc_int(20, 300), oc_int(20, 300), 0, 0, 1, 1,
			  i & 1 ? 0.5f : 0.0f, acts[i], i & 1, 0);
	case_gemm(oc, 37, 53, 71, 5, 0, 1, 1, 0.0f, TS_ACT_NONE, 1, 0);
	case_gemm(oc, 37, 53, 71, 5, 1, 0, 1, 0.5f, TS_ACT_SILU, 1, 1);
	case_gemm(oc, 64, 96, 72, 12, 0, 1, 0, 0.0f, TS_ACT_NONE, 0, 0);
	case_gemm(oc, 64, 96, 72, 12, 0, 0, 1, 0.0f, TS_ACT_GELU_TANH, 0, 1);
	case_gemm(oc, 256, 3456, 1152, 0, 0, 1, 1, 0.0f, TS_ACT_NONE, 0, 0);
	case_gemm(oc, 256, 4608, 1152, 0, 0, 1, 1, 0.0f, TS_ACT_GELU_TANH, 0, 0);
	case_gemm(oc, 256, 1152, 4608, 0, 0, 1, 1, 1.0f, TS_ACT_NONE, 0, 0);

	run_attention_cases(oc);

	case_conv(oc, 2, 5, 7, 1, 9, 11, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1);
	case_conv(oc, 1, 6, 4, 1, 8, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1);
	case_conv(oc, 1, 3, 5, 4, 6, 5, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1);
	case_conv(oc, 2, 4, 3, 1, 9, 10, 1, 3, 3, 1, 2, 2, 0, 1, 1, 0);
	case_conv(oc, 1, 64, 32, 1, 32, 32, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1);

	case_norm(oc, 0, 37, 1152, 0, 0);
	case_norm(oc, 0, 5, 77, 1, 1);
	case_norm(oc, 1, 9, 130, 1, 0);
	case_norm(oc, 1, 4, 3000, 0, 1);
	case_group_norm(oc, 2, 12, 37, 4, 1);
	case_group_norm(oc, 1, 64, 1024, 32, 0);
	case_group_norm(oc, 1, 64, 40000, 8, 1); /* many chunks per group */
	case_ln_modulate(oc, 2, 33, 1152, 0);
	case_ln_modulate(oc, 3, 5, 37, 1);
	case_gated_residual(oc, 2, 33, 1152, 1);
	case_gated_residual(oc, 1, 7, 13, 0);
	for (int i = 1; i < 4; i++)
		case_activation(oc, oc_int(1000, 5000), acts[i], i == 2);
	case_softmax(oc, 7, 1000, 0);
	case_softmax(oc, 33, 5, 1);
	case_rope(oc, 2, 37, 3, 16, 8);
	case_rope(oc, 1, 3000, 2, 72, 30);
	case_upsample(oc, 2, 3, 1, 5, 7, 1, 2, 2);
	case_upsample(oc, 1, 2, 3, 4, 5, 2, 2, 2);
	case_embedding(oc, 1001, 37, 13);
	case_elementwise(oc, 3 * oc_int(100, 3000));
	case_copy2d(oc, 17, 29);
	case_permute(oc, 3);
	case_permute(oc, 5);
	case_refusals(oc);
}

#endif /* TS_TESTS_GPU_OPCASES_H */
