/* The breathing rate (core/analysis/hr.c) against the estimate it replaced.
 *
 * rc_hr_breath_rate used to evaluate the power spectrum by a direct DFT at every
 * 0.1 breaths/min of 4..30 (261 frequencies); it now reads it from one
 * zero-padded real FFT (bins of 0.1171875 /min). That direct DFT is kept here,
 * as it was, as the reference (ref_breath_rate, on the same state: the function
 * is a pure function of the accepted beats). Over many seeded synthetic RR
 * series — breathing at 4..30 /min, heart rates 50..100, respiratory sinus
 * arrhythmia from none to 50 ms, 2..30 ms of noise, missed beats and ectopic
 * pairs, some with a change of rate — every event is compared with the reference
 * on the same state:
 * - where both give a rate, they agree within 1 breath/min (issue 11's bound),
 *   and in fact within 0.05 /min, half the old grid's step: both refine the same
 *   spectral peak, sampled 8..16 times across its 1/T half-width, by the same
 *   parabola on the log power, so they differ by far less than a bin (a one-bin
 *   slip, 0.117 /min, fails);
 * - where one gives NaN and the other does not, the reference's decision was
 *   close: its peak's share of the band power within 0.05 of the 0.6 threshold,
 *   or its peak within 0.25 /min of the band's edges (4 and 30 /min; the two
 *   grids put their edge bins at 4.0 / 4.1 /min), and such events are at most 2 %
 *   of the compared events (the count is printed).
 * The ground truth (the breathing rate the series was made with) is printed as a
 * figure for both estimates; the physics tests are in test_hr.c. */
#include "rc_test.h"

#include "analysis/hr.h"

/* ---- the reference: the direct DFT, as hr.c had it ------------------------------ */

#define REF_LO_BPM 4.0
#define REF_STEP_BPM 0.1
#define REF_NF 261
#define REF_NMAX (RC_HR_RESP_WINDOW_S * RC_HR_RESP_FS_HZ)
#define REF_LOBE 1.0
#define REF_MIN_SHARE 0.6

static unsigned ref_beat_index(const struct rc_hr_state *s, unsigned i) {
        return (s->ring_head + RC_HR_RING - s->ring_n + i) % RC_HR_RING;
}

static double ref_power_at(const double *x, unsigned n, double f) {
        double c = cos(2.0 * M_PI * f), sn = -sin(2.0 * M_PI * f);
        double pr = 1.0, pi = 0.0, re = 0.0, im = 0.0;

        for (unsigned k = 0; k < n; k++) {
                double t;

                re += x[k] * pr;
                im += x[k] * pi;
                t = pr * c - pi * sn;
                pi = pr * sn + pi * c;
                pr = t;
        }
        return re * re + im * im;
}

/* The old rc_hr_breath_rate; *share and *peak_bpm tell how its decision was made
 * (NaN when it stopped before the spectrum). */
