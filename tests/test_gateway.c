/* The BlueZ gateway against the BlueZ stand-in on a private bus
 * (tests/rc_standin.h, tests/bluez-standin/README.md).
 *
 * The gateway runs in this process on a libuv loop, feeding a session, as the
 * daemon does. A short simulated session (roller, body clip, strap) is streamed
 * "over the air" by the stand-in; the events must be those a replay of the same
 * trace gives (per device, host times aside; for the strap, whose heart rate is
 * timed by arrival, its measurements byte for byte). Then what goes wrong: a dropped
 * link, refused connects with backoff, bluetoothd restarting, a device removed,
 * AcquireNotify withheld, malformed replies, decoys, a connect already in
 * progress, a stop against a BlueZ that drops links at once, a set-up that fails
 * after the bus is attached.
 *
 * Waits are on conditions (the stand-in's counters, the gateway's state), never on
 * the wall clock; the gateway's backoff is shrunk through its options, so no case
 * waits for it. The same-events cases play the 12 s trace in real time (the
 * strap's heart rate is timed by arrival); ctest runs them as tests of their own
 * (CMakeLists.txt), beside the rest. */
#include "rc_test.h"

#include <errno.h>
#include <time.h>

#include <cJSON.h>
#include <uv.h>

#include "analysis/session.h"
#include "decode/gatt.h"
#include "gateway/gateway.h"
#include "outputs/jsonl.h"
#include "rc_standin.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "util/log.h"

#define ROLLER "C4:7F:51:0A:20:01"
#define BODY "C4:7F:51:0A:20:02"
#define STRAP "E8:1B:3C:77:20:03"
#define SPEED "4" /* the stand-in's playback: trace seconds a second */

/* The gateway's timings for the tests: backoff 100 ms doubling to 1 s, InProgress
 * retried after 200 ms (the hub's: 0.5 s to 30 s, 1 s). */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define INPROGRESS_MS 200

/* AddMatch refused on the Nth call (0: never): a set-up failing after the bus is
 * attached (-Wl,--wrap=sd_bus_match_signal_async). */
static unsigned fail_match_at, match_calls;

int __real_sd_bus_match_signal_async(sd_bus *bus, sd_bus_slot **ret, const char *sender,
                                     const char *path, const char *interface, const char *member,
                                     sd_bus_message_handler_t callback,
                                     sd_bus_message_handler_t install_callback, void *userdata);
int __wrap_sd_bus_match_signal_async(sd_bus *bus, sd_bus_slot **ret, const char *sender,
                                     const char *path, const char *interface, const char *member,
                                     sd_bus_message_handler_t callback,
                                     sd_bus_message_handler_t install_callback, void *userdata);
int __wrap_sd_bus_match_signal_async(sd_bus *bus, sd_bus_slot **ret, const char *sender,
                                     const char *path, const char *interface, const char *member,
                                     sd_bus_message_handler_t callback,
                                     sd_bus_message_handler_t install_callback, void *userdata) {
        if (fail_match_at && ++match_calls == fail_match_at)
                return -ENOBUFS;
        return __real_sd_bus_match_signal_async(bus, ret, sender, path, interface, member, callback,
                                                install_callback, userdata);
}

/* 12 s: rest, roll, a 4 s hold, roll; lying supine; a strap at 70 bpm. */
static const char scenario[] = "# rollcoach-scenario 1\n"
                               "seed 21\n"
                               "roller r " ROLLER "\n"
                               "body b " BODY "\n"
                               "hr h " STRAP "\n"
                               "r: rest 2\nr: roll 2.5 4 force=280\nr: hold 4 force=280\n"
                               "r: roll 2.5 2 force=280\n"
                               "b: posture supine 12\n"
                               "h: pulse 70 12\n";

static char trace_path[64];
static uint64_t trace_span_us; /* from the trace's first line to its last */

