/* Tests of core/config/config.c: defaults, valid files, the shipped file, and
 * every kind of error reported as FILE:LINE. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "util/log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* cmocka 1.1.5 compares floats only. */
static void assert_double_eq(double a, double b) {
        if (!(a == b))
                fail_msg("%.17g != %.17g", a, b);
}

/* ---- Captured log messages ---------------------------------------------------- */

#define MAX_MSGS 32
static struct {
        int n;
        enum rc_log_level level[MAX_MSGS];
        char text[MAX_MSGS][1024];
} logs;

static void sink(enum rc_log_level level, const char *msg, void *userdata) {
        assert_true(logs.n < MAX_MSGS);
        logs.level[logs.n] = level;
        snprintf(logs.text[logs.n], sizeof(logs.text[0]), "%s", msg);
        logs.n++;
}

static char path[64];

static int setup(void **state) {
        memset(&logs, 0, sizeof(logs));
        rc_log_set_sink(sink, NULL);
        path[0] = '\0';
        return 0;
}

static int teardown(void **state) {
        rc_log_set_sink(NULL, NULL);
        if (path[0])
                unlink(path);
        return 0;
}

/* Write `text` (len bytes) to a new temporary file; its name goes to `path`. */
static void write_file_len(const char *text, size_t len) {
        int fd;

        if (path[0])
                unlink(path);
        snprintf(path, sizeof(path), "/tmp/rc-test-config-XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t)len);
        close(fd);
}

static void write_file(const char *text) {
        write_file_len(text, strlen(text));
}

static int load(struct rc_config *c, const char *text) {
        write_file(text);
        rc_config_defaults(c);
        logs.n = 0;
        return rc_config_load(c, path);
}

/* Message i is the error "PATH:LINE: ..." and contains each of the words given
 * (a NULL-terminated list). */
static void expect_error(int i, int line, ...) {
        char prefix[128];
        int k = snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
        const char *word;
        va_list ap;

        if (i >= logs.n)
                fail_msg("expected a message %d about line %d, got %d messages", i, line, logs.n);
        assert_int_equal(logs.level[i], RC_LOG_ERR);
        if (strncmp(logs.text[i], prefix, (size_t)k) != 0)
                fail_msg("message %d is '%s', expected it to start with '%s'", i, logs.text[i],
                         prefix);
        va_start(ap, line);
        while ((word = va_arg(ap, const char *)))
                if (!strstr(logs.text[i] + k, word))
                        fail_msg("message '%s' does not mention '%s'", logs.text[i], word);
        va_end(ap);
}

/* The file has exactly one error, at `line`, mentioning the words given. */
#define EXPECT_ONE_ERROR(text, line, ...)                                                          \
        do {                                                                                       \
                struct rc_config c_;                                                               \
                assert_int_equal(load(&c_, text), -EINVAL);                                        \
                if (logs.n != 1)                                                                   \
                        fail_msg("%d messages for:\n%s", logs.n, text);                            \
                expect_error(0, line, __VA_ARGS__, NULL);                                          \
        } while (0)

/* ---- Defaults and valid files -------------------------------------------------------- */

static void test_defaults(void **state) {
        struct rc_config c;

        memset(&c, 0xff, sizeof(c));
        rc_config_defaults(&c);
        assert_double_eq(c.profile.height_cm, 170);
        assert_double_eq(c.profile.weight_kg, 70);
        assert_int_equal(c.profile.level, RC_LEVEL_BEGINNER);
        assert_int_equal(c.profile.conditions, 0);
}

static void test_valid(void **state) {
        struct rc_config c;

        assert_int_equal(load(&c, "# a comment\n"
                                  "; another\n"
                                  "\n"
                                  "[profile]\r\n"
                                  "height_cm = 182.5\r\n"
                                  "  weight_kg=95 ; inline comment\n"
                                  "level\t=\tregular\n"
                                  "conditions = pregnancy ,disc_herniation,  osteoporosis\n"),
                         0);
        assert_int_equal(logs.n, 0);
        assert_double_eq(c.profile.height_cm, 182.5);
        assert_double_eq(c.profile.weight_kg, 95);
        assert_int_equal(c.profile.level, RC_LEVEL_REGULAR);
        assert_int_equal(c.profile.conditions,
                         RC_COND_PREGNANCY | RC_COND_DISC_HERNIATION | RC_COND_OSTEOPOROSIS);

        /* Keys left out keep their defaults; every condition can be named. */
        assert_int_equal(load(&c, "[profile]\n"
                                  "conditions = osteoporosis, pregnancy, spondylolisthesis, "
                                  "spinal_stenosis, disc_herniation, recent_back_injury, "
                                  "recent_back_surgery\n"),
                         0);
        assert_double_eq(c.profile.height_cm, 170);
        assert_double_eq(c.profile.weight_kg, 70);
        assert_int_equal(c.profile.level, RC_LEVEL_BEGINNER);
        assert_int_equal(c.profile.conditions, (1u << RC_COND__COUNT) - 1);

        /* Empty conditions: none, even over an earlier value in *c. */
        write_file("[profile]\nconditions =\n");
        rc_config_defaults(&c);
        c.profile.conditions = RC_COND_PREGNANCY;
        assert_int_equal(rc_config_load(&c, path), 0);
        assert_int_equal(c.profile.conditions, 0);
        assert_int_equal(load(&c, "[profile]\nconditions =   \n"), 0);
        assert_int_equal(c.profile.conditions, 0);

        /* An empty file, and a UTF-8 byte order mark. */
        assert_int_equal(load(&c, ""), 0);
        assert_int_equal(load(&c, "\xef\xbb\xbf[profile]\nlevel = regular"), 0);
        assert_int_equal(c.profile.level, RC_LEVEL_REGULAR);
        assert_int_equal(logs.n, 0);
}

static void test_bounds(void **state) {
        struct rc_config c;

        assert_int_equal(load(&c, "[profile]\nheight_cm = 100\nweight_kg = 25\n"), 0);
        assert_double_eq(c.profile.height_cm, 100);
        assert_double_eq(c.profile.weight_kg, 25);
        assert_int_equal(load(&c, "[profile]\nheight_cm = 250.0\nweight_kg = +300\n"), 0);
        assert_double_eq(c.profile.height_cm, 250);
        assert_double_eq(c.profile.weight_kg, 300);
        assert_int_equal(load(&c, "[profile]\nheight_cm = .1e3\n"), -EINVAL);
        assert_int_equal(load(&c, "[profile]\nheight_cm = 0172.\n"), 0);
        assert_double_eq(c.profile.height_cm, 172);
}

static void test_shipped(void **state) {
        struct rc_config c, d;

        rc_config_defaults(&c);
        assert_int_equal(rc_config_load(&c, RC_SOURCE_DIR "/config/rollcoach.conf"), 0);
        assert_int_equal(logs.n, 0);
        /* It documents the defaults and sets them. */
        rc_config_defaults(&d);
        assert_double_eq(c.profile.height_cm, d.profile.height_cm);
        assert_double_eq(c.profile.weight_kg, d.profile.weight_kg);
        assert_int_equal(c.profile.level, d.profile.level);
        assert_int_equal(c.profile.conditions, d.profile.conditions);
}

static void test_indented(void **state) {
        struct rc_config c;

        /* An indented line is a key of its own, not the continuation of the value
         * above it. */
        assert_int_equal(load(&c, "[profile]\nlevel = regular\n    height_cm = 180\n"), 0);
        assert_int_equal(c.profile.level, RC_LEVEL_REGULAR);
        assert_double_eq(c.profile.height_cm, 180);
        EXPECT_ONE_ERROR("[profile]\nlevel = regular\n    more\n", 3, "more");
}

/* ---- Errors ------------------------------------------------------------------------------ */

static void test_unknown_section(void **state) {
        struct rc_config c;

        /* Reported once at its header; its keys are not reported again. */
        EXPECT_ONE_ERROR("[profile]\nlevel = regular\n\n[network]\nport = 1\nhost = x\n", 4,
                         "unknown section", "network");
        EXPECT_ONE_ERROR("[Profile]\n", 1, "unknown section", "Profile");
        EXPECT_ONE_ERROR("[]\nlevel = regular\n", 1, "unknown section");
        /* Keys after it do not land in the section before. */
        assert_int_equal(load(&c, "[profile]\nlevel = regular\n[other]\nlevel = beginner\n"),
                         -EINVAL);
        assert_int_equal(c.profile.level, RC_LEVEL_REGULAR);
        /* A key before any section. */
        EXPECT_ONE_ERROR("level = regular\n[profile]\n", 1, "level", "before any [section]");
}

static void test_unknown_key(void **state) {
        EXPECT_ONE_ERROR("[profile]\nheight_cm = 170\nage = 40\n", 3, "unknown key", "age",
                         "[profile]", "height_cm, weight_kg, level, conditions");
        EXPECT_ONE_ERROR("[profile]\nHeight_cm = 170\n", 2, "unknown key", "Height_cm");
        EXPECT_ONE_ERROR("[profile]\n= 170\n", 2, "unknown key");
}

static void test_bad_values(void **state) {
        static const struct {
                const char *key, *value, *expect;
        } bad[] = {
                {"height_cm", "abc", "100 to 250"},
                {"height_cm", "", "100 to 250"},
                {"height_cm", "99.9", "100 to 250"},
                {"height_cm", "250.01", "100 to 250"},
                {"height_cm", "-170", "100 to 250"},
                {"height_cm", "0x64", "100 to 250"},
                {"height_cm", "1e2", "100 to 250"},
                {"height_cm", "inf", "100 to 250"},
                {"height_cm", "nan", "100 to 250"},
                {"height_cm", "170cm", "100 to 250"},
                {"height_cm", "170 cm", "100 to 250"},
                {"height_cm", "1.7.0", "100 to 250"},
                {"height_cm", ".", "100 to 250"},
                {"height_cm", "+", "100 to 250"},
                {"weight_kg", "24.9", "25 to 300"},
                {"weight_kg", "301", "25 to 300"},
                {"weight_kg", "70kg", "25 to 300"},
                {"weight_kg", "seventy", "25 to 300"},
                {"level", "Beginner", "beginner or regular"},
                {"level", "expert", "beginner or regular"},
                {"level", "", "beginner or regular"},
                {"level", "beginner regular", "beginner or regular"},
        };
        char text[256];

        for (size_t i = 0; i < N(bad); i++) {
                struct rc_config c;

                snprintf(text, sizeof(text), "[profile]\n# comment\n%s = %s\n", bad[i].key,
                         bad[i].value);
                assert_int_equal(load(&c, text), -EINVAL);
                if (logs.n != 1)
                        fail_msg("%d messages for %s = %s", logs.n, bad[i].key, bad[i].value);
                expect_error(0, 3, "bad value", bad[i].key, bad[i].expect, NULL);
                if (bad[i].value[0])
                        expect_error(0, 3, bad[i].value, NULL);
                /* The bad value did not replace the default. */
                assert_double_eq(c.profile.height_cm, 170);
                assert_double_eq(c.profile.weight_kg, 70);
                assert_int_equal(c.profile.level, RC_LEVEL_BEGINNER);
        }
}

static void test_conditions(void **state) {
        struct rc_config c;

        EXPECT_ONE_ERROR("[profile]\nconditions = pregnancy, back_pain\n", 2, "unknown condition",
                         "back_pain", "osteoporosis", "recent_back_surgery");
        EXPECT_ONE_ERROR("[profile]\nconditions = Pregnancy\n", 2, "Pregnancy");
        EXPECT_ONE_ERROR("[profile]\nconditions = pregnancy,,osteoporosis\n", 2, "empty");
        EXPECT_ONE_ERROR("[profile]\nconditions = pregnancy,\n", 2, "empty");
        EXPECT_ONE_ERROR("[profile]\nconditions = , pregnancy\n", 2, "empty");
        /* Several empty names are one mistake. */
        EXPECT_ONE_ERROR("[profile]\nconditions = ,pregnancy,, ,\n", 2, "empty");
        EXPECT_ONE_ERROR("[profile]\nconditions = pregnancy osteoporosis\n", 2,
                         "pregnancy osteoporosis");

        /* Each bad name is reported; none of the list is taken. */
        assert_int_equal(load(&c, "[profile]\nconditions = back_pain, pregnancy, knee\n"), -EINVAL);
        assert_int_equal(logs.n, 2);
        expect_error(0, 2, "back_pain", NULL);
        expect_error(1, 2, "knee", NULL);
        assert_int_equal(c.profile.conditions, 0);
}

static void test_duplicate(void **state) {
        struct rc_config c;

        EXPECT_ONE_ERROR("[profile]\nlevel = regular\nheight_cm = 180\nlevel = beginner\n", 4,
                         "duplicate", "level", "line 2");
        /* Also across two [profile] sections, and when the first value was bad. */
        EXPECT_ONE_ERROR("[profile]\nweight_kg = 80\n[profile]\nweight_kg = 81\n", 4, "duplicate",
                         "weight_kg", "line 2");
        assert_int_equal(load(&c, "[profile]\nheight_cm = 1\nheight_cm = 180\n"), -EINVAL);
        assert_int_equal(logs.n, 2);
        expect_error(0, 2, "bad value", NULL);
        expect_error(1, 3, "duplicate", NULL);
        assert_double_eq(c.profile.height_cm, 170);
}

static void test_syntax(void **state) {
        EXPECT_ONE_ERROR("[profile\nlevel = regular\n", 1, "[profile", "]");
        EXPECT_ONE_ERROR("[profile ; ]\n", 1, "]");
        EXPECT_ONE_ERROR("[profile]\nheight_cm 170\n", 2, "height_cm 170", "key = value");
        EXPECT_ONE_ERROR("[profile]\nlevel ; = regular\n", 2, "key = value");
        EXPECT_ONE_ERROR("[profile] level = regular\n", 1, "level = regular", "[profile]");
        EXPECT_ONE_ERROR("[profile]\n\"level\"\n", 2, "key = value");
}

static void test_long_line(void **state) {
        static char text[3 * RC_CONFIG_LINE_MAX];
        struct rc_config c;
        char msg[64];
        int k;

        /* Lines of RC_CONFIG_LINE_MAX characters are read; one more is an error. */
        k = snprintf(text, sizeof(text), "[profile]\n# %0*d\n", RC_CONFIG_LINE_MAX - 2, 0);
        assert_int_equal(k, 10 + RC_CONFIG_LINE_MAX + 1);
        assert_int_equal(load(&c, text), 0);
        snprintf(text, sizeof(text), "[profile]\n# %0*d\n", RC_CONFIG_LINE_MAX - 1, 0);
        snprintf(msg, sizeof(msg), "longer than %d", RC_CONFIG_LINE_MAX);
        EXPECT_ONE_ERROR(text, 2, msg);
        /* A long line is one error, not several lines: the next line is still line 3
         * and the tail of the long one does not come back as a key. */
        snprintf(text, sizeof(text), "[profile]\nconditions = %0*d\nlevel = expert\n",
                 RC_CONFIG_LINE_MAX + 500, 0);
        assert_int_equal(load(&c, text), -EINVAL);
        assert_int_equal(logs.n, 2);
        expect_error(0, 2, "longer", NULL);
        expect_error(1, 3, "expert", NULL);
        /* At the end of the file without a line end. */
        snprintf(text, sizeof(text), "[profile]\nlevel = regular ;%0*d", RC_CONFIG_LINE_MAX, 0);
        EXPECT_ONE_ERROR(text, 2, "longer");
}

/* A path may be RC_CONFIG_PATH_MAX - 1 = 255 characters (PATH_MAX-style limit of a
 * file name component is not ours to impose): its line is read whole. */
static void test_long_path(void **state) {
        char text[1024], dir[RC_CONFIG_PATH_MAX];
        struct rc_config c;

        memset(dir, 'd', sizeof(dir) - 1);
        dir[0] = '/';
        dir[sizeof(dir) - 1] = '\0';
        snprintf(text, sizeof(text), "[plugins]\nstate_dir = %s\n[voice]\nwav_dir = %s\n", dir,
                 dir);
        assert_int_equal(load(&c, text), 0);
        assert_int_equal(logs.n, 0);
        assert_string_equal(c.plugins.state_dir, dir);
        assert_string_equal(c.voice.wav_dir, dir);
        /* the list of 8 such directories fits a line too */
        {
                static char list[RC_CONFIG_LINE_MAX];
                size_t n = (size_t)snprintf(list, sizeof(list), "[plugins]\ndirectories = ");

                for (int i = 0; i < RC_CONFIG_MAX_DIRS; i++)
                        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "",
                                              dir);
                assert_true(n < sizeof(list) - 1);
                list[n++] = '\n';
                list[n] = '\0';
                assert_int_equal(load(&c, list), 0);
                assert_int_equal(c.plugins.n_directories, RC_CONFIG_MAX_DIRS);
                assert_string_equal(c.plugins.directories[7], dir);
        }
}

