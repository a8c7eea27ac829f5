/* The shipped coaching plugins (plugins/) over simulated sessions.
 *
 * Each test simulates a scenario of scripts/scenarios/ into a trace in memory,
 * loads the shipped plugins into an engine, attaches it to a session and replays
 * the trace on virtual time (as `rollcoach replay` does), collecting every
 * action. Expected keys and times are worked out here from the scenario's
 * timeline and physics and from the guidance the plugins follow
 * (docs/spec/coaching.md), not read off the program's output:
 *
 * - the lumbar drift of the thoracic step fires safety.lumbar before the roller
 *   reaches the lumbar spine, later for a taller user; the control session that
 *   stays above the start never does;
 * - warn.too_fast: the demo's one 15 cm/s pass and fast rolling do, slow rolling
 *   at 2.5 cm/s never;
 * - holds: cue.hold_target 30 s after the roller came to rest, warn.hold_long at
 *   90 s, cue.breathe during a hold and when the heart rate rises;
 * - a long press: safety.pain_stop, then silence; the session ends there;
 * - a beginner's 12-minute free session: warn.session_long at 10 minutes;
 * - a profile with contraindications: safety.clearance and an adapted routine;
 * - pressure by region and body weight;
 * - the same results over a bad link (5 % corrupted, 2 % lost packets);
 * - byte-identical replays; --step; short presses and the step time; a
 *   roller without a load cell;
 * - the breathing reset and its HRV report; the week's sessions;
 * - the example plugin of docs/plugins.md, loaded as it is printed there. */
#include "rc_test.h"

#include "rc_plugin_run.h"

/* The demo trace is used by many tests: simulated once. */
static char *demo_trace;
static size_t demo_len;

static int group_setup(void **state) {
        char *text = scenario_text("demo-lower-back");

        (void)state;
        rc_log_set_max_level(RC_LOG_ERR); /* the demo's malformed packets are expected */
        demo_trace = simulate(text, &demo_len);
        free(text);
        return 0;
}

static int group_teardown(void **state) {
        (void)state;
        free(demo_trace);
        return 0;
}

static struct acts run_demo(const struct run *r) {
        return replay_trace(demo_trace, demo_len, r);
}

/* ---- the demo, step by step ----------------------------------------------------------- */

/* The demo's short presses (scripts/scenarios/demo-lower-back.scn, its comments),
 * in session seconds, to 0.1 s; each arrives 15-20 ms later (latency + jitter). */
static const double demo_press_s[9] = {54.5,  102.1, 145.5, 187.5, 235.7,
                                       282.9, 322.3, 358.3, 400.5};
static const char *const routine_steps[9] = {"glutes_left",      "glutes_right", "hip_flexor_left",
                                             "hip_flexor_right", "hamstrings",   "thoracic",
                                             "lats_left",        "lats_right",   "calves"};

static void test_shipped_plugins_load(void **state) {
        struct rc_engine_opts eo = {.dirs = {PLUGIN_DIR}, .n_dirs = 1};
        const char *const want[] = {"breathing", "lower-back-relief", "safety", "warnings"};
        struct rc_engine *e;

        (void)state;
        eo.profile = profile_default();
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        assert_int_equal(rc_engine_load_all(e), 4);
        for (size_t i = 0; i < 4; i++) {
                struct rc_engine_plugin_info info;
                int k = rc_engine_find(e, want[i]);

                assert_true(k >= 0);
                assert_int_equal(rc_engine_plugin_info(e, (unsigned)k, &info), 0);
                assert_true(info.enabled);
                assert_int_equal(info.routine, strcmp(want[i], "lower-back-relief") == 0);
        }
        rc_engine_free(e);
}

/* Short presses advance the routine: a step at the session start, then one at
 * every press, "done" at the last; every step has its cue. */
static void test_demo_steps_follow_presses(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        const struct act *st[16] = {0};
        size_t n = steps_of(&L, st, 16);

        (void)state;
        if (n != 10)
                print_says(&L);
        assert_int_equal(n, 10);
        assert_string_equal(st[0]->step, "glutes_left");
        assert_int_equal(st[0]->t_ms, 0);
        for (size_t i = 1; i < 10; i++) {
                assert_string_equal(st[i]->step, i < 9 ? routine_steps[i] : "done");
                assert_near((double)st[i]->t_ms / 1000.0, demo_press_s[i - 1], 0.1);
        }
        /* a cue for each of the nine steps, said when the step starts */
        assert_int_equal(count_key(&L, "cue.step"), 9);
        for (size_t i = 0; i < 9; i++)
                assert_near(nth_s(&L, "cue.step", i), (double)st[i]->t_ms / 1000.0, 0);
        /* the thoracic cue says where to start and which way to roll */
        assert_non_null(strstr(text_of(&L, "cue.step", 5), "bra-strap"));
        assert_non_null(strstr(text_of(&L, "cue.step", 5), "neck first"));
        acts_free(&L);
}

/* The demo's warnings, from its physics:
 * - the hamstring pass at 15 cm/s runs 205.3..207.8 s; the core's 1-s mean speed
 *   passes 3 x 2.54 cm/s about 0.6 s in, so warn.too_fast falls inside the pass,
 *   once; all the other rolling is at 2-3 cm/s;
 * - thoracic: the roller, 13 cm up toward the neck, is back at the start at
 *   254.7 s and goes on toward the feet at 2.5 cm/s, 20 cm past the start at
 *   262.7 s. For 170 cm the lumbar spine begins about 0.085 x 170 = 14.5 cm below
 *   the bra-strap line (safety.lua), reached at 254.7 + 14.5 / 2.5 = 260.5 s:
 *   the warning must come after the start is passed and before then; warned 3 cm
 *   (the roller's footprint) and 1.5 s of travel (3.75 cm) ahead, it is due when
 *   the roller is 7.7 cm below the start, at about 257.8 s;
 * - the loads are 0.22-0.51 of body weight, normal for each region: no
 *   warn.pressure; the session lasts 8 minutes: no warn.session_long; no hold
 *   passes 30 s before its step is moved on. */
