#include "analysis/roller.h"

#include <math.h>
#include <string.h>

#include "util/bytes.h"

#define QUIET_LSB (RC_ROLLER_QUIET_DPS * 10.0) /* gyro LSB is 0.1 °/s */
#define BIAS_BLEND (1.0 / 8.0)
#define NO_TIME (INT64_MIN / 4) /* "long ago", safe to subtract from */
#define RAD_PER_LSB_S (0.1 * M_PI / 180.0)
#define G_CM_S2 980.665

static void roller_accumulate(void *ctx, const uint8_t *s, unsigned k,
                              const struct rc_imu_batch *b);
static void roller_close(void *ctx, int64_t start_dev, int64_t end_dev);
static void roller_gap(void *ctx, int64_t last_end_dev, int64_t next_start_dev);

static const struct rc__imu_block_ops roller_ops = {
        .accumulate = roller_accumulate,
        .close = roller_close,
        .gap = roller_gap,
};

void rc_roller_init(struct rc_roller *r, rc_roller_emit_fn emit, void *userdata) {
        memset(r, 0, sizeof(*r));
        rc__imu_link_init(&r->link);
        r->emit = emit;
        r->userdata = userdata;
        r->force_n = NAN;
        r->last_load_sign_dev = NO_TIME;
        rc_roller_set_info(r, &RC_ROLLER_INFO_DEFAULT);
}

void rc_roller_set_info(struct rc_roller *r, const struct rc_roller_info *info) {
        double radius_cm = info->diameter_mm / 20.0;

        r->info = *info;
        r->cm_per_lsb_s = 0.1 * (M_PI / 180.0) * radius_cm;
        r->off_a = 2u * info->long_axis;
        r->off_u = 2u * ((info->long_axis + 1u) % 3u);
        r->off_w = 2u * ((info->long_axis + 2u) % 3u);
        r->off_g = 6u + 2u * info->long_axis;
}

static void emit(struct rc_roller *r, struct rc_event *ev) {
        ev->t_ms = r->now_ms;
        ev->device = NULL;
        r->emit(ev, r->userdata);
}

/* The per-sample work: the inner loop of the whole core. */
static void roller_accumulate(void *ctx, const uint8_t *s, unsigned k,
                              const struct rc_imu_batch *b) {
        struct rc_roller *r = ctx;
        const uint8_t *pg = s + r->off_g, *pa = s + r->off_a;
        const uint8_t *pu = s + r->off_u, *pw = s + r->off_w;
        unsigned stride = b->stride;
        int32_t sg = 0, sa = 0, su = 0, sw = 0;
        int64_t sgj = 0;
        /* τ of the first sample; a block holds at most 100 ms of samples */
        double off = (double)(r->link.chunk_dev - r->link.blk_start_dev), p = b->period_us;
        double kk = k;

        for (unsigned j = 0; j < k; j++) {
                size_t o = (size_t)j * stride;
                int16_t g = rc_les16(pg + o);

                sg += g;
                sgj += (int64_t)g * j;
                sa += rc_les16(pa + o);
                su += rc_les16(pu + o);
                sw += rc_les16(pw + o);
        }
        if (b->has_force) {
                uint32_t sf = 0;

                for (unsigned j = 0; j < k; j++)
                        sf += rc_le16(s + 12 + (size_t)j * stride);
                r->blk_sum_f += sf;
                r->blk_nf += k;
        }
        r->blk_sum_g += sg;
        r->blk_sum_a += sa;
        r->blk_sum_u += su;
        r->blk_sum_w += sw;
        /* the moments that give ω's slope inside the block and the samples' centroid */
        r->blk_sum_gt += (int64_t)off * sg + (int64_t)b->period_us * sgj;
        r->blk_sum_t += (int64_t)(kk * off + p * kk * (kk - 1) / 2);
        r->blk_sum_tt +=
                kk * off * off + off * p * kk * (kk - 1) + p * p * (kk - 1) * kk * (2 * kk - 1) / 6;
        r->blk_n += k;
        r->blk_period_us = b->period_us;
}

/* The direction sign in force: fixed by the first sustained movement after a
 * track, provisional (the current displacement's) before. */
