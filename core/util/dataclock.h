/* rollcoach — the hub's session clock: real time, or the data's time when the data
 * comes faster than real time (a stand-in or a recording streamed at --speed N).
 *
 * The session's timers (plugin timers, idle and grace times) are meant in the
 * session's time: a 30 s hold is 30 s of the person's data. Live, that is real
 * time. When a device's own clock (the IMU batches' t0_us) advances faster than
 * real time, the session clock runs at that rate: clock = base + (real - base_real)
 * x rate. The rate is measured over at least RC_DATACLOCK_WINDOW_US of real time;
 * it is never below 1 (data that comes slower than real time, or late, never slows
 * the clock: live it stays real time), and changes only by more than 2 %, each time
 * continuing from the current reading, so the clock never goes back. Plain struct,
 * no allocation; times in µs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define RC_DATACLOCK_WINDOW_US 2000000
#define RC_DATACLOCK_MAX_RATE 64

struct rc_dataclock {
        double rate;          /* session µs per real µs, >= 1 */
        int64_t base_real_us; /* real time of the last rate change */
        int64_t base_us;      /* the clock's reading then */
        bool have_ref;        /* a device time to measure from */
        int64_t ref_real_us;  /* real time of the reference device time */
        int64_t ref_dev_us;   /* unwrapped device time then */
        int64_t dev_us;       /* the last device time, unwrapped */
        uint32_t last_raw;    /* the last raw (wrapping) device time */
        int64_t last_real_us; /* when it was seen */
};

void rc_dataclock_init(struct rc_dataclock *c);

/* The clock's reading at real time `real_us` (non-decreasing calls). */
int64_t rc_dataclock_now(const struct rc_dataclock *c, int64_t real_us);

/* Real µs from `real_us` until the clock reads `at_us` (0 if it already does). */
int64_t rc_dataclock_real_until(const struct rc_dataclock *c, int64_t real_us, int64_t at_us);

/* A device's clock read `raw_dev_us` (wrapping at 2^32) in data received at real
 * time `real_us`; measures the rate. One device's times only (the caller picks
 * one); a device clock that goes back or jumps ahead by more than
 * RC_DATACLOCK_MAX_RATE times the real time since (a restart, a reconnection)
 * starts the measurement again. */
void rc_dataclock_observe(struct rc_dataclock *c, int64_t real_us, uint32_t raw_dev_us);
