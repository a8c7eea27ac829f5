#include "analysis/imu_link.h"

#include <errno.h>
#include <string.h>

void rc__imu_link_init(struct rc__imu_link *l) {
        memset(l, 0, sizeof(*l));
        rc_devclock_init(&l->clock);
        l->loss_event_ms = INT64_MIN / 2;
}

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t rc__imu_link_dev_to_ms(const struct rc__imu_link *l, int64_t dev_us) {
        return floor_div(rc_devclock_to_host(&l->clock, dev_us), 1000);
}

/* Open the block of the grid that holds device time `dev`. */
static void open_block(struct rc__imu_link *l, int64_t dev, const struct rc__imu_block_ops *ops,
                       void *ctx) {
        int64_t start;

        if (!l->have_data) {
                start = dev; /* the grid starts with the first sample */
        } else if (dev >= l->last_data_end_dev) {
                start = l->last_data_end_dev +
                        floor_div(dev - l->last_data_end_dev, RC__BLOCK_US) * RC__BLOCK_US;
        } else {
                /* the device clock went back (a reset): start a new grid */
                start = dev;
        }
        if (l->have_data && start != l->last_data_end_dev)
                ops->gap(ctx, l->last_data_end_dev, start);
        l->blk_open = true;
        l->blk_start_dev = start;
        l->blk_end_dev = start + RC__BLOCK_US;
}

static void close_block(struct rc__imu_link *l, const struct rc__imu_block_ops *ops, void *ctx) {
        l->blk_open = false;
        l->have_data = true;
        l->last_data_end_dev = l->blk_end_dev;
        ops->close(ctx, l->blk_start_dev, l->blk_end_dev);
}

int rc__imu_link_feed(struct rc__imu_link *l, int64_t t_us, const struct rc_imu_batch *b,
                      const struct rc__imu_block_ops *ops, void *ctx) {
        uint32_t period = b->period_us;
        unsigned n = b->n, i = 0;
        int64_t dev;

        if (l->seq_started) {
                uint16_t gap = (uint16_t)(b->seq - l->next_seq);

                if (gap >= 0x8000) {
                        l->duplicates++;
                        return -ESTALE;
                }
                l->lost += gap;
        }
        l->seq_started = true;
        l->next_seq = (uint16_t)(b->seq + 1);
        l->packets++;
        l->samples += n;

        /* The newest sample bounds the clock offset best (the packet left after it). */
        dev = rc_devclock_observe(&l->clock, b->t0_us + (uint32_t)(n - 1) * period, (int64_t)t_us);
        dev -= (int64_t)(n - 1) * period;

        if (l->blk_open && (dev >= l->blk_end_dev || dev < l->blk_start_dev))
                close_block(l, ops, ctx);
        while (i < n) {
                unsigned k;

                if (!l->blk_open)
                        open_block(l, dev, ops, ctx);
                k = (unsigned)((l->blk_end_dev - dev + period - 1) / period);
                if (k > n - i)
                        k = n - i;
                l->chunk_dev = dev;
                ops->accumulate(ctx, b->samples + (size_t)i * b->stride, k, b);
                i += k;
                dev += (int64_t)k * period;
                if (dev >= l->blk_end_dev)
                        close_block(l, ops, ctx);
        }
        return 0;
}

void rc__imu_link_disconnect(struct rc__imu_link *l, const struct rc__imu_block_ops *ops,
                             void *ctx) {
        if (l->blk_open)
                close_block(l, ops, ctx);
        if (l->have_data)
                ops->gap(ctx, l->last_data_end_dev, INT64_MAX);
        l->have_data = false;
        l->seq_started = false;
        rc_devclock_init(&l->clock);
}

bool rc__imu_link_loss_event(struct rc__imu_link *l, int64_t now_ms, struct rc_event *ev) {
        if (l->lost <= l->lost_reported || now_ms - l->loss_event_ms < RC__LOSS_EVENT_GAP_MS)
                return false;
        l->lost_reported = l->lost;
        l->loss_event_ms = now_ms;
        *ev = (struct rc_event){.type = RC_EV_PACKET_LOSS, .t_ms = now_ms};
        ev->packet_loss.lost = (uint32_t)l->lost;
        ev->packet_loss.total = (uint32_t)(l->lost + l->packets);
        return true;
}
