/* rollcoach — heart-rate analysis for one strap (spec/roller-gatt.md, "Heart rate").
 *
 * Input: decoded Heart Rate Measurements (0x2A37) with their host receive time
 * (session time). RR intervals (1/1024 s) are converted to ms and cleaned of
 * artifacts.
 *
 * Cleaning. The beats of a strap form segments: a segment starts at the first
 * beat and after every gap (below). Within a segment:
 * - an interval outside 300..2000 ms is rejected at once (RANGE); it never enters
 *   a median, but it keeps its place in the beat order: it breaks the pairs on
 *   both sides of it;
 * - an in-range interval is decided against the centred local median: the median
 *   of the in-range intervals of its segment from the 2 before it to the 2 after
 *   it, itself included (RC_HR_MEDIAN_N = 5 values; the even median of 4 is the
 *   mean of the middle two). It is rejected (JUMP) if it is more than 20 % away
 *   from that median. Every in-range value enters the medians, accepted or not,
 *   so one artifact cannot hold the reference. Where fewer than 2 in-range
 *   intervals exist on one side (start of a segment; its end, see below) the
 *   window holds what exists; with fewer than 3 values in it only the range rule
 *   applies (a segment of one or two in-range intervals).
 * So a missed beat (n n 2n n n) and an ectopic pair (n n 0.7n 1.3n n n) are
 * rejected (the median stays n), while a sustained change of level
 * (old old NEW NEW NEW) is accepted from its first beat (its median is NEW). The
 * price of a 5-value window: a level held for only 1 or 2 beats is taken for an
 * artifact, and 3 artifacts in a row (n 2n 2n 2n n) for a level (the middle one
 * is accepted).
 * A decision waits for the 2 next in-range intervals of the segment (about 2 s):
 * until then an interval is pending (at most 2 are). Beats are decided in order,
 * and a beat's time is its own (the beat clock when it arrived), not the time of
 * its decision.
 *
 * Gaps. Beat time counts only the RR received. A lost packet is detected from the
 * receive times: when a measurement carrying RR arrives more than RC_HR_GAP_MS of
 * session time later than the previous one that carried RR, beyond the RR time it
 * carries, the beats are not adjacent. (Measurements without RR in between, as
 * while the contact is lost, do not count: the beats of that time are missing
 * too.) The pending intervals are then decided as at the end of a segment (with
 * the later in-range intervals that exist before the gap), and a new segment
 * starts: no window looks across the gap and the first beat after it pairs with
 * nothing. Beat time is not advanced by the gap. The margin: a packet is
 * received some delay after its last beat ended, between 0 and the notification
 * period (straps notify about once a second) plus radio latency; without loss
 * the excess is the difference of two such delays, within about +-1 s, and a
 * loss adds the lost RR time to it. 1.5 s leaves half a second for latency
 * jitter (a false gap costs one pair and two decisions on shorter windows); a
 * loss of more than about 2.5 s of beats is always detected, a single lost
 * packet of one or two beats only when the delays allow it.
 *
 * Pairs. A successive difference is used only between two accepted beats
 * adjacent in the beat order of a segment (an out-of-range or rejected beat, or
 * a gap, breaks the pair). Windows are in beat time and end at the latest
 * interval received (decided or not).
 *
 * Output:
 * - an `hr` event for the first measurement, then for the next one at least
 *   RC_HR_EVENT_MIN_GAP_MS of session time after the last event: bpm as the
 *   strap reports it (or 60000 / the last accepted RR when it reports 0: a
 *   decided one, so 2 beats old; 0 before any), RMSSD over the accepted
 *   successive differences of the last RC_HR_RMSSD_WINDOW_MS of beat time (NaN
 *   until RC_HR_RMSSD_MIN_DIFFS are there), breathing rate from the respiratory
 *   sinus arrhythmia (NaN until RC_HR_RESP_MIN_S of clean beats), and the
 *   contact from the flags (bits 1-2, as the SIG defines them). Pending beats
 *   are not in these windows yet. Staleness, in session time since the receive
 *   time of the last accepted beat: the breathing rate is NaN after more than
 *   RC_HR_STALE_MS, the RMSSD after more than RC_HR_RMSSD_WINDOW_MS (its window,
 *   counted in session time, has then emptied; beat time stands still while no
 *   RR arrive, so the beat-time windows alone would hold old beats forever).
 * - session figures: mean HR (60000 / mean accepted RR) and RMSSD over every
 *   accepted successive difference of the session. They are the figures as if
 *   the session ended now: the pending beats are decided as at the end of a
 *   segment, in a copy of the totals (the state is const and unchanged, so a
 *   later beat may still decide them differently). The session's end is thus
 *   handled like a gap, and an hour of beats gives the figures of a batch
 *   implementation of the rule over the whole series.
 *
 * Breathing rate: the accepted RR series over the last RC_HR_RESP_WINDOW_S
 * seconds of beat time is resampled at RC_HR_RESP_FS_HZ (linear interpolation),
 * detrended (mean and linear trend removed), Hann-windowed, and its power
 * scanned over 4..30 breaths/min; the peak is refined by parabolic
 * interpolation. It is reported only if the peak is clearly dominant: a maximum
 * inside the band (not on its edge) with at least 60 % of the 4..30 /min power
 * within 1/T of it (T the analysed span, at most RC_HR_RESP_WINDOW_S); otherwise
 * NaN. "Clean beats" are the accepted intervals in the window, summed. A gap is
 * not inserted into the series (beat time does not count it): a short loss is a
 * phase jump in the breathing, which the dominance test weighs like any other.
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
#define RC_HR_MEDIAN_N 5                       /* centred: 2 before, itself, 2 after */
#define RC_HR_MEDIAN_HALF (RC_HR_MEDIAN_N / 2) /* the look-ahead: 2 in-range intervals */
#define RC_HR_GAP_MS 1500    /* receive time beyond the RR carried that means a loss */
#define RC_HR_STALE_MS 10000 /* no accepted beat for longer: breathing rate NaN */
#define RC_HR_RMSSD_WINDOW_MS 60000.0
#define RC_HR_RMSSD_MIN_DIFFS 10
#define RC_HR_EVENT_MIN_GAP_MS 900
#define RC_HR_RESP_WINDOW_S 64
#define RC_HR_RESP_MIN_S 40
#define RC_HR_RESP_FS_HZ 4
#define RC_HR_RING 512 /* accepted beats kept: 64 s at up to 240 bpm, with margin */

