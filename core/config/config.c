/* rollcoach — the configuration file, read with inih.
 *
 * inih is used through ini_parse_stream with our own line reader, because the
 * distribution's build gives the handler no line number and truncates long
 * lines silently. The reader counts lines, rejects over-long lines and NUL
 * bytes, and checks each line's shape with the rules inih applies (so every
 * syntax error is reported with its line, not only the first one inih would
 * return). Lines it rejects reach inih blank, so nothing is reported twice;
 * every line reaches inih without leading white space, which turns off inih's
 * multi-line continuation values (an indented line is not part of the value
 * above it in this file format). */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
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
        memset(&c->plugins, 0, sizeof(c->plugins));
        memset(&c->devices, 0, sizeof(c->devices));
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
        SECTION_IGNORED, /* a bad or unknown header, already reported: skip its keys */
};

static const char *const section_names[] = {
        [SECTION_PROFILE] = "profile",
        [SECTION_PLUGINS] = "plugins",
        [SECTION_DEVICES] = "devices",
};

enum key {
        KEY_HEIGHT,
        KEY_WEIGHT,
        KEY_LEVEL,
        KEY_CONDITIONS,
        KEY_SESSION_MINUTES,
        KEY_DIRECTORIES,
        KEY_STATE_DIR,
        KEY_INSTRUCTIONS,
        KEY_MEMORY_MB,
        KEY_TIMERS,
        KEY_FAILURES,
        KEY_ROLLER,
        KEY_BODY,
        KEY_HR,
        KEY__COUNT
};

static const struct {
        enum section section;
        const char *name;
} keys[KEY__COUNT] = {
        [KEY_HEIGHT] = {SECTION_PROFILE, "height_cm"},
        [KEY_WEIGHT] = {SECTION_PROFILE, "weight_kg"},
        [KEY_LEVEL] = {SECTION_PROFILE, "level"},
        [KEY_CONDITIONS] = {SECTION_PROFILE, "conditions"},
        [KEY_SESSION_MINUTES] = {SECTION_PROFILE, "session_minutes"},
        [KEY_DIRECTORIES] = {SECTION_PLUGINS, "directories"},
        [KEY_STATE_DIR] = {SECTION_PLUGINS, "state_dir"},
        [KEY_INSTRUCTIONS] = {SECTION_PLUGINS, "instructions"},
        [KEY_MEMORY_MB] = {SECTION_PLUGINS, "memory_mb"},
        [KEY_TIMERS] = {SECTION_PLUGINS, "timers"},
        [KEY_FAILURES] = {SECTION_PLUGINS, "failures"},
        [KEY_ROLLER] = {SECTION_DEVICES, "roller"},
        [KEY_BODY] = {SECTION_DEVICES, "body"},
        [KEY_HR] = {SECTION_DEVICES, "hr"},
};

struct parser {
        FILE *f;
        const char *path;
        struct rc_config *c;
        int line;          /* of the line last read */
        unsigned n_errors; /* reported so far */
        int read_errno;    /* set when reading failed */
        enum section section;
        int key_line[KEY__COUNT]; /* where each key was set, 0 if not yet */
};

__attribute__((format(printf, 2, 3))) static void parse_error(struct parser *p, const char *fmt,
                                                              ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rc_log_error("%s:%d: %s", p->path, p->line, msg);
        p->n_errors++;
}

/* As inih finds a character of `chars` (or, with chars NULL, the end): the first
 * one before an inline ';' comment, which must follow white space. Returns the
 * position of the character found, of the ';', or of the terminating NUL. */