static int group_setup(void **state) {
        struct rc_sim *sim;
        FILE *f;
        int fd;

        (void)state;
        snprintf(trace_path, sizeof(trace_path), "/tmp/rc-gateway-XXXXXX");
        fd = mkstemp(trace_path);
        if (fd < 0 || !(f = fdopen(fd, "w")))
                return -1;
        if (rc_sim_new_from_string(scenario, strlen(scenario), "gateway-test", &sim) < 0 ||
            rc_sim_write_trace(sim, f) < 0)
                return -1;
        rc_sim_free(sim);
        if (fclose(f) != 0)
                return -1;
        {
                struct rc_trace_reader r;
                struct rc_notification n;
                uint64_t first = UINT64_MAX, last = 0;

                f = fopen(trace_path, "r");
                if (!f)
                        return -1;
                rc_trace_reader_init(&r, f, trace_path);
                while (rc_trace_next(&r, &n) > 0) {
                        first = n.t_us < first ? n.t_us : first;
                        last = n.t_us > last ? n.t_us : last;
                }
                fclose(f);
                trace_span_us = last > first ? last - first : 0;
        }
        return 0;
}

static int group_teardown(void **state) {
        (void)state;
        unlink(trace_path);
        return 0;
}

/* ---- events, normalized: host times dropped, per device ----------------------------- */

#define MAX_EVENTS 4000

struct events {
        char *line[MAX_EVENTS];
        char device[MAX_EVENTS][RC_ADDR_STRLEN];
        unsigned n;
        unsigned connects, disconnects, motion;
};

static void events_free(struct events *ev) {
        for (unsigned i = 0; i < ev->n; i++)
                free(ev->line[i]);
        memset(ev, 0, sizeof(*ev));
}

/* The event as JSON without what depends on host time (t_ms, since_ms); session
 * events are left out (a live session ends when it is stopped). */
static void capture(const struct rc_event *e, void *userdata) {
        struct events *ev = userdata;
        cJSON *o;

        if (e->type == RC_EV_DEVICE) {
                ev->connects += e->dev.connected;
                ev->disconnects += !e->dev.connected;
        }
        ev->motion += e->type == RC_EV_MOTION;
        if (e->type == RC_EV_SESSION_START || e->type == RC_EV_SESSION_END || !e->device ||
            ev->n >= MAX_EVENTS)
                return;
        o = rc_event_to_json(e);
        cJSON_DeleteItemFromObject(o, "t_ms");
        cJSON_DeleteItemFromObject(o, "since_ms");
        ev->line[ev->n] = cJSON_PrintUnformatted(o);
        snprintf(ev->device[ev->n], RC_ADDR_STRLEN, "%s", e->device);
        ev->n++;
        cJSON_Delete(o);
}

/* The replay of the trace, normalized. */
static void replay_events(struct events *ev) {
        struct rc_session *s = malloc(sizeof(*s));
        FILE *f = fopen(trace_path, "r");

        rc_session_init(s);
        rc_session_subscribe(s, capture, ev);
        assert_int_equal(rc_replay_run(f, trace_path, s, NULL, NULL), 0);
        fclose(f);
        free(s);
}

static bool counted(const struct events *e, unsigned i, const char *dev) {
        return strcmp(e->device[i], dev) == 0;
}

/* The events of one device agree between two runs. */
static void same_device_events(const struct events *a, const struct events *b, const char *dev) {
        unsigned i = 0, j = 0, n = 0;

        for (;; i++, j++, n++) {
                while (i < a->n && !counted(a, i, dev))
                        i++;
                while (j < b->n && !counted(b, j, dev))
                        j++;
                if (i == a->n || j == b->n)
                        break;
                if (strcmp(a->line[i], b->line[j]) != 0)
                        fail_msg("%s: event %u differs:\n  live:   %s\n  replay: %s", dev, n,
                                 a->line[i], b->line[j]);
        }
        if (i != a->n || j != b->n)
                fail_msg("%s: %s has more events (%u in common), next: %s", dev,
                         i != a->n ? "live" : "replay", n, i != a->n ? a->line[i] : b->line[j]);
        assert_true(n > 0);
}

