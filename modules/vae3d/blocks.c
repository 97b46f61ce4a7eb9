// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/blocks.c - reading a ResNet block or an attention block's
 * weights from the file, with every shape checked against its neighbours.
 */
#include <stdarg.h>
#include <stdio.h>

#include "vae3d.h"

/*
 * A ResNet block under "<name>.": SD's (2-D, biased 3x3 convs, skip named
 * @sc_name) or the temporal VAE's (3-D "convN.conv", no biases, skip conv3).
 */
int vae_res_load(struct vae_params *ps, struct vae_res *r, int temporal, const char *sc_name,
		 const char *fmt, ...)
{
	const char *cs = temporal ? ".conv" : "";
	int bias = !temporal, err;
	char name[VAE_KEY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	r->sc.w = r->sc.b = -1;
	/* norm1 fixes the input width; every later shape is checked against it. */
	err = vae_norm_load(ps, &r->n1, -1, "%s.norm1", name);
	if (!err)
		err = vae_conv_load(ps, &r->c1, bias, "%s.conv1%s", name, cs);
	if (!err)
		err = vae_conv_expect(ps, &r->c1, r->n1.c, r->c1.c_out, 3, "conv1");
	if (!err)
		err = vae_norm_load(ps, &r->n2, r->c1.c_out, "%s.norm2", name);
	if (!err)
		err = vae_conv_load(ps, &r->c2, bias, "%s.conv2%s", name, cs);
	if (!err)
		err = vae_conv_expect(ps, &r->c2, r->c1.c_out, r->c1.c_out, 3, "conv2");
	if (err || r->c1.c_in == r->c1.c_out)
		return err;
	err = vae_conv_load(ps, &r->sc, bias, "%s.%s%s", name, sc_name, cs);
	if (!err)
		err = vae_conv_expect(ps, &r->sc, r->c1.c_in, r->c1.c_out, 1, sc_name);
	return err;
}

/*
 * The single-head attention block under "<name>.", its sub-names in @names:
 * norm, q, k, v, out (ldm: norm q k v proj_out; diffusers: group_norm to_q
 * to_k to_v to_out.0, or the legacy query key value proj_attn).
 */
int vae_attn_load(struct vae_params *ps, struct vae_attn *a, const char *const names[5],
		  const char *fmt, ...)
{
	char name[VAE_KEY_MAX], kw[3][VAE_KEY_MAX], kb[3][VAE_KEY_MAX];
	const char *wk[3] = { kw[0], kw[1], kw[2] }, *bk[3] = { kb[0], kb[1], kb[2] };
	int64_t any[1] = { -1 }, s2[2], s4[4], s1[1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	a->n.w = vae_param(ps, 1, any, "%s.%s.weight", name, names[0]);
	if (a->n.w < 0)
		return a->n.w;
	a->c = (int)ps->p[a->n.w].src[0].shape[0];
	a->n.c = a->c;
	s1[0] = a->c;
	a->n.b = vae_param(ps, 1, s1, "%s.%s.bias", name, names[0]);
	if (a->n.b < 0)
		return a->n.b;
	for (int i = 0; i < 3; i++) {
		if (snprintf(kw[i], VAE_KEY_MAX, "%s.%s.weight", name, names[1 + i]) >= VAE_KEY_MAX ||
		    snprintf(kb[i], VAE_KEY_MAX, "%s.%s.bias", name, names[1 + i]) >= VAE_KEY_MAX)
			return TS_EINVAL;
	}
	a->qkv_w = vae_param_fused(ps, wk, a->c, a->c);
	if (a->qkv_w < 0)
		return a->qkv_w;
	a->qkv_b = vae_param_fused(ps, bk, a->c, 0);
	if (a->qkv_b < 0)
		return a->qkv_b;
	s2[0] = s2[1] = s4[0] = s4[1] = a->c;
	s4[2] = s4[3] = 1;
	/* ldm stores the projections as 1x1 convolutions: same numbers, two more dims. */
	if (vae_ndim(ps, "%s.%s.weight", name, names[4]) == 4)
		a->proj_w = vae_param(ps, 4, s4, "%s.%s.weight", name, names[4]);
	else
		a->proj_w = vae_param(ps, 2, s2, "%s.%s.weight", name, names[4]);
	if (a->proj_w < 0)
		return a->proj_w;
	a->proj_b = vae_param(ps, 1, s1, "%s.%s.bias", name, names[4]);
	return a->proj_b < 0 ? a->proj_b : 0;
}