static void test_demo_warnings(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        double t;

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        t = first_s(&L, "warn.too_fast");
        assert_true(t > 205.3 + 0.5 && t < 207.8);

        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 254.7 && t < 260.5);
        assert_near(t, 257.8, 0.8);
        assert_int_equal(nth_key(&L, "safety.lumbar", 0)->priority, RC_PRIORITY_SAFETY);

        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        assert_int_equal(count_key(&L, "warn.jerky"), 0);
        assert_int_equal(count_key(&L, "warn.session_long"), 0);
        assert_int_equal(count_key(&L, "warn.hold_long"), 0);
        assert_int_equal(count_key(&L, "safety.clearance"), 0);
        assert_int_equal(count_key(&L, "safety.pain_stop"), 0);
        /* a breathing cue in the holds (10 s in), at most one every 45 s */
        assert_true(count_key(&L, "cue.breathe") >= 4);
        assert_near(first_s(&L, "cue.breathe"), 24.7 + 10, 0.5);
        acts_free(&L);
}

/* The breathing reset after the last step (400.5 s): belly-lift breathing, then
 * the 90/90 hip lift 40 s later, the HRV report and the end ("complete") 80 s in,
 * before the trace ends (483 s). The strap's breathing slows to 6 a minute with a
 * deeper RSA (25 -> 70 ms) from 403 s: RMSSD after the reset is higher. */
static void test_demo_breathing_reset(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        const struct act *end = session_end_of(&L);
        const struct act *st[16] = {0};
        size_t n = steps_of(&L, st, 16);
        double done;

        (void)state;
        assert_int_equal(n, 10);
        assert_string_equal(st[9]->step, "done");
        done = (double)st[9]->t_ms / 1000.0;
        assert_near(done, demo_press_s[8], 0.1);
        assert_near(first_s(&L, "cue.reset.belly_lift"), done, 0.05);
        assert_near(first_s(&L, "cue.reset.hip_lift"), done + 40, 0.05);
        assert_near(first_s(&L, "info.complete"), done + 80, 0.05);
        /* each exercise is named in one short sentence; how to do it follows once
         * the user is in place (8 s, 6 s) */
        assert_int_equal(count_key(&L, "cue.reset.details"), 2);
        assert_near(nth_s(&L, "cue.reset.details", 0), done + 8, 0.05);
        assert_near(nth_s(&L, "cue.reset.details", 1), done + 40 + 6, 0.05);
        assert_non_null(strstr(text_of(&L, "cue.reset.details", 0), "belly"));
        assert_non_null(strstr(text_of(&L, "cue.reset.details", 1), "heels"));
        /* the HRV said as what it means (higher: calmer), without the numbers */
        assert_int_equal(count_key(&L, "info.hrv"), 1);
        assert_non_null(strstr(text_of(&L, "info.hrv", 0), "calmer"));
        assert_null(strpbrk(text_of(&L, "info.hrv", 0), "0123456789"));
        /* the week's sessions: at the end, after the goodbye, not in a hold */
        assert_int_equal(count_key(&L, "info.consistency"), 1);
        assert_near(first_s(&L, "info.consistency"), done + 80, 0.05);
        assert_true(nth_key(&L, "info.consistency", 0) > nth_key(&L, "info.complete", 0));
        /* no pacing cue: the measured rate is about 6 a minute */
        assert_true(nth_s(&L, "cue.breathe", count_key(&L, "cue.breathe") - 1) < done);
        assert_non_null(end);
        assert_string_equal(end->reason, "complete");
        assert_near((double)end->t_ms / 1000.0, done + 80, 0.05);
        acts_free(&L);
}

/* What the HRV change is said as, from the strap's physics over the reset (the
 * demo's reset segment replaced): breathing at 9 a minute with the RSA scaled by
 * 13/9 (so the successive differences of the RSA wave stay those of 25 ms at 13 a
 * minute): about the same; a shallow RSA of 5 ms: lower, more tense. */
static void hrv_text(const char *segment, const char *want) {
        char *text = scenario_text("demo-lower-back"), *changed, *trace;
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;
        size_t len;

        changed = replace(text, "pulse 64 80 breath=6 rsa=70 ramp=30", segment);
        trace = simulate(changed, &len);
        L = replay_trace(trace, len, &r);
        assert_int_equal(count_key(&L, "info.hrv"), 1);
        if (!strstr(text_of(&L, "info.hrv", 0), want))
                fail_msg("%s: \"%s\", expected \"%s\"", segment, text_of(&L, "info.hrv", 0), want);
        acts_free(&L);
        free(trace);
        free(changed);
        free(text);
}

static void test_hrv_meaning(void **state) {
        (void)state;
        hrv_text("pulse 76 80 breath=9 rsa=36", "about the same");
        hrv_text("pulse 84 80 breath=9 rsa=5", "more tense");
}

/* The step cues in two parts: the short cue when the step starts, the details
 * 3 s after the user gets on the roller: the demo loads the roller (a 0.5-s
 * ramp; loaded at 20 N, in its first tenth) at 12, 60, 110, 152, 197, 244, 292,
 * 328 and 368 s, received up to a packet and a block later. The details are the
 * lowest priority (anything cuts them, the next step's cue above all) and never
 * come sooner than 7 s after the cue (at most ~6 s of speech, and a pause): a
 * user on the roller 1 s after it hears them at 7 s. A double press says the
 * running step's cue and details again. */
static void test_step_details(void **state) {
        static const double load_s[9] = {12, 60, 110, 152, 197, 244, 292, 328, 368};
        static const char scn[] = "# rollcoach-scenario 1\n"
                                  "seed 5\n"
                                  "roller r AA:BB:CC:00:00:52 load_cell=yes\n"
                                  "r: rest 1\n"
                                  "r: roll +2.5 dist=10 force=300\n" /* 1..5.1 */
                                  "r: hold 5\n"
                                  "r: press double\n" /* 10.1 */
                                  "r: hold 3\n";
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);
        const char *again;
        size_t len;
        char *trace;

        (void)state;
        assert_int_equal(count_key(&L, "cue.step.details"), 9);
        for (size_t i = 0; i < 9; i++) {
                double t = nth_s(&L, "cue.step.details", i);

                assert_true(t > nth_s(&L, "cue.step", i));
                assert_true(i == 8 || t < nth_s(&L, "cue.step", i + 1));
                assert_true(t >= load_s[i] + 3 && t <= load_s[i] + 3 + 0.4);
                assert_int_equal(nth_key(&L, "cue.step.details", i)->priority, RC_PRIORITY_INFO);
        }
        /* what moved out of the first cue is in the details */
        assert_non_null(strstr(text_of(&L, "cue.step.details", 0), "30 seconds"));
        assert_non_null(strstr(text_of(&L, "cue.step.details", 5), "Never roll below your ribs"));
        acts_free(&L);

        trace = simulate(scn, &len);
        L = replay_trace(trace, len, &r);
        assert_near(first_s(&L, "cue.step.details"), 7.0, 0.001);
        assert_int_equal(count_key(&L, "cue.step.again"), 1);
        assert_near(first_s(&L, "cue.step.again"), 10.1, 0.1);
        again = text_of(&L, "cue.step.again", 0);
        assert_non_null(strstr(again, text_of(&L, "cue.step", 0)));
        assert_non_null(strstr(again, text_of(&L, "cue.step.details", 0)));
        assert_int_equal(count_key(&L, "cue.step"), 1); /* the step did not move on */
        acts_free(&L);
        free(trace);
}

