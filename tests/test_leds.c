/* Tests of core/outputs/leds.c: the LED patterns on the Linux LED class (sysfs)
 * and on bare GPIO lines (libgpiod).
 *
 * sysfs: a temporary tree laid out as the kernel exposes an LED
 * (Documentation/leds/leds-class.rst): ROOT/NAME/ with brightness,
 * max_brightness ("%u\n"), trigger, and the timer trigger's delay_on/delay_off
 * (ms). A file holds what was last written to it, so after each pattern the
 * files say what the kernel was told: steady = trigger "none" and brightness =
 * that LED's max_brightness; blinking = trigger "timer", delay_on/delay_off
 * 500/500 (hold) or 150/150 (warn), brightness max_brightness (the timer blinks
 * between off and the brightness); off = brightness 0. The kernel's side of
 * those writes that the code relies on is played by kernel() after each call:
 * brightness 0 removes the LED's trigger (leds-class.rst: "if you set the
 * brightness value to LED_OFF it will also disable the timer trigger").
 *
 * gpiod: no GPIO chip or simulator can run here, so libgpiod's calls are wrapped
 * (-Wl,--wrap=, CMakeLists.txt) by fake lines that record every value written and
 * when; blinking is the module's own uv_timer on a real loop, timed here.
 * Opening a chip that does not exist goes to the real libgpiod. */
#include "rc_test.h"
#include "rc_test_gpiod.h"

#include <errno.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "outputs/leds.h"

/* ---- The fake lines ------------------------------------------------------------ */

/* The tests' loop; the fake stamps each write with the loop's clock, the clock the
 * LEDs' timers run on. */
static uv_loop_t loop;

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset);
int __wrap_gpiod_line_request_output(struct gpiod_line *line, const char *consumer,
                                     int default_val);
int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value);
void __wrap_gpiod_line_release(struct gpiod_line *line);

struct fake_line {
        unsigned offset;
        unsigned requests, releases;
        char consumer[32];
        int value; /* -1: never driven */
};

static struct {
        struct fake_line line[8];
        unsigned n_lines;
        int busy_offset; /* its request fails with EBUSY; -1: none */
        struct {
                unsigned offset;
                int value;
                uint64_t t_ms; /* uv_now() of the loop */
        } writes[256];
        unsigned n_writes;
} fake;

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset) {
        struct fake_line *l;

        assert_ptr_equal(chip, &the_chip);
        for (unsigned i = 0; i < fake.n_lines; i++)
                if (fake.line[i].offset == offset)
                        return (struct gpiod_line *)&fake.line[i];
        assert_true(fake.n_lines < N(fake.line));
        l = &fake.line[fake.n_lines++];
        l->offset = offset;
        l->value = -1;
        return (struct gpiod_line *)l;
}

static struct fake_line *fake_line(struct gpiod_line *line) {
        struct fake_line *l = (struct fake_line *)line;

        assert_true(l >= fake.line && l < fake.line + fake.n_lines);
        return l;
}

int __wrap_gpiod_line_request_output(struct gpiod_line *line, const char *consumer,
                                     int default_val) {
        struct fake_line *l = fake_line(line);

        if ((int)l->offset == fake.busy_offset) {
                errno = EBUSY;
                return -1;
        }
        assert_int_equal(l->requests, 0); /* one request a line */
        l->requests++;
        snprintf(l->consumer, sizeof(l->consumer), "%s", consumer);
        l->value = default_val;
        return 0;
}

int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value) {
        struct fake_line *l = fake_line(line);

        assert_int_equal(l->requests, 1);
        assert_int_equal(l->releases, 0);
        assert_true(value == 0 || value == 1);
        assert_true(fake.n_writes < N(fake.writes));
        fake.writes[fake.n_writes].offset = l->offset;
        fake.writes[fake.n_writes].value = value;
        fake.writes[fake.n_writes].t_ms = uv_now(&loop);
        fake.n_writes++;
        l->value = value;
        return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line) {
        fake_line(line)->releases++;
}

