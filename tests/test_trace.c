/* Tests of core/replay/trace.c: the trace reader on hand-written files (valid,
 * each kind of malformed line, limits) and the writer → reader round trip. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay/trace.h"
#include "util/log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NAME "t.trace"

/* ---- Captured log messages ---------------------------------------------------- */

#define MAX_MSGS 64
static struct {
        int n;
        enum rc_log_level level[MAX_MSGS];
        char text[MAX_MSGS][512];
} logs;

static void sink(enum rc_log_level level, const char *msg, void *userdata) {
        assert_true(logs.n < MAX_MSGS);
        logs.level[logs.n] = level;
        snprintf(logs.text[logs.n], sizeof(logs.text[0]), "%s", msg);
        logs.n++;
}

static int setup(void **state) {
        memset(&logs, 0, sizeof(logs));
        rc_log_set_sink(sink, NULL);
        return 0;
}

static int teardown(void **state) {
        rc_log_set_sink(NULL, NULL);
        return 0;
}

/* Message i is a warning about line `line` ("t.trace:LINE: why", why not empty). */
static void expect_msg(int i, enum rc_log_level level, unsigned line) {
        char prefix[64];
        int k = snprintf(prefix, sizeof(prefix), NAME ":%u: ", line);

        assert_true(i < logs.n);
        assert_int_equal(logs.level[i], level);
        if (strncmp(logs.text[i], prefix, (size_t)k) != 0)
                fail_msg("message %d is '%s', expected it to start with '%s'", i, logs.text[i],
                         prefix);
        assert_true(strlen(logs.text[i]) > (size_t)k);
}

/* ---- Files ------------------------------------------------------------------------ */

static FILE *file_with(const char *text, size_t len) {
        FILE *f = tmpfile();

        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        rewind(f);
        return f;
}

static FILE *file_str(const char *text) {
        return file_with(text, strlen(text));
}

static rc_addr addr(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t g) {
        return (rc_addr){{a, b, c, d, e, g}};
}

static rc_uuid uuid(const char *s) {
        rc_uuid u;

        assert_int_equal(rc_uuid_parse(s, strlen(s), &u), 0);
        return u;
}

static void expect_note(const struct rc_notification *n, uint64_t t, rc_addr a, enum rc_what what,
                        const rc_uuid *u, const uint8_t *data, size_t len) {
        assert_int_equal(n->t_us, t);
        assert_true(rc_addr_equal(&n->addr, &a));
        assert_int_equal(n->what, what);
        if (u)
                assert_true(rc_uuid_equal(&n->uuid, u));
        assert_int_equal(n->len, len);
        if (len)
                assert_memory_equal(n->data, data, len);
}

/* ---- A valid trace -------------------------------------------------------------- */

static void test_valid(void **state) {
        const char *text = "\n"
                           "# rollcoach-trace 1\r\n"
                           "# a comment\n"
                           "\n"
                           "0,AA:BB:CC:DD:EE:01,connect,\n"
                           "120,aa:bb:cc:dd:ee:01,caf70004-e46c-49f3-98a8-0c9d2480bb18,"
                           "017f00c9010000\r\n"
                           "\r\n"
                           "#5000,AA:BB:CC:DD:EE:01,connect,\n"
                           "7000,11:22:33:44:55:66,2a37,10480004\n"
                           "7000,11:22:33:44:55:66,2A19,64\n"
                           "7001,11:22:33:44:55:66,2a00,\n"
                           "912000,AA:BB:CC:DD:EE:01,disconnect,"; /* no final line end */
        const uint8_t info[] = {0x01, 0x7f, 0x00, 0xc9, 0x01, 0x00, 0x00};
        const uint8_t hr[] = {0x10, 0x48, 0x00, 0x04};
        const uint8_t batt[] = {100};
        const rc_addr roller = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01);
        const rc_addr strap = addr(0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
        const rc_uuid u_info = uuid("caf70004-e46c-49f3-98a8-0c9d2480bb18");
        const rc_uuid u_hr = rc_uuid_from16(0x2a37), u_batt = rc_uuid_from16(0x2a19),
                      u_name = rc_uuid_from16(0x2a00);
        FILE *f = file_str(text);
        struct rc_trace_reader r;
        struct rc_notification n;

        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 0, roller, RC_WHAT_CONNECT, NULL, NULL, 0);
        assert_int_equal(r.line_no, 5);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 120, roller, RC_WHAT_VALUE, &u_info, info, sizeof(info));
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 7000, strap, RC_WHAT_VALUE, &u_hr, hr, sizeof(hr));
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 7000, strap, RC_WHAT_VALUE, &u_batt, batt, sizeof(batt));
        /* An empty payload on a characteristic line reaches the decoder. */
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 7001, strap, RC_WHAT_VALUE, &u_name, NULL, 0);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        expect_note(&n, 912000, roller, RC_WHAT_DISCONNECT, NULL, NULL, 0);
        assert_int_equal(r.line_no, 12);
        assert_int_equal(rc_trace_next(&r, &n), 0);
        assert_int_equal(rc_trace_next(&r, &n), 0);

        assert_true(r.header_seen);
        assert_int_equal(r.n_lines, 6);
        assert_int_equal(r.n_malformed, 0);
        for (int e = 0; e < RC_TRACE_ERR__COUNT; e++)
                assert_int_equal(r.n_by_error[e], 0);
        assert_int_equal(logs.n, 0);
        fclose(f);
}

