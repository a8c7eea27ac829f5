/* rollcoach — an sd-bus connection driven by a libuv loop.
 *
 * Before every poll (a uv_prepare_t), the bus's wanted events
 * (sd_bus_get_events) go into one uv_poll_t and its timeout (sd_bus_get_timeout:
 * an absolute CLOCK_MONOTONIC time in µs, UINT64_MAX for none, 0 when messages
 * are queued) into one uv_timer_t — the prepare-watcher pattern of flux-core's
 * sdbus watcher and of sd_bus_attach_event. When either fires the bus is
 * processed; a bounded number of messages per wakeup keeps the loop fair. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <uv.h>

#define RC_UVBUS_BATCH 64 /* sd_bus_process calls per wakeup */

struct rc_uvbus {
        sd_bus *bus; /* a reference is held */
        uv_loop_t *loop;
        uv_prepare_t prepare;
        uv_poll_t poll;
        uv_timer_t timer;
        int fd;
        int polling; /* the uv_poll events currently asked for */
        unsigned open_handles;
        void (*closed)(void *userdata);
        void *closed_userdata;
        int error; /* the first sd_bus_process error (negative errno), 0 if none */
};

/* The clock of sd-bus's timeouts: CLOCK_MONOTONIC in µs. */
uint64_t rc_uvbus_now_us(void);

/* Drive `bus` from `loop`. Returns 0 or a negative errno. */
int rc_uvbus_attach(struct rc_uvbus *ub, uv_loop_t *loop, sd_bus *bus);

/* Stop driving the bus and close the handles; `closed` runs (from the loop) once
 * they are closed, then the bus reference is dropped. */
void rc_uvbus_detach(struct rc_uvbus *ub, void (*closed)(void *userdata), void *userdata);