/* '#' and ';' after white space start a comment, at the end of a key line or of a
 * section header; without white space before them they are part of the value. */
static void test_inline_comments(void **state) {
        struct rc_config c;

        assert_int_equal(load(&c, "[leds]   # the LEDs\n"
                                  "backend = sysfs          # off, sysfs or gpiod\n"
                                  "ok = green\t# tab before\n"
                                  "warn = amber ; inih's own style\n"
                                  "stop = red#1\n"
                                  "[button] ; a button\n"
                                  "active_low = no     # to 3.3 V\n"),
                         0);
        assert_int_equal(logs.n, 0);
        assert_int_equal(c.leds.backend, RC_LEDS_SYSFS);
        assert_string_equal(c.leds.name[RC_LED_SLOT_OK], "green");
        assert_string_equal(c.leds.name[RC_LED_SLOT_WARN], "amber");
        assert_string_equal(c.leds.name[RC_LED_SLOT_STOP], "red#1");
        assert_false(c.button.active_low);
        /* a key line that is all comment after the key is still a syntax error */
        EXPECT_ONE_ERROR("[profile]\nlevel # = regular\n", 2, "key = value");
}

/* Not a configuration: binary data (/dev/zero, NUL bytes from the first line) or
 * more than RC_CONFIG_MAX_BYTES; one error, and reading stops (it ends). */
