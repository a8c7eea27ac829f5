/* rollcoach — heart-rate analysis for one strap. Contract: hr.h. */
#include "analysis/hr.h"

#include <math.h>
#include <string.h>
#include <threads.h>

/* ---- Breathing-rate spectrum --------------------------------------------------
 *
 * The power of the detrended, Hann-windowed 4 Hz series (at most 256 samples) is
 * read from one real FFT of the series zero-padded to RESP_FFT_N samples: a grid
 * of 60 * fs / RESP_FFT_N = 0.1171875 breaths/min, the bins RESP_K_LO..RESP_K_HI
 * (4.10..30.00 /min) being the band. Computed as a complex FFT of RESP_FFT_N / 2
 * points (even and odd samples as real and imaginary parts) and the usual split
 * of its output; about 3 600 butterflies a call. (It replaced a direct DFT at
 * every 0.1 /min of 4..30: 261 x 256 complex multiply-adds, ~140 us a call.) */
#define RESP_FFT_N 2048
#define RESP_FFT_H (RESP_FFT_N / 2)
#define RESP_BPM_PER_BIN (60.0 * RC_HR_RESP_FS_HZ / RESP_FFT_N)
#define RESP_K_LO 35  /* the first bin >= 4 /min: 35 x 0.1171875 = 4.10 */
#define RESP_K_HI 256 /* the last bin <= 30 /min: 256 x 0.1171875 = 30.00 */
#define RESP_NMAX (RC_HR_RESP_WINDOW_S * RC_HR_RESP_FS_HZ)
_Static_assert(RESP_NMAX <= RESP_FFT_N, "the window fits the transform");
_Static_assert((RESP_K_LO - 1) * 60 * RC_HR_RESP_FS_HZ < 4 * RESP_FFT_N &&
                       RESP_K_LO * 60 * RC_HR_RESP_FS_HZ >= 4 * RESP_FFT_N,
               "RESP_K_LO is the first bin at or above 4 /min");
_Static_assert(RESP_K_HI * 60 * RC_HR_RESP_FS_HZ <= 30 * RESP_FFT_N &&
                       (RESP_K_HI + 1) * 60 * RC_HR_RESP_FS_HZ > 30 * RESP_FFT_N,
               "RESP_K_HI is the last bin at or below 30 /min");
/* Dominance: the power within RESP_LOBE/T of the peak (T the analysed span; the
 * Hann main lobe reaches 2/T, its half-amplitude points are at 1/T) must be at
 * least RESP_MIN_SHARE of the whole 4..30 /min power. Sized on synthetic RR
 * (22 000 windows of 64 s, 1000 seeds): white RR noise gives a share of 0.24
 * median, 0.52 at the 99.9th percentile, 0.60 at most; a 30 ms respiratory sine
 * with 5 ms of noise gives 0.87..0.93 (measured on the former 0.1 /min grid;
 * test_hr_breath compares the two). */
#define RESP_LOBE 1.0
#define RESP_MIN_SHARE 0.6

#define RMSSD_RESUM_EVERY RC_HR_RING /* recompute the window's running sum */

static const double TICK_MS = 1000.0 / 1024.0;

