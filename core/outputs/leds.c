/* rollcoach — the LED patterns on real lights (leds.h).
 *
 * Each configured LED (a sysfs LED name or a GPIO line; one LED may serve several
 * patterns) has a mode: off, on, or blinking slow (hold) or fast (warn). Showing a
 * pattern gives every LED a target mode — the pattern's LED its mode, all others
 * off — and changes only the LEDs whose mode differs: first those going off, then
 * the pattern's own. An LED already in its mode is not touched, so showing the
 * pattern again does not restart a blink.
 *
 * sysfs (the kernel's Documentation/leds/leds-class.rst):
 *   off:   brightness 0 (which also removes any trigger, the timer's included);
 *   on:    trigger "none", then brightness max_brightness;
 *   blink: trigger "timer" (which creates delay_on/delay_off), delay_on, delay_off
 *          in ms, then brightness max_brightness: the timer trigger blinks between
 *          off and the current brightness.
 * The trigger last written is remembered, and "timer" is not written again to an
 * LED that has it (hold to warn on one LED): activating the trigger creates
 * delay_on/delay_off anew, owned by root, and a udev rule can only open them to
 * the hub once the kernel's change uevent has been handled. So a failed change is
 * also tried again, RETRIES times RETRY_MS apart, from the loop (docs/headless.md).
 * gpiod: one output line per LED, 1 on and 0 off; the blinking LED is toggled by
 * one uv_timer every half period.
 *
 * Failures: an LED that cannot be found at start (sysfs: no readable
 * max_brightness; gpiod: a line that cannot be had) is "missing": reported once,
 * never written, and each change of its mode counts one write error (the first
 * being the initial off). A present LED whose change fails (any write refused)
 * is reported the first time, counted every time, and tried again (sysfs: soon,
 * as above; both: at the next pattern shown). */
#include "outputs/leds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gpiod.h>

#include "util/log.h"

#define CONSUMER "rollcoach"
#define HOLD_HALF_MS 500 /* hold: 500 ms on, 500 ms off */
#define WARN_HALF_MS 150 /* warn: 150 ms on, 150 ms off */
#define RETRIES 3        /* sysfs: a failed change tried again this many times, */
#define RETRY_MS 100     /* this far apart */

enum mode { MODE_UNKNOWN = -1, MODE_OFF = 0, MODE_ON, MODE_SLOW, MODE_FAST };
enum trigger { TRIGGER_UNKNOWN, TRIGGER_NONE, TRIGGER_TIMER }; /* sysfs */

struct led {
        char name[RC_CONFIG_NAME_MAX + 1]; /* sysfs; for gpiod "line N" */
        unsigned offset;                   /* gpiod: the line's offset on the chip */
        struct gpiod_line *line;           /* gpiod: requested as an output */
        unsigned max_brightness;           /* sysfs */
        enum trigger trigger;              /* sysfs: the trigger it has */
        bool missing, reported;
        enum mode applied; /* what the LED shows; MODE_UNKNOWN after a failed change */
        enum mode wanted;  /* the last mode asked for */
        int value;         /* gpiod: the line's level now */
};

struct rc_leds {
        uv_loop_t *loop;
        int backend; /* enum rc_leds_backend */
        char root[RC_CONFIG_PATH_MAX];
        struct gpiod_chip *chip;
        struct led led[RC_LED_SLOTS];
        unsigned n_leds;
        int slot_led[RC_LED_SLOTS]; /* enum rc_led_slot -> index in led[], -1: none */
        uv_timer_t timer;           /* gpiod: toggles led[blinking]; sysfs: retries */
        int blinking;               /* -1: none */
        unsigned retries;           /* sysfs: left for the pattern shown */
        bool closing;
        void (*closed)(void *userdata);
        void *closed_userdata;
        struct rc_leds_stats stats;
};

static enum mode pattern_mode(enum rc_led_pattern p) {
        switch (p) {
        case RC_LED_OK:
        case RC_LED_STOP:
                return MODE_ON;
        case RC_LED_HOLD:
                return MODE_SLOW;
        case RC_LED_WARN:
                return MODE_FAST;
        case RC_LED_OFF:
                break;
        }
        return MODE_OFF;
}

