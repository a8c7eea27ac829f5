/* bench_voice — how soon the coach is heard.
 *
 * Not a test: it prints figures (milliseconds, wall clock). The target: a safety
 * warning starts within 300 ms.
 *   say       rc_voice_say → first audio sample written, output wav, for the
 *             shipped plugins' messages, each said to an idle voice (a fresh voice
 *             per message, closed once its first sample is out: the queue is not
 *             under test, and 20 messages played whole would take minutes)
 *   preempt   the same for a safety message said while a long cue is being
 *             spoken (0.3 s to 2.1 s into it), which must be cut first
 *   alsa      `say` through aplay on ALSA's null device (output alsa: aplay is
 *             spawned once the WAV header is read); skipped without aplay
 *
 *   bench_voice [--rounds N]     (default 1: each message once, 10 preemptions)
 */
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config/config.h"
#include "outputs/voice.h"
#include "util/log.h"

/* Messages of the shipped plugins (plugins/), keys and texts as they say them. */
static const struct {
        const char *key, *text;
        enum rc_priority p;
} messages[] = {
        {"safety.lumbar",
         "Stop. The roller is on your lower back. Roll back up to your shoulder blades.",
         RC_PRIORITY_SAFETY},
        {"safety.lumbar",
         "Stop. You're heading into your lower back. Roll back up toward your shoulder blades.",
         RC_PRIORITY_SAFETY},
        {"safety.pain_stop",
         "Stopping now. If you felt sharp or shooting pain, numbness or tingling, don't roll "
         "again until you've seen a doctor or physiotherapist.",
         RC_PRIORITY_SAFETY},
        {"safety.clearance",
         "You listed osteoporosis. Check with your doctor or physiotherapist before foam "
         "rolling, and stop if anything hurts. Today's routine is adapted for you.",
         RC_PRIORITY_SAFETY},
        {"warn.too_fast", "Too fast. Slow down to about an inch a second.", RC_PRIORITY_WARNING},
        {"warn.jerky", "Smooth and slow. Ease off the jerky movements.", RC_PRIORITY_WARNING},
        {"warn.pressure",
         "That's a lot of pressure. Take some weight onto your hands and feet. Lighter works "
         "just as well.",
         RC_PRIORITY_WARNING},
        {"warn.hold_long",
         "You've held this spot for a minute and a half. That's enough: roll off it now.",
         RC_PRIORITY_WARNING},
        {"warn.session_long", "That's 10 minutes. Finish the muscle you're on, then call it a day.",
         RC_PRIORITY_WARNING},
        {"cue.step",
         "Left glute. Sit on the roller, cross your left ankle over your right knee, and lean "
         "onto your left side. Roll slowly toward your thigh, then back up, about an inch a "
         "second. Stay below the top of your hip bone. When you find a tender spot, stop there "
         "and hold it for about 30 seconds.",
         RC_PRIORITY_CUE},
        {"cue.step",
         "Upper back. Lie on your back with the roller across your mid-back, at the bra-strap "
         "line. Hands behind your head, hips on the floor. Roll slowly toward your neck first, "
         "then back down to where you started. Never roll below your ribs onto your lower back.",
         RC_PRIORITY_CUE},
        {"cue.step",
         "Right hip flexor. Move the roller under the front of your right hip. Light pressure. "
         "Roll slowly toward your knee and back.",
         RC_PRIORITY_CUE},
        {"cue.hold_target", "That's 30 seconds. Release, and move on to the next spot.",
         RC_PRIORITY_CUE},
        {"cue.breathe", "Slow your breathing down: in through your nose for four, and out for six.",
         RC_PRIORITY_CUE},
        {"cue.back_position",
         "On your back, keep the roller between your shoulder blades and the bottom of your "
         "ribs. Never roll your lower back.",
         RC_PRIORITY_CUE},
        {"cue.reset.belly_lift",
         "Rolling is done. Put the roller aside and lie on your back, knees bent, feet flat, "
         "hands on your belly. Breathe in through your nose and let your belly lift. Then "
         "breathe out slowly, all the way.",
         RC_PRIORITY_CUE},
        {"info.consistency", "This is session 3 this week. Right on target.", RC_PRIORITY_INFO},
        {"info.hrv", "Your heart-rate variability went from 32 to 41 milliseconds.",
         RC_PRIORITY_INFO},
        {"info.complete", "That's your session done. Well done.", RC_PRIORITY_INFO},
        {"info.adapted",
         "Adapted for you: hip flexors left out, glutes done gently. Keep the pressure light.",
         RC_PRIORITY_INFO},
};
#define N_MESSAGES (sizeof(messages) / sizeof(messages[0]))

#define LONG_CUE                                                                                   \
        "Now the 90-90 hip lift. Lie with your heels on the wall, hips and knees bent at right "   \
        "angles. Breathe out fully, press your heels lightly into the wall and lift your "         \
        "tailbone just off the floor. Feel the backs of your thighs switch on. Keep breathing: "   \
        "in through your nose, out all the way."

struct bench {
        uv_loop_t loop;
        struct rc_voice_config cfg;
        struct rc_voice *v;
        bool closed;
};

static void on_tick(uv_timer_t *t) {
        (void)t;
}

static void on_closed(void *userdata) {
        ((struct bench *)userdata)->closed = true;
}

/* Run the loop for `ms`, or (until_sample) until the voice's first sample of a
 * message (of a safety message: safety) is out. */
