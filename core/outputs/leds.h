/* rollcoach — the LED patterns of docs/spec/coaching.md on real lights.
 *
 * Patterns: ok (its LED steady on), hold (its LED blinking slowly, 500/500 ms),
 * warn (fast, 150/150 ms), stop (steady on), off (all off). Setting a pattern turns
 * the LEDs of the other patterns off first (an LED shared by two patterns shows
 * the current one).
 *
 * Backends:
 * - sysfs: the Linux LED class, ROOT/NAME/{brightness,max_brightness,trigger,
 *   delay_on,delay_off} (ROOT is /sys/class/leds, configurable so tests use a
 *   temporary tree). Steady: trigger "none", brightness max_brightness. Blinking:
 *   the kernel's "timer" trigger with delay_on/delay_off, so the CPU stays idle.
 *   A missing LED or a refused write is reported once and counted, never fatal.
 * - gpiod: LEDs on bare GPIO lines (libgpiod 1.6), requested as outputs; blinking
 *   by a libuv timer (there is no kernel trigger for a bare line).
 * - off.
 * Small synchronous sysfs/GPIO writes: bounded and quick (no file I/O on a disk). */
#pragma once

#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "engine/engine.h"

struct rc_leds;

/* Start with the configuration (all LEDs off). 0, -ENOMEM, or a negative errno
 * when the backend cannot start (reported: a GPIO chip that cannot be opened);
 * missing sysfs LEDs are reported but not fatal. */
int rc_leds_new(uv_loop_t *loop, const struct rc_leds_config *config, struct rc_leds **ret);

/* Show a pattern. */
void rc_leds_set(struct rc_leds *l, enum rc_led_pattern pattern);

/* An rc_action_fn for the engine: shows the led actions (userdata: the LEDs). */
void rc_leds_action(const struct rc_action *a, void *userdata);

/* All off, handles closed; `closed` runs on the loop once done (then rc_leds_free). */
void rc_leds_close(struct rc_leds *l, void (*closed)(void *userdata), void *userdata);
void rc_leds_free(struct rc_leds *l);

struct rc_leds_stats {
        uint64_t changes;      /* patterns shown that differed from the one before */
        uint64_t write_errors; /* LED changes that failed (a missing LED counts each) */
        enum rc_led_pattern current;
};
void rc_leds_stats(const struct rc_leds *l, struct rc_leds_stats *ret);