/* ---- the lumbar spine -------------------------------------------------------------------- */

/* lumbar-drift.scn, started at the thoracic step: back at the start at 18.7 s,
 * then 20 cm on toward the feet at 2.5 cm/s. safety.lumbar must come after the
 * start is passed and before the roller reaches the lumbar spine, 0.085 x height
 * below the start; for a taller user, later by the extra distance at 2.5 cm/s.
 * The control session (control-above-start.scn) never goes below the start. */
static double lumbar_time(double height_cm) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L;
        double t;

        r.profile.height_cm = height_cm;
        L = run_scenario("lumbar-drift", &r);
        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 18.7 && t < 18.7 + 0.085 * height_cm / 2.5);
        acts_free(&L);
        return t;
}

static void test_lumbar_drift(void **state) {
        double t170 = lumbar_time(170), t195 = lumbar_time(195), t150 = lumbar_time(150);

        (void)state;
        /* 3 cm footprint + 1.5 s x 2.5 cm/s ahead of 14.45 cm: 7.7 cm, at 21.8 s */
        assert_near(t170, 18.7 + (0.085 * 170 - 3 - 1.5 * 2.5) / 2.5, 0.5);
        /* 25 cm taller: 2.1 cm further, 0.85 s later; 20 cm shorter: 0.68 s earlier */
        assert_near(t195 - t170, 0.085 * 25 / 2.5, 0.3);
        assert_near(t170 - t150, 0.085 * 20 / 2.5, 0.3);
}

static void test_lumbar_control(void **state) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L = run_scenario("control-above-start", &r);
        const struct act *st[4] = {0};

        (void)state;
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        /* it was the thoracic step, ended by the press at 34.7 s */
        assert_int_equal(steps_of(&L, st, 4), 2);
        assert_string_equal(st[0]->step, "thoracic");
        assert_near((double)st[1]->t_ms / 1000.0, 34.7, 0.1);
        acts_free(&L);
        /* a short user too (the zone starts 12.8 cm below the start at 150 cm) */
        r.profile.height_cm = 150;
        L = run_scenario("control-above-start", &r);
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        acts_free(&L);
}

/* A free session (no steps): no lumbar rule on travel (the roller's place on the
 * spine is unknown), a reminder when the user lies back on a loaded roller. */
static void test_lumbar_free_session(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("lumbar-drift", &r);

        (void)state;
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        assert_int_equal(count_key(&L, "cue.back_position"), 1);
        /* supine from the start; the roller takes the load at 8 s */
        assert_near(first_s(&L, "cue.back_position"), 8.0, 0.6);
        acts_free(&L);
}

/* ---- speed -------------------------------------------------------------------------- */

static void test_slow_rolling_is_quiet(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("slow-rolling", &r);

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        assert_int_equal(count_key(&L, "warn.jerky"), 0);
        acts_free(&L);
}

/* The speed rule (plugins/warnings.lua): a pass (the motion between two
 * reversals) is fast at 2.5 x 2.54 = 6.35 cm/s or more, and fast passes adding
 * up to 2 s in one episode are warned. The scenarios below say what a person
 * did; the times are theirs. */
#define FAST_FOR_S 2.0

/* fast-rolling.scn: 15 cm/s from 6 s (loaded from about 6.05 s) for 30 cm, then
 * back and forth at 12-15 cm/s. Warned once 2 s of it have passed, within the 5 s
 * the coaching promises, and not again while the rolling stays fast (under
 * 30 s). */
static void test_fast_rolling_warns(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("fast-rolling", &r);
        double t = first_s(&L, "warn.too_fast");

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        assert_true(t >= 6.0 + FAST_FOR_S && t < 6.0 + 5.0);
        acts_free(&L);
}

/* short-fast-strokes.scn: seven 1-s strokes at 9 cm/s from 8 s, back and forth.
 * The 1-s mean speed hardly reaches 7.5 cm/s, but every pass is fast on its
 * own: warned within 5 s, after at least 2 s of it (one stroke is not enough). */
static void test_short_fast_strokes_warn(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("short-fast-strokes", &r);
        double t = first_s(&L, "warn.too_fast");

        (void)state;
        if (count_key(&L, "warn.too_fast") != 1)
                print_says(&L);
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        assert_true(t >= 8.0 + FAST_FOR_S && t <= 8.0 + 5.0);
        acts_free(&L);
}

/* long-fast-pass.scn: one 40-cm pass at 9 cm/s from 10 s (4.4 s long): warned
 * during it, 2 s in. */
static void test_long_fast_pass_warns(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("long-fast-pass", &r);
        double t = first_s(&L, "warn.too_fast");

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        assert_true(t >= 10.0 + FAST_FOR_S && t < 10.0 + 40.0 / 9.0);
        acts_free(&L);
}

/* slow-strokes.scn: about 3 minutes of strokes of 1 to 30 cm at 2.5, 3, 4 and
 * 5 cm/s (up to 2 x the goal): never warned, for speed or jerkiness. */
static void test_slow_strokes_quiet(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("slow-strokes", &r);

        (void)state;
        if (count_key(&L, "warn.too_fast") || count_key(&L, "warn.jerky"))
                print_says(&L);
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        assert_int_equal(count_key(&L, "warn.jerky"), 0);
        acts_free(&L);
}

/* quick-reversal.scn: one flick out and back at 9 cm/s (0.6 s each way) in slow
 * rolling: not warned. */
static void test_quick_reversal_quiet(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("quick-reversal", &r);

        (void)state;
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        acts_free(&L);
}

/* The trace with every host time divided by `k` (as a stand-in streaming it k
 * times faster delivers it): the roller's own clock, in its packets, is the same. */
static char *compress_host_time(const char *trace, size_t len, unsigned k, size_t *ret_len) {
        char *buf = NULL;
        FILE *f = open_memstream(&buf, ret_len);
        const char *p = trace, *end = trace + len;

        assert_non_null(f);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                char *rest;
                unsigned long long t = strtoull(p, &rest, 10);

                if (*p != '#' && rest > p && *rest == ',')
                        fprintf(f, "%llu%.*s", t / k, (int)(n - (size_t)(rest - p)), rest);
                else
                        fwrite(p, 1, n, f);
                p += n;
        }
        assert_int_equal(fclose(f), 0);
        return buf;
}

