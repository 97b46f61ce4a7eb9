/* SPDX-License-Identifier: MIT */
/*
 * core/clock.h - the round engine's time source. The virtual clock jumps to
 * the next event (the simulator); the real clock sleeps until it (serving).
 * Times are seconds from the clock's start.
 */
#ifndef TS_CORE_CLOCK_H
#define TS_CORE_CLOCK_H

#include <time.h>

struct ts_clock;

struct ts_clock_ops {
	double (*now)(struct ts_clock *c);
	/* Return once now() >= @t (at once if it already is). */
	void (*wait_until)(struct ts_clock *c, double t);
};

struct ts_clock {
	const struct ts_clock_ops *ops;
	double t;      /* virtual: the current time */
	double origin; /* real: CLOCK_MONOTONIC at start */
};

void ts_clock_init_virtual(struct ts_clock *c);
void ts_clock_init_real(struct ts_clock *c);
/* 1 for a real clock: its times are CLOCK_MONOTONIC seconds from @origin. */
int ts_clock_is_real(const struct ts_clock *c);
/*
 * Clock time @t as an absolute CLOCK_MONOTONIC timespec (real clocks), for
 * waits that must wake at an engine time (pthread_cond_timedwait).
 */
struct timespec ts_clock_abs(const struct ts_clock *c, double t);

static inline double ts_clock_now(struct ts_clock *c)
{
	return c->ops->now(c);
}

static inline void ts_clock_wait_until(struct ts_clock *c, double t)
{
	c->ops->wait_until(c, t);
}

#endif /* TS_CORE_CLOCK_H */