static int line_value(unsigned offset) {
        for (unsigned i = 0; i < fake.n_lines; i++)
                if (fake.line[i].offset == offset)
                        return fake.line[i].value;
        fail_msg("no line %u", offset);
        return -1;
}

/* ---- A temporary LED class tree ----------------------------------------------------- */

static char root[64];

static void put(const char *led, const char *attr, const char *value) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/%s", root, led, attr);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(value, f);
        fclose(f);
}

/* The file's contents without the trailing newline. */
static const char *get(const char *led, const char *attr) {
        static char buf[8][128];
        static unsigned k;
        char path[256], *b = buf[k++ % N(buf)];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/%s", root, led, attr);
        f = fopen(path, "r");
        if (!f)
                fail_msg("cannot read %s", path);
        n = fread(b, 1, sizeof(buf[0]) - 1, f);
        fclose(f);
        b[n] = '\0';
        if (n && b[n - 1] == '\n')
                b[n - 1] = '\0';
        return b;
}

#define NO_TRIGGER "[none] timer heartbeat default-on mmc0\n" /* as the kernel shows it */

/* Which LED files were written since the last look: inotify on each LED's
 * directory (a write is an IN_MODIFY naming the file). */
static int ino = -1;
static struct {
        int wd;
        char led[32];
} watched[8];
static unsigned n_watched;

static void watch_led(const char *led) {
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", root, led);
        assert_true(n_watched < N(watched));
        watched[n_watched].wd = inotify_add_watch(ino, path, IN_MODIFY);
        assert_true(watched[n_watched].wd >= 0);
        snprintf(watched[n_watched].led, sizeof(watched[0].led), "%s", led);
        n_watched++;
}

/* The kernel's side: writing 0 to an LED's brightness removes its trigger. (Each
 * LED's brightness is written at most once a pattern, after its trigger.) */
static void kernel(void) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool off[N(watched)] = {false};
        ssize_t n;

        while ((n = read(ino, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;

                        for (unsigned i = 0; i < n_watched; i++)
                                if (watched[i].wd == ev->wd && ev->len &&
                                    strcmp(ev->name, "brightness") == 0)
                                        off[i] = true;
                        p += sizeof(*ev) + ev->len;
                }
        for (unsigned i = 0; i < n_watched; i++)
                if (off[i] && strcmp(get(watched[i].led, "brightness"), "0") == 0)
                        put(watched[i].led, "trigger", NO_TRIGGER);
}

/* The trigger in effect: the one in brackets as the kernel shows it, or the one
 * written. */
static const char *trigger(const char *led) {
        static char buf[64];
        const char *t = get(led, "trigger"), *open = strchr(t, '['), *close;

        if (!open || !(close = strchr(open, ']')))
                return t;
        snprintf(buf, sizeof(buf), "%.*s", (int)(close - open - 1), open + 1);
        return buf;
}

/* An LED as the kernel shows one that has never been touched: off, no trigger. */
static void make_led(const char *led, unsigned max) {
        char path[256], v[16];

        snprintf(path, sizeof(path), "%s/%s", root, led);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(v, sizeof(v), "%u\n", max);
        put(led, "max_brightness", v);
        put(led, "brightness", "0\n");
        put(led, "trigger", NO_TRIGGER);
        put(led, "delay_on", "500\n");
        put(led, "delay_off", "500\n");
        watch_led(led);
}

static void remove_tree(void) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
}

/* ---- Set-up ------------------------------------------------------------------------ */

static bool closed;

static int setup(void **state) {
        (void)state;
        rc_test_gpiod_reset();
        memset(&fake, 0, sizeof(fake));
        fake.busy_offset = -1;
        snprintf(root, sizeof(root), "/tmp/rc-leds-XXXXXX");
        assert_non_null(mkdtemp(root));
        ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(ino >= 0);
        n_watched = 0;
        closed = false;
        assert_int_equal(uv_loop_init(&loop), 0);
        return 0;
}

