/* rollcoach — the simulator's scenario model and its parser (internal to core/sim).
 *
 * A scenario (docs/scenario-format.md) is parsed whole into devices, each with a
 * laid-out timeline: every segment has absolute start and end times in seconds,
 * gaps left by `at T` are filled with idle segments, and `roll … dist=` has been
 * turned into a duration. The generator (sim.c) only reads this model.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/events.h"
#include "decode/gatt.h"
#include "util/ids.h"

/* Bounds that keep a hostile scenario from exhausting memory or time. */
#define RC__SCN_MAX_BYTES (1u << 20) /* scenario text */
#define RC__SCN_MAX_LINE 1024        /* characters a line */
#define RC__SCN_MAX_ERRORS 100       /* reported before giving up */
#define RC__SCN_MAX_DEVICES 8        /* devices a scenario */
#define RC__SCN_MAX_SEGMENTS 4096    /* written segments a device */
#define RC__SCN_MAX_DURATION 14400.0 /* s: 4 h, end of any timeline */
/* s: the devices' timelines together (a trace of ~5 KB a device-second: ~70 MB) */
#define RC__SCN_MAX_DEVICE_SECONDS 14400.0
#define RC__SCN_LABEL_MAX 31           /* characters of a device label */
#define RC__SCN_DEFAULT_BREATHING 15.0 /* breaths/min (0.25 Hz) */

enum rc__seg_kind {
        /* segments with a duration */
        RC__SEG_IDLE,    /* filler for a gap before `at T`: the device's resting state */
        RC__SEG_REST,    /* roller: on the floor, unloaded, still */
        RC__SEG_ROLL,    /* roller: loaded, rolling at `speed` */
        RC__SEG_HOLD,    /* roller: loaded, still, rocked by breathing */
        RC__SEG_JERKY,   /* roller: loaded, speed + amp·sin(2π f τ) */
        RC__SEG_LIFT,    /* roller: picked up, tilted and turned in the hands, put down */
        RC__SEG_CARRY,   /* roller: picked up, carried while walking, put down */
        RC__SEG_POSTURE, /* body: move to a posture and stay */
        RC__SEG_PULSE,   /* hr: heart rate (and breathing) */
        /* instants */
        RC__SEG_PRESS,      /* roller: a button event */
        RC__SEG_CONTACT,    /* hr: skin contact on/off */
        RC__SEG_CONNECT,    /* any: the link comes up (reads, then notifications) */
        RC__SEG_DISCONNECT, /* any: the link drops */
};

static inline bool rc__seg_is_instant(enum rc__seg_kind k) {
        return k >= RC__SEG_PRESS;
}

struct rc__segment {
        enum rc__seg_kind kind;
        unsigned line; /* scenario line; 0 for fillers */
        double t0, t1; /* absolute seconds; t0 == t1 for instants */
        /* roller */
        double speed; /* cm/s, + = +ω (roll; jerky's mean) */
        double amp;   /* jerky: cm/s */
        double freq;  /* jerky: Hz */
        double force; /* N, nominal load; 0 when unloaded */
        double ramp;  /* s: speed ramp (roller), bpm ramp (hr) */
        double tilt;  /* lift/carry: degrees */
        enum rc_press press;
        /* body */
        enum rc_posture posture;
        double pitch;      /* degrees */
        double transition; /* s */
        /* hr */
        double bpm;
        double breath; /* breaths/min at and after t0; < 0: unchanged */
        double rsa;    /* ms; < 0: the device's */
        bool contact;
        /* as written, before layout */
        double at;   /* absolute start, s; < 0: right after the previous segment */
        double dur;  /* s */
        double dist; /* roll: cm to cover instead of a duration; 0: none */
};

struct rc__device {
        enum rc_device_kind kind;
        char label[RC__SCN_LABEL_MAX + 1];
        char name[RC_GATT_STRING_MAX + 1]; /* Device Name */
        rc_addr addr;
        unsigned line;

        /* link, every kind */
        double loss, corrupt; /* fractions of streamed notifications */
        bool clock_set;       /* else drawn from the seed */
        uint32_t clock0;      /* device µs at power-on (the timeline's start) */
        double drift_ppm;     /* device clock runs fast by this much */
        double latency_ms;    /* radio + stack, constant */
        double jitter_ms;     /* uniform 0..jitter on top */
        uint16_t seq0;        /* seq of the first IMU batch */
        unsigned battery;     /* percent */

        /* IMU (roller and body) */
        double rate_hz;
        uint16_t period_us;
        unsigned per_packet;
        double gyro_bias;   /* °/s */
        double gyro_noise;  /* °/s, σ */
        double accel_noise; /* mg, σ */

        /* roller */
        bool load_cell;
        struct rc_roller_info info;
        double force_noise; /* N, σ */
        double force;       /* N, default load of loaded segments */
        double breath_mm;   /* breathing rock amplitude under load, mm */
        double ramp;        /* s, default speed ramp */

        /* body */
        enum rc_placement placement;

        /* hr */
        double bpm;       /* before the first pulse */
        double rsa;       /* ms amplitude of the respiratory modulation of RR */
        double rr_noise;  /* ms, σ */
        double artifacts; /* fraction of beats */

        /* timeline */
        struct rc__segment *seg;
        size_t n_seg, cap_seg;
        unsigned n_written; /* segments as written (fillers excluded) */
        double t_end;       /* end of the last segment; the device disconnects then */
        bool any_at;        /* the first segment had `at` */
};

/* The person's breathing as a step function of time: rate[i] breaths/min from
 * t[i] on, with the phase integrated so it stays continuous. */
struct rc__breathing {
        double *t, *rate, *phase0; /* phase0[i]: phase (radians) at t[i] */
        size_t n, cap;
};

struct rc__scenario {
        uint64_t seed;
        struct rc__device dev[RC__SCN_MAX_DEVICES];
        unsigned n_dev;
        struct rc__breathing breathing;
};

/* Parse `text` (len bytes, need not be NUL-terminated). Errors are logged as
 * "NAME:LINE: what"; returns 0, -EINVAL when there were any, or -ENOMEM. On
 * success *sc owns allocations released by rc__scenario_free (also on error). */
int rc__scenario_parse(const char *text, size_t len, const char *name, struct rc__scenario *sc);
void rc__scenario_free(struct rc__scenario *sc);

/* Breathing phase (radians) and rate (breaths/min) at time t (seconds). */
double rc__breathing_phase(const struct rc__breathing *b, double t);
double rc__breathing_rate(const struct rc__breathing *b, double t);

/* Default trunk pitch of a posture (degrees): seated 45, standing 85, else 0. */
double rc__posture_default_pitch(enum rc_posture p);
