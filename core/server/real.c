// SPDX-License-Identifier: MIT
/*
 * core/server/real.c - the server on the real executor: [pool] backend =
 * cpu (or cuda) runs the models' steps on the pool's devices through the
 * real-time engine (core/rt.h), and finished latents are decoded to PNG by
 * the decoder each [model NAME] names (decoder = SECTION).
 *
 * Decoding runs in a thread of its own on a device of its own (one CPU
 * device opened apart from the engine's pool), so a VAE decode never holds
 * up the engine's rounds nor shares a device with a step in flight; a job
 * shows "decoding" meanwhile. Latents are copied out of the executor on the
 * engine thread, which owns it.
 *
 * Sizes a model serves are probed at start: each square size of sizes[]
 * the model's plan() accepts (its cost table is built then, too).
 */
#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "config.h" /* $builddir/config.h: TS_HAVE_SPNG */
#ifdef TS_HAVE_SPNG
#include <spng.h>
#endif

#include "../config.h" /* core/config.h */
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "rt.h"
#include "server_int.h"

#define REAL_DEFAULT_STEPS 50
#define REAL_MAX_STEPS 1000

static const int sizes[] = { 32, 64, 128, 256, 512, 1024 };

struct srv_dec {
	const struct ts_decoder_ops *ops;
	void *inst, *w;
};

struct srv_real {
	struct ts_pool *dpool;   /* the decode device */
	int nice;                /* [pool] compute_nice: of the decode and device threads */
	struct srv_dec dec[TS_API_MAX_MODELS];
	int model[TS_API_MAX_MODELS]; /* catalog index -> index in rt->models (may move) */
	pthread_t thr;
	int started, stop;
	pthread_cond_t cv;       /* decode queue not empty, or stop; with srv->mu */
	struct ts_job *head, **tail;
};

/* --- PNG in memory, as base64 --------------------------------------------- */

char *ts_srv_base64(const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return out;
}

/* Pixels [C, H, W] in [-1, 1] -> PNG bytes -> base64 (malloc'ed), or NULL. */
static char *png_b64(const float *chw, int c, int h, int w)
{
#ifdef TS_HAVE_SPNG
	struct spng_ihdr ihdr = {
		.width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = 8,
		.color_type = c == 1 ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR,
	};
	int ch = c == 1 ? 1 : 3, err = 0;
	size_t n = (size_t)w * h * ch, png_len = 0;
	unsigned char *px = malloc(n);
	spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
	void *png = NULL;
	char *b = NULL;

	if (!px || !ctx || c < 1)
		goto out;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < ch; k++) {
				float v = (chw[((size_t)k * h + y) * w + x] + 1.0f) * 127.5f;

				px[((size_t)y * w + x) * ch + k] =
					(unsigned char)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
			}
	spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
	err = spng_set_ihdr(ctx, &ihdr);
	if (!err)
		err = spng_encode_image(ctx, px, n, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
	if (!err)
		png = spng_get_png_buffer(ctx, &png_len, &err);
	if (png && !err)
		b = ts_srv_base64(png, png_len);
	else
		ts_err("server", "PNG encode: %s", spng_strerror(err));
out:
	free(png);
	spng_ctx_free(ctx);
	free(px);
	return b;
#else
	ts_err("server", "built without libspng: no PNG output");
	return NULL;
#endif
}

/* --- the decode thread ---------------------------------------------------- */

/* [1, C, T, H, W] into [1, C, H, W] of its frame 0, in place (each plane moves down). */
static void first_frame(struct ts_tensor *img)
{
	int64_t c = img->shape[1], t = img->shape[2], hw = img->shape[3] * img->shape[4];
	float *x = img->data;

	for (int64_t i = 1; i < c; i++)
		memmove(x + i * hw, x + i * t * hw, (size_t)hw * sizeof(float));
	img->ndim = 4;
	img->shape[2] = img->shape[3];
	img->shape[3] = img->shape[4];
	img->shape[4] = 0;
}

/* A video's frames into j->mp4 and, for the JSON answer, *b64. */
static int video_out(struct ts_job *j, const struct ts_tensor *img, char **b64)
{
	int err = ts_srv_video_mp4(img, j->req.fps, &j->mp4, &j->mp4_len);

	if (!err && !(*b64 = ts_srv_base64(j->mp4, j->mp4_len)))
		err = TS_ENOMEM;
	return err;
}

