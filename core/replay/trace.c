/* rollcoach — reading and writing traces (spec/trace-format.md). */
#include "replay/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "util/log.h"

static const char *const error_names[RC_TRACE_ERR__COUNT] = {
        [RC_TRACE_ERR_FIELDS] = "fields",       [RC_TRACE_ERR_TIME] = "time",
        [RC_TRACE_ERR_BACKWARDS] = "backwards", [RC_TRACE_ERR_ADDRESS] = "address",
        [RC_TRACE_ERR_WHAT] = "what",           [RC_TRACE_ERR_PAYLOAD] = "payload",
        [RC_TRACE_ERR_TOO_LONG] = "too_long",   [RC_TRACE_ERR_NUL] = "nul",
};

const char *rc_trace_error_name(enum rc_trace_error e) {
        if ((unsigned)e >= RC_TRACE_ERR__COUNT)
                return "invalid";
        return error_names[e];
}

void rc_trace_reader_init(struct rc_trace_reader *r, FILE *f, const char *name) {
        memset(r, 0, sizeof(*r));
        r->f = f;
        r->name = name;
}

/* Log, count and skip the current line. */
__attribute__((format(printf, 3, 4))) static void
malformed(struct rc_trace_reader *r, enum rc_trace_error e, const char *fmt, ...) {
        char why[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        rc_log_warning("%s:%llu: %s", r->name, (unsigned long long)r->line_no, why);
        r->n_malformed++;
        r->n_by_error[e]++;
}

/* How much of a bad field to quote in a message. */
static int quote_len(size_t len) {
        return len > 40 ? 40 : (int)len;
}

/* One more than the value of a lower-case hex digit; 0 for anything else (upper
 * case included). */
static const uint8_t lower_hex1[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
        ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
        ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static bool is_blank(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (s[i] != ' ' && s[i] != '\t')
                        return false;
        return true;
}

/* Parse an unsigned decimal that fits in 64 bits: digits only, at least one. */
static int parse_u64(const char *s, size_t len, uint64_t *ret, bool *ret_overflow) {
        uint64_t v = 0;

        *ret_overflow = false;
        if (len == 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned d;

                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                d = (unsigned)(s[i] - '0');
                if (v > (UINT64_MAX - d) / 10) {
                        *ret_overflow = true;
                        return -ERANGE;
                }
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Parse one line (no line end, no NUL) after the header. Returns 1 with *ret
 * filled, or 0 if the line was rejected (already reported). */
static int parse_line(struct rc_trace_reader *r, const char *s, size_t len,
                      struct rc_notification *ret) {
        const char *f[4];
        size_t flen[4];
        int nf = 0;
        const char *p = s, *end = s + len;
        struct rc_notification n = {0};
        bool overflow;

        /* Split on commas: exactly three of them. */
        for (;;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *stop = comma ? comma : end;

                if (nf < 4) {
                        f[nf] = p;
                        flen[nf] = (size_t)(stop - p);
                }
                nf++;
                if (!comma)
                        break;
                p = comma + 1;
        }
        if (nf != 4) {
                malformed(r, RC_TRACE_ERR_FIELDS, "expected 4 comma-separated fields, found %d",
                          nf);
                return 0;
        }

        if (parse_u64(f[0], flen[0], &n.t_us, &overflow) < 0) {
                if (overflow)
                        malformed(r, RC_TRACE_ERR_TIME, "time '%.*s' does not fit in 64 bits",
                                  quote_len(flen[0]), f[0]);
                else
                        malformed(r, RC_TRACE_ERR_TIME,
                                  "time '%.*s' is not an unsigned decimal integer",
                                  quote_len(flen[0]), f[0]);
                return 0;
        }
        if (n.t_us < r->last_t_us) {
                malformed(r, RC_TRACE_ERR_BACKWARDS,
                          "time %" PRIu64 " is before the previous line's %" PRIu64, n.t_us,
                          r->last_t_us);
                return 0;
        }

        if (rc_addr_parse(f[1], flen[1], &n.addr) < 0) {
                malformed(r, RC_TRACE_ERR_ADDRESS,
                          "device address '%.*s' is not of the form XX:XX:XX:XX:XX:XX",
                          quote_len(flen[1]), f[1]);
                return 0;
        }

        if (flen[2] == 7 && memcmp(f[2], "connect", 7) == 0) {
                n.what = RC_WHAT_CONNECT;
        } else if (flen[2] == 10 && memcmp(f[2], "disconnect", 10) == 0) {
                n.what = RC_WHAT_DISCONNECT;
        } else {
                bool upper = false;

                /* The 128-bit form is lower-case (spec); the 16-bit form either case. */
                if (flen[2] == 36)
                        for (size_t i = 0; i < 36; i++)
                                if (f[2][i] >= 'A' && f[2][i] <= 'F')
                                        upper = true;
                if (upper) {
                        malformed(r, RC_TRACE_ERR_WHAT, "128-bit UUID '%.*s' is not lower-case",
                                  (int)flen[2], f[2]);
                        return 0;
                }
                if (rc_uuid_parse(f[2], flen[2], &n.uuid) < 0) {
                        malformed(r, RC_TRACE_ERR_WHAT,
                                  "'%.*s' is neither connect, disconnect nor a characteristic "
                                  "UUID",
                                  quote_len(flen[2]), f[2]);
                        return 0;
                }
                n.what = RC_WHAT_VALUE;
        }

        if (n.what != RC_WHAT_VALUE) {
                if (flen[3] != 0) {
                        malformed(r, RC_TRACE_ERR_PAYLOAD, "payload on a %s line",
                                  n.what == RC_WHAT_CONNECT ? "connect" : "disconnect");
                        return 0;
                }
        } else {
                if (flen[3] % 2) {
                        malformed(r, RC_TRACE_ERR_PAYLOAD,
                                  "payload has an odd number of hex digits (%zu)", flen[3]);
                        return 0;
                }
                if (flen[3] / 2 > RC_TRACE_MAX_PAYLOAD) {
                        malformed(r, RC_TRACE_ERR_TOO_LONG,
                                  "payload of %zu bytes is over the %d-byte limit", flen[3] / 2,
                                  RC_TRACE_MAX_PAYLOAD);
                        return 0;
                }
                for (size_t i = 0; i < flen[3] / 2; i++) {
                        int hi = lower_hex1[(unsigned char)f[3][2 * i]] - 1;
                        int lo = lower_hex1[(unsigned char)f[3][2 * i + 1]] - 1;

                        if (hi < 0 || lo < 0) {
                                malformed(r, RC_TRACE_ERR_PAYLOAD,
                                          "payload is not lower-case hex (at byte %zu)", i);
                                return 0;
                        }
                        r->payload[i] = (uint8_t)(hi << 4 | lo);
                }
                n.len = flen[3] / 2;
        }
        n.data = r->payload;
        n.line = r->line_no;

        r->last_t_us = n.t_us;
        r->n_lines++;
        *ret = n;
        return 1;
}

enum line_kind {
        LINE_EOF,
        LINE_OK,       /* in r->line, without its line end, NUL-terminated */
        LINE_TOO_LONG, /* consumed to its end */
        LINE_NUL,      /* holds a NUL byte */
        LINE_HUGE,     /* longer than RC_TRACE_MAX_SKIP, or too long before the header */
};

/* Read one physical line into r->line, its length (without the line end) into
 * *ret_len. Returns an enum line_kind or -EIO on a read error. On LINE_NUL,
 * *ret_len is the column of the first NUL. */
static int read_line(struct rc_trace_reader *r, size_t *ret_len) {
        const size_t cap = sizeof(r->line);
        const char *nul;
        size_t n;

        /* fgets gives no length and a line may hold NUL bytes: fill the buffer with a
         * non-NUL byte first, so the last NUL in it is the terminator fgets wrote. */
        memset(r->line, '\n', cap);
        if (!fgets(r->line, (int)cap, r->f)) {
                if (ferror(r->f)) {
                        rc_log_error("%s: read error after line %llu: %s", r->name,
                                     (unsigned long long)r->line_no, strerror(errno));
                        return -EIO;
                }
                return LINE_EOF;
        }
        r->line_no++;
        n = (size_t)((const char *)memrchr(r->line, '\0', cap) - r->line);
        if (n > 0 && r->line[n - 1] == '\n') {
                n--;
        } else if (n == cap - 1) {
                /* The buffer is full and the line goes on: longer than the limit.
                 * Skipped to its end, within reason (/dev/zero has none); before the
                 * header nothing is skipped: it cannot be a trace. */
                uint64_t skipped = n;
                int c;

                if (!r->header_seen)
                        return LINE_HUGE;
                while ((c = getc(r->f)) != EOF && c != '\n')
                        if (++skipped > RC_TRACE_MAX_SKIP)
                                return LINE_HUGE;
                if (ferror(r->f)) {
                        rc_log_error("%s: read error in line %llu: %s", r->name,
                                     (unsigned long long)r->line_no, strerror(errno));
                        return -EIO;
                }
                return LINE_TOO_LONG;
        }
        /* else: the last line, without a line end */
        nul = memchr(r->line, '\0', n);
        if (nul) {
                *ret_len = (size_t)(nul - r->line) + 1;
                return LINE_NUL;
        }
        if (n > 0 && r->line[n - 1] == '\r')
                n--;
        r->line[n] = '\0';
        *ret_len = n;
        return LINE_OK;
}

static int bad_header(struct rc_trace_reader *r, const char *why) {
        rc_log_error("%s:%llu: not a rollcoach trace: %s; the first line must be '%s'", r->name,
                     (unsigned long long)r->line_no, why, RC_TRACE_MAGIC);
        return -EBADMSG;
}

int rc_trace_next(struct rc_trace_reader *r, struct rc_notification *ret) {
        /* A call that returned without seeing the header found a bad header or none
         * at all: nothing after it can be trusted. */
        if (!r->header_seen && r->line_no > 0)
                return -EBADMSG;

        for (;;) {
                size_t len;
                int k = read_line(r, &len);

                if (k < 0)
                        return k;
                if (k == LINE_EOF) {
                        if (!r->header_seen) {
                                rc_log_error("%s: not a rollcoach trace: no '%s' line", r->name,
                                             RC_TRACE_MAGIC);
                                return -EBADMSG;
                        }
                        return 0;
                }
                if (k == LINE_HUGE && r->header_seen) {
                        rc_log_error("%s:%llu: not a rollcoach trace: a line longer than "
                                     "%d bytes",
                                     r->name, (unsigned long long)r->line_no, RC_TRACE_MAX_SKIP);
                        return -EBADMSG;
                }
                if (!r->header_seen) {
                        if (k == LINE_TOO_LONG || k == LINE_HUGE)
                                return bad_header(r, "the line is too long");
                        if (k == LINE_NUL)
                                return bad_header(r, "the line holds a NUL byte");
                        if (is_blank(r->line, len) && r->line_no < RC_TRACE_MAX_BLANK)
                                continue;
                        if (len != strlen(RC_TRACE_MAGIC) ||
                            memcmp(r->line, RC_TRACE_MAGIC, len) != 0)
                                return bad_header(r, "no header");
                        r->header_seen = true;
                        continue;
                }
                if (k == LINE_TOO_LONG) {
                        malformed(r, RC_TRACE_ERR_TOO_LONG, "line longer than %d characters",
                                  RC_TRACE_MAX_LINE);
                        continue;
                }
                if (k == LINE_NUL) {
                        malformed(r, RC_TRACE_ERR_NUL, "NUL byte at column %zu", len);
                        continue;
                }
                if (r->line[0] == '#' || is_blank(r->line, len))
                        continue;
                if (parse_line(r, r->line, len, ret))
                        return 1;
        }
}

int rc_trace_write_header(FILE *f) {
        if (fputs(RC_TRACE_MAGIC "\n", f) == EOF)
                return -EIO;
        return 0;
}

int rc_trace_write(FILE *f, const struct rc_notification *n) {
        char line[RC_TRACE_MAX_LINE + 2];
        char addr[RC_ADDR_STRLEN], uuid[RC_UUID_STRLEN];
        const char *what;
        int k;

        switch (n->what) {
        case RC_WHAT_CONNECT:
        case RC_WHAT_DISCONNECT:
                if (n->len != 0)
                        return -EINVAL;
                what = n->what == RC_WHAT_CONNECT ? "connect" : "disconnect";
                break;
        case RC_WHAT_VALUE:
                if (n->len > RC_TRACE_MAX_PAYLOAD || (n->len > 0 && !n->data))
                        return -EINVAL;
                rc_uuid_format_short(&n->uuid, uuid);
                what = uuid;
                break;
        default:
                return -EINVAL;
        }
        rc_addr_format(&n->addr, addr);
        /* At most 20 + 1 + 17 + 1 + 36 + 1 + 1024 + 1 characters: always fits. */
        k = snprintf(line, sizeof(line), "%" PRIu64 ",%s,%s,", n->t_us, addr, what);
        if (n->len > 0)
                rc_hex_encode(n->data, n->len, line + k);
        k += (int)(2 * n->len);
        line[k++] = '\n';
        if (fwrite(line, 1, (size_t)k, f) != (size_t)k)
                return -EIO;
        return 0;
}