/* Speed is the roller's: a trace delivered 4 times faster (the hub's clock runs
 * 4 times faster than the roller's, as with `scripts/demo --speed 4`) is judged
 * the same: slow strokes are not warned, short fast strokes are, once. */
static void test_speed_on_the_rollers_clock(void **state) {
        static const char *const names[] = {"slow-strokes", "short-fast-strokes"};

        (void)state;
        for (size_t i = 0; i < 2; i++) {
                char *text = scenario_text(names[i]), *trace, *fast;
                struct run r = run_default(NULL, NULL);
                size_t len, flen;
                struct acts L;

                trace = simulate(text, &len);
                fast = compress_host_time(trace, len, 4, &flen);
                L = replay_trace(fast, flen, &r);
                if (count_key(&L, "warn.too_fast") != i)
                        print_says(&L);
                assert_int_equal(count_key(&L, "warn.too_fast"), i);
                acts_free(&L);
                free(fast);
                free(trace);
                free(text);
        }
}

/* A seeded property: random free sessions of slow stretches (passes at 1.5-5
 * cm/s of 0.3-8 s), holds, runs of fast passes (8.5-15 cm/s, 0.8-2.5 s each) and
 * quick flicks (two passes at 8.5-15 cm/s, 0.5-0.7 s each),
 * over a link that may lose 2 % and garble 5 % of the packets. The ground truth
 * is the scenario's own: a run of fast passes lasts the sum of its segments'
 * durations, and runs are at least 10 s apart (more than the rule's 3-s episode
 * gap and the hub's 8-s window in which the same message is not said again), so
 * each is judged on its own. Then:
 * - a run of 2.6 s or more is warned once, when 2 s of it have passed: within
 *   -0.5..+0.8 s (a block or two, a packet's arrival and, where the run begins
 *   with a change of pace rather than a reversal, the 0.5-s window that first
 *   sees it; over 400 seeds the spread was -0.17..+0.57 s);
 * - a run of 1.4 s or less is not warned;
 * - nothing is warned outside a run (the slow stretches and the holds).
 * Runs of 1.4-2.6 s may go either way (the margin of a pass's reversals). */
struct fast_run {
        double start, dur;
        double onset; /* when the rule can begin to see it: later at the first load */
};

static uint64_t prop_rng;
static double uniform(double lo, double hi) {
        prop_rng ^= prop_rng << 13;
        prop_rng ^= prop_rng >> 7;
        prop_rng ^= prop_rng << 17;
        return lo + (hi - lo) * (double)(prop_rng >> 11) / (double)(1ull << 53);
}

/* One random session: its scenario text (caller frees) and its fast runs. */
static char *random_session(uint64_t seed, struct fast_run *runs, size_t *ret_n) {
        char *buf = NULL;
        size_t len = 0, n = 0;
        FILE *f = open_memstream(&buf, &len);
        double t = 6, last_fast_end = -100;
        int sign = 1;
        bool first = true;

        assert_non_null(f);
        prop_rng = seed * 0x9E3779B97F4A7C15ull + 1;
        fprintf(f, "# rollcoach-scenario 1\nseed %llu\n", (unsigned long long)seed);
        fprintf(f, "roller r AA:BB:CC:00:01:%02X load_cell=yes loss=%.3f corrupt=%.3f\n",
                (unsigned)(seed & 0xff), uniform(0, 0.02), uniform(0, 0.05));
        fprintf(f, "r: rest 6\n");
        while (t < 120) {
                double kind = uniform(0, 1);

                if (kind < 0.4 || t - last_fast_end < 10) { /* slow passes */
                        int k = (int)uniform(1, 6);

                        for (int i = 0; i < k; i++) {
                                double v = uniform(1.5, 5), d = uniform(0.3, 8);

                                fprintf(f, "r: roll %+.2f %.2f%s\n", sign * v, d,
                                        first ? " force=300" : "");
                                first = false;
                                sign = -sign;
                                t += d;
                        }
                } else if (kind < 0.6) { /* a hold */
                        double d = uniform(3, 10);

                        fprintf(f, "r: hold %.2f%s\n", d, first ? " force=300" : "");
                        first = false;
                        t += d;
                } else { /* a run of fast passes, or a quick flick out and back */
                        bool flick = uniform(0, 1) < 0.3;
                        int k = flick ? 2 : (int)uniform(1, 5);
                        struct fast_run *fr = &runs[n++];

                        fr->start = t;
                        /* the load ramps in over 0.5 s (docs/scenario-format.md) */
                        fr->onset = first ? t + 0.5 : t;
                        fr->dur = 0;
                        for (int i = 0; i < k; i++) {
                                double v = uniform(8.5, 15),
                                       d = flick ? uniform(0.5, 0.7) : uniform(0.8, 2.5);

                                fprintf(f, "r: roll %+.2f %.2f%s\n", sign * v, d,
                                        first ? " force=300" : "");
                                first = false;
                                sign = -sign;
                                t += d;
                                fr->dur += d;
                        }
                        last_fast_end = t;
                }
        }
        fprintf(f, "r: hold 3\nr: rest 3\n");
        assert_int_equal(fclose(f), 0);
        *ret_n = n;
        return buf;
}