/* ---- the gateway on a loop -------------------------------------------------------- */

struct live {
        uv_loop_t loop;
        struct rc_gateway *gw;
        struct rc_session *s;
        struct events ev;
        bool begun, stopped;
        uint64_t notifications;
        uint64_t t0_us, first_us; /* the gateway's time 0; its first notification's time */
        /* the strap's Heart Rate Measurements as received, in order */
        uint8_t hrm[64][32];
        size_t hrm_len[64], n_hrm;
        bool (*until)(struct live *);
        uint64_t deadline;
        struct rc_standin *si;
        uint64_t started_ms;
};

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void) {
        return now_us() / 1000;
}

static void on_notification(const struct rc_notification *n, void *userdata) {
        struct live *L = userdata;

        L->notifications++;
        if (n->what == RC_WHAT_VALUE &&
            rc_uuid_equal(&n->uuid, rc_gatt_char_uuid(RC_CHAR_HR_MEASUREMENT)) && L->n_hrm < 64 &&
            n->len <= sizeof(L->hrm[0])) {
                memcpy(L->hrm[L->n_hrm], n->data, n->len);
                L->hrm_len[L->n_hrm++] = n->len;
        }
        if (!L->begun) {
                L->begun = true;
                L->first_us = n->t_us;
                rc_session_begin(L->s, (int64_t)(n->t_us / 1000), NULL, NULL);
        }
        rc_session_feed(L->s, n);
}

static void live_start(struct live *L, struct rc_standin *si, bool no_acquire) {
        struct rc_gateway_opts o = {.loop = &L->loop,
                                    .bus_address = si->address,
                                    .notify = on_notification,
                                    .userdata = L,
                                    .t0_us = now_us(),
                                    .no_acquire = no_acquire,
                                    .backoff_min_ms = BACKOFF_MIN_MS,
                                    .backoff_max_ms = BACKOFF_MAX_MS,
                                    .inprogress_retry_ms = INPROGRESS_MS};

        memset(L, 0, sizeof(*L));
        L->si = si;
        assert_int_equal(uv_loop_init(&L->loop), 0);
        L->s = malloc(sizeof(*L->s));
        rc_session_init(L->s);
        rc_session_subscribe(L->s, capture, &L->ev);
        assert_int_equal(rc_gateway_start(&o, &L->gw), 0);
        L->t0_us = o.t0_us;
        L->started_ms = now_ms();
}

static void on_check(uv_timer_t *t) {
        struct live *L = t->data;

        if ((L->until && L->until(L)) || now_ms() > L->deadline)
                uv_stop(&L->loop);
}

/* Run until `until` says so; false on a timeout. */
static bool live_run(struct live *L, bool (*until)(struct live *), unsigned timeout_ms) {
        uv_timer_t t;
        bool ok;

        L->until = until;
        L->deadline = now_ms() + timeout_ms;
        uv_timer_init(&L->loop, &t);
        t.data = L;
        uv_timer_start(&t, on_check, 20, 20);
        uv_run(&L->loop, UV_RUN_DEFAULT);
        ok = !until || until(L);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&L->loop, UV_RUN_NOWAIT);
        if (!ok)
                rc_standin_dump_log(L->si);
        return ok;
}

static void on_stopped(void *userdata) {
        ((struct live *)userdata)->stopped = true;
}

static bool is_stopped(struct live *L) {
        return L->stopped;
}

static void live_stop(struct live *L) {
        rc_gateway_stop(L->gw, 4000, on_stopped, L);
        assert_true(live_run(L, is_stopped, 60000));
        uv_run(&L->loop, UV_RUN_DEFAULT); /* what is left closing */
        rc_gateway_free(L->gw);
        assert_int_equal(uv_loop_close(&L->loop), 0);
        free(L->s);
}