static int teardown(void **state) {
        (void)state;
        assert_int_equal(uv_loop_close(&loop), 0);
        close(ino);
        remove_tree();
        rc_log_set_sink(NULL, NULL);
        return 0;
}

static void on_closed(void *userdata) {
        *(bool *)userdata = true;
}

static void close_leds(struct rc_leds *l) {
        rc_leds_close(l, on_closed, &closed);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_true(closed);
        rc_leds_free(l);
        kernel();
}

/* The LEDs of sysfs_config(): green (max 255), amber (max 1), red (max 127). */
static void make_example_leds(void) {
        make_led("green", 255);
        make_led("amber", 1);
        make_led("red", 127);
}

/* ok and hold on "green" (max 255), warn on "amber" (a GPIO LED: max 1), stop on
 * "red" (max 127) — the shipped configuration's example. */
static struct rc_leds_config sysfs_config(void) {
        struct rc_config c;

        rc_config_defaults(&c);
        c.leds.backend = RC_LEDS_SYSFS;
        snprintf(c.leds.sysfs_root, sizeof(c.leds.sysfs_root), "%s", root);
        snprintf(c.leds.name[RC_LED_SLOT_OK], sizeof(c.leds.name[0]), "green");
        snprintf(c.leds.name[RC_LED_SLOT_HOLD], sizeof(c.leds.name[0]), "green");
        snprintf(c.leds.name[RC_LED_SLOT_WARN], sizeof(c.leds.name[0]), "amber");
        snprintf(c.leds.name[RC_LED_SLOT_STOP], sizeof(c.leds.name[0]), "red");
        return c.leds;
}

static void assert_steady(const char *led, const char *max) {
        assert_string_equal(trigger(led), "none");
        assert_string_equal(get(led, "brightness"), max);
}

static void assert_blinking(const char *led, const char *max, const char *half_ms) {
        assert_string_equal(trigger(led), "timer");
        assert_string_equal(get(led, "delay_on"), half_ms);
        assert_string_equal(get(led, "delay_off"), half_ms);
        assert_string_equal(get(led, "brightness"), max);
}

static void assert_off(const char *led) {
        assert_string_equal(get(led, "brightness"), "0");
        assert_string_equal(trigger(led), "none");
}

/* Show a pattern, then the kernel does its part. */
static void set(struct rc_leds *l, enum rc_led_pattern p) {
        rc_leds_set(l, p);
        kernel();
}

static void act(const struct rc_action *a, struct rc_leds *l) {
        rc_leds_action(a, l);
        kernel();
}

static struct rc_leds *start(const struct rc_leds_config *c) {
        struct rc_leds *l = NULL;

        assert_int_equal(rc_leds_new(&loop, c, &l), 0);
        kernel();
        return l;
}

/* ---- sysfs -------------------------------------------------------------------------- */

static void test_sysfs_patterns(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        make_example_leds();
        /* left on, with a trigger, as a Pi's activity LED: the start turns it off */
        put("green", "brightness", "255\n");
        put("green", "trigger", "none timer [heartbeat] default-on mmc0\n");
        c = sysfs_config();
        l = start(&c);
        assert_off("green");
        assert_off("amber");
        assert_off("red");

        set(l, RC_LED_OK);
        assert_steady("green", "255");
        assert_off("amber");
        assert_off("red");

        set(l, RC_LED_HOLD); /* green, shared: now blinking slowly */
        assert_blinking("green", "255", "500");
        assert_off("amber");
        assert_off("red");

        /* the same pattern again rewrites nothing (the blink is not restarted) */
        put("green", "trigger", "marker\n");
        set(l, RC_LED_HOLD);
        assert_string_equal(get("green", "trigger"), "marker");
        put("green", "trigger", "timer\n");

        set(l, RC_LED_WARN);
        assert_off("green");
        assert_blinking("amber", "1", "150");
        assert_off("red");

        set(l, RC_LED_STOP);
        assert_off("green");
        assert_off("amber");
        assert_steady("red", "127");

        set(l, RC_LED_OFF);
        assert_off("green");
        assert_off("amber");
        assert_off("red");

        set(l, RC_LED_WARN);
        rc_leds_stats(l, &st);
        assert_int_equal(st.changes, 6); /* ok hold warn stop off warn */
        assert_int_equal(st.write_errors, 0);
        assert_int_equal(st.current, RC_LED_WARN);
        assert_int_equal(logs.n, 0);

        close_leds(l); /* all off */
        assert_off("amber");
}

