/* rollcoach — the program's exit codes (README.md, each command's --help). The
 * builders a command calls (hub/coaching.h, rc_hub_new) return them too, so that
 * what failed decides the exit status where it is known. */
#pragma once

enum rc_exit {
        RC_EXIT_OK = 0,      /* done */
        RC_EXIT_FAILURE = 1, /* a run-time failure: I/O error, out of memory, … */
        RC_EXIT_USAGE = 2,   /* bad command line */
        RC_EXIT_INPUT = 3,   /* an input file is unusable: not a trace, config or scenario errors */
        RC_EXIT_PLUGIN = 4,  /* replay --strict: a plugin failed to load, failed or was disabled */
};
