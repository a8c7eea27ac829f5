/* Replay end to end: a simulated session written as a trace, read back through
 * the trace reader into a session, events out as JSON Lines.
 * - determinism: the same trace gives byte-identical events, and a trace gives the
 *   same events as the notifications it was written from (record → replay);
 * - a bad link (lost and corrupted packets, applied here to a clean stream so the
 *   physics is identical) changes holds by no more than the lost samples allow and
 *   travel by no more than the lost samples carried;
 * - device clocks and seq wrapping mid-session change nothing. */
#include "rc_test.h"

#include <errno.h>

#include "analysis/session.h"
#include "decode/gatt.h"
#include "outputs/jsonl.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "util/log.h"

static char *scenario_path(const char *name) {
        static char path[512];

        snprintf(path, sizeof(path), "%s/scripts/scenarios/%s.scn", RC_SOURCE_DIR, name);
        return path;
}

/* The scenario as trace text (open_memstream). */
static char *simulate(const char *name, size_t *ret_len) {
        struct rc_sim *s;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        assert_int_equal(rc_sim_new_from_file(scenario_path(name), &s), 0);
        assert_int_equal(rc_sim_write_trace(s, f), 0);
        rc_sim_free(s);
        assert_int_equal(fclose(f), 0);
        *ret_len = len;
        return buf;
}

/* Replay trace text; every event as JSON Lines into a new string. */
static char *replay_events(const char *trace, size_t len) {
        FILE *in = fmemopen((void *)trace, len, "r");
        char *out = NULL;
        size_t out_len = 0;
        FILE *f = open_memstream(&out, &out_len);
        struct rc_jsonl_writer w = {.f = f};
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_replay_stats st;

        assert_non_null(in);
        assert_non_null(s);
        rc_session_init(s);
        rc_session_subscribe(s, rc_jsonl_write_event, &w);
        assert_int_equal(rc_replay_run(in, "mem", s, NULL, &st), 0);
        assert_int_equal(st.malformed, 0);
        assert_int_equal(w.error, 0);
        fclose(in);
        fclose(f);
        free(s);
        return out;
}

static void test_determinism(void **state) {
        size_t len;
        char *trace = simulate("demo-lower-back", &len);
        char *a, *b;

        (void)state;
        rc_log_set_max_level(RC_LOG_ERR); /* the demo's corrupt packets are expected */
        a = replay_events(trace, len);
        b = replay_events(trace, len);
        rc_log_set_max_level(RC_LOG_INFO);
        assert_true(strlen(a) > 100000);
        assert_string_equal(a, b);
        free(a);
        free(b);
        free(trace);
}

/* ---- the same notifications straight from the simulator (no trace) ---- */

struct direct {
        struct rc_session *s;
        struct rc_jsonl_writer w;
        bool begun;
};

static int feed_direct(const struct rc_notification *n, void *userdata) {
        struct direct *d = userdata;

        if (!d->begun) {
                rc_session_begin(d->s, (int64_t)(n->t_us / 1000), NULL, NULL);
                d->begun = true;
        }
        rc_session_feed(d->s, n);
        return 0;
}

static void test_trace_round_trip(void **state) {
        size_t len, out_len = 0;
        char *trace = simulate("clock-wrap", &len), *from_trace, *out = NULL;
        struct rc_sim *sim;
        struct direct d = {.s = malloc(sizeof(*d.s))};
        int64_t last_ms = 0;

        (void)state;
        from_trace = replay_events(trace, len);
        d.w.f = open_memstream(&out, &out_len);
        rc_session_init(d.s);
        rc_session_subscribe(d.s, rc_jsonl_write_event, &d.w);
        assert_int_equal(rc_sim_new_from_file(scenario_path("clock-wrap"), &sim), 0);
        assert_int_equal(rc_sim_run(sim, feed_direct, &d), 0);
        rc_sim_free(sim);
        last_ms = d.s->now_ms;
        rc_session_end(d.s, last_ms, "end_of_trace");
        fclose(d.w.f);
        assert_string_equal(out, from_trace);
        free(out);
        free(from_trace);
        free(trace);
        free(d.s);
}

/* ---- a bad link, applied to a clean stream ---- */

#define MAX_NOTES 20000
struct note {
        struct rc_notification n;
        uint8_t data[RC_TRACE_MAX_PAYLOAD];
};
static struct note *notes;
static size_t n_notes;

static int collect(const struct rc_notification *n, void *userdata) {
        (void)userdata;
        assert_true(n_notes < MAX_NOTES);
        notes[n_notes].n = *n;
        memcpy(notes[n_notes].data, n->data, n->len);
        n_notes++;
        return 0;
}

struct summary {
        unsigned holds;
        double since_s[8], duration_s[8], force[8], travel[8];
        double last_travel;
};

