/* rollcoach — the configuration file, read with inih.
 *
 * inih is used through ini_parse_stream with our own line reader, because the
 * distribution's build gives the handler no line number and truncates long
 * lines silently. Debian 12's libinih (55) exposes its build options as
 * variables: its line buffer is set to RC_CONFIG_LINE_MAX here (the built-in
 * 200 bytes would cap lines below a 255-character path). Inline comments are
 * cut by the reader ('#' as well as inih's ';'), so inih never sees them. The reader counts lines,
 * rejects over-long lines and NUL bytes, and checks each line's shape with the rules inih applies
 * (so every syntax error is reported with its line, not only the first one inih would return).
 * Lines it rejects reach inih blank, so nothing is reported twice; every line reaches inih without
 * leading white space, which turns off inih's multi-line continuation values (an indented line is
 * not part of the value above it in this file format). */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util/ids.h"
#include "util/log.h"

static const char *const condition_names[RC_COND__COUNT] = {
        "osteoporosis",    "pregnancy",          "spondylolisthesis",   "spinal_stenosis",
        "disc_herniation", "recent_back_injury", "recent_back_surgery",
};
#define CONDITION_LIST                                                                             \
        "osteoporosis, pregnancy, spondylolisthesis, spinal_stenosis, disc_herniation, "           \
        "recent_back_injury, recent_back_surgery"

void rc_config_defaults(struct rc_config *c) {
        memset(c, 0, sizeof(*c));
        c->profile.height_cm = 170;
        c->profile.weight_kg = 70;
        c->profile.level = RC_LEVEL_BEGINNER;
        c->profile.conditions = 0;
        c->profile.session_minutes = 0; /* by level */
        c->voice = (struct rc_voice_config){.output = RC_VOICE_ALSA,
                                            .alsa_device = "default",
                                            .voice = "en-us",
                                            .rate = 145,
                                            .pitch = 45,
                                            .volume = 100,
                                            .repeat_seconds = 10,
                                            .stale_seconds = 6,
                                            .queue = 8};
        c->leds = (struct rc_leds_config){.backend = RC_LEDS_OFF,
                                          .sysfs_root = "/sys/class/leds",
                                          .gpio_chip = "gpiochip0",
                                          .line = {-1, -1, -1, -1}};
        c->button = (struct rc_button_config){.gpio_chip = "gpiochip0",
                                              .line = -1,
                                              .active_low = true,
                                              .debounce_ms = 30,
                                              .long_ms = 1500,
                                              .double_ms = 400};
        c->session = (struct rc_session_config){.auto_start = true,
                                                .routine = "lower-back-relief",
                                                .idle_minutes = 5,
                                                .roller_grace_seconds = 20};
}

double rc_profile_session_minutes(const struct rc_profile *p) {
        if (p->session_minutes > 0)
                return p->session_minutes;
        return p->level == RC_LEVEL_REGULAR ? 20 : 10;
}

const char *rc_level_name(enum rc_level l) {
        switch (l) {
        case RC_LEVEL_BEGINNER:
                return "beginner";
        case RC_LEVEL_REGULAR:
                return "regular";
        }
        return "invalid";
}

const char *rc_condition_name(unsigned bit) {
        for (unsigned i = 0; i < RC_COND__COUNT; i++)
                if (bit == 1u << i)
                        return condition_names[i];
        return NULL;
}

int rc_condition_from_name(const char *name, unsigned *ret_bit) {
        for (unsigned i = 0; i < RC_COND__COUNT; i++)
                if (strcmp(name, condition_names[i]) == 0) {
                        *ret_bit = 1u << i;
                        return 0;
                }
        return -EINVAL;
}

/* ---- Parsing ------------------------------------------------------------------ */

enum section {
        SECTION_NONE,    /* before the first section header */
        SECTION_PROFILE, /* [profile] */
        SECTION_PLUGINS, /* [plugins] */
        SECTION_DEVICES, /* [devices] */
        SECTION_VOICE,   /* [voice] */
        SECTION_LEDS,    /* [leds] */
        SECTION_BUTTON,  /* [button] */
        SECTION_SESSION, /* [session] */
        SECTION__COUNT,
        SECTION_IGNORED, /* a bad or unknown header, already reported: skip its keys */
};

