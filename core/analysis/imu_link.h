/* rollcoach — internal: what roller and body IMU streams share.
 *
 * Sequence numbers (gaps counted as lost packets, a step back dropped as a
 * duplicate), the device clock, and the framing of samples into 100 ms blocks
 * of device time on a fixed grid. The owner supplies the per-chunk sum (its
 * inner loop) and the per-block analysis. No allocation. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "analysis/devclock.h"
#include "analysis/events.h"
#include "decode/gatt.h"

#define RC__BLOCK_US 100000
#define RC__LOSS_EVENT_GAP_MS 10000 /* packet_loss at most every 10 s per device */

struct rc__imu_block_ops {
        /* Add k consecutive samples starting at `s` (stride b->stride); the first is
         * at device time l->chunk_dev, in the block that starts at l->blk_start_dev. */
        void (*accumulate)(void *ctx, const uint8_t *s, unsigned k, const struct rc_imu_batch *b);
        /* The block [start, end) is complete (it holds at least one sample). */
        void (*close)(void *ctx, int64_t start_dev, int64_t end_dev);
        /* No data from last_end to next_start (lost packets, a pause, a reconnect).
         * next_start is INT64_MAX on disconnect. */
        void (*gap)(void *ctx, int64_t last_end_dev, int64_t next_start_dev);
};

struct rc__imu_link {
        struct rc_devclock clock;
        bool seq_started;
        uint16_t next_seq;
        uint64_t packets, lost, duplicates, samples;
        uint64_t lost_reported;
        int64_t loss_event_ms;
        bool blk_open;
        int64_t blk_start_dev, blk_end_dev;
        bool have_data;
        int64_t last_data_end_dev;
        int64_t chunk_dev; /* device time of the first sample of the chunk being accumulated */
};

/* Device time `to` is at least `d` µs after `from` (d >= 0). Safe for any two
 * times, INT64_MAX included (no signed overflow); a step back (to < from: the
 * device clock was reset) counts as far apart. */
static inline bool rc__dev_apart(int64_t from, int64_t to, int64_t d) {
        return to < from || (uint64_t)to - (uint64_t)from >= (uint64_t)d;
}

void rc__imu_link_init(struct rc__imu_link *l);

/* Account the packet (seq, clock) and run its samples through the blocks.
 * Returns 0, or -ESTALE for a duplicate or reordered packet (dropped, counted). */
int rc__imu_link_feed(struct rc__imu_link *l, int64_t t_us, const struct rc_imu_batch *b,
                      const struct rc__imu_block_ops *ops, void *ctx);

/* The link is gone: close the open block, report the gap, forget seq and clock. */
void rc__imu_link_disconnect(struct rc__imu_link *l, const struct rc__imu_block_ops *ops,
                             void *ctx);

/* When the loss count grew and the last packet_loss event is at least
 * RC__LOSS_EVENT_GAP_MS old,
 * fill *ev with a packet_loss event at now_ms (device left NULL) and return true. */
bool rc__imu_link_loss_event(struct rc__imu_link *l, int64_t now_ms, struct rc_event *ev);

/* Session ms of a device time (floor). */
int64_t rc__imu_link_dev_to_ms(const struct rc__imu_link *l, int64_t dev_us);
