/* rollcoach — the BlueZ gateway: finds the user's roller, body clip and
 * heart-rate strap through BlueZ (over sd-bus, on the libuv loop) and turns what
 * they send into raw notifications — the same input replay and the simulator
 * give the session.
 *
 * - A mirror of BlueZ's objects: signal matches installed before
 *   GetManagedObjects, then InterfacesAdded/InterfacesRemoved and
 *   PropertiesChanged; org.bluez leaving the bus (bluetoothd stopping) drops
 *   everything, and its return rebuilds the mirror and reconnects.
 * - Discovery with SetDiscoveryFilter (LE; the roller, body and Heart Rate
 *   services), every advertisement checked against our own filter (BlueZ merges
 *   the filters of all its clients).
 * - Devices: the configured address of each kind, or else the first of each kind
 *   seen. Per device: Connect → ServicesResolved (racing Connected=false and
 *   removal, with a timeout) → mark Trusted → read Roller Info / Placement /
 *   Battery / Device Name → subscribe (AcquireNotify where offered, else
 *   StartNotify + PropertiesChanged) → streaming. One Connect per adapter at a
 *   time. Failures are sorted and retried with backoff and jitter
 *   (le-connection-* transient, InProgress wait, UnknownObject rediscover). A
 *   device that disconnects is reconnected.
 * - Every D-Bus reply and signal is validated; a malformed one is logged,
 *   counted and skipped, never trusted.
 * No D-Bus call blocks: all are sd_bus_call_async.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "analysis/events.h"
#include "replay/trace.h"
#include "util/ids.h"

#define RC_GATEWAY_CONNECT_TIMEOUT_MS 20000 /* Connect until ServicesResolved */
#define RC_GATEWAY_BACKOFF_MIN_MS 500
#define RC_GATEWAY_BACKOFF_MAX_MS 30000
#define RC_GATEWAY_INPROGRESS_RETRY_MS 1000 /* another client's Connect in progress */
#define RC_GATEWAY_MAX_DEVICES 64           /* devices mirrored (decoys included) */
#define RC_GATEWAY_MAX_SELECTED 8           /* devices connected at once (a session's table) */

typedef void (*rc_gateway_notify_fn)(const struct rc_notification *n, void *userdata);

struct rc_gateway_opts {
        uv_loop_t *loop;
        /* NULL: the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured) */
        const char *bus_address;
        /* the device to use per kind (indexed by enum rc_device_kind); unset: the
         * first one seen */
        rc_addr want[4];
        bool has_want[4];
        /* every connect, disconnect, read value and notification, in order */
        rc_gateway_notify_fn notify;
        void *userdata;
        /* CLOCK_MONOTONIC µs of session time 0 (notifications carry t_us since) */
        uint64_t t0_us;
        /* never AcquireNotify (always StartNotify) */
        bool no_acquire;
        /* connect every device of ours (up to RC_GATEWAY_MAX_SELECTED), not one of each
         * kind: a test bench, or several users' devices on one hub */
        bool all;
        /* timings in ms, 0 for the default (RC_GATEWAY_*): a test shrinks them
         * rather than wait real seconds */
        unsigned backoff_min_ms;      /* the first retry; doubles with each failure */
        unsigned backoff_max_ms;      /* the longest wait between attempts */
        unsigned connect_timeout_ms;  /* Connect until ServicesResolved */
        unsigned inprogress_retry_ms; /* after InProgress */
};

struct rc_gateway_stats {
        uint64_t malformed; /* D-Bus replies/signals of the wrong shape */
        uint64_t connects;  /* successful connections (ServicesResolved) */
        uint64_t connect_failures;
        uint64_t disconnects;     /* links lost or closed */
        uint64_t bluez_restarts;  /* org.bluez came back on the bus */
        uint64_t via_fd;          /* notifications read from AcquireNotify fds */
        uint64_t via_signal;      /* notifications from PropertiesChanged */
        uint64_t fallbacks;       /* devices that fell back to StartNotify */
        uint64_t ignored_devices; /* seen, not ours (not matching our filter) */
};

struct rc_gateway;

/* Connect to the bus and start (everything else happens on the loop). Returns
 * 0, or a negative errno if the bus cannot be reached. */
int rc_gateway_start(const struct rc_gateway_opts *opts, struct rc_gateway **ret);

/* Disconnect the devices (waiting at most `timeout_ms` for BlueZ's replies),
 * stop discovery, then close the bus; `done` runs on the loop once everything is
 * closed (after which the gateway may be freed). */
void rc_gateway_stop(struct rc_gateway *g, unsigned timeout_ms, void (*done)(void *),
                     void *userdata);

void rc_gateway_free(struct rc_gateway *g);

void rc_gateway_stats(const struct rc_gateway *g, struct rc_gateway_stats *ret);

/* Is the device of this kind connected and streaming? (for tests, status) */
bool rc_gateway_streaming(const struct rc_gateway *g, enum rc_device_kind kind);

/* True once the first GetManagedObjects has been processed (for sd_notify READY). */
bool rc_gateway_ready(const struct rc_gateway *g);
