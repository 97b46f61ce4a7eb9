// SPDX-License-Identifier: MIT
/*
 * core/cmd_trace.c - `tetriserve trace`: generate a request trace like the
 * paper's workload (see core/trace_gen.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "cli.h"
#include "trace.h"

static void trace_usage(void)
{
	printf("usage: tetriserve trace --rate R --count N --mix uniform|skewed --seed S --model NAME\n"
	       "                        [--burst CV] [--steps N] [--frames N[,N...]] [--out FILE]\n"
	       "Generate a trace (id,arrival_s,model,width,height,steps,slo_s[,frames]): sizes 256/512/\n"
	       "1024/2048 squared with base deadlines 1.5/2/3/5 s, uniform or p ~ exp(L/L_max).\n\n"
	       "  --rate R       mean arrivals per minute\n"
	       "  --count N      requests\n"
	       "  --mix M        uniform | skewed\n"
	       "  --seed S       random seed (same seed, same trace)\n"
	       "  --model NAME   the model every request asks for\n"
	       "  --burst CV     coefficient of variation of the gaps: 1 = Poisson (default),\n"
	       "                 > 1 burstier (Gamma-distributed gaps)\n"
	       "  --steps N      denoising steps per request (default 28)\n"
	       "  --frames L     frames per request, one of the list drawn uniformly (1 = an\n"
	       "                 image); writes the frames column. Default: images, no column\n"
	       "  --out FILE     write there instead of stdout\n");
}

static int num_arg(const char *opt, const char *arg, double lo, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || end == arg || *end || !(*out >= lo)) {
		fprintf(stderr, "tetriserve trace: %s: bad value '%s'\n", opt, arg);
		return -1;
	}
	return 0;
}

#define MAX_FRAME_CHOICES 16

/* "1,16,32" into @frames: at most MAX_FRAME_CHOICES counts of 1..TS_TRACE_MAX_FRAMES. */
static int frames_arg(const char *arg, int *frames, int *n)
{
	const char *p = arg;
	char *end;
	long v;

	*n = 0;
	for (;;) {
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || v < 1 ||
		    v > TS_TRACE_MAX_FRAMES || *n == MAX_FRAME_CHOICES) {
			fprintf(stderr, "tetriserve trace: --frames: bad value '%s' (up to %d of 1..%d)\n",
				arg, MAX_FRAME_CHOICES, TS_TRACE_MAX_FRAMES);
			return -1;
		}
		frames[(*n)++] = (int)v;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static int trace_opt(struct ts_trace_gen *g, const char **out, int c, const char *arg)
{
	static int frames[MAX_FRAME_CHOICES];
	double v;

	switch (c) {
	case 'f':
		g->frames = frames;
		return frames_arg(arg, frames, &g->n_frames);
	case 'r': return num_arg("--rate", arg, 1e-9, &g->rate_per_min);
	case 'b': return num_arg("--burst", arg, 1e-6, &g->burst);
	case 'm': g->model = arg; return 0;
	case 'o': *out = arg; return 0;
	case 'x':
		if (!strcmp(arg, "uniform"))
			g->mix = TS_MIX_UNIFORM;
		else if (!strcmp(arg, "skewed"))
			g->mix = TS_MIX_SKEWED;
		else
			return fprintf(stderr, "tetriserve trace: --mix uniform|skewed\n"), -1;
		return 0;
	case 'n':
	case 's':
	case 't':
		if (num_arg(c == 'n' ? "--count" : c == 's' ? "--seed" : "--steps", arg, 0, &v))
			return -1;
		if (c == 'n')
			g->count = (int)v;
		else if (c == 's')
			g->seed = (uint64_t)v;
		else
			g->steps = (int)v;
		return 0;
	}
	return -1;
}

static int trace_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "mix", required_argument, NULL, 'x' },
		{ "seed", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'm' },
		{ "burst", required_argument, NULL, 'b' },
		{ "steps", required_argument, NULL, 't' },
		{ "frames", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct ts_trace_gen g = { .rate_per_min = 12, .count = 300, .seed = 1, .burst = 1.0 };
	struct ts_trace *t;
	const char *out = NULL;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?' || trace_opt(&g, &out, c, optarg)) {
			trace_usage();
			return 2;
		}
	}
	if (optind < argc || !g.model) {
		fprintf(stderr, "tetriserve trace: --model is required\n");
		return 2;
	}
	err = ts_trace_generate(&g, &t);
	if (err)
		return 1;
	err = out ? ts_trace_save(t, out) : ts_trace_write(t, stdout);
	ts_trace_free(t);
	return err ? 1 : 0;
}

const struct ts_cmd ts_cmd_trace = {
	.name = "trace",
	.summary = "generate a request trace (Poisson or bursty arrivals, the paper's sizes)",
	.run = trace_run,
	.usage = trace_usage,
};