static void test_header_only(void **state) {
        FILE *f = file_str("# rollcoach-trace 1\n");
        struct rc_trace_reader r;
        struct rc_notification n;

        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 0);
        assert_int_equal(logs.n, 0);
        fclose(f);
}

/* ---- The header ------------------------------------------------------------------ */

static void expect_bad_header(const char *text, size_t len, unsigned line) {
        FILE *f = file_with(text, len);
        struct rc_trace_reader r;
        struct rc_notification n;

        logs.n = 0;
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), -EBADMSG);
        /* One error, not counted as a malformed line. */
        assert_int_equal(logs.n, 1);
        if (line)
                expect_msg(0, RC_LOG_ERR, line);
        else
                assert_int_equal(strncmp(logs.text[0], NAME ": ", strlen(NAME ": ")), 0);
        assert_int_equal(r.n_malformed, 0);
        /* Nothing after a bad header is read. */
        assert_int_equal(rc_trace_next(&r, &n), -EBADMSG);
        assert_int_equal(r.n_lines, 0);
        fclose(f);
}

#define BAD_HEADER(lit, line) expect_bad_header(lit, sizeof(lit) - 1, line)

static void test_header(void **state) {
        /* Missing: the first line is a notification. */
        BAD_HEADER("0,AA:BB:CC:DD:EE:01,connect,\n", 1);
        /* After blank lines. */
        BAD_HEADER("\n\r\n  \n0,AA:BB:CC:DD:EE:01,connect,\n", 4);
        /* A comment, but not the magic line. */
        BAD_HEADER("# rollcoach trace 1\n# rollcoach-trace 1\n", 1);
        BAD_HEADER("# rollcoach-trace 2\n", 1);
        BAD_HEADER("# rollcoach-trace 1 \n", 1);
        BAD_HEADER(" # rollcoach-trace 1\n", 1);
        BAD_HEADER("# ROLLCOACH-TRACE 1\n", 1);
        BAD_HEADER("# rollcoach-trace 10\n", 1);
        BAD_HEADER("# rollcoach-trace 1\r\r\n", 1);
        BAD_HEADER("# rollcoach-trace 1\0\n", 1);
        BAD_HEADER("\n\0", 2);
        /* A first line too long to be the header, even if it starts like it. */
        {
                char text[3000];

                memset(text, 'x', sizeof(text));
                memcpy(text, RC_TRACE_MAGIC, strlen(RC_TRACE_MAGIC));
                text[sizeof(text) - 1] = '\n';
                expect_bad_header(text, sizeof(text), 1);
        }
        /* Empty, or only blank lines: no header at all. */
        BAD_HEADER("", 0);
        BAD_HEADER("\n\n", 0);
}

/* Not a trace, and endless: /dev/zero (NUL bytes and no line end), a header then
 * a line with no end, blank lines forever. Each ends with one error (-EBADMSG)
 * after a bounded read. */