static int pattern_slot(enum rc_led_pattern p) {
        switch (p) {
        case RC_LED_OK:
                return RC_LED_SLOT_OK;
        case RC_LED_HOLD:
                return RC_LED_SLOT_HOLD;
        case RC_LED_WARN:
                return RC_LED_SLOT_WARN;
        case RC_LED_STOP:
                return RC_LED_SLOT_STOP;
        case RC_LED_OFF:
                break;
        }
        return -1;
}

static unsigned half_period_ms(enum mode m) {
        return m == MODE_FAST ? WARN_HALF_MS : HOLD_HALF_MS;
}

/* ---- sysfs ------------------------------------------------------------------ */

static int attr_path(const struct rc_leds *l, const struct led *led, const char *attr, char *buf,
                     size_t len) {
        int n = snprintf(buf, len, "%s/%s/%s", l->root, led->name, attr);

        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* One small write of `value` to ROOT/NAME/ATTR: open, write, close. */
static int write_attr(const struct rc_leds *l, const struct led *led, const char *attr,
                      const char *value) {
        char path[RC_CONFIG_PATH_MAX + RC_CONFIG_NAME_MAX + 32];
        size_t len = strlen(value);
        ssize_t n;
        int fd, r;

        r = attr_path(l, led, attr, path, sizeof(path));
        if (r < 0)
                return r;
        /* O_TRUNC: a no-op on sysfs, and what a shell's ">" does */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
        close(fd);
        return r;
}

static int write_uint(const struct rc_leds *l, const struct led *led, const char *attr,
                      unsigned v) {
        char buf[16];

        snprintf(buf, sizeof(buf), "%u", v);
        return write_attr(l, led, attr, buf);
}

/* ROOT/NAME/max_brightness: "%u\n", at least 1. */
static int read_max_brightness(const struct rc_leds *l, const struct led *led, unsigned *ret) {
        char path[RC_CONFIG_PATH_MAX + RC_CONFIG_NAME_MAX + 32], buf[32], *end;
        unsigned long v;
        ssize_t n;
        int fd, r;

        r = attr_path(l, led, "max_brightness", path, sizeof(path));
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, sizeof(buf) - 1);
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        buf[n] = '\0';
        errno = 0;
        v = strtoul(buf, &end, 10);
        if (end == buf || errno || (*end && strcmp(end, "\n")) || v < 1 || v > UINT_MAX ||
            buf[0] == '-')
                return -EBADMSG;
        *ret = (unsigned)v;
        return 0;
}

static int set_trigger(const struct rc_leds *l, struct led *led, enum trigger t) {
        int r;

        if (led->trigger == t)
                return 0;
        r = write_attr(l, led, "trigger", t == TRIGGER_TIMER ? "timer" : "none");
        led->trigger = r < 0 ? TRIGGER_UNKNOWN : t;
        return r;
}

static int sysfs_apply(struct rc_leds *l, struct led *led, enum mode m) {
        unsigned half;
        int r;

        switch (m) {
        case MODE_OFF:
                r = write_attr(l, led, "brightness", "0");
                if (r >= 0)
                        led->trigger = TRIGGER_NONE; /* brightness 0 removed it */
                return r;
        case MODE_ON:
                r = set_trigger(l, led, TRIGGER_NONE);
                if (r < 0)
                        return r;
                return write_uint(l, led, "brightness", led->max_brightness);
        case MODE_SLOW:
        case MODE_FAST:
                half = half_period_ms(m);
                r = set_trigger(l, led, TRIGGER_TIMER);
                if (r >= 0)
                        r = write_uint(l, led, "delay_on", half);
                if (r >= 0)
                        r = write_uint(l, led, "delay_off", half);
                if (r >= 0)
                        r = write_uint(l, led, "brightness", led->max_brightness);
                return r;
        case MODE_UNKNOWN:
                break;
        }
        return -EINVAL;
}

/* ---- gpiod ------------------------------------------------------------------ */

static int gpiod_set(struct led *led, int value) {
        errno = 0;
        if (gpiod_line_set_value(led->line, value) < 0)
                return errno ? -errno : -EIO;
        led->value = value;
        return 0;
}

static void failed(struct rc_leds *l, struct led *led, const char *what, int r);

static void on_blink(uv_timer_t *t) {
        struct rc_leds *l = t->data;
        struct led *led;
        int r;

        if (l->blinking < 0)
                return;
        led = &l->led[l->blinking];
        r = gpiod_set(led, !led->value);
        if (r < 0)
                failed(l, led, "cannot blink", r);
}

