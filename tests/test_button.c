/* Tests of core/outputs/button.c: the hub's push button on a GPIO line.
 *
 * No GPIO chip or simulator (gpio-sim, gpio-mockup) can run where the tests run,
 * so libgpiod's calls are wrapped (-Wl,--wrap=, CMakeLists.txt) by a fake line:
 * the line's event fd is an eventfd in semaphore mode, readable exactly while
 * scripted edges wait, and the wrapped gpiod_line_event_read hands them out as
 * the kernel would — one struct gpiod_line_event each, logical edges (with
 * active_low, a press is a rising edge), stamped with CLOCK_MONOTONIC. The
 * button's uv_poll_t, timer and classification are the real ones, on a real
 * loop. Opening a chip that does not exist goes to the real libgpiod.
 *
 * A script gives each edge its moment (ms from the start): the edge is stamped
 * with that moment and written to the fd when the loop's clock reaches it.
 * Expected presses and their times follow from button.h and the configuration
 * (debounce 30 ms, long 1500 ms, double 400 ms: the defaults). */
#include "rc_test.h"
#include "rc_test_gpiod.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"
#include "outputs/button.h"

/* ---- The fake line ------------------------------------------------------------- */

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset);
int __wrap_gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer,
                                                      int flags);
int __wrap_gpiod_line_event_get_fd(struct gpiod_line *line);
int __wrap_gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event);
void __wrap_gpiod_line_release(struct gpiod_line *line);

static char the_line;       /* what the fake hands out (never dereferenced) */
static bool close_on_press; /* the press callback closes the button */

static struct {
        unsigned releases;
        unsigned offset;
        char consumer[32];
        int flags[4];
        unsigned requests;
        int refuse_errno;      /* every request fails with it; 0: none */
        int refuse_bias_errno; /* a request with a bias flag fails with it; 0: none */
        int read_errno;        /* gpiod_line_event_read fails with it; 0: none */
        unsigned reads;
        int efd; /* the line's event fd */
        struct gpiod_line_event q[64];
        unsigned head, tail;
} fake;

static void fake_reset(void) {
        memset(&fake, 0, sizeof(fake));
        fake.efd = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(fake.efd >= 0);
}

static void fake_done(void) {
        close(fake.efd);
}

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset) {
        assert_ptr_equal(chip, &the_chip);
        fake.offset = offset;
        return (struct gpiod_line *)&the_line;
}

int __wrap_gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer,
                                                      int flags) {
        const int bias = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP |
                         GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN |
                         GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;

        assert_ptr_equal(line, &the_line);
        assert_true(fake.requests < N(fake.flags));
        fake.flags[fake.requests++] = flags;
        snprintf(fake.consumer, sizeof(fake.consumer), "%s", consumer);
        if (fake.refuse_errno) {
                errno = fake.refuse_errno;
                return -1;
        }
        if (fake.refuse_bias_errno && (flags & bias)) {
                errno = fake.refuse_bias_errno;
                return -1;
        }
        return 0;
}

int __wrap_gpiod_line_event_get_fd(struct gpiod_line *line) {
        assert_ptr_equal(line, &the_line);
        return fake.efd;
}

/* As libgpiod's: one event from the fd; it would block on an empty one, which
 * the code under test must never let happen. */