static void test_not_a_trace(void **state) {
        static char text[RC_TRACE_MAX_SKIP + 4096];
        struct rc_trace_reader r;
        struct rc_notification n;
        FILE *f = fopen("/dev/zero", "r");
        size_t h = strlen(RC_TRACE_MAGIC "\n");

        assert_non_null(f);
        logs.n = 0;
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), -EBADMSG);
        assert_int_equal(logs.n, 1);
        expect_msg(0, RC_LOG_ERR, 1);
        assert_non_null(strstr(logs.text[0], "not a rollcoach trace"));
        fclose(f);

        /* a header, a valid line, then a line longer than RC_TRACE_MAX_SKIP */
        memcpy(text, RC_TRACE_MAGIC "\n100,AA:BB:CC:DD:EE:01,connect,\n", h + 31);
        memset(text + h + 31, 'x', sizeof(text) - h - 31);
        f = file_with(text, sizeof(text));
        logs.n = 0;
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(rc_trace_next(&r, &n), -EBADMSG);
        assert_int_equal(logs.n, 1);
        expect_msg(0, RC_LOG_ERR, 3);
        assert_non_null(strstr(logs.text[0], "not a rollcoach trace"));
        fclose(f);

        /* a long line that is not that long is malformed and skipped, as before */
        memset(text + h + 31, 'x', 5000);
        memcpy(text + h + 31 + 5000, "\n200,AA:BB:CC:DD:EE:01,disconnect,\n", 35);
        f = file_with(text, h + 31 + 5000 + 35);
        logs.n = 0;
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(n.what, RC_WHAT_DISCONNECT);
        assert_int_equal(r.n_malformed, 1);
        fclose(f);

        /* blank lines: the header must come within RC_TRACE_MAX_BLANK lines */
        memset(text, '\n', RC_TRACE_MAX_BLANK + 10);
        memcpy(text + RC_TRACE_MAX_BLANK + 10, RC_TRACE_MAGIC "\n", h);
        expect_bad_header(text, RC_TRACE_MAX_BLANK + 10 + h, RC_TRACE_MAX_BLANK);
        memcpy(text + RC_TRACE_MAX_BLANK - 1, RC_TRACE_MAGIC "\n", h);
        f = file_with(text, RC_TRACE_MAX_BLANK - 1 + h);
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 0);
        fclose(f);
}

/* ---- Malformed lines ----------------------------------------------------------------- */

/* A line of the file: text (len 0: strlen), and the error it is rejected for, or
 * VALID with the id of the notification it gives (100,AA:BB:CC:DD:EE:id,2a19,id). */