static int gpiod_apply(struct rc_leds *l, struct led *led, enum mode m) {
        int r;

        if (l->blinking >= 0 && &l->led[l->blinking] == led) {
                uv_timer_stop(&l->timer);
                l->blinking = -1;
        }
        r = gpiod_set(led, m != MODE_OFF);
        if (r < 0 || m == MODE_OFF || m == MODE_ON)
                return r;
        l->blinking = (int)(led - l->led);
        uv_update_time(l->loop);
        uv_timer_start(&l->timer, on_blink, half_period_ms(m), half_period_ms(m));
        return 0;
}

/* ---- patterns ---------------------------------------------------------------- */

static void failed(struct rc_leds *l, struct led *led, const char *what, int r) {
        l->stats.write_errors++;
        if (led->reported) {
                rc_log_debug("leds: %s %s: %s", what, led->name, strerror(-r));
                return;
        }
        led->reported = true;
        rc_log_error("leds: %s %s: %s (reported once; counted in write_errors)", what, led->name,
                     strerror(-r));
}

static void apply(struct rc_leds *l, struct led *led, enum mode m) {
        int r = 0;

        if (led->missing) {
                if (led->wanted != m)
                        l->stats.write_errors++;
                led->wanted = m;
                return;
        }
        led->wanted = m;
        if (led->applied == m)
                return;
        if (l->backend == RC_LEDS_SYSFS)
                r = sysfs_apply(l, led, m);
        else if (l->backend == RC_LEDS_GPIOD)
                r = gpiod_apply(l, led, m);
        if (r < 0) {
                led->applied = MODE_UNKNOWN;
                failed(l, led, "cannot change", r);
                return;
        }
        led->applied = m;
}

static void show(struct rc_leds *l, enum rc_led_pattern p) {
        enum mode target[RC_LED_SLOTS] = {MODE_OFF, MODE_OFF, MODE_OFF, MODE_OFF};
        int slot = pattern_slot(p);

        if (slot >= 0 && l->slot_led[slot] >= 0)
                target[l->slot_led[slot]] = pattern_mode(p);
        for (unsigned i = 0; i < l->n_leds; i++) /* the others off first */
                if (target[i] == MODE_OFF)
                        apply(l, &l->led[i], MODE_OFF);
        for (unsigned i = 0; i < l->n_leds; i++)
                if (target[i] != MODE_OFF)
                        apply(l, &l->led[i], target[i]);
}

static void on_retry(uv_timer_t *t);

/* sysfs: if a present LED is not in its mode, try again soon (RETRIES a pattern). */
static void retry_later(struct rc_leds *l) {
        if (l->backend != RC_LEDS_SYSFS || l->closing)
                return;
        for (unsigned i = 0; i < l->n_leds; i++)
                if (!l->led[i].missing && l->led[i].applied != l->led[i].wanted) {
                        if (l->retries > 0) {
                                l->retries--;
                                uv_update_time(l->loop);
                                uv_timer_start(&l->timer, on_retry, RETRY_MS, 0);
                        }
                        return;
                }
        uv_timer_stop(&l->timer);
}

static void on_retry(uv_timer_t *t) {
        struct rc_leds *l = t->data;

        show(l, l->stats.current);
        retry_later(l);
}

/* ---- set-up ------------------------------------------------------------------ */

/* The next LED, serving `slot`; its state not known yet. */
static struct led *add_led(struct rc_leds *l, int slot) {
        struct led *led = &l->led[l->n_leds];

        l->slot_led[slot] = (int)l->n_leds++;
        led->applied = led->wanted = MODE_UNKNOWN;
        return led;
}

static void add_sysfs(struct rc_leds *l, int slot, const char *name) {
        struct led *led;
        int r;

        for (unsigned i = 0; i < l->n_leds; i++)
                if (strcmp(l->led[i].name, name) == 0) {
                        l->slot_led[slot] = (int)i;
                        return;
                }
        led = add_led(l, slot);
        snprintf(led->name, sizeof(led->name), "%s", name);
        led->trigger = TRIGGER_UNKNOWN;
        if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
                r = -EINVAL; /* an LED's name, not a path */
        else
                r = read_max_brightness(l, led, &led->max_brightness);
        if (r < 0) {
                led->missing = led->reported = true;
                rc_log_error("leds: no LED %s/%s (its max_brightness: %s); its patterns show "
                             "nothing",
                             l->root, name, strerror(-r));
        }
}