static const char *const section_names[SECTION__COUNT] = {
        [SECTION_PROFILE] = "profile", [SECTION_PLUGINS] = "plugins", [SECTION_DEVICES] = "devices",
        [SECTION_VOICE] = "voice",     [SECTION_LEDS] = "leds",       [SECTION_BUTTON] = "button",
        [SECTION_SESSION] = "session",
};

/* How a key's value is read. */
enum kind {
        K_NUMBER,  /* a decimal number in [lo, hi] into a double */
        K_COUNT,   /* a whole number in [lo, hi] into a double */
        K_PATH,    /* an absolute path into char[RC_CONFIG_PATH_MAX] */
        K_NAME,    /* 1..RC_CONFIG_NAME_MAX printable characters, no blanks */
        K_BOOL,    /* yes/no, true/false, on/off, 1/0 into bool */
        K_CHOICE,  /* one of `choices` into int (its index) */
        K_SPECIAL, /* a value with rules of its own (conditions, addresses, …) */
};

static const char *const level_choices[] = {"beginner", "regular", NULL};
static const char *const output_choices[] = {"alsa", "wav", "off", NULL};
static const char *const leds_choices[] = {"off", "sysfs", "gpiod", NULL};

int rc_voice_output_from_name(const char *name) {
        for (int i = 0; output_choices[i]; i++)
                if (strcmp(name, output_choices[i]) == 0)
                        return i;
        return -EINVAL;
}

#define AT(field) offsetof(struct rc_config, field)

