/* rollcoach — the program's subcommands (git-style: `rollcoach CMD [OPTIONS]`).
 *
 * Each command parses its own options with getopt_long, answers --help, and
 * returns one of the exit codes below (documented in README.md and --help). */
#pragma once

enum rc_exit {
        RC_EXIT_OK = 0,      /* done */
        RC_EXIT_FAILURE = 1, /* a run-time failure: I/O error, out of memory, … */
        RC_EXIT_USAGE = 2,   /* bad command line */
        RC_EXIT_INPUT = 3,   /* an input file is unusable: not a trace, config or scenario errors */
        RC_EXIT_PLUGIN = 4,  /* replay --strict: a plugin failed to load, failed or was disabled */
};

/* A bad command line: one line saying where help is ("Try 'rollcoach replay
 * --help'."), after the command's own one-line message. Returns RC_EXIT_USAGE. */
int rc_cmd_bad_usage(const char *command);

int rc_cmd_replay(int argc, char **argv);
int rc_cmd_simulate(int argc, char **argv);
int rc_cmd_run(int argc, char **argv);
int rc_cmd_record(int argc, char **argv);