static bool three_streaming(struct live *L) {
        return rc_gateway_streaming(L->gw, RC_KIND_ROLLER) &&
               rc_gateway_streaming(L->gw, RC_KIND_BODY) && rc_gateway_streaming(L->gw, RC_KIND_HR);
}

static bool roller_streaming(struct live *L) {
        return rc_gateway_streaming(L->gw, RC_KIND_ROLLER);
}

/* streaming, and the session knows all three (a strap from its first measurement) */
static bool three_announced(struct live *L) {
        return three_streaming(L) && L->ev.connects >= 3;
}

static uint64_t standin_stat(struct rc_standin *s, const char *key) {
        uint64_t v = 0;

        assert_int_equal(rc_standin_stat(s, key, &v), 0);
        return v;
}

/* Every line of the trace has been played by the stand-in (it keeps the links up
 * after the trace's end), every notification it sent has reached the gateway, and
 * the session has reached the trace's end on its own clock (plus 1 s: a trace's
 * devices leave at its end, and what the analysis says last is timed by that). */
static bool all_done(struct live *L) {
        struct rc_gateway_stats st;

        if (!L->begun || now_us() - L->t0_us < L->first_us + trace_span_us + 1000000)
                return false;
        if (!standin_stat(L->si, ROLLER ".played") || !standin_stat(L->si, BODY ".played") ||
            !standin_stat(L->si, STRAP ".played"))
                return false;
        rc_gateway_stats(L->gw, &st);
        return st.via_fd + st.via_signal >= standin_stat(L->si, "notifications_sent");
}

static struct rc_standin si;

/* The bus and the stand-in on it, with these extra arguments (NULL-terminated).
 * Disconnect answers at once (bluetoothd waits 2 s): each case ends with a stop. */
#define standin_up(...)                                                                            \
        do {                                                                                       \
                assert_int_equal(rc_standin_bus_start(&si), 0);                                    \
                assert_int_equal(                                                                  \
                        rc_standin_start(&si, trace_path, "--disconnect-delay", "0", __VA_ARGS__), \
                        0);                                                                        \
        } while (0)

/* Stop the gateway, then the stand-in and its bus. */
static void live_end(struct live *L) {
        live_stop(L);
        rc_standin_stop(&si);
        events_free(&L->ev);
}

static bool three_gone(struct live *L) {
        return L->ev.disconnects >= 3;
}

/* The strap's measurements received are the trace's, in order and whole. */
static void same_strap_measurements(const struct live *L) {
        struct rc_trace_reader r;
        struct rc_notification n;
        rc_addr strap;
        size_t i = 0;
        FILE *f = fopen(trace_path, "r");

        assert_non_null(f);
        assert_int_equal(rc_addr_parse(STRAP, strlen(STRAP), &strap), 0);
        rc_trace_reader_init(&r, f, trace_path);
        while (rc_trace_next(&r, &n) > 0) {
                if (n.what != RC_WHAT_VALUE || !rc_addr_equal(&n.addr, &strap) ||
                    !rc_uuid_equal(&n.uuid, rc_gatt_char_uuid(RC_CHAR_HR_MEASUREMENT)))
                        continue;
                if (i >= L->n_hrm)
                        fail_msg("strap: measurement %zu of the trace not received", i);
                if (n.len != L->hrm_len[i] || memcmp(n.data, L->hrm[i], n.len) != 0)
                        fail_msg("strap: measurement %zu differs from the trace", i);
                i++;
        }
        fclose(f);
        assert_int_equal(i, L->n_hrm);
        assert_true(i >= 10); /* 12 s at one a second */
}

