/* rollcoach — what the commands that run a session share (replay, run, record):
 * the options for events, actions, the routine, the profile and the plugins; the
 * outputs; the coaching engine built from the configuration and the command line. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/session.h"
#include "config/config.h"
#include "engine/engine.h"
#include "outputs/jsonl.h"

/* getopt_long codes of the shared long-only options */
enum {
        RC_OPT_PLUGINS = 256,
        RC_OPT_NO_PLUGINS,
        RC_OPT_STATE_DIR,
        RC_OPT_NOW,
        RC_OPT__NEXT, /* a command's own long-only options start here */
};

/* The shared options, for a command's getopt_long table (a macro, so the table
 * stays one static array). Short forms: -e -a -r -s -p -q -h. */
#define RC_SESSION_OPTIONS                                                                         \
        {"events", required_argument, NULL, 'e'}, {"actions", required_argument, NULL, 'a'},       \
                {"routine", required_argument, NULL, 'r'}, {"step", required_argument, NULL, 's'}, \
                {"plugins", required_argument, NULL, RC_OPT_PLUGINS},                              \
                {"no-plugins", no_argument, NULL, RC_OPT_NO_PLUGINS},                              \
                {"state-dir", required_argument, NULL, RC_OPT_STATE_DIR},                          \
                {"now", required_argument, NULL, RC_OPT_NOW}, {"quiet", no_argument, NULL, 'q'}, { \
                "help", no_argument, NULL, 'h'                                                     \
        }
#define RC_SESSION_SHORT "e:a:r:s:qh"

/* The help text of the shared options. */
extern const char rc_session_options_help[];

struct rc_session_cli {
        const char *events_path, *actions_path, *routine, *step, *state_dir;
        const char *dirs[RC_ENGINE_MAX_DIRS];
        unsigned n_dirs;
        int64_t wall_start_s;
        bool no_plugins, quiet;
};

void rc_session_cli_init(struct rc_session_cli *cli);

/* Handle one shared option. 1: handled; 0: not a shared option; negative: a
 * usage error (reported, with `command` in the message). 'h' is left to the
 * command (0). */
int rc_session_cli_option(struct rc_session_cli *cli, int c, const char *arg, const char *command);

/* Check the combination once all options are read; -EINVAL (reported) if wrong. */
int rc_session_cli_check(const struct rc_session_cli *cli, const char *command);

/* What a running session writes to and runs with. */
struct rc_session_outputs {
        struct rc_jsonl_writer events, actions;
        struct rc_engine *engine; /* NULL with --no-plugins */
        char user_dir[4096];      /* the user's plugin directory, when a default */
        unsigned plugin_files;    /* *.lua files found in the plugin directories */
        unsigned plugins_loaded;  /* of them, loaded (an override counts: it loaded) */
};

/* Open the outputs (o zeroed by the caller; events to stdout unless only actions were asked for,
 * when `events_default_stdout`), build the engine from the configuration and the command line, and
 * attach it to `s` (not begun). Returns 0, or an exit code (RC_EXIT_*) after reporting why.
 * Line-buffered outputs with `line_buffered` (a daemon's, for tailing). */
int rc_session_outputs_open(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                            const struct rc_config *config, struct rc_session *s,
                            bool events_default_stdout, bool line_buffered);

/* The two halves of rc_session_outputs_open, for a hub that runs many sessions:
 * the writers, opened once; and, per session, the events writer subscribed to `s`
 * and a new engine (into o->engine, which must be NULL) attached to it with this
 * routine and step. */
int rc_outputs_open(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                    bool events_default_stdout, bool line_buffered);
int rc_outputs_engine(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                      const struct rc_config *config, struct rc_session *s, const char *routine,
                      const char *step);

/* The plugin directories a session would load from (the command line's, the
 * configuration's, or the defaults; user_dir holds the user's). Their number. */
unsigned rc_plugin_dirs(const struct rc_session_cli *cli, const struct rc_config *config,
                        const char *dirs[RC_ENGINE_MAX_DIRS], char *user_dir, size_t len);

/* Close everything; returns RC_EXIT_FAILURE if an output failed, else `ret`. */
int rc_session_outputs_close(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                             int ret);

/* How many plugins failed: files that did not load, plus plugins disabled or with
 * callback errors (`replay --strict`). 0 without plugins. */
unsigned rc_session_outputs_plugin_failures(const struct rc_session_outputs *o);

/* A summary of the plugins and actions on standard error. */
void rc_session_outputs_report(const struct rc_session_outputs *o);

/* Load `path` (if not NULL) over the defaults. RC_EXIT_OK or RC_EXIT_INPUT. */
int rc_load_config(struct rc_config *c, const char *path);
