// SPDX-License-Identifier: MIT
/*
 * core/clock.c - virtual and real clocks (see clock.h).
 */
#include <errno.h>
#include <time.h>

#include "clock.h"

static double virt_now(struct ts_clock *c)
{
	return c->t;
}

/* Time never runs backwards, even if asked to. */
static void virt_wait_until(struct ts_clock *c, double t)
{
	if (t > c->t)
		c->t = t;
}

static const struct ts_clock_ops virt_ops = {
	.now = virt_now,
	.wait_until = virt_wait_until,
};

void ts_clock_init_virtual(struct ts_clock *c)
{
	*c = (struct ts_clock){ .ops = &virt_ops };
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double real_now(struct ts_clock *c)
{
	return mono() - c->origin;
}

struct timespec ts_clock_abs(const struct ts_clock *c, double t)
{
	double at = c->origin + t;

	return (struct timespec){
		.tv_sec = (time_t)at,
		.tv_nsec = (long)((at - (double)(time_t)at) * 1e9),
	};
}

static void real_wait_until(struct ts_clock *c, double t)
{
	struct timespec ts = ts_clock_abs(c, t);

	while (real_now(c) < t &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static const struct ts_clock_ops real_ops = {
	.now = real_now,
	.wait_until = real_wait_until,
};

void ts_clock_init_real(struct ts_clock *c)
{
	*c = (struct ts_clock){ .ops = &real_ops, .origin = mono() };
}

int ts_clock_is_real(const struct ts_clock *c)
{
	return c->ops == &real_ops;
}
