#include "analysis/devclock.h"

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
        int64_t bound = host_us - dev;

        if (!c->started) {
                c->started = true;
                c->offset_us = bound;
                c->offset_at_us = dev;
                c->last_dev_us = dev;
                c->last_raw = raw;
                return dev;
        }
        {
                int64_t elapsed = dev - c->offset_at_us;
                /* let the estimate rise with a slow device clock */
                int64_t allowed = c->offset_us +
                                  (elapsed > 0 ? elapsed * RC_DEVCLOCK_DRIFT_PPM / 1000000 : 0);

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