#ifndef PROP_SESSIONS
#define PROP_SESSIONS 24
#endif
static void test_speed_property(void **state) {
        unsigned warned_runs = 0, quiet_runs = 0;

        (void)state;
        for (uint64_t seed = 1; seed <= PROP_SESSIONS; seed++) {
                struct fast_run runs[64];
                size_t n_runs, len;
                char *text = random_session(seed, runs, &n_runs), *trace;
                struct run r = run_default(NULL, NULL);
                struct acts L;

                assert_true(n_runs < 64);
                trace = simulate(text, &len);
                L = replay_trace(trace, len, &r);
                for (size_t i = 0; i < count_key(&L, "warn.too_fast"); i++) {
                        double w = nth_s(&L, "warn.too_fast", i);
                        bool in_run = false;

                        for (size_t k = 0; k < n_runs; k++) {
                                const struct fast_run *fr = &runs[k];

                                if (fr->dur > 1.4 && w >= fr->start && w <= fr->start + fr->dur + 1)
                                        in_run = true;
                        }
                        if (!in_run) {
                                print_message("%s", text);
                                print_says(&L);
                                fail_msg("seed %llu: warn.too_fast at %.2f s outside every run",
                                         (unsigned long long)seed, w);
                        }
                }
                for (size_t k = 0; k < n_runs; k++) {
                        const struct fast_run *fr = &runs[k];
                        double lo = fr->start, hi = fr->start + fr->dur + 1;
                        size_t got = 0;
                        double at = -1;

                        for (size_t i = 0; i < count_key(&L, "warn.too_fast"); i++) {
                                double w = nth_s(&L, "warn.too_fast", i);

                                if (w >= lo && w <= hi) {
                                        got++;
                                        at = at < 0 ? w : at;
                                }
                        }
                        if (fr->dur >= FAST_FOR_S + 0.6) {
                                warned_runs++;
                                if (got != 1 || at < fr->start + FAST_FOR_S - 0.5 ||
                                    at > fr->onset + FAST_FOR_S + 0.8) {
                                        print_message("%s", text);
                                        print_says(&L);
                                        fail_msg("seed %llu: the run at %.2f s (%.2f s fast): %zu "
                                                 "warnings, the first at %.2f s",
                                                 (unsigned long long)seed, fr->start, fr->dur, got,
                                                 at);
                                }
                        } else if (fr->dur <= FAST_FOR_S - 0.6) {
                                quiet_runs++;
                                if (got) {
                                        print_message("%s", text);
                                        print_says(&L);
                                        fail_msg(
                                                "seed %llu: the run at %.2f s (%.2f s fast) warned "
                                                "at %.2f s",
                                                (unsigned long long)seed, fr->start, fr->dur, at);
                                }
                        }
                }
                acts_free(&L);
                free(trace);
                free(text);
        }
        /* the sessions did test both sides */
        print_message("speed property: %u runs warned, %u runs quiet\n", warned_runs, quiet_runs);
        assert_true(warned_runs >= 10);
        assert_true(quiet_runs >= 5);
}

/* ---- holds ---------------------------------------------------------------------------- */

/* hold-long.scn: the roller comes to rest at about 10.3 s under 300 N and stays
 * 100 s. cue.hold_target at 30 s of rest (40.3 s), warn.hold_long at 90 s
 * (100.3 s), each once; cue.breathe 10 s in (20.3 s), and again when the heart
 * rate has risen 10 bpm over its level at the start of the hold (70 -> 88 bpm
 * from 40 s over 10 s: 80 bpm at 45.6 s, seen in the mean of the last 5 readings
 * 2-3 s later). */
static void test_hold_cues(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("hold-long", &r);

        (void)state;
        assert_int_equal(count_key(&L, "cue.hold_target"), 1);
        assert_near(first_s(&L, "cue.hold_target"), 10.3 + 30, 0.3);
        assert_int_equal(count_key(&L, "warn.hold_long"), 1);
        assert_near(first_s(&L, "warn.hold_long"), 10.3 + 90, 0.3);
        assert_int_equal(count_key(&L, "cue.breathe"), 2);
        assert_near(first_s(&L, "cue.breathe"), 10.3 + 10, 0.3);
        assert_true(nth_s(&L, "cue.breathe", 1) > 45.6 && nth_s(&L, "cue.breathe", 1) < 52);
        acts_free(&L);
}

/* No target cue for a hold that ends before 30 s, or whose step the user has
 * moved on from: the demo's holds last 12-25 s, or 30 s with the press just
 * before the 30 s mark (glutes). */
static void test_short_hold_no_target(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_demo(&r);

        (void)state;
        assert_int_equal(count_key(&L, "cue.hold_target"), 0);
        acts_free(&L);
}

/* ---- pain stop ------------------------------------------------------------------------- */

/* pain-stop.scn: a long press at 20.9 s, 10 s into a glute hold, with the step
 * time, the hold target and a breathing cue pending and 20 s of data to come:
 * safety.pain_stop at the press with the stop light, the session ends there
 * (long_press) and nothing is said after it. */
static void test_pain_stop(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_scenario("pain-stop", &r);
        const struct act *stop = nth_key(&L, "safety.pain_stop", 0), *end = session_end_of(&L);
        bool led_stop = false;

        (void)state;
        assert_non_null(stop);
        assert_int_equal(count_key(&L, "safety.pain_stop"), 1);
        assert_near((double)stop->t_ms / 1000.0, 20.9, 0.1);
        assert_int_equal(stop->priority, RC_PRIORITY_SAFETY);
        for (size_t i = 0; i < L.n; i++) {
                const struct act *x = &L.a[i];

                if (x->kind == RC_ACTION_LED && x->led == RC_LED_STOP && x->t_ms == stop->t_ms)
                        led_stop = true;
                if (x > stop)
                        assert_true(x->kind != RC_ACTION_SAY && x->kind != RC_ACTION_STEP);
                if (x > stop && x->kind == RC_ACTION_LED)
                        assert_int_equal(x->led, RC_LED_STOP);
        }
        assert_true(led_stop);
        assert_non_null(end);
        assert_string_equal(end->reason, "long_press");
        assert_int_equal(end->t_ms, stop->t_ms);
        acts_free(&L);
}

/* ---- session length --------------------------------------------------------------------- */

/* long-free-session.scn: a beginner (10 minutes) in a 12-minute free session:
 * warn.session_long at 600 s, once; the jerky stretch (140..150 s) is warned;
 * nothing too fast (all rolling 2-3 cm/s, the jerky stretch averages 1 cm/s). */
static void test_session_long(void **state) {
        struct run r = run_default(NULL, NULL);
        struct acts L = run_scenario("long-free-session", &r);
        double t;

        (void)state;
        assert_int_equal(count_key(&L, "warn.session_long"), 1);
        assert_near(first_s(&L, "warn.session_long"), 600, 0.2);
        assert_int_equal(count_key(&L, "warn.jerky"), 1);
        t = first_s(&L, "warn.jerky");
        assert_true(t > 140 && t < 150);
        assert_int_equal(count_key(&L, "warn.too_fast"), 0);
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        acts_free(&L);
        /* a regular's 20 minutes, or the profile's own length */
        r.profile.level = RC_LEVEL_REGULAR;
        L = run_scenario("long-free-session", &r);
        assert_int_equal(count_key(&L, "warn.session_long"), 0);
        acts_free(&L);
        r.profile.session_minutes = 5;
        L = run_scenario("long-free-session", &r);
        assert_near(first_s(&L, "warn.session_long"), 300, 0.2);
        acts_free(&L);
}

/* ---- contraindications ------------------------------------------------------------------ */