#define VALID (-1)
struct line {
        const char *text;
        size_t len;
        int err;
        uint8_t id;
};
#define V(k)                                                                                       \
        { "100,AA:BB:CC:DD:EE:" #k ",2a19," #k, 0, VALID, 0x##k }
#define BAD(text, err)                                                                             \
        { text, 0, err, 0 }

static const struct line malformed_lines[] = {
        {RC_TRACE_MAGIC, 0, VALID, 0xff}, /* 0xff: the header, no notification */
        V(01),
        /* FIELDS */
        BAD("100,AA:BB:CC:DD:EE:01,connect", RC_TRACE_ERR_FIELDS),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,01,", RC_TRACE_ERR_FIELDS),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,01,02", RC_TRACE_ERR_FIELDS),
        BAD("garbage", RC_TRACE_ERR_FIELDS),
        BAD("100 AA:BB:CC:DD:EE:01 connect", RC_TRACE_ERR_FIELDS),
        V(02),
        /* TIME */
        BAD("1a0,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD("-100,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD("+100,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD(" 100,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD(",AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD("100.5,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD("18446744073709551616,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        BAD("99999999999999999999999,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_TIME),
        V(03),
        /* ADDRESS */
        BAD("100,AA:BB:CC:DD:EE,connect,", RC_TRACE_ERR_ADDRESS),
        BAD("100,AA:BB:CC:DD:EE:0G,connect,", RC_TRACE_ERR_ADDRESS),
        BAD("100,AA-BB-CC-DD-EE-01,connect,", RC_TRACE_ERR_ADDRESS),
        BAD("100,AA:BB:CC:DD:EE:01 ,connect,", RC_TRACE_ERR_ADDRESS),
        BAD("100,,connect,", RC_TRACE_ERR_ADDRESS),
        V(04),
        /* WHAT */
        BAD("100,AA:BB:CC:DD:EE:01,conect,", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,CONNECT,", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01, connect,", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,CAF70002-E46C-49F3-98A8-0C9D2480BB18,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,caf70002-e46c-49f3-98a8-0c9d2480bB18,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,caf70002e46c49f398a80c9d2480bb18,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,2a3,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,2a37a,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,0x2a37,00", RC_TRACE_ERR_WHAT),
        BAD("100,AA:BB:CC:DD:EE:01,,00", RC_TRACE_ERR_WHAT),
        V(05),
        /* PAYLOAD */
        BAD("100,AA:BB:CC:DD:EE:01,2a19,0A", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,abc", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,0", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,zz", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,00 ", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,0x00", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,connect,00", RC_TRACE_ERR_PAYLOAD),
        BAD("100,AA:BB:CC:DD:EE:01,disconnect,0", RC_TRACE_ERR_PAYLOAD),
        V(06),
        /* NUL */
        {"100,AA:BB:CC:DD:EE:01,2a19,0\0"
         "1",
         30, RC_TRACE_ERR_NUL, 0},
        {"\0", 1, RC_TRACE_ERR_NUL, 0},
        V(07),
        /* Comments and blank lines between. */
        {"# 99,AA:BB:CC:DD:EE:01,connect,", 0, VALID, 0xff},
        {"", 0, VALID, 0xff},
        {" \t", 0, VALID, 0xff},
        V(08),
        /* BACKWARDS: 50 < 100 is skipped and 100 stays the previous time, so 99 is
         * backwards too; 100 again is not. */
        BAD("50,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_BACKWARDS),
        BAD("99,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_BACKWARDS),
        BAD("0,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_BACKWARDS),
        V(09),
        {"18446744073709551615,AA:BB:CC:DD:EE:0a,connect,", 0, VALID, 0x0a},
        BAD("18446744073709551614,AA:BB:CC:DD:EE:01,connect,", RC_TRACE_ERR_BACKWARDS),
        BAD("100,AA:BB:CC:DD:EE:01,2a19,01", RC_TRACE_ERR_BACKWARDS),
        {"18446744073709551615,AA:BB:CC:DD:EE:0b,disconnect,", 0, VALID, 0x0b},
};

static void test_malformed(void **state) {
        char *text = malloc(8192);
        size_t len = 0;
        unsigned expect_by_error[RC_TRACE_ERR__COUNT] = {0};
        unsigned expect_lines = 0, expect_bad = 0;
        struct rc_trace_reader r;
        struct rc_notification n;
        int msg = 0;
        FILE *f;

        assert_non_null(text);
        for (size_t i = 0; i < N(malformed_lines); i++) {
                const struct line *l = &malformed_lines[i];
                size_t k = l->len ? l->len : strlen(l->text);

                memcpy(text + len, l->text, k);
                len += k;
                /* Alternate the line ends: LF and CRLF. */
                if (i % 2)
                        text[len++] = '\r';
                text[len++] = '\n';
                if (l->err == VALID && l->id != 0xff)
                        expect_lines++;
                if (l->err != VALID) {
                        expect_by_error[l->err]++;
                        expect_bad++;
                }
        }
        f = file_with(text, len);
        rc_trace_reader_init(&r, f, NAME);

        for (size_t i = 0; i < N(malformed_lines); i++) {
                const struct line *l = &malformed_lines[i];
                unsigned line = (unsigned)i + 1;

                if (l->err != VALID) {
                        /* Reported with its line number when the next good line is read. */
                        continue;
                }
                if (l->id == 0xff)
                        continue;
                assert_int_equal(rc_trace_next(&r, &n), 1);
                assert_int_equal(r.line_no, line);
                if (l->id == 0x0a || l->id == 0x0b) {
                        expect_note(&n, UINT64_MAX, addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, l->id),
                                    l->id == 0x0a ? RC_WHAT_CONNECT : RC_WHAT_DISCONNECT, NULL,
                                    NULL, 0);
                } else {
                        const rc_uuid batt = rc_uuid_from16(0x2a19);

                        expect_note(&n, 100, addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, l->id),
                                    RC_WHAT_VALUE, &batt, &l->id, 1);
                }
        }
        assert_int_equal(rc_trace_next(&r, &n), 0);

        /* Every bad line was reported once, in order, with its own line number. */
        assert_int_equal(logs.n, expect_bad);
        for (size_t i = 0; i < N(malformed_lines); i++)
                if (malformed_lines[i].err != VALID)
                        expect_msg(msg++, RC_LOG_WARN, (unsigned)i + 1);
        assert_int_equal(r.n_lines, expect_lines);
        assert_int_equal(r.n_malformed, expect_bad);
        for (int e = 0; e < RC_TRACE_ERR__COUNT; e++)
                assert_int_equal(r.n_by_error[e], expect_by_error[e]);
        /* Every kind of error was exercised except TOO_LONG (test_limits). */
        for (int e = 0; e < RC_TRACE_ERR__COUNT; e++)
                if (e != RC_TRACE_ERR_TOO_LONG)
                        assert_true(expect_by_error[e] > 0);
        fclose(f);
        free(text);
}

/* ---- Limits: the payload size and the line length ----------------------------------- */

/* Append "t,AA:BB:CC:DD:EE:01,UUID," and `nbytes` payload bytes (byte i = i & 0xff)
 * to buf; t is written with `tdigits` digits (leading zeros). Returns the line's
 * length (without line end). */
static size_t make_line(char *buf, unsigned tdigits, uint64_t t, const char *uuid_s,
                        size_t nbytes) {
        size_t k = (size_t)sprintf(buf, "%0*" PRIu64 ",AA:BB:CC:DD:EE:01,%s,", (int)tdigits, t,
                                   uuid_s);

        for (size_t i = 0; i < nbytes; i++)
                k += (size_t)sprintf(buf + k, "%02x", (unsigned)(i & 0xff));
        return k;
}

static void expect_payload(const struct rc_notification *n, size_t nbytes) {
        assert_int_equal(n->len, nbytes);
        for (size_t i = 0; i < nbytes; i++)
                assert_int_equal(n->data[i], i & 0xff);
}

static void test_limits(void **state) {
        static const char u128[] = "caf70002-e46c-49f3-98a8-0c9d2480bb18";
        char *text = malloc(20000);
        size_t len = 0, k;
        unsigned line = 1;
        unsigned bad_lines[8], n_bad = 0;
        struct rc_trace_reader r;
        struct rc_notification n;
        FILE *f;

        assert_non_null(text);
        len += (size_t)sprintf(text, "%s\n", RC_TRACE_MAGIC);
        /* Line 2: 512 bytes, the largest payload. */
        len += make_line(text + len, 1, 1, "2a37", 512);
        text[len++] = '\n';
        /* Line 3: 513 bytes. */
        len += make_line(text + len, 1, 2, "2a37", 513);
        text[len++] = '\n';
        bad_lines[n_bad++] = 3;
        /* Line 4: exactly RC_TRACE_MAX_LINE characters: 40 digits of time, 3 commas,
         * 17 + 36 characters of address and UUID, 1024 of payload = 1120. */
        k = make_line(text + len, 40, 4, u128, 512);
        assert_int_equal(k, 1120);
        assert_int_equal(k, RC_TRACE_MAX_LINE);
        len += k;
        text[len++] = '\n';
        /* Line 5: the same with CRLF: the CR counts, 1121 characters are too many. */
        len += make_line(text + len, 40, 5, u128, 512);
        text[len++] = '\r';
        text[len++] = '\n';
        bad_lines[n_bad++] = 5;
        /* Line 6: 1119 characters and a CR: 1120, fits. */
        len += make_line(text + len, 39, 6, u128, 512);
        text[len++] = '\r';
        text[len++] = '\n';
        /* Line 7: 1121 characters. */
        len += make_line(text + len, 41, 7, u128, 512);
        text[len++] = '\n';
        bad_lines[n_bad++] = 7;
        /* Line 8: valid. */
        len += make_line(text + len, 1, 8, "2a19", 1);
        text[len++] = '\n';
        /* Line 9: far too long (3 times the buffer); its tail must not come back as a
         * line of its own. */
        len += make_line(text + len, 1, 9, "2a37", 1700);
        text[len++] = '\n';
        bad_lines[n_bad++] = 9;
        /* Line 10: valid. */
        len += make_line(text + len, 1, 10, "2a19", 2);
        text[len++] = '\n';
        /* Line 11: a comment is a line too, with the same limit. */
        text[len++] = '#';
        memset(text + len, 'c', 1500);
        len += 1500;
        text[len++] = '\n';
        bad_lines[n_bad++] = 11;
        /* Line 12: valid. */
        len += make_line(text + len, 1, 12, "2a19", 3);
        text[len++] = '\n';
        /* Line 13: too long, at the end of the file without a line end. */
        len += make_line(text + len, 1, 13, "2a37", 600);
        bad_lines[n_bad++] = 13;

        f = file_with(text, len);
        rc_trace_reader_init(&r, f, NAME);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, ++line);
        assert_int_equal(n.t_us, 1);
        expect_payload(&n, 512);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, 4);
        assert_int_equal(n.t_us, 4);
        expect_payload(&n, 512);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, 6);
        assert_int_equal(n.t_us, 6);
        expect_payload(&n, 512);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, 8);
        assert_int_equal(n.t_us, 8);
        expect_payload(&n, 1);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, 10);
        assert_int_equal(n.t_us, 10);
        expect_payload(&n, 2);
        assert_int_equal(rc_trace_next(&r, &n), 1);
        assert_int_equal(r.line_no, 12);
        assert_int_equal(n.t_us, 12);
        expect_payload(&n, 3);
        assert_int_equal(rc_trace_next(&r, &n), 0);
        assert_int_equal(r.line_no, 13);

        assert_int_equal(r.n_lines, 6);
        assert_int_equal(r.n_malformed, n_bad);
        assert_int_equal(r.n_by_error[RC_TRACE_ERR_TOO_LONG], n_bad);
        assert_int_equal(logs.n, n_bad);
        for (unsigned i = 0; i < n_bad; i++)
                expect_msg((int)i, RC_LOG_WARN, bad_lines[i]);
        fclose(f);
        free(text);
}