/* One LED for every pattern: it shows the current one. */
static void test_sysfs_shared_led(void **state) {
        struct rc_leds_config c;
        struct rc_leds *l;

        (void)state;
        make_led("status", 255);
        c = sysfs_config();
        for (int s = 0; s < RC_LED_SLOTS; s++)
                snprintf(c.name[s], sizeof(c.name[s]), "status");
        l = start(&c);
        set(l, RC_LED_WARN);
        assert_blinking("status", "255", "150");
        set(l, RC_LED_HOLD);
        assert_blinking("status", "255", "500");
        set(l, RC_LED_STOP);
        assert_steady("status", "255");
        set(l, RC_LED_WARN);
        assert_blinking("status", "255", "150");
        set(l, RC_LED_OK);
        assert_steady("status", "255");
        set(l, RC_LED_OFF);
        assert_off("status");
        close_leds(l);
}

/* "red" does not exist: reported once at start, never written, each change of
 * its mode counted (start off: 1, stop on: 2, off: 3); the others work. */
static void test_sysfs_missing_led(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;
        char path[128];

        (void)state;
        make_led("green", 255);
        make_led("amber", 1);
        c = sysfs_config();
        l = start(&c);
        assert_int_equal(logged(RC_LOG_ERR, "red"), 1);
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 1);

        set(l, RC_LED_OK);
        assert_steady("green", "255");
        set(l, RC_LED_STOP);
        assert_off("green");
        set(l, RC_LED_STOP);
        set(l, RC_LED_WARN);
        assert_blinking("amber", "1", "150");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 3);
        assert_int_equal(logged(RC_LOG_ERR, "red"), 1);
        snprintf(path, sizeof(path), "%s/red", root);
        assert_int_equal(access(path, F_OK), -1); /* nothing was created */
        close_leds(l);
}

/* An LED whose max_brightness is not a number, and a name that is a path: both
 * taken as missing, reported. */
static void test_sysfs_bad_leds(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        make_led("green", 255);
        make_led("odd", 1);
        put("odd", "max_brightness", "bright\n");
        c = sysfs_config();
        snprintf(c.name[RC_LED_SLOT_WARN], sizeof(c.name[0]), "odd");
        snprintf(c.name[RC_LED_SLOT_STOP], sizeof(c.name[0]), "../green");
        l = start(&c);
        assert_int_equal(logged(RC_LOG_ERR, "odd"), 1);
        assert_int_equal(logged(RC_LOG_ERR, "../green"), 1);
        set(l, RC_LED_WARN);
        assert_off("odd");
        set(l, RC_LED_STOP);
        assert_off("green");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 2 + 1 + 2); /* start: 2; warn: odd; stop: odd, ../green */
        close_leds(l);
}

/* Replace a file by one that refuses writes (as root, which file modes do not
 * stop, a directory of that name). */
static void make_unwritable(const char *led, const char *attr) {
        char path[256];

        snprintf(path, sizeof(path), "%s/%s/%s", root, led, attr);
        assert_int_equal(chmod(path, 0444), 0);
        if (geteuid() == 0) {
                assert_int_equal(unlink(path), 0);
                assert_int_equal(mkdir(path, 0755), 0);
        }
}

/* green's brightness refuses writes: reported once, every failed change counted,
 * retried at the next pattern; amber and red go on working. */