enum rc_hr_reject {
        RC_HR_REJECT_RANGE, /* outside 300..2000 ms */
        RC_HR_REJECT_JUMP,  /* > 20 % from the centred local median */
        RC_HR_REJECT__COUNT,
};

struct rc_hr_beat {
        double t_ms;  /* beat time: running sum of every RR received (ms) */
        double rr_ms; /* the accepted interval ending at t_ms */
};

/* An in-range interval awaiting its decision. */
struct rc_hr_pending {
        double rr_ms, t_ms; /* the interval and its beat time */
        int64_t rx_ms;      /* session time of the measurement that carried it */
        bool adjacent;      /* its predecessor in the beat order is the previous
                               in-range interval of the segment (a pair may form) */
};

/* Counts and sums of the session. */
struct rc_hr_totals {
        uint64_t n_rr;       /* intervals received */
        uint64_t n_accepted; /* decided and accepted */
        uint64_t n_rejected[RC_HR_REJECT__COUNT];
        uint64_t n_d; /* successive differences used */
        uint64_t n_gaps;
        double sum_rr_ms; /* of the accepted intervals */
        double sum_d2;    /* of the squared differences used */
};

struct rc_hr_state {
        /* beat clock; the segment's last RC_HR_MEDIAN_N in-range intervals (raw),
         * and the pending ones among the newest of them, oldest first */
        double beat_clock_ms;
        double win[RC_HR_MEDIAN_N];
        unsigned n_win, win_pos;
        struct rc_hr_pending pend[RC_HR_MEDIAN_HALF + 1];
        unsigned n_pend;
        bool next_adjacent;    /* the next in-range interval follows the newest one */
        bool prev_accepted;    /* the last decided in-range interval was accepted */
        double last_rr_ms;     /* the last accepted interval */
        int64_t last_rr_rx_ms; /* session time of the last measurement with RR */
        bool any_rr_rx;
        int64_t last_accept_rx_ms; /* receive time of the last accepted beat */
        int64_t now_ms;            /* session time of the last measurement */

        /* accepted beats, a ring, for the RMSSD window and the breathing rate */
        struct rc_hr_beat ring[RC_HR_RING];
        unsigned ring_head, ring_n;
        /* successive differences in the RMSSD window: a ring of (t, d^2) */
        struct {
                double t_ms, d2;
        } diffs[RC_HR_RING];
        unsigned diff_head, diff_n;
        double diff_sum2;

        /* session figures: decided beats only (see rc_hr_totals) */
        struct rc_hr_totals tot;
        uint64_t n_bpm;
        double sum_bpm;

        /* event pacing and last report */
        int64_t last_event_ms;
        bool any_event;
        unsigned last_bpm;
        enum rc_contact contact;
};

void rc_hr_init(struct rc_hr_state *s);

/* Feed one measurement received at session time t_ms (non-decreasing). Returns 1
 * and fills ev->hr (type, t_ms; not device) when an hr event is due, else 0. */
int rc_hr_feed(struct rc_hr_state *s, int64_t t_ms, const struct rc_hr_measurement *m,
               struct rc_event *ev);

/* The session's totals as if it ended now: s->tot plus the pending intervals,
 * decided as at the end of a segment in a copy. s is not changed. */
void rc_hr_totals(const struct rc_hr_state *s, struct rc_hr_totals *ret);

/* Session figures so far (from rc_hr_totals): mean HR (bpm) and RMSSD (ms), NaN
 * when there are no accepted beats / no successive differences. Either pointer
 * may be NULL. */
void rc_hr_session(const struct rc_hr_state *s, double *ret_mean_hr, double *ret_rmssd_ms);

/* The current windowed RMSSD and breathing rate (NaN when unknown or stale); the
 * same figures the next event would carry. */
double rc_hr_rmssd(const struct rc_hr_state *s);
double rc_hr_breath_rate(const struct rc_hr_state *s);
