/* A stand-in for the GPIO lines of a Raspberry Pi, for tests of the whole program:
 * a shared library that `rollcoach run` loads with LD_PRELOAD, in place of the
 * libgpiod 1.6 calls the hub makes (core/outputs/button.c, leds.c). No GPIO chip
 * or simulator (gpio-sim, gpio-mockup) can run where the tests run.
 *
 * The chips are directories: $RC_FAKE_GPIO/CHIP (gpiod_chip_open_by_name fails
 * with ENOENT, as libgpiod does, when there is none). For line N of CHIP:
 * - an output (gpiod_line_request_output): its value is the file CHIP/N.value,
 *   "0" or "1", rewritten at each gpiod_line_set_value;
 * - an input with edge events (gpiod_line_request_both_edges_events_flags): the
 *   test makes CHIP/N.events a FIFO first and writes one byte an edge — 'P' the
 *   button pressed, 'U' released. As libgpiod does with ACTIVE_LOW, edges are
 *   logical: a press is a rising edge whatever the wiring. Each edge is stamped
 *   with CLOCK_MONOTONIC when read (the hub reads it at once), as the kernel
 *   stamps it when it happens. Any other byte is reported as an edge of an
 *   unknown type (type 0), which the hub must ignore.
 * - each request is appended to CHIP/requests: "N output CONSUMER DEFAULT" or
 *   "N events CONSUMER FLAGS" (flags in decimal, GPIOD_LINE_REQUEST_FLAG_*), so
 *   the test can check what the hub asked for (the pull-up, active low).
 * Only the calls the hub makes are here; the rest of libgpiod is the real one. */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINES 64 /* a Raspberry Pi's gpiochip0 has 54 */

struct gpiod_line {
        struct gpiod_chip *chip;
        unsigned offset;
        int events_fd; /* the FIFO, for an input with events; else -1 */
        int output;    /* requested as an output */
};

/* As in libgpiod, the chip owns its lines: gpiod_chip_get_line returns the same
 * line each time, a line requested twice is EBUSY, and closing the chip releases
 * its lines. */
struct gpiod_chip {
        char dir[PATH_MAX];
        struct gpiod_line line[LINES];
};

static int line_path(const struct gpiod_line *line, const char *suffix, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%u.%s", line->chip->dir, line->offset, suffix);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void log_request(const struct gpiod_line *line, const char *what, const char *consumer,
                        int arg) {
        char path[PATH_MAX];
        FILE *f;

        if (snprintf(path, sizeof(path), "%s/requests", line->chip->dir) >= (int)sizeof(path))
                return;
        f = fopen(path, "a");
        if (!f)
                return;
        fprintf(f, "%u %s %s %d\n", line->offset, what, consumer ? consumer : "-", arg);
        fclose(f);
}

struct gpiod_chip *gpiod_chip_open_by_name(const char *name) {
        const char *root = getenv("RC_FAKE_GPIO");
        struct gpiod_chip *chip;
        struct stat st;

        if (!root || !name || strchr(name, '/')) {
                errno = ENOENT;
                return NULL;
        }
        chip = calloc(1, sizeof(*chip));
        if (!chip) {
                errno = ENOMEM;
                return NULL;
        }
        if (snprintf(chip->dir, sizeof(chip->dir), "%s/%s", root, name) >= (int)sizeof(chip->dir) ||
            stat(chip->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                free(chip);
                errno = ENOENT;
                return NULL;
        }
        for (unsigned i = 0; i < LINES; i++) {
                chip->line[i].chip = chip;
                chip->line[i].offset = i;
                chip->line[i].events_fd = -1;
        }
        return chip;
}

struct gpiod_line *gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset) {
        if (offset >= LINES) {
                errno = EINVAL;
                return NULL;
        }
        return &chip->line[offset];
}

static int busy(const struct gpiod_line *line) {
        if (line->output || line->events_fd >= 0) {
                errno = EBUSY;
                return -1;
        }
        return 0;
}

int gpiod_line_set_value(struct gpiod_line *line, int value) {
        char path[PATH_MAX], text[2] = {value ? '1' : '0', '\n'};
        int fd, r;

        if (!line->output) {
                errno = EPERM;
                return -1;
        }
        if ((r = line_path(line, "value", path, sizeof(path))) < 0) {
                errno = -r;
                return -1;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        r = write(fd, text, sizeof(text)) == (ssize_t)sizeof(text) ? 0 : -1;
        close(fd);
        return r;
}

int gpiod_line_request_output(struct gpiod_line *line, const char *consumer, int default_val) {
        if (busy(line) < 0)
                return -1;
        log_request(line, "output", consumer, default_val);
        line->output = 1;
        return gpiod_line_set_value(line, default_val);
}

int gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer,
                                               int flags) {
        char path[PATH_MAX];
        int r;

        if (busy(line) < 0)
                return -1;
        log_request(line, "events", consumer, flags);
        if ((r = line_path(line, "events", path, sizeof(path))) < 0) {
                errno = -r;
                return -1;
        }
        /* O_RDWR: a FIFO opened so never reads end-of-file between the test's writes */
        line->events_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        return line->events_fd < 0 ? -1 : 0;
}

int gpiod_line_event_get_fd(struct gpiod_line *line) {
        if (line->events_fd < 0)
                errno = EPERM;
        return line->events_fd;
}

int gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event) {
        char c;
        ssize_t n = read(line->events_fd, &c, 1);

        if (n != 1) {
                if (n == 0)
                        errno = EIO;
                return -1;
        }
        memset(event, 0, sizeof(*event));
        clock_gettime(CLOCK_MONOTONIC, &event->ts);
        event->event_type = c == 'P'   ? GPIOD_LINE_EVENT_RISING_EDGE
                            : c == 'U' ? GPIOD_LINE_EVENT_FALLING_EDGE
                                       : 0;
        return 0;
}

void gpiod_line_release(struct gpiod_line *line) {
        if (line->events_fd >= 0)
                close(line->events_fd);
        line->events_fd = -1;
        line->output = 0;
}

void gpiod_chip_close(struct gpiod_chip *chip) {
        for (unsigned i = 0; i < LINES; i++)
                gpiod_line_release(&chip->line[i]);
        free(chip);
}
