/* rollcoach — per-body-sensor analysis: trunk orientation and posture.
 *
 * Axes, the complementary filter and the posture table: docs/analysis.md
 * ("Body sensor"). Samples are summed per 100 ms block (six adds a sample);
 * the filter and the classifier run once a block. Plain struct, no allocation. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "analysis/events.h"
#include "analysis/imu_link.h"
#include "decode/gatt.h"

#define RC_BODY_BLEND (1.0 / 20.0) /* accelerometer weight per block: τ ≈ 2 s */
#define RC_BODY_STANDING_DEG 60.0
#define RC_BODY_SEATED_DEG 30.0
#define RC_BODY_HYSTERESIS_DEG 5.0
#define RC_BODY_SETTLE_BLOCKS 10 /* a new posture must hold 1 s */

typedef void (*rc_body_emit_fn)(struct rc_event *ev, void *userdata);

struct rc_body {
        enum rc_placement placement;
        struct rc__imu_link link;

        int64_t blk_sum_a[3], blk_sum_g[3];
        uint32_t blk_n;

        bool have_gravity;
        double grav[3]; /* unit vector, sensor frame: the direction "up" */
        double pitch_deg;

        enum rc_posture posture;   /* last reported */
        enum rc_posture candidate; /* seen, not yet settled */
        unsigned candidate_blocks;

        rc_body_emit_fn emit;
        void *userdata;
        int64_t now_ms;
};

void rc_body_init(struct rc_body *b, rc_body_emit_fn emit, void *userdata);
/* Apply Placement; a thigh or wrist placement stops posture events. */
void rc_body_set_placement(struct rc_body *b, enum rc_placement p);
/* Feed one validated IMU batch received at session time t_us. */
void rc_body_feed(struct rc_body *b, int64_t t_us, const struct rc_imu_batch *batch);
/* The link went down. */
void rc_body_disconnect(struct rc_body *b, int64_t t_us);

/* The posture for a gravity direction (unit vector, sensor frame, trunk
 * placement), given the current one for hysteresis. Exposed for tests. */
enum rc_posture rc_body_classify(const double grav[3], enum rc_posture current);
