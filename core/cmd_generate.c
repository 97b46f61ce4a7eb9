// SPDX-License-Identifier: MIT
/*
 * core/cmd_generate.c - `tetriserve generate`: one request through the whole
 * real-time engine (policy, placement, device sets, model steps SPMD,
 * migrations), its final latent written as safetensors and, when the
 * model's section names a decoder, decoded and written as a PNG (an MP4 when
 * the decoder gives video frames, [1, 3, T, H, W]).
 *
 * --degrees 1,2,4,1 replaces the config's policy with the built-in
 * "schedule" policy, so the request moves between device sets on purpose;
 * the latent is the same whatever the schedule (up to float reduction order).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/error.h>

#include "cli.h"
#include "config.h"
#include "image_png.h"
#include "log.h"
#include "policy_sched.h"
#include "pool.h"
#include "registry.h"
#include "rt.h"
#include "safetensors.h"
#include "video_mp4.h"

#define WHO "generate"

struct gen_opts {
	const char *config, *model, *out, *degrees;
	struct ts_req_params p;
	int devices;
};

static void generate_usage(void)
{
	printf("usage: tetriserve generate --config F --model NAME --out FILE [--class N]\n"
	       "                            [--size WxH] [--steps N] [--seed N] [--guidance G]\n"
	       "                            [--degrees 1,2,4,1] [--devices N] [--frames N] [--fps F]\n\n"
	       "Run one request through the real-time engine on the config's [pool] and write\n"
	       "its final latent to FILE (safetensors, key \"latent\"). When the model's section\n"
	       "names a decoder, the image is decoded and written next to it as FILE with the\n"
	       "extension .png (.mp4 for a video decoder's frames). --degrees forces the degree\n"
	       "of each step (the last repeats). --frames and --fps ask a video model for a video.\n"
	       "A progress bar is drawn when stderr is a terminal.\n");
}

static int parse_size(const char *s, int *w, int *h)
{
	char *end;

	*w = (int)strtol(s, &end, 10);
	if (*end != 'x' || *w < 1)
		return TS_EINVAL;
	*h = (int)strtol(end + 1, &end, 10);
	return *end || *h < 1 ? TS_EINVAL : 0;
}

static int parse_opts(int argc, char **argv, struct gen_opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "model", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "class", required_argument, NULL, 'l' },
		{ "size", required_argument, NULL, 's' },
		{ "steps", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'r' },
		{ "guidance", required_argument, NULL, 'g' },
		{ "degrees", required_argument, NULL, 'd' },
		{ "devices", required_argument, NULL, 'k' },
		{ "frames", required_argument, NULL, 'f' },
		{ "fps", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct gen_opts){ .p = { .class_label = 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:m:o:l:s:n:r:g:d:k:f:p:", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'm': o->model = optarg; break;
		case 'o': o->out = optarg; break;
		case 'l': o->p.class_label = strtoll(optarg, NULL, 10); break;
		case 's':
			if (parse_size(optarg, &o->p.width, &o->p.height)) {
				ts_err(WHO, "--size '%s': want WxH", optarg);
				return TS_EINVAL;
			}
			break;
		case 'n': o->p.steps = atoi(optarg); break;
		case 'r': o->p.seed = strtoull(optarg, NULL, 10); break;
		case 'g': o->p.guidance = strtof(optarg, NULL); break;
		case 'd': o->degrees = optarg; break;
		case 'k': o->devices = atoi(optarg); break;
		case 'f': o->p.frames = atoi(optarg); break;
		case 'p': o->p.fps = strtof(optarg, NULL); break;
		default: return TS_EINVAL;
		}
	}
	if (optind != argc || !o->config || !o->model || !o->out || o->p.steps < 0 ||
	    o->devices < 0) {
		ts_err(WHO, "need --config, --model and --out (see --help)");
		return TS_EINVAL;
	}
	return 0;
}

static void progress(int done, int total, double t)
{
	int width = 40, fill = total ? done * width / total : 0;

	fprintf(stderr, "\r[%.*s%*s] %d/%d steps  %.1f s", fill,
		"########################################", width - fill, "", done, total, t);
	fflush(stderr);
}

/* Run until request @idx is finished, drawing progress when stderr is a terminal. */
static int run_request(struct ts_rt *rt, int idx)
{
	const struct ts_req *r = &ts_engine_requests(rt->eng)->r[idx];
	int tty = isatty(2), err = 0;

	while (!err && !ts_req_finished(r)) {
		err = ts_engine_run_until(rt->eng, ts_engine_now(rt->eng) + 0.1);
		r = &ts_engine_requests(rt->eng)->r[idx];
		if (tty)
			progress(ts_exec_real_progress(rt->exec, idx), r->steps_total,
				 ts_engine_now(rt->eng));
	}
	if (tty)
		fputc('\n', stderr);
	if (!err && r->state != TS_REQ_DONE) {
		ts_err(WHO, "the request ended %s after %d of %d steps", ts_req_state_name(r->state),
		       r->steps_done, r->steps_total);
		err = TS_EIO;
	}
	return err;
}

