/* rollcoach — the program's subcommands (git-style: `rollcoach CMD [OPTIONS]`).
 *
 * Each command parses its own options with getopt_long, answers --help, and
 * returns one of the exit codes of util/exit.h (documented in README.md and --help). */
#pragma once

#include "util/exit.h" /* enum rc_exit */

/* A bad command line: one line saying where help is ("Try 'rollcoach replay
 * --help'."), after the command's own one-line message. Returns RC_EXIT_USAGE. */
int rc_cmd_bad_usage(const char *command);

int rc_cmd_replay(int argc, char **argv);
int rc_cmd_simulate(int argc, char **argv);
int rc_cmd_run(int argc, char **argv);
int rc_cmd_record(int argc, char **argv);
