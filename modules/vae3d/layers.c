// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/layers.c - the layers both VAEs are made of, computed only
 * through the device's op table: causal 3-D (or 2-D) convolution, GroupNorm
 * + SiLU, the ResNet block, single-head spatial attention, nearest x2
 * upsampling + conv, and the depth-to-time shuffle.
 *
 * Layers that transform an activation take it by pointer and replace it with
 * their output, freeing the input as soon as it is dead, so the peak device
 * memory of a forward pass is a few activations, not all of them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "vae3d.h"

static void pool_drop(struct vctx *cx, int i)
{
	cx->host->dev_free(cx->dev, cx->pool_p[i]);
	cx->cur_bytes -= (uint64_t)cx->pool_n[i] * cx->esize;
	cx->n_pool--;
	for (; i < cx->n_pool; i++) {
		cx->pool_p[i] = cx->pool_p[i + 1];
		cx->pool_n[i] = cx->pool_n[i + 1];
	}
}

static void *pool_take(struct vctx *cx, int64_t n)
{
	for (int i = 0; i < cx->n_pool; i++) {
		void *p = cx->pool_p[i];

		if (cx->pool_n[i] != n)
			continue;
		cx->n_pool--;
		cx->pool_p[i] = cx->pool_p[cx->n_pool];
		cx->pool_n[i] = cx->pool_n[cx->n_pool];
		return p;
	}
	return NULL;
}

/* Give back every pooled buffer (end of a pass, or the device is short of memory). */
void vae_ctx_fini(struct vctx *cx)
{
	while (cx->n_pool)
		pool_drop(cx, cx->n_pool - 1);
}

int vt_alloc(struct vctx *cx, struct vt *x, int64_t n, int64_t c, int64_t t, int64_t h, int64_t w)
{
	*x = (struct vt){ .n = n, .c = c, .t = t, .h = h, .w = w };
	x->p = pool_take(cx, vt_numel(x));
	if (x->p)
		return 0;
	/* A miss empties the pool first, so pooling never raises the peak. */
	vae_ctx_fini(cx);
	x->p = cx->host->dev_alloc(cx->dev, (size_t)vt_numel(x));
	if (!x->p) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO,
			      "no device memory for a [%lld, %lld, %lld, %lld, %lld] activation",
			      (long long)n, (long long)c, (long long)t, (long long)h, (long long)w);
		return TS_ENOMEM;
	}
	cx->cur_bytes += (uint64_t)vt_numel(x) * cx->esize;
	if (cx->cur_bytes > cx->peak_bytes)
		cx->peak_bytes = cx->cur_bytes;
	return 0;
}

void vt_free(struct vctx *cx, struct vt *x)
{
	if (!x->p)
		return;
	if (cx->pool_max > 0) {
		if (cx->n_pool == cx->pool_max)
			pool_drop(cx, 0); /* the oldest */
		cx->pool_p[cx->n_pool] = x->p;
		cx->pool_n[cx->n_pool++] = vt_numel(x);
	} else {
		cx->host->dev_free(cx->dev, x->p);
		cx->cur_bytes -= (uint64_t)vt_numel(x) * cx->esize;
	}
	x->p = NULL;
}

void *vt_at(const struct vctx *cx, const void *p, int64_t off)
{
	return (char *)p + off * (int64_t)cx->esize;
}

void vae_trace(struct vctx *cx, const struct vt *x, int ndim, const char *fmt, ...)
{
	int64_t s4[4] = { x->n, x->c, x->h, x->w };
	int64_t s5[5] = { x->n, x->c, x->t, x->h, x->w };
	char name[VAE_KEY_MAX];
	va_list ap;

	if (!cx->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	cx->trace(cx->trace_arg, name, x->p, ndim, ndim == 4 ? s4 : s5);
}

/* Causal in time (pad kt - st frames in front), "same" in space; stride only in time. */
int vae_conv_run(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y)
{
	int pad_t = cv->kt - cv->st;
	int64_t t_out = (x->t + pad_t - cv->kt) / cv->st + 1;
	int err;

	if (x->c != cv->c_in) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO, "conv expects %d input channels, got %lld",
			      cv->c_in, (long long)x->c);
		return TS_EINVAL;
	}
	if (cv->phases) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO, "an upsampling conv runs only after its x2");
		return TS_EINVAL;
	}
	if (cv->taps)
		return vae_conv_taps(cx, cv, x, y);
	err = vt_alloc(cx, y, x->n, cv->c_out, t_out, x->h, x->w);
	if (err)
		return err;
	err = cx->ops->conv(cx->dev, &(struct ts_conv){
		.n = x->n, .c_in = x->c, .c_out = cv->c_out, .t = x->t, .h = x->h, .w = x->w,
		.kt = cv->kt, .kh = cv->kh, .kw = cv->kw, .st = cv->st, .sh = 1, .sw = 1,
		.pad_t_front = pad_t, .pad_h = cv->kh / 2, .pad_w = cv->kw / 2,
		.x = x->p, .weight = cx->w[cv->w], .bias = cv->b >= 0 ? cx->w[cv->b] : NULL,
		.y = y->p,
	});
	if (err)
		vt_free(cx, y);
	return err;
}