static void test_not_config(void **state) {
        static char big[RC_CONFIG_MAX_BYTES + 64];
        struct rc_config c;

        rc_config_defaults(&c);
        assert_int_equal(rc_config_load(&c, "/dev/zero"), -EINVAL);
        assert_int_equal(logs.n, 1);
        assert_non_null(strstr(logs.text[0], "/dev/zero:1: not a configuration"));
        /* comment lines only, over the limit */
        for (size_t i = 0; i + 1 < sizeof(big); i += 2)
                memcpy(big + i, "#\n", 2);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(load(&c, big), -EINVAL);
        assert_int_equal(logs.n, 1);
        assert_non_null(strstr(logs.text[0], "not a configuration"));
        assert_non_null(strstr(logs.text[0], "1 MiB"));
        /* blank lines only, over the limit: the line ends count */
        memset(big, '\n', sizeof(big) - 1);
        assert_int_equal(load(&c, big), -EINVAL);
        assert_int_equal(logs.n, 1);
        assert_non_null(strstr(logs.text[0], "not a configuration"));
}

/* Thousands of errors: the first RC_CONFIG_MAX_REPORTED are printed, then one line
 * that counts them all. */
static void test_error_cap(void **state) {
        enum { LINES = 5000 };
        static char text[LINES * 8 + 16];
        struct rc_config c;
        size_t n = (size_t)snprintf(text, sizeof(text), "[profile]\n");
        char all[64];

        for (int i = 0; i < LINES; i++)
                n += (size_t)snprintf(text + n, sizeof(text) - n, "bad\n");
        assert_int_equal(load(&c, text), -EINVAL);
        assert_int_equal(logs.n, RC_CONFIG_MAX_REPORTED + 1);
        expect_error(0, 2, "bad", NULL);
        expect_error(RC_CONFIG_MAX_REPORTED - 1, RC_CONFIG_MAX_REPORTED + 1, "bad", NULL);
        snprintf(all, sizeof(all), "(%d in all)", LINES);
        assert_non_null(strstr(logs.text[RC_CONFIG_MAX_REPORTED], all));
}