static const struct key {
        enum section section;
        const char *name;
        enum kind kind;
        size_t offset;
        double lo, hi;
        const char *unit;
        const char *const *choices;
} keys[] = {
        {SECTION_PROFILE, "height_cm", K_NUMBER, AT(profile.height_cm), 100, 250, "cm", NULL},
        {SECTION_PROFILE, "weight_kg", K_NUMBER, AT(profile.weight_kg), 25, 300, "kg", NULL},
        {SECTION_PROFILE, "level", K_CHOICE, AT(profile.level), 0, 0, NULL, level_choices},
        {SECTION_PROFILE, "conditions", K_SPECIAL, 0, 0, 0, NULL, NULL},
        {SECTION_PROFILE, "session_minutes", K_NUMBER, AT(profile.session_minutes), 1, 120,
         "minutes", NULL},
        {SECTION_PLUGINS, "directories", K_SPECIAL, 0, 0, 0, NULL, NULL},
        {SECTION_PLUGINS, "state_dir", K_PATH, AT(plugins.state_dir), 0, 0, NULL, NULL},
        {SECTION_PLUGINS, "instructions", K_COUNT, AT(plugins.instructions), 100000, 100000000,
         "per callback", NULL},
        {SECTION_PLUGINS, "memory_mb", K_COUNT, AT(plugins.memory_mb), 1, 256, "MiB per plugin",
         NULL},
        {SECTION_PLUGINS, "timers", K_COUNT, AT(plugins.timers), 1, 64, "per plugin", NULL},
        {SECTION_PLUGINS, "failures", K_COUNT, AT(plugins.failures), 1, 1000,
         "errors before a plugin is disabled", NULL},
        {SECTION_DEVICES, "roller", K_SPECIAL, 0, 0, 0, NULL, NULL},
        {SECTION_DEVICES, "body", K_SPECIAL, 0, 0, 0, NULL, NULL},
        {SECTION_DEVICES, "hr", K_SPECIAL, 0, 0, 0, NULL, NULL},
        {SECTION_VOICE, "output", K_CHOICE, AT(voice.output), 0, 0, NULL, output_choices},
        {SECTION_VOICE, "wav_dir", K_PATH, AT(voice.wav_dir), 0, 0, NULL, NULL},
        {SECTION_VOICE, "alsa_device", K_NAME, AT(voice.alsa_device), 0, 0, NULL, NULL},
        {SECTION_VOICE, "voice", K_NAME, AT(voice.voice), 0, 0, NULL, NULL},
        {SECTION_VOICE, "rate", K_COUNT, AT(voice.rate), 80, 450, "words a minute", NULL},
        {SECTION_VOICE, "pitch", K_COUNT, AT(voice.pitch), 0, 99, "espeak-ng's 0..99", NULL},
        {SECTION_VOICE, "volume", K_COUNT, AT(voice.volume), 0, 200, "espeak-ng's amplitude", NULL},
        {SECTION_VOICE, "repeat_seconds", K_NUMBER, AT(voice.repeat_seconds), 0, 600, "s", NULL},
        {SECTION_VOICE, "stale_seconds", K_NUMBER, AT(voice.stale_seconds), 1, 60, "s", NULL},
        {SECTION_VOICE, "queue", K_COUNT, AT(voice.queue), 1, 64, "messages", NULL},
        {SECTION_LEDS, "backend", K_CHOICE, AT(leds.backend), 0, 0, NULL, leds_choices},
        {SECTION_LEDS, "sysfs_root", K_PATH, AT(leds.sysfs_root), 0, 0, NULL, NULL},
        {SECTION_LEDS, "ok", K_NAME, AT(leds.name[RC_LED_SLOT_OK]), 0, 0, NULL, NULL},
        {SECTION_LEDS, "hold", K_NAME, AT(leds.name[RC_LED_SLOT_HOLD]), 0, 0, NULL, NULL},
        {SECTION_LEDS, "warn", K_NAME, AT(leds.name[RC_LED_SLOT_WARN]), 0, 0, NULL, NULL},
        {SECTION_LEDS, "stop", K_NAME, AT(leds.name[RC_LED_SLOT_STOP]), 0, 0, NULL, NULL},
        {SECTION_LEDS, "gpio_chip", K_NAME, AT(leds.gpio_chip), 0, 0, NULL, NULL},
        {SECTION_LEDS, "ok_line", K_COUNT, AT(leds.line[RC_LED_SLOT_OK]), 0, 1023, "line", NULL},
        {SECTION_LEDS, "hold_line", K_COUNT, AT(leds.line[RC_LED_SLOT_HOLD]), 0, 1023, "line",
         NULL},
        {SECTION_LEDS, "warn_line", K_COUNT, AT(leds.line[RC_LED_SLOT_WARN]), 0, 1023, "line",
         NULL},
        {SECTION_LEDS, "stop_line", K_COUNT, AT(leds.line[RC_LED_SLOT_STOP]), 0, 1023, "line",
         NULL},
        {SECTION_BUTTON, "enabled", K_BOOL, AT(button.enabled), 0, 0, NULL, NULL},
        {SECTION_BUTTON, "gpio_chip", K_NAME, AT(button.gpio_chip), 0, 0, NULL, NULL},
        {SECTION_BUTTON, "line", K_COUNT, AT(button.line), 0, 1023, "line", NULL},
        {SECTION_BUTTON, "active_low", K_BOOL, AT(button.active_low), 0, 0, NULL, NULL},
        {SECTION_BUTTON, "debounce_ms", K_COUNT, AT(button.debounce_ms), 1, 200, "ms", NULL},
        {SECTION_BUTTON, "long_ms", K_COUNT, AT(button.long_ms), 500, 5000, "ms", NULL},
        {SECTION_BUTTON, "double_ms", K_COUNT, AT(button.double_ms), 100, 1000, "ms", NULL},
        {SECTION_SESSION, "auto", K_BOOL, AT(session.auto_start), 0, 0, NULL, NULL},
        {SECTION_SESSION, "routine", K_NAME, AT(session.routine), 0, 0, NULL, NULL},
        {SECTION_SESSION, "idle_minutes", K_NUMBER, AT(session.idle_minutes), 0.1, 60, "minutes",
         NULL},
        {SECTION_SESSION, "roller_grace_seconds", K_NUMBER, AT(session.roller_grace_seconds), 0,
         300, "s", NULL},
};

