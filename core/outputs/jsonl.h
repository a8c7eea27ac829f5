/* rollcoach — events (and later actions) as JSON Lines (spec/coaching.md,
 * "What a replay shows"). One object a line, keys in a fixed order: t_ms, event,
 * device, then the event's fields. Absent optional numbers (NaN) are left out.
 * Numbers are rounded to a fixed precision per field so the output is stable
 * and readable; the same input gives byte-identical output. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "analysis/events.h"
#include "engine/engine.h"

/* The event as a new cJSON object (NULL on allocation failure; caller frees). */
cJSON *rc_event_to_json(const struct rc_event *ev);

/* Add `value` rounded to `decimals` places under `key`; nothing when NaN.
 * Returns 0 or -ENOMEM. */
int rc_json_add_number(cJSON *obj, const char *key, double value, int decimals);

struct rc_jsonl_writer {
        FILE *f;
        uint64_t lines;
        int error; /* first error (negative errno), 0 if none */
};

/* Write `obj` unformatted plus a newline. 0, -ENOMEM or -EIO. */
int rc_jsonl_write(FILE *f, const cJSON *obj);

/* The action as a new cJSON object: t_ms, kind, then its fields, then the plugin
 * that acted (NULL on allocation failure; caller frees). */
cJSON *rc_action_to_json(const struct rc_action *a);

/* An rc_action_fn: userdata is a struct rc_jsonl_writer. */
void rc_jsonl_write_action(const struct rc_action *a, void *userdata);

/* An rc_event_fn: userdata is a struct rc_jsonl_writer. Errors are kept in it
 * (and the first one logged); later events are still attempted. */
void rc_jsonl_write_event(const struct rc_event *ev, void *userdata);