static void test_sysfs_unwritable(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        make_example_leds();
        make_unwritable("green", "brightness");
        c = sysfs_config();
        l = start(&c); /* the start's off fails: 1 */
        assert_int_equal(logged(RC_LOG_ERR, "green"), 1);

        set(l, RC_LED_OK);   /* trigger written, brightness refused: 2 */
        set(l, RC_LED_WARN); /* green off refused: 3 */
        assert_blinking("amber", "1", "150");
        set(l, RC_LED_STOP); /* green off tried again: 4 */
        assert_steady("red", "127");
        assert_off("amber");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 4);
        assert_int_equal(logged(RC_LOG_ERR, "green"), 1);
        close_leds(l); /* green off: 5 */
        assert_off("red");
}

/* Open a file again (udev having run its rule). */
static void make_writable(const char *led, const char *attr, const char *value) {
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s/%s", root, led, attr);
        assert_int_equal(stat(path, &st), 0);
        if (S_ISDIR(st.st_mode))
                assert_int_equal(rmdir(path), 0);
        else
                assert_int_equal(chmod(path, 0644), 0);
        put(led, attr, value);
}

/* The timer trigger's delay_on appears owned by root when the trigger is set; a
 * udev rule opens it to the hub a moment later. The failed change is tried again
 * from the loop (RETRY_MS: 100 ms later) and then succeeds, without writing the
 * trigger again (which would make the files anew). */
static void test_sysfs_retry(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        make_example_leds();
        c = sysfs_config();
        l = start(&c);
        make_unwritable("green", "delay_on");
        set(l, RC_LED_HOLD);
        assert_string_equal(trigger("green"), "timer");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 1);
        assert_int_equal(logged(RC_LOG_ERR, "green"), 1);

        make_writable("green", "delay_on", "0\n"); /* udev */
        put("green", "trigger", "timer marker\n"); /* to see that it is not rewritten */
        /* not tried again at once, but from the loop */
        assert_string_equal(get("green", "delay_on"), "0");
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* until nothing is left to try */
        assert_string_equal(get("green", "trigger"), "timer marker");
        assert_string_equal(get("green", "delay_on"), "500");
        assert_string_equal(get("green", "delay_off"), "500");
        assert_string_equal(get("green", "brightness"), "255");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 1);
        close_leds(l);
}

/* A file that stays unwritable: tried again 3 times (then only at the next
 * pattern), each counted; reported once. */
static void test_sysfs_retry_bounded(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        make_example_leds();
        c = sysfs_config();
        l = start(&c);
        make_unwritable("amber", "delay_off");
        set(l, RC_LED_WARN);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 1 + 3);
        set(l, RC_LED_STOP); /* amber off: that works */
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_off("amber");
        assert_steady("red", "127");
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 1 + 3);
        assert_int_equal(logged(RC_LOG_ERR, "amber"), 1);
        close_leds(l);
}

/* The off backend: nothing lit, the patterns still followed in the stats. */
static void test_off_backend(void **state) {
        struct rc_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        rc_config_defaults(&c);
        assert_int_equal(c.leds.backend, RC_LEDS_OFF);
        l = start(&c.leds);
        set(l, RC_LED_HOLD);
        set(l, RC_LED_STOP);
        rc_leds_stats(l, &st);
        assert_int_equal(st.changes, 2);
        assert_int_equal(st.write_errors, 0);
        assert_int_equal(st.current, RC_LED_STOP);
        assert_int_equal(fake_chip.opens, 0);
        close_leds(l);
}

/* rc_leds_action shows led actions and ignores the others. */
static void test_actions(void **state) {
        struct rc_leds_config c;
        struct rc_leds_stats st;
        struct rc_leds *l;
        struct rc_action a;

        (void)state;
        make_example_leds();
        c = sysfs_config();
        l = start(&c);

        memset(&a, 0, sizeof(a));
        a.kind = RC_ACTION_LED;
        a.t_ms = 61250;
        a.led.pattern = RC_LED_STOP;
        act(&a, l);
        assert_steady("red", "127");

        memset(&a, 0, sizeof(a));
        a.kind = RC_ACTION_SAY;
        a.say.key = "safety.lumbar";
        a.say.text = "Stop";
        a.say.priority = RC_PRIORITY_SAFETY;
        act(&a, l);
        memset(&a, 0, sizeof(a));
        a.kind = RC_ACTION_SESSION;
        a.session.started = false;
        act(&a, l);
        assert_steady("red", "127");
        rc_leds_stats(l, &st);
        assert_int_equal(st.changes, 1);
        assert_int_equal(st.current, RC_LED_STOP);

        memset(&a, 0, sizeof(a));
        a.kind = RC_ACTION_LED;
        a.led.pattern = RC_LED_OFF;
        act(&a, l);
        assert_off("red");
        close_leds(l);
}