static void same_as_replay(bool no_acquire, const char *standin_flag) {
        struct live L;
        struct events replay = {0};
        struct rc_gateway_stats st;

        /* in real time: the strap's heart rate is timed by arrival, as a real
         * strap's (Heart Rate Measurement has no timestamp) */
        standin_up("--disconnect-delay", "0", standin_flag, NULL);
        live_start(&L, &si, no_acquire);
        assert_true(live_run(&L, all_done, 120000)); /* the limit: a hang */
        /* the trace ends with each device going away; the stand-in keeps links up
         * at its end, so drop them as the trace says */
        assert_int_equal(rc_standin_call(&si, "DropLink", "s", ROLLER), 0);
        assert_int_equal(rc_standin_call(&si, "DropLink", "s", BODY), 0);
        assert_int_equal(rc_standin_call(&si, "DropLink", "s", STRAP), 0);
        assert_true(live_run(&L, three_gone, 60000));
        rc_gateway_stats(L.gw, &st);
        replay_events(&replay);
        same_device_events(&L.ev, &replay, ROLLER);
        same_device_events(&L.ev, &replay, BODY);
        /* The strap's events are timed by arrival (a Heart Rate Measurement carries
         * no time), so a busy machine changes them; what the gateway guarantees is
         * its measurements, every one, in order, byte for byte. */
        same_strap_measurements(&L);
        assert_int_equal(st.malformed, 0);
        assert_int_equal(st.connects, 3);
        assert_int_equal(standin_stat(&si, "notifications_eagain"), 0); /* nothing lost */
        if (no_acquire || standin_flag) {
                assert_int_equal(st.via_fd, 0);
                assert_true(st.via_signal > 100);
        } else {
                assert_int_equal(st.via_signal, 0);
                assert_true(st.via_fd > 100);
        }
        if (standin_flag)
                assert_int_equal(st.fallbacks, 0); /* no NotifyAcquired: StartNotify at once */
        live_end(&L);
        events_free(&replay);
}

/* Discover and connect a roller, a body clip and a strap; their notifications over
 * AcquireNotify fds give the events a replay of the same trace gives. */
static void test_same_events_acquire(void **state) {
        (void)state;
        same_as_replay(false, NULL);
}

/* The same through StartNotify and PropertiesChanged: when the stand-in withholds
 * AcquireNotify (no NotifyAcquired property) and when the gateway is told to. */
static void test_same_events_startnotify(void **state) {
        (void)state;
        same_as_replay(false, "--no-acquire-notify");
        same_as_replay(true, NULL);
}

/* ---- failures ------------------------------------------------------------------------- */

static bool roller_reconnected(struct live *L) {
        return L->ev.disconnects >= 1 && rc_gateway_streaming(L->gw, RC_KIND_ROLLER);
}

/* A dropped link: the device event says so, and the gateway reconnects after its
 * backoff (at least 0.75 × its first step) without being told. */
static void test_link_loss_reconnect(void **state) {
        struct live L;
        struct rc_gateway_stats st;
        uint64_t dropped, back;

        (void)state;
        standin_up("--disconnect-delay", "0", NULL);
        live_start(&L, &si, false);
        assert_true(live_run(&L, three_announced, 60000));
        dropped = now_ms(); /* before the drop: the backoff starts after it */
        assert_int_equal(rc_standin_call(&si, "DropLink", "s", ROLLER), 0);
        assert_true(live_run(&L, roller_reconnected, 60000));
        back = now_ms();
        rc_gateway_stats(L.gw, &st);
        assert_int_equal(st.connects, 4);
        /* 5 ms: libuv's loop clock may be the coarse one */
        assert_true(back - dropped + 5 >= BACKOFF_MIN_MS * 3 / 4);
        assert_int_equal(L.ev.disconnects, 1);
        assert_int_equal(L.ev.connects, 4);
        live_end(&L);
}

/* Refused connections (le-connection-abort-by-local) are retried with growing
 * backoff: 1, 2, 4 times the first step (±25 %) before the fourth attempt succeeds. */
static void test_refused_connects_backoff(void **state) {
        struct live L;
        struct rc_gateway_stats st;
        uint64_t t0;

        (void)state;
        standin_up(NULL);
        assert_int_equal(rc_standin_call(&si, "RefuseConnects", "su", ROLLER, 3), 0);
        t0 = now_ms();
        live_start(&L, &si, false);
        assert_true(live_run(&L, roller_streaming, 60000));
        rc_gateway_stats(L.gw, &st);
        assert_int_equal(st.connect_failures, 3);
        assert_true(now_ms() - t0 + 5 >= BACKOFF_MIN_MS * (1 + 2 + 4) * 3 / 4);
        live_end(&L);
}

