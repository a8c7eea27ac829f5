#include "sim/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define SCN_MAGIC "# rollcoach-scenario"
#define SCN_VERSION 1
#define MAX_TOKENS 32

struct parser {
        const char *name;
        unsigned line;
        unsigned n_errors;
        struct rc__scenario *sc;
        bool seed_seen, breathing_seen;
        double breathing;
        int oom;
};

static void perr_at(struct parser *p, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void perr_at(struct parser *p, unsigned line, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        p->n_errors++;
        if (p->n_errors > RC__SCN_MAX_ERRORS)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rc_log_error("%s:%u: %s", p->name, line, msg);
        if (p->n_errors == RC__SCN_MAX_ERRORS)
                rc_log_error("%s: too many errors (%u), not reporting more", p->name,
                             RC__SCN_MAX_ERRORS);
}

#define perr(p, ...) perr_at((p), (p)->line, __VA_ARGS__)

/* ---- small parsers ---------------------------------------------------------- */

/* A finite decimal number, optionally signed, with an optional exponent. No hex
 * floats, no inf/nan, nothing after it. */
static bool parse_double(const char *s, double *ret) {
        char *end;
        double v;

        if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
                return false;
        errno = 0;
        v = strtod(s, &end);
        if (*end != '\0' || errno == ERANGE || !isfinite(v))
                return false;
        *ret = v;
        return true;
}

/* An unsigned integer, decimal or 0x-hex, up to `max`. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        const char *digits = s;
        int base = 10;
        char *end;
        unsigned long long v;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                digits = s + 2;
        }
        if (*digits == '\0' ||
            strspn(digits, base == 16 ? "0123456789abcdefABCDEF" : "0123456789") != strlen(digits))
                return false;
        errno = 0;
        v = strtoull(digits, &end, base);
        if (*end != '\0' || errno == ERANGE || v > max)
                return false;
        *ret = v;
        return true;
}

/* A number in [lo, hi]; reports and returns false otherwise. */
static bool num(struct parser *p, const char *what, const char *s, double lo, double hi,
                double *ret) {
        double v;

        if (!parse_double(s, &v)) {
                perr(p, "%s: '%s' is not a number", what, s);
                return false;
        }
        if (v < lo || v > hi) {
                perr(p, "%s must be in %g..%g, got %s", what, lo, hi, s);
                return false;
        }
        *ret = v;
        return true;
}

static bool uint_opt(struct parser *p, const char *what, const char *s, uint64_t max,
                     uint64_t *ret) {
        if (!parse_u64(s, max, ret)) {
                perr(p, "%s must be an integer in 0..%llu (decimal or 0x hex), got '%s'", what,
                     (unsigned long long)max, s);
                return false;
        }
        return true;
}

static bool yes_no(struct parser *p, const char *what, const char *s, bool *ret) {
        if (strcmp(s, "yes") == 0) {
                *ret = true;
                return true;
        }
        if (strcmp(s, "no") == 0) {
                *ret = false;
                return true;
        }
        perr(p, "%s must be yes or no, got '%s'", what, s);
        return false;
}

/* Index of s in a NULL-terminated list, or -1. */
static int lookup(const char *const *names, const char *s) {
        for (int i = 0; names[i]; i++)
                if (strcmp(names[i], s) == 0)
                        return i;
        return -1;
}

static const char *const posture_names[] = {"supine", "prone",    "side_left", "side_right",
                                            "seated", "standing", NULL};
static const enum rc_posture posture_values[] = {RC_POSTURE_SUPINE,    RC_POSTURE_PRONE,
                                                 RC_POSTURE_SIDE_LEFT, RC_POSTURE_SIDE_RIGHT,
                                                 RC_POSTURE_SEATED,    RC_POSTURE_STANDING};
static const char *const placement_names[] = {"sacrum",      "upper_back", "left_thigh",
                                              "right_thigh", "wrist",      NULL};
static const char *const press_names[] = {"short", "long", "double", NULL};
static const char *const axis_names[] = {"x", "y", "z", NULL};
static const char *const surface_names[] = {"smooth", "textured", "vibrating", NULL};
static const char *const kind_names[] = {"roller", "body", "hr", NULL};

double rc__posture_default_pitch(enum rc_posture p) {
        switch (p) {
        case RC_POSTURE_SEATED:
                return 45.0;
        case RC_POSTURE_STANDING:
                return 85.0;
        default:
                return 0.0;
        }
}

/* ---- tokens ------------------------------------------------------------------- */

struct tokens {
        char *t[MAX_TOKENS];
        unsigned n;
};

/* Split `line` in place at blanks; '#' outside quotes starts a comment; a double
 * quote protects blanks up to the next one. False (reported) on an unterminated
 * quote or too many tokens. */
static bool tokenize(struct parser *p, char *line, struct tokens *tk) {
        char *s = line;

        tk->n = 0;
        for (;;) {
                bool quoted = false;
                char *start;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (*s == '\0' || *s == '#')
                        return true;
                if (tk->n == MAX_TOKENS) {
                        perr(p, "too many words on a line (at most %d)", MAX_TOKENS);
                        return false;
                }
                start = s;
                while (*s && (quoted || (*s != ' ' && *s != '\t' && *s != '#'))) {
                        if (*s == '"')
                                quoted = !quoted;
                        s++;
                }
                if (quoted) {
                        perr(p, "unterminated quote");
                        return false;
                }
                tk->t[tk->n++] = start;
                if (*s == '\0')
                        return true;
                if (*s == '#') {
                        *s = '\0';
                        return true;
                }
                *s++ = '\0';
        }
}

/* Split "key=value" in place; value unquoted. False if the token has no '='. */
static bool split_option(char *tok, char **key, char **val) {
        char *eq = strchr(tok, '=');
        size_t vl;

        if (!eq)
                return false;
        *eq = '\0';
        *key = tok;
        *val = eq + 1;
        vl = strlen(*val);
        if (vl >= 2 && (*val)[0] == '"' && (*val)[vl - 1] == '"') {
                (*val)[vl - 1] = '\0';
                (*val)++;
        }
        return true;
}

/* ---- devices ------------------------------------------------------------------ */

static struct rc__device *find_device(struct rc__scenario *sc, const char *label) {
        for (unsigned i = 0; i < sc->n_dev; i++)
                if (strcmp(sc->dev[i].label, label) == 0)
                        return &sc->dev[i];
        return NULL;
}

static bool valid_label(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > RC__SCN_LABEL_MAX)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static void device_defaults(struct rc__device *d, enum rc_device_kind kind) {
        d->kind = kind;
        d->loss = 0;
        d->corrupt = 0;
        d->clock_set = false;
        d->drift_ppm = 0;
        d->latency_ms = 15;
        d->jitter_ms = 5;
        d->seq0 = 0;
        d->battery = 90;
        d->rate_hz = kind == RC_KIND_ROLLER ? 200 : 100;
        d->per_packet = 0; /* resolved after the options */
        d->gyro_bias = kind == RC_KIND_ROLLER ? 0.3 : 0.2;
        d->gyro_noise = 0.1;
        d->accel_noise = 4;
        d->load_cell = true;
        d->info = RC_ROLLER_INFO_DEFAULT; /* spec/roller-gatt.md's */
        d->force_noise = 2;
        d->force = 300;
        d->breath_mm = 1.0;
        d->ramp = 0.2;
        d->placement = RC_PLACEMENT_SACRUM;
        d->bpm = 65;
        d->rsa = 30;
        d->rr_noise = 8;
        d->artifacts = 0;
}

/* Options every device kind takes. Returns true if `key` was one of them. */
static bool link_option(struct parser *p, struct rc__device *d, const char *key, const char *val) {
        double v;
        uint64_t u;

        if (strcmp(key, "loss") == 0) {
                if (num(p, "loss", val, 0, 0.9, &v))
                        d->loss = v;
        } else if (strcmp(key, "corrupt") == 0) {
                if (num(p, "corrupt", val, 0, 0.9, &v))
                        d->corrupt = v;
        } else if (strcmp(key, "clock") == 0) {
                if (uint_opt(p, "clock", val, UINT32_MAX, &u)) {
                        d->clock0 = (uint32_t)u;
                        d->clock_set = true;
                }
        } else if (strcmp(key, "drift") == 0) {
                if (num(p, "drift (ppm)", val, -1000, 1000, &v))
                        d->drift_ppm = v;
        } else if (strcmp(key, "latency") == 0) {
                if (num(p, "latency (ms)", val, 0, 1000, &v))
                        d->latency_ms = v;
        } else if (strcmp(key, "jitter") == 0) {
                if (num(p, "jitter (ms)", val, 0, 1000, &v))
                        d->jitter_ms = v;
        } else if (strcmp(key, "seq") == 0) {
                if (uint_opt(p, "seq", val, UINT16_MAX, &u))
                        d->seq0 = (uint16_t)u;
        } else if (strcmp(key, "battery") == 0) {
                if (uint_opt(p, "battery (%)", val, 100, &u))
                        d->battery = (unsigned)u;
        } else if (strcmp(key, "name") == 0) {
                size_t n = strlen(val);

                if (n == 0 || n > RC_GATT_STRING_MAX ||
                    strspn(val, " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != n)
                        perr(p, "name must be 1..%d printable ASCII characters without '\"'",
                             RC_GATT_STRING_MAX);
                else
                        memcpy(d->name, val, n + 1);
        } else {
                return false;
        }
        return true;
}

static bool imu_option(struct parser *p, struct rc__device *d, const char *key, const char *val) {
        double v;
        uint64_t u;

        if (strcmp(key, "rate") == 0) {
                if (num(p, "rate (Hz)", val, 16, 1000, &v))
                        d->rate_hz = v;
        } else if (strcmp(key, "per_packet") == 0) {
                if (uint_opt(p, "per_packet", val, 255, &u)) {
                        if (u == 0)
                                perr(p, "per_packet must be at least 1");
                        else
                                d->per_packet = (unsigned)u;
                }
        } else if (strcmp(key, "gyro_bias") == 0) {
                if (num(p, "gyro_bias (deg/s)", val, -100, 100, &v))
                        d->gyro_bias = v;
        } else if (strcmp(key, "gyro_noise") == 0) {
                if (num(p, "gyro_noise (deg/s)", val, 0, 100, &v))
                        d->gyro_noise = v;
        } else if (strcmp(key, "accel_noise") == 0) {
                if (num(p, "accel_noise (mg)", val, 0, 1000, &v))
                        d->accel_noise = v;
        } else {
                return false;
        }
        return true;
}

static bool roller_option(struct parser *p, struct rc__device *d, const char *key,
                          const char *val) {
        double v;
        uint64_t u;
        int i;

        if (strcmp(key, "load_cell") == 0) {
                yes_no(p, "load_cell", val, &d->load_cell);
        } else if (strcmp(key, "diameter") == 0) {
                if (uint_opt(p, "diameter (mm)", val, 1000, &u)) {
                        if (u < 10)
                                perr(p, "diameter must be at least 10 mm");
                        else
                                d->info.diameter_mm = (uint16_t)u;
                }
        } else if (strcmp(key, "length") == 0) {
                if (uint_opt(p, "length (mm)", val, 3000, &u)) {
                        if (u == 0)
                                perr(p, "length must be at least 1 mm");
                        else
                                d->info.length_mm = (uint16_t)u;
                }
        } else if (strcmp(key, "axis") == 0) {
                if ((i = lookup(axis_names, val)) < 0)
                        perr(p, "axis must be x, y or z, got '%s'", val);
                else
                        d->info.long_axis = (uint8_t)i;
        } else if (strcmp(key, "surface") == 0) {
                if ((i = lookup(surface_names, val)) < 0)
                        perr(p, "surface must be smooth, textured or vibrating, got '%s'", val);
                else
                        d->info.surface = (uint8_t)i;
        } else if (strcmp(key, "force_noise") == 0) {
                if (num(p, "force_noise (N)", val, 0, 1000, &v))
                        d->force_noise = v;
        } else if (strcmp(key, "force") == 0) {
                if (num(p, "force (N)", val, 0, 6000, &v))
                        d->force = v;
        } else if (strcmp(key, "breath_mm") == 0) {
                if (num(p, "breath_mm", val, 0, 20, &v))
                        d->breath_mm = v;
        } else if (strcmp(key, "ramp") == 0) {
                if (num(p, "ramp (s)", val, 0, 5, &v))
                        d->ramp = v;
        } else {
                return false;
        }
        return true;
}

static bool body_option(struct parser *p, struct rc__device *d, const char *key, const char *val) {
        int i;

        if (strcmp(key, "placement") != 0)
                return false;
        if ((i = lookup(placement_names, val)) < 0)
                perr(p,
                     "placement must be sacrum, upper_back, left_thigh, right_thigh or wrist, "
                     "got '%s'",
                     val);
        else
                d->placement = (enum rc_placement)(i + 1);
        return true;
}

static bool hr_option(struct parser *p, struct rc__device *d, const char *key, const char *val) {
        double v;

        if (strcmp(key, "bpm") == 0) {
                if (num(p, "bpm", val, 30, 240, &v))
                        d->bpm = v;
        } else if (strcmp(key, "rsa") == 0) {
                if (num(p, "rsa (ms)", val, 0, 300, &v))
                        d->rsa = v;
        } else if (strcmp(key, "rr_noise") == 0) {
                if (num(p, "rr_noise (ms)", val, 0, 200, &v))
                        d->rr_noise = v;
        } else if (strcmp(key, "artifacts") == 0) {
                if (num(p, "artifacts", val, 0, 0.5, &v))
                        d->artifacts = v;
        } else {
                return false;
        }
        return true;
}

static const char *const option_help[] = {
        [RC_KIND_ROLLER] = "rate, per_packet, load_cell, diameter, length, axis, surface, "
                           "gyro_bias, gyro_noise, accel_noise, force_noise, force, breath_mm, "
                           "ramp, and the link options",
        [RC_KIND_BODY] = "rate, per_packet, placement, gyro_bias, gyro_noise, accel_noise, and "
                         "the link options",
        [RC_KIND_HR] = "bpm, rsa, rr_noise, artifacts, and the link options",
};

/* roller|body|hr LABEL ADDRESS [key=value ...] */
static void parse_device(struct parser *p, struct tokens *tk, enum rc_device_kind kind) {
        struct rc__scenario *sc = p->sc;
        struct rc__device *d;
        unsigned max_pp;
        char seen[MAX_TOKENS][32];
        unsigned n_seen = 0;

        if (tk->n < 3) {
                perr(p, "%s needs a label and an address: %s LABEL XX:XX:XX:XX:XX:XX [OPTIONS]",
                     tk->t[0], tk->t[0]);
                return;
        }
        if (sc->n_dev == RC__SCN_MAX_DEVICES) {
                perr(p, "too many devices (at most %d)", RC__SCN_MAX_DEVICES);
                return;
        }
        if (!valid_label(tk->t[1])) {
                perr(p, "label '%s' must be 1..%d letters, digits, '_' or '-'", tk->t[1],
                     RC__SCN_LABEL_MAX);
                return;
        }
        if (find_device(sc, tk->t[1])) {
                perr(p, "device '%s' is already declared", tk->t[1]);
                return;
        }
        d = &sc->dev[sc->n_dev];
        memset(d, 0, sizeof(*d));
        device_defaults(d, kind);
        d->line = p->line;
        strcpy(d->label, tk->t[1]);
        snprintf(d->name, sizeof(d->name), "rollcoach sim %s %s", kind_names[kind - 1], tk->t[1]);
        if (rc_addr_parse(tk->t[2], strlen(tk->t[2]), &d->addr) < 0) {
                perr(p, "address '%s' is not XX:XX:XX:XX:XX:XX", tk->t[2]);
                return;
        }
        for (unsigned i = 0; i < sc->n_dev; i++)
                if (rc_addr_equal(&sc->dev[i].addr, &d->addr)) {
                        perr(p, "address %s is already used by '%s'", tk->t[2], sc->dev[i].label);
                        return;
                }
        for (unsigned i = 3; i < tk->n; i++) {
                char *key, *val;
                bool known;

                if (!split_option(tk->t[i], &key, &val)) {
                        perr(p, "expected key=value, got '%s'", tk->t[i]);
                        continue;
                }
                for (unsigned j = 0; j < n_seen; j++)
                        if (strcmp(seen[j], key) == 0) {
                                perr(p, "option '%s' given twice", key);
                                goto next;
                        }
                snprintf(seen[n_seen++], sizeof(seen[0]), "%s", key);
                known = link_option(p, d, key, val);
                if (!known && kind != RC_KIND_HR)
                        known = imu_option(p, d, key, val);
                if (!known && kind == RC_KIND_ROLLER)
                        known = roller_option(p, d, key, val);
                if (!known && kind == RC_KIND_BODY)
                        known = body_option(p, d, key, val);
                if (!known && kind == RC_KIND_HR)
                        known = hr_option(p, d, key, val);
                if (!known)
                        perr(p, "unknown option '%s' for a %s (expected %s)", key,
                             kind_names[kind - 1], option_help[kind]);
        next:;
        }
        if (d->loss + d->corrupt > 0.9)
                perr(p, "loss + corrupt must not exceed 0.9");
        if (kind != RC_KIND_HR) {
                bool force = kind == RC_KIND_ROLLER && d->load_cell;
                unsigned stride = force ? RC_IMU_SAMPLE_FORCE_LEN : RC_IMU_SAMPLE_LEN;

                /* The default fills an ATT MTU of 247 (244-byte payload); a larger
                 * MTU may carry up to the trace's 512-byte payload. */
                max_pp = (512 - RC_IMU_HEADER_LEN) / stride;
                if (d->per_packet == 0)
                        d->per_packet = (244 - RC_IMU_HEADER_LEN) / stride;
                else if (d->per_packet > max_pp)
                        perr(p, "per_packet must be at most %u for this sample size", max_pp);
                d->period_us = (uint16_t)lround(1e6 / d->rate_hz);
        }
        sc->n_dev++;
}

/* ---- segments ----------------------------------------------------------------- */

/* A segment with nothing set: no `at`, breathing and RSA unchanged. */
static void segment_init(struct rc__segment *s, unsigned line) {
        memset(s, 0, sizeof(*s));
        s->line = line;
        s->at = -1;
        s->breath = -1;
        s->rsa = -1;
}

static int push_segment(struct rc__device *d, const struct rc__segment *s) {
        if (d->n_seg == d->cap_seg) {
                size_t cap = d->cap_seg ? d->cap_seg * 2 : 16;
                struct rc__segment *n;

                /* Fillers can at most double the written segments. */
                if (cap > 2 * RC__SCN_MAX_SEGMENTS + 1)
                        cap = 2 * RC__SCN_MAX_SEGMENTS + 1;
                if (d->n_seg >= cap)
                        return -ENOSPC;
                n = realloc(d->seg, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                d->seg = n;
                d->cap_seg = cap;
        }
        d->seg[d->n_seg++] = *s;
        return 0;
}

/* Which segment kinds each device kind takes. */
static const struct {
        const char *word;
        enum rc__seg_kind kind;
        unsigned kinds; /* bit (1 << rc_device_kind) */
        const char *usage;
} seg_words[] = {
        {"rest", RC__SEG_REST, 1u << RC_KIND_ROLLER, "rest DURATION [ramp=S]"},
        {"roll", RC__SEG_ROLL, 1u << RC_KIND_ROLLER,
         "roll SPEED DURATION|dist=CM [force=N] [ramp=S]"},
        {"hold", RC__SEG_HOLD, 1u << RC_KIND_ROLLER, "hold DURATION [force=N] [ramp=S]"},
        {"jerky", RC__SEG_JERKY, 1u << RC_KIND_ROLLER,
         "jerky DURATION [speed=CM_S] [amp=CM_S] [freq=HZ] [force=N] [ramp=S]"},
        {"lift", RC__SEG_LIFT, 1u << RC_KIND_ROLLER, "lift DURATION [tilt=DEG] [ramp=S]"},
        {"carry", RC__SEG_CARRY, 1u << RC_KIND_ROLLER, "carry DURATION [tilt=DEG] [ramp=S]"},
        {"press", RC__SEG_PRESS, 1u << RC_KIND_ROLLER, "press short|long|double"},
        {"posture", RC__SEG_POSTURE, 1u << RC_KIND_BODY,
         "posture NAME DURATION [pitch=DEG] [transition=S]"},
        {"pulse", RC__SEG_PULSE, 1u << RC_KIND_HR,
         "pulse BPM DURATION [breath=PER_MIN] [rsa=MS] [ramp=S]"},
        {"contact", RC__SEG_CONTACT, 1u << RC_KIND_HR, "contact on|off"},
        {"connect", RC__SEG_CONNECT, 7u << 1, "connect"},
        {"disconnect", RC__SEG_DISCONNECT, 7u << 1, "disconnect"},
};

/* The options a segment kind takes, as a list for lookups and messages. */
static const char *seg_option_list(enum rc__seg_kind k) {
        switch (k) {
        case RC__SEG_REST:
                return "ramp";
        case RC__SEG_ROLL:
                return "force ramp dist";
        case RC__SEG_HOLD:
                return "force ramp";
        case RC__SEG_JERKY:
                return "force ramp speed amp freq";
        case RC__SEG_LIFT:
        case RC__SEG_CARRY:
                return "tilt ramp";
        case RC__SEG_POSTURE:
                return "pitch transition";
        case RC__SEG_PULSE:
                return "breath rsa ramp";
        default:
                return "";
        }
}

static bool word_in_list(const char *list, const char *w) {
        size_t n = strlen(w);

        for (const char *s = list; *s;) {
                size_t l = strcspn(s, " ");

                if (l == n && strncmp(s, w, n) == 0)
                        return true;
                s += l;
                while (*s == ' ')
                        s++;
        }
        return false;
}

/* LABEL: [at T] KIND ARGS [key=value ...] */
static void parse_segment(struct parser *p, struct tokens *tk) {
        struct rc__device *d;
        struct rc__segment s;
        char label[RC__SCN_LABEL_MAX + 2];
        size_t ll = strlen(tk->t[0]) - 1;
        unsigned i = 1, w;
        char *pos[MAX_TOKENS];
        const char *keys[MAX_TOKENS];
        unsigned n_pos = 0, n_keys = 0;
        bool have_dur = false, bad = false;
        int r;

        if (ll == 0 || ll > RC__SCN_LABEL_MAX) {
                perr(p, "'%s' is not a device label", tk->t[0]);
                return;
        }
        memcpy(label, tk->t[0], ll);
        label[ll] = '\0';
        d = find_device(p->sc, label);
        if (!d) {
                perr(p,
                     "device '%s' is not declared (declare it first: roller|body|hr %s "
                     "ADDRESS)",
                     label, label);
                return;
        }
        segment_init(&s, p->line);
        if (i < tk->n && strcmp(tk->t[i], "at") == 0) {
                if (i + 1 >= tk->n) {
                        perr(p, "'at' needs a time in seconds");
                        return;
                }
                if (!num(p, "at (s)", tk->t[i + 1], 0, RC__SCN_MAX_DURATION, &s.at))
                        return;
                i += 2;
        }
        if (i >= tk->n) {
                perr(p, "a segment kind is missing after '%s'", tk->t[i - 1]);
                return;
        }
        for (w = 0; w < sizeof(seg_words) / sizeof(seg_words[0]); w++)
                if (strcmp(seg_words[w].word, tk->t[i]) == 0)
                        break;
        if (w == sizeof(seg_words) / sizeof(seg_words[0])) {
                perr(p, "unknown segment '%s'", tk->t[i]);
                return;
        }
        if (!(seg_words[w].kinds & (1u << d->kind))) {
                perr(p, "'%s' is not a segment of a %s device", tk->t[i], kind_names[d->kind - 1]);
                return;
        }
        s.kind = seg_words[w].kind;
        /* defaults */
        s.ramp = d->kind == RC_KIND_HR ? 10.0 : d->ramp;
        s.force = d->force;
        s.amp = 6.0;
        s.freq = 1.5;
        s.tilt = s.kind == RC__SEG_CARRY ? 20.0 : 45.0;
        s.transition = 1.5;
        s.contact = true;
        s.pitch = NAN;

        for (i++; i < tk->n; i++) {
                char *key, *val;
                double v;

                if (!strchr(tk->t[i], '=')) {
                        pos[n_pos++] = tk->t[i];
                        continue;
                }
                split_option(tk->t[i], &key, &val);
                for (unsigned j = 0; j < n_keys; j++)
                        if (strcmp(keys[j], key) == 0) {
                                perr(p, "option '%s' given twice", key);
                                bad = true;
                                goto next;
                        }
                keys[n_keys++] = key;
                if (!word_in_list(seg_option_list(s.kind), key)) {
                        if (*seg_option_list(s.kind))
                                perr(p, "unknown option '%s' for %s (expected: %s)", key,
                                     seg_words[w].word, seg_option_list(s.kind));
                        else
                                perr(p, "%s takes no options, got '%s'", seg_words[w].word, key);
                        bad = true;
                        continue;
                }
                if (strcmp(key, "force") == 0)
                        bad |= !num(p, "force (N)", val, 0, 6000, &s.force);
                else if (strcmp(key, "ramp") == 0)
                        bad |= !num(p, "ramp (s)", val, 0, d->kind == RC_KIND_HR ? 600 : 5,
                                    &s.ramp);
                else if (strcmp(key, "dist") == 0) {
                        if (num(p, "dist (cm)", val, 0, 100000, &v) && v > 0)
                                s.dist = v;
                        else {
                                if (v <= 0)
                                        perr(p, "dist must be more than 0 cm");
                                bad = true;
                        }
                } else if (strcmp(key, "speed") == 0)
                        bad |= !num(p, "speed (cm/s)", val, -200, 200, &s.speed);
                else if (strcmp(key, "amp") == 0)
                        bad |= !num(p, "amp (cm/s)", val, 0, 200, &s.amp);
                else if (strcmp(key, "freq") == 0)
                        bad |= !num(p, "freq (Hz)", val, 0.05, 20, &s.freq);
                else if (strcmp(key, "tilt") == 0)
                        bad |= !num(p, "tilt (deg)", val, 0, 90, &s.tilt);
                else if (strcmp(key, "pitch") == 0)
                        bad |= !num(p, "pitch (deg)", val, -90, 90, &s.pitch);
                else if (strcmp(key, "transition") == 0)
                        bad |= !num(p, "transition (s)", val, 0, 10, &s.transition);
                else if (strcmp(key, "breath") == 0)
                        bad |= !num(p, "breath (breaths/min)", val, 3, 40, &s.breath);
                else if (strcmp(key, "rsa") == 0)
                        bad |= !num(p, "rsa (ms)", val, 0, 300, &s.rsa);
        next:;
        }

        /* positional arguments: [WORD|NUMBER] [DURATION] */
        switch (s.kind) {
        case RC__SEG_ROLL:
                if (n_pos < 1 || n_pos > 2 || (n_pos == 2) == (s.dist > 0)) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                if (!num(p, "speed (cm/s)", pos[0], -200, 200, &s.speed))
                        return;
                if (s.speed == 0) {
                        perr(p, "roll speed must not be 0 (use hold)");
                        return;
                }
                have_dur = n_pos == 2;
                if (have_dur && !num(p, "duration (s)", pos[1], 1e-3, RC__SCN_MAX_DURATION, &s.dur))
                        return;
                break;
        case RC__SEG_REST:
        case RC__SEG_HOLD:
        case RC__SEG_JERKY:
        case RC__SEG_LIFT:
        case RC__SEG_CARRY:
                if (n_pos != 1) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                if (!num(p, "duration (s)", pos[0], 1e-3, RC__SCN_MAX_DURATION, &s.dur))
                        return;
                break;
        case RC__SEG_POSTURE:
                if (n_pos != 2) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                if ((r = lookup(posture_names, pos[0])) < 0) {
                        perr(p,
                             "posture must be supine, prone, side_left, side_right, seated "
                             "or standing, got '%s'",
                             pos[0]);
                        return;
                }
                s.posture = posture_values[r];
                if (isnan(s.pitch))
                        s.pitch = rc__posture_default_pitch(s.posture);
                if (!num(p, "duration (s)", pos[1], 1e-3, RC__SCN_MAX_DURATION, &s.dur))
                        return;
                break;
        case RC__SEG_PULSE:
                if (n_pos != 2) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                if (!num(p, "bpm", pos[0], 30, 240, &s.bpm) ||
                    !num(p, "duration (s)", pos[1], 1e-3, RC__SCN_MAX_DURATION, &s.dur))
                        return;
                break;
        case RC__SEG_PRESS:
                if (n_pos != 1 || (r = lookup(press_names, pos[0])) < 0) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                s.press = (enum rc_press)(r + 1);
                break;
        case RC__SEG_CONTACT:
                if (n_pos != 1 || (strcmp(pos[0], "on") != 0 && strcmp(pos[0], "off") != 0)) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                s.contact = strcmp(pos[0], "on") == 0;
                break;
        default:
                if (n_pos != 0) {
                        perr(p, "usage: %s", seg_words[w].usage);
                        return;
                }
                break;
        }
        if (bad)
                return;
        if (s.kind == RC__SEG_REST || s.kind == RC__SEG_LIFT || s.kind == RC__SEG_CARRY)
                s.force = 0;
        if (d->n_written == RC__SCN_MAX_SEGMENTS) {
                perr(p, "too many segments for '%s' (at most %d)", d->label, RC__SCN_MAX_SEGMENTS);
                return;
        }
        r = push_segment(d, &s);
        if (r == -ENOMEM)
                p->oom = r;
        else
                d->n_written++;
}

/* ---- layout -------------------------------------------------------------------- */

/* The nominal contact-line speed a roller segment ends with (noise and breathing
 * left out), used to work out how long `roll … dist=` takes. */
static double nominal_end_speed(const struct rc__segment *s, double prev) {
        switch (s->kind) {
        case RC__SEG_ROLL:
                return s->speed;
        case RC__SEG_JERKY:
                return s->speed + s->amp * sin(2 * M_PI * s->freq * s->dur);
        default:
                return rc__seg_is_instant(s->kind) ? prev : 0.0;
        }
}

/* Give every segment of d absolute times; fill gaps with idle segments. */
static void layout_device(struct parser *p, struct rc__device *d, bool report_empty) {
        struct rc__segment *raw = d->seg;
        size_t n = d->n_seg;
        double cursor = 0, v_end = 0;
        bool started = false, linked = true;

        if (n == 0) {
                if (report_empty)
                        perr_at(p, d->line, "device '%s' has no segments", d->label);
                return;
        }
        d->seg = NULL;
        d->n_seg = d->cap_seg = 0;
        for (size_t i = 0; i < n; i++) {
                struct rc__segment s = raw[i];

                if (s.at >= 0) {
                        if (!started) {
                                cursor = s.at;
                                d->any_at = true;
                        } else if (s.at < cursor - 1e-9) {
                                perr_at(p, s.line,
                                        "at %g s is before the end of the previous segment of "
                                        "'%s' (%.3f s)",
                                        s.at, d->label, cursor);
                                goto out;
                        } else if (s.at > cursor + 1e-9) {
                                struct rc__segment f;

                                segment_init(&f, 0);
                                f.kind = RC__SEG_IDLE;
                                f.t0 = cursor;
                                f.t1 = s.at;
                                f.ramp = d->ramp;
                                if (push_segment(d, &f) < 0) {
                                        p->oom = -ENOMEM;
                                        goto out;
                                }
                                cursor = s.at;
                                v_end = 0;
                        }
                }
                started = true;
                if (s.kind == RC__SEG_ROLL && s.dist > 0) {
                        /* A smoothstep ramp from v0 to V covers ramp·(v0+V)/2, then
                         * the segment runs at V. */
                        double sign = s.speed > 0 ? 1 : -1;
                        double rest = sign * s.dist - s.ramp * (v_end + s.speed) / 2;

                        if (rest / s.speed < 0) {
                                perr_at(p, s.line,
                                        "dist=%g cm is shorter than the ramp from %.2f to %g "
                                        "cm/s covers",
                                        s.dist, v_end, s.speed);
                                goto out;
                        }
                        s.dur = s.ramp + rest / s.speed;
                }
                if (s.kind == RC__SEG_CONNECT || s.kind == RC__SEG_DISCONNECT) {
                        bool up = s.kind == RC__SEG_CONNECT;

                        if (up == linked) {
                                perr_at(p, s.line, "'%s' is already %s here", d->label,
                                        up ? "connected (a device connects when its timeline "
                                             "starts)"
                                           : "disconnected");
                                goto out;
                        }
                        linked = up;
                }
                if (rc__seg_is_instant(s.kind))
                        s.dur = 0;
                s.t0 = cursor;
                s.t1 = cursor + s.dur;
                if (s.t1 > RC__SCN_MAX_DURATION) {
                        perr_at(p, s.line, "the timeline of '%s' would end at %.1f s, after %g s",
                                d->label, s.t1, RC__SCN_MAX_DURATION);
                        goto out;
                }
                if (d->kind == RC_KIND_ROLLER)
                        v_end = nominal_end_speed(&s, v_end);
                if (push_segment(d, &s) < 0) {
                        p->oom = -ENOMEM;
                        goto out;
                }
                cursor = s.t1;
        }
        d->t_end = cursor;
out:
        free(raw);
}

static int breathing_push(struct rc__breathing *b, double t, double rate) {
        if (b->n && b->t[b->n - 1] == t) {
                b->rate[b->n - 1] = rate;
                return 0;
        }
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 8;
                double *nt = realloc(b->t, cap * sizeof(double));

                if (!nt)
                        return -ENOMEM;
                b->t = nt;
                nt = realloc(b->rate, cap * sizeof(double));
                if (!nt)
                        return -ENOMEM;
                b->rate = nt;
                nt = realloc(b->phase0, cap * sizeof(double));
                if (!nt)
                        return -ENOMEM;
                b->phase0 = nt;
                b->cap = cap;
        }
        b->t[b->n] = t;
        b->rate[b->n] = rate;
        b->phase0[b->n] = b->n ? b->phase0[b->n - 1] +
                                          2 * M_PI * b->rate[b->n - 1] / 60.0 * (t - b->t[b->n - 1])
                               : 0.0;
        b->n++;
        return 0;
}

/* The person's breathing: the global rate, changed by `breath=` on the first hr
 * device's pulses. */
static void build_breathing(struct parser *p) {
        struct rc__scenario *sc = p->sc;
        bool first_hr = true;

        if (breathing_push(&sc->breathing, 0.0, p->breathing) < 0) {
                p->oom = -ENOMEM;
                return;
        }
        for (unsigned i = 0; i < sc->n_dev; i++) {
                struct rc__device *d = &sc->dev[i];

                if (d->kind != RC_KIND_HR)
                        continue;
                for (size_t j = 0; j < d->n_seg; j++) {
                        if (d->seg[j].breath < 0)
                                continue;
                        if (!first_hr) {
                                perr_at(p, d->seg[j].line,
                                        "breath= belongs on the first hr device (the person "
                                        "breathes once)");
                                continue;
                        }
                        if (breathing_push(&sc->breathing, d->seg[j].t0, d->seg[j].breath) < 0) {
                                p->oom = -ENOMEM;
                                return;
                        }
                }
                first_hr = false;
        }
}

static size_t breathing_index(const struct rc__breathing *b, double t) {
        size_t lo = 0, hi = b->n;

        /* last i with t[i] <= t (0 if none) */
        while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;

                if (b->t[mid] <= t)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

double rc__breathing_phase(const struct rc__breathing *b, double t) {
        size_t i = breathing_index(b, t);

        return b->phase0[i] + 2 * M_PI * b->rate[i] / 60.0 * (t - b->t[i]);
}

double rc__breathing_rate(const struct rc__breathing *b, double t) {
        return b->rate[breathing_index(b, t)];
}

/* ---- lines -------------------------------------------------------------------- */

static void parse_line(struct parser *p, char *line) {
        struct tokens tk;
        int k;

        if (!tokenize(p, line, &tk) || tk.n == 0)
                return;
        if ((k = lookup(kind_names, tk.t[0])) >= 0) {
                parse_device(p, &tk, (enum rc_device_kind)(k + 1));
        } else if (strcmp(tk.t[0], "seed") == 0) {
                uint64_t v;

                if (p->seed_seen)
                        perr(p, "seed given twice");
                else if (tk.n != 2)
                        perr(p, "usage: seed N");
                else if (uint_opt(p, "seed", tk.t[1], UINT64_MAX, &v))
                        p->sc->seed = v;
                p->seed_seen = true;
        } else if (strcmp(tk.t[0], "breathing") == 0) {
                if (p->breathing_seen)
                        perr(p, "breathing given twice");
                else if (tk.n != 2)
                        perr(p, "usage: breathing BREATHS_PER_MIN");
                else
                        num(p, "breathing (breaths/min)", tk.t[1], 3, 40, &p->breathing);
                p->breathing_seen = true;
        } else if (tk.t[0][strlen(tk.t[0]) - 1] == ':') {
                parse_segment(p, &tk);
        } else {
                perr(p, "unknown directive '%s' (segments are written 'LABEL: KIND ...')", tk.t[0]);
        }
}

void rc__scenario_free(struct rc__scenario *sc) {
        for (unsigned i = 0; i < sc->n_dev; i++)
                free(sc->dev[i].seg);
        free(sc->breathing.t);
        free(sc->breathing.rate);
        free(sc->breathing.phase0);
        memset(sc, 0, sizeof(*sc));
}

int rc__scenario_parse(const char *text, size_t len, const char *name, struct rc__scenario *sc) {
        struct parser p = {.name = name, .sc = sc, .breathing = RC__SCN_DEFAULT_BREATHING};
        char buf[RC__SCN_MAX_LINE + 2];
        size_t pos = 0;
        bool header = false;
        unsigned parse_errors;

        memset(sc, 0, sizeof(*sc));
        sc->seed = 1;
        if (len > RC__SCN_MAX_BYTES) {
                rc_log_error("%s: scenario is larger than %u bytes", name, RC__SCN_MAX_BYTES);
                return -EINVAL;
        }
        while (pos < len && !p.oom && p.n_errors < RC__SCN_MAX_ERRORS) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t end = nl ? (size_t)(nl - text) : len, l = end - pos;

                p.line++;
                if (l > 0 && text[pos + l - 1] == '\r')
                        l--;
                if (l > RC__SCN_MAX_LINE) {
                        perr(&p, "line longer than %d characters", RC__SCN_MAX_LINE);
                } else if (memchr(text + pos, '\0', l)) {
                        perr(&p, "NUL byte in line");
                } else {
                        memcpy(buf, text + pos, l);
                        buf[l] = '\0';
                        if (!header && buf[strspn(buf, " \t")] == '\0') {
                                /* blank lines before the header are allowed */
                        } else if (!header) {
                                int v;
                                char extra;

                                header = true;
                                if (sscanf(buf, SCN_MAGIC " %d %c", &v, &extra) != 1 ||
                                    strncmp(buf, SCN_MAGIC " ", strlen(SCN_MAGIC) + 1) != 0) {
                                        perr(&p,
                                             "not a scenario: the first line must be '" SCN_MAGIC
                                             " %d'",
                                             SCN_VERSION);
                                        break;
                                }
                                if (v != SCN_VERSION) {
                                        perr(&p,
                                             "scenario version %d is not supported (this is "
                                             "version %d)",
                                             v, SCN_VERSION);
                                        break;
                                }
                        } else {
                                parse_line(&p, buf);
                        }
                }
                pos = end + 1;
        }
        if (!header && !p.n_errors) {
                p.line = 1;
                perr(&p, "empty scenario: the first line must be '" SCN_MAGIC " %d'", SCN_VERSION);
        }
        if (!p.n_errors && !p.oom && sc->n_dev == 0) {
                p.line = 1;
                perr(&p, "no devices declared");
        }
        /* Lay out every timeline even after errors, to report theirs too; an
         * empty one is only worth a message if no segment line failed. */
        parse_errors = p.n_errors;
        for (unsigned i = 0; i < sc->n_dev && !p.oom; i++)
                layout_device(&p, &sc->dev[i], parse_errors == 0);
        if (!p.n_errors && !p.oom) {
                double total = 0;

                for (unsigned i = 0; i < sc->n_dev; i++)
                        total += sc->dev[i].t_end;
                if (total > RC__SCN_MAX_DEVICE_SECONDS) {
                        p.line = 1;
                        perr(&p,
                             "the devices' timelines add up to %.0f s, over %g s: the trace "
                             "would be too large (simulate fewer devices, or in parts)",
                             total, RC__SCN_MAX_DEVICE_SECONDS);
                }
        }
        if (!p.n_errors && !p.oom)
                build_breathing(&p);
        if (p.oom) {
                rc__scenario_free(sc);
                return -ENOMEM;
        }
        if (p.n_errors) {
                rc__scenario_free(sc);
                return -EINVAL;
        }
        return 0;
}
