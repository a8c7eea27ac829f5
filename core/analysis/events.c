#include "analysis/events.h"

#include <errno.h>

static const char *const event_names[RC_EV__COUNT] = {
        [RC_EV_DEVICE] = "device",
        [RC_EV_MOTION] = "motion",
        [RC_EV_HOLD_START] = "hold_start",
        [RC_EV_HOLD_END] = "hold_end",
        [RC_EV_POSTURE] = "posture",
        [RC_EV_HR] = "hr",
        [RC_EV_BUTTON] = "button",
        [RC_EV_BATTERY] = "battery",
        [RC_EV_SESSION_START] = "session_start",
        [RC_EV_SESSION_END] = "session_end",
        [RC_EV_PACKET_LOSS] = "packet_loss",
};

const char *rc_event_name(enum rc_event_type t) {
        return (unsigned)t < RC_EV__COUNT ? event_names[t] : "unknown";
}

const char *rc_device_kind_name(enum rc_device_kind k) {
        switch (k) {
        case RC_KIND_ROLLER:
                return "roller";
        case RC_KIND_BODY:
                return "body";
        case RC_KIND_HR:
                return "hr";
        default:
                return "unknown";
        }
}

const char *rc_posture_name(enum rc_posture p) {
        static const char *const names[] = {
                [RC_POSTURE_UNKNOWN] = "unknown",       [RC_POSTURE_SUPINE] = "supine",
                [RC_POSTURE_PRONE] = "prone",           [RC_POSTURE_SIDE_LEFT] = "side_left",
                [RC_POSTURE_SIDE_RIGHT] = "side_right", [RC_POSTURE_SEATED] = "seated",
                [RC_POSTURE_STANDING] = "standing",
        };
        return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

int rc_event_bus_subscribe(struct rc_event_bus *bus, rc_event_fn fn, void *userdata) {
        if (bus->n >= RC_EVENT_MAX_SUBSCRIBERS)
                return -ENOSPC;
        bus->sub[bus->n].fn = fn;
        bus->sub[bus->n].userdata = userdata;
        bus->n++;
        return 0;
}

void rc_event_bus_emit(struct rc_event_bus *bus, const struct rc_event *ev) {
        if ((unsigned)ev->type < RC_EV__COUNT)
                bus->emitted[ev->type]++;
        for (unsigned i = 0; i < bus->n; i++)
                bus->sub[i].fn(ev, bus->sub[i].userdata);
}