static int direction_sign(const struct rc_roller *r, double disp) {
        if (r->track_sign)
                return r->track_sign;
        return disp < 0 ? -1 : 1;
}

static void end_hold(struct rc_roller *r, int64_t end_dev) {
        struct rc_event ev = {.type = RC_EV_HOLD_END};

        if (end_dev < r->hold_start_dev)
                end_dev = r->hold_start_dev;
        ev.hold_end.duration_s = (double)(end_dev - r->hold_start_dev) / 1e6;
        ev.hold_end.mean_force_n = r->still_n ? r->still_sum_f / (double)r->still_n : NAN;
        r->holding = false;
        r->fast_blocks = 0;
        emit(r, &ev);
}

/* Forget stillness: a hold can only start RC_ROLLER_HOLD_MIN_US of data after `dev`. */
static void restart_still(struct rc_roller *r, int64_t dev) {
        r->still_known = true;
        r->still_since_dev = dev;
        r->still_seen_us = 0;
        r->still_sum_f = 0;
        r->still_n = 0;
        r->fast_blocks = 0;
}

static void update_hold(struct rc_roller *r, int64_t start_dev, int64_t end_dev, double v,
                        double sum_f_n, uint32_t nf, double disp) {
        bool moving = fabs(v) >= RC_ROLLER_HOLD_SPEED_CM_S;

        /* the first block of a history: stillness can be seen from its start on, never
         * before (the data did not show it) */
        if (!r->still_known)
                restart_still(r, start_dev);
        if (!r->holding) {
                if (!r->loaded || moving) {
                        restart_still(r, end_dev);
                        return;
                }
                r->still_sum_f += sum_f_n;
                r->still_n += nf;
                /* count blocks seen, not the time since: missing data shows nothing */
                r->still_seen_us += end_dev - start_dev;
                if (r->still_seen_us >= RC_ROLLER_HOLD_MIN_US) {
                        struct rc_event ev = {.type = RC_EV_HOLD_START};

                        r->holding = true;
                        r->hold_start_dev = r->still_since_dev;
                        r->fast_blocks = 0;
                        ev.hold_start.travel_cm = direction_sign(r, disp) * disp;
                        ev.hold_start.force_n =
                                r->still_n ? r->still_sum_f / (double)r->still_n : NAN;
                        ev.hold_start.since_ms =
                                rc__imu_link_dev_to_ms(&r->link, r->hold_start_dev);
                        emit(r, &ev);
                }
                return;
        }

        if (!r->loaded) {
                int64_t end = start_dev;

                /* without a load cell, the body left when its micro-motion stopped */
                if (isnan(r->force_n) && r->last_load_sign_dev < end)
                        end = r->last_load_sign_dev;
                end_hold(r, end);
                restart_still(r, end_dev);
                return;
        }
        if (moving) {
                if (r->fast_blocks == 0) {
                        r->fast_start_dev = start_dev;
                        r->fast_sum_f = 0;
                        r->fast_n = 0;
                }
                r->fast_blocks++;
                r->fast_sum_f += sum_f_n;
                r->fast_n += nf;
                if (r->fast_blocks >= 2 || fabs(v) >= RC_ROLLER_HOLD_BREAK_CM_S) {
                        end_hold(r, r->fast_start_dev);
                        restart_still(r, end_dev);
                }
                return;
        }
        if (r->fast_blocks) {
                /* a single slow blip: it was part of the hold after all */
                r->still_sum_f += r->fast_sum_f;
                r->still_n += r->fast_n;
                r->fast_blocks = 0;
        }
        r->still_sum_f += sum_f_n;
        r->still_n += nf;
}

static double ring_mean(const double *ring, unsigned n) {
        double sum = 0;

        for (unsigned i = 0; i < n; i++)
                sum += ring[i];
        return n ? sum / n : 0.0;
}

/* The roller's rotation angle, once a block: the gyro's rotation since the last
 * block's centroid (trapezoidal, bias removed), pulled toward gravity's angle in
 * the u/w plane when the roller lies level, and the bias learned from the
 * difference (a second-order complementary filter, docs/analysis.md "Angle").
 * Returns the change of angle to count as rolling (rad) up to the block's centroid,
 * and in *tail the gyro's rotation from there to the block's end. */
