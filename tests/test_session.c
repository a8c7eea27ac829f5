/* The session: raw notifications in (as live BLE, replay and the simulator give
 * them), events out. Device classification and announcements, every
 * characteristic's path, bad input rejected and counted without losing the rest,
 * the long press, the device table's bound, and the Kubios HRV reference sent
 * through the real Heart Rate Measurement decoder. */
#include "rc_test.h"

#include <errno.h>

#include "analysis/session.h"
#include "util/log.h"

#define ROLLER "AA:BB:CC:DD:EE:01"
#define BODY "AA:BB:CC:DD:EE:02"
#define STRAP "11:22:33:44:55:66"
#define U_IMU "caf70002-e46c-49f3-98a8-0c9d2480bb18"
#define U_BUTTON "caf70003-e46c-49f3-98a8-0c9d2480bb18"
#define U_INFO "caf70004-e46c-49f3-98a8-0c9d2480bb18"
#define U_BODY_IMU "caf70102-e46c-49f3-98a8-0c9d2480bb18"
#define U_PLACEMENT "caf70104-e46c-49f3-98a8-0c9d2480bb18"

#define MAX_EVENTS 4096
static struct rc_event events[MAX_EVENTS];
static char event_devices[MAX_EVENTS][RC_ADDR_STRLEN];
static char event_names[MAX_EVENTS][RC_GATT_STRING_MAX + 1];
static unsigned n_events;

static void capture(const struct rc_event *ev, void *userdata) {
        (void)userdata;
        if (n_events >= MAX_EVENTS)
                return;
        events[n_events] = *ev;
        snprintf(event_devices[n_events], RC_ADDR_STRLEN, "%s", ev->device ? ev->device : "");
        if (ev->type == RC_EV_DEVICE)
                snprintf(event_names[n_events], sizeof(event_names[0]), "%s", ev->dev.name);
        n_events++;
}

static unsigned n_logged;
static char last_log[1024];
static void log_sink(enum rc_log_level level, const char *msg, void *userdata) {
        (void)level;
        (void)userdata;
        n_logged++;
        snprintf(last_log, sizeof(last_log), "%s", msg);
}

static struct rc_session *new_session(void) {
        struct rc_session *s = malloc(sizeof(*s));

        assert_non_null(s);
        rc_session_init(s);
        assert_int_equal(rc_session_subscribe(s, capture, NULL), 0);
        n_events = 0;
        n_logged = 0;
        rc_log_set_sink(log_sink, NULL);
        return s;
}

static int feed(struct rc_session *s, double t_s, const char *addr, const char *what,
                const uint8_t *data, size_t len) {
        struct rc_notification n = {.t_us = (uint64_t)llround(t_s * 1e6), .data = data, .len = len};

        assert_int_equal(rc_addr_parse(addr, strlen(addr), &n.addr), 0);
        if (strcmp(what, "connect") == 0)
                n.what = RC_WHAT_CONNECT;
        else if (strcmp(what, "disconnect") == 0)
                n.what = RC_WHAT_DISCONNECT;
        else {
                n.what = RC_WHAT_VALUE;
                assert_int_equal(rc_uuid_parse(what, strlen(what), &n.uuid), 0);
        }
        return rc_session_feed(s, &n);
}

static const struct rc_event *find(enum rc_event_type type, unsigned from) {
        for (unsigned i = from; i < n_events; i++)
                if (events[i].type == type)
                        return &events[i];
        return NULL;
}

static unsigned count(enum rc_event_type type) {
        unsigned c = 0;
        for (unsigned i = 0; i < n_events; i++)
                c += events[i].type == type;
        return c;
}

/* A roller IMU packet: 16 samples at 200 Hz rolling at a constant gyro rate
 * about x (0.1 °/s units), lying flat, force in N. */
static size_t roller_packet(uint8_t *p, uint16_t seq, uint32_t t0, int16_t gx, double force_n) {
        size_t len = rc_test_imu_header(p, 1, seq, t0, 5000, 16);
        int16_t g[3] = {gx, 0, 0};

        for (int i = 0; i < 16; i++) {
                /* gravity turns with the roller in the y/z plane (docs/analysis.md) */
                double theta = gx * 0.1 * M_PI / 180.0 * (t0 + i * 5000) / 1e6;
                int16_t a[3] = {0, rc_test_i16(1000 * sin(theta)), rc_test_i16(1000 * cos(theta))};

                len += rc_test_imu_sample(p + len, a, g, 1, (uint16_t)llround(force_n * 10));
        }
        return len;
}