static char *find_chars_or_comment(char *s, const char *chars) {
        bool was_space = false;

        while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
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
        if (strcmp(s + 1, "profile") == 0) {
                p->section = SECTION_PROFILE;
        } else if (strcmp(s + 1, "plugins") == 0) {
                p->section = SECTION_PLUGINS;
        } else if (strcmp(s + 1, "devices") == 0) {
                p->section = SECTION_DEVICES;
        } else {
                parse_error(p,
                            "unknown section [%s] (known sections: [profile], [plugins], "
                            "[devices])",
                            s + 1);
                p->section = SECTION_IGNORED;
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

        if (p->read_errno)
                return NULL;
        c = getc(p->f);
        if (c == EOF) {
                if (ferror(p->f))
                        p->read_errno = errno ? errno : EIO;
                return NULL;
        }
        p->line++;
        for (; c != EOF && c != '\n'; c = getc(p->f)) {
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

static void set_level(struct parser *p, const char *value) {
        if (strcmp(value, "beginner") == 0)
                p->c->profile.level = RC_LEVEL_BEGINNER;
        else if (strcmp(value, "regular") == 0)
                p->c->profile.level = RC_LEVEL_REGULAR;
        else
                parse_error(p, "bad value '%s' for level: expected beginner or regular", value);
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

/* The ini_handler: called for each key = value line the reader let through. It
 * reports errors itself and always goes on (returns 1), so inih's own return
 * value only ever names a syntax error the reader did not catch. */
/* An absolute path, shorter than RC_CONFIG_PATH_MAX, copied to dst. */
static bool set_path(struct parser *p, const char *key, const char *value, char *dst) {
        if (value[0] != '/' || strlen(value) >= RC_CONFIG_PATH_MAX) {
                parse_error(p,
                            "bad value '%s' for %s: expected an absolute path (shorter than "
                            "%d characters)",
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

/* The ini_handler: called for each key = value line the reader let through. It
 * reports errors itself and always goes on (returns 1), so inih's own return
 * value only ever names a syntax error the reader did not catch. */
static int on_value(void *user, const char *section, const char *name, const char *value) {
        struct parser *p = user;
        struct rc_plugins_config *pc = &p->c->plugins;
        int k;

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
        for (k = 0; k < KEY__COUNT; k++)
                if (keys[k].section == p->section && strcmp(name, keys[k].name) == 0)
                        break;
        if (k == KEY__COUNT) {
                char known[256] = "";

                for (int i = 0; i < KEY__COUNT; i++)
                        if (keys[i].section == p->section)
                                snprintf(known + strlen(known), sizeof(known) - strlen(known),
                                         "%s%s", known[0] ? ", " : "", keys[i].name);
                parse_error(p, "unknown key '%s' in [%s] (known keys: %s)", name,
                            section_names[p->section], known);
                return 1;
        }
        if (p->key_line[k]) {
                parse_error(p, "duplicate key '%s' in [%s] (first set on line %d)", name,
                            section_names[p->section], p->key_line[k]);
                return 1;
        }
        p->key_line[k] = p->line;
        switch ((enum key)k) {
        case KEY_HEIGHT:
                set_number(p, name, value, 100, 250, "cm", &p->c->profile.height_cm);
                break;
        case KEY_WEIGHT:
                set_number(p, name, value, 25, 300, "kg", &p->c->profile.weight_kg);
                break;
        case KEY_LEVEL:
                set_level(p, value);
                break;
        case KEY_CONDITIONS:
                set_conditions(p, value);
                break;
        case KEY_SESSION_MINUTES:
                set_number(p, name, value, 1, 120, "minutes", &p->c->profile.session_minutes);
                break;
        case KEY_DIRECTORIES:
                set_directories(p, value);
                break;
        case KEY_STATE_DIR:
                set_path(p, name, value, pc->state_dir);
                break;
        case KEY_INSTRUCTIONS:
                set_count(p, name, value, 100000, 100000000, "per callback", &pc->instructions);
                break;
        case KEY_MEMORY_MB:
                set_count(p, name, value, 1, 256, "MiB per plugin", &pc->memory_mb);
                break;
        case KEY_TIMERS:
                set_count(p, name, value, 1, 64, "per plugin", &pc->timers);
                break;
        case KEY_FAILURES:
                set_count(p, name, value, 1, 1000, "errors before a plugin is disabled",
                          &pc->failures);
                break;
        case KEY_ROLLER:
        case KEY_BODY:
        case KEY_HR: {
                unsigned kind = 1 + (unsigned)(k - KEY_ROLLER); /* enum rc_device_kind */
                rc_addr a;

                if (rc_addr_parse(value, strlen(value), &a) < 0) {
                        parse_error(p,
                                    "bad value '%s' for %s: expected a Bluetooth address "
                                    "like AA:BB:CC:DD:EE:FF",
                                    value, name);
                        break;
                }
                memcpy(p->c->devices.addr[kind], a.b, 6);
                p->c->devices.has[kind] = true;
                break;
        }
        case KEY__COUNT:
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
        r = ini_parse_stream(read_line, &p, on_value, &p);
        fclose(p.f);
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