#define KEY__COUNT (sizeof(keys) / sizeof(keys[0]))

struct parser {
        FILE *f;
        const char *path;
        struct rc_config *c;
        int line;          /* of the line last read */
        unsigned n_errors; /* reported so far */
        int read_errno;    /* set when reading failed */
        size_t bytes;      /* read so far, bounded by RC_CONFIG_MAX_BYTES */
        bool not_config;   /* binary or too large: reported, reading stopped */
        enum section section;
        int key_line[sizeof(keys) / sizeof(keys[0])]; /* where each key was set, or 0 */
};

__attribute__((format(printf, 2, 3))) static void parse_error(struct parser *p, const char *fmt,
                                                              ...) {
        char msg[512];
        va_list ap;

        if (p->n_errors++ >= RC_CONFIG_MAX_REPORTED)
                return; /* counted, summarised at the end */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rc_log_error("%s:%d: %s", p->path, p->line, msg);
}

/* Not a configuration at all (binary data, too large): one error, reading stops. */
static void not_config(struct parser *p, const char *why) {
        rc_log_error("%s:%d: not a configuration: %s", p->path, p->line, why);
        p->n_errors++;
        p->not_config = true;
}

/* As inih finds a character of `chars` (or, with chars NULL, the end): the first
 * one before an inline ';' or '#' comment, which must follow white space.
 * Returns the position of the character found, of the comment, or of the
 * terminating NUL. */
static char *find_chars_or_comment(char *s, const char *chars) {
        bool was_space = false;

        while (*s && (!chars || !strchr(chars, *s)) && !(was_space && (*s == ';' || *s == '#'))) {
                was_space = isspace((unsigned char)*s);
                s++;
        }
        return s;
}

/* Check a section header line "[name]" (starts with '['), and track the section. */
static bool check_section(struct parser *p, char *s) {
        char *end = find_chars_or_comment(s + 1, "]");
        char *rest;

        if (*end != ']') {
                parse_error(p, "section header '%s' has no closing ']'", s);
                p->section = SECTION_IGNORED;
                return false;
        }
        *end = '\0';
        p->section = SECTION_IGNORED;
        for (int k = SECTION_PROFILE; k < SECTION__COUNT; k++)
                if (strcmp(s + 1, section_names[k]) == 0)
                        p->section = (enum section)k;
        if (p->section == SECTION_IGNORED) {
                char known[256] = "";

                for (int k = SECTION_PROFILE; k < SECTION__COUNT; k++)
                        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s[%s]",
                                 known[0] ? ", " : "", section_names[k]);
                parse_error(p, "unknown section [%s] (known sections: %s)", s + 1, known);
        }
        rest = end + 1;
        while (isspace((unsigned char)*rest))
                rest++;
        if (*rest && *rest != ';')
                parse_error(p, "unexpected text '%s' after the section header [%s]", rest, s + 1);
        *end = ']';
        return true;
}

/* The ini_reader: one line per call, counted, checked, trimmed. A rejected line
 * is reported here and handed to inih as an empty line. */