static double update_angle(struct rc_roller *r, int64_t start_dev, int64_t end_dev, bool level,
                           double *tail) {
        double n = r->blk_n, k = RAD_PER_LSB_S;
        double t1 = (double)r->blk_sum_t / n, var = r->blk_sum_tt / n - t1 * t1;
        int64_t tc = start_dev + (int64_t)llround(t1);
        double g_mean = (double)r->blk_sum_g / n;
        double omega = (g_mean - r->bias_lsb) * k, slope = 0; /* rad/s, rad/s² */
        double su = (double)r->blk_sum_u, sw = (double)r->blk_sum_w;
        double acc_g, mag, phi, theta_pred, e, old = r->theta, delta;
        /* a block with most of its samples: its angle and centroid are sharp enough
         * to learn the bias from (a lone sample in a reversal is not) */
        bool full = (uint64_t)r->blk_n * r->blk_period_us * 5 >= (uint64_t)RC__BLOCK_US * 4;
        bool usable, recent;

        /* ω's trend inside the block: the centre's acceleration r·dω/dt tilts the
         * accelerometer's reading by atan(a/g) against the rotation */
        if (r->blk_n >= 3 && var > 0)
                slope = ((double)r->blk_sum_gt / n - g_mean * t1) / var * 1e6 * k;
        acc_g = slope * (r->info.diameter_mm / 20.0) / G_CM_S2;
        mag = hypot(su, sw) / n / sqrt(1 + acc_g * acc_g);
        usable = level && r->blk_n >= 3 && mag >= RC_ROLLER_GRAVITY_MIN_MG &&
                 mag <= RC_ROLLER_GRAVITY_MAX_MG;
        phi = atan2(su, sw) + atan(acc_g);
        *tail = omega * (double)(end_dev - tc) / 1e6;

        if (!r->have_theta) {
                /* a new history: the angle is gravity's, or the gyro's from 0 */
                r->have_theta = true;
                r->anchored = usable;
                r->theta = usable ? phi : 0;
                r->angle_dev = usable ? tc : NO_TIME;
                r->theta_dev = tc;
                r->omega_prev = omega;
                r->prev_full = full;
                return omega * (double)(tc - start_dev) / 1e6; /* the block's first half */
        }
        theta_pred = r->theta + 0.5 * (r->omega_prev + omega) * (double)(tc - r->theta_dev) / 1e6;
        delta = theta_pred - old;
        if (usable) {
                e = remainder(phi - theta_pred, 2 * M_PI);
                recent = r->anchored && full && r->prev_full &&
                         !rc__dev_apart(r->angle_dev, tc, RC__BLOCK_US * 3 / 2);
                if (recent) {
                        double dt = (double)(tc - r->theta_dev) / 1e6;

                        r->theta = theta_pred + RC_ROLLER_ANGLE_GAIN * e;
                        r->bias_lsb -= RC_ROLLER_BIAS_GAIN * e / (k * dt);
                        r->bias_lsb = fmax(-RC_ROLLER_BIAS_MAX_LSB,
                                           fmin(RC_ROLLER_BIAS_MAX_LSB, r->bias_lsb));
                        r->bias_known = true;
                } else {
                        /* across missing data (lost or rejected packets, a roller turned
                         * in the hands): gravity's angle says how far it really turned,
                         * the gyro's rates on both sides pick the turn */
                        r->theta = theta_pred + e;
                        if (r->anchored)
                                r->angle_bridges++;
                }
                if (r->anchored)
                        delta = r->theta - old;
                r->anchored = true;
                r->angle_dev = tc;
        } else {
                r->theta = theta_pred;
        }
        r->theta_dev = tc;
        r->omega_prev = omega;
        r->prev_full = full;
        return delta;
}

/* The mean of the block speeds of the last 1 s of device time (missing blocks
 * leave it shorter, never older). */