/* One image (or a video job's video); 0 and *b64 set, or an error with @why filled. */
static int decode_one(struct srv_real *re, const struct srv_dec *d, struct ts_job *j,
		      const struct ts_tensor *lat, char **b64, char *why, size_t why_len)
{
	struct ts_tensor img = { 0 };
	int err = d->ops->decode(d->inst, re->dpool->dev[0].dev, d->w, lat, 0, &img);
	int video = j->req.frames > 1;

	/*
	 * A video decoder gives [1, 3, T, H, W], an image one [1, C, H, W]. A
	 * video model's single-frame request is an image: the first frame (its
	 * decoder may pad time, as the toy VAE of the tests does).
	 */
	if (!err && !video && img.ndim == 5 && img.shape[0] == 1)
		first_frame(&img);
	if (!err && (img.ndim != (video ? 5 : 4) || img.shape[0] != 1))
		err = TS_EINVAL;
	if (!err && video) {
		err = video_out(j, &img, b64);
	} else if (!err) {
		*b64 = png_b64(img.data, (int)img.shape[1], (int)img.shape[2], (int)img.shape[3]);
		if (!*b64)
			err = TS_ENOMEM;
	}
	if (err)
		snprintf(why, why_len, "decoder %s: %s", d->ops->name, ts_strerror(err));
	ts_host_free(img.data);
	return err;
}