static bool has_step(const struct acts *L, const char *id) {
        for (size_t i = 0; i < L->n; i++)
                if (L->a[i].kind == RC_ACTION_STEP && strcmp(L->a[i].step, id) == 0)
                        return true;
        return false;
}

/* Pregnancy: the clearance notice at the start; prone hip-flexor work left out
 * (lying face down presses on the belly); the upper back and calves softened;
 * what was adapted is said before the first step. */
static void test_clearance_pregnancy(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;
        const struct act *st[16] = {0};
        const char *step = NULL;
        unsigned cautions = 0;
        size_t n;

        (void)state;
        r.profile.conditions = RC_COND_PREGNANCY;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_near(first_s(&L, "safety.clearance"), 0, 0);
        assert_non_null(strstr(text_of(&L, "safety.clearance", 0), "pregnancy"));
        assert_int_equal(count_key(&L, "info.adapted"), 1);
        assert_non_null(strstr(text_of(&L, "info.adapted", 0), "hip flexors"));
        assert_false(has_step(&L, "hip_flexor_left"));
        assert_false(has_step(&L, "hip_flexor_right"));
        n = steps_of(&L, st, 16);
        assert_int_equal(n, 8); /* 7 steps and done */
        /* the first step after the notices; the steps say their cautions */
        assert_true((double)st[0]->t_ms / 1000.0 > first_s(&L, "info.adapted"));
        /* the cautions come first in the step's details */
        step = "";
        for (size_t i = 0; i < L.n; i++) {
                const struct act *x = &L.a[i];

                if (x->kind == RC_ACTION_STEP)
                        step = x->step;
                if (x->kind != RC_ACTION_SAY || strcmp(x->key, "cue.step.details") != 0)
                        continue;
                if (strcmp(step, "thoracic") == 0) {
                        assert_non_null(strstr(x->text, "dizzy"));
                        cautions++;
                }
                if (strcmp(step, "calves") == 0) {
                        assert_true(strncmp(x->text, "Light pressure only", 19) == 0);
                        cautions++;
                }
        }
        assert_int_equal(cautions, 2);
        acts_free(&L);
}

/* Osteoporosis: nothing with bone on the roller (no upper back, no lats): no
 * thoracic step, hence no lumbar warning either; a lighter pressure limit. */
static void test_clearance_osteoporosis(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;

        (void)state;
        r.profile.conditions = RC_COND_OSTEOPOROSIS;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_false(has_step(&L, "thoracic"));
        assert_false(has_step(&L, "lats_left"));
        assert_false(has_step(&L, "lats_right"));
        assert_true(has_step(&L, "glutes_left"));
        assert_true(has_step(&L, "done"));
        assert_int_equal(count_key(&L, "safety.lumbar"), 0);
        acts_free(&L);
}

/* Every condition: a notice naming all, the adapted routine, no errors. A recent
 * operation leaves only glutes, hamstrings and calves. */
static void test_clearance_all_conditions(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L;
        const char *text;

        (void)state;
        r.profile.conditions = (1u << RC_COND__COUNT) - 1;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        text = text_of(&L, "safety.clearance", 0);
        assert_non_null(strstr(text, "osteoporosis"));
        assert_non_null(strstr(text, "spinal stenosis"));
        assert_non_null(strstr(text, "recent back surgery"));
        assert_false(has_step(&L, "thoracic"));
        assert_false(has_step(&L, "hip_flexor_left"));
        assert_false(has_step(&L, "lats_right"));
        assert_true(has_step(&L, "hamstrings"));
        assert_true(has_step(&L, "calves"));
        acts_free(&L);
        /* and none: no notice */
        r.profile.conditions = 0;
        L = run_demo(&r);
        assert_int_equal(count_key(&L, "safety.clearance"), 0);
        assert_int_equal(count_key(&L, "info.adapted"), 0);
        acts_free(&L);
        /* a free session with a condition gets the notice too */
        r = run_default(NULL, NULL);
        r.profile.conditions = RC_COND_DISC_HERNIATION;
        L = run_scenario("slow-rolling", &r);
        assert_int_equal(count_key(&L, "safety.clearance"), 1);
        assert_int_equal(count_key(&L, "info.adapted"), 0);
        acts_free(&L);
}

/* ---- pressure ---------------------------------------------------------------------------- */

/* pressure.scn, seated on the glutes, 70 kg (687 N): a 340 N hold (0.49 of body
 * weight, the usual half) is fine; 650 N (0.95) from 34.2 s (ramping in over
 * 0.5 s) passes the glute limit of 0.75 x 687 = 515 N at about 34.5 s and is
 * warned 2 s later. A 100 kg user (981 N) sitting with 650 N is at 0.66: fine. */
static void check_pressure(const char *routine, const char *step) {
        struct run r = run_default(routine, step);
        struct acts L = run_scenario("pressure", &r);
        double t = first_s(&L, "warn.pressure");

        assert_int_equal(count_key(&L, "warn.pressure"), 1);
        assert_true(t > 34.5 + 1.5 && t < 34.5 + 3.0);
        acts_free(&L);
        r.profile.weight_kg = 100;
        L = run_scenario("pressure", &r);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        acts_free(&L);
}

static void test_pressure(void **state) {
        (void)state;
        check_pressure(NULL, NULL);                         /* free: seated posture */
        check_pressure("lower-back-relief", "glutes_left"); /* the glute step */
}

/* ---- a bad link ------------------------------------------------------------------------- */

/* The demo and the long hold with 5 % of the roller's notifications malformed and
 * 2 % lost (the strap's too): the same keys, the same steps, about the same
 * times (a lost packet delays a threshold by a block or two). */
static void same_keys(const struct acts *a, const struct acts *b, const char *key, double tol) {
        assert_int_equal(count_key(a, key), count_key(b, key));
        for (size_t i = 0; i < count_key(a, key); i++)
                assert_near((double)nth_key(a, key, i)->t_ms / 1000.0,
                            (double)nth_key(b, key, i)->t_ms / 1000.0, tol);
}