/* Roll for `seconds` from t (s): packets every 80 ms. Returns the new time. */
static double roll(struct rc_session *s, double t, double seconds, uint16_t *seq, int16_t gx,
                   double force_n) {
        for (double end = t + seconds; t < end - 1e-9; t += 0.08) {
                uint8_t p[11 + 16 * 14];
                size_t len = roller_packet(p, (*seq)++, (uint32_t)llround(t * 1e6), gx, force_n);
                assert_int_equal(feed(s, t + 0.08, ROLLER, U_IMU, p, len), 0);
        }
        return t;
}

static void test_roller_lifecycle(void **state) {
        struct rc_session *s = new_session();
        static const uint8_t info[] = {1, 0x7f, 0x00, 0xc9, 0x01, 0, 0}; /* 127 mm, 457 mm, x */
        static const uint8_t name[] = "FoamPro";
        static const uint8_t battery80[] = {80}, battery79[] = {79};
        uint16_t seq = 0;
        const struct rc_event *ev;
        double t;

        (void)state;
        assert_int_equal(rc_session_begin(s, 0, "lower-back-relief", "thoracic"), 0);
        ev = find(RC_EV_SESSION_START, 0);
        assert_non_null(ev);
        assert_string_equal(ev->session_start.routine, "lower-back-relief");
        assert_string_equal(ev->session_start.step, "thoracic");

        assert_int_equal(feed(s, 0.0, ROLLER, "connect", NULL, 0), 0);
        /* not announced until we know what it is */
        assert_null(find(RC_EV_DEVICE, 0));
        assert_int_equal(feed(s, 0.05, ROLLER, "2a00", name, 7), 0);
        assert_int_equal(feed(s, 0.10, ROLLER, U_INFO, info, sizeof(info)), 0);
        ev = find(RC_EV_DEVICE, 0);
        assert_non_null(ev);
        assert_string_equal(rc_device_kind_name(ev->dev.kind), "roller");
        assert_true(ev->dev.connected);
        assert_string_equal(event_names[ev - events], "FoamPro");
        assert_string_equal(event_devices[ev - events], ROLLER);
        assert_int_equal(ev->t_ms, 100);

        /* battery: an event on each change only */
        feed(s, 0.2, ROLLER, "2a19", battery80, 1);
        feed(s, 0.3, ROLLER, "2a19", battery80, 1);
        feed(s, 0.4, ROLLER, "2a19", battery79, 1);
        assert_int_equal(count(RC_EV_BATTERY), 2);

        /* rolling at 229 × 0.1 °/s on a 127 mm roller: 0.3997 rad/s · 6.35 cm = 2.54 cm/s */
        t = roll(s, 1.0, 3.0, &seq, 229, 300);
        ev = NULL;
        for (unsigned i = 0; i < n_events; i++)
                if (events[i].type == RC_EV_MOTION)
                        ev = &events[i];
        assert_non_null(ev);
        assert_rel(ev->motion.speed_cm_s, 2.54, 0.02);
        assert_rel(ev->motion.force_n, 300, 0.001);
        assert_string_equal(event_devices[ev - events], ROLLER);

        /* a new step: track by address resets travel */
        assert_int_equal(rc_session_track(s, ROLLER, RC_TRACK_CRANIAL), 0);
        assert_int_equal(rc_session_track(s, "00:00:00:00:00:00", RC_TRACK_CRANIAL), -ENOENT);
        t = roll(s, t, 2.0, &seq, 229, 300);
        ev = NULL;
        for (unsigned i = 0; i < n_events; i++)
                if (events[i].type == RC_EV_MOTION)
                        ev = &events[i];
        assert_rel(ev->motion.travel_cm, 2.54 * 2.0 - 0.254, 0.06); /* minus the open block */

        /* link loss: announced, then back */
        feed(s, t + 1, ROLLER, "disconnect", NULL, 0);
        ev = find(RC_EV_DEVICE, (unsigned)(find(RC_EV_DEVICE, 0) - events) + 1);
        assert_non_null(ev);
        assert_false(ev->dev.connected);
        feed(s, t + 3, ROLLER, "connect", NULL, 0);
        assert_int_equal(count(RC_EV_DEVICE), 3);
        assert_int_equal(s->dev[0].stats.connects, 2);

        rc_session_end(s, (int64_t)((t + 4) * 1000), "stopped");
        ev = find(RC_EV_SESSION_END, 0);
        assert_non_null(ev);
        assert_string_equal(ev->session_end.reason, "stopped");
        assert_near(ev->session_end.duration_s, t + 4, 0.001);
        assert_true(isnan(ev->session_end.mean_hr)); /* no strap */
        assert_int_equal(feed(s, t + 5, ROLLER, U_IMU, NULL, 0), -ESHUTDOWN);
        rc_log_set_sink(NULL, NULL);
        free(s);
}

