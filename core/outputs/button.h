/* rollcoach — a push button on a GPIO line (libgpiod 1.6 line events), doing what
 * the roller's button does: a short press (next step, or start a session), a long
 * press (>= long_ms: stop — "it hurts"), a double press.
 *
 * Both edges are requested as events; the line's event fd is read from a
 * uv_poll_t. Debounced: an edge within debounce_ms of the previous accepted one is
 * ignored. A press is classified on release: held >= long_ms is long; otherwise a
 * second short press within double_ms makes a double, and a short one is reported
 * once double_ms has passed without a second. A long press is also reported the
 * moment the hold reaches long_ms (the user lying on a roller, in pain, should not
 * have to let go first); its release then reports nothing more. */
#pragma once

#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "decode/gatt.h"

/* The hub's button (struct rc_button is the roller's button notification, decode/gatt.h). */
struct rc_gpio_button;

typedef void (*rc_button_fn)(enum rc_press press, void *userdata);

/* Start on the configured chip and line. 0, or a negative errno (reported). */
int rc_button_new(uv_loop_t *loop, const struct rc_button_config *config, rc_button_fn fn,
                  void *userdata, struct rc_gpio_button **ret);

/* Stop; the line is released once the handles are closed, then `closed` runs on
 * the loop (then rc_button_free). May be called from the press callback. */
void rc_button_close(struct rc_gpio_button *b, void (*closed)(void *userdata), void *userdata);
void rc_button_free(struct rc_gpio_button *b);

struct rc_button_stats {
        uint64_t edges;   /* read from the line */
        uint64_t bounces; /* ignored: within debounce_ms, or not changing the level */
        uint64_t shorts, longs, doubles;
};
void rc_button_stats(const struct rc_gpio_button *b, struct rc_button_stats *ret);