static bool restarted_and_streaming(struct live *L) {
        struct rc_gateway_stats st;

        rc_gateway_stats(L->gw, &st);
        return st.bluez_restarts >= 1 && three_streaming(L);
}

/* bluetoothd restarts (the stand-in killed, a new one started on the same bus): the
 * mirror is rebuilt and everything reconnects, without restarting the gateway. */
static unsigned motion_before;

static bool more_motion(struct live *L) {
        return L->ev.motion > motion_before;
}

static void test_bluetoothd_restart(void **state) {
        struct live L;

        (void)state;
        standin_up(NULL);
        live_start(&L, &si, false);
        assert_true(live_run(&L, three_announced, 60000));
        assert_int_equal(rc_standin_restart(&si, trace_path, "--offset", "3", NULL), 0);
        assert_true(live_run(&L, restarted_and_streaming, 60000));
        assert_int_equal(L.ev.disconnects, 3); /* each said so */
        motion_before = L.ev.motion;
        assert_true(live_run(&L, more_motion, 60000)); /* and the roller streams again */
        live_end(&L);
}

static bool roller_gone(struct live *L) {
        return L->ev.disconnects >= 1;
}

/* BlueZ removes the device: its disconnection is reported, the others go on. */
static void test_device_removed(void **state) {
        struct live L;
        unsigned motion;

        (void)state;
        standin_up(NULL);
        live_start(&L, &si, false);
        assert_true(live_run(&L, three_streaming, 60000));
        assert_int_equal(rc_standin_call(&si, "RemoveDevice", "s", ROLLER), 0);
        assert_true(live_run(&L, roller_gone, 60000));
        assert_false(rc_gateway_streaming(L.gw, RC_KIND_ROLLER));
        motion = L.ev.motion;
        live_run(&L, NULL, 1000);
        assert_int_equal(L.ev.motion, motion); /* no roller: no motion */
        assert_true(rc_gateway_streaming(L.gw, RC_KIND_HR));
        live_end(&L);
}

/* Malformed replies are counted and survived: a read that is not bytes, an
 * AcquireNotify without its fd or with the MTU as a string (StartNotify instead),
 * Connected as a string, decoys around. */
enum expect {
        EXPECT_STREAM,   /* counted, and streaming all the same */
        EXPECT_FALLBACK, /* streaming through StartNotify instead */
        EXPECT_NO_DATA,  /* connected, but every notification is malformed (counted, dropped) */
        EXPECT_NOTHING,  /* nothing connected */
};

static enum expect expecting;

/* What each case waits for: the outcome it expects, seen in the gateway's counters
 * (a wrong outcome runs into the limit and fails the checks below). */
static bool expected_seen(struct live *L) {
        struct rc_gateway_stats st;

        rc_gateway_stats(L->gw, &st);
        switch (expecting) {
        case EXPECT_STREAM:
                return st.malformed > 0 && st.via_fd + st.via_signal > 0;
        case EXPECT_FALLBACK:
                return st.fallbacks > 0 && st.via_signal > 0;
        case EXPECT_NO_DATA:
                return st.connects == 3 && st.malformed > 10;
        case EXPECT_NOTHING: /* all six devices seen (3 decoys, ours unreadable) */
                return st.ignored_devices >= 6;
        }
        return false;
}

