/* rollcoach — replay: a trace file through a session, on virtual time.
 *
 * The session begins at the trace's first notification (with the given routine
 * and step) and ends after its last ("end_of_trace"), unless it ended earlier
 * (a long press, or the coaching engine stopping it). Before each notification
 * the `advance` hook is called with its session time, so that whatever runs on
 * the session clock (plugin timers) fires in order with the data. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "analysis/session.h"
#include "replay/trace.h"

typedef void (*rc_replay_advance_fn)(int64_t t_ms, void *userdata);

struct rc_replay_opts {
        const char *routine; /* NULL: a free session */
        const char *step;
        rc_replay_advance_fn advance; /* may be NULL */
        void *userdata;
};

struct rc_replay_stats {
        uint64_t lines;     /* notifications read */
        uint64_t malformed; /* trace lines rejected by the reader */
        uint64_t rejected;  /* notifications whose packet the session rejected */
        int64_t first_ms, last_ms;
};

/* Replay `f` (named `name` in messages) into `s`, which must be initialised, with
 * its subscribers, and not begun. Returns 0; -EBADMSG if `f` is not a trace;
 * -EIO on a read error; -EINVAL if the routine or step name is too long. */
int rc_replay_run(FILE *f, const char *name, struct rc_session *s,
                  const struct rc_replay_opts *opts, struct rc_replay_stats *ret_stats);