/* Every ```ini block in README.md and docs/ that configures rollcoach (a block
 * whose first line is a [section] header) is a valid configuration. */
static void test_docs_blocks(void **state) {
        static const char *const files[] = {
                "README.md",       "docs/headless.md",        "docs/gateway.md",
                "docs/plugins.md", "docs/scenario-format.md", "docs/analysis.md"};
        static char block[65536];
        unsigned blocks = 0;

        for (size_t i = 0; i < N(files); i++) {
                char name[512], line[1024];
                unsigned line_no = 0, start = 0;
                size_t n = 0;
                bool in = false;
                FILE *f;

                snprintf(name, sizeof(name), "%s/%s", RC_SOURCE_DIR, files[i]);
                f = fopen(name, "r");
                assert_non_null(f);
                while (fgets(line, sizeof(line), f)) {
                        line_no++;
                        if (!in && strcmp(line, "```ini\n") == 0) {
                                in = true;
                                n = 0;
                                start = line_no;
                                continue;
                        }
                        if (in && strncmp(line, "```", 3) == 0) {
                                struct rc_config c;

                                in = false;
                                block[n] = '\0';
                                if (block[0] != '[')
                                        fail_msg("%s:%u: an ini block that is not rollcoach's "
                                                 "configuration: mark it ```text",
                                                 files[i], start);
                                logs.n = 0;
                                if (load(&c, block) != 0)
                                        fail_msg("%s:%u: the configuration block is rejected: "
                                                 "%s",
                                                 files[i], start, logs.n ? logs.text[0] : "");
                                blocks++;
                                continue;
                        }
                        if (in) {
                                assert_true(n + strlen(line) < sizeof(block));
                                memcpy(block + n, line, strlen(line));
                                n += strlen(line);
                        }
                }
                fclose(f);
                assert_false(in);
        }
        assert_true(blocks >= 2); /* headless.md's [leds] and [button] at least */
}