/* ---- gpiod -------------------------------------------------------------------------- */

/* ok and hold on line 17, warn on 27, stop on 22 (the shipped example). */
static struct rc_leds_config gpiod_config(void) {
        struct rc_config c;

        rc_config_defaults(&c);
        c.leds.backend = RC_LEDS_GPIOD;
        c.leds.line[RC_LED_SLOT_OK] = 17;
        c.leds.line[RC_LED_SLOT_HOLD] = 17;
        c.leds.line[RC_LED_SLOT_WARN] = 27;
        c.leds.line[RC_LED_SLOT_STOP] = 22;
        return c.leds;
}

static uv_timer_t watch;
static struct {
        unsigned writes; /* stop once fake.n_writes reaches it */
        int64_t deadline_ns;
} until;

static void on_watch(uv_timer_t *t) {
        if (fake.n_writes >= until.writes || now_ns() >= until.deadline_ns)
                uv_stop(t->loop);
}

/* Run the loop until `n` more line writes happened or `ms` passed. */
static void run_until(unsigned n, int ms) {
        until.writes = fake.n_writes + n;
        until.deadline_ns = now_ns() + (int64_t)ms * 1000000;
        uv_timer_start(&watch, on_watch, 1, 1);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_timer_stop(&watch);
}

/* The writes from index `from`: all on `offset`, alternating from `first`, each at
 * least half_ms after the one before on the loop's clock (a timer never fires
 * early), and the blinking at that pace: the shortest interval under twice half_ms
 * (a busy machine delays some toggles, not all of them by a whole period). */
static void assert_blink(unsigned from, unsigned offset, int first, unsigned half_ms) {
        uint64_t shortest = UINT64_MAX;

        for (unsigned i = from; i < fake.n_writes; i++) {
                assert_int_equal(fake.writes[i].offset, offset);
                assert_int_equal(fake.writes[i].value, (first + (int)(i - from)) % 2);
                if (i > from) {
                        uint64_t dt = fake.writes[i].t_ms - fake.writes[i - 1].t_ms;

                        if (dt < half_ms)
                                fail_msg("toggle %u of line %u after %llu ms, expected %u ms",
                                         i - from, offset, (unsigned long long)dt, half_ms);
                        if (dt < shortest)
                                shortest = dt;
                }
        }
        if (shortest >= 2ull * half_ms)
                fail_msg("line %u toggled every %llu ms at the fastest, expected %u ms", offset,
                         (unsigned long long)shortest, half_ms);
}