/* ---- Writer ---------------------------------------------------------------------- */

static void test_write_text(void **state) {
        const uint8_t hr[] = {0x10, 0x48, 0x00, 0x04};
        const struct rc_notification notes[] = {
                {.t_us = 0,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_CONNECT},
                {.t_us = 7000,
                 .addr = addr(0x11, 0x22, 0x33, 0x44, 0x55, 0x66),
                 .what = RC_WHAT_VALUE,
                 .uuid = rc_uuid_from16(0x2a37),
                 .len = sizeof(hr),
                 .data = hr},
                {.t_us = 7001,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f),
                 .what = RC_WHAT_VALUE,
                 .uuid = uuid("CAF70003-E46C-49F3-98A8-0C9D2480BB18"),
                 .len = 0},
                {.t_us = 912000,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_DISCONNECT},
        };
        const char *expect = "# rollcoach-trace 1\n"
                             "0,AA:BB:CC:DD:EE:01,connect,\n"
                             "7000,11:22:33:44:55:66,2a37,10480004\n"
                             "7001,AA:BB:CC:DD:EE:0F,caf70003-e46c-49f3-98a8-0c9d2480bb18,\n"
                             "912000,AA:BB:CC:DD:EE:01,disconnect,\n";
        char buf[512];
        FILE *f = tmpfile();
        size_t k;

        assert_non_null(f);
        assert_int_equal(rc_trace_write_header(f), 0);
        for (size_t i = 0; i < N(notes); i++)
                assert_int_equal(rc_trace_write(f, &notes[i]), 0);
        rewind(f);
        k = fread(buf, 1, sizeof(buf) - 1, f);
        buf[k] = '\0';
        assert_string_equal(buf, expect);
        fclose(f);
}