static void run(struct bench *b, int ms, bool until_sample, bool safety) {
        uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
        uv_timer_t tick;
        struct rc_voice_stats st;

        uv_timer_init(&b->loop, &tick);
        uv_timer_start(&tick, on_tick, 1, 1);
        while (uv_hrtime() < end) {
                rc_voice_stats(b->v, &st);
                if (until_sample && !isnan(safety ? st.safety_latency_max_ms : st.latency_max_ms))
                        break;
                uv_run(&b->loop, UV_RUN_ONCE);
        }
        uv_close((uv_handle_t *)&tick, NULL);
        uv_run(&b->loop, UV_RUN_NOWAIT);
}

static void voice_open(struct bench *b, const char *wav_dir, int output) {
        struct rc_voice_opts o = {.loop = &b->loop};
        struct rc_config c;

        rc_config_defaults(&c);
        o.config = c.voice;
        o.config.output = output;
        snprintf(o.config.wav_dir, sizeof(o.config.wav_dir), "%s", wav_dir);
        snprintf(o.config.alsa_device, sizeof(o.config.alsa_device), "null");
        b->cfg = o.config;
        if (rc_voice_new(&o, &b->v) < 0) {
                fprintf(stderr, "bench_voice: cannot start the voice\n");
                exit(1);
        }
}

/* Close the voice, wait for it; returns its stats. */
static void voice_close(struct bench *b, struct rc_voice_stats *st) {
        uint64_t end = uv_hrtime() + 10000000000u;

        rc_voice_stats(b->v, st);
        b->closed = false;
        rc_voice_close(b->v, on_closed, b);
        while (!b->closed && uv_hrtime() < end)
                uv_run(&b->loop, UV_RUN_ONCE);
        rc_voice_free(b->v);
        b->v = NULL;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static void report(const char *what, double *ms, unsigned n) {
        double med;

        if (n == 0) {
                printf("%-8s no samples\n", what);
                return;
        }
        qsort(ms, n, sizeof(double), cmp);
        med = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
        printf("%-8s n=%-3u min %6.1f ms   median %6.1f ms   max %6.1f ms\n", what, n, ms[0], med,
               ms[n - 1]);
}

/* One message to an idle voice; its say → first sample, or NAN if none came. */
static double one(struct bench *b, const char *dir, int output, unsigned i) {
        struct rc_voice_stats st;

        voice_open(b, dir, output);
        rc_voice_say(b->v, messages[i].key, messages[i].text, messages[i].p);
        run(b, 10000, true, false);
        voice_close(b, &st);
        return st.latency_max_ms;
}

/* Each message `rounds` times, each to an idle voice; the latencies go to `ms`.
 * Returns how many there are. */
static unsigned say_all(struct bench *b, const char *dir, int output, unsigned rounds, double *ms) {
        unsigned n = 0;

        for (unsigned r = 0; r < rounds; r++)
                for (unsigned i = 0; i < N_MESSAGES; i++) {
                        double x = one(b, dir, output, i);

                        if (!isnan(x))
                                ms[n++] = x;
                }
        return n;
}

int main(int argc, char **argv) {
        struct bench b = {0};
        char dir[] = "/tmp/bench_voice.XXXXXX", cmd[128];
        unsigned rounds = 1, n, k;
        double *ms;
        struct rc_voice_stats st;

        signal(SIGPIPE, SIG_IGN); /* as rollcoach run does: aplay may be cut */
        if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
                rounds = (unsigned)atoi(argv[2]);
        if (rounds < 1 || rounds > 100) {
                fprintf(stderr, "usage: bench_voice [--rounds N]\n");
                return 2;
        }
        ms = calloc(rounds * N_MESSAGES + 16, sizeof(double));
        if (!ms || !mkdtemp(dir) || uv_loop_init(&b.loop) < 0) {
                perror("bench_voice");
                return 1;
        }
        rc_log_set_max_level(RC_LOG_WARN);
        printf("espeak-ng %s voice, %s; %ld cores\n", "en-us", "22050 Hz mono s16",
               sysconf(_SC_NPROCESSORS_ONLN));

        n = say_all(&b, dir, RC_VOICE_WAV, rounds, ms);
        report("say", ms, n);

        /* preempt: a long cue being spoken, then a safety message */
        n = 0;
        for (k = 0; k < 10 * rounds; k++) {
                voice_open(&b, dir, RC_VOICE_WAV);
                rc_voice_say(b.v, "cue.reset.hip_lift", LONG_CUE, RC_PRIORITY_CUE);
                run(&b, 300 + (int)(k % 10) * 200, false, false);
                if (rc_voice_idle(b.v)) {
                        fprintf(stderr, "bench_voice: the long cue is not being spoken\n");
                        return 1;
                }
                rc_voice_say(b.v, "safety.lumbar", messages[0].text, RC_PRIORITY_SAFETY);
                run(&b, 10000, true, true);
                voice_close(&b, &st);
                if (st.cut == 1 && !isnan(st.safety_latency_max_ms))
                        ms[n++] = st.safety_latency_max_ms;
        }
        report("preempt", ms, n);

        /* alsa: through aplay on the null device */
        if (system("aplay -q -D null -t raw -f S16_LE -r 22050 -c 1 </dev/null "
                   ">/dev/null 2>&1") == 0) {
                n = say_all(&b, dir, RC_VOICE_ALSA, rounds, ms);
                report("alsa", ms, n);
        } else {
                printf("alsa     skipped: aplay cannot open ALSA's null device\n");
        }

        uv_loop_close(&b.loop);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "bench_voice: could not remove %s\n", dir);
        free(ms);
        return 0;
}