static void malformed_case(const char *kind, bool no_acquire, enum expect expect) {
        struct live L;
        struct rc_gateway_stats st;

        standin_up("--decoy", "3", NULL);
        assert_int_equal(rc_standin_call(&si, "SetMalformed", "s", kind), 0);
        live_start(&L, &si, no_acquire);
        expecting = expect;
        live_run(&L, expected_seen, 60000);
        rc_gateway_stats(L.gw, &st);
        print_message("%s: %llu malformed, %llu fallbacks, %llu ignored devices, %llu + %llu "
                      "notifications\n",
                      kind, (unsigned long long)st.malformed, (unsigned long long)st.fallbacks,
                      (unsigned long long)st.ignored_devices, (unsigned long long)st.via_fd,
                      (unsigned long long)st.via_signal);
        assert_true(st.malformed > 0);
        assert_true(st.ignored_devices >= 3);
        if (expect == EXPECT_NOTHING) {
                /* a device whose services cannot be read is not trusted to be ours */
                assert_int_equal(st.connects, 0);
        } else if (expect == EXPECT_NO_DATA) {
                assert_int_equal(st.connects, 3);
                assert_int_equal(st.via_fd + st.via_signal, 0);
                assert_true(st.malformed > 10); /* each notification */
        } else {
                /* it streams anyway (through StartNotify after a fallback) */
                assert_true(st.via_fd + st.via_signal > 0);
        }
        if (expect == EXPECT_FALLBACK) {
                assert_true(st.fallbacks > 0);
                assert_true(st.via_signal > 0);
        }
        live_end(&L);
}

static void test_malformed_replies(void **state) {
        (void)state;
        malformed_case("read-value-string", false, EXPECT_STREAM);
        malformed_case("acquire-no-fd", false, EXPECT_FALLBACK);
        malformed_case("acquire-mtu-string", false,
                       EXPECT_STREAM);                            /* the fd used, the MTU counted */
        malformed_case("connected-string", false, EXPECT_STREAM); /* ServicesResolved says it */
        malformed_case("value-string", true, EXPECT_NO_DATA);     /* the StartNotify path */
        malformed_case("uuids-string", false, EXPECT_NOTHING);
}

/* Another client's connect is in progress (the stand-in's connects take 3 s):
 * the gateway's Connect gets InProgress, waits and gets there. */
static int on_other_connect(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        (void)m;
        (void)userdata;
        (void)e;
        return 0;
}

static void test_connect_in_progress(void **state) {
        struct live L;
        struct rc_gateway_stats st;
        sd_bus *other = NULL;
        char path[128];

        (void)state;
        standin_up("--connect-delay", "3000", NULL);
        assert_int_equal(rc_standin_connect(&si, &other), 0);
        sd_bus_call_method(other, "org.bluez", "/org/bluez/hci0", "org.bluez.Adapter1",
                           "StartDiscovery", NULL, NULL, NULL);
        snprintf(path, sizeof(path), "/org/bluez/hci0/dev_%s", ROLLER);
        for (char *p = path; *p; p++)
                if (*p == ':')
                        *p = '_';
        /* until discovery has found the roller (its object answers) */
        for (uint64_t end = now_ms() + 60000;; usleep(10000)) {
                if (sd_bus_call_method(other, "org.bluez", path, "org.freedesktop.DBus.Properties",
                                       "Get", NULL, NULL, "ss", "org.bluez.Device1",
                                       "Address") >= 0)
                        break;
                assert_true(now_ms() < end);
        }
        assert_true(sd_bus_call_method_async(other, NULL, "org.bluez", path, "org.bluez.Device1",
                                             "Connect", on_other_connect, NULL, NULL) >= 0);
        sd_bus_flush(other);
        live_start(&L, &si, false);
        assert_true(live_run(&L, roller_streaming, 60000));
        rc_gateway_stats(L.gw, &st);
        assert_true(st.connect_failures >= 1); /* the InProgress */
        live_stop(&L);
        sd_bus_flush_close_unref(other);
        rc_standin_stop(&si);
        events_free(&L.ev);
}

/* ---- stopping, and a start that fails ------------------------------------------------- */

static unsigned logged_dropped, logged_stopping;

