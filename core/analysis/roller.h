/* rollcoach — per-roller analysis: rolling speed, travel, load, holds, jerk.
 *
 * Algorithms and thresholds: docs/analysis.md ("Roller"). Samples are summed
 * per 100 ms block of device time; the per-sample work is two or three adds, and
 * everything else runs once a block. Plain struct, no allocation, no I/O:
 * deterministic for a given input. Events go to the callback given at init.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "analysis/events.h"
#include "analysis/imu_link.h"
#include "decode/gatt.h"

#define RC_ROLLER_BLOCK_US RC__BLOCK_US
#define RC_ROLLER_SMOOTH_BLOCKS 10 /* speed_cm_s: mean of the last 1 s */
#define RC_ROLLER_QUIET_BLOCKS 20  /* bias and micro-motion window: 2 s */
#define RC_ROLLER_JERK_BLOCKS 5    /* jerk RMS over 0.5 s */
#define RC_ROLLER_HOLD_SPEED_CM_S 0.5
#define RC_ROLLER_HOLD_BREAK_CM_S 2.0 /* one block this fast ends a hold at once */
#define RC_ROLLER_HOLD_MIN_US 2000000
#define RC_ROLLER_LOAD_ON_N 20.0
#define RC_ROLLER_LOAD_OFF_N 10.0
#define RC_ROLLER_QUIET_DPS 0.3 /* std of 2 s of block means: quiet below, micro-motion above */
#define RC_ROLLER_QUIET_TURN_DEG 1.0 /* and gravity turned less than this in those 2 s */
#define RC_ROLLER_IMU_LOAD_HOLDOFF_US 3000000
#define RC_ROLLER_HORIZONTAL_MG 300
#define RC_ROLLER_TRACK_SUSTAIN_CM 2.0
#define RC_ROLLER_GAP_RESET_US 2000000 /* a data gap this long restarts the history */
#define RC_ROLLER_ANGLE_GAIN 0.2
#define RC_ROLLER_BIAS_GAIN 0.01
#define RC_ROLLER_GRAVITY_MIN_MG 850 /* gravity's share in the u/w plane, for the angle */
#define RC_ROLLER_GRAVITY_MAX_MG 1150
#define RC_ROLLER_BIAS_MAX_LSB 1000 /* 100 °/s: a bias estimate is clamped to this */

/* Receives the roller's events. `ev->device` is left NULL: the caller fills it. */
typedef void (*rc_roller_emit_fn)(struct rc_event *ev, void *userdata);

struct rc_roller {
        /* geometry (Roller Info, or the spec's defaults) */
        struct rc_roller_info info;
        double cm_per_lsb_s;   /* rolling speed per gyro LSB: 0.1 °/s · π/180 · r */
        unsigned off_g, off_a; /* byte offsets of the long-axis gyro / accelerometer */
        unsigned off_u, off_w; /* and of the accelerometer's other two axes */

        /* link: seq, device clock, 100 ms blocks */
        struct rc__imu_link link;

        /* sums of the block being filled; τ is a sample's time from the block's start (µs) */
        int64_t blk_sum_g, blk_sum_a, blk_sum_u, blk_sum_w;
        int64_t blk_sum_gt, blk_sum_t; /* Σ g·τ, Σ τ */
        double blk_sum_tt;             /* Σ τ² */
        uint64_t blk_sum_f;
        uint32_t blk_n, blk_nf;
        uint32_t blk_period_us; /* of the last batch added */

        /* block history */
        double g_ring[RC_ROLLER_QUIET_BLOCKS];   /* block means of raw ω, LSB */
        double phi_ring[RC_ROLLER_QUIET_BLOCKS]; /* gravity's angle in the u/w plane, rad */
        unsigned g_pos, g_n;
        double v_ring[RC_ROLLER_SMOOTH_BLOCKS]; /* block speeds, cm/s */
        int64_t v_end[RC_ROLLER_SMOOTH_BLOCKS]; /* and their blocks' ends */
        unsigned v_pos, v_n;
        double j_ring[RC_ROLLER_JERK_BLOCKS]; /* squared jerk, (m/s^3)^2 */
        unsigned j_pos, j_n;
        double v_prev1, v_prev2;
        unsigned v_hist; /* consecutive blocks without a gap (for differences) */

        /* bias */
        bool bias_known;
        double bias_lsb;

        /* rotation angle θ about the long axis at the last block's sample centroid:
         * the gyro's, pulled toward gravity's angle (docs/analysis.md, "Angle") */
        bool have_theta;        /* theta, theta_dev, omega_prev describe the last block */
        bool anchored;          /* theta has been set from gravity since the history began */
        double theta;           /* rad */
        int64_t theta_dev;      /* the centroid's device time */
        int64_t angle_dev;      /* centroid of the last block with a usable gravity angle */
        double omega_prev;      /* rad/s, bias removed */
        bool prev_full;         /* the last block had most of its samples */
        uint64_t angle_bridges; /* corrections taken whole, across missing data */
        /* travel and track */
        double travel_raw_cm;  /* r·Δθ while loaded since connect, to the last centroid */
        double travel_tail_cm; /* and on to the last block's end, by the gyro */
        double track_ref_cm;
        int track_sign; /* 0 until the first sustained movement after a track */

        /* load */
        bool loaded;
        int64_t last_load_sign_dev;
        double force_n; /* last block's mean force, NaN without a load cell */

        /* hold */
        bool holding;
        bool still_known;        /* still_since_dev is set (not before the first data) */
        int64_t still_since_dev; /* end of the last block that moved or was unloaded */
        int64_t still_seen_us;   /* data (blocks) seen still and loaded since then */
        double still_sum_f;      /* force·samples since still_since_dev */
        uint64_t still_n;
        unsigned fast_blocks; /* consecutive blocks at or above the hold speed */
        int64_t fast_start_dev;
        double fast_sum_f;
        uint64_t fast_n;
        int64_t hold_start_dev;

        /* output */
        rc_roller_emit_fn emit;
        void *userdata;
        int64_t now_ms; /* receive time of the notification being processed */
        uint64_t blocks, motion_events;
};

/* Start analysing a roller. `emit` receives every event. */
void rc_roller_init(struct rc_roller *r, rc_roller_emit_fn emit, void *userdata);

/* Apply Roller Info (diameter and long axis). */
void rc_roller_set_info(struct rc_roller *r, const struct rc_roller_info *info);

/* Feed one validated IMU batch received at session time t_us. */
void rc_roller_feed(struct rc_roller *r, int64_t t_us, const struct rc_imu_batch *b);

/* Start a new travel reference (coach.track): travel restarts at 0 and the first
 * sustained movement fixes which rotation sign is "+". */
void rc_roller_track(struct rc_roller *r);

/* The link went down at session time t_us: close the block, end a hold, forget
 * the sequence and device clock (they restart on reconnect). Travel, track and
 * bias are kept. */
void rc_roller_disconnect(struct rc_roller *r, int64_t t_us);