static void test_nul(void **state) {
        static const char text[] = "[profile]\nlevel = reg\0ular\nheight_cm = 10\n";
        struct rc_config c;

        write_file_len(text, sizeof(text) - 1);
        rc_config_defaults(&c);
        assert_int_equal(rc_config_load(&c, path), -EINVAL);
        assert_int_equal(logs.n, 2);
        expect_error(0, 2, "NUL", NULL);
        expect_error(1, 3, "height_cm", NULL);
}

static void test_many_errors(void **state) {
        struct rc_config c;

        assert_int_equal(load(&c, "level = regular\n"          /* 1: outside a section */
                                  "[profile]\n"                /* 2 */
                                  "height_cm = 300\n"          /* 3: bad value */
                                  "weight_kg = 80\n"           /* 4: fine */
                                  "colour = blue\n"            /* 5: unknown key */
                                  "weight_kg = 81\n"           /* 6: duplicate */
                                  "level\n"                    /* 7: syntax */
                                  "conditions = knee_injury\n" /* 8: unknown condition */
                                  "[network\n"                 /* 9: syntax */
                                  "[network]\n"                /* 10: unknown section */
                                  "port = 1\n"                 /* 11: ignored */
                                  "[profile]\n"                /* 12 */
                                  "level = experienced\n"),    /* 13: bad value */
                         -EINVAL);
        assert_int_equal(logs.n, 9);
        expect_error(0, 1, "level", NULL);
        expect_error(1, 3, "height_cm", "300", NULL);
        expect_error(2, 5, "colour", NULL);
        expect_error(3, 6, "duplicate", "weight_kg", NULL);
        expect_error(4, 7, "level", NULL);
        expect_error(5, 8, "knee_injury", NULL);
        expect_error(6, 9, "[network", NULL);
        expect_error(7, 10, "network", NULL);
        expect_error(8, 13, "experienced", NULL);
        /* The valid lines were applied. */
        assert_double_eq(c.profile.weight_kg, 80);
        assert_double_eq(c.profile.height_cm, 170);
}