static double speed_mean(const struct rc_roller *r, int64_t end_dev) {
        double sum = 0;
        unsigned n = 0;

        for (unsigned i = 0; i < r->v_n; i++)
                if (!rc__dev_apart(r->v_end[i], end_dev,
                                   (int64_t)RC_ROLLER_SMOOTH_BLOCKS * RC_ROLLER_BLOCK_US)) {
                        sum += r->v_ring[i];
                        n++;
                }
        return n ? sum / n : 0.0;
}

static void roller_close(void *ctx, int64_t start_dev, int64_t end_dev) {
        struct rc_roller *r = ctx;
        double k = r->cm_per_lsb_s;
        double g_mean = (double)r->blk_sum_g / r->blk_n;
        double a_mean = (double)r->blk_sum_a / r->blk_n;
        double v = (g_mean - r->bias_lsb) * k;
        double sum_f_n = (double)r->blk_sum_f * 0.1;
        uint32_t nf = r->blk_nf;
        double f = nf ? sum_f_n / nf : NAN;
        bool quiet = false, micro = false, moving_blk;
        double disp, v_s, dtheta, tail, radius_cm = r->info.diameter_mm / 20.0;
        int sign;

        r->blocks++;
        r->force_n = f;

        /* 2 s of block means of raw ω and of gravity's angle around the long axis:
         * quiet (still: ω steady and gravity not turning — a constant roll has a
         * steady ω too) or micro-motion (ω wobbling: a body on it) */
        r->g_ring[r->g_pos] = g_mean;
        r->phi_ring[r->g_pos] = atan2((double)r->blk_sum_u, (double)r->blk_sum_w);
        r->g_pos = (r->g_pos + 1) % RC_ROLLER_QUIET_BLOCKS;
        if (r->g_n < RC_ROLLER_QUIET_BLOCKS)
                r->g_n++;
        if (r->g_n == RC_ROLLER_QUIET_BLOCKS) {
                double m = ring_mean(r->g_ring, RC_ROLLER_QUIET_BLOCKS), var = 0;
                /* the oldest entry is where the next one goes */
                double turn = remainder(r->phi_ring[(r->g_pos + RC_ROLLER_QUIET_BLOCKS - 1) %
                                                    RC_ROLLER_QUIET_BLOCKS] -
                                                r->phi_ring[r->g_pos],
                                        2 * M_PI);

                for (unsigned i = 0; i < RC_ROLLER_QUIET_BLOCKS; i++)
                        var += (r->g_ring[i] - m) * (r->g_ring[i] - m);
                var /= RC_ROLLER_QUIET_BLOCKS;
                micro = var >= QUIET_LSB * QUIET_LSB;
                quiet = !micro && fabs(turn) < RC_ROLLER_QUIET_TURN_DEG * M_PI / 180.0;
                if (quiet && !r->loaded && fabs(a_mean) < RC_ROLLER_HORIZONTAL_MG) {
                        r->bias_lsb =
                                r->bias_known ? r->bias_lsb + (m - r->bias_lsb) * BIAS_BLEND : m;
                        r->bias_known = true;
                }
        }
        moving_blk = fabs(v) >= RC_ROLLER_HOLD_SPEED_CM_S;
        dtheta = update_angle(r, start_dev, end_dev, fabs(a_mean) < RC_ROLLER_HORIZONTAL_MG, &tail);

        /* load: the load cell, or the IMU showing a body on a roller lying level (one
         * picked up and turned in the hands is tilted) */
        if (nf) {
                r->loaded = r->loaded ? f >= RC_ROLLER_LOAD_OFF_N : f >= RC_ROLLER_LOAD_ON_N;
        } else {
                bool level = fabs(a_mean) < RC_ROLLER_HORIZONTAL_MG;

                if ((moving_blk || micro) && level)
                        r->last_load_sign_dev = end_dev;
                r->loaded =
                        level && end_dev - r->last_load_sign_dev <= RC_ROLLER_IMU_LOAD_HOLDOFF_US;
        }

        /* travel: the contact line moves along the body only while there is one */
        if (r->loaded)
                r->travel_raw_cm += dtheta * radius_cm;
        /* the angle is known at the block's centroid; travel is reported at its end */
        r->travel_tail_cm = r->loaded ? tail * radius_cm : 0;

        /* speed, 1 s mean */
        r->v_ring[r->v_pos] = v;
        r->v_end[r->v_pos] = end_dev;
        r->v_pos = (r->v_pos + 1) % RC_ROLLER_SMOOTH_BLOCKS;
        if (r->v_n < RC_ROLLER_SMOOTH_BLOCKS)
                r->v_n++;
        v_s = speed_mean(r, end_dev);

        /* jerk: second difference of block speeds, cm/s per (0.1 s)^2 → m/s^3 */
        if (r->v_hist >= 2) {
                double j = (v - 2 * r->v_prev1 + r->v_prev2) / (0.1 * 0.1) / 100.0;

                r->j_ring[r->j_pos] = j * j;
                r->j_pos = (r->j_pos + 1) % RC_ROLLER_JERK_BLOCKS;
                if (r->j_n < RC_ROLLER_JERK_BLOCKS)
                        r->j_n++;
        }
        r->v_prev2 = r->v_prev1;
        r->v_prev1 = v;
        r->v_hist++;

        /* track: the first sustained movement fixes the sign */
        disp = r->travel_raw_cm + r->travel_tail_cm - r->track_ref_cm;
        if (!r->track_sign && fabs(disp) >= RC_ROLLER_TRACK_SUSTAIN_CM)
                r->track_sign = disp > 0 ? 1 : -1;
        sign = direction_sign(r, disp);

        update_hold(r, start_dev, end_dev, v, sum_f_n, nf, disp);

        if (r->loaded || moving_blk || fabs(v_s) >= RC_ROLLER_HOLD_SPEED_CM_S || r->holding) {
                struct rc_event ev = {.type = RC_EV_MOTION};

                ev.motion.speed_cm_s = sign * v_s;
                ev.motion.travel_cm = sign * disp;
                ev.motion.force_n = f;
                ev.motion.jerk = r->j_n ? sqrt(ring_mean(r->j_ring, r->j_n)) : 0.0;
                ev.motion.loaded = r->loaded;
                r->motion_events++;
                emit(r, &ev);
        }

        r->blk_sum_g = r->blk_sum_a = r->blk_sum_u = r->blk_sum_w = 0;
        r->blk_sum_gt = r->blk_sum_t = 0;
        r->blk_sum_tt = 0;
        r->blk_sum_f = 0;
        r->blk_n = r->blk_nf = 0;
}