static void test_gpiod_patterns(void **state) {
        struct rc_leds_config c = gpiod_config();
        struct rc_leds_stats st;
        struct rc_leds *l;
        unsigned from;

        (void)state;
        uv_timer_init(&loop, &watch);
        assert_int_equal(rc_leds_new(&loop, &c, &l), 0);
        assert_string_equal(fake_chip.chip_name, "gpiochip0");
        assert_int_equal(fake.n_lines, 3); /* 17 shared by ok and hold */
        for (unsigned i = 0; i < fake.n_lines; i++) {
                assert_int_equal(fake.line[i].requests, 1);
                assert_string_equal(fake.line[i].consumer, "rollcoach");
                assert_int_equal(fake.line[i].value, 0); /* requested off */
        }

        rc_leds_set(l, RC_LED_OK);
        assert_int_equal(fake.n_writes, 1);
        assert_int_equal(line_value(17), 1);
        assert_int_equal(line_value(27), 0);
        assert_int_equal(line_value(22), 0);

        /* hold on the same line: on now (already), off at 500, on at 1000, off at 1500 */
        from = fake.n_writes;
        rc_leds_set(l, RC_LED_HOLD);
        run_until(3, 60000);
        assert_true(fake.n_writes - from >= 4);
        assert_blink(from, 17, 1, 500);
        assert_int_equal(line_value(27) + line_value(22), 0);

        /* warn: 17 off first, then 27 on, toggled every 150 ms */
        from = fake.n_writes;
        rc_leds_set(l, RC_LED_WARN);
        assert_int_equal(fake.n_writes, from + 2);
        assert_int_equal(fake.writes[from].offset, 17);
        assert_int_equal(fake.writes[from].value, 0);
        run_until(4, 60000);
        assert_true(fake.n_writes - from >= 2 + 4);
        assert_blink(from + 1, 27, 1, 150);
        assert_int_equal(line_value(17) + line_value(22), 0);

        /* stop: 27 off, then 22 on; no more toggles */
        from = fake.n_writes;
        rc_leds_set(l, RC_LED_STOP);
        assert_int_equal(fake.n_writes, from + 2);
        assert_int_equal(fake.writes[from].offset, 27);
        assert_int_equal(fake.writes[from].value, 0);
        assert_int_equal(fake.writes[from + 1].offset, 22);
        assert_int_equal(fake.writes[from + 1].value, 1);
        run_until(1, 400);
        assert_int_equal(fake.n_writes, from + 2);
        assert_int_equal(line_value(17) + line_value(27), 0);

        rc_leds_set(l, RC_LED_OFF);
        assert_int_equal(line_value(22), 0);
        rc_leds_stats(l, &st);
        assert_int_equal(st.changes, 5);
        assert_int_equal(st.write_errors, 0);

        rc_leds_set(l, RC_LED_HOLD);
        uv_close((uv_handle_t *)&watch, NULL);
        close_leds(l); /* off, released, closed */
        for (unsigned i = 0; i < fake.n_lines; i++) {
                assert_int_equal(fake.line[i].value, 0);
                assert_int_equal(fake.line[i].releases, 1);
        }
        assert_int_equal(fake_chip.closes, 1);
}

/* A line another program holds: reported once, its patterns counted as errors;
 * the other lines work. */
static void test_gpiod_line_busy(void **state) {
        struct rc_leds_config c = gpiod_config();
        struct rc_leds_stats st;
        struct rc_leds *l;

        (void)state;
        fake.busy_offset = 22;
        assert_int_equal(rc_leds_new(&loop, &c, &l), 0);
        assert_int_equal(logged(RC_LOG_ERR, "line 22"), 1);
        rc_leds_set(l, RC_LED_STOP);
        rc_leds_set(l, RC_LED_OK);
        assert_int_equal(line_value(17), 1);
        rc_leds_stats(l, &st);
        assert_int_equal(st.write_errors, 3); /* start off, stop on, off */
        close_leds(l);
        assert_int_equal(logged(RC_LOG_ERR, "line 22"), 1);
}

/* A chip that cannot be opened — the real libgpiod, on a name no /dev entry has:
 * the backend cannot start. */
static void test_gpiod_chip_missing(void **state) {
        struct rc_leds_config c = gpiod_config();
        struct rc_leds *l = NULL;

        (void)state;
        fake_chip.real_open = true;
        snprintf(c.gpio_chip, sizeof(c.gpio_chip), "rc-test-no-such-gpiochip");
        assert_int_equal(rc_leds_new(&loop, &c, &l), -ENOENT);
        assert_null(l);
        assert_int_equal(logged(RC_LOG_ERR, "rc-test-no-such-gpiochip"), 1);
        assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sysfs_patterns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_shared_led, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_missing_led, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_bad_leds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_unwritable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_retry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysfs_retry_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_off_backend, setup, teardown),
                cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gpiod_patterns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gpiod_line_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gpiod_chip_missing, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
