#include "util/dataclock.h"

void rc_dataclock_init(struct rc_dataclock *c) {
        *c = (struct rc_dataclock){.rate = 1.0};
}

int64_t rc_dataclock_now(const struct rc_dataclock *c, int64_t real_us) {
        return c->base_us + (int64_t)((double)(real_us - c->base_real_us) * c->rate);
}

int64_t rc_dataclock_real_until(const struct rc_dataclock *c, int64_t real_us, int64_t at_us) {
        int64_t ahead = at_us - rc_dataclock_now(c, real_us);

        return ahead > 0 ? (int64_t)((double)ahead / c->rate + 0.999) : 0;
}

void rc_dataclock_observe(struct rc_dataclock *c, int64_t real_us, uint32_t raw_dev_us) {
        int64_t step = (int64_t)(int32_t)(raw_dev_us - c->last_raw); /* nearest, as devclock */
        double measured, rate;

        /* the first, or a device clock that went back or jumped ahead */
        if (!c->have_ref || step < 0 ||
            step > RC_DATACLOCK_MAX_RATE * (real_us - c->last_real_us) + 1000000) {
                c->have_ref = true;
                c->dev_us = c->ref_dev_us = 0;
                c->ref_real_us = c->last_real_us = real_us;
                c->last_raw = raw_dev_us;
                return;
        }
        c->last_raw = raw_dev_us;
        c->last_real_us = real_us;
        c->dev_us += step;
        if (real_us - c->ref_real_us < RC_DATACLOCK_WINDOW_US)
                return;
        measured = (double)(c->dev_us - c->ref_dev_us) / (double)(real_us - c->ref_real_us);
        rate = measured > 1.05 ? measured : 1.0; /* within 5 % of real time: real time */
        if (rate > c->rate * 1.02 || rate < c->rate / 1.02) {
                c->base_us = rc_dataclock_now(c, real_us);
                c->base_real_us = real_us;
                c->rate = rate;
        }
        /* the next measurement over the next window */
        c->ref_real_us = real_us;
        c->ref_dev_us = c->dev_us;
}