static char *read_line(char *str, int num, void *stream) {
        struct parser *p = stream;
        /* inih's documented limit: its buffer holds the longest line plus "\r\n\0". */
        const size_t max = num > 3 ? (size_t)num - 3 : 0;
        size_t n = 0, start;
        char *sep;
        bool nul = false, too_long = false;
        int c;

        if (p->read_errno || p->not_config)
                return NULL;
        c = getc(p->f);
        if (c == EOF) {
                if (ferror(p->f))
                        p->read_errno = errno ? errno : EIO;
                return NULL;
        }
        p->line++;
        for (; c != EOF && c != '\n'; c = getc(p->f)) {
                if (++p->bytes > RC_CONFIG_MAX_BYTES) {
                        not_config(p, "larger than 1 MiB");
                        return NULL;
                }
                if (c == '\0' && p->line == 1) {
                        not_config(p, "a NUL byte in the first line (binary data)");
                        return NULL;
                }
                if (c == '\0')
                        nul = true;
                if (n < (size_t)num - 1)
                        str[n++] = (char)c;
                else
                        too_long = true;
        }
        if (ferror(p->f)) {
                p->read_errno = errno ? errno : EIO;
                return NULL;
        }
        if (++p->bytes > RC_CONFIG_MAX_BYTES) { /* the line end */
                not_config(p, "larger than 1 MiB");
                return NULL;
        }
        if (n > 0 && str[n - 1] == '\r')
                n--;
        str[n] = '\0';
        if (too_long || n > max) {
                parse_error(p, "line longer than %zu characters", max);
                str[0] = '\0';
                return str;
        }
        if (nul) {
                parse_error(p, "NUL byte in the line");
                str[0] = '\0';
                return str;
        }
        start = 0;
        if (p->line == 1 && n >= 3 && memcmp(str, "\xef\xbb\xbf", 3) == 0)
                start = 3; /* UTF-8 byte order mark */
        while (start < n && isspace((unsigned char)str[start]))
                start++;
        while (n > start && isspace((unsigned char)str[n - 1]))
                n--;
        memmove(str, str + start, n - start);
        n -= start;
        str[n] = '\0';

        if (n == 0 || str[0] == ';' || str[0] == '#')
                return str; /* blank or comment */
        /* an inline comment: cut here, so neither inih nor a value sees it */
        sep = find_chars_or_comment(str, NULL);
        while (sep > str && isspace((unsigned char)sep[-1]))
                sep--;
        *sep = '\0';
        if (str[0] == '[') {
                if (!check_section(p, str))
                        str[0] = '\0';
                return str;
        }
        sep = find_chars_or_comment(str, "=:");
        if (*sep != '=' && *sep != ':') {
                parse_error(p, "expected 'key = value' or a [section] header, got '%s'", str);
                str[0] = '\0';
        }
        return str;
}

/* A number written in decimal ("170", "72.5"), nothing else: no hex, exponent,
 * infinity or NaN, and the whole string consumed. */