static void test_long_press_ends_session(void **state) {
        struct rc_session *s = new_session();
        static const uint8_t short_press[] = {1, 1, 0, 0, 0, 0}, long_press[] = {1, 2, 0, 0, 0, 0};
        const struct rc_event *ev;

        (void)state;
        feed(s, 0.0, ROLLER, "connect", NULL, 0);
        assert_int_equal(feed(s, 1.0, ROLLER, U_BUTTON, short_press, 6), 0);
        assert_false(s->ended);
        assert_int_equal(feed(s, 2.5, ROLLER, U_BUTTON, long_press, 6), 0);
        /* the button event reaches subscribers first, then the session ends */
        ev = find(RC_EV_BUTTON, 0);
        assert_string_equal(rc_press_name(ev->button.press), "short");
        ev = find(RC_EV_BUTTON, (unsigned)(ev - events) + 1);
        assert_string_equal(rc_press_name(ev->button.press), "long");
        assert_true(s->ended);
        ev = find(RC_EV_SESSION_END, 0);
        assert_non_null(ev);
        assert_string_equal(ev->session_end.reason, "long_press");
        assert_int_equal(ev->t_ms, 2500);
        assert_int_equal(feed(s, 3.0, ROLLER, U_BUTTON, short_press, 6), -ESHUTDOWN);
        rc_log_set_sink(NULL, NULL);
        free(s);
}

/* Bad input is rejected, counted per device and reason, named in a message, and
 * the good packets around it are analysed as if it had never come. */
static void test_bad_packets_lose_nothing_else(void **state) {
        struct rc_session *s = new_session(), *clean = malloc(sizeof(*clean));
        static const uint8_t bad_button[] = {1, 9, 0, 0, 0, 0}; /* event 9 */
        static const uint8_t bad_version[] = {2, 0x7f, 0x00, 0xc9, 0x01, 0, 0};
        static const uint8_t unknown[] = {1, 2, 3};
        double travel_bad = NAN, travel_clean = NAN;
        uint16_t seq = 0;
        double t = 0;

        (void)state;
        feed(s, 0.0, ROLLER, "connect", NULL, 0);
        for (int k = 0; k < 30; k++) {
                uint8_t p[11 + 16 * 14];
                size_t len = roller_packet(p, seq++, (uint32_t)llround(t * 1e6), 229, 300);

                t += 0.08;
                assert_int_equal(feed(s, t, ROLLER, U_IMU, p, len), 0);
                /* after every good packet, garbage of every kind */
                assert_int_equal(feed(s, t, ROLLER, U_IMU, p, len - 1), -EBADMSG);
                assert_int_equal(feed(s, t, ROLLER, U_BUTTON, bad_button, 6), -EBADMSG);
                assert_int_equal(feed(s, t, ROLLER, U_INFO, bad_version, 7), -EBADMSG);
                assert_int_equal(feed(s, t, ROLLER, "2a19", unknown, 3), -EBADMSG);
                assert_int_equal(feed(s, t, ROLLER, "ffff", unknown, 3), -EBADMSG);
                /* a heart-rate packet from a roller is not for it */
                assert_int_equal(feed(s, t, ROLLER, "2a37", unknown, 2), -EBADMSG);
        }
        assert_int_equal(s->dev[0].stats.rejected[RC_DECODE_LENGTH], 60);
        assert_int_equal(s->dev[0].stats.rejected[RC_DECODE_VALUE], 30);
        assert_int_equal(s->dev[0].stats.rejected[RC_DECODE_VERSION], 30);
        assert_int_equal(s->dev[0].stats.rejected[RC_DECODE_UNKNOWN], 30);
        assert_int_equal(s->dev[0].stats.unexpected, 30);
        /* a bounded number of messages, naming the device and the reason */
        assert_true(n_logged > 0 && n_logged <= 4 * (RC_SESSION_LOG_REJECTS + 1) + 6);
        for (unsigned i = n_events; i-- > 0;)
                if (events[i].type == RC_EV_MOTION) {
                        travel_bad = events[i].motion.travel_cm;
                        break;
                }

        /* the same good packets alone */
        rc_session_init(clean);
        rc_session_subscribe(clean, capture, NULL);
        n_events = 0;
        seq = 0;
        feed(clean, 0.0, ROLLER, "connect", NULL, 0);
        roll(clean, 0.0, 30 * 0.08, &seq, 229, 300);
        for (unsigned i = n_events; i-- > 0;)
                if (events[i].type == RC_EV_MOTION) {
                        travel_clean = events[i].motion.travel_cm;
                        break;
                }
        assert_false(isnan(travel_clean));
        assert_near(travel_bad, travel_clean, 1e-9);
        rc_log_set_sink(NULL, NULL);
        free(s);
        free(clean);
}

