#include "analysis/devclock.h"

/* a - b and a + b, saturated: host and device times come from outside (a trace's
 * t_us may be anything up to 2^64 - 1, a device clock may jump) and must not
 * overflow */
static int64_t sat_sub(int64_t a, int64_t b) {
        int64_t r;

        if (__builtin_sub_overflow(a, b, &r))
                return b < 0 ? INT64_MAX : INT64_MIN;
        return r;
}

static int64_t sat_add(int64_t a, int64_t b) {
        int64_t r;

        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

int64_t rc_devclock_to_host(const struct rc_devclock *c, int64_t dev_us) {
        return sat_add(dev_us, c->offset_us);
}

void rc_devclock_init(struct rc_devclock *c) {
        *c = (struct rc_devclock){0};
}

int64_t rc_devclock_unwrap(const struct rc_devclock *c, uint32_t raw) {
        if (!c->started)
                return raw;
        /* The signed 32-bit difference picks the nearest 64-bit value. */
        return c->last_dev_us + (int32_t)(raw - c->last_raw);
}

int64_t rc_devclock_observe(struct rc_devclock *c, uint32_t raw, int64_t host_us) {
        int64_t dev = rc_devclock_unwrap(c, raw);
        int64_t bound = sat_sub(host_us, dev);

        if (!c->started) {
                c->started = true;
                c->offset_us = bound;
                c->offset_at_us = dev;
                c->last_dev_us = dev;
                c->last_raw = raw;
                return dev;
        }
        {
                int64_t elapsed = sat_sub(dev, c->offset_at_us);
                /* let the estimate rise with a slow device clock */
                int64_t allowed =
                        sat_add(c->offset_us,
                                elapsed > 0 ? elapsed / (1000000 / RC_DEVCLOCK_DRIFT_PPM) : 0);

                if (bound <= allowed) {
                        c->offset_us = bound;
                        c->offset_at_us = dev;
                } else if (allowed > c->offset_us) {
                        c->offset_us = allowed;
                        c->offset_at_us = dev;
                }
        }
        if (dev > c->last_dev_us) {
                c->last_dev_us = dev;
                c->last_raw = raw;
        }
        return dev;
}
