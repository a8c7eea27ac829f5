/* rollcoach tests — what the GPIO tests (test_button, test_leds) share: the log
 * captured, the monotonic clock, and the chip of their fake libgpiod.
 *
 * Their libgpiod calls are wrapped (-Wl,--wrap=, CMakeLists.txt); the chip calls
 * are here, the line calls in each test. The fake chip is never dereferenced;
 * with fake_chip.real_open set, gpiod_chip_open_by_name goes to the real libgpiod
 * (a chip that does not exist). Include once per test program, after rc_test.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gpiod.h>

#include "util/log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Captured log messages ------------------------------------------------------ */

static struct {
        unsigned n;
        enum rc_log_level level[64];
        char text[64][512];
} logs;

static void on_log(enum rc_log_level level, const char *msg, void *userdata) {
        (void)userdata;
        if (logs.n < N(logs.text)) {
                logs.level[logs.n] = level;
                snprintf(logs.text[logs.n], sizeof(logs.text[0]), "%s", msg);
        }
        logs.n++;
}

/* Messages at `level` that contain `needle`. */
static unsigned logged(enum rc_log_level level, const char *needle) {
        unsigned n = 0;

        for (unsigned i = 0; i < logs.n && i < N(logs.text); i++)
                n += logs.level[i] == level && strstr(logs.text[i], needle) != NULL;
        return n;
}

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- The fake chip ---------------------------------------------------------------- */

struct gpiod_chip *__real_gpiod_chip_open_by_name(const char *name);
struct gpiod_chip *__wrap_gpiod_chip_open_by_name(const char *name);
void __wrap_gpiod_chip_close(struct gpiod_chip *chip);

static char the_chip; /* what the fake hands out */

static struct {
        bool real_open; /* gpiod_chip_open_by_name goes to libgpiod */
        char chip_name[64];
        unsigned opens, closes;
} fake_chip;

struct gpiod_chip *__wrap_gpiod_chip_open_by_name(const char *name) {
        if (fake_chip.real_open)
                return __real_gpiod_chip_open_by_name(name);
        snprintf(fake_chip.chip_name, sizeof(fake_chip.chip_name), "%s", name);
        fake_chip.opens++;
        return (struct gpiod_chip *)&the_chip;
}

void __wrap_gpiod_chip_close(struct gpiod_chip *chip) {
        assert_ptr_equal(chip, &the_chip);
        fake_chip.closes++;
}

/* Before each test: nothing logged (the log captured from now on), no chip opened. */
static void rc_test_gpiod_reset(void) {
        memset(&logs, 0, sizeof(logs));
        memset(&fake_chip, 0, sizeof(fake_chip));
        rc_log_set_sink(on_log, NULL);
}