static void summarize(const struct rc_event *ev, void *userdata) {
        struct summary *sm = userdata;

        if (ev->type == RC_EV_HOLD_START && sm->holds < 8) {
                sm->since_s[sm->holds] = ev->hold_start.since_ms / 1000.0;
                sm->travel[sm->holds] = ev->hold_start.travel_cm;
        } else if (ev->type == RC_EV_HOLD_END && sm->holds < 8) {
                sm->duration_s[sm->holds] = ev->hold_end.duration_s;
                sm->force[sm->holds] = ev->hold_end.mean_force_n;
                sm->holds++;
        } else if (ev->type == RC_EV_MOTION) {
                sm->last_travel = ev->motion.travel_cm;
        }
}

/* The travel (cm) the samples of an IMU batch carry, from their own gyro bytes
 * (long axis x, 127 mm roller as in hold.scn; v = ω·r, spec/roller-gatt.md),
 * counting the sensor's bias (0.3 °/s by default) as travel too: an upper bound. */
static double batch_travel(const uint8_t *p) {
        unsigned n = p[10], stride = (p[1] & 1) ? 14 : 12;
        double sum = 0;

        for (unsigned i = 0; i < n; i++)
                sum += fabs((double)(int16_t)(p[11 + i * stride + 6] | p[11 + i * stride + 7]
                                                                               << 8)) +
                       3;
        return sum * 0.1 * M_PI / 180.0 * 6.35 * 0.005;
}

/* Feed the collected stream; every `drop`-th roller IMU batch lost and every
 * `corrupt`-th sent with a bad version byte (0: none). Returns the samples taken
 * away, and in *ret_travel the travel they carried. */
static unsigned run_link(struct summary *sm, unsigned drop, unsigned corrupt, double *ret_travel) {
        struct rc_session *s = malloc(sizeof(*s));
        unsigned k = 0, removed = 0;

        *ret_travel = 0;
        memset(sm, 0, sizeof(*sm));
        rc_session_init(s);
        rc_session_subscribe(s, summarize, sm);
        for (size_t i = 0; i < n_notes; i++) {
                struct rc_notification n = notes[i].n;
                uint8_t copy[RC_TRACE_MAX_PAYLOAD];

                n.data = notes[i].data;
                if (n.what == RC_WHAT_VALUE &&
                    rc_gatt_char_from_uuid(&n.uuid) == RC_CHAR_ROLLER_IMU) {
                        k++;
                        if (drop && k % drop == 0) {
                                removed += n.data[10];
                                *ret_travel += batch_travel(n.data);
                                continue;
                        }
                        if (corrupt && k % corrupt == 0) {
                                memcpy(copy, n.data, n.len);
                                copy[0] = 2; /* version 2: the decoder must refuse it */
                                n.data = copy;
                                removed += n.data[10];
                                *ret_travel += batch_travel(notes[i].data);
                                assert_int_equal(rc_session_feed(s, &n), -EBADMSG);
                                continue;
                        }
                }
                rc_session_feed(s, &n);
        }
        rc_session_end(s, s->now_ms, "end_of_trace");
        free(s);
        return removed;
}

static void test_bad_link_bounded(void **state) {
        struct rc_sim *sim;
        struct summary clean, bad;
        unsigned removed;
        double lost_cm, none;

        (void)state;
        notes = malloc(MAX_NOTES * sizeof(*notes));
        n_notes = 0;
        assert_int_equal(rc_sim_new_from_file(scenario_path("hold"), &sim), 0);
        assert_int_equal(rc_sim_run(sim, collect, NULL), 0);
        rc_sim_free(sim);

        assert_int_equal(run_link(&clean, 0, 0, &none), 0);
        rc_log_set_max_level(RC_LOG_ERR);
        /* 2 % lost (every 50th), 5 % corrupted (every 20th; 1 in 100 of those is
         * also a 50th and counts as lost) */
        removed = run_link(&bad, 50, 20, &lost_cm);
        rc_log_set_max_level(RC_LOG_INFO);
        print_message("removed %u samples carrying %.3f cm; hold %.2f s vs %.2f s; travel "
                      "%.3f vs %.3f cm\n",
                      removed, lost_cm, bad.duration_s[0], clean.duration_s[0], bad.last_travel,
                      clean.last_travel);
        assert_int_equal(clean.holds, 1);
        assert_int_equal(bad.holds, clean.holds);
        for (unsigned h = 0; h < clean.holds; h++) {
                /* a hold's edges move by at most one block (0.1 s) plus one lost
                 * packet (16 samples, 0.08 s) */
                assert_near(bad.since_s[h], clean.since_s[h], 0.2);
                assert_near(bad.duration_s[h], clean.duration_s[h], 0.2);
                assert_rel(bad.force[h], clean.force[h], 0.01);
                assert_near(bad.travel[h], clean.travel[h], lost_cm);
        }
        /* the missing samples' travel (lost_cm, 7 % of it) is bridged by the
         * roller's gravity angle before and after each gap (docs/analysis.md,
         * "Angle"): within 3 % of the clean link's (docs/analysis.md, "Angle", targets) */
        assert_true(lost_cm > 0.05 * clean.last_travel);
        assert_near(bad.last_travel, clean.last_travel, 0.03 * clean.last_travel);
        free(notes);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_determinism),
                cmocka_unit_test(test_trace_round_trip),
                cmocka_unit_test(test_bad_link_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