static void test_bad_link_same_results(void **state) {
        static const char *const keys[] = {"cue.step",       "warn.too_fast", "safety.lumbar",
                                           "warn.pressure",  "warn.jerky",    "cue.hold_target",
                                           "warn.hold_long", "info.complete"};
        struct run r = run_default("lower-back-relief", NULL);
        char *text = scenario_text("demo-lower-back"), *lossy, *lossy2, *trace;
        struct acts clean, bad;
        const struct act *s1[16] = {0}, *s2[16] = {0};
        size_t n1, n2, len;

        (void)state;
        lossy = replace(text, "loss=0.01 corrupt=0.002", "loss=0.02 corrupt=0.05");
        lossy2 = replace(lossy, "loss=0.01 corrupt=0.003", "loss=0.02 corrupt=0.05");
        trace = simulate(lossy2, &len);
        clean = run_demo(&r);
        bad = replay_trace(trace, len, &r);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                same_keys(&clean, &bad, keys[i], 1.0);
        n1 = steps_of(&clean, s1, 16);
        n2 = steps_of(&bad, s2, 16);
        assert_int_equal(n1, n2);
        for (size_t i = 0; i < n1; i++) {
                assert_string_equal(s1[i]->step, s2[i]->step);
                assert_near((double)s1[i]->t_ms, (double)s2[i]->t_ms, 100);
        }
        acts_free(&clean);
        acts_free(&bad);
        free(trace);
        free(lossy2);
        free(lossy);
        free(text);

        /* the hold cues, from since_ms: the same within a block or two */
        text = scenario_text("hold-long");
        lossy = replace(text, "load_cell=yes", "load_cell=yes loss=0.02 corrupt=0.05");
        lossy2 = replace(lossy, "rsa=20", "rsa=20 loss=0.02 corrupt=0.05");
        r = run_default(NULL, NULL);
        clean = run_scenario("hold-long", &r);
        trace = simulate(lossy2, &len);
        bad = replay_trace(trace, len, &r);
        same_keys(&clean, &bad, "cue.hold_target", 0.3);
        same_keys(&clean, &bad, "warn.hold_long", 0.3);
        acts_free(&clean);
        acts_free(&bad);
        free(trace);
        free(lossy2);
        free(lossy);
        free(text);
}

/* ---- determinism ------------------------------------------------------------------------ */

static void test_replays_identical(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts a = run_demo(&r), b = run_demo(&r);
        char *da = acts_dump(&a), *db = acts_dump(&b);

        (void)state;
        assert_true(a.n > 50);
        assert_string_equal(da, db);
        free(da);
        free(db);
        acts_free(&a);
        acts_free(&b);
}

/* ---- where the routine starts, and its step time ---------------------------------------- */

/* --step thoracic on the demo trace: the routine starts there; the presses then
 * advance from it (lats_left at the first press, 54.5 s). */
static void test_step_option(void **state) {
        struct run r = run_default("lower-back-relief", "thoracic");
        struct acts L = run_demo(&r);
        const struct act *st[16] = {0};
        size_t n = steps_of(&L, st, 16);
        struct rc_engine_opts eo = {.dirs = {PLUGIN_DIR}, .n_dirs = 1};
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_engine *e;

        (void)state;
        assert_true(n >= 2);
        assert_string_equal(st[0]->step, "thoracic");
        assert_int_equal(st[0]->t_ms, 0);
        assert_string_equal(st[1]->step, "lats_left");
        assert_near((double)st[1]->t_ms / 1000.0, demo_press_s[0], 0.1);
        acts_free(&L);

        /* a step the adaptation leaves out begins at the next one kept */
        r = run_default("lower-back-relief", "hip_flexor_left");
        r.profile.conditions = RC_COND_PREGNANCY;
        L = run_demo(&r);
        n = steps_of(&L, st, 16);
        assert_true(n >= 1);
        assert_string_equal(st[0]->step, "hamstrings");
        acts_free(&L);

        /* an unknown routine or step is refused */
        assert_non_null(s);
        eo.profile = profile_default();
        assert_int_equal(rc_engine_new(&eo, &e), 0);
        assert_true(rc_engine_load_all(e) >= 4);
        rc_session_init(s);
        assert_int_equal(rc_engine_attach(e, s, "no-such-routine", NULL), -ENOENT);
        assert_int_equal(rc_engine_attach(e, s, "lower-back-relief", "no_such_step"), -ENOENT);
        rc_engine_free(e);
        free(s);
}

/* Without presses a step lasts its time on the roller: 45 s for a beginner, 75 s
 * for a regular, from when the user gets on the roller. long-free-session.scn has
 * no presses and loads the roller at 10 s: the second step begins at 55 s, or at
 * 85 s for a regular. */
static void test_step_time(void **state) {
        struct run r = run_default("lower-back-relief", NULL);
        struct acts L = run_scenario("long-free-session", &r);
        const struct act *st[16] = {0};
        size_t n = steps_of(&L, st, 16);

        (void)state;
        assert_true(n >= 3);
        assert_string_equal(st[1]->step, "glutes_right");
        assert_near((double)st[1]->t_ms / 1000.0, 10 + 45, 0.5);
        acts_free(&L);
        r.profile.level = RC_LEVEL_REGULAR;
        L = run_scenario("long-free-session", &r);
        n = steps_of(&L, st, 16);
        assert_true(n >= 2);
        assert_near((double)st[1]->t_ms / 1000.0, 10 + 75, 0.5);
        acts_free(&L);
}

/* A press just after the step's time moved on (the user pressing to finish the
 * step that just ended) does not skip the new step; a later one moves on. The
 * roller is loaded from 4 s (ramping in over 0.5 s): glutes_right at about 49 s
 * by time, the press at 50.1 s is taken as agreeing, the press at 60.1 s moves
 * on to hip_flexor_left. */
static void test_press_after_timed_step(void **state) {
        static const char scn[] = "# rollcoach-scenario 1\n"
                                  "seed 9\n"
                                  "roller r AA:BB:CC:00:00:51 load_cell=yes\n"
                                  "r: rest 4\n"
                                  "r: roll +2.5 dist=10 force=300\n" /* 4..8.1 */
                                  "r: hold 42\n"                     /* 8.1..50.1 */
                                  "r: press short\n"                 /* 50.1 */
                                  "r: hold 10\n"
                                  "r: press short\n" /* 60.1 */
                                  "r: rest 2\n";
        struct run r = run_default("lower-back-relief", NULL);
        const struct act *st[8] = {0};
        size_t len, n;
        char *trace = simulate(scn, &len);
        struct acts L = replay_trace(trace, len, &r);

        (void)state;
        n = steps_of(&L, st, 8);
        assert_int_equal(n, 3);
        assert_string_equal(st[1]->step, "glutes_right");
        assert_near((double)st[1]->t_ms / 1000.0, 4.1 + 45, 0.3);
        assert_string_equal(st[2]->step, "hip_flexor_left");
        assert_near((double)st[2]->t_ms / 1000.0, 60.1, 0.1);
        acts_free(&L);
        free(trace);
}

