/* The BlueZ stand-in — playback: each trace device reads the trace on its own
 * and plays its lines on its own clock.
 *
 * Until a client enables notifications on it, a device follows the stand-in's
 * playback clock (trace time offset_us at start, times 1/speed): it powers on at
 * its connect line (and can be discovered and connected), its reads (Device
 * Name, Roller Info, Placement, the session's first Battery Level) become the
 * values a ReadValue returns, and it waits at its first notification line. The
 * first CCC write of a session (StartNotify or AcquireNotify on any of its
 * characteristics; BlueZ re-registering a surviving StartNotify session on
 * reconnection counts too) starts the device's clock: a line at trace time t is
 * played (t - t_connect) / speed after that moment, t_connect being the time of
 * the session's connect line (or offset_us when the stand-in started later).
 * A played notification goes where it is enabled (the acquired fd, else a Value
 * PropertiesChanged); a line for a characteristic nobody enabled is dropped and
 * counted. A disconnect line drops the link like a link loss; the device is off
 * until its next connect line (on the same clock), then waits again at its next
 * notification line until notifications are enabled in that session. A device
 * whose last line is a disconnect stays on: the trace just ended.
 */
#include "standin.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static bool is_read_char(enum rc_char c) {
        return c == RC_CHAR_ROLLER_INFO || c == RC_CHAR_BODY_PLACEMENT ||
               c == RC_CHAR_DEVICE_NAME || c == RC_CHAR_MANUFACTURER || c == RC_CHAR_MODEL_NUMBER ||
               c == RC_CHAR_FIRMWARE_REV;
}

static bool is_notify_char(enum rc_char c) {
        return c == RC_CHAR_ROLLER_IMU || c == RC_CHAR_ROLLER_BUTTON || c == RC_CHAR_BODY_IMU ||
               c == RC_CHAR_HR_MEASUREMENT;
}

/* Whether the look-ahead line is a notification (as opposed to a read, a
 * connect…). */
static bool is_notification(const struct sti_player *p) {
        if (p->next.what != RC_WHAT_VALUE)
                return false;
        if (p->next_char == RC_CHAR_BATTERY_LEVEL)
                return p->in_session && p->battery_read_seen;
        return is_notify_char(p->next_char);
}

/* The next line of this device, into p->next. Returns 1, 0 at the end. */
static int read_next(struct sti_dev *d) {
        struct sti_player *p = &d->player;
        enum rc_log_level level = rc_log_get_max_level();

        if (p->have_next)
                return 1;
        if (p->eof)
                return 0;
        /* Bad lines were reported once by the first pass. */
        rc_log_set_max_level(RC_LOG_ERR);
        for (;;) {
                struct rc_notification n;
                int k = rc_trace_next(&p->r, &n);

                if (k <= 0) {
                        p->eof = true;
                        break;
                }
                if (!rc_addr_equal(&n.addr, &d->addr))
                        continue;
                p->next = n;
                memcpy(p->next_buf, n.data, n.len);
                p->next.data = p->next_buf;
                p->next_char =
                        n.what == RC_WHAT_VALUE ? rc_gatt_char_from_uuid(&n.uuid) : RC_CHAR_UNKNOWN;
                p->have_next = true;
                break;
        }
        rc_log_set_max_level(level);
        return p->have_next;
}

static uint64_t wall_of(struct sti *si, const struct sti_player *p, uint64_t t) {
        uint64_t base = p->clock_anchored ? p->anchor_wall : si->start_wall;
        uint64_t bt = p->clock_anchored ? p->anchor_t : si->opt.offset_us;

        if (t <= bt)
                return base;
        return base + (uint64_t)((double)(t - bt) / si->opt.speed);
}

static void arm(struct sti *si, struct sti_player *p, uint64_t when) {
        if (!p->timer)
                return;
        sd_event_source_set_time(p->timer, when);
        sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static void start_session(struct sti *si, struct sti_dev *d, uint64_t t) {
        struct sti_player *p = &d->player;

        if (p->in_session || p->session >= d->td->n_sessions)
                return;
        p->in_session = true; /* p->session is now the current one */
        p->session_anchored = false;
        p->battery_read_seen = false;
        rc_log_info("device %s: on (trace %.3f s)", d->addr_str, (double)t / 1e6);
        sti_adapter_advertising_changed(si, d);
}

static void end_session(struct sti *si, struct sti_dev *d, uint64_t t) {
        struct sti_player *p = &d->player;

        if (!p->in_session)
                return;
        if (d->td->sessions[p->session].t_disconnect == UINT64_MAX)
                return; /* the last disconnect of the trace: it just ended */
        p->in_session = false;
        p->session_anchored = false;
        p->session++; /* the next one */
        rc_log_info("device %s: off (trace %.3f s)", d->addr_str, (double)t / 1e6);
        sti_device_link_down(si, d, "timeout");
        sti_adapter_advertising_changed(si, d);
}

static void update_name(struct sti *si, struct sti_dev *d, const uint8_t *p, size_t len) {
        char name[RC_GATT_STRING_MAX + 1];
        enum rc_decode_reason why;

        if (rc_decode_string(p, len, name, &why) < 0)
                return;
        if (d->has_name && strcmp(name, d->name) == 0)
                return;
        /* The gap plugin reads Device Name: Name changes, and Alias without one set. */
        snprintf(d->name, sizeof(d->name), "%s", name);
        d->has_name = true;
        if (!d->exported)
                return;
        if (d->has_alias)
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "Name", NULL);
        else
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "Name", "Alias", NULL);
}

