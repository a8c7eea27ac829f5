/* rollcoach — typed events, the analysis core's only output (spec/coaching.md).
 *
 * Events are plain structs passed by pointer to subscribers; a subscriber must
 * copy what it keeps (strings point into the session). Optional numbers are NaN
 * when absent (they become nil in Lua and are left out of JSON).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "decode/gatt.h"

enum rc_event_type {
        RC_EV_DEVICE,
        RC_EV_MOTION,
        RC_EV_HOLD_START,
        RC_EV_HOLD_END,
        RC_EV_POSTURE,
        RC_EV_HR,
        RC_EV_BUTTON,
        RC_EV_BATTERY,
        RC_EV_SESSION_START,
        RC_EV_SESSION_END,
        RC_EV_PACKET_LOSS,
        RC_EV__COUNT,
};
/* The contract's name: "device", "motion", "hold_start", … */
const char *rc_event_name(enum rc_event_type t);

enum rc_device_kind { RC_KIND_UNKNOWN = 0, RC_KIND_ROLLER, RC_KIND_BODY, RC_KIND_HR };
const char *rc_device_kind_name(enum rc_device_kind k); /* "roller", "body", "hr", "unknown" */

enum rc_posture {
        RC_POSTURE_UNKNOWN = 0,
        RC_POSTURE_SUPINE,
        RC_POSTURE_PRONE,
        RC_POSTURE_SIDE_LEFT,
        RC_POSTURE_SIDE_RIGHT,
        RC_POSTURE_SEATED,
        RC_POSTURE_STANDING,
};
const char *rc_posture_name(enum rc_posture p);

struct rc_event {
        enum rc_event_type type;
        int64_t t_ms;       /* session clock */
        const char *device; /* "AA:BB:CC:DD:EE:FF", or NULL for session events */
        union {
                struct {
                        enum rc_device_kind kind;
                        bool connected;
                        const char *name; /* never NULL; the address when unknown */
                } dev;                    /* the "device" event */
                struct {
                        double speed_cm_s; /* signed, + in the tracked direction, ~1 s mean */
                        double travel_cm;  /* since the last track, + in its direction */
                        double force_n;    /* NaN without a load cell */
                        double jerk;       /* m/s^3, magnitude, ~0.5 s RMS */
                        bool loaded;       /* a body is on it (load cell, or the IMU) */
                } motion;
                struct {
                        double travel_cm;
                        double force_n;   /* NaN without a load cell */
                        int64_t since_ms; /* session time the roller came to rest */
                } hold_start;
                struct {
                        double duration_s;
                        double mean_force_n; /* NaN without a load cell */
                } hold_end;
                struct {
                        enum rc_posture posture;
                        double trunk_pitch_deg; /* + = head up, 90 upright, 0 lying */
                } posture;
                struct {
                        unsigned bpm;
                        double rmssd_ms;    /* NaN until enough clean beats */
                        double breath_rate; /* breaths/min, NaN until known */
                        enum rc_contact contact;
                } hr;
                struct {
                        enum rc_press press;
                } button;
                struct {
                        unsigned percent;
                } battery;
                struct {
                        const char *routine; /* NULL for a free session */
                        const char *step;    /* NULL unless started at a step */
                } session_start;
                struct {
                        const char *reason; /* "end_of_trace", "long_press", "stopped", … */
                        double duration_s;
                        double mean_hr;  /* NaN without a strap */
                        double rmssd_ms; /* NaN without a strap */
                } session_end;
                struct {
                        uint32_t lost;  /* packets lost so far on this device */
                        uint32_t total; /* packets expected so far (received + lost) */
                } packet_loss;
        };
};

/* A subscriber. Called synchronously, on the loop thread, in emission order. */
typedef void (*rc_event_fn)(const struct rc_event *ev, void *userdata);

#define RC_EVENT_MAX_SUBSCRIBERS 8

/* A fixed-capacity fan-out of events to subscribers. */
struct rc_event_bus {
        struct {
                rc_event_fn fn;
                void *userdata;
        } sub[RC_EVENT_MAX_SUBSCRIBERS];
        unsigned n;
        uint64_t emitted[RC_EV__COUNT];
};

/* Add a subscriber; -ENOSPC when RC_EVENT_MAX_SUBSCRIBERS are already there. */
int rc_event_bus_subscribe(struct rc_event_bus *bus, rc_event_fn fn, void *userdata);
/* Deliver `ev` to every subscriber in subscription order and count it. */
void rc_event_bus_emit(struct rc_event_bus *bus, const struct rc_event *ev);