static void test_open_errors(void **state) {
        struct rc_config c;

        rc_config_defaults(&c);
        assert_int_equal(rc_config_load(&c, "/nonexistent/rollcoach.conf"), -ENOENT);
        assert_int_equal(logs.n, 1);
        assert_int_equal(logs.level[0], RC_LOG_ERR);
        assert_non_null(strstr(logs.text[0], "/nonexistent/rollcoach.conf"));
        /* A directory opens but cannot be read. */
        logs.n = 0;
        assert_int_equal(rc_config_load(&c, "/tmp"), -EISDIR);
        assert_int_equal(logs.n, 1);
        assert_non_null(strstr(logs.text[0], "/tmp"));
}

/* session_minutes: set, or by level (10 beginner, 20 regular: config.h) */
static void test_session_minutes(void **state) {
        struct rc_config c;

        (void)state;
        assert_int_equal(load(&c, "[profile]\nlevel = regular\n"), 0);
        assert_double_eq(rc_profile_session_minutes(&c.profile), 20);
        assert_int_equal(load(&c, "[profile]\n"), 0);
        assert_double_eq(rc_profile_session_minutes(&c.profile), 10);
        assert_int_equal(load(&c, "[profile]\nsession_minutes = 7.5\n"), 0);
        assert_double_eq(rc_profile_session_minutes(&c.profile), 7.5);
        EXPECT_ONE_ERROR("[profile]\nsession_minutes = 0\n", 2, "session_minutes");
        EXPECT_ONE_ERROR("[profile]\n\nsession_minutes = 121\n", 3, "session_minutes");
}

