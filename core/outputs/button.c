/* rollcoach — a push button on a GPIO line (button.h).
 *
 * The line is requested for both edges (libgpiod 1.6). With active_low the kernel
 * reports logical edges, so a rising edge is always a press and a falling edge a
 * release. The line is also asked for a pull-up (active_low: a button to ground)
 * or a pull-down, so that a bare button works on a Pi; when the kernel cannot set
 * a line's bias, that is warned about and the line requested without one (an
 * external resistor is then needed).
 *
 * Time: the edges' kernel timestamps measure everything between edges
 * (debounce, how long a press was held, the gap before a second press), so a
 * loop that reads late still classifies what the hand did. The two deadlines
 * that come with no edge — the hold reaching long_ms, the double window closing
 * — are one uv_timer, armed from the edge that starts them, less the time that
 * edge waited to be read (since Linux 5.7 the stamps are CLOCK_MONOTONIC; a stamp
 * from another clock, as older kernels gave, is taken as just read). When the
 * timer fires, edges already waiting in the fd are read first, so a release that
 * came before the deadline is never taken for a long press.
 *
 * States: idle -> down (first press) -> up (released short, the double window
 * open) -> down2 (second press) -> idle; down or down2 held to long_ms -> long
 * (reported; its release reports nothing). A second press held to long_ms is a
 * long press, and the short press before it is not reported: "stop" wins. */
#include "outputs/button.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gpiod.h>

#include "util/log.h"

#define CONSUMER "rollcoach"
#define READS_PER_WAKEUP 64            /* edges read per wakeup, then the loop goes on */
#define STAMP_AGE_MAX_NS 10000000000LL /* 10 s: an older stamp is of another clock */
#define NS_PER_MS 1000000LL

enum state { IDLE, DOWN, UP, DOWN2, LONG };

struct rc_gpio_button {
        uv_loop_t *loop;
        rc_button_fn fn;
        void *userdata;
        struct gpiod_chip *chip;
        struct gpiod_line *line;
        int fd; /* the line's event fd (libgpiod's) */
        uv_poll_t poll;
        uv_timer_t timer; /* down, down2: the hold reaching long_ms; up: the double window */
        int64_t debounce_ns, long_ns, double_ns;

        bool pressed;     /* the debounced level */
        bool have_edge;   /* an edge has been accepted */
        int64_t edge_ns;  /* the last accepted edge */
        enum state state; /* the press being classified */
        int64_t down_ns;  /* down, down2: when the press began */
        int64_t up_ns;    /* up: when the first press ended */
        int64_t due_ns;   /* the timer's deadline, CLOCK_MONOTONIC */
        bool lost;        /* the events cannot be read: reported, not polled */

        unsigned open_handles;
        bool closing, free_on_close;
        void (*closed)(void *userdata);
        void *closed_userdata;
        struct rc_button_stats stats;
};

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(struct rc_gpio_button *b, enum rc_press press) {
        if (press == RC_PRESS_SHORT)
                b->stats.shorts++;
        else if (press == RC_PRESS_LONG)
                b->stats.longs++;
        else
                b->stats.doubles++;
        rc_log_debug("button: %s press", rc_press_name(press));
        b->fn(press, b->userdata);
}

static void on_timer(uv_timer_t *t);

/* Start the timer for what is left until `due_ns` (CLOCK_MONOTONIC): whole ms
 * rounded up, plus one for the loop's clock, which may lag (coarse, and cached);
 * on_timer() checks the clock and waits out the rest if it still came early. */
static void start_timer(struct rc_gpio_button *b) {
        int64_t left = b->due_ns - now_ns();

        if (left < 0)
                left = 0;
        uv_update_time(b->loop);
        uv_timer_start(&b->timer, on_timer, (uint64_t)((left + NS_PER_MS - 1) / NS_PER_MS) + 1, 0);
}

/* Arm the timer for `delay_ns` after the edge stamped `t_ns`. */
static void arm(struct rc_gpio_button *b, int64_t t_ns, int64_t delay_ns) {
        int64_t now = now_ns(), age = now - t_ns;

        if (age < 0 || age > STAMP_AGE_MAX_NS)
                age = 0;
        b->due_ns = now - age + delay_ns;
        start_timer(b);
}

static void on_press(struct rc_gpio_button *b, int64_t t) {
        if (b->state == UP) {
                uv_timer_stop(&b->timer);
                if (t - b->up_ns <= b->double_ns) {
                        b->state = DOWN2;
                        b->down_ns = t;
                        arm(b, t, b->long_ns);
                        return;
                }
                /* the window had closed, its timer not yet run: that was a short */
                b->state = IDLE;
                report(b, RC_PRESS_SHORT);
                if (b->closing)
                        return;
        }
        b->state = DOWN;
        b->down_ns = t;
        arm(b, t, b->long_ns);
}