static int write_latent(const struct gen_opts *o, const struct ts_tensor *lat, int steps)
{
	char seed[32], nsteps[16];
	const char *meta[] = { "model", o->model, "seed", seed, "steps", nsteps, "degrees",
			       o->degrees ? o->degrees : "(policy)", NULL };
	struct ts_tensor t = *lat;

	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)o->p.seed);
	snprintf(nsteps, sizeof(nsteps), "%d", steps);
	t.name = "latent";
	return ts_st_write(o->out, &t, 1, meta);
}

/* FILE with its extension replaced by @ext (".png", ".mp4"). */
static void png_path(const char *out, char *buf, size_t n, const char *ext)
{
	const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
	size_t len = dot && (!slash || dot > slash) ? (size_t)(dot - out) : strlen(out);

	snprintf(buf, n, "%.*s%s", (int)len, out, ext);
}

/* A video decoder's [1, 3, T, H, W] as FILE.mp4 at --fps (24 when not given). */
static int write_mp4(const struct gen_opts *o, const struct ts_tensor *img,
		     const char *const *text)
{
	char path[4096];
	int fps = o->p.fps > 0 ? (int)lrintf(o->p.fps) : 24, err;

	png_path(o->out, path, sizeof(path), ".mp4");
	err = ts_mp4_write(path, img->data, (int)img->shape[2], (int)img->shape[3],
			   (int)img->shape[4], fps > 0 ? fps : 1, text);
	if (!err)
		printf("video: %s (%lld frames of %lldx%lld at %d fps)\n", path,
		       (long long)img->shape[2], (long long)img->shape[4], (long long)img->shape[3],
		       fps > 0 ? fps : 1);
	return err;
}