static int parse_number(const char *s, double *ret) {
        const char *q = s;
        bool digits = false, dot = false;
        char *end;
        double v;

        if (*q == '+' || *q == '-')
                q++;
        for (; *q; q++) {
                if (*q >= '0' && *q <= '9')
                        digits = true;
                else if (*q == '.' && !dot)
                        dot = true;
                else
                        return -EINVAL;
        }
        if (!digits)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (*end || errno || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

static void set_number(struct parser *p, const char *key, const char *value, double lo, double hi,
                       const char *unit, double *ret) {
        double v;

        if (parse_number(value, &v) < 0 || v < lo || v > hi) {
                parse_error(p, "bad value '%s' for %s: expected a number from %g to %g (%s)", value,
                            key, lo, hi, unit);
                return;
        }
        *ret = v;
}

/* A comma-separated list of condition names, white space around the commas
 * allowed; empty for none. Every bad name is reported; any error leaves the
 * conditions unchanged. */
static void set_conditions(struct parser *p, const char *value) {
        char buf[256];
        char *s = buf;
        unsigned set = 0, errors = 0;
        bool empty_reported = false;

        if (strlen(value) >= sizeof(buf)) {
                parse_error(p, "bad value for conditions: longer than %zu characters",
                            sizeof(buf) - 1);
                return;
        }
        strcpy(buf, value);
        while (isspace((unsigned char)*s))
                s++;
        if (*s == '\0') {
                p->c->profile.conditions = 0;
                return;
        }
        for (;;) {
                char *comma = strchr(s, ',');
                char *end = comma ? comma : s + strlen(s);
                unsigned bit;

                while (s < end && isspace((unsigned char)*s))
                        s++;
                while (end > s && isspace((unsigned char)end[-1]))
                        end--;
                *end = '\0';
                if (*s == '\0') {
                        if (!empty_reported)
                                parse_error(
                                        p,
                                        "bad value '%s' for conditions: an empty name in the list "
                                        "(expected names separated by commas)",
                                        value);
                        empty_reported = true;
                        errors++;
                } else if (rc_condition_from_name(s, &bit) < 0) {
                        parse_error(p,
                                    "unknown condition '%s' in conditions: expected a "
                                    "comma-separated list of " CONDITION_LIST
                                    ", or nothing for none",
                                    s);
                        errors++;
                } else {
                        set |= bit;
                }
                if (!comma)
                        break;
                s = comma + 1;
        }
        if (errors == 0)
                p->c->profile.conditions = set;
}

/* An absolute path, shorter than RC_CONFIG_PATH_MAX, copied to dst. */
static bool set_path(struct parser *p, const char *key, const char *value, char *dst) {
        if (value[0] != '/' || strlen(value) >= RC_CONFIG_PATH_MAX) {
                parse_error(p,
                            "bad value '%s' for %s: expected an absolute path (shorter than %d "
                            "characters)",
                            value, key, RC_CONFIG_PATH_MAX);
                return false;
        }
        strcpy(dst, value);
        return true;
}

/* Comma-separated absolute paths, at most RC_CONFIG_MAX_DIRS. */
static void set_directories(struct parser *p, const char *value) {
        struct rc_plugins_config *pc = &p->c->plugins;
        char buf[RC_CONFIG_MAX_DIRS * RC_CONFIG_PATH_MAX];
        unsigned n = 0;
        char *s = buf, *tok;

        if (strlen(value) >= sizeof(buf)) {
                parse_error(p, "bad value for directories: too long");
                return;
        }
        strcpy(buf, value);
        while ((tok = strsep(&s, ","))) {
                char *end = tok + strlen(tok);

                while (isspace((unsigned char)*tok))
                        tok++;
                while (end > tok && isspace((unsigned char)end[-1]))
                        *--end = '\0';
                if (n == RC_CONFIG_MAX_DIRS) {
                        parse_error(p, "bad value for directories: at most %d", RC_CONFIG_MAX_DIRS);
                        return;
                }
                if (!set_path(p, "directories", tok, pc->directories[n]))
                        return;
                n++;
        }
        pc->n_directories = n;
}

static void set_count(struct parser *p, const char *key, const char *value, double lo, double hi,
                      const char *unit, double *ret) {
        double v = -1;

        set_number(p, key, value, lo, hi, unit, &v);
        if (v >= 0 && v != floor(v))
                parse_error(p, "bad value '%s' for %s: expected a whole number", value, key);
        else if (v >= 0)
                *ret = v;
}

/* A name: 1..RC_CONFIG_NAME_MAX printable ASCII characters without blanks. */
static void set_name(struct parser *p, const char *key, const char *value, char *dst) {
        size_t n = strlen(value);
        bool ok = n >= 1 && n <= RC_CONFIG_NAME_MAX;

        for (size_t i = 0; ok && i < n; i++)
                ok = value[i] > ' ' && value[i] < 0x7f;
        if (!ok) {
                parse_error(p,
                            "bad value '%s' for %s: expected a name of 1 to %d printable "
                            "characters without blanks",
                            value, key, RC_CONFIG_NAME_MAX);
                return;
        }
        memcpy(dst, value, n + 1);
}

static void set_bool(struct parser *p, const char *key, const char *value, bool *dst) {
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on") ||
            !strcmp(value, "1"))
                *dst = true;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off") ||
                 !strcmp(value, "0"))
                *dst = false;
        else
                parse_error(p, "bad value '%s' for %s: expected yes or no", value, key);
}