static void on_release(struct rc_gpio_button *b, int64_t t) {
        bool held_long = t - b->down_ns >= b->long_ns;
        enum state was = b->state;

        uv_timer_stop(&b->timer);
        b->state = IDLE;
        switch (was) {
        case DOWN:
                if (held_long) { /* released before its timer ran */
                        report(b, RC_PRESS_LONG);
                        break;
                }
                b->state = UP;
                b->up_ns = t;
                arm(b, t, b->double_ns);
                break;
        case DOWN2:
                report(b, held_long ? RC_PRESS_LONG : RC_PRESS_DOUBLE);
                break;
        case LONG: /* reported when the hold reached long_ms */
        case IDLE:
        case UP:
                break;
        }
}

static void on_edge(struct rc_gpio_button *b, const struct gpiod_line_event *ev) {
        int64_t t = (int64_t)ev->ts.tv_sec * 1000000000LL + ev->ts.tv_nsec;
        bool press;

        b->stats.edges++;
        if (ev->event_type != GPIOD_LINE_EVENT_RISING_EDGE &&
            ev->event_type != GPIOD_LINE_EVENT_FALLING_EDGE) {
                rc_log_debug("button: an event of type %d ignored", ev->event_type);
                return;
        }
        press = ev->event_type == GPIOD_LINE_EVENT_RISING_EDGE;
        /* within debounce_ms of the last accepted edge (a stamp going back means the
         * clock was set: that edge is taken) */
        if (b->have_edge && t >= b->edge_ns && t - b->edge_ns < b->debounce_ns) {
                b->stats.bounces++;
                return;
        }
        if (press == b->pressed) { /* no change: the other edge of a bounce was dropped */
                b->stats.bounces++;
                return;
        }
        b->have_edge = true;
        b->edge_ns = t;
        b->pressed = press;
        if (press)
                on_press(b, t);
        else
                on_release(b, t);
}

/* The line's events cannot be read (the chip gone, say): reported, and the fd
 * no longer polled — it would wake the loop for ever. */
static void lost(struct rc_gpio_button *b, const char *why) {
        rc_log_error("button: cannot read the line's events: %s; the button is off", why);
        uv_poll_stop(&b->poll);
        b->lost = true;
}

/* Read the edges waiting in the event fd (gpiod_line_event_read blocks when there
 * is none, so each read follows a zero-timeout poll). */
static void read_edges(struct rc_gpio_button *b) {
        struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
        struct gpiod_line_event ev;

        for (unsigned i = 0; i < READS_PER_WAKEUP && !b->closing && !b->lost; i++) {
                pfd.revents = 0;
                if (poll(&pfd, 1, 0) <= 0)
                        return;
                if (!(pfd.revents & POLLIN)) {
                        lost(b, pfd.revents & POLLNVAL ? "a closed fd" : "the fd failed");
                        return;
                }
                memset(&ev, 0, sizeof(ev));
                errno = 0;
                if (gpiod_line_event_read(b->line, &ev) < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                return;
                        lost(b, strerror(errno ? errno : EIO));
                        return;
                }
                on_edge(b, &ev);
        }
}

static void on_poll(uv_poll_t *p, int status, int events) {
        struct rc_gpio_button *b = p->data;

        if (status < 0) {
                lost(b, uv_strerror(status));
                return;
        }
        read_edges(b);
}

static void on_timer(uv_timer_t *t) {
        struct rc_gpio_button *b = t->data;

        read_edges(b); /* edges that came before the deadline count first */
        if (b->closing || uv_is_active((uv_handle_t *)&b->timer))
                return; /* closed, or an edge read re-armed the timer */
        if (now_ns() < b->due_ns) {
                start_timer(b);
                return;
        }
        switch (b->state) {
        case DOWN:
        case DOWN2:
                b->state = LONG;
                report(b, RC_PRESS_LONG);
                break;
        case UP:
                b->state = IDLE;
                report(b, RC_PRESS_SHORT);
                break;
        case IDLE:
        case LONG:
                break;
        }
}

/* ---- set-up ------------------------------------------------------------------ */

static void release(struct rc_gpio_button *b) {
        if (b->line)
                gpiod_line_release(b->line);
        if (b->chip)
                gpiod_chip_close(b->chip);
        b->line = NULL;
        b->chip = NULL;
}

static void on_close(uv_handle_t *h) {
        struct rc_gpio_button *b = h->data;

        if (--b->open_handles > 0)
                return;
        release(b); /* after the poll handle: the fd is the line's */
        if (b->free_on_close) {
                free(b);
                return;
        }
        if (b->closed)
                b->closed(b->closed_userdata);
}