/* A Battery Level value: what a read returns, and Battery1.Percentage. */
static void battery_value(struct sti *si, struct sti_dev *d, const struct rc_notification *n) {
        sti_gatt_set_read_value(d, &n->uuid, n->data, n->len);
        if (n->len == 1)
                sti_gatt_battery_update(si, d, n->data[0]);
}

/* A value line of characteristic c. */
static void play_value(struct sti *si, struct sti_dev *d, const struct rc_notification *n,
                       enum rc_char c) {
        struct sti_player *p = &d->player;

        if (c == RC_CHAR_UNKNOWN)
                return;
        if (c == RC_CHAR_BATTERY_LEVEL && !p->battery_read_seen) {
                p->battery_read_seen = true;
                battery_value(si, d, n);
                return;
        }
        if (is_read_char(c)) {
                sti_gatt_set_read_value(d, &n->uuid, n->data, n->len);
                if (c == RC_CHAR_DEVICE_NAME)
                        update_name(si, d, n->data, n->len);
                return;
        }
        if (n->t_us < si->opt.offset_us)
                return; /* before the start (--offset) */
        if (c == RC_CHAR_BATTERY_LEVEL)
                battery_value(si, d, n); /* after the read: the battery plugin is subscribed */
        if (!sti_gatt_notify(si, d, &n->uuid, n->data, n->len))
                d->st_dropped++;
}

/* Play every line of the device that is due; arm the timer for the next one. */
static void pump(struct sti *si, struct sti_dev *d) {
        struct sti_player *p = &d->player;
        uint64_t now = sti_now(si);

        while (read_next(d)) {
                const struct rc_notification *n = &p->next;
                uint64_t due;

                if (n->what == RC_WHAT_VALUE && !p->in_session)
                        start_session(si, d, n->t_us); /* a value with no connect before it */
                if (is_notification(p) && !p->session_anchored && n->t_us >= si->opt.offset_us)
                        return; /* waits for a client to enable notifications */
                due = wall_of(si, p, n->t_us);
                if (due > now) {
                        arm(si, p, due);
                        return;
                }
                p->have_next = false;
                switch (n->what) {
                case RC_WHAT_CONNECT:
                        start_session(si, d, n->t_us);
                        break;
                case RC_WHAT_DISCONNECT:
                        end_session(si, d, n->t_us);
                        break;
                case RC_WHAT_VALUE:
                        play_value(si, d, n, p->next_char);
                        break;
                }
        }
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti_dev *d = userdata;

        pump(d->si, d);
        return 0;
}

void sti_playback_enabled(struct sti *si, struct sti_dev *d) {
        struct sti_player *p = &d->player;
        const struct sti_session *ss;

        if (!d->td || !p->in_session || p->session_anchored)
                return;
        ss = &d->td->sessions[p->session];
        p->session_anchored = true;
        p->clock_anchored = true;
        p->anchor_t = ss->t_connect > si->opt.offset_us ? ss->t_connect : si->opt.offset_us;
        p->anchor_wall = sti_now(si);
        rc_log_info("device %s: notifications enabled, its clock starts at trace %.3f s",
                    d->addr_str, (double)p->anchor_t / 1e6);
        /* Play from the next loop iteration: the reply to the call goes out first. */
        arm(si, p, p->anchor_wall);
}

static int open_player(struct sti *si, struct sti_dev *d) {
        struct sti_player *p = &d->player;
        const struct sti_trace_dev *td = d->td;
        size_t k = 0;
        int r;

        /* The session going on at the start, or the next one. */
        while (k < td->n_sessions && td->sessions[k].t_disconnect != UINT64_MAX &&
               td->sessions[k].t_disconnect <= si->opt.offset_us)
                k++;
        p->session = k;
        if (k >= td->n_sessions) {
                p->eof = true; /* off for good */
                return 0;
        }
        p->f = fopen(si->opt.trace_path, "re");
        if (!p->f)
                return -errno;
        if (fseek(p->f, td->sessions[k].pos, SEEK_SET) < 0)
                return -errno;
        rc_trace_reader_init(&p->r, p->f, si->opt.trace_path);
        p->r.header_seen = true; /* the first pass checked it */
        p->r.line_no = td->sessions[k].line_no;
        r = sd_event_add_time(si->event, &p->timer, CLOCK_MONOTONIC, 0, 1, on_timer, d);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
}

int sti_playback_start(struct sti *si) {
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];
                int r;

                if (!d->td)
                        continue;
                r = open_player(si, d);
                if (r < 0) {
                        rc_log_error("%s: %s", si->opt.trace_path, strerror(-r));
                        return r;
                }
                pump(si, d);
        }
        return 0;
}

void sti_playback_free(struct sti_dev *d) {
        struct sti_player *p = &d->player;

        p->timer = sd_event_source_disable_unref(p->timer);
        if (p->f)
                fclose(p->f);
        p->f = NULL;
}