/* [plugins]: directories, state_dir and limits (config.h) */
static void test_plugins_section(void **state) {
        struct rc_config c;

        (void)state;
        assert_int_equal(load(&c, "[plugins]\n"
                                  "directories = /a/b , /c\n"
                                  "state_dir = /var/lib/rollcoach\n"
                                  "instructions = 500000\nmemory_mb = 16\ntimers = 8\n"
                                  "failures = 3\n"),
                         0);
        assert_int_equal(c.plugins.n_directories, 2);
        assert_string_equal(c.plugins.directories[0], "/a/b");
        assert_string_equal(c.plugins.directories[1], "/c");
        assert_string_equal(c.plugins.state_dir, "/var/lib/rollcoach");
        assert_double_eq(c.plugins.instructions, 500000);
        assert_double_eq(c.plugins.memory_mb, 16);
        assert_double_eq(c.plugins.timers, 8);
        assert_double_eq(c.plugins.failures, 3);
        /* defaults: nothing set */
        assert_int_equal(load(&c, "[plugins]\n"), 0);
        assert_int_equal(c.plugins.n_directories, 0);
        assert_string_equal(c.plugins.state_dir, "");
        EXPECT_ONE_ERROR("[plugins]\ndirectories = plugins\n", 2, "directories", "absolute");
        EXPECT_ONE_ERROR("[plugins]\ndirectories = /1,/2,/3,/4,/5,/6,/7,/8,/9\n", 2, "directories",
                         "at most 8");
        EXPECT_ONE_ERROR("[plugins]\nstate_dir = ./state\n", 2, "state_dir");
        EXPECT_ONE_ERROR("[plugins]\nmemory_mb = 1.5\n", 2, "memory_mb", "whole");
        EXPECT_ONE_ERROR("[plugins]\ntimers = 65\n", 2, "timers", "64");
        EXPECT_ONE_ERROR("[plugins]\nheight_cm = 170\n", 2, "unknown key 'height_cm' in [plugins]",
                         "directories");
        EXPECT_ONE_ERROR("[profile]\nstate_dir = /x\n", 2, "unknown key 'state_dir' in [profile]");
}

/* [devices]: an address per kind (1 roller, 2 body, 3 hr) */
static void test_devices_section(void **state) {
        struct rc_config c;

        (void)state;
        assert_int_equal(
                load(&c, "[devices]\nroller = aa:bb:cc:dd:ee:01\nhr = 11:22:33:44:55:66\n"), 0);
        assert_true(c.devices.has[1]);
        assert_false(c.devices.has[2]);
        assert_true(c.devices.has[3]);
        assert_memory_equal(c.devices.addr[1], ((uint8_t[]){0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01}),
                            6);
        assert_memory_equal(c.devices.addr[3], ((uint8_t[]){0x11, 0x22, 0x33, 0x44, 0x55, 0x66}),
                            6);
        EXPECT_ONE_ERROR("[devices]\nbody = AA:BB:CC:DD:EE\n", 2, "body", "Bluetooth address");
        EXPECT_ONE_ERROR("[devices]\nkeyboard = AA:BB:CC:DD:EE:FF\n", 2, "unknown key", "roller");
}

