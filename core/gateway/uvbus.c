#include "gateway/uvbus.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

uint64_t rc_uvbus_now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void process(struct rc_uvbus *ub) {
        for (unsigned i = 0; i < RC_UVBUS_BATCH; i++) {
                int r = sd_bus_process(ub->bus, NULL);

                if (r == 0)
                        return;
                if (r < 0) {
                        if (!ub->error) {
                                ub->error = r;
                                rc_log_error("D-Bus connection: %s", strerror(-r));
                        }
                        return;
                }
        }
        /* more is queued: sd_bus_get_timeout says 0 and the timer runs at once */
}

static void on_poll(uv_poll_t *h, int status, int events) {
        (void)status;
        (void)events;
        process(h->data);
}

static void on_timer(uv_timer_t *h) {
        process(h->data);
}

/* Before the loop blocks: ask for exactly what the bus needs. */
static void on_prepare(uv_prepare_t *h) {
        struct rc_uvbus *ub = h->data;
        int want = 0, ev = sd_bus_get_events(ub->bus);
        uint64_t until;

        if (ev < 0) /* closed */
                ev = 0;
        if (ev & POLLIN)
                want |= UV_READABLE;
        if (ev & POLLOUT)
                want |= UV_WRITABLE;
        if (want != ub->polling) {
                if (want)
                        uv_poll_start(&ub->poll, want, on_poll);
                else
                        uv_poll_stop(&ub->poll);
                ub->polling = want;
        }
        if (sd_bus_get_timeout(ub->bus, &until) < 0 || until == UINT64_MAX) {
                uv_timer_stop(&ub->timer);
        } else {
                uint64_t now = rc_uvbus_now_us();
                uint64_t ms = until > now ? (until - now + 999) / 1000 : 0;

                uv_timer_start(&ub->timer, on_timer, ms, 0);
        }
}

int rc_uvbus_attach(struct rc_uvbus *ub, uv_loop_t *loop, sd_bus *bus) {
        int r;

        *ub = (struct rc_uvbus){.loop = loop};
        ub->fd = sd_bus_get_fd(bus);
        if (ub->fd < 0)
                return ub->fd;
        r = uv_poll_init(loop, &ub->poll, ub->fd);
        if (r < 0)
                return r;
        uv_prepare_init(loop, &ub->prepare);
        uv_timer_init(loop, &ub->timer);
        ub->poll.data = ub->prepare.data = ub->timer.data = ub;
        ub->open_handles = 3;
        ub->bus = sd_bus_ref(bus);
        uv_prepare_start(&ub->prepare, on_prepare);
        return 0;
}

static void on_close(uv_handle_t *h) {
        struct rc_uvbus *ub = h->data;

        if (--ub->open_handles > 0)
                return;
        ub->bus = sd_bus_unref(ub->bus);
        if (ub->closed)
                ub->closed(ub->closed_userdata);
}

void rc_uvbus_detach(struct rc_uvbus *ub, void (*closed)(void *userdata), void *userdata) {
        ub->closed = closed;
        ub->closed_userdata = userdata;
        uv_close((uv_handle_t *)&ub->prepare, on_close);
        uv_close((uv_handle_t *)&ub->poll, on_close);
        uv_close((uv_handle_t *)&ub->timer, on_close);
}