static double median_small(const double *v, unsigned n) {
        double a[RC_HR_MEDIAN_N];

        for (unsigned i = 0; i < n; i++) {
                unsigned j = i;

                for (; j > 0 && a[j - 1] > v[i]; j--)
                        a[j] = a[j - 1];
                a[j] = v[i];
        }
        return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

/* The ring index of the i-th oldest accepted beat (0 = oldest). */
static unsigned beat_index(const struct rc_hr_state *s, unsigned i) {
        return (s->ring_head + RC_HR_RING - s->ring_n + i) % RC_HR_RING;
}

static void diff_resum(struct rc_hr_state *s) {
        double sum = 0.0;

        for (unsigned i = 0; i < s->diff_n; i++)
                sum += s->diffs[(s->diff_head + RC_HR_RING - s->diff_n + i) % RC_HR_RING].d2;
        s->diff_sum2 = sum;
}

/* Drop successive differences older than the RMSSD window (beat time). */
static void diff_expire(struct rc_hr_state *s) {
        double from = s->beat_clock_ms - RC_HR_RMSSD_WINDOW_MS;
        bool dropped = false;

        while (s->diff_n > 0) {
                unsigned oldest = (s->diff_head + RC_HR_RING - s->diff_n) % RC_HR_RING;

                if (s->diffs[oldest].t_ms > from)
                        break;
                s->diff_sum2 -= s->diffs[oldest].d2;
                s->diff_n--;
                dropped = true;
        }
        if (dropped && s->diff_n == 0)
                s->diff_sum2 = 0.0;
}

static void diff_push(struct rc_hr_state *s, double t_ms, double d2) {
        if (s->diff_n == RC_HR_RING) { /* cannot happen with RR >= 300 ms; stay bounded */
                unsigned oldest = s->diff_head;

                s->diff_sum2 -= s->diffs[oldest].d2;
                s->diff_n--;
        }
        s->diffs[s->diff_head].t_ms = t_ms;
        s->diffs[s->diff_head].d2 = d2;
        s->diff_head = (s->diff_head + 1) % RC_HR_RING;
        s->diff_n++;
        s->diff_sum2 += d2;
        /* RR values are multiples of 1/1024 s, so these sums are in fact exact in
         * double; the recomputation keeps that true for any future input. */
        if (s->tot.n_d % RMSSD_RESUM_EVERY == 0)
                diff_resum(s);
}

/* Add one decided in-range interval to the totals; *prev_accepted tells whether
 * the previous decided in-range interval was accepted. Returns the squared
 * difference used, or -1 when none. The real path and rc_hr_totals' copy both go
 * through here, so they add the same numbers in the same order. */
static double tally(struct rc_hr_totals *t, bool *prev_accepted, double *last_rr,
                    const struct rc_hr_pending *b, bool accepted) {
        double d2 = -1.0;

        if (!accepted) {
                t->n_rejected[RC_HR_REJECT_JUMP]++;
                *prev_accepted = false;
                return d2;
        }
        t->n_accepted++;
        t->sum_rr_ms += b->rr_ms;
        if (b->adjacent && *prev_accepted) {
                double d = b->rr_ms - *last_rr;

                d2 = d * d;
                t->sum_d2 += d2;
                t->n_d++;
        }
        *prev_accepted = true;
        *last_rr = b->rr_ms;
        return d2;
}

/* Is the pending interval rr, j in-range intervals older than the newest (j =
 * 0..RC_HR_MEDIAN_HALF), more than 20 % from its centred median? Its window is the
 * segment's in-range intervals from RC_HR_MEDIAN_HALF before it to
 * RC_HR_MEDIAN_HALF after it (at most j after it exist): the newest
 * min(n_win, RC_HR_MEDIAN_HALF + 1 + j) values of win. Fewer than 3: no. */
static bool is_jump(const struct rc_hr_state *s, unsigned j, double rr) {
        double v[RC_HR_MEDIAN_N];
        unsigned k = RC_HR_MEDIAN_HALF + 1 + j;

        if (k > s->n_win)
                k = s->n_win;
        if (k < 3)
                return false;
        for (unsigned i = 0; i < k; i++)
                v[i] = s->win[(s->win_pos + RC_HR_MEDIAN_N - 1 - i) % RC_HR_MEDIAN_N];

        double med = median_small(v, k);

        return fabs(rr - med) > RC_HR_JUMP_FRACTION * med;
}

/* Decide the oldest pending interval, j in-range intervals older than the newest,
 * and drop it from the pending list. */
static void decide_oldest(struct rc_hr_state *s, unsigned j) {
        const struct rc_hr_pending *b = &s->pend[0];
        bool ok = !is_jump(s, j, b->rr_ms);
        double d2 = tally(&s->tot, &s->prev_accepted, &s->last_rr_ms, b, ok);

        if (ok) {
                s->ring[s->ring_head].t_ms = b->t_ms;
                s->ring[s->ring_head].rr_ms = b->rr_ms;
                s->ring_head = (s->ring_head + 1) % RC_HR_RING;
                if (s->ring_n < RC_HR_RING)
                        s->ring_n++;
                s->last_accept_rx_ms = b->rx_ms; /* beats are decided in order */
                if (d2 >= 0.0)
                        diff_push(s, b->t_ms, d2);
        }
        memmove(&s->pend[0], &s->pend[1], (s->n_pend - 1) * sizeof(s->pend[0]));
        s->n_pend--;
}

/* End the segment: decide the pending intervals with the later values that exist,
 * then start a new segment (empty window, no pair with what came before). */
static void end_segment(struct rc_hr_state *s) {
        while (s->n_pend > 0)
                decide_oldest(s, s->n_pend - 1);
        s->n_win = 0;
        s->win_pos = 0;
        s->next_adjacent = false;
        diff_expire(s);
}

static void feed_rr(struct rc_hr_state *s, uint16_t raw, int64_t rx_ms) {
        double rr = raw * TICK_MS;

        s->tot.n_rr++;
        s->beat_clock_ms += rr;
        if (rr < RC_HR_RR_MIN_MS || rr > RC_HR_RR_MAX_MS) {
                /* rejected at once; it still separates its neighbours */
                s->tot.n_rejected[RC_HR_REJECT_RANGE]++;
                s->next_adjacent = false;
                diff_expire(s);
                return;
        }

        /* Every in-range interval enters the window, accepted or not, so one
         * artifact cannot hold the reference away from the true rhythm. */
        s->win[s->win_pos] = rr;
        s->win_pos = (s->win_pos + 1) % RC_HR_MEDIAN_N;
        if (s->n_win < RC_HR_MEDIAN_N)
                s->n_win++;
        s->pend[s->n_pend++] = (struct rc_hr_pending){.rr_ms = rr,
                                                      .t_ms = s->beat_clock_ms,
                                                      .rx_ms = rx_ms,
                                                      .adjacent = s->next_adjacent};
        s->next_adjacent = true;

        /* The oldest pending interval now has its RC_HR_MEDIAN_HALF successors. */
        if (s->n_pend > RC_HR_MEDIAN_HALF)
                decide_oldest(s, RC_HR_MEDIAN_HALF);
        diff_expire(s);
}

void rc_hr_init(struct rc_hr_state *s) {
        memset(s, 0, sizeof(*s));
        s->contact = RC_CONTACT_UNSUPPORTED;
}

/* Does this measurement, carrying rr_sum_ms of RR, come after a gap? The session
 * time since the previous measurement with RR exceeds the RR it carries by more
 * than RC_HR_GAP_MS (hr.h, "Gaps"). */
static bool after_gap(const struct rc_hr_state *s, int64_t t_ms, double rr_sum_ms) {
        return s->any_rr_rx && (double)(t_ms - s->last_rr_rx_ms) - rr_sum_ms > RC_HR_GAP_MS;
}

int rc_hr_feed(struct rc_hr_state *s, int64_t t_ms, const struct rc_hr_measurement *m,
               struct rc_event *ev) {
        s->now_ms = t_ms;
        if ((m->flags & RC_HR_FLAG_RR) && m->n_rr > 0) {
                double sum_ms = 0.0;

                for (unsigned i = 0; i < m->n_rr; i++)
                        sum_ms += rc_hr_rr(m, i) * TICK_MS;
                if (after_gap(s, t_ms, sum_ms)) {
                        s->tot.n_gaps++;
                        end_segment(s);
                }
                s->any_rr_rx = true;
                s->last_rr_rx_ms = t_ms;
                for (unsigned i = 0; i < m->n_rr; i++)
                        feed_rr(s, rc_hr_rr(m, i), t_ms);
        }

        if (m->bpm > 0) {
                s->last_bpm = m->bpm;
                s->n_bpm++;
                s->sum_bpm += m->bpm;
        } else if (s->tot.n_accepted > 0) {
                s->last_bpm = (unsigned)lround(60000.0 / s->last_rr_ms);
        } else {
                s->last_bpm = 0;
        }
        s->contact = m->contact; /* the decoder read bits 1-2 */

        if (s->any_event && t_ms - s->last_event_ms < RC_HR_EVENT_MIN_GAP_MS)
                return 0;
        s->any_event = true;
        s->last_event_ms = t_ms;

        ev->type = RC_EV_HR;
        ev->t_ms = t_ms;
        ev->hr.bpm = s->last_bpm;
        ev->hr.rmssd_ms = rc_hr_rmssd(s);
        ev->hr.breath_rate = rc_hr_breath_rate(s);
        ev->hr.contact = s->contact;
        return 1;
}

void rc_hr_totals(const struct rc_hr_state *s, struct rc_hr_totals *ret) {
        bool prev_accepted = s->prev_accepted;
        double last_rr = s->last_rr_ms;

        /* As end_segment, on copies: the pending interval i is n_pend - 1 - i
         * in-range intervals older than the newest. */
        *ret = s->tot;
        for (unsigned i = 0; i < s->n_pend; i++) {
                const struct rc_hr_pending *b = &s->pend[i];

                tally(ret, &prev_accepted, &last_rr, b, !is_jump(s, s->n_pend - 1 - i, b->rr_ms));
        }
}

void rc_hr_session(const struct rc_hr_state *s, double *ret_mean_hr, double *ret_rmssd_ms) {
        struct rc_hr_totals t;

        rc_hr_totals(s, &t);
        if (ret_mean_hr)
                *ret_mean_hr = t.n_accepted ? 60000.0 * (double)t.n_accepted / t.sum_rr_ms : NAN;
        if (ret_rmssd_ms)
                *ret_rmssd_ms = t.n_d ? sqrt(t.sum_d2 / (double)t.n_d) : NAN;
}

/* Session time since the last accepted beat was received (INT64_MAX if none). */
static int64_t since_accepted(const struct rc_hr_state *s) {
        return s->tot.n_accepted ? s->now_ms - s->last_accept_rx_ms : INT64_MAX;
}

double rc_hr_rmssd(const struct rc_hr_state *s) {
        if (s->diff_n < RC_HR_RMSSD_MIN_DIFFS || since_accepted(s) > RC_HR_RMSSD_WINDOW_MS)
                return NAN;
        return sqrt(fmax(s->diff_sum2, 0.0) / s->diff_n);
}

/* e^(-2 pi i k / RESP_FFT_N) for k < RESP_FFT_H, filled once per process. */
static double tw_re[RESP_FFT_H], tw_im[RESP_FFT_H];
static once_flag tw_once = ONCE_FLAG_INIT;

static void tw_fill(void) {
        for (unsigned k = 0; k < RESP_FFT_H; k++) {
                tw_re[k] = cos(2.0 * M_PI * k / RESP_FFT_N);
                tw_im[k] = -sin(2.0 * M_PI * k / RESP_FFT_N);
        }
}

/* The FFT's input is zero from RESP_NMAX / 2 on, so after the bit-reversal
 * permutation only the first of every RESP_PRUNE slots is non-zero and the first
 * log2(RESP_PRUNE) butterfly stages only copy it over its block of RESP_PRUNE. */
#define RESP_PRUNE 8
_Static_assert(RESP_NMAX / 2 <= RESP_FFT_H / RESP_PRUNE, "the input fits the pruning");

/* Radix-2 FFT (decimation in time) of RESP_FFT_H complex points z[0..nz), zero
 * after, into re, im. */
static void fft_h(const double *zr, const double *zi, unsigned nz, double *re, double *im) {
        const unsigned nb = RESP_FFT_H / RESP_PRUNE;

        for (unsigned m = 0; m < nb; m++) {
                unsigned r = 0; /* m bit-reversed in log2(nb) bits */

                for (unsigned bit = 1, v = m; bit < nb; bit <<= 1, v >>= 1)
                        r = (r << 1) | (v & 1);
                for (unsigned q = 0; q < RESP_PRUNE; q++) {
                        re[r * RESP_PRUNE + q] = m < nz ? zr[m] : 0.0;
                        im[r * RESP_PRUNE + q] = m < nz ? zi[m] : 0.0;
                }
        }
        for (unsigned len = 2 * RESP_PRUNE; len <= RESP_FFT_H; len <<= 1) {
                unsigned half = len / 2, step = RESP_FFT_N / len; /* W_len^k = W_N^(k step) */

                for (unsigned i = 0; i < RESP_FFT_H; i += len)
                        for (unsigned k = 0; k < half; k++) {
                                double wr = tw_re[k * step], wi = tw_im[k * step];
                                unsigned a = i + k, b = a + half;
                                double vr = re[b] * wr - im[b] * wi, vi = re[b] * wi + im[b] * wr;

                                re[b] = re[a] - vr;
                                im[b] = im[a] - vi;
                                re[a] += vr;
                                im[a] += vi;
                        }
        }
}

/* p[k - RESP_K_LO] = |X[k]|^2 for the band's bins, X the RESP_FFT_N-point DFT of
 * x[0..n) zero-padded. With z[m] = x[2m] + i x[2m+1] and Z its RESP_FFT_H-point
 * DFT: X[k] = E + W_N^k O, E = (Z[k] + conj Z[H-k]) / 2, O = (Z[k] - conj Z[H-k]) / 2i. */
static void band_power(const double *x, unsigned n, double *p) {
        double re[RESP_FFT_H], im[RESP_FFT_H], zr[RESP_NMAX / 2], zi[RESP_NMAX / 2];
        unsigned nz = (n + 1) / 2;

        call_once(&tw_once, tw_fill);
        for (unsigned m = 0; m < nz; m++) {
                zr[m] = x[2 * m];
                zi[m] = 2 * m + 1 < n ? x[2 * m + 1] : 0.0;
        }
        fft_h(zr, zi, nz, re, im);
        for (unsigned k = RESP_K_LO; k <= RESP_K_HI; k++) {
                unsigned c = RESP_FFT_H - k;
                double er = 0.5 * (re[k] + re[c]), ei = 0.5 * (im[k] - im[c]);
                double or_ = 0.5 * (im[k] + im[c]), oi = -0.5 * (re[k] - re[c]);
                double xr = er + tw_re[k] * or_ - tw_im[k] * oi;
                double xi = ei + tw_re[k] * oi + tw_im[k] * or_;

                p[k - RESP_K_LO] = xr * xr + xi * xi;
        }
}

double rc_hr_breath_rate(const struct rc_hr_state *s) {
        const double dt_ms = 1000.0 / RC_HR_RESP_FS_HZ;
        double from = s->beat_clock_ms - RC_HR_RESP_WINDOW_S * 1000.0;
        double x[RESP_NMAX], p[RESP_K_HI - RESP_K_LO + 1];
        unsigned first, n_beats, n;
        double clean_ms = 0.0;

        if (since_accepted(s) > RC_HR_STALE_MS)
                return NAN;

        /* the accepted beats inside the window: ring positions first..ring_n-1 */
        first = s->ring_n;
        while (first > 0 && s->ring[beat_index(s, first - 1)].t_ms > from)
                first--;
        n_beats = s->ring_n - first;
        if (n_beats < 2)
                return NAN;
        for (unsigned i = first; i < s->ring_n; i++)
                clean_ms += s->ring[beat_index(s, i)].rr_ms;
        if (clean_ms < RC_HR_RESP_MIN_S * 1000.0)
                return NAN;

        /* Resample at fs by linear interpolation, the grid ending at the newest beat. */
        const struct rc_hr_beat *b0 = &s->ring[beat_index(s, first)];
        const struct rc_hr_beat *bl = &s->ring[beat_index(s, s->ring_n - 1)];
        double span = bl->t_ms - b0->t_ms;

        n = (unsigned)floor(span / dt_ms) + 1;
        if (n > RESP_NMAX)
                n = RESP_NMAX;
        double t0 = bl->t_ms - (n - 1) * dt_ms;
        unsigned j = first; /* beats j and j+1 bracket the sample time */

        for (unsigned k = 0; k < n; k++) {
                double t = t0 + k * dt_ms;

                while (j + 2 < s->ring_n && s->ring[beat_index(s, j + 1)].t_ms < t)
                        j++;
                const struct rc_hr_beat *a = &s->ring[beat_index(s, j)];
                const struct rc_hr_beat *c = &s->ring[beat_index(s, j + 1)];
                double u = (t - a->t_ms) / (c->t_ms - a->t_ms);

                x[k] = a->rr_ms + (c->rr_ms - a->rr_ms) * fmin(fmax(u, 0.0), 1.0);
        }

        /* Remove mean and linear trend (least squares), apply a Hann window. */
        double mid = 0.5 * (n - 1), mean = 0.0, sxy = 0.0, sxx = 0.0;

        for (unsigned k = 0; k < n; k++)
                mean += x[k];
        mean /= n;
        for (unsigned k = 0; k < n; k++) {
                sxy += (k - mid) * (x[k] - mean);
                sxx += (k - mid) * (k - mid);
        }
        double slope = sxy / sxx;
        /* Hann weights 0.5 - 0.5 cos(2 pi k / (n - 1)), the cosine by a rotating phasor */
        double rc = cos(2.0 * M_PI / (n - 1)), rs = sin(2.0 * M_PI / (n - 1)), cr = 1.0, ci = 0.0;

        for (unsigned k = 0; k < n; k++) {
                double t = cr * rc - ci * rs;

                x[k] = (x[k] - mean - slope * (k - mid)) * (0.5 - 0.5 * cr);
                ci = cr * rs + ci * rc;
                cr = t;
        }

        /* The band's power spectrum; its maximum. */
        const unsigned nb = RESP_K_HI - RESP_K_LO + 1;
        unsigned kp = 0;
        double total = 0.0;

        band_power(x, n, p);
        for (unsigned i = 0; i < nb; i++) {
                total += p[i];
                if (p[i] > p[kp])
                        kp = i;
        }
        /* A maximum on the band's edge is the tail of something outside it. */
        if (kp == 0 || kp == nb - 1 || !(p[kp] > 0.0))
                return NAN;

        /* Dominance: the share of the band power within RESP_LOBE/T of the peak, each
         * bin weighted by the part of its cell (its width around it) inside that
         * interval, so the lobe is 2/T wide whatever the bin width. */
        double lobe_bins = RESP_LOBE * 60.0 * RC_HR_RESP_FS_HZ / n / RESP_BPM_PER_BIN;
        double in_lobe = 0.0;

        for (unsigned i = 0; i < nb; i++)
                in_lobe += p[i] * fmin(fmax(lobe_bins + 0.5 - fabs((double)i - kp), 0.0), 1.0);
        if (in_lobe < RESP_MIN_SHARE * total)
                return NAN;

        /* Parabolic refinement on the log power of the peak and its neighbours. */
        double la = log(fmax(p[kp - 1], 1e-300)), lb = log(p[kp]),
               lc = log(fmax(p[kp + 1], 1e-300));
        double den = la - 2.0 * lb + lc, delta = 0.0;

        if (den < 0.0)
                delta = 0.5 * (la - lc) / den;
        return (RESP_K_LO + kp + delta) * RESP_BPM_PER_BIN;
}