static int request(struct rc_gpio_button *b, const struct rc_button_config *config,
                   unsigned offset) {
        int flags = config->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
        int bias = config->active_low ? GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP
                                      : GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;

        errno = 0;
        if (gpiod_line_request_both_edges_events_flags(b->line, CONSUMER, flags | bias) == 0)
                return 0;
        if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUP)
                return errno ? -errno : -EIO;
        rc_log_warning("button: the kernel cannot set %s line %u's bias (%s); without a pull-%s "
                       "resistor on the board the line floats",
                       config->gpio_chip, offset, strerror(errno),
                       config->active_low ? "up" : "down");
        errno = 0;
        if (gpiod_line_request_both_edges_events_flags(b->line, CONSUMER, flags) == 0)
                return 0;
        return errno ? -errno : -EIO;
}

int rc_button_new(uv_loop_t *loop, const struct rc_button_config *config, rc_button_fn fn,
                  void *userdata, struct rc_gpio_button **ret) {
        struct rc_gpio_button *b;
        unsigned offset;
        int r;

        if (!loop || !config || !fn || !ret)
                return -EINVAL;
        if (!(config->line >= 0 && config->line <= UINT_MAX &&
              config->line == (unsigned)config->line)) {
                rc_log_error("button: no GPIO line configured ([button] line)");
                return -EINVAL;
        }
        if (!(config->debounce_ms > 0 && config->long_ms > 0 && config->double_ms > 0)) {
                rc_log_error("button: debounce_ms, long_ms and double_ms must be positive");
                return -EINVAL;
        }
        offset = (unsigned)config->line;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->loop = loop;
        b->fn = fn;
        b->userdata = userdata;
        b->debounce_ns = (int64_t)(config->debounce_ms * NS_PER_MS);
        b->long_ns = (int64_t)(config->long_ms * NS_PER_MS);
        b->double_ns = (int64_t)(config->double_ms * NS_PER_MS);

        errno = 0;
        b->chip = gpiod_chip_open_by_name(config->gpio_chip);
        if (!b->chip) {
                r = errno ? -errno : -ENODEV;
                rc_log_error("button: cannot open GPIO chip %s: %s", config->gpio_chip,
                             strerror(-r));
                goto fail;
        }
        errno = 0;
        b->line = gpiod_chip_get_line(b->chip, offset);
        if (!b->line) {
                r = errno ? -errno : -EINVAL;
                rc_log_error("button: no line %u on GPIO chip %s: %s", offset, config->gpio_chip,
                             strerror(-r));
                goto fail;
        }
        r = request(b, config, offset);
        if (r < 0) {
                b->line = NULL; /* not requested: nothing to release */
                rc_log_error("button: cannot have %s line %u's edges: %s", config->gpio_chip,
                             offset, strerror(-r));
                goto fail;
        }
        errno = 0;
        b->fd = gpiod_line_event_get_fd(b->line);
        if (b->fd < 0) {
                r = errno ? -errno : -EBADF;
                rc_log_error("button: no event fd for %s line %u: %s", config->gpio_chip, offset,
                             strerror(-r));
                goto fail;
        }
        r = uv_poll_init(loop, &b->poll, b->fd);
        if (r < 0) {
                rc_log_error("button: cannot poll %s line %u: %s", config->gpio_chip, offset,
                             uv_strerror(r));
                goto fail;
        }
        uv_timer_init(loop, &b->timer);
        b->poll.data = b->timer.data = b;
        b->open_handles = 2;
        r = uv_poll_start(&b->poll, UV_READABLE, on_poll);
        if (r < 0) { /* the handles are the loop's now: they free b once closed */
                rc_log_error("button: cannot poll %s line %u: %s", config->gpio_chip, offset,
                             uv_strerror(r));
                b->free_on_close = b->closing = true;
                uv_close((uv_handle_t *)&b->poll, on_close);
                uv_close((uv_handle_t *)&b->timer, on_close);
                return r;
        }
        rc_log_info("button: %s line %u (active %s)", config->gpio_chip, offset,
                    config->active_low ? "low" : "high");
        *ret = b;
        return 0;

fail:
        release(b);
        free(b);
        return r;
}

void rc_button_close(struct rc_gpio_button *b, void (*closed)(void *userdata), void *userdata) {
        if (b->closing)
                return;
        b->closing = true;
        b->closed = closed;
        b->closed_userdata = userdata;
        uv_close((uv_handle_t *)&b->poll, on_close);
        uv_close((uv_handle_t *)&b->timer, on_close);
}

void rc_button_free(struct rc_gpio_button *b) {
        free(b);
}

void rc_button_stats(const struct rc_gpio_button *b, struct rc_button_stats *ret) {
        *ret = b->stats;
}