static double ref_breath_rate(const struct rc_hr_state *s, double *share, double *peak_bpm) {
        const double dt_ms = 1000.0 / RC_HR_RESP_FS_HZ;
        double from = s->beat_clock_ms - RC_HR_RESP_WINDOW_S * 1000.0;
        double x[REF_NMAX], p[REF_NF];
        unsigned first, n_beats, n;
        double clean_ms = 0.0;

        *share = *peak_bpm = NAN;
        if ((s->tot.n_accepted ? s->now_ms - s->last_accept_rx_ms : INT64_MAX) > RC_HR_STALE_MS)
                return NAN;
        first = s->ring_n;
        while (first > 0 && s->ring[ref_beat_index(s, first - 1)].t_ms > from)
                first--;
        n_beats = s->ring_n - first;
        if (n_beats < 2)
                return NAN;
        for (unsigned i = first; i < s->ring_n; i++)
                clean_ms += s->ring[ref_beat_index(s, i)].rr_ms;
        if (clean_ms < RC_HR_RESP_MIN_S * 1000.0)
                return NAN;

        const struct rc_hr_beat *b0 = &s->ring[ref_beat_index(s, first)];
        const struct rc_hr_beat *bl = &s->ring[ref_beat_index(s, s->ring_n - 1)];
        double span = bl->t_ms - b0->t_ms;

        n = (unsigned)floor(span / dt_ms) + 1;
        if (n > REF_NMAX)
                n = REF_NMAX;
        double t0 = bl->t_ms - (n - 1) * dt_ms;
        unsigned j = first;

        for (unsigned k = 0; k < n; k++) {
                double t = t0 + k * dt_ms;

                while (j + 2 < s->ring_n && s->ring[ref_beat_index(s, j + 1)].t_ms < t)
                        j++;
                const struct rc_hr_beat *a = &s->ring[ref_beat_index(s, j)];
                const struct rc_hr_beat *c = &s->ring[ref_beat_index(s, j + 1)];
                double u = (t - a->t_ms) / (c->t_ms - a->t_ms);

                x[k] = a->rr_ms + (c->rr_ms - a->rr_ms) * fmin(fmax(u, 0.0), 1.0);
        }

        double mid = 0.5 * (n - 1), mean = 0.0, sxy = 0.0, sxx = 0.0;

        for (unsigned k = 0; k < n; k++)
                mean += x[k];
        mean /= n;
        for (unsigned k = 0; k < n; k++) {
                sxy += (k - mid) * (x[k] - mean);
                sxx += (k - mid) * (k - mid);
        }
        double slope = sxy / sxx;

        for (unsigned k = 0; k < n; k++) {
                double w = 0.5 - 0.5 * cos(2.0 * M_PI * k / (n - 1));

                x[k] = (x[k] - mean - slope * (k - mid)) * w;
        }

        const double fs_per_bpm = 1.0 / (60.0 * RC_HR_RESP_FS_HZ);
        unsigned kp = 0;
        double total = 0.0;

        for (unsigned i = 0; i < REF_NF; i++) {
                p[i] = ref_power_at(x, n, (REF_LO_BPM + i * REF_STEP_BPM) * fs_per_bpm);
                total += p[i];
                if (p[i] > p[kp])
                        kp = i;
        }
        *peak_bpm = REF_LO_BPM + kp * REF_STEP_BPM;
        if (kp == 0 || kp == REF_NF - 1 || !(p[kp] > 0.0))
                return NAN;

        double lobe_bpm = REF_LOBE * 60.0 * RC_HR_RESP_FS_HZ / n;
        double in_lobe = 0.0;

        for (unsigned i = 0; i < REF_NF; i++)
                if (fabs((double)i - kp) * REF_STEP_BPM <= lobe_bpm)
                        in_lobe += p[i];
        *share = in_lobe / total;
        if (in_lobe < REF_MIN_SHARE * total)
                return NAN;

        double la = log(fmax(p[kp - 1], 1e-300)), lb = log(p[kp]),
               lc = log(fmax(p[kp + 1], 1e-300));
        double den = la - 2.0 * lb + lc, delta = 0.0;

        if (den < 0.0)
                delta = 0.5 * (la - lc) / den;
        return REF_LO_BPM + (kp + delta) * REF_STEP_BPM;
}

/* ---- synthetic RR series ----------------------------------------------------------- */

/* Seeded noise: a 64-bit LCG (Knuth's MMIX constants) and Box-Muller. */
static uint64_t rng_state;
static double urand(void) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) {
        return sqrt(-2.0 * log(urand())) * cos(2.0 * M_PI * urand());
}

#define N_SERIES 100
#define SERIES_S 120
#define FROM_S 40 /* RC_HR_RESP_MIN_S: no rate before */

struct tally {
        unsigned compared, both, ref_only, new_only, both_nan;
        unsigned near_threshold, near_edge;
        double max_diff;
        unsigned truth_n, truth_ref_ok, truth_new_ok; /* events with one known rate */
};

/* Feed one packet carrying n RR intervals (ticks) at session time t_ms and
 * compare the event's breathing rate with the reference on the same state. */
static void send(struct rc_hr_state *s, int64_t t_ms, const uint16_t *rr, unsigned n, double truth,
                 struct tally *ty) {
        uint8_t b[2 + 2 * 16];
        struct rc_hr_measurement m = {.flags = n ? 0x16 : 0x06,
                                      .bpm = 70,
                                      .contact = RC_CONTACT_OK,
                                      .n_rr = n,
                                      .rr_bytes = b + 2};
        struct rc_event ev;

        for (unsigned i = 0; i < n; i++)
                rc_test_put16(b + 2 + 2 * i, rr[i]);
        if (rc_hr_feed(s, t_ms, &m, &ev) != 1 || t_ms < FROM_S * 1000)
                return;

        double share, peak, want = ref_breath_rate(s, &share, &peak), got = ev.hr.breath_rate;

        ty->compared++;
        if (isnan(want) && isnan(got)) {
                ty->both_nan++;
        } else if (!isnan(want) && !isnan(got)) {
                ty->both++;
                ty->max_diff = fmax(ty->max_diff, fabs(got - want));
                if (!(fabs(got - want) <= 1.0))
                        fail_msg("t %lld ms: breath rate %.3f, the direct DFT's %.3f",
                                 (long long)t_ms, got, want);
        } else {
                bool near_threshold = fabs(share - REF_MIN_SHARE) <= 0.05;
                bool near_edge = fabs(peak - 4.0) <= 0.25 || fabs(peak - 30.0) <= 0.25;

                if (isnan(got))
                        ty->ref_only++;
                else
                        ty->new_only++;
                ty->near_threshold += near_threshold;
                ty->near_edge += near_edge && !near_threshold;
                if (!near_threshold && !near_edge)
                        fail_msg("t %lld ms: breath rate %.3f, the direct DFT's %.3f (its peak "
                                 "%.1f /min with %.3f of the power): far from its thresholds",
                                 (long long)t_ms, got, want, peak, share);
        }
        if (!isnan(truth)) {
                ty->truth_n++;
                ty->truth_ref_ok += fabs(want - truth) <= 1.0;
                ty->truth_new_ok += fabs(got - truth) <= 1.0;
        }
}