static void set_choice(struct parser *p, const struct key *k, const char *value, int *dst) {
        char list[128] = "";

        for (int i = 0; k->choices[i]; i++)
                if (strcmp(value, k->choices[i]) == 0) {
                        *dst = i;
                        return;
                }
        for (int i = 0; k->choices[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         i ? (k->choices[i + 1] ? ", " : " or ") : "", k->choices[i]);
        parse_error(p, "bad value '%s' for %s: expected %s", value, k->name, list);
}

static void set_device(struct parser *p, const char *name, const char *value) {
        unsigned kind = !strcmp(name, "roller") ? 1 : !strcmp(name, "body") ? 2 : 3;
        rc_addr a;

        if (rc_addr_parse(value, strlen(value), &a) < 0) {
                parse_error(p,
                            "bad value '%s' for %s: expected a Bluetooth address like "
                            "AA:BB:CC:DD:EE:FF",
                            value, name);
                return;
        }
        memcpy(p->c->devices.addr[kind], a.b, 6);
        p->c->devices.has[kind] = true;
}

/* The ini_handler: called for each key = value line the reader let through. It
 * reports errors itself and always goes on (returns 1), so inih's own return
 * value only ever names a syntax error the reader did not catch. */
static int on_value(void *user, const char *section, const char *name, const char *value) {
        struct parser *p = user;
        const struct key *k = NULL;
        char *at;

        (void)section;
        switch (p->section) {
        case SECTION_NONE:
                parse_error(p, "key '%s' comes before any [section] header", name);
                return 1;
        case SECTION_IGNORED:
                return 1;
        default:
                break;
        }
        for (size_t i = 0; i < KEY__COUNT && !k; i++)
                if (keys[i].section == p->section && strcmp(name, keys[i].name) == 0)
                        k = &keys[i];
        if (!k) {
                char known[512] = "";

                for (size_t i = 0; i < KEY__COUNT; i++)
                        if (keys[i].section == p->section)
                                snprintf(known + strlen(known), sizeof(known) - strlen(known),
                                         "%s%s", known[0] ? ", " : "", keys[i].name);
                parse_error(p, "unknown key '%s' in [%s] (known keys: %s)", name,
                            section_names[p->section], known);
                return 1;
        }
        if (p->key_line[k - keys]) {
                parse_error(p, "duplicate key '%s' in [%s] (first set on line %d)", name,
                            section_names[p->section], p->key_line[k - keys]);
                return 1;
        }
        p->key_line[k - keys] = p->line;
        at = (char *)p->c + k->offset;
        switch (k->kind) {
        case K_NUMBER:
                set_number(p, name, value, k->lo, k->hi, k->unit, (double *)(void *)at);
                break;
        case K_COUNT:
                set_count(p, name, value, k->lo, k->hi, k->unit, (double *)(void *)at);
                break;
        case K_PATH:
                set_path(p, name, value, at);
                break;
        case K_NAME:
                set_name(p, name, value, at);
                break;
        case K_BOOL:
                set_bool(p, name, value, (bool *)(void *)at);
                break;
        case K_CHOICE:
                set_choice(p, k, value, (int *)(void *)at);
                break;
        case K_SPECIAL:
                if (!strcmp(name, "conditions"))
                        set_conditions(p, value);
                else if (!strcmp(name, "directories"))
                        set_directories(p, value);
                else
                        set_device(p, name, value);
                break;
        }
        return 1;
}

int rc_config_load(struct rc_config *c, const char *path) {
        struct parser p = {.path = path, .c = c, .section = SECTION_NONE};
        int r;

        p.f = fopen(path, "re");
        if (!p.f) {
                r = -errno;
                rc_log_error("%s: cannot open: %s", path, strerror(-r));
                return r;
        }
        /* inih's line buffer on the heap, of our size (see the top of the file) */
        ini_use_stack = false;
        ini_allow_realloc = false;
        ini_max_line = ini_initial_alloc = RC_CONFIG_LINE_MAX + 3;
        r = ini_parse_stream(read_line, &p, on_value, &p);
        fclose(p.f);
        if (p.n_errors > RC_CONFIG_MAX_REPORTED)
                rc_log_error("%s: %u more errors not shown (%u in all)", path,
                             p.n_errors - RC_CONFIG_MAX_REPORTED, p.n_errors);
        if (p.read_errno) {
                rc_log_error("%s: read error: %s", path, strerror(p.read_errno));
                return -p.read_errno;
        }
        if (r > 0) {
                /* inih found an error the reader did not: report what is known. */
                p.line = r;
                parse_error(&p, "syntax error");
        } else if (r < 0) {
                rc_log_error("%s: the INI parser failed (%d)", path, r);
                return r == -2 ? -ENOMEM : -EIO;
        }
        return p.n_errors ? -EINVAL : 0;
}