static void *decode_main(void *arg)
{
	struct ts_server *s = arg;
	struct srv_real *re = s->real;
	struct srv_shape *sh;
	struct ts_job *j;
	double t0, dt;

	/*
	 * Decoding is compute, like the steps: below the HTTP and engine
	 * threads, so a full decode queue does not slow the answer to a
	 * submission (Linux nice is per thread).
	 */
	if (re->nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), re->nice))
		ts_dbg("server", "decode thread: nice %d refused; it runs at normal priority",
		       re->nice);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		char why[160] = "";
		int err = 0;

		while (!re->head && !re->stop)
			pthread_cond_wait(&re->cv, &s->mu);
		if (!re->head)
			break;
		j = re->head;
		re->head = j->mnext;
		if (!re->head)
			re->tail = &re->head;
		pthread_mutex_unlock(&s->mu);
		t0 = srv_now(s);
		/* The job's latents and model are fixed now; nobody else writes them. */
		for (int i = 0; !err && i < j->req.n; i++)
			err = decode_one(re, &re->dec[j->req.model], j, &j->lat[i], &j->b64[i],
					 why, sizeof(why));
		dt = (srv_now(s) - t0) / j->req.n;
		pthread_mutex_lock(&s->mu);
		/* What admission adds to a deadline's floor and to the SLO's base. */
		sh = &s->shapes[j->shape];
		sh->decode_s = sh->decode_s > 0 ? 0.8 * sh->decode_s + 0.2 * dt : dt;
		if (!err)
			ts_srv_hist_add(&s->m.shape[j->shape].decode, dt);
		j->state = err ? JOB_FAILED : JOB_COMPLETED;
		j->has_images = !err;
		if (err)
			snprintf(j->error, sizeof(j->error), "%s", why);
		j->finished_s = srv_now(s);
		s->n_decoding--;
		ts_srv_metrics_finish(s, j);
		ts_srv_job_touch(s, j);
		pthread_cond_broadcast(&s->job_cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- start and stop ------------------------------------------------------- */

/* The decoder catalog model @k names (decoder = SECTION, a section of @cfg), if any. */
static int open_decoder(struct ts_server *s, struct ts_config *cfg, int k)
{
	struct srv_real *re = s->real;
	const struct ts_rt_model *m = &s->rt->models[re->model[k]];
	const char *dname = ts_cfg_str(m->sec, "decoder");
	struct srv_dec *d = &re->dec[k];
	struct ts_section *dsec;
	char name[256];
	int err;

	if (!dname)
		return 0;
	snprintf(name, sizeof(name), "model %s", dname);
	dsec = ts_config_section(cfg, name);
	if (dsec && ts_cfg_str(dsec, "module"))
		d->ops = ts_find_decoder(ts_cfg_str(dsec, "kind") ? ts_cfg_str(dsec, "kind")
								  : ts_cfg_str(dsec, "module"));
	if (!d->ops)
		return ts_cfg_error(m->sec, "decoder", "no [model %s] with a decoder module", dname);
	/* one loaded at run time: its schema, as ts_config_bind() did at start */
	if (cfg != s->cfg && ts_config_bind_model(dsec))
		return TS_EINVAL;
	if (!re->dpool) {
		err = ts_pool_open_niced("cpu", ts_host_api(), 1, (int)ts_cfg_int(
			ts_config_section_get(s->cfg, "pool"), "threads_per_device"), NULL,
			re->nice, &re->dpool);
		if (err)
			return err;
	}
	err = d->ops->configure(ts_host_api(), dsec, &d->inst);
	if (!err)
		err = d->ops->load(d->inst, re->dpool->dev[0].dev, &d->w);
	if (err)
		ts_err("server", "[model %s]: decoder %s did not load (%s)", m->name, dname,
		       ts_strerror(err));
	return err;
}

int ts_srv_real_shape(struct ts_server *s, int model, int w, int h, int frames,
		      struct srv_shape *sh)
{
	const struct ts_api_model *am = &s->cat.m[model];
	struct ts_req_params p = {
		.width = w, .height = h, .frames = frames, .steps = am->default_steps,
		.class_label = am->n_classes ? 0 : -1,
	};
	const struct ts_cost *c = ts_rt_cost(s->rt, &s->rt->models[s->real->model[model]], &p);

	if (!c)
		return TS_ERANGE;
	*sh = (struct srv_shape){ .model = model, .width = w, .height = h, .frames = frames };
	return ts_srv_shape_fill(sh, c, ts_costbook_klass(s->rt->costs, c));
}

/* Probing sizes asks plan() about sizes it refuses: those refusals are not news. */
static void drop_line(enum ts_log_level lvl, const char *line, void *arg)
{
}

/*
 * A video model is one whose plan() gives a 5-D latent with more than one
 * latent frame for a many-frame request (an image model ignores frames);
 * it is then served videos of up to TS_SRV_MAX_FRAMES frames, else none.
 */
static int video_frames(const struct ts_rt_model *m, int w, int h)
{
	struct ts_req_params p = { .width = w, .height = h, .frames = 17, .class_label = -1 };
	struct ts_work wk = { 0 };

	if (m->ops->plan(m->inst, &p, &wk) || wk.latent_shape_ndim != 5 || wk.latent_shape[2] < 2)
		return 0;
	return TS_SRV_MAX_FRAMES;
}

/* rt->models[@idx] into the catalog with the sizes it plans; not served when none. */
static void catalog_model(struct ts_server *s, int idx)
{
	const struct ts_rt_model *m = &s->rt->models[idx];
	struct ts_api_model *am = &s->cat.m[s->cat.n];
	int line, k = s->cat.n;

	memset(am, 0, sizeof(*am));
	snprintf(am->name, sizeof(am->name), "%s", m->name);
	am->default_steps = ts_section_raw(m->sec, "steps", &line) ?
			    (int)ts_cfg_int(m->sec, "steps") : REAL_DEFAULT_STEPS;
	am->max_steps = am->default_steps > REAL_MAX_STEPS ? am->default_steps : REAL_MAX_STEPS;
	am->n_classes = ts_section_raw(m->sec, "num_classes", &line) ?
			(int)ts_cfg_int(m->sec, "num_classes") : 0;
	s->real->model[k] = idx;
	s->cat.n++;
	ts_log_set_sink(drop_line, NULL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct srv_shape *sh = &s->shapes[s->n_shapes];

		if (s->n_shapes == SRV_MAX_SHAPES || ts_srv_real_shape(s, k, sizes[i], sizes[i], 1, sh))
			continue;
		s->n_shapes++;
		am->w[am->n_sizes] = am->h[am->n_sizes] = sizes[i];
		am->n_sizes++;
	}
	if (am->n_sizes)
		am->max_frames = video_frames(m, am->w[0], am->h[0]);
	/*
	 * Caption embeddings from the request: for a video model whose section
	 * says their shape (stdit's keys, Open-Sora's names); its plan() checks them.
	 */
	if (am->max_frames) {
		am->caption_ch = (int)ts_cfg_int(m->sec, "caption_channels");
		am->caption_len = (int)ts_cfg_int(m->sec, "model_max_length");
		if (am->caption_ch <= 0 || am->caption_len <= 0)
			am->caption_ch = am->caption_len = 0;
	}
	ts_log_set_sink(NULL, NULL);
	if (!am->n_sizes) {
		ts_warn("server", "[model %s]: none of 32..1024 px square plans: not served",
			m->name);
		s->cat.n--;
		return;
	}
	s->model_loaded[k] = 1;
}

int ts_srv_real_open(struct ts_server *s)
{
	struct srv_real *re = calloc(1, sizeof(*re));
	struct ts_rt_opts ro = { 0 };
	int err;

	if (!re)
		return TS_ENOMEM;
	s->real = re;
	re->tail = &re->head;
	pthread_cond_init(&re->cv, NULL);
	/* Modules checked against their schemas (defaults applied) before they configure. */
	err = ts_config_bind(s->cfg);
	/*
	 * The control plane (HTTP, admission, the engine thread) must not queue
	 * behind compute on shared cores: the devices' threads and the decoder
	 * run at [pool] compute_nice.
	 */
	re->nice = (int)ts_cfg_int(ts_config_section_get(s->cfg, "pool"), "compute_nice");
	ro.compute_nice = re->nice;
	if (!err)
		err = ts_rt_open_config(s->cfg, &ro, &s->rt);
	if (err)
		return err;
	s->eng = s->rt->eng;
	s->pool = s->rt->pool;
	s->cache = s->rt->cache;
	s->clk = &s->rt->clock;
	snprintf(s->policy, sizeof(s->policy), "%s", ts_engine_policy(s->eng)->name);
	for (int i = 0; i < s->rt->n_models && s->cat.n < TS_API_MAX_MODELS; i++) {
		int k = s->cat.n;

		catalog_model(s, i);
		if (s->cat.n > k && (err = open_decoder(s, s->cfg, k)))
			return err;
	}
	if (!s->cat.n) {
		ts_err("server", "%s: no [model NAME] can be served", ts_config_path(s->cfg));
		return TS_EINVAL;
	}
	if (pthread_create(&re->thr, NULL, decode_main, s))
		return TS_ENOMEM;
	re->started = 1;
	return 0;
}

void ts_srv_real_close(struct ts_server *s)
{
	struct srv_real *re = s->real;

	if (!re)
		return;
	if (re->started) {
		pthread_mutex_lock(&s->mu);
		re->stop = 1;
		pthread_cond_signal(&re->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(re->thr, NULL);
	}
	for (int i = 0; i < TS_API_MAX_MODELS; i++) {
		struct srv_dec *d = &re->dec[i];

		if (d->w)
			d->ops->unload(d->inst, re->dpool->dev[0].dev, d->w);
		if (d->inst)
			d->ops->release(d->inst);
	}
	ts_pool_free(re->dpool);
	ts_rt_close(s->rt);
	s->rt = NULL;
	s->eng = NULL;
	s->pool = NULL;
	s->cache = NULL;
	pthread_cond_destroy(&re->cv);
	free(re);
	s->real = NULL;
}

/* --- engine-thread hooks -------------------------------------------------- */

int ts_srv_real_load(struct ts_server *s, struct ts_config *cfg, struct ts_section *sec,
		     char *msg, size_t msg_len)
{
	int k = s->cat.n, n_shapes = s->n_shapes, idx, err;

	if (k == TS_API_MAX_MODELS) {
		snprintf(msg, msg_len, "the server serves at most %d models", TS_API_MAX_MODELS);
		return TS_ENOMEM;
	}
	err = ts_rt_add_model(s->rt, sec, &idx);
	if (err) {
		snprintf(msg, msg_len, "[%s] refused (%s); the log names why", ts_section_name(sec),
			 ts_strerror(err));
		return err;
	}
	pthread_rwlock_wrlock(&s->cat_rw);
	catalog_model(s, idx);
	err = s->cat.n > k ? open_decoder(s, cfg, k) : TS_ERANGE;
	if (err && s->cat.n > k) {
		/* not served without its decoder: the catalog forgets it again */
		s->cat.n = k;
		s->n_shapes = n_shapes;
		s->model_loaded[k] = 0;
	}
	pthread_rwlock_unlock(&s->cat_rw);
	if (err)
		snprintf(msg, msg_len, "[%s] loaded, but %s", ts_section_name(sec),
			 err == TS_ERANGE ? "none of 32..1024 px square plans" :
			 "its decoder did not load (see the log)");
	return err;
}

int ts_srv_real_submit(struct ts_server *s, struct ts_job *j, double now)
{
	const struct ts_api_model *am = &s->cat.m[j->req.model];
	uint64_t base = j->req.has_seed ? j->req.seed : (s->id_nonce << 24) ^ (j->seq * 7919u);

	/* begin() copies the caption into the request's state: these live long enough. */
	struct ts_tensor cap = {
		.dtype = TS_F32, .ndim = 2, .shape = { j->req.caption_rows, j->req.caption_ch },
		.data = j->req.caption,
	};
	struct ts_tensor mask = {
		.dtype = TS_U8, .ndim = 1, .shape = { j->req.caption_rows },
		.data = j->req.caption_mask,
	};

	for (int i = 0; i < j->req.n; i++) {
		/* Image i of n gets seed + i: n images, n different pictures, all reproducible. */
		struct ts_req_params p = {
			.cond = j->req.caption ? &cap : NULL,
			.cond_mask = j->req.caption_mask ? &mask : NULL,
			.width = j->req.width, .height = j->req.height, .frames = j->req.frames,
			.fps = (float)j->req.fps, .steps = j->req.steps, .seed = base + i,
			.class_label = j->req.class_label >= 0 ? j->req.class_label :
				       am->n_classes ? (int64_t)((base + i) % am->n_classes) : -1,
			.guidance = (float)j->req.guidance_scale,
		};
		int err = ts_rt_submit(s->rt, j->seq * TS_API_MAX_N + i, am->name, &p, now,
				       j->deadline_s - now, &j->sub[i].eidx);

		if (err) {
			/* the caller forgets the ones already in the engine */
			for (int k = 0; k < i; k++)
				ts_engine_cancel(s->eng, j->sub[k].eidx);
			j->sub[i].eidx = -1;
			return err;
		}
	}
	return 0;
}

int ts_srv_real_progress(struct ts_server *s, int eidx)
{
	return ts_exec_real_progress(s->rt->exec, eidx);
}

/* 1: queued for decoding; 0: no decoder, complete it now; < 0: fail it. */
int ts_srv_real_finished(struct ts_server *s, struct ts_job *j)
{
	struct srv_real *re = s->real;

	if (!re->dec[j->req.model].ops)
		return 0;
	for (int i = 0; i < j->req.n; i++) {
		const struct ts_tensor *out = ts_exec_real_output(s->rt->exec, j->sub[i].eidx);
		size_t bytes = out ? (size_t)ts_tensor_numel(out) * sizeof(float) : 0;

		if (!out || out->dtype != TS_F32 || !(j->lat[i].data = malloc(bytes))) {
			ts_err("server", "job %s: image %d has no F32 latent to decode", j->id, i);
			return TS_ENOMEM;
		}
		j->lat[i].dtype = out->dtype;
		j->lat[i].ndim = out->ndim;
		memcpy(j->lat[i].shape, out->shape, sizeof(out->shape));
		memcpy(j->lat[i].data, out->data, bytes);
	}
	j->state = JOB_DECODING;
	s->n_decoding++;
	j->mnext = NULL;
	*re->tail = j;
	re->tail = &j->mnext;
	pthread_cond_signal(&re->cv);
	return 1;
}

void ts_srv_job_free_images(struct ts_job *j)
{
	for (int i = 0; i < TS_API_MAX_N; i++) {
		free(j->lat[i].data);
		free(j->b64[i]);
		j->lat[i].data = NULL;
		j->b64[i] = NULL;
	}
	free(j->mp4);
	j->mp4 = NULL;
	j->mp4_len = 0;
	ts_genreq_release(&j->req);
}