/* Decode with the [model DEC] section the model names, on device 0 of the pool. */
static int decode_png(struct ts_rt *rt, const struct ts_rt_model *m, const struct gen_opts *o,
		      const struct ts_tensor *lat, int steps)
{
	const char *dname = ts_cfg_str(m->sec, "decoder");
	char secname[256], path[4096], seed[32], nsteps[16];
	const char *text[] = { "model", o->model, "seed", seed, "steps", nsteps, NULL };
	struct ts_section *dsec;
	const struct ts_decoder_ops *dec;
	struct ts_dev *dev = rt->pool->dev[0].dev;
	struct ts_tensor img = { 0 };
	void *inst = NULL, *w = NULL;
	int err;

	if (!dname)
		return 0;
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)o->p.seed);
	snprintf(nsteps, sizeof(nsteps), "%d", steps);
	snprintf(secname, sizeof(secname), "model %s", dname);
	dsec = ts_config_section(rt->cfg, secname);
	dec = dsec && ts_cfg_str(dsec, "module") ?
		ts_find_decoder(ts_cfg_str(dsec, "kind") ? ts_cfg_str(dsec, "kind") :
							     ts_cfg_str(dsec, "module")) : NULL;
	if (!dec)
		return ts_cfg_error(m->sec, "decoder", "no [model %s] with a decoder module", dname);
	err = dec->configure(ts_host_api(), dsec, &inst);
	if (!err)
		err = dec->load(inst, dev, &w);
	if (!err)
		err = dec->decode(inst, dev, w, lat, 0, &img);
	if (!err && img.ndim == 5 && img.shape[0] == 1 && img.shape[1] == 3) {
		err = write_mp4(o, &img, text);
		goto done;
	}
	if (!err && (img.ndim != 4 || img.shape[0] != 1)) {
		ts_err(WHO, "decoder %s gave a %d-d output, want [1, C, H, W]", dname, img.ndim);
		err = TS_EINVAL;
	}
	if (!err) {
		png_path(o->out, path, sizeof(path), ".png");
		err = ts_png_write(path, img.data, (int)img.shape[1], (int)img.shape[2],
				   (int)img.shape[3], text);
		if (!err)
			printf("image: %s (%lldx%lld)\n", path, (long long)img.shape[3],
			       (long long)img.shape[2]);
	}
done:
	ts_host_free(img.data);
	if (w)
		dec->unload(inst, dev, w);
	if (inst)
		dec->release(inst);
	return err;
}

static void report(struct ts_rt *rt, int idx)
{
	const struct ts_req *r = &ts_engine_requests(rt->eng)->r[idx];
	struct ts_exec_real_stats xs;

	ts_exec_real_stats(rt->exec, &xs);
	printf("steps: %d in %.3f s (%.2f ms a step), degrees mask 0x%llx, migrations %d "
	       "(%.1f us each)\n", r->steps_done, r->finish_s - r->start_s,
	       xs.steps ? 1e3 * xs.step_s / xs.steps : 0.0, (unsigned long long)r->degrees_mask,
	       r->migrations, xs.migrations ? 1e6 * xs.migration_s / xs.migrations : 0.0);
}

static int generate_run(int argc, char **argv)
{
	struct gen_opts o;
	char param[4200];
	const char *params[] = { param, NULL };
	struct ts_rt_opts ro = { 0 };
	struct ts_rt *rt = NULL;
	const struct ts_rt_model *m;
	const struct ts_tensor *lat;
	int idx, err;

	if (parse_opts(argc, argv, &o))
		return 2;
	if (o.degrees) {
		snprintf(param, sizeof(param), "degrees=%s", o.degrees);
		ro.policy_ops = ts_policy_schedule();
		ro.params = params;
	}
	ro.n_devices = o.devices;
	err = ts_rt_open(o.config, &ro, &rt);
	if (err)
		return 1;
	m = ts_rt_model(rt, o.model);
	err = m ? ts_rt_submit(rt, 0, o.model, &o.p, 0, INFINITY, &idx) : TS_ENOENT;
	if (!m)
		ts_err(WHO, "%s has no [model %s] with a model module", o.config, o.model);
	if (!err)
		err = run_request(rt, idx);
	lat = err ? NULL : ts_exec_real_output(rt->exec, idx);
	if (!err && !lat)
		err = TS_EIO;
	if (!err)
		err = write_latent(&o, lat, ts_engine_requests(rt->eng)->r[idx].steps_total);
	if (!err) {
		printf("latent: %s\n", o.out);
		report(rt, idx);
		err = decode_png(rt, m, &o, lat,
				 ts_engine_requests(rt->eng)->r[idx].steps_total);
	}
	ts_rt_close(rt);
	return err ? 1 : 0;
}

const struct ts_cmd ts_cmd_generate = {
	.name = "generate",
	.summary = "run one request through the real-time engine; write its latent (and image)",
	.run = generate_run,
	.usage = generate_usage,
};