static void test_write_reject(void **state) {
        static uint8_t big[RC_TRACE_MAX_PAYLOAD + 1];
        struct rc_notification n = {.what = RC_WHAT_VALUE, .uuid = rc_uuid_from16(0x2a37)};
        FILE *f = tmpfile();
        FILE *ro = fopen("/dev/null", "r");

        assert_non_null(f);
        n.data = big;
        n.len = RC_TRACE_MAX_PAYLOAD + 1;
        assert_int_equal(rc_trace_write(f, &n), -EINVAL);
        n.len = 1;
        n.what = RC_WHAT_CONNECT;
        assert_int_equal(rc_trace_write(f, &n), -EINVAL);
        n.what = RC_WHAT_DISCONNECT;
        assert_int_equal(rc_trace_write(f, &n), -EINVAL);
        n.what = RC_WHAT_VALUE;
        n.data = NULL;
        assert_int_equal(rc_trace_write(f, &n), -EINVAL);
        /* Nothing was written. */
        assert_int_equal(ftell(f), 0);
        fclose(f);

        /* A stream that cannot be written. */
        assert_non_null(ro);
        n.data = big;
        assert_int_equal(rc_trace_write(ro, &n), -EIO);
        fclose(ro);
}

static void test_read_error(void **state) {
        FILE *wo = fopen("/dev/null", "w");
        struct rc_trace_reader r;
        struct rc_notification n;

        assert_non_null(wo);
        rc_trace_reader_init(&r, wo, NAME);
        assert_int_equal(rc_trace_next(&r, &n), -EIO);
        fclose(wo);
}