static void count_disconnect_logs(enum rc_log_level level, const char *msg, void *userdata) {
        (void)userdata;
        logged_dropped += strstr(msg, "disconnected: the link dropped") != NULL;
        logged_stopping += strstr(msg, "disconnected: the hub is stopping") != NULL;
        if (level <= RC_LOG_ERR)
                fprintf(stderr, "rollcoach: %s\n", msg);
}

/* At shutdown the hub disconnects its devices itself. A BlueZ that drops each link
 * at once (its disconnect timer at 0) hangs up the notification sockets and says
 * Connected=false before every Disconnect has been answered (the stand-in answers
 * 300 ms after the drop, so this is so every time): each device is still logged as
 * disconnected because the hub is stopping, never as a link that dropped. */
static void test_stop_is_not_a_link_loss(void **state) {
        struct live L;
        enum rc_log_level max = rc_log_get_max_level();

        (void)state;
        standin_up("--speed", SPEED, "--disconnect-delay", "0", "--disconnect-reply-delay", "300",
                   NULL);
        live_start(&L, &si, false);
        assert_true(live_run(&L, three_announced, 60000));
        logged_dropped = logged_stopping = 0;
        rc_log_set_max_level(RC_LOG_NOTICE);
        rc_log_set_sink(count_disconnect_logs, NULL);
        live_stop(&L);
        rc_log_set_sink(NULL, NULL);
        rc_log_set_max_level(max);
        print_message("at the stop: %u logged as stopping, %u as dropped links\n", logged_stopping,
                      logged_dropped);
        assert_int_equal(standin_stat(&si, "disconnect_calls"), 3);
        assert_int_equal(L.ev.disconnects, 3);
        assert_int_equal(logged_dropped, 0);
        assert_int_equal(logged_stopping, 3);
        rc_standin_stop(&si);
        events_free(&L.ev);
}

static void no_notification(const struct rc_notification *n, void *userdata) {
        (void)n;
        (void)userdata;
        fail_msg("a notification from a gateway that did not start");
}

/* The set-up fails after the bus is attached to the loop (each signal match in
 * turn refused): rc_gateway_start returns the error and leaves nothing on the loop
 * (no handle in memory it freed: ASan would see the loop use it). */
static void test_setup_fails_after_attach(void **state) {
        (void)state;
        assert_int_equal(rc_standin_bus_start(&si), 0);
        for (unsigned n = 1; n <= 5; n++) {
                uv_loop_t loop;
                struct rc_gateway *gw = NULL;
                struct rc_gateway_opts o = {
                        .loop = &loop, .bus_address = si.address, .notify = no_notification};

                assert_int_equal(uv_loop_init(&loop), 0);
                fail_match_at = n;
                match_calls = 0;
                assert_int_equal(rc_gateway_start(&o, &gw), -ENOBUFS);
                fail_match_at = 0;
                assert_null(gw);
                assert_int_equal(match_calls, n);
                assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0); /* nothing left alive */
                assert_int_equal(uv_loop_close(&loop), 0);
        }
        rc_standin_stop(&si);
}

/* An argument runs only the tests whose names match it (cmocka's filter). */
int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_events_acquire),
                cmocka_unit_test(test_same_events_startnotify),
                cmocka_unit_test(test_link_loss_reconnect),
                cmocka_unit_test(test_refused_connects_backoff),
                cmocka_unit_test(test_bluetoothd_restart),
                cmocka_unit_test(test_device_removed),
                cmocka_unit_test(test_malformed_replies),
                cmocka_unit_test(test_connect_in_progress),
                cmocka_unit_test(test_stop_is_not_a_link_loss),
                cmocka_unit_test(test_setup_fails_after_attach),
        };

        if (argc > 1)
                cmocka_set_test_filter(argv[1]);
        if (getenv("RC_TEST_SKIP")) /* e.g. RC_TEST_SKIP='test_same_events_*' */
                cmocka_set_skip_filter(getenv("RC_TEST_SKIP"));
        rc_log_set_max_level(getenv("RC_TEST_VERBOSE") ? RC_LOG_DEBUG : RC_LOG_ERR);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
