/* rollcoach — a session: raw notifications in, typed events out.
 *
 * The one entry point of the data path (README.md, "Layout"; docs/analysis.md): live BLE, trace
 * replay and the simulator all call rc_session_feed() with raw notifications. The session keeps a
 * fixed table of devices, classifies each by the characteristics it sends (roller, body, hr),
 * decodes every packet (rejecting and counting bad ones per device and reason), runs the per-device
 * analysis and emits events to its subscribers. A long press on a roller's button ends the session
 * at once.
 *
 * No allocation after init; the caller owns the struct (it is large: allocate it).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/body.h"
#include "analysis/events.h"
#include "analysis/hr.h"
#include "analysis/roller.h"
#include "decode/gatt.h"
#include "replay/trace.h"

#define RC_SESSION_MAX_DEVICES 8
#define RC_SESSION_NAME_MAX 63
#define RC_SESSION_LOG_REJECTS 5 /* rejected packets logged per device and reason */

enum rc_track_direction {
        RC_TRACK_FIRST_MOVE = 0, /* + is whichever way the roller first moves */
        RC_TRACK_CRANIAL,        /* + is toward the head */
        RC_TRACK_CAUDAL,         /* + is toward the feet */
};
/* "cranial", "caudal"; -EINVAL otherwise. */
int rc_track_direction_from_name(const char *name, enum rc_track_direction *ret);
const char *rc_track_direction_name(enum rc_track_direction d);

struct rc_device_stats {
        uint64_t values;                     /* value notifications received */
        uint64_t rejected[RC_DECODE__COUNT]; /* by reason; [RC_DECODE_UNKNOWN]: unknown UUIDs */
        uint64_t unexpected;                 /* a characteristic of another kind of device */
        uint64_t connects, disconnects;
};

struct rc_device {
        rc_addr addr;
        char addr_str[RC_ADDR_STRLEN];
        char name[RC_GATT_STRING_MAX + 1];
        enum rc_device_kind kind;
        bool connected;
        bool announced; /* the "connected" device event went out */
        int battery;    /* percent, -1 unknown */
        struct rc_roller_info info;
        enum rc_placement placement;
        enum rc_track_direction direction;
        struct rc_device_stats stats;
        struct rc_session *session;
        union {
                struct rc_roller roller;
                struct rc_body body;
                struct rc_hr_state hr;
        } a;
};

struct rc_session {
        struct rc_event_bus bus;
        struct rc_device dev[RC_SESSION_MAX_DEVICES];
        unsigned n_dev;
        bool begun, ended;
        int64_t start_ms, now_ms;
        char routine[RC_SESSION_NAME_MAX + 1], step[RC_SESSION_NAME_MAX + 1];
        const char *end_reason;
        uint64_t notifications;
        uint64_t refused_devices; /* notifications from devices beyond the table */
};

/* Prepare an empty session (no devices, no subscribers). */
void rc_session_init(struct rc_session *s);

/* Subscribe to every event; -ENOSPC when full. */
int rc_session_subscribe(struct rc_session *s, rc_event_fn fn, void *userdata);

/* Begin at session time t_ms with an optional routine and step (copied; NULL or ""
 * for none; longer than RC_SESSION_NAME_MAX → -EINVAL). Emits session_start.
 * Feeding a session that was not begun begins a free one at that time. */
int rc_session_begin(struct rc_session *s, int64_t t_ms, const char *routine, const char *step);

/* Feed one raw notification. Returns 0; -EBADMSG if its packet was rejected (logged
 * with the device and reason, counted); -ENOSPC if the device table is full;
 * -ESHUTDOWN if the session has ended (nothing done). */
int rc_session_feed(struct rc_session *s, const struct rc_notification *n);

/* Start a new travel reference (coach.track) for one roller (its address) or, with
 * NULL, every roller. -ENOENT if no such roller. */
int rc_session_track(struct rc_session *s, const char *device, enum rc_track_direction dir);

/* A press of the hub's own button (not a device's): a button event without a
 * device, and a long press ends the session at once, as a roller's does. */
void rc_session_press(struct rc_session *s, int64_t t_ms, enum rc_press press);

/* End at t_ms for `reason` (a static string). Emits session_end; idempotent. */
void rc_session_end(struct rc_session *s, int64_t t_ms, const char *reason);

/* The device with this address, or NULL. */
struct rc_device *rc_session_device(struct rc_session *s, const char *addr);

/* Write a human-readable summary (devices, packets, rejects, events) to f. */
void rc_session_report(const struct rc_session *s, FILE *f);