static void add_gpiod(struct rc_leds *l, int slot, double line) {
        struct led *led;
        unsigned offset;

        if (!(line >= 0 && line <= UINT_MAX && line == (unsigned)line))
                return; /* -1: none */
        offset = (unsigned)line;
        for (unsigned i = 0; i < l->n_leds; i++)
                if (l->led[i].offset == offset) {
                        l->slot_led[slot] = (int)i;
                        return;
                }
        led = add_led(l, slot);
        snprintf(led->name, sizeof(led->name), "line %u", offset);
        led->offset = offset;
        errno = 0;
        led->line = gpiod_chip_get_line(l->chip, offset);
        if (led->line && gpiod_line_request_output(led->line, CONSUMER, 0) == 0) {
                led->applied = MODE_OFF; /* requested low */
                return;
        }
        led->line = NULL;
        led->missing = led->reported = true;
        rc_log_error("leds: cannot have GPIO %s as an output: %s; its patterns show nothing",
                     led->name, strerror(errno ? errno : EIO));
}

int rc_leds_new(uv_loop_t *loop, const struct rc_leds_config *config, struct rc_leds **ret) {
        struct rc_leds *l;
        int r;

        if (!loop || !config || !ret)
                return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->loop = loop;
        l->backend = config->backend;
        l->blinking = -1;
        l->stats.current = RC_LED_OFF;
        for (int s = 0; s < RC_LED_SLOTS; s++)
                l->slot_led[s] = -1;

        switch (config->backend) {
        case RC_LEDS_OFF:
                break;
        case RC_LEDS_SYSFS:
                snprintf(l->root, sizeof(l->root), "%s", config->sysfs_root);
                for (int s = 0; s < RC_LED_SLOTS; s++)
                        if (config->name[s][0])
                                add_sysfs(l, s, config->name[s]);
                break;
        case RC_LEDS_GPIOD:
                errno = 0;
                l->chip = gpiod_chip_open_by_name(config->gpio_chip);
                if (!l->chip) {
                        r = errno ? -errno : -ENODEV;
                        rc_log_error("leds: cannot open GPIO chip %s: %s", config->gpio_chip,
                                     strerror(-r));
                        free(l);
                        return r;
                }
                for (int s = 0; s < RC_LED_SLOTS; s++)
                        add_gpiod(l, s, config->line[s]);
                break;
        default:
                rc_log_error("leds: unknown backend %d", config->backend);
                free(l);
                return -EINVAL;
        }
        uv_timer_init(loop, &l->timer);
        l->timer.data = l;
        l->retries = RETRIES;
        show(l, RC_LED_OFF);
        retry_later(l);
        *ret = l;
        return 0;
}

void rc_leds_set(struct rc_leds *l, enum rc_led_pattern pattern) {
        if (l->closing)
                return;
        if ((unsigned)pattern > RC_LED_STOP) {
                rc_log_warning("leds: no pattern %d", (int)pattern);
                return;
        }
        if (pattern != l->stats.current) {
                l->stats.changes++;
                rc_log_debug("leds: %s", rc_led_name(pattern));
        }
        l->stats.current = pattern;
        l->retries = RETRIES;
        show(l, pattern);
        retry_later(l);
}

void rc_leds_action(const struct rc_action *a, void *userdata) {
        if (a->kind == RC_ACTION_LED)
                rc_leds_set(userdata, a->led.pattern);
}

static void on_close(uv_handle_t *h) {
        struct rc_leds *l = h->data;

        if (l->closed)
                l->closed(l->closed_userdata);
}

void rc_leds_close(struct rc_leds *l, void (*closed)(void *userdata), void *userdata) {
        if (l->closing)
                return;
        show(l, RC_LED_OFF);
        l->stats.current = RC_LED_OFF;
        l->closing = true;
        l->closed = closed;
        l->closed_userdata = userdata;
        uv_timer_stop(&l->timer);
        l->blinking = -1;
        for (unsigned i = 0; i < l->n_leds; i++)
                if (l->led[i].line) {
                        gpiod_line_release(l->led[i].line);
                        l->led[i].line = NULL;
                }
        if (l->chip) {
                gpiod_chip_close(l->chip);
                l->chip = NULL;
        }
        uv_close((uv_handle_t *)&l->timer, on_close);
}

void rc_leds_free(struct rc_leds *l) {
        free(l);
}

void rc_leds_stats(const struct rc_leds *l, struct rc_leds_stats *ret) {
        *ret = l->stats;
}