/* One series: RR = 60000/HR + A sin(breathing phase) + noise, one packet a second
 * with the beats that ended in it; artifacts: a missed beat (the interval doubled)
 * or an ectopic pair (0.7, 1.3); in a third of the series the breathing rate
 * changes half-way. truth is the rate while the whole 64 s window has had it. */
static void run_series(unsigned seed, struct tally *ty) {
        static struct rc_hr_state s;
        double f1 = 4.0 + 26.0 * urand(), f2 = urand() < 1.0 / 3 ? 4.0 + 26.0 * urand() : f1;
        double hr = 50.0 + 50.0 * urand(), amp = urand() < 0.15 ? 0.0 : 5.0 + 45.0 * urand();
        double noise = 2.0 + 28.0 * urand(), p_art = 0.03 * urand();
        double beat_ms = 0.0, phase = 0.0, change_ms = SERIES_S * 500.0;
        int64_t next_ms = 1000;
        uint16_t pend[16];
        unsigned n_pend = 0;
        bool ectopic_next = false;

        (void)seed;
        rc_hr_init(&s);
        while (beat_ms < SERIES_S * 1000.0) {
                double f = beat_ms < change_ms ? f1 : f2;
                double base = 60000.0 / hr + amp * sin(phase) + noise * gauss();
                double ms = base;
                double u = urand();

                if (ectopic_next) {
                        ms = 1.3 * base;
                        ectopic_next = false;
                } else if (u < p_art / 2) {
                        ms = 2.0 * base;
                } else if (u < p_art) {
                        ms = 0.7 * base;
                        ectopic_next = true;
                }
                uint16_t t = (uint16_t)lround(ms * 1.024);

                phase += 2.0 * M_PI * f / 60.0 * (t / 1024.0);
                beat_ms += t * 1000.0 / 1024.0;
                while ((double)next_ms < beat_ms) {
                        double truth = NAN;

                        if (next_ms < change_ms)
                                truth = f1;
                        else if (next_ms > change_ms + (RC_HR_RESP_WINDOW_S + 2) * 1000.0)
                                truth = f2;
                        send(&s, next_ms, pend, n_pend, truth, ty);
                        n_pend = 0;
                        next_ms += 1000;
                }
                assert_true(n_pend < 16);
                pend[n_pend++] = t;
        }
}

static void test_fft_against_direct_dft(void **unused) {
        struct tally ty = {0};

        (void)unused;
        for (unsigned seed = 1; seed <= N_SERIES; seed++) {
                rng_state = seed * 7919u;
                run_series(seed, &ty);
        }
        unsigned differ = ty.ref_only + ty.new_only;

        print_message("%u series, %u events compared: both a rate %u (max difference %.3f /min), "
                      "both NaN %u; NaN in one only %u (%u only the direct DFT's rate, %u only "
                      "the FFT's; %u near the share threshold, %u near the band's edge)\n",
                      N_SERIES, ty.compared, ty.both, ty.max_diff, ty.both_nan, differ, ty.ref_only,
                      ty.new_only, ty.near_threshold, ty.near_edge);
        print_message("against the series' own rate (%u events): within 1 /min: direct DFT %u, "
                      "FFT %u\n",
                      ty.truth_n, ty.truth_ref_ok, ty.truth_new_ok);
        assert_true(ty.compared >= N_SERIES * (SERIES_S - FROM_S) * 9 / 10);
        /* both kinds of outcome occur, or the comparison shows little */
        assert_true(ty.both >= ty.compared / 10 && ty.both_nan >= ty.compared / 10);
        assert_true(differ * 50 <= ty.compared);
        assert_true(ty.max_diff <= 0.05);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fft_against_direct_dft),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
