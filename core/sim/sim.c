#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/encode.h"
#include "sim/scenario.h"
#include "util/file.h"
#include "util/log.h"

struct rc_sim {
        struct rc__scenario sc;
        uint64_t seed;
        struct rc_sim_device_stats stats[RC__SCN_MAX_DEVICES];
};

/* ---- the random generator: xoshiro256** seeded through splitmix64 -------------- */

struct rng {
        uint64_t s[4];
        bool has_spare;
        double spare;
};

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15u);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
}

/* Each device draws from its own stream, derived from the seed and its index,
 * so what one device draws never depends on how the streams interleave. */
static void rng_seed(struct rng *r, uint64_t seed, unsigned stream) {
        uint64_t x = seed ^ (0xd1b54a32d192ed03u * (stream + 1));

        for (int i = 0; i < 4; i++)
                r->s[i] = splitmix64(&x);
        r->has_spare = false;
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r) {
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

/* Uniform in [0, 1). */
static double rng_uniform(struct rng *r) {
        return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Standard normal (Marsaglia's polar method). */
static double rng_gauss(struct rng *r) {
        double u, v, q;

        if (r->has_spare) {
                r->has_spare = false;
                return r->spare;
        }
        do {
                u = 2 * rng_uniform(r) - 1;
                v = 2 * rng_uniform(r) - 1;
                q = u * u + v * v;
        } while (q >= 1 || q == 0);
        q = sqrt(-2 * log(q) / q);
        r->spare = v * q;
        r->has_spare = true;
        return u * q;
}

/* ---- helpers ------------------------------------------------------------------- */

#define DEG (180.0 / M_PI)
#define G_CM_S2 980.665   /* standard gravity, cm/s² */
#define LOAD_RAMP_S 0.5   /* getting on or off the roller */
#define FORCE_BREATH 0.02 /* breathing modulates the load by ±2 % */
#define READ_GAP_S 0.020  /* one GATT read round trip */
#define HR_INTERVAL_S 1.0 /* a strap notifies once a second */
#define HR_MAX_RR 9       /* RR values a strap fits in a 23-byte ATT MTU */
#define HR_PENDING 32     /* beats buffered between notifications */
#define QUEUE_CAP 8
#define ITEM_MAX 72
#define PKT_MAX 64

/* Smoothstep with finite jerk: 0 → 1 over x in [0, 1], zero slope at both ends. */
static double smooth(double x) {
        if (x <= 0)
                return 0;
        if (x >= 1)
                return 1;
        return 0.5 - 0.5 * cos(M_PI * x);
}

static int16_t q16(double v) {
        v = round(v);
        if (v > INT16_MAX)
                return INT16_MAX;
        if (v < INT16_MIN)
                return INT16_MIN;
        return (int16_t)v;
}

static uint16_t qu16(double v) {
        v = round(v);
        if (v > UINT16_MAX)
                return UINT16_MAX;
        if (v < 0)
                return 0;
        return (uint16_t)v;
}

/* ---- per-device generators -------------------------------------------------------- */

struct item {
        uint64_t t_us;
        enum rc_what what;
        rc_uuid uuid;
        size_t len;
        uint8_t data[ITEM_MAX];
};

struct gen {
        const struct rc__device *d;
        const struct rc__breathing *breathing;
        struct rc_sim_device_stats *st;
        struct rng rng;

        /* clocks: the device powers on at `origin` (true time, s) */
        double origin, scale; /* scale = 1 + drift */
        uint32_t clock0;
        uint64_t last_us; /* host time of the last item (a link delivers in order) */

        /* timeline */
        size_t seg;                     /* next segment to process */
        const struct rc__segment *phys; /* the duration segment in effect */
        bool ended;

        /* link */
        bool connected;
        double t_sub; /* notifications carry samples/beats from here on */
        uint16_t seq;
        unsigned corrupt_next;
        struct item q[QUEUE_CAP];
        unsigned qh, qn;

        /* IMU */
        uint64_t k; /* next sample */
        double dt;  /* sample period in true seconds */
        struct rc_imu_sample pkt[PKT_MAX];
        unsigned pkt_n;
        uint64_t pkt_k0;
        double bias[3]; /* °/s on x, y, z */

        /* roller */
        double v_start, f_start; /* speed (cm/s) and load (N) where the segment began */
        double theta, omega_prev, v_prev;
        bool have_prev;

        /* body: rotating U_from toward U_to by `angle` about n */
        double u_from[3], e[3], n[3], angle;

        /* hr */
        double bpm_start, rsa;
        bool contact, have_ref;
        double prev_beat, next_beat, second_rr; /* s, s, ms */
        uint64_t tick;
        double rr[HR_PENDING]; /* ms */
        unsigned n_rr;
        unsigned last_bpm;

        /* the item handed out */
        uint8_t out[RC_TRACE_MAX_PAYLOAD + 8];
        struct rc_notification head;
        bool has_head;
};

static uint64_t host_us(double t_s) {
        return t_s <= 0 ? 0 : (uint64_t)llround(t_s * 1e6);
}

/* Host receive time of something the device sent at true time t. */
static uint64_t rx_time(struct gen *g, double t) {
        double jitter = g->d->jitter_ms > 0 ? rng_uniform(&g->rng) * g->d->jitter_ms : 0;
        uint64_t us = host_us(t + (g->d->latency_ms + jitter) * 1e-3);

        if (us < g->last_us)
                us = g->last_us;
        g->last_us = us;
        return us;
}

static uint32_t device_clock(const struct gen *g, double t) {
        double elapsed = (t - g->origin) * 1e6 * g->scale;

        return (uint32_t)((uint64_t)g->clock0 + (uint64_t)llround(elapsed < 0 ? 0 : elapsed));
}

static double sample_time(const struct gen *g, uint64_t k) {
        return g->origin + (double)k * g->d->period_us * 1e-6 / g->scale;
}

static struct item *enqueue(struct gen *g, uint64_t t_us, enum rc_what what) {
        struct item *it = &g->q[(g->qh + g->qn) % QUEUE_CAP];

        /* Callers enqueue at most 5 items after draining (see advance()). */
        g->qn++;
        it->t_us = t_us < g->last_us ? g->last_us : t_us;
        g->last_us = it->t_us;
        it->what = what;
        it->len = 0;
        return it;
}

static void enqueue_value(struct gen *g, uint64_t t_us, rc_uuid uuid, const uint8_t *p, int len) {
        struct item *it = enqueue(g, t_us, RC_WHAT_VALUE);

        it->uuid = uuid;
        it->len = (size_t)len;
        memcpy(it->data, p, (size_t)len);
}

/* The link comes up at t: `connect`, the reads, then notifications. */
static void do_connect(struct gen *g, double t) {
        const struct rc__device *d = g->d;
        uint8_t buf[ITEM_MAX];
        double tr = t;
        int len;

        enqueue(g, host_us(t), RC_WHAT_CONNECT);
        /* the name first: a hub knows it (BlueZ's Alias) before any GATT value, so
         * the device is announced under it */
        len = rc_encode_string(buf, sizeof(buf), d->name);
        tr += READ_GAP_S;
        enqueue_value(g, host_us(tr), *rc_gatt_char_uuid(RC_CHAR_DEVICE_NAME), buf, len);
        if (d->kind == RC_KIND_ROLLER) {
                len = rc_encode_roller_info(buf, sizeof(buf), &d->info);
                tr += READ_GAP_S;
                enqueue_value(g, host_us(tr), *rc_gatt_char_uuid(RC_CHAR_ROLLER_INFO), buf, len);
        }
        if (d->kind == RC_KIND_BODY) {
                len = rc_encode_placement(buf, sizeof(buf), d->placement);
                tr += READ_GAP_S;
                enqueue_value(g, host_us(tr), *rc_gatt_char_uuid(RC_CHAR_BODY_PLACEMENT), buf, len);
        }
        len = rc_encode_battery(buf, sizeof(buf), d->battery);
        tr += READ_GAP_S;
        enqueue_value(g, host_us(tr), *rc_gatt_char_uuid(RC_CHAR_BATTERY_LEVEL), buf, len);

        g->connected = true;
        g->t_sub = tr + READ_GAP_S;
        g->pkt_n = 0;
        g->n_rr = 0;
        g->tick = 0;
}

static void do_disconnect(struct gen *g, double t) {
        enqueue(g, host_us(t + g->d->latency_ms * 1e-3), RC_WHAT_DISCONNECT);
        g->connected = false;
        g->pkt_n = 0; /* a half-filled batch is never sent */
        g->n_rr = 0;
}

/* ---- roller physics ------------------------------------------------------------ */

/* Contact-line speed (cm/s, + = +ω) the segment asks for at t, before the ramp. */
static double roller_target(const struct gen *g, const struct rc__segment *s, double t) {
        switch (s->kind) {
        case RC__SEG_ROLL:
                return s->speed;
        case RC__SEG_JERKY:
                return s->speed + s->amp * sin(2 * M_PI * s->freq * (t - s->t0));
        case RC__SEG_HOLD: {
                /* The body breathing on the roller rocks it: x = A sin φ. */
                double a_cm = g->d->breath_mm / 10.0;
                double w = 2 * M_PI * rc__breathing_rate(g->breathing, t) / 60.0;

                return a_cm * w * cos(rc__breathing_phase(g->breathing, t));
        }
        default:
                return 0;
        }
}

static double roller_speed(const struct gen *g, const struct rc__segment *s, double t) {
        double tau, target;

        if (!s)
                return 0;
        tau = t - s->t0;
        target = roller_target(g, s, t);
        if (s->ramp > 0 && tau < s->ramp) {
                double w = smooth(tau / s->ramp);

                return g->v_start * (1 - w) + target * w;
        }
        return target;
}

static bool loaded_kind(enum rc__seg_kind k) {
        return k == RC__SEG_ROLL || k == RC__SEG_HOLD || k == RC__SEG_JERKY;
}

/* The nominal load (N) at t, without noise or breathing. */
static double roller_load(const struct gen *g, const struct rc__segment *s, double t) {
        double target;

        if (!s)
                return 0;
        target = loaded_kind(s->kind) ? s->force : 0;
        return g->f_start + (target - g->f_start) * smooth((t - s->t0) / LOAD_RAMP_S);
}

/* Handling (lift, carry): tilt β of the long axis (rad), height of the roller
 * above the floor (cm) and spin about the long axis in the hands (rad/s). The
 * roller rises over `tr` seconds, is handled, and is put down over `tr`. */
static void handling(const struct rc__segment *s, double t, double *beta, double *height,
                     double *spin) {
        double dur = s->t1 - s->t0, tau = t - s->t0;
        double tr = fmin(0.8, dur / 3), up, mid;
        bool carry = s->kind == RC__SEG_CARRY;

        if (tau < 0)
                tau = 0;
        if (tau > dur)
                tau = dur;
        up = smooth(tau / tr) * smooth((dur - tau) / tr);
        /* the middle phase fades in and out over 0.4 s */
        mid = smooth((tau - tr) / 0.4) * smooth((dur - tr - tau) / 0.4);
        *beta = s->tilt / DEG * up;
        *height = 80.0 * up;
        if (carry) {
                /* walking: 1.8 steps/s, a 1.5 cm bounce and a 6° sway */
                *beta += 6.0 / DEG * sin(2 * M_PI * 1.8 * tau) * mid;
                *height += 1.5 * sin(2 * M_PI * 1.8 * tau) * mid;
                *spin = 0;
        } else {
                /* turned over in the hands, about 25 °/s */
                *spin = 25.0 / DEG * sin(2 * M_PI * 0.4 * (tau - tr)) * mid;
        }
}

static void roller_sample(struct gen *g, double t, struct rc_imu_sample *out) {
        const struct rc__device *d = g->d;
        const struct rc__segment *s = g->phys;
        double r_cm = d->info.diameter_mm / 20.0;
        double v = roller_speed(g, s, t), dv = 0;
        double beta = 0, dbeta = 0, acc_up = 0, spin = 0, omega;
        double acc[3], gyr[3], st, ct, sb, cb, k_mg = 1000.0 / G_CM_S2;
        unsigned L = d->info.long_axis, u = (L + 1) % 3, w = (L + 2) % 3;

        if (s && (s->kind == RC__SEG_LIFT || s->kind == RC__SEG_CARRY)) {
                const double h = 0.005;
                double b1, b2, h0, h1, h2, sp;

                handling(s, t, &beta, &h0, &spin);
                handling(s, t - h, &b1, &h1, &sp);
                handling(s, t + h, &b2, &h2, &sp);
                dbeta = (b2 - b1) / (2 * h);
                acc_up = (h2 - 2 * h0 + h1) / (h * h); /* cm/s² */
        }
        omega = v / r_cm + spin;
        if (g->have_prev) {
                g->theta += 0.5 * (omega + g->omega_prev) * g->dt;
                dv = (v - g->v_prev) / g->dt;
        }
        g->omega_prev = omega;
        g->v_prev = v;
        g->have_prev = true;

        st = sin(g->theta);
        ct = cos(g->theta);
        sb = sin(beta);
        cb = cos(beta);
        /* (long, u, w): gravity "up" in the sensor frame, U = (sin β, cos β sin θ,
         * cos β cos θ); the direction of travel F = L × U = (0, −cos θ, sin θ). */
        double up[3] = {sb, cb * st, cb * ct}, fwd[3] = {0, -ct, st};

        for (int i = 0; i < 3; i++) {
                acc[i] = (1000.0 + acc_up * k_mg) * up[i] + dv * k_mg * fwd[i];
                /* ω = θ' about the long axis + β' about the travel axis */
                gyr[i] = (i == 0 ? omega : 0) + dbeta * fwd[i];
        }
        for (int i = 0; i < 3; i++) {
                unsigned ax = i == 0 ? L : i == 1 ? u : w;

                out->a[ax] = q16(acc[i] + d->accel_noise * rng_gauss(&g->rng));
                out->g[ax] = q16((gyr[i] * DEG + g->bias[ax] + d->gyro_noise * rng_gauss(&g->rng)) *
                                 10.0);
        }
        if (d->load_cell) {
                double f = roller_load(g, s, t) *
                           (1 + FORCE_BREATH * sin(rc__breathing_phase(g->breathing, t)));

                out->force = qu16((f + d->force_noise * rng_gauss(&g->rng)) * 10.0);
        } else {
                out->force = 0;
        }
}

/* ---- body physics -------------------------------------------------------------- */

static void posture_vector(enum rc_posture p, double pitch_deg, double u[3]) {
        double sp = sin(pitch_deg / DEG), cp = cos(pitch_deg / DEG);
        double ay = 0, az = -1; /* supine, seated, standing: the back faces down/back */

        if (p == RC_POSTURE_PRONE)
                az = 1;
        else if (p == RC_POSTURE_SIDE_LEFT)
                ay = -1, az = 0;
        else if (p == RC_POSTURE_SIDE_RIGHT)
                ay = 1, az = 0;
        u[0] = sp;
        u[1] = cp * ay;
        u[2] = cp * az;
}

static double dot3(const double a[3], const double b[3]) {
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void cross3(const double a[3], const double b[3], double r[3]) {
        r[0] = a[1] * b[2] - a[2] * b[1];
        r[1] = a[2] * b[0] - a[0] * b[2];
        r[2] = a[0] * b[1] - a[1] * b[0];
}

static void normalize3(double v[3]) {
        double m = sqrt(dot3(v, v));

        for (int i = 0; i < 3; i++)
                v[i] /= m;
}

/* Up in the sensor frame at t, and the rotation rate (rad/s, sensor frame). */
static void body_orientation(const struct gen *g, double t, double up[3], double gyr[3]) {
        const struct rc__segment *s = g->phys;
        double T = s && s->kind == RC__SEG_POSTURE ? s->transition : 0;
        double x = T > 0 ? (t - s->t0) / T : 1, a, da = 0;

        a = g->angle * smooth(x);
        if (T > 0 && x > 0 && x < 1)
                da = g->angle * 0.5 * M_PI * sin(M_PI * x) / T;
        for (int i = 0; i < 3; i++) {
                up[i] = cos(a) * g->u_from[i] + sin(a) * g->e[i];
                /* up turns about n at a' (dU/dt = a' n × U); the sensor turns the
                 * other way: ω = −a' n. */
                gyr[i] = -da * g->n[i];
        }
}

/* Start turning from wherever the body is toward `to`. */
static void body_turn_to(struct gen *g, double t, const double to[3]) {
        double from[3], gyr[3], c;

        body_orientation(g, t, from, gyr);
        normalize3(from);
        memcpy(g->u_from, from, sizeof(from));
        c = dot3(from, to);
        for (int i = 0; i < 3; i++)
                g->e[i] = to[i] - c * from[i];
        if (sqrt(dot3(g->e, g->e)) < 1e-6) {
                /* Same or opposite: turn about the trunk's long axis (rolling over)
                 * — e is the body's left, or its head if `from` is along the left. */
                double ref[3] = {0, 1, 0};

                if (fabs(from[1]) > 0.9)
                        ref[0] = 1, ref[1] = 0;
                c = dot3(from, ref);
                for (int i = 0; i < 3; i++)
                        g->e[i] = ref[i] - c * from[i];
                g->angle = dot3(from, to) > 0 ? 0 : M_PI;
        } else {
                g->angle = acos(fmax(-1.0, fmin(1.0, c)));
        }
        normalize3(g->e);
        cross3(from, g->e, g->n);
}

static void body_sample(struct gen *g, double t, struct rc_imu_sample *out) {
        const struct rc__device *d = g->d;
        double up[3], gyr[3];

        body_orientation(g, t, up, gyr);
        for (int i = 0; i < 3; i++) {
                out->a[i] = q16(1000.0 * up[i] + d->accel_noise * rng_gauss(&g->rng));
                out->g[i] = q16((gyr[i] * DEG + g->bias[i] + d->gyro_noise * rng_gauss(&g->rng)) *
                                10.0);
        }
        out->force = 0;
}

/* ---- hr physiology ---------------------------------------------------------------- */

static double hr_bpm(const struct gen *g, const struct rc__segment *s, double t) {
        double target;

        if (!s || s->kind != RC__SEG_PULSE)
                return g->bpm_start;
        target = s->bpm;
        if (s->ramp > 0 && t - s->t0 < s->ramp)
                return g->bpm_start + (target - g->bpm_start) * smooth((t - s->t0) / s->ramp);
        return target;
}

/* One RR interval (ms) starting at t: the heart's rate, the respiratory sinus
 * arrhythmia and beat-to-beat noise. */
static double hr_rr(struct gen *g, double t) {
        double rr = 60000.0 / hr_bpm(g, g->phys, t) +
                    g->rsa * sin(rc__breathing_phase(g->breathing, t)) +
                    g->d->rr_noise * rng_gauss(&g->rng);

        return fmax(rr, 250.0);
}

/* The interval the strap will measure next, with artifacts: a missed beat (two
 * intervals seen as one) or an ectopic beat (a short one, then the compensating
 * long one). */
static void hr_schedule(struct gen *g) {
        double rr;

        if (g->second_rr > 0) {
                rr = g->second_rr;
                g->second_rr = 0;
        } else {
                rr = hr_rr(g, g->prev_beat);
                if (g->d->artifacts > 0 && rng_uniform(&g->rng) < g->d->artifacts) {
                        if (rng_uniform(&g->rng) < 0.5) {
                                rr += hr_rr(g, g->prev_beat + rr * 1e-3);
                        } else {
                                g->second_rr = 1.4 * rr;
                                rr *= 0.6;
                        }
                }
        }
        g->next_beat = g->prev_beat + rr * 1e-3;
}

static void hr_beat(struct gen *g) {
        double rr = (g->next_beat - g->prev_beat) * 1e3;

        if (g->contact) {
                if (g->have_ref && g->connected && g->n_rr < HR_PENDING)
                        g->rr[g->n_rr++] = rr;
                g->have_ref = true;
        } else {
                g->have_ref = false;
        }
        g->prev_beat = g->next_beat;
        hr_schedule(g);
}

/* ---- segments ----------------------------------------------------------------- */

static void enter_segment(struct gen *g, const struct rc__segment *s) {
        const struct rc__device *d = g->d;

        switch (d->kind) {
        case RC_KIND_ROLLER:
                g->v_start = roller_speed(g, g->phys, s->t0);
                g->f_start = roller_load(g, g->phys, s->t0);
                break;
        case RC_KIND_BODY: {
                double to[3], gyr[3];

                if (s->kind == RC__SEG_POSTURE)
                        posture_vector(s->posture, s->pitch, to);
                else
                        body_orientation(g, s->t0, to, gyr);
                body_turn_to(g, s->t0, to);
                break;
        }
        case RC_KIND_HR:
                g->bpm_start = hr_bpm(g, g->phys, s->t0);
                if (s->kind == RC__SEG_PULSE && s->rsa >= 0)
                        g->rsa = s->rsa;
                break;
        default:
                break;
        }
        g->phys = s;
}

static void do_instant(struct gen *g, const struct rc__segment *s) {
        uint8_t buf[8];
        int len;

        switch (s->kind) {
        case RC__SEG_PRESS:
                if (!g->connected)
                        break; /* nobody to tell */
                len = rc_encode_button(buf, sizeof(buf), s->press, device_clock(g, s->t0));
                enqueue_value(g, rx_time(g, s->t0), *rc_gatt_char_uuid(RC_CHAR_ROLLER_BUTTON), buf,
                              len);
                g->st->packets++;
                break;
        case RC__SEG_CONTACT:
                g->contact = s->contact;
                if (!s->contact) {
                        /* the strap drops what it measured and re-syncs on contact */
                        g->have_ref = false;
                        g->n_rr = 0;
                }
                break;
        case RC__SEG_CONNECT:
                do_connect(g, s->t0);
                break;
        case RC__SEG_DISCONNECT:
                do_disconnect(g, s->t0);
                break;
        default:
                break;
        }
}

/* Process the timeline up to true time t: instants at or before t, and entry
 * into the duration segment holding t. Stops after an instant that queued
 * something, so the queue (QUEUE_CAP) is drained between instants. At the end of
 * the timeline the device disconnects. */
static void advance(struct gen *g, double t) {
        const struct rc__device *d = g->d;

        while (g->seg < d->n_seg) {
                const struct rc__segment *s = &d->seg[g->seg];

                if (rc__seg_is_instant(s->kind)) {
                        if (s->t0 > t)
                                return;
                        do_instant(g, s);
                        g->seg++;
                        if (g->qn)
                                return;
                        continue;
                }
                if (g->phys != s)
                        enter_segment(g, s);
                if (t < s->t1)
                        return;
                g->seg++;
        }
        if (!g->ended) {
                if (g->connected)
                        do_disconnect(g, d->t_end);
                g->ended = true;
        }
}

/* ---- notifications ---------------------------------------------------------------- */

static void set_head(struct gen *g, uint64_t t_us, enum rc_what what, const rc_uuid *uuid,
                     size_t len) {
        g->head.t_us = t_us;
        g->head.addr = g->d->addr;
        g->head.what = what;
        if (uuid)
                g->head.uuid = *uuid;
        else
                memset(&g->head.uuid, 0, sizeof(g->head.uuid));
        g->head.len = len;
        g->head.data = g->out;
        g->has_head = true;
}

static bool pop_queue(struct gen *g) {
        struct item *it;

        if (!g->qn)
                return false;
        it = &g->q[g->qh];
        g->qh = (g->qh + 1) % QUEUE_CAP;
        g->qn--;
        memcpy(g->out, it->data, it->len);
        set_head(g, it->t_us, it->what, it->what == RC_WHAT_VALUE ? &it->uuid : NULL, it->len);
        return true;
}

enum fate { SENT, LOST, CORRUPTED };

static enum fate draw_fate(struct gen *g) {
        double u = rng_uniform(&g->rng);

        if (u < g->d->loss)
                return LOST;
        if (u < g->d->loss + g->d->corrupt)
                return CORRUPTED;
        return SENT;
}

/* The batch is full: number it, decide its fate, encode it. True if it is sent. */
static bool finish_batch(struct gen *g) {
        const struct rc__device *d = g->d;
        bool force = d->kind == RC_KIND_ROLLER && d->load_cell;
        enum fate fate = draw_fate(g);
        uint16_t seq = g->seq++;
        unsigned n = g->pkt_n;
        uint64_t k_last = g->pkt_k0 + n - 1;
        const rc_uuid *uuid = rc_gatt_char_uuid(d->kind == RC_KIND_ROLLER ? RC_CHAR_ROLLER_IMU
                                                                          : RC_CHAR_BODY_IMU);
        int len;

        g->pkt_n = 0;
        if (fate == LOST) {
                g->st->lost++;
                g->st->lost_samples += n;
                return false;
        }
        len = rc_encode_imu(g->out, sizeof(g->out), force, seq,
                            (uint32_t)((uint64_t)g->clock0 + g->pkt_k0 * d->period_us),
                            d->period_us, g->pkt, n);
        if (fate == CORRUPTED) {
                len = rc_corrupt_imu(
                        g->out, (size_t)len, sizeof(g->out),
                        (enum rc_corrupt_imu)(g->corrupt_next++ % RC_CORRUPT_IMU__COUNT));
                g->st->corrupted++;
                g->st->lost_samples += n;
        } else {
                g->st->samples += n;
        }
        g->st->packets++;
        set_head(g, rx_time(g, sample_time(g, k_last)), RC_WHAT_VALUE, uuid, (size_t)len);
        return true;
}

/* Next item of a roller or body sensor into g->head; false when it is done. */
static bool imu_next(struct gen *g) {
        const struct rc__device *d = g->d;

        for (;;) {
                struct rc_imu_sample smp;
                double t;

                if (pop_queue(g))
                        return true;
                if (g->ended)
                        return false;
                t = sample_time(g, g->k);
                advance(g, t);
                if (g->qn || g->ended)
                        continue;
                if (d->kind == RC_KIND_ROLLER)
                        roller_sample(g, t, &smp);
                else
                        body_sample(g, t, &smp);
                if (g->connected && t >= g->t_sub) {
                        if (g->pkt_n == 0)
                                g->pkt_k0 = g->k;
                        g->pkt[g->pkt_n++] = smp;
                        if (g->pkt_n == d->per_packet && finish_batch(g)) {
                                g->k++;
                                return true;
                        }
                }
                g->k++;
        }
}

static bool hr_notify(struct gen *g, double t) {
        enum fate fate = draw_fate(g);
        uint16_t rr[HR_MAX_RR];
        struct rc_hr_encode m = {.rr = rr};
        const rc_uuid *uuid = rc_gatt_char_uuid(RC_CHAR_HR_MEASUREMENT);
        double sum = 0;
        int len;

        m.n_rr = g->n_rr < HR_MAX_RR ? g->n_rr : HR_MAX_RR;
        for (unsigned i = 0; i < m.n_rr; i++) {
                rr[i] = qu16(g->rr[i] * 1.024);
                sum += g->rr[i];
        }
        g->n_rr = 0;
        if (!g->contact)
                g->last_bpm = 0;
        else if (m.n_rr > 0)
                g->last_bpm = (unsigned)lround(60000.0 * m.n_rr / sum);
        m.bpm = (uint16_t)g->last_bpm;
        m.contact = g->contact ? RC_CONTACT_OK : RC_CONTACT_LOST;
        if (fate == LOST) {
                g->st->lost++;
                return false;
        }
        len = rc_encode_hr_measurement(g->out, sizeof(g->out), &m);
        if (fate == CORRUPTED) {
                len = rc_corrupt_hr(g->out, (size_t)len, sizeof(g->out),
                                    (enum rc_corrupt_hr)(g->corrupt_next++ % RC_CORRUPT_HR__COUNT));
                g->st->corrupted++;
        }
        g->st->packets++;
        set_head(g, rx_time(g, t), RC_WHAT_VALUE, uuid, (size_t)len);
        return true;
}

/* Next item of a heart-rate strap into g->head; false when it is done. */
static bool hr_next(struct gen *g) {
        for (;;) {
                double t_tick, t;

                if (pop_queue(g))
                        return true;
                if (g->ended)
                        return false;
                t_tick = g->connected ? g->t_sub + (double)(g->tick + 1) * HR_INTERVAL_S / g->scale
                                      : INFINITY;
                t = fmin(t_tick, g->next_beat);
                if (t > g->d->t_end)
                        t = g->d->t_end;
                advance(g, t);
                if (g->qn || g->ended)
                        continue;
                if (g->next_beat <= t_tick) {
                        hr_beat(g);
                        continue;
                }
                g->tick++;
                if (hr_notify(g, t_tick))
                        return true;
        }
}

static bool gen_next(struct gen *g) {
        g->has_head = g->d->kind == RC_KIND_HR ? hr_next(g) : imu_next(g);
        return g->has_head;
}

static void gen_init(struct gen *g, const struct rc_sim *s, unsigned i,
                     struct rc_sim_device_stats *st) {
        const struct rc__device *d = &s->sc.dev[i];

        memset(g, 0, sizeof(*g));
        g->d = d;
        g->breathing = &s->sc.breathing;
        g->st = st;
        rng_seed(&g->rng, s->seed, i);
        g->origin = d->n_seg ? d->seg[0].t0 : 0;
        g->scale = 1 + d->drift_ppm * 1e-6;
        g->clock0 = d->clock_set ? d->clock0 : (uint32_t)rng_next(&g->rng);
        g->seq = d->seq0;
        g->dt = d->period_us * 1e-6 / g->scale;
        /* Gyro bias: as given on the long axis (x for a body clip), a seeded share
         * of it on the other two. */
        for (int a = 0; a < 3; a++)
                g->bias[a] = d->gyro_bias * (2 * rng_uniform(&g->rng) - 1);
        g->bias[d->kind == RC_KIND_ROLLER ? d->info.long_axis : 0] = d->gyro_bias;
        g->theta = 2 * M_PI * rng_uniform(&g->rng);
        g->rsa = d->rsa;
        g->bpm_start = d->bpm;
        g->contact = true;
        if (d->kind == RC_KIND_BODY) {
                double to[3];
                size_t j;

                /* Before its first posture the wearer is already in it. */
                for (j = 0; j < d->n_seg && d->seg[j].kind != RC__SEG_POSTURE; j++)
                        ;
                if (j < d->n_seg)
                        posture_vector(d->seg[j].posture, d->seg[j].pitch, to);
                else
                        posture_vector(RC_POSTURE_STANDING, 85, to);
                memcpy(g->u_from, to, sizeof(to));
                g->e[0] = g->e[1] = g->e[2] = 0;
                g->angle = 0;
        }
        if (d->kind == RC_KIND_HR) {
                g->prev_beat = g->origin;
                hr_schedule(g);
        }
        do_connect(g, g->origin);
}

/* ---- API ------------------------------------------------------------------------- */

int rc_sim_new_from_string(const char *text, size_t len, const char *name, struct rc_sim **ret) {
        struct rc_sim *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        r = rc__scenario_parse(text, len, name, &s->sc);
        if (r < 0) {
                free(s);
                return r;
        }
        s->seed = s->sc.seed;
        for (unsigned i = 0; i < s->sc.n_dev; i++) {
                struct rc_sim_device_stats *st = &s->stats[i];

                rc_addr_format(&s->sc.dev[i].addr, st->addr);
                _Static_assert(sizeof(st->label) == sizeof(s->sc.dev[i].label), "label sizes");
                memcpy(st->label, s->sc.dev[i].label, sizeof(st->label));
                st->kind = s->sc.dev[i].kind;
        }
        *ret = s;
        return 0;
}

int rc_sim_new_from_file(const char *path, struct rc_sim **ret) {
        char *buf;
        size_t n;
        int r = rc_read_file(path, RC__SCN_MAX_BYTES, &buf, &n);

        if (r == -EFBIG) {
                rc_log_error("%s: scenario is larger than %u bytes", path, RC__SCN_MAX_BYTES);
                return -EINVAL;
        }
        if (r < 0)
                return r;
        r = rc_sim_new_from_string(buf, n, path, ret);
        free(buf);
        return r;
}

void rc_sim_free(struct rc_sim *s) {
        if (!s)
                return;
        rc__scenario_free(&s->sc);
        free(s);
}

void rc_sim_set_seed(struct rc_sim *s, uint64_t seed) {
        s->seed = seed;
}

int rc_sim_run(struct rc_sim *s, rc_sim_emit_fn fn, void *userdata) {
        unsigned n = s->sc.n_dev;
        struct gen *g = calloc(n, sizeof(*g));
        int r = 0;

        if (!g)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                struct rc_sim_device_stats *st = &s->stats[i];

                st->packets = st->lost = st->corrupted = st->samples = st->lost_samples = 0;
                gen_init(&g[i], s, i, st);
                gen_next(&g[i]);
        }
        for (;;) {
                int best = -1;

                /* Merge by host time; ties go to the device declared first. */
                for (unsigned i = 0; i < n; i++)
                        if (g[i].has_head && (best < 0 || g[i].head.t_us < g[best].head.t_us))
                                best = (int)i;
                if (best < 0)
                        break;
                r = fn(&g[best].head, userdata);
                if (r)
                        break;
                gen_next(&g[best]);
        }
        free(g);
        return r;
}

static int write_line(const struct rc_notification *n, void *userdata) {
        return rc_trace_write(userdata, n);
}

int rc_sim_write_trace(struct rc_sim *s, FILE *f) {
        int r = rc_trace_write_header(f);

        if (r < 0)
                return r;
        r = rc_sim_run(s, write_line, f);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

unsigned rc_sim_device_count(const struct rc_sim *s) {
        return s->sc.n_dev;
}

const struct rc_sim_device_stats *rc_sim_device_stats(const struct rc_sim *s, unsigned i) {
        return i < s->sc.n_dev ? &s->stats[i] : NULL;
}
