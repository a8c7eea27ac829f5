/* rollcoach — the simulator: a described session (a scenario file, see
 * docs/scenario-format.md) turned into the raw notifications a hub would receive
 * from rollers, body clips and heart-rate straps, in time order.
 *
 * The physics follows spec/roller-gatt.md and docs/analysis.md (axes, units,
 * the accelerometer rotating with the roller, breathing micro-motion under
 * load). Everything random comes from one seeded generator, so a scenario and a
 * seed give byte-identical output.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/events.h"
#include "replay/trace.h"

struct rc_sim;

/* Parse a scenario. `name` labels messages ("NAME:LINE: what"). Returns 0 and a
 * new simulator in *ret, -EINVAL if the scenario has errors (all logged), or
 * -ENOMEM. */
int rc_sim_new_from_string(const char *text, size_t len, const char *name, struct rc_sim **ret);
/* The same for a file; -errno if it cannot be read. */
int rc_sim_new_from_file(const char *path, struct rc_sim **ret);
void rc_sim_free(struct rc_sim *s);

/* Override the scenario's seed. */
void rc_sim_set_seed(struct rc_sim *s, uint64_t seed);

/* Called for each notification, in non-decreasing t_us order (ties in device
 * declaration order). A non-zero return stops the run and is returned by rc_sim_run. */
typedef int (*rc_sim_emit_fn)(const struct rc_notification *n, void *userdata);

/* Generate the whole session. Returns 0, the callback's non-zero value, or a
 * negative errno. May be called again: each run starts from the seed. */
int rc_sim_run(struct rc_sim *s, rc_sim_emit_fn fn, void *userdata);

/* Generate the session as a trace (header + lines) into f. 0 or negative errno. */
int rc_sim_write_trace(struct rc_sim *s, FILE *f);

/* What the last run produced per device, for tests and the simulate summary. */
struct rc_sim_device_stats {
        char addr[RC_ADDR_STRLEN];
        char label[32];
        enum rc_device_kind kind;
        uint64_t packets;      /* notifications written (valid + corrupted) */
        uint64_t lost;         /* packets dropped (never written; seq advanced) */
        uint64_t corrupted;    /* packets written malformed on purpose */
        uint64_t samples;      /* IMU samples in valid packets */
        uint64_t lost_samples; /* IMU samples in lost or corrupted packets */
};
unsigned rc_sim_device_count(const struct rc_sim *s);
const struct rc_sim_device_stats *rc_sim_device_stats(const struct rc_sim *s, unsigned i);
