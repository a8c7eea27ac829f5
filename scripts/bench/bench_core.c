/* bench_core — throughput of the analysis core over a long simulated session.
 *
 * Not a test: it prints figures. The simulator writes a session (by default 60
 * minutes of a roller with a load cell at 200 Hz, a body clip at 100 Hz and a
 * heart-rate strap) into memory; then each stage is timed over it, repeated
 * until at least --seconds of CPU time have passed:
 *   roller   decode + roller analysis of every roller IMU batch (the hot path)
 *   body     decode + body analysis of every body IMU batch
 *   session  every notification through rc_session_feed: UUID lookup, decode,
 *            analysis, heart rate, events to a counting subscriber
 *   strap    the heart-rate strap's notifications alone through rc_session_feed
 *            (decode, RR cleaning, RMSSD, the breathing-rate spectrum: one hr
 *            event a second)
 * With --callgrind it runs each stage once, inside functions named bench_*_pass,
 * so `valgrind --tool=callgrind --toggle-collect=bench_roller_pass` counts the
 * instructions of exactly that pass (scripts/bench-core does this). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/body.h"
#include "analysis/roller.h"
#include "analysis/session.h"
#include "decode/gatt.h"
#include "sim/sim.h"
#include "util/log.h"

struct packet {
        struct rc_notification n;
        uint8_t data[RC_TRACE_MAX_PAYLOAD];
};

static struct packet *packets;
static size_t n_packets, cap_packets;
static uint64_t events_seen;

static int collect(const struct rc_notification *n, void *userdata) {
        struct packet *p;

        (void)userdata;
        if (n_packets == cap_packets) {
                size_t cap = cap_packets ? 2 * cap_packets : 65536;
                struct packet *np = realloc(packets, cap * sizeof(*np));

                if (!np)
                        return -ENOMEM;
                packets = np;
                cap_packets = cap;
        }
        p = &packets[n_packets++];
        p->n = *n;
        memcpy(p->data, n->data, n->len);
        p->n.data = NULL; /* set once the array stops moving */
        return 0;
}

/* A long session: cycles of slow rolling, a hold, a faster pass and a rest. */
static char *scenario(unsigned minutes) {
        size_t cap = 4096 + (size_t)minutes * 512, len = 0;
        char *s = malloc(cap);

        if (!s)
                return NULL;
        len += (size_t)snprintf(s + len, cap - len,
                                "# rollcoach-scenario 1\nseed 7\n"
                                "roller R AA:BB:CC:DD:EE:01 loss=0.01 corrupt=0.005\n"
                                "body B AA:BB:CC:DD:EE:02\n"
                                "hr H 11:22:33:44:55:66 bpm=68\n"
                                "B: posture supine %u\nH: pulse 70 %u breath=12\n",
                                minutes * 60, minutes * 60);
        for (unsigned m = 0; m < minutes; m++)
                len += (size_t)snprintf(s + len, cap - len,
                                        "R: roll 2.5 12 force=280\nR: roll -2.5 12\n"
                                        "R: hold 20 force=320\nR: roll 8 4\nR: roll -8 4\n"
                                        "R: rest 8\n");
        return s;
}

