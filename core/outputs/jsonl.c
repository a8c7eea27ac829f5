#include "outputs/jsonl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "util/log.h"

int rc_json_add_number(cJSON *obj, const char *key, double value, int decimals) {
        double scale = pow(10.0, decimals), v;

        if (isnan(value))
                return 0;
        v = round(value * scale) / scale;
        if (v == 0)
                v = 0; /* no "-0" */
        return cJSON_AddNumberToObject(obj, key, v) ? 0 : -ENOMEM;
}

static int add_string(cJSON *obj, const char *key, const char *value) {
        return cJSON_AddStringToObject(obj, key, value) ? 0 : -ENOMEM;
}

static int add_fields(cJSON *o, const struct rc_event *ev) {
        int r = 0;

        switch (ev->type) {
        case RC_EV_DEVICE:
                r |= add_string(o, "kind", rc_device_kind_name(ev->dev.kind));
                r |= add_string(o, "state", ev->dev.connected ? "connected" : "disconnected");
                r |= add_string(o, "name", ev->dev.name);
                break;
        case RC_EV_MOTION:
                r |= rc_json_add_number(o, "speed_cm_s", ev->motion.speed_cm_s, 2);
                r |= rc_json_add_number(o, "travel_cm", ev->motion.travel_cm, 2);
                r |= rc_json_add_number(o, "force_n", ev->motion.force_n, 1);
                r |= rc_json_add_number(o, "jerk", ev->motion.jerk, 3);
                r |= cJSON_AddBoolToObject(o, "loaded", ev->motion.loaded) ? 0 : -ENOMEM;
                break;
        case RC_EV_HOLD_START:
                r |= rc_json_add_number(o, "travel_cm", ev->hold_start.travel_cm, 2);
                r |= rc_json_add_number(o, "force_n", ev->hold_start.force_n, 1);
                r |= rc_json_add_number(o, "since_ms", (double)ev->hold_start.since_ms, 0);
                break;
        case RC_EV_HOLD_END:
                r |= rc_json_add_number(o, "duration_s", ev->hold_end.duration_s, 2);
                r |= rc_json_add_number(o, "mean_force_n", ev->hold_end.mean_force_n, 1);
                break;
        case RC_EV_POSTURE:
                r |= add_string(o, "posture", rc_posture_name(ev->posture.posture));
                r |= rc_json_add_number(o, "trunk_pitch_deg", ev->posture.trunk_pitch_deg, 1);
                break;
        case RC_EV_HR:
                r |= rc_json_add_number(o, "bpm", ev->hr.bpm, 0);
                r |= rc_json_add_number(o, "rmssd_ms", ev->hr.rmssd_ms, 1);
                r |= rc_json_add_number(o, "breath_rate", ev->hr.breath_rate, 1);
                if (ev->hr.contact != RC_CONTACT_UNSUPPORTED)
                        r |= cJSON_AddBoolToObject(o, "contact", ev->hr.contact == RC_CONTACT_OK)
                                     ? 0
                                     : -ENOMEM;
                break;
        case RC_EV_BUTTON:
                r |= add_string(o, "press", rc_press_name(ev->button.press));
                break;
        case RC_EV_BATTERY:
                r |= rc_json_add_number(o, "percent", ev->battery.percent, 0);
                break;
        case RC_EV_SESSION_START:
                if (ev->session_start.routine)
                        r |= add_string(o, "routine", ev->session_start.routine);
                if (ev->session_start.step)
                        r |= add_string(o, "step", ev->session_start.step);
                break;
        case RC_EV_SESSION_END:
                r |= add_string(o, "reason", ev->session_end.reason);
                r |= rc_json_add_number(o, "duration_s", ev->session_end.duration_s, 2);
                r |= rc_json_add_number(o, "mean_hr", ev->session_end.mean_hr, 1);
                r |= rc_json_add_number(o, "rmssd_ms", ev->session_end.rmssd_ms, 1);
                break;
        case RC_EV_PACKET_LOSS:
                r |= rc_json_add_number(o, "lost", ev->packet_loss.lost, 0);
                r |= rc_json_add_number(o, "total", ev->packet_loss.total, 0);
                break;
        default:
                break;
        }
        return r ? -ENOMEM : 0;
}

cJSON *rc_event_to_json(const struct rc_event *ev) {
        cJSON *o = cJSON_CreateObject();

        if (!o)
                return NULL;
        if (rc_json_add_number(o, "t_ms", (double)ev->t_ms, 0) < 0 ||
            add_string(o, "event", rc_event_name(ev->type)) < 0 ||
            (ev->device && add_string(o, "device", ev->device) < 0) || add_fields(o, ev) < 0) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

int rc_jsonl_write(FILE *f, const cJSON *obj) {
        char *text = cJSON_PrintUnformatted(obj);
        int r = 0;

        if (!text)
                return -ENOMEM;
        if (fputs(text, f) == EOF || fputc('\n', f) == EOF)
                r = -EIO;
        cJSON_free(text);
        return r;
}

static int add_optional_string(cJSON *o, const char *key, const char *value) {
        return value ? add_string(o, key, value) : 0;
}

cJSON *rc_action_to_json(const struct rc_action *a) {
        cJSON *o = cJSON_CreateObject();
        int r = 0;

        if (!o)
                return NULL;
        r |= rc_json_add_number(o, "t_ms", (double)a->t_ms, 0);
        switch (a->kind) {
        case RC_ACTION_SAY:
                r |= add_string(o, "kind", "say");
                r |= add_string(o, "key", a->say.key);
                r |= add_string(o, "priority", rc_priority_name(a->say.priority));
                r |= add_string(o, "text", a->say.text);
                break;
        case RC_ACTION_LED:
                r |= add_string(o, "kind", "led");
                r |= add_string(o, "pattern", rc_led_name(a->led.pattern));
                break;
        case RC_ACTION_SESSION:
                r |= add_string(o, "kind", "session");
                r |= add_string(o, "state", a->session.started ? "started" : "ended");
                r |= add_optional_string(o, "routine", a->session.routine);
                r |= add_optional_string(o, "step", a->session.step);
                r |= add_optional_string(o, "reason", a->session.reason);
                break;
        case RC_ACTION_STEP:
                r |= add_string(o, "kind", "step");
                r |= add_optional_string(o, "routine", a->step.routine);
                r |= add_string(o, "step", a->step.step);
                r |= add_optional_string(o, "direction", a->step.direction);
                break;
        case RC_ACTION_PLUGIN:
                r |= add_string(o, "kind", "plugin");
                r |= add_string(o, "state", a->plugin_state.state);
                r |= add_optional_string(o, "reason", a->plugin_state.reason);
                break;
        }
        r |= add_optional_string(o, "plugin", a->plugin);
        if (r) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

/* Write the object `o` (taken) and count it, or keep (and log once) the error. */
static void write_line(struct rc_jsonl_writer *w, cJSON *o, const char *what) {
        int r = o ? rc_jsonl_write(w->f, o) : -ENOMEM;

        cJSON_Delete(o);
        if (r < 0) {
                if (!w->error) {
                        rc_log_error("writing %s: %s", what,
                                     r == -ENOMEM ? "out of memory" : "write error");
                        w->error = r;
                }
                return;
        }
        w->lines++;
}

void rc_jsonl_write_event(const struct rc_event *ev, void *userdata) {
        write_line(userdata, rc_event_to_json(ev), "events");
}

void rc_jsonl_write_action(const struct rc_action *a, void *userdata) {
        write_line(userdata, rc_action_to_json(a), "actions");
}