int __wrap_gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event) {
        uint64_t one;

        assert_ptr_equal(line, &the_line);
        fake.reads++;
        if (fake.read_errno) { /* the fd stays readable, as a failing device's does */
                errno = fake.read_errno;
                return -1;
        }
        if (read(fake.efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
                fail_msg("gpiod_line_event_read on an empty event fd (it would block)");
        assert_true(fake.head < fake.tail);
        *event = fake.q[fake.head++];
        return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line) {
        assert_ptr_equal(line, &the_line);
        fake.releases++;
}

/* The kernel queues an edge stamped t_ns; the fd becomes readable. */
static void push_edge(int type, int64_t t_ns) {
        uint64_t one = 1;

        assert_true(fake.tail < N(fake.q));
        fake.q[fake.tail].event_type = type;
        fake.q[fake.tail].ts.tv_sec = (time_t)(t_ns / 1000000000LL);
        fake.q[fake.tail].ts.tv_nsec = (long)(t_ns % 1000000000LL);
        fake.tail++;
        assert_int_equal(write(fake.efd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* ---- Set-up ------------------------------------------------------------------------ */

static int setup(void **state) {
        (void)state;
        rc_test_gpiod_reset();
        fake_reset();
        close_on_press = false;
        return 0;
}

static int teardown(void **state) {
        (void)state;
        fake_done();
        rc_log_set_sink(NULL, NULL);
        return 0;
}

/* ---- Scripted runs --------------------------------------------------------------- */

enum { RISE = GPIOD_LINE_EVENT_RISING_EDGE, FALL = GPIOD_LINE_EVENT_FALLING_EDGE, STALL = 99 };

struct step {
        int at_ms; /* from the start, on the loop's clock */
        int what;  /* RISE or FALL: an edge stamped at at_ms; STALL: keep the loop busy */
        int until_ms;
};

struct run {
        uv_loop_t loop;
        struct rc_gpio_button *b;
        const struct step *steps;
        unsigned n_steps, next;
        int64_t start_ns;
        uint64_t start_loop_ms;
        uv_timer_t feeder, end;
        struct {
                enum rc_press press;
                double t_ms;
                unsigned steps; /* the script's steps fed when it came */
        } got[16];
        unsigned n_got;
        bool closed;
        struct rc_button_stats stats;
};

static double since_ms(const struct run *run) {
        return (double)(now_ns() - run->start_ns) / 1e6;
}

static void on_closed(void *userdata);

static void on_press(enum rc_press press, void *userdata) {
        struct run *run = userdata;

        assert_true(run->n_got < N(run->got));
        run->got[run->n_got].press = press;
        run->got[run->n_got].t_ms = since_ms(run);
        run->got[run->n_got].steps = run->next;
        run->n_got++;
        if (close_on_press) {
                rc_button_stats(run->b, &run->stats);
                rc_button_close(run->b, on_closed, run);
        }
}

/* The feeder runs on the loop's clock, not re-reading it: a step after a stall
 * comes due at its own moment, as the timers of the code under test do. */
static void feed(uv_timer_t *t) {
        struct run *run = t->data;
        uint64_t due;

        while (run->next < run->n_steps) {
                const struct step *s = &run->steps[run->next];

                if (run->start_loop_ms + (uint64_t)s->at_ms > uv_now(&run->loop))
                        break;
                run->next++;
                if (s->what != STALL) {
                        int64_t stamp = run->start_ns + (int64_t)s->at_ms * 1000000;

                        /* the loop's clock may run a little behind: no edge is
                         * readable before it happened */
                        while (now_ns() < stamp)
                                usleep(100);
                        push_edge(s->what, stamp);
                        continue;
                }
                /* the loop is busy (another callback, a slow write) until until_ms */
                while (since_ms(run) < s->until_ms)
                        usleep(1000);
                break; /* the loop goes on to its other timers */
        }
        if (run->next < run->n_steps) {
                due = run->start_loop_ms + (uint64_t)run->steps[run->next].at_ms;
                uv_timer_start(t, feed, due > uv_now(&run->loop) ? due - uv_now(&run->loop) : 0, 0);
        }
}

static void on_closed(void *userdata) {
        struct run *run = userdata;

        run->closed = true;
}

static void on_end(uv_timer_t *t) {
        struct run *run = t->data;

        if (!run->closed) /* the callback may have closed it */
                rc_button_stats(run->b, &run->stats);
        rc_button_close(run->b, on_closed, run);
        uv_close((uv_handle_t *)&run->feeder, NULL);
        uv_close((uv_handle_t *)&run->end, NULL);
}

/* Run `steps` on a button with `config` until end_ms, then close it. */
static void run_script(struct run *run, const struct rc_button_config *config,
                       const struct step *steps, unsigned n_steps, int end_ms) {
        memset(run, 0, sizeof(*run));
        assert_int_equal(uv_loop_init(&run->loop), 0);
        assert_int_equal(rc_button_new(&run->loop, config, on_press, run, &run->b), 0);
        run->steps = steps;
        run->n_steps = n_steps;
        uv_timer_init(&run->loop, &run->feeder);
        uv_timer_init(&run->loop, &run->end);
        run->feeder.data = run->end.data = run;
        uv_update_time(&run->loop);
        run->start_loop_ms = uv_now(&run->loop);
        run->start_ns = now_ns();
        uv_timer_start(&run->feeder, feed, (uint64_t)steps[0].at_ms, 0);
        uv_timer_start(&run->end, on_end, (uint64_t)end_ms, 0);
        assert_int_equal(uv_run(&run->loop, UV_RUN_DEFAULT), 0);
        assert_true(run->closed);
        assert_int_equal(uv_loop_close(&run->loop), 0);
        rc_button_free(run->b);
        /* every edge was read, the line released and the chip closed once */
        if (!fake.read_errno && !close_on_press)
                assert_int_equal(fake.head, fake.tail);
        assert_int_equal(fake.releases, 1);
        assert_int_equal(fake_chip.closes, 1);
        assert_int_equal(fake_chip.opens, 1);
}

static struct rc_button_config defaults(void) {
        struct rc_config c;

        rc_config_defaults(&c);
        c.button.enabled = true;
        c.button.line = 23;
        return c.button;
}

/* A press reported at its due moment or after, never before. How much after is
 * the loop's lateness, which a busy machine makes anything (it is not asserted:
 * what comes in between is, through the order of steps and reports). */
static void assert_press(const struct run *run, unsigned i, enum rc_press press, double due_ms) {
        assert_true(i < run->n_got);
        if (run->got[i].press != press)
                fail_msg("press %u: %s, expected %s", i, rc_press_name(run->got[i].press),
                         rc_press_name(press));
        if (!(run->got[i].t_ms >= due_ms))
                fail_msg("press %u (%s) at %.1f ms, before it was due at %.0f ms", i,
                         rc_press_name(press), run->got[i].t_ms, due_ms);
}

/* ---- Tests ------------------------------------------------------------------------- */

/* Pressed at 0, released at 120: a short press once double_ms (400) has passed
 * after the release without a second press: at 520 ms. */
static void test_short(void **state) {
        static const struct step steps[] = {{0, RISE, 0}, {120, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 120 + 400 + 300);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_SHORT, 120 + 400);
        assert_int_equal(run.stats.edges, 2);
        assert_int_equal(run.stats.bounces, 0);
        assert_int_equal(run.stats.shorts, 1);
        assert_int_equal(run.stats.longs + run.stats.doubles, 0);
}

/* Held from 0 to 2000: the long press is reported when the hold reaches long_ms
 * (1500), while still held; the release reports nothing more. */
static void test_long_while_held(void **state) {
        static const struct step steps[] = {{0, RISE, 0}, {2000, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 2000 + 400 + 300);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_LONG, 1500);
        assert_true(run.got[0].steps < 2); /* before the release (step 2) was fed */
        assert_int_equal(run.stats.longs, 1);
        assert_int_equal(run.stats.shorts + run.stats.doubles, 0);
}

/* Two short presses, the second beginning 150 ms after the first ended (within
 * double_ms): a double press, reported on the second release (350 ms); no short
 * follows. */
static void test_double(void **state) {
        static const struct step steps[] = {
                {0, RISE, 0}, {100, FALL, 0}, {250, RISE, 0}, {350, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 350 + 400 + 300);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_DOUBLE, 350);
        assert_int_equal(run.stats.doubles, 1);
        assert_int_equal(run.stats.shorts + run.stats.longs, 0);
}

/* A second press 500 ms after the first ended (after double_ms): two shorts, each
 * 400 ms after its release. */
static void test_two_shorts(void **state) {
        static const struct step steps[] = {
                {0, RISE, 0}, {100, FALL, 0}, {600, RISE, 0}, {700, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 700 + 400 + 300);
        assert_int_equal(run.n_got, 2);
        assert_press(&run, 0, RC_PRESS_SHORT, 100 + 400);
        assert_press(&run, 1, RC_PRESS_SHORT, 700 + 400);
        assert_int_equal(run.stats.shorts, 2);
}

/* Contacts bounce: four more edges within 12 ms of the press, two within 6 ms of
 * the release — all within debounce_ms (30) of the accepted edge, so ignored.
 * One short press (released at 200: reported at 600). */
static void test_bounce(void **state) {
        static const struct step steps[] = {{0, RISE, 0},   {3, FALL, 0},  {6, RISE, 0},
                                            {9, FALL, 0},   {12, RISE, 0}, {200, FALL, 0},
                                            {203, RISE, 0}, {206, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 200 + 400 + 300);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_SHORT, 200 + 400);
        assert_int_equal(run.stats.edges, 8);
        assert_int_equal(run.stats.bounces, 6);
        assert_int_equal(run.stats.shorts, 1);
}

/* A tap, then a second press within double_ms held on: "stop" wins — a long press
 * when the second hold reaches long_ms (200 + 1500), and nothing else. */
static void test_tap_then_hold(void **state) {
        static const struct step steps[] = {
                {0, RISE, 0}, {100, FALL, 0}, {200, RISE, 0}, {2000, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 2000 + 400 + 300);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_LONG, 200 + 1500);
        assert_int_equal(run.stats.longs, 1);
        assert_int_equal(run.stats.shorts + run.stats.doubles, 0);
}

/* The loop is busy from 1300 to 1600 ms; the button was released at 1400 (held
 * 1400 ms < long_ms). When the loop runs again the long timer (due at 1500) comes
 * before the fd is polled: the release waiting in the fd must be read first. A
 * short press, 400 ms after the release; no long press. */
static void test_release_waiting_when_long_timer_fires(void **state) {
        static const struct step steps[] = {{0, RISE, 0}, {1300, STALL, 1600}, {1400, FALL, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        run_script(&run, &c, steps, N(steps), 1400 + 400 + 400);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_SHORT, 1400 + 400);
        assert_int_equal(run.stats.longs, 0);
}

static void never_pressed(enum rc_press press, void *userdata) {
        (void)userdata;
        fail_msg("unexpected %s press", rc_press_name(press));
}

/* The press callback closes the button (a long press ends the session, the hub
 * stops): closed once, nothing read after. */
static void test_close_from_callback(void **state) {
        static const struct step steps[] = {{0, RISE, 0}, {1700, FALL, 0}, {1750, RISE, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        close_on_press = true;
        run_script(&run, &c, steps, N(steps), 2000);
        assert_int_equal(run.n_got, 1);
        assert_press(&run, 0, RC_PRESS_LONG, 1500);
        assert_int_equal(run.stats.longs, 1);
        assert_int_equal(run.stats.edges, 1);
}

/* The events cannot be read (EIO: the chip went away): reported once, and the
 * fd is no longer polled — no loop spinning on it; no press. */
static void test_read_error(void **state) {
        static const struct step steps[] = {{0, RISE, 0}};
        struct rc_button_config c = defaults();
        struct run run;

        (void)state;
        fake.read_errno = EIO;
        run_script(&run, &c, steps, N(steps), 300);
        assert_int_equal(fake.reads, 1);
        assert_int_equal(run.n_got, 0);
        assert_int_equal(logged(RC_LOG_ERR, "cannot read"), 1);
}

/* The request: both edges of the configured line, consumer "rollcoach", with
 * active_low as configured (and the pull that goes with it). */
static void open_and_close(const struct rc_button_config *c) {
        struct rc_gpio_button *b = NULL;
        uv_loop_t loop;

        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(rc_button_new(&loop, c, never_pressed, NULL, &b), 0);
        assert_non_null(b);
        rc_button_close(b, NULL, NULL);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(uv_loop_close(&loop), 0);
        rc_button_free(b);
        assert_int_equal(fake.releases, 1);
        assert_int_equal(fake_chip.closes, 1);
}

static void test_request_active_low(void **state) {
        struct rc_button_config c = defaults();

        (void)state;
        snprintf(c.gpio_chip, sizeof(c.gpio_chip), "gpiochip4");
        c.line = 17;
        c.active_low = true;
        open_and_close(&c);
        assert_string_equal(fake_chip.chip_name, "gpiochip4");
        assert_int_equal(fake.offset, 17);
        assert_string_equal(fake.consumer, "rollcoach");
        assert_int_equal(fake.requests, 1);
        assert_int_equal(fake.flags[0],
                         GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW | GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP);
}

static void test_request_active_high(void **state) {
        struct rc_button_config c = defaults();

        (void)state;
        c.active_low = false;
        open_and_close(&c);
        assert_int_equal(fake.requests, 1);
        assert_int_equal(fake.flags[0], GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN);
        assert_false(fake.flags[0] & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
}

/* A kernel that cannot set a line's bias (before Linux 5.5: EINVAL): warned, and
 * the line is requested again without it — still active-low. */
static void test_request_without_bias(void **state) {
        struct rc_button_config c = defaults();

        (void)state;
        fake.refuse_bias_errno = EINVAL;
        open_and_close(&c);
        assert_int_equal(fake.requests, 2);
        assert_int_equal(fake.flags[1], GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
        assert_int_equal(logged(RC_LOG_WARN, "bias"), 1);
}

/* A chip that cannot be opened — the real libgpiod, on a name no /dev entry has. */
static void test_chip_missing(void **state) {
        struct rc_button_config c = defaults();
        struct rc_gpio_button *b = NULL;
        uv_loop_t loop;

        (void)state;
        fake_chip.real_open = true;
        snprintf(c.gpio_chip, sizeof(c.gpio_chip), "rc-test-no-such-gpiochip");
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(rc_button_new(&loop, &c, never_pressed, NULL, &b), -ENOENT);
        assert_null(b);
        assert_int_equal(logged(RC_LOG_ERR, "rc-test-no-such-gpiochip"), 1);
        assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0); /* nothing left on the loop */
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* A line another program holds (EBUSY): reported, the chip closed again. */
static void test_line_busy(void **state) {
        struct rc_button_config c = defaults();
        struct rc_gpio_button *b = NULL;
        uv_loop_t loop;

        (void)state;
        fake.refuse_errno = EBUSY;
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(rc_button_new(&loop, &c, never_pressed, NULL, &b), -EBUSY);
        assert_null(b);
        assert_int_equal(logged(RC_LOG_ERR, "line 23"), 1);
        assert_int_equal(fake_chip.opens, 1);
        assert_int_equal(fake_chip.closes, 1);
        assert_int_equal(fake.releases, 0); /* never requested */
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* No line configured (the default -1). */
static void test_no_line(void **state) {
        struct rc_config c;
        struct rc_gpio_button *b = NULL;
        uv_loop_t loop;

        (void)state;
        rc_config_defaults(&c);
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(rc_button_new(&loop, &c.button, never_pressed, NULL, &b), -EINVAL);
        assert_null(b);
        assert_int_equal(fake_chip.opens, 0);
        assert_int_equal(logged(RC_LOG_ERR, "line"), 1);
        assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_short, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_while_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_double, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_shorts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bounce, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tap_then_hold, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_waiting_when_long_timer_fires, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_request_active_low, setup, teardown),
                cmocka_unit_test_setup_teardown(test_request_active_high, setup, teardown),
                cmocka_unit_test_setup_teardown(test_request_without_bias, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chip_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_line_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_line, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