/* Replace *x by conv(x). */
int vae_conv_step(struct vctx *cx, const struct vae_conv *cv, struct vt *x)
{
	struct vt y;
	int err = vae_conv_run(cx, cv, x, &y);

	if (err)
		return err;
	vt_free(cx, x);
	*x = y;
	return 0;
}

static int norm_run(struct vctx *cx, const struct vae_norm *n, const struct vt *x, struct vt *y)
{
	int err = vt_alloc(cx, y, x->n, x->c, x->t, x->h, x->w);

	if (err)
		return err;
	err = cx->ops->group_norm(cx->dev, y->p, x->p, cx->w[n->w], cx->w[n->b], x->n, x->c,
				  x->t * x->h * x->w, cx->groups, cx->eps);
	if (err)
		vt_free(cx, y);
	return err;
}

/* y = SiLU(GroupNorm(x)): statistics over (channels of the group, T, H, W). */
int vae_norm_silu(struct vctx *cx, const struct vae_norm *n, const struct vt *x, struct vt *y)
{
	int err = norm_run(cx, n, x, y);

	if (err)
		return err;
	err = cx->ops->activation(cx->dev, y->p, y->p, vt_numel(y), TS_ACT_SILU);
	if (err)
		vt_free(cx, y);
	return err;
}

/* norm-SiLU-conv, the unit a ResNet block repeats; replaces *x. */
static int nsc_step(struct vctx *cx, const struct vae_norm *n, const struct vae_conv *cv,
		    struct vt *x, int free_in)
{
	struct vt h, y;
	int err = vae_norm_silu(cx, n, x, &h);

	if (err)
		return err;
	err = vae_conv_run(cx, cv, &h, &y);
	vt_free(cx, &h);
	if (err)
		return err;
	if (free_in)
		vt_free(cx, x);
	*x = y;
	return 0;
}

/* x + conv2(SiLU(GN(conv1(SiLU(GN(x)))))), the skip through a 1x1 conv when channels change. */
int vae_res_run(struct vctx *cx, const struct vae_res *r, struct vt *x)
{
	struct vt h = *x, s;
	int err;

	err = nsc_step(cx, &r->n1, &r->c1, &h, 0);
	if (err)
		return err;
	err = nsc_step(cx, &r->n2, &r->c2, &h, 1);
	if (err)
		goto free_h;
	if (r->sc.w >= 0) {
		err = vae_conv_step(cx, &r->sc, x);
		if (err)
			goto free_h;
	}
	s = *x;
	err = cx->ops->add(cx->dev, h.p, h.p, s.p, vt_numel(&h));
	if (err)
		goto free_h;
	vt_free(cx, x);
	*x = h;
	return 0;
free_h:
	vt_free(cx, &h);
	return err;
}

/* [n, S, 3C] = GN(x)^T Wqkv^T + b: the transposed read turns channel-major into token rows. */
static int attn_qkv(struct vctx *cx, const struct vae_attn *a, const struct vt *x, struct vt *qkv)
{
	int64_t S = x->t * x->h * x->w, C = x->c;
	struct vt hn;
	int err;

	err = norm_run(cx, &a->n, x, &hn);
	if (err)
		return err;
	err = vt_alloc(cx, qkv, x->n, S, 1, 1, 3 * C);
	if (err)
		goto free_hn;
	err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
		.trans_a = 1, .trans_b = 1, .m = S, .n = 3 * C, .k = C,
		.a = hn.p, .lda = S, .b = cx->w[a->qkv_w], .ldb = C, .c = qkv->p, .ldc = 3 * C,
		.bias = cx->w[a->qkv_b], .alpha = 1.0f, .beta = 0.0f, .act = TS_ACT_NONE,
		.batch = x->n, .stride_a = C * S, .stride_b = 0, .stride_c = S * 3 * C,
	});
	if (err)
		vt_free(cx, qkv);
free_hn:
	vt_free(cx, &hn);
	return err;
}