static void roller_gap(void *ctx, int64_t last_end_dev, int64_t next_start_dev) {
        struct rc_roller *r = ctx;

        /* differences across missing data would invent jerk */
        r->v_hist = 0;
        r->j_n = 0;
        if (!rc__dev_apart(last_end_dev, next_start_dev, RC_ROLLER_GAP_RESET_US)) {
                /* stillness not yet seen: it can only have begun where data shows it */
                if (!r->holding && r->still_known && r->still_seen_us == 0)
                        r->still_since_dev = next_start_dev;
                return;
        }
        /* a long silence, a reconnect or a device clock that jumped: nothing before it
         * says anything about now; stillness is counted again from the next data */
        if (r->holding)
                end_hold(r, last_end_dev);
        restart_still(r, last_end_dev);
        r->still_known = false;
        r->have_theta = false;
        r->g_n = r->g_pos = 0;
        r->v_n = r->v_pos = 0;
        r->loaded = false;
        r->last_load_sign_dev = NO_TIME;
}

void rc_roller_feed(struct rc_roller *r, int64_t t_us, const struct rc_imu_batch *b) {
        struct rc_event ev;

        r->now_ms = t_us / 1000;
        if (rc__imu_link_feed(&r->link, t_us, b, &roller_ops, r) < 0)
                return;
        if (rc__imu_link_loss_event(&r->link, r->now_ms, &ev))
                emit(r, &ev);
}

void rc_roller_track(struct rc_roller *r) {
        r->track_ref_cm = r->travel_raw_cm + r->travel_tail_cm;
        r->track_sign = 0;
}

void rc_roller_disconnect(struct rc_roller *r, int64_t t_us) {
        r->now_ms = t_us / 1000;
        rc__imu_link_disconnect(&r->link, &roller_ops, r);
}
