// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/tile.c - memory-bounded SD decoding: the latent is cut into
 * overlapping tiles, each decoded alone (so the device holds one tile's
 * activations), and the decoded tiles are blended with linear ramps across
 * the overlaps into the full image on the host.
 *
 * A tile's GroupNorm statistics and mid-block attention see only the tile,
 * so a tiled image is close to, not equal to, the untiled one; the overlap
 * hides the seams. A tile that covers the whole latent is exact.
 */
#include <string.h>

#include "vae3d.h"

/* Largest square tile edge (latent pixels) whose decode fits @budget bytes; at least 8. */
int vae_tile_for(const struct sd_arch *a, uint64_t budget, int64_t h, int64_t w)
{
	int64_t edge = h > w ? h : w;

	while (edge > 8) {
		int64_t th = edge < h ? edge : h, tw = edge < w ? edge : w;

		if (sd_decode_bytes(a, 1, th, tw) <= budget)
			break;
		edge = edge * 7 / 8;
	}
	return edge < 8 ? 8 : (int)edge;
}

/* Tile starts along one axis of @n: @len apart less the overlap, the last flush with the end. */
static int tile_starts(int64_t n, int64_t len, int64_t ov, int64_t *s, int max)
{
	int k = 0;
	int64_t p = 0;

	while (k < max) {
		s[k++] = p;
		if (p + len >= n)
			break;
		p += len - ov;
		if (p + len > n)
			p = n - len;
	}
	return k;
}

/* Blend weight of pixel @p of a tile of @len pixels at [@start, @start + len) of @full. */
static float ramp(int64_t p, int64_t len, int64_t start, int64_t full, int64_t ramp_px)
{
	float w = 1.0f;

	if (ramp_px <= 0)
		return w;
	if (start > 0 && (p + 0.5f) / ramp_px < w)
		w = (p + 0.5f) / ramp_px;
	if (start + len < full && (len - p - 0.5f) / ramp_px < w)
		w = (len - p - 0.5f) / ramp_px;
	return w;
}

struct tile_geo {
	int64_t h, w, th, tw, f, ov, C, Z;
};

static void crop(const float *lat, const struct tile_geo *g, int64_t y0, int64_t x0, float *dst)
{
	for (int64_t c = 0; c < g->Z; c++)
		for (int64_t y = 0; y < g->th; y++)
			memcpy(dst + (c * g->th + y) * g->tw, lat + (c * g->h + y0 + y) * g->w + x0,
			       sizeof(float) * (size_t)g->tw);
}

static void blend(const float *tp, const struct tile_geo *g, int64_t y0, int64_t x0, float *out,
		  float *wsum)
{
	int64_t H = g->h * g->f, W = g->w * g->f, TH = g->th * g->f, TW = g->tw * g->f;

	for (int64_t y = 0; y < TH; y++) {
		float wy = ramp(y, TH, y0 * g->f, H, g->ov * g->f);

		for (int64_t x = 0; x < TW; x++) {
			float wt = wy * ramp(x, TW, x0 * g->f, W, g->ov * g->f);
			int64_t o = (y0 * g->f + y) * W + x0 * g->f + x;

			for (int64_t c = 0; c < g->C; c++)
				out[c * H * W + o] += wt * tp[(c * TH + y) * TW + x];
			wsum[o] += wt;
		}
	}
}

static int one_tile(struct vctx *cx, const struct sd_arch *a, const struct tile_geo *g,
		    const float *lat, int64_t y0, int64_t x0, float *in, float *tp, float *out,
		    float *wsum)
{
	struct vt x;
	int err;

	crop(lat, g, y0, x0, in);
	err = vae_upload(cx, &x, in, 1, g->Z, 1, g->th, g->tw);
	if (err)
		return err;
	err = sd_decode_run(cx, a, &x);
	if (!err)
		err = vae_download(cx, &x, tp);
	vt_free(cx, &x);
	if (!err)
		blend(tp, g, y0, x0, out, wsum);
	return err;
}

/* One latent [z, h, w] (host, already scaled) -> pixels [out_ch, H, W] (host), tile by tile. */
int vae_sd_tiled(struct vctx *cx, const struct sd_arch *a, const float *lat, int64_t h,
		 int64_t w, int tile, int overlap, float *out)
{
	struct tile_geo g = { .h = h, .w = w, .f = (int64_t)1 << (a->n_levels - 1),
			      .C = a->out_ch, .Z = a->z_ch };
	int64_t ys[1024], xs[1024], npix = h * g.f * w * g.f;
	float *in, *tp, *wsum;
	vae_trace_fn trace = cx->trace;
	int ny, nx, err = 0;

	g.th = tile < h ? tile : h;
	g.tw = tile < w ? tile : w;
	g.ov = overlap;
	if (g.ov >= g.th || g.ov >= g.tw)
		g.ov = (g.th < g.tw ? g.th : g.tw) / 2;
	ny = tile_starts(h, g.th, g.ov, ys, 1024);
	nx = tile_starts(w, g.tw, g.ov, xs, 1024);
	in = cx->host->alloc(sizeof(float) * (size_t)(g.Z * g.th * g.tw));
	tp = cx->host->alloc(sizeof(float) * (size_t)(g.C * g.th * g.f * g.tw * g.f));
	wsum = cx->host->alloc(sizeof(float) * (size_t)npix);
	if (!in || !tp || !wsum) {
		err = TS_ENOMEM;
		goto out_free;
	}
	memset(out, 0, sizeof(float) * (size_t)(g.C * npix));
	memset(wsum, 0, sizeof(float) * (size_t)npix);
	cx->trace = NULL; /* intermediates of a tile are not the image's */
	for (int i = 0; i < ny && !err; i++)
		for (int j = 0; j < nx && !err; j++)
			err = one_tile(cx, a, &g, lat, ys[i], xs[j], in, tp, out, wsum);
	cx->trace = trace;
	for (int64_t c = 0; c < g.C && !err; c++)
		for (int64_t p = 0; p < npix; p++)
			out[c * npix + p] /= wsum[p];
out_free:
	cx->host->free(in);
	cx->host->free(tp);
	cx->host->free(wsum);
	return err;
}
