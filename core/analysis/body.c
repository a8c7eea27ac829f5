#include "analysis/body.h"

#include <math.h>
#include <string.h>

#include "util/bytes.h"

#define RAD2DEG (180.0 / M_PI)
#define LSB_TO_RAD_S (0.1 * M_PI / 180.0)

static void body_accumulate(void *ctx, const uint8_t *s, unsigned k, const struct rc_imu_batch *b);
static void body_close(void *ctx, int64_t start_dev, int64_t end_dev);
static void body_gap(void *ctx, int64_t last_end_dev, int64_t next_start_dev);

static const struct rc__imu_block_ops body_ops = {
        .accumulate = body_accumulate,
        .close = body_close,
        .gap = body_gap,
};

void rc_body_init(struct rc_body *b, rc_body_emit_fn emit, void *userdata) {
        memset(b, 0, sizeof(*b));
        rc__imu_link_init(&b->link);
        b->placement = RC_PLACEMENT_SACRUM;
        b->emit = emit;
        b->userdata = userdata;
}

static bool trunk_placement(enum rc_placement p) {
        return p == RC_PLACEMENT_SACRUM || p == RC_PLACEMENT_UPPER_BACK;
}

void rc_body_set_placement(struct rc_body *b, enum rc_placement p) {
        b->placement = p;
}

static void body_accumulate(void *ctx, const uint8_t *s, unsigned k,
                            const struct rc_imu_batch *batch) {
        struct rc_body *b = ctx;
        unsigned stride = batch->stride;
        int32_t sum[6] = {0};

        for (unsigned j = 0; j < k; j++)
                for (unsigned c = 0; c < 6; c++)
                        sum[c] += rc_les16(s + (size_t)j * stride + 2 * c);
        for (unsigned c = 0; c < 3; c++) {
                b->blk_sum_a[c] += sum[c];
                b->blk_sum_g[c] += sum[3 + c];
        }
        b->blk_n += k;
}

static void normalize(double v[3]) {
        double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);

        if (n > 0)
                for (int i = 0; i < 3; i++)
                        v[i] /= n;
}

static double pitch_of(const double g[3]) {
        double x = g[0] < -1 ? -1 : g[0] > 1 ? 1 : g[0];

        return asin(x) * RAD2DEG;
}

/* rc_body_classify, given the pitch of grav (a block has already worked it out). */
static enum rc_posture classify(const double grav[3], double pitch, enum rc_posture current) {
        double h = RC_BODY_HYSTERESIS_DEG;
        /* thresholds move away from the current posture by the hysteresis */
        double standing = RC_BODY_STANDING_DEG + (current == RC_POSTURE_STANDING ? -h : h);
        double seated = RC_BODY_SEATED_DEG;
        double roll, s_side, s_prone;

        if (current == RC_POSTURE_SEATED)
                seated -= h;
        else if (current != RC_POSTURE_STANDING && current != RC_POSTURE_UNKNOWN)
                seated += h; /* lying now: sitting up must be clear */
        if (pitch >= standing)
                return RC_POSTURE_STANDING;
        if (pitch >= seated)
                return RC_POSTURE_SEATED;

        /* lying: the roll angle of "up" around the trunk axis, 0 = supine */
        roll = atan2(grav[1], -grav[2]) * RAD2DEG;
        s_side = 45.0;
        s_prone = 135.0;
        if (current == RC_POSTURE_SUPINE)
                s_side += h;
        if (current == RC_POSTURE_SIDE_LEFT || current == RC_POSTURE_SIDE_RIGHT) {
                s_side -= h;
                s_prone += h;
        }
        if (current == RC_POSTURE_PRONE)
                s_prone -= h;
        if (fabs(roll) < s_side)
                return RC_POSTURE_SUPINE;
        if (fabs(roll) >= s_prone)
                return RC_POSTURE_PRONE;
        return roll > 0 ? RC_POSTURE_SIDE_RIGHT : RC_POSTURE_SIDE_LEFT;
}

enum rc_posture rc_body_classify(const double grav[3], enum rc_posture current) {
        return classify(grav, pitch_of(grav), current);
}

static void body_close(void *ctx, int64_t start_dev, int64_t end_dev) {
        struct rc_body *b = ctx;
        /* the block spans 100 ms even when some of its samples were lost */
        double a[3], w[3], dt = (double)(end_dev - start_dev) / 1e6;
        enum rc_posture p;

        for (int i = 0; i < 3; i++) {
                a[i] = (double)b->blk_sum_a[i] / b->blk_n;
                w[i] = (double)b->blk_sum_g[i] / b->blk_n * LSB_TO_RAD_S;
        }
        normalize(a);
        if (!b->have_gravity) {
                memcpy(b->grav, a, sizeof(a));
                b->have_gravity = true;
        } else {
                /* a world-fixed vector seen from a frame turning at w: dg/dt = -w × g */
                double *g = b->grav, r[3];

                r[0] = g[0] - (w[1] * g[2] - w[2] * g[1]) * dt;
                r[1] = g[1] - (w[2] * g[0] - w[0] * g[2]) * dt;
                r[2] = g[2] - (w[0] * g[1] - w[1] * g[0]) * dt;
                for (int i = 0; i < 3; i++)
                        g[i] = (1 - RC_BODY_BLEND) * r[i] + RC_BODY_BLEND * a[i];
                normalize(g);
        }
        b->pitch_deg = pitch_of(b->grav);
        memset(b->blk_sum_a, 0, sizeof(b->blk_sum_a));
        memset(b->blk_sum_g, 0, sizeof(b->blk_sum_g));
        b->blk_n = 0;

        if (!trunk_placement(b->placement))
                return;
        p = classify(b->grav, b->pitch_deg, b->posture);
        if (p == b->posture) {
                b->candidate_blocks = 0;
                return;
        }
        if (p != b->candidate) {
                b->candidate = p;
                b->candidate_blocks = 0;
        }
        if (++b->candidate_blocks >= RC_BODY_SETTLE_BLOCKS) {
                struct rc_event ev = {.type = RC_EV_POSTURE, .t_ms = b->now_ms};

                b->posture = p;
                b->candidate_blocks = 0;
                ev.posture.posture = p;
                ev.posture.trunk_pitch_deg = b->pitch_deg;
                b->emit(&ev, b->userdata);
        }
}

static void body_gap(void *ctx, int64_t last_end_dev, int64_t next_start_dev) {
        struct rc_body *b = ctx;

        /* after a long silence, trust the accelerometer again from scratch */
        if (rc__dev_apart(last_end_dev, next_start_dev, 2 * 1000000))
                b->have_gravity = false;
        b->candidate_blocks = 0;
}

void rc_body_feed(struct rc_body *b, int64_t t_us, const struct rc_imu_batch *batch) {
        struct rc_event ev;

        b->now_ms = t_us / 1000;
        if (rc__imu_link_feed(&b->link, t_us, batch, &body_ops, b) < 0)
                return;
        if (rc__imu_link_loss_event(&b->link, b->now_ms, &ev))
                b->emit(&ev, b->userdata);
}

void rc_body_disconnect(struct rc_body *b, int64_t t_us) {
        b->now_ms = t_us / 1000;
        rc__imu_link_disconnect(&b->link, &body_ops, b);
}