static void test_round_trip(void **state) {
        static uint8_t max[RC_TRACE_MAX_PAYLOAD];
        const uint8_t info[] = {0x01, 0x7f, 0x00, 0xc9, 0x01, 0x00, 0x00};
        const uint8_t batt[] = {0x55};
        struct rc_notification notes[] = {
                {.t_us = 0,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_CONNECT},
                {.t_us = 120,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_VALUE,
                 .uuid = uuid("caf70004-e46c-49f3-98a8-0c9d2480bb18"),
                 .len = sizeof(info),
                 .data = info},
                {.t_us = 120,
                 .addr = addr(0x00, 0x01, 0x02, 0xfd, 0xfe, 0xff),
                 .what = RC_WHAT_VALUE,
                 .uuid = rc_uuid_from16(0x2a19),
                 .len = sizeof(batt),
                 .data = batt},
                {.t_us = 5000,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_VALUE,
                 .uuid = uuid("caf70002-e46c-49f3-98a8-0c9d2480bb18"),
                 .len = sizeof(max),
                 .data = max},
                {.t_us = 5001,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_VALUE,
                 .uuid = rc_uuid_from16(0x2a00),
                 .len = 0,
                 .data = NULL},
                {.t_us = UINT64_MAX,
                 .addr = addr(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01),
                 .what = RC_WHAT_DISCONNECT},
        };
        struct rc_trace_reader r;
        struct rc_notification n;
        FILE *f = tmpfile();

        for (size_t i = 0; i < sizeof(max); i++)
                max[i] = (uint8_t)(255 - i);
        assert_non_null(f);
        assert_int_equal(rc_trace_write_header(f), 0);
        for (size_t i = 0; i < N(notes); i++)
                assert_int_equal(rc_trace_write(f, &notes[i]), 0);
        rewind(f);

        rc_trace_reader_init(&r, f, NAME);
        for (size_t i = 0; i < N(notes); i++) {
                assert_int_equal(rc_trace_next(&r, &n), 1);
                expect_note(&n, notes[i].t_us, notes[i].addr, notes[i].what,
                            notes[i].what == RC_WHAT_VALUE ? &notes[i].uuid : NULL, notes[i].data,
                            notes[i].len);
        }
        assert_int_equal(rc_trace_next(&r, &n), 0);
        assert_int_equal(r.n_malformed, 0);
        assert_int_equal(logs.n, 0);
        fclose(f);
}

static void test_error_names(void **state) {
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_FIELDS), "fields");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_TIME), "time");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_BACKWARDS), "backwards");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_ADDRESS), "address");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_WHAT), "what");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_PAYLOAD), "payload");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_TOO_LONG), "too_long");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR_NUL), "nul");
        assert_string_equal(rc_trace_error_name(RC_TRACE_ERR__COUNT), "invalid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_header_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_header, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_trace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_text, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_reject, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test(test_error_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