static int attn_core(struct vctx *cx, const struct vt *x, const struct vt *qkv, struct vt *o)
{
	int64_t S = x->t * x->h * x->w, C = x->c;
	int err = vt_alloc(cx, o, x->n, S, 1, 1, C);

	if (err)
		return err;
	err = cx->ops->attention(cx->dev, &(struct ts_attention){
		.batch = x->n, .heads = 1, .q_len = S, .kv_len = S, .head_dim = C,
		.q = qkv->p, .k = vt_at(cx, qkv->p, C), .v = vt_at(cx, qkv->p, 2 * C), .o = o->p,
		.q_tok = 3 * C, .k_tok = 3 * C, .v_tok = 3 * C, .o_tok = C,
		.q_batch = 3 * C * S, .k_batch = 3 * C * S, .v_batch = 3 * C * S, .o_batch = C * S,
		.key_mask = NULL, .scale = (float)(1.0 / sqrt((double)C)),
	});
	if (err)
		vt_free(cx, o);
	return err;
}

/* proj(o) back to channel-major, so the residual add is elementwise. */
static int attn_out(struct vctx *cx, const struct vae_attn *a, const struct vt *x, struct vt *o,
		    struct vt *y)
{
	int64_t S = x->t * x->h * x->w, C = x->c;
	int64_t shape[3] = { x->n, S, C };
	int perm[3] = { 0, 2, 1 };
	struct vt p;
	int err;

	err = vt_alloc(cx, &p, x->n, S, 1, 1, C);
	if (err)
		return err;
	err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
		.trans_a = 0, .trans_b = 1, .m = S, .n = C, .k = C,
		.a = o->p, .lda = C, .b = cx->w[a->proj_w], .ldb = C, .c = p.p, .ldc = C,
		.bias = cx->w[a->proj_b], .alpha = 1.0f, .beta = 0.0f, .act = TS_ACT_NONE,
		.batch = x->n, .stride_a = S * C, .stride_b = 0, .stride_c = S * C,
	});
	if (err)
		goto free_p;
	err = vt_alloc(cx, y, x->n, x->c, x->t, x->h, x->w);
	if (err)
		goto free_p;
	err = cx->ops->permute(cx->dev, y->p, p.p, 3, shape, perm);
	if (!err)
		err = cx->ops->add(cx->dev, y->p, y->p, x->p, vt_numel(y));
	if (err)
		vt_free(cx, y);
free_p:
	vt_free(cx, &p);
	return err;
}

/* x + proj(softmax(q k^T / sqrt(C)) v), one head over all positions; replaces *x. */
int vae_attn_run(struct vctx *cx, const struct vae_attn *a, struct vt *x)
{
	struct vt qkv, o, y;
	int err;

	err = attn_qkv(cx, a, x, &qkv);
	if (err)
		return err;
	err = attn_core(cx, x, &qkv, &o);
	vt_free(cx, &qkv);
	if (err)
		return err;
	err = attn_out(cx, a, x, &o, &y);
	vt_free(cx, &o);
	if (err)
		return err;
	vt_free(cx, x);
	*x = y;
	return 0;
}

/* Nearest x2 in H and W, then the 3x3 conv; replaces *x. */
int vae_upsample2d(struct vctx *cx, const struct vae_conv *cv, struct vt *x)
{
	struct vt u;
	int err;

	if (cv->phases) {
		err = vae_upconv_run(cx, cv, x, &u);
		if (err)
			return err;
		vt_free(cx, x);
		*x = u;
		return 0;
	}
	err = vt_alloc(cx, &u, x->n, x->c, x->t, 2 * x->h, 2 * x->w);
	if (err)
		return err;
	err = cx->ops->upsample_nearest(cx->dev, u.p, x->p, x->n, x->c, x->t, x->h, x->w, 1, 2, 2);
	if (err) {
		vt_free(cx, &u);
		return err;
	}
	vt_free(cx, x);
	*x = u;
	return vae_conv_step(cx, cv, x);
}

/*
 * [n, 2C, T, H, W] -> [n, C, 2T, H, W]: channel 2c + r at frame t goes to
 * channel c at frame 2t + r (upstream's "B (C ts) T H W -> B C (T ts) H W").
 */
int vae_depth_to_time(struct vctx *cx, struct vt *x)
{
	int64_t shape[4] = { x->n * (x->c / 2), 2, x->t, x->h * x->w };
	int perm[4] = { 0, 2, 1, 3 };
	struct vt y;
	int err;

	err = vt_alloc(cx, &y, x->n, x->c / 2, 2 * x->t, x->h, x->w);
	if (err)
		return err;
	err = cx->ops->permute(cx->dev, y.p, x->p, 4, shape, perm);
	if (err) {
		vt_free(cx, &y);
		return err;
	}
	vt_free(cx, x);
	*x = y;
	return 0;
}