/* The hub's own button acts as a roller's: a button event without a device, and a
 * long press ends the session. */
static void test_hub_press(void **state) {
        struct rc_session *s = new_session();
        const struct rc_event *ev;

        (void)state;
        rc_session_begin(s, 0, NULL, NULL);
        rc_session_press(s, 1500, RC_PRESS_SHORT);
        ev = find(RC_EV_BUTTON, 0);
        assert_non_null(ev);
        assert_null(ev->device);
        assert_int_equal(ev->t_ms, 1500);
        assert_false(s->ended);
        rc_session_press(s, 4000, RC_PRESS_LONG);
        assert_true(s->ended);
        ev = find(RC_EV_SESSION_END, 0);
        assert_string_equal(ev->session_end.reason, "long_press");
        assert_int_equal(ev->t_ms, 4000);
        rc_session_press(s, 5000, RC_PRESS_SHORT); /* after the end: nothing */
        assert_int_equal(count(RC_EV_BUTTON), 2);
        rc_log_set_sink(NULL, NULL);
        free(s);
}

static void test_device_table_bound(void **state) {
        struct rc_session *s = new_session();
        char addr[RC_ADDR_STRLEN];

        (void)state;
        for (int i = 0; i < RC_SESSION_MAX_DEVICES; i++) {
                snprintf(addr, sizeof(addr), "00:00:00:00:00:%02X", i);
                assert_int_equal(feed(s, i, addr, "connect", NULL, 0), 0);
        }
        assert_int_equal(feed(s, 9, "00:00:00:00:01:00", "connect", NULL, 0), -ENOSPC);
        assert_int_equal(feed(s, 10, "00:00:00:00:01:01", "connect", NULL, 0), -ENOSPC);
        assert_int_equal(s->refused_devices, 2);
        assert_int_equal(n_logged, 1); /* said once, counted always */
        /* the known ones still work */
        assert_int_equal(feed(s, 11, "00:00:00:00:00:03", "disconnect", NULL, 0), 0);
        rc_log_set_sink(NULL, NULL);
        free(s);
}

static void test_body_and_placement(void **state) {
        struct rc_session *s = new_session();
        static const uint8_t upper_back[] = {1, 2}, bad[] = {1, 6};
        uint8_t p[11 + 19 * 12];
        const struct rc_event *ev;

        (void)state;
        feed(s, 0, BODY, "connect", NULL, 0);
        assert_int_equal(feed(s, 0.1, BODY, U_PLACEMENT, bad, 2), -EBADMSG);
        assert_int_equal(feed(s, 0.1, BODY, U_PLACEMENT, upper_back, 2), 0);
        ev = find(RC_EV_DEVICE, 0);
        assert_string_equal(rc_device_kind_name(ev->dev.kind), "body");
        /* lying supine, flat: up is −z (docs/analysis.md) */
        for (int k = 0; k < 20; k++) {
                size_t len =
                        rc_test_imu_header(p, 0, (uint16_t)k, (uint32_t)(k * 190000), 10000, 19);
                int16_t a[3] = {0, 0, -1000}, g[3] = {0, 0, 0};

                for (int i = 0; i < 19; i++)
                        len += rc_test_imu_sample(p + len, a, g, 0, 0);
                assert_int_equal(feed(s, 0.2 + 0.19 * k, BODY, U_BODY_IMU, p, len), 0);
        }
        ev = find(RC_EV_POSTURE, 0);
        assert_non_null(ev);
        assert_string_equal(rc_posture_name(ev->posture.posture), "supine");
        assert_string_equal(event_devices[ev - events], BODY);
        rc_log_set_sink(NULL, NULL);
        free(s);
}

/* ---- Kubios HRV reference through the real decoder ---- */

/* Send a one-hour RR series as Heart Rate Measurement packets (8-bit HR, contact,
 * RR present; every RR rounded to 1/1024 s), a packet as soon as at least a second
 * of beat time has passed since the last (2 beats each at these rates; at most 9),
 * received when its last beat ends, and return the session_end event's figures. */