/* Without a load cell the routine cannot see when the user gets on the roller:
 * a step's time runs from 20 s after its cue, so the demo's presses still lead;
 * the warnings come from speed and travel alone, at the same moments (the travel
 * reference stays where the roller was at the press, so the lumbar warning may
 * come a little later: the lift to the mid-back adds ~1.4 cm). */
static void test_demo_without_load_cell(void **state) {
        char *text = scenario_text("demo-lower-back"), *noload, *trace;
        struct run r = run_default("lower-back-relief", NULL);
        const struct act *st[16] = {0};
        struct acts L;
        size_t len, n;
        double t;

        (void)state;
        noload = replace(text, "load_cell=yes", "load_cell=no");
        trace = simulate(noload, &len);
        L = replay_trace(trace, len, &r);
        n = steps_of(&L, st, 16);
        assert_int_equal(n, 10);
        for (size_t i = 1; i < 10; i++)
                assert_near((double)st[i]->t_ms / 1000.0, demo_press_s[i - 1], 0.1);
        assert_int_equal(count_key(&L, "warn.too_fast"), 1);
        t = first_s(&L, "warn.too_fast");
        assert_true(t > 205.3 + 0.5 && t < 207.8);
        assert_int_equal(count_key(&L, "safety.lumbar"), 1);
        t = first_s(&L, "safety.lumbar");
        assert_true(t > 254.7 && t < 260.5);
        assert_int_equal(count_key(&L, "warn.pressure"), 0);
        /* no load to wait for: each step's details 10 s after its cue; the first
         * once a motion event has shown there is no load cell (the roller first
         * moves at 12 s) */
        assert_int_equal(count_key(&L, "cue.step.details"), 9);
        t = first_s(&L, "cue.step.details");
        assert_true(t >= 12 && t <= 12.3);
        for (size_t i = 1; i < 9; i++)
                assert_near(nth_s(&L, "cue.step.details", i), nth_s(&L, "cue.step", i) + 10, 0.001);
        acts_free(&L);
        free(trace);
        free(noload);
        free(text);
}

/* ---- the week's sessions ------------------------------------------------------------------- */

/* With a history kept (state_dir), each session counts the sessions of the last
 * 7 days: the 1st (no history) only says the 3-5 goal; the 2nd says 2 and the
 * goal; the 4th is on target; the 7th is more than enough. */
static void test_consistency(void **state) {
        char dir[] = "/tmp/rc-plugins-XXXXXX", cmd[64];
        const char *want[7] = {"Aim for three to five",
                               "session 2",
                               "session 3",
                               "session 4 this week. Right on target",
                               "session 5 this week. Right on target",
                               "session 6",
                               "session 7"};
        char *text = scenario_text("slow-rolling"), *trace;
        size_t len;

        (void)state;
        assert_non_null(mkdtemp(dir));
        trace = simulate(text, &len);
        for (int i = 0; i < 7; i++) {
                struct run r = run_default(NULL, NULL);
                struct acts L;

                r.state_dir = dir;
                r.wall_start_s = 1760000000 + (int64_t)i * 20000; /* 7 sessions in 2 days */
                L = replay_trace(trace, len, &r);
                assert_int_equal(count_key(&L, "info.consistency"), 1);
                if (!strstr(text_of(&L, "info.consistency", 0), want[i]))
                        fail_msg("session %d: \"%s\"", i + 1, text_of(&L, "info.consistency", 0));
                acts_free(&L);
        }
        free(trace);
        free(text);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

/* ---- the example in docs/plugins.md ----------------------------------------------------- */

/* The guide's example plugin, taken from the page as printed (the ```lua block
 * after the "example-plugin" marker), loaded beside the shipped ones and run
 * over hold-long.scn: its cue 20 s after the roller came to rest (10.3 s). */
static void test_docs_example(void **state) {
        char *doc = read_file(RC_SOURCE_DIR "/docs/plugins.md", NULL);
        char dir[] = "/tmp/rc-example-XXXXXX", path[128], cmd[64];
        const char *m = strstr(doc, "<!-- example-plugin"), *a, *b;
        struct run r = run_default(NULL, NULL);
        struct acts L;
        FILE *f;

        (void)state;
        assert_non_null(m);
        a = strstr(m, "```lua\n");
        assert_non_null(a);
        a += 7;
        b = strstr(a, "```");
        assert_non_null(b);
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/hold-twenty.lua", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fwrite(a, 1, (size_t)(b - a), f);
        fclose(f);
        r.extra_dir = dir;
        L = run_scenario("hold-long", &r);
        assert_int_equal(L.plugins_loaded, 5);
        assert_int_equal(count_key(&L, "cue.example.twenty"), 1);
        assert_near(first_s(&L, "cue.example.twenty"), 10.3 + 20, 0.3);
        acts_free(&L);
        free(doc);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_plugins_load),
                cmocka_unit_test(test_demo_steps_follow_presses),
                cmocka_unit_test(test_demo_warnings),
                cmocka_unit_test(test_demo_breathing_reset),
                cmocka_unit_test(test_hrv_meaning),
                cmocka_unit_test(test_step_details),
                cmocka_unit_test(test_lumbar_drift),
                cmocka_unit_test(test_lumbar_control),
                cmocka_unit_test(test_lumbar_free_session),
                cmocka_unit_test(test_slow_rolling_is_quiet),
                cmocka_unit_test(test_fast_rolling_warns),
                cmocka_unit_test(test_short_fast_strokes_warn),
                cmocka_unit_test(test_long_fast_pass_warns),
                cmocka_unit_test(test_slow_strokes_quiet),
                cmocka_unit_test(test_quick_reversal_quiet),
                cmocka_unit_test(test_speed_on_the_rollers_clock),
                cmocka_unit_test(test_speed_property),
                cmocka_unit_test(test_hold_cues),
                cmocka_unit_test(test_short_hold_no_target),
                cmocka_unit_test(test_pain_stop),
                cmocka_unit_test(test_session_long),
                cmocka_unit_test(test_clearance_pregnancy),
                cmocka_unit_test(test_clearance_osteoporosis),
                cmocka_unit_test(test_clearance_all_conditions),
                cmocka_unit_test(test_pressure),
                cmocka_unit_test(test_bad_link_same_results),
                cmocka_unit_test(test_replays_identical),
                cmocka_unit_test(test_step_option),
                cmocka_unit_test(test_step_time),
                cmocka_unit_test(test_press_after_timed_step),
                cmocka_unit_test(test_demo_without_load_cell),
                cmocka_unit_test(test_consistency),
                cmocka_unit_test(test_docs_example),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
