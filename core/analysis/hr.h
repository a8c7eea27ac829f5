/* rollcoach — heart-rate analysis for one strap (spec/roller-gatt.md, "Heart rate").
 *
 * Input: decoded Heart Rate Measurements (0x2A37) with their host receive time.
 * RR intervals (1/1024 s) are converted to ms and cleaned of artifacts: outside
 * 300..2000 ms, or more than 20 % away from the local median (the median of the
 * previous RC_HR_MEDIAN_N in-range intervals, accepted or not, so one artifact
 * cannot hold the reference; while fewer than 3 are known only the range rule
 * applies). A successive difference is used only between two accepted, adjacent
 * beats (a rejected beat breaks the pair). Windows are in beat time and end at
 * the latest interval received.
 *
 * Output:
 * - an `hr` event for the first measurement, then for the next one at least
 *   RC_HR_EVENT_MIN_GAP_MS of session time after the last event: bpm as the
 *   strap reports it (or 60000 / the last accepted RR when it reports 0;
 *   0 before any), RMSSD over the accepted successive differences of the last
 *   RC_HR_RMSSD_WINDOW_MS of beat time (NaN until RC_HR_RMSSD_MIN_DIFFS are
 *   there), breathing rate from the respiratory sinus arrhythmia (NaN until
 *   RC_HR_RESP_MIN_S of clean beats), and the contact from the flags (bits
 *   1-2, as the SIG defines them);
 * - session figures: mean HR (60000 / mean accepted RR) and RMSSD over every
 *   accepted successive difference of the session.
 *
 * Breathing rate: the accepted RR series over the last RC_HR_RESP_WINDOW_S
 * seconds of beat time is resampled at RC_HR_RESP_FS_HZ (linear interpolation),
 * detrended (mean and linear trend removed), Hann-windowed, and its power
 * scanned over 4..30 breaths/min; the peak is refined by parabolic
 * interpolation. It is reported only if the peak is clearly dominant: a maximum
 * inside the band (not on its edge) with at least 60 % of the 4..30 /min power
 * within 1/T of it (T the analysed span, at most RC_HR_RESP_WINDOW_S); otherwise
 * NaN. "Clean beats" are the accepted intervals in the window, summed.
 *
 * Fixed-size state, no allocation, no I/O: deterministic for a given input.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "analysis/events.h"
#include "decode/gatt.h"

#define RC_HR_RR_MIN_MS 300.0
#define RC_HR_RR_MAX_MS 2000.0
#define RC_HR_JUMP_FRACTION 0.20
#define RC_HR_MEDIAN_N 5
#define RC_HR_RMSSD_WINDOW_MS 60000.0
#define RC_HR_RMSSD_MIN_DIFFS 10
#define RC_HR_EVENT_MIN_GAP_MS 900
#define RC_HR_RESP_WINDOW_S 64
#define RC_HR_RESP_MIN_S 40
#define RC_HR_RESP_FS_HZ 4
#define RC_HR_RING 512 /* accepted beats kept: 64 s at up to 240 bpm, with margin */

enum rc_hr_reject {
        RC_HR_REJECT_RANGE, /* outside 300..2000 ms */
        RC_HR_REJECT_JUMP,  /* > 20 % from the local median */
        RC_HR_REJECT__COUNT,
};

struct rc_hr_beat {
        double t_ms;  /* beat time: running sum of every RR received (ms) */
        double rr_ms; /* the accepted interval ending at t_ms */
};

struct rc_hr_state {
        /* beat clock and median of recent in-range intervals */
        double beat_clock_ms;
        double recent[RC_HR_MEDIAN_N];
        unsigned n_recent, recent_pos;
        bool prev_accepted; /* the previous beat was accepted (pairs are adjacent) */
        double prev_rr_ms;

        /* accepted beats, a ring, for the RMSSD window and the breathing rate */
        struct rc_hr_beat ring[RC_HR_RING];
        unsigned ring_head, ring_n;
        /* successive differences in the RMSSD window: a ring of (t, d^2) */
        struct {
                double t_ms, d2;
        } diffs[RC_HR_RING];
        unsigned diff_head, diff_n;
        double diff_sum2;

        /* session figures */
        uint64_t n_rr, n_accepted, n_rejected[RC_HR_REJECT__COUNT];
        double sum_rr_ms;
        double sum_d2;
        uint64_t n_d;
        uint64_t n_bpm;
        double sum_bpm;

        /* event pacing and last report */
        int64_t last_event_ms;
        bool any_event;
        unsigned last_bpm;
        enum rc_contact contact;
};

void rc_hr_init(struct rc_hr_state *s);

/* Feed one measurement received at session time t_ms. Returns 1 and fills
 * ev->hr (type, t_ms; not device) when an hr event is due, else 0. */
int rc_hr_feed(struct rc_hr_state *s, int64_t t_ms, const struct rc_hr_measurement *m,
               struct rc_event *ev);

/* Session figures so far: mean HR (bpm) and RMSSD (ms), NaN when there are no
 * accepted beats / no successive differences. */
void rc_hr_session(const struct rc_hr_state *s, double *ret_mean_hr, double *ret_rmssd_ms);

/* The current windowed RMSSD and breathing rate (NaN when unknown); the same
 * figures the next event would carry. */
double rc_hr_rmssd(const struct rc_hr_state *s);
double rc_hr_breath_rate(const struct rc_hr_state *s);