static void hrv_series(const char *series, double *ret_rmssd, double *ret_hr) {
        char path[512];
        FILE *f;
        char line[64];
        double beat_s = 0, last_sent = 0;
        unsigned packets = 0;
        uint8_t p[64];
        size_t len = 2;
        struct rc_session *s = new_session();
        const struct rc_event *ev;
        struct rc_hr_totals t;

        snprintf(path, sizeof(path), "%s/tests/fixtures/hrv/series_%s_rr_s.txt", RC_SOURCE_DIR,
                 series);
        f = fopen(path, "r");
        assert_non_null(f);
        feed(s, 0, STRAP, "connect", NULL, 0);
        p[0] = 0x16; /* 8-bit HR, contact supported + detected, RR present */
        while (fgets(line, sizeof(line), f)) {
                double rr;

                if (line[0] == '#' || line[0] == '\n')
                        continue;
                rr = strtod(line, NULL);
                beat_s += rr;
                p[1] = (uint8_t)llround(60.0 / rr);
                rc_test_put16(p + len, (uint16_t)llround(rr * 1024.0));
                len += 2;
                if (beat_s - last_sent >= 1.0 || len >= 2 + 2 * 9) {
                        assert_int_equal(feed(s, beat_s, STRAP, "2a37", p, len), 0);
                        packets++;
                        last_sent = beat_s;
                        len = 2;
                }
        }
        fclose(f);
        if (len > 2) {
                assert_int_equal(feed(s, beat_s, STRAP, "2a37", p, len), 0);
                packets++;
        }
        /* Every packet is at least a second after the last (9 RR are at least
         * 2.7 s), so each gives an event (pacing 900 ms): about 2000 an hour. */
        assert_true(packets > 1500);
        assert_int_equal(count(RC_EV_HR), packets);
        /* each packet is received when its last beat ends: no gap */
        rc_hr_totals(&rc_session_device(s, STRAP)->a.hr, &t);
        assert_int_equal(t.n_gaps, 0);
        rc_session_end(s, (int64_t)(beat_s * 1000), "end_of_trace");
        ev = find(RC_EV_SESSION_END, 0);
        assert_non_null(ev);
        *ret_rmssd = ev->session_end.rmssd_ms;
        *ret_hr = ev->session_end.mean_hr;
        rc_log_set_sink(NULL, NULL);
        free(s);
}

static void kubios_check(const char *series, double tolerance) {
        char path[512];
        double rmssd, hr, kubios;

        snprintf(path, sizeof(path), "%s/tests/fixtures/hrv/series_%s_kubios.txt", RC_SOURCE_DIR,
                 series);
        kubios = rc_test_kubios_value(path, "RMSSD (ms)");
        hrv_series(series, &rmssd, &hr);
        print_message("series %s: RMSSD %.3f ms, Kubios %.4f ms (%+.2f %%); mean HR %.2f\n", series,
                      rmssd, kubios, 100 * (rmssd - kubios) / kubios, hr);
        assert_rel(rmssd, kubios, tolerance);
        /* Kubios' "Mean HR" in these files is 60000 / its Mean RR, as ours (it
         * agrees to the 4 decimals printed; see test_hr.c). The cleaning rejects
         * no beat of series 4 or 5 (test_hr.c), so only the rounding to 1/1024 s
         * differs: at most 0.49 ms a beat, 0.054 % of their mean RR (912, 923 ms). */
        assert_near(60000.0 / rc_test_kubios_value(path, "Mean RR  (ms)"),
                    rc_test_kubios_value(path, "Mean HR (beats/min)"), 1e-3);
        assert_rel(hr, rc_test_kubios_value(path, "Mean HR (beats/min)"), 0.00054);
}

/* Series 4 and 5 are nearly clean: within 1 % (data/hrv/README.md). */
static void test_kubios_series_4(void **state) {
        (void)state;
        kubios_check("4", 0.01);
}

static void test_kubios_series_5(void **state) {
        (void)state;
        kubios_check("5", 0.01);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roller_lifecycle),
                cmocka_unit_test(test_long_press_ends_session),
                cmocka_unit_test(test_bad_packets_lose_nothing_else),
                cmocka_unit_test(test_hub_press),
                cmocka_unit_test(test_device_table_bound),
                cmocka_unit_test(test_body_and_placement),
                cmocka_unit_test(test_kubios_series_4),
                cmocka_unit_test(test_kubios_series_5),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
