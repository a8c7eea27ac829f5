/* rollcoach — a device's u32 µs clock, unwrapped and mapped to the session clock.
 *
 * Unwrapping: each new device time is taken as the nearest 64-bit value to the
 * previous one (a step back of less than 2^31 µs is a reorder, not a wrap).
 * Mapping: a packet received at host time H whose newest sample was taken at
 * device time D bounds the offset from above (offset <= H - D: latency is never
 * negative). The estimate is the smallest bound seen, allowed to rise by
 * RC_DEVCLOCK_DRIFT_PPM of elapsed time so a device clock slower than the host's is
 * followed. Plain struct, no allocation. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define RC_DEVCLOCK_DRIFT_PPM 200

struct rc_devclock {
        bool started;
        uint32_t last_raw;
        int64_t last_dev_us;  /* unwrapped device time of the last observation */
        int64_t offset_us;    /* session = device + offset */
        int64_t offset_at_us; /* device time at which offset was last lowered/raised */
};

void rc_devclock_init(struct rc_devclock *c);

/* Unwrap a raw device time against the last observation (without updating it). */
int64_t rc_devclock_unwrap(const struct rc_devclock *c, uint32_t raw);

/* Record that a packet received at session time host_us carried device time raw
 * (its newest sample). Returns the unwrapped device time. */
int64_t rc_devclock_observe(struct rc_devclock *c, uint32_t raw, int64_t host_us);

/* Session time (µs) of an unwrapped device time, by the current estimate
 * (saturated at the ends of int64_t). */
int64_t rc_devclock_to_host(const struct rc_devclock *c, int64_t dev_us);