static double cpu_seconds(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_roller_event(struct rc_event *ev, void *userdata) {
        (void)ev;
        (void)userdata;
        events_seen++;
}

static void count_event(const struct rc_event *ev, void *userdata) {
        (void)ev;
        (void)userdata;
        events_seen++;
}

static int is_char(const struct packet *p, enum rc_char c) {
        return p->n.what == RC_WHAT_VALUE && rc_gatt_char_from_uuid(&p->n.uuid) == c;
}

/* The roller's IMU batches, pre-selected so the pass times only decode + analysis. */
static const struct packet **roller_pkts, **body_pkts;
static size_t n_roller, n_body, n_strap;
static uint64_t roller_samples, body_samples;

__attribute__((noinline)) uint64_t bench_roller_pass(struct rc_roller *r);
__attribute__((noinline)) uint64_t bench_roller_pass(struct rc_roller *r) {
        uint64_t samples = 0;

        rc_roller_init(r, count_roller_event, NULL);
        for (size_t i = 0; i < n_roller; i++) {
                struct rc_imu_batch b;
                enum rc_decode_reason why;

                if (rc_decode_imu(roller_pkts[i]->data, roller_pkts[i]->n.len, false, &b, &why) < 0)
                        continue;
                rc_roller_feed(r, (int64_t)roller_pkts[i]->n.t_us, &b);
                samples += b.n;
        }
        return samples;
}

__attribute__((noinline)) uint64_t bench_body_pass(struct rc_body *bd);
__attribute__((noinline)) uint64_t bench_body_pass(struct rc_body *bd) {
        uint64_t samples = 0;

        rc_body_init(bd, count_roller_event, NULL);
        for (size_t i = 0; i < n_body; i++) {
                struct rc_imu_batch b;
                enum rc_decode_reason why;

                if (rc_decode_imu(body_pkts[i]->data, body_pkts[i]->n.len, true, &b, &why) < 0)
                        continue;
                rc_body_feed(bd, (int64_t)body_pkts[i]->n.t_us, &b);
                samples += b.n;
        }
        return samples;
}

enum which { ALL, NO_STRAP, STRAP_ONLY };

static uint64_t session_pass(struct rc_session *s, enum which which) {
        uint64_t fed = 0;

        rc_session_init(s);
        rc_session_subscribe(s, count_event, NULL);
        for (size_t i = 0; i < n_packets; i++) {
                bool strap = is_char(&packets[i], RC_CHAR_HR_MEASUREMENT);

                if ((which == NO_STRAP && strap) || (which == STRAP_ONLY && !strap))
                        continue;
                rc_session_feed(s, &packets[i].n);
                fed++;
        }
        rc_session_end(s, (int64_t)(packets[n_packets - 1].n.t_us / 1000), "end_of_trace");
        return fed;
}

/* Everything, the strap included (its breathing-rate spectrum runs once a second). */
__attribute__((noinline)) uint64_t bench_session_pass(struct rc_session *s);
__attribute__((noinline)) uint64_t bench_session_pass(struct rc_session *s) {
        return session_pass(s, ALL);
}

/* The IMU devices through the whole path: UUID lookup, dispatch, decode, analysis,
 * event bus. */
__attribute__((noinline)) uint64_t bench_imu_path_pass(struct rc_session *s);
__attribute__((noinline)) uint64_t bench_imu_path_pass(struct rc_session *s) {
        return session_pass(s, NO_STRAP);
}

/* The strap alone: its notifications are a small part of the session, so its
 * cost is measured on its own rather than as a difference of two large passes. */
__attribute__((noinline)) uint64_t bench_strap_pass(struct rc_session *s);
__attribute__((noinline)) uint64_t bench_strap_pass(struct rc_session *s) {
        return session_pass(s, STRAP_ONLY);
}

struct figure {
        double cpu_s;
        unsigned passes;
};

static void report(const char *stage, uint64_t per_pass, const char *unit, struct figure f) {
        double total = (double)per_pass * f.passes;

        printf("%-8s %10.2f M %s/s  %8.2f ns/%s  (%u passes, %.2f s CPU)\n", stage,
               total / f.cpu_s / 1e6, unit, f.cpu_s / total * 1e9, unit, f.passes, f.cpu_s);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"minutes", required_argument, NULL, 'm'},
                {"seconds", required_argument, NULL, 's'},
                {"callgrind", no_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        unsigned minutes = 60;
        double seconds = 2.0;
        int callgrind = 0, c;
        struct rc_sim *sim;
        char *text;
        struct rc_roller *roller = malloc(sizeof(*roller));
        struct rc_body *body = malloc(sizeof(*body));
        struct rc_session *session = malloc(sizeof(*session));

        while ((c = getopt_long(argc, argv, "m:s:ch", options, NULL)) != -1) {
                switch (c) {
                case 'm':
                        minutes = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        seconds = strtod(optarg, NULL);
                        break;
                case 'c':
                        callgrind = 1;
                        break;
                default:
                        printf("Usage: bench_core [--minutes N] [--seconds S] [--callgrind]\n");
                        return c == 'h' ? 0 : 2;
                }
        }
        if (!roller || !body || !session || minutes < 1 || minutes > 240)
                return 1;

        rc_log_set_max_level(RC_LOG_ERR); /* the corrupt packets are expected */
        text = scenario(minutes);
        if (!text || rc_sim_new_from_string(text, strlen(text), "bench", &sim) < 0 ||
            rc_sim_run(sim, collect, NULL) != 0) {
                fprintf(stderr, "bench_core: simulation failed\n");
                return 1;
        }
        rc_sim_free(sim);
        free(text);

        for (size_t i = 0; i < n_packets; i++)
                packets[i].n.data = packets[i].data;
        roller_pkts = malloc(n_packets * sizeof(*roller_pkts));
        body_pkts = malloc(n_packets * sizeof(*body_pkts));
        if (!roller_pkts || !body_pkts)
                return 1;
        for (size_t i = 0; i < n_packets; i++) {
                if (is_char(&packets[i], RC_CHAR_ROLLER_IMU))
                        roller_pkts[n_roller++] = &packets[i];
                else if (is_char(&packets[i], RC_CHAR_BODY_IMU))
                        body_pkts[n_body++] = &packets[i];
                else if (is_char(&packets[i], RC_CHAR_HR_MEASUREMENT))
                        n_strap++;
        }
        roller_samples = bench_roller_pass(roller);
        body_samples = bench_body_pass(body);
        printf("session: %u min simulated, %zu notifications; roller %zu batches, %llu "
               "samples; body %zu batches, %llu samples; strap %zu notifications\n",
               minutes, n_packets, n_roller, (unsigned long long)roller_samples, n_body,
               (unsigned long long)body_samples, n_strap);
        printf("sizeof: roller state %zu B, body %zu B, session %zu B (no allocation per "
               "sample)\n",
               sizeof(struct rc_roller), sizeof(struct rc_body), sizeof(struct rc_session));
        if (callgrind) {
                bench_imu_path_pass(session);
                bench_session_pass(session);
                bench_strap_pass(session);
                printf("callgrind: one pass each of bench_roller_pass, bench_body_pass, "
                       "bench_imu_path_pass, bench_session_pass, bench_strap_pass done\n");
                return 0;
        }

        struct figure fr = {0}, fb = {0}, fi = {0}, fs = {0}, fh = {0};
        uint64_t imu_notifs = 0;
        double t0;

        for (t0 = cpu_seconds(); cpu_seconds() - t0 < seconds; fr.passes++)
                bench_roller_pass(roller);
        fr.cpu_s = cpu_seconds() - t0;
        for (t0 = cpu_seconds(); cpu_seconds() - t0 < seconds; fb.passes++)
                bench_body_pass(body);
        fb.cpu_s = cpu_seconds() - t0;
        for (t0 = cpu_seconds(); cpu_seconds() - t0 < seconds; fi.passes++)
                imu_notifs = bench_imu_path_pass(session);
        fi.cpu_s = cpu_seconds() - t0;
        for (t0 = cpu_seconds(); cpu_seconds() - t0 < seconds; fs.passes++)
                bench_session_pass(session);
        fs.cpu_s = cpu_seconds() - t0;
        for (t0 = cpu_seconds(); cpu_seconds() - t0 < seconds; fh.passes++)
                bench_strap_pass(session);
        fh.cpu_s = cpu_seconds() - t0;

        report("roller", roller_samples, "samples", fr);
        report("body", body_samples, "samples", fb);
        report("imu_path", roller_samples + body_samples, "samples", fi);
        report("session", n_packets, "notif", fs);
        report("strap", n_strap, "notif", fh);
        printf("strap: %.1f us of CPU per heart-rate notification (the strap's pass alone); "
               "%.1f us as the session pass less the IMU path\n",
               fh.cpu_s / fh.passes / (double)n_strap * 1e6,
               (fs.cpu_s / fs.passes - fi.cpu_s / fi.passes) / (double)(n_packets - imu_notifs) *
                       1e6);
        printf("(events seen: %llu)\n", (unsigned long long)events_seen);
        free(roller_pkts);
        free(body_pkts);
        free(packets);
        free(roller);
        free(body);
        free(session);
        return 0;
}