/* [voice], [leds], [button], [session]: defaults, values, and each kind of bad one */
static void test_feedback_sections(void **state) {
        struct rc_config c;

        (void)state;
        assert_int_equal(load(&c, "[voice]\n"), 0);
        assert_int_equal(c.voice.output, RC_VOICE_ALSA);
        assert_string_equal(c.voice.voice, "en-us");
        assert_double_eq(c.voice.rate, 145);
        assert_false(c.button.enabled);
        assert_true(c.session.auto_start);
        assert_string_equal(c.session.routine, "lower-back-relief");
        assert_int_equal(c.leds.backend, RC_LEDS_OFF);
        assert_int_equal(load(&c, "[voice]\noutput = wav\nwav_dir = /tmp/v\nrate = 160\n"
                                  "[leds]\nbackend = sysfs\nsysfs_root = /tmp/leds\nok = green\n"
                                  "stop = red:power\nwarn_line = 27\n"
                                  "[button]\nenabled = yes\nline = 17\nactive_low = no\n"
                                  "[session]\nauto = no\nroutine = none\nidle_minutes = 2.5\n"),
                         0);
        assert_int_equal(c.voice.output, RC_VOICE_WAV);
        assert_string_equal(c.voice.wav_dir, "/tmp/v");
        assert_double_eq(c.voice.rate, 160);
        assert_int_equal(c.leds.backend, RC_LEDS_SYSFS);
        assert_string_equal(c.leds.name[RC_LED_SLOT_OK], "green");
        assert_string_equal(c.leds.name[RC_LED_SLOT_STOP], "red:power");
        assert_string_equal(c.leds.name[RC_LED_SLOT_HOLD], "");
        assert_double_eq(c.leds.line[RC_LED_SLOT_WARN], 27);
        assert_double_eq(c.leds.line[RC_LED_SLOT_OK], -1);
        assert_true(c.button.enabled);
        assert_double_eq(c.button.line, 17);
        assert_false(c.button.active_low);
        assert_false(c.session.auto_start);
        assert_string_equal(c.session.routine, "none");
        assert_double_eq(c.session.idle_minutes, 2.5);
        EXPECT_ONE_ERROR("[voice]\noutput = speaker\n", 2, "output", "alsa, wav or off");
        EXPECT_ONE_ERROR("[voice]\nrate = 20\n", 2, "rate", "80");
        EXPECT_ONE_ERROR("[leds]\nok = my led\n", 2, "ok", "without blanks");
        EXPECT_ONE_ERROR("[button]\nenabled = maybe\n", 2, "enabled", "yes or no");
        EXPECT_ONE_ERROR("[button]\nline = 3.5\n", 2, "line", "whole");
        EXPECT_ONE_ERROR("[session]\nwhen = always\n", 2, "unknown key 'when' in [session]",
                         "idle_minutes");
        EXPECT_ONE_ERROR("[speakers]\n", 1, "unknown section", "[voice]");
}

static void test_names(void **state) {
        static const char *const names[RC_COND__COUNT] = {
                "osteoporosis",    "pregnancy",          "spondylolisthesis",   "spinal_stenosis",
                "disc_herniation", "recent_back_injury", "recent_back_surgery",
        };
        unsigned bit;

        assert_string_equal(rc_level_name(RC_LEVEL_BEGINNER), "beginner");
        assert_string_equal(rc_level_name(RC_LEVEL_REGULAR), "regular");
        for (unsigned i = 0; i < RC_COND__COUNT; i++) {
                assert_string_equal(rc_condition_name(1u << i), names[i]);
                assert_int_equal(rc_condition_from_name(names[i], &bit), 0);
                assert_int_equal(bit, 1u << i);
        }
        assert_int_equal(RC_COND_RECENT_BACK_SURGERY, 1u << 6);
        assert_null(rc_condition_name(0));
        assert_null(rc_condition_name(RC_COND_PREGNANCY | RC_COND_OSTEOPOROSIS));
        assert_null(rc_condition_name(1u << RC_COND__COUNT));
        assert_int_equal(rc_condition_from_name("back_pain", &bit), -EINVAL);
        assert_int_equal(rc_condition_from_name("", &bit), -EINVAL);
        assert_int_equal(rc_condition_from_name("Pregnancy", &bit), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_indented, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_conditions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inline_comments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_docs_blocks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nul, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_session_minutes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_plugins_section, setup, teardown),
                cmocka_unit_test_setup_teardown(test_devices_section, setup, teardown),
                cmocka_unit_test_setup_teardown(test_feedback_sections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
