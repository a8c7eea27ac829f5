/* rollcoach replay — the analysis core over a recorded trace, on virtual time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <time.h>

#include "analysis/session.h"
#include "config/config.h"
#include "engine/engine.h"
#include "main/commands.h"
#include "outputs/jsonl.h"
#include "replay/replay.h"
#include "util/log.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: rollcoach replay TRACE [OPTIONS]\n\n"
                "Run the analysis core and the coaching plugins over TRACE (a rollcoach\n"
                "trace; '-' for standard input) on virtual time, as one session. Events and\n"
                "actions are written as one JSON object a line; the same trace and options\n"
                "always give byte-identical output.\n\n"
                "Options:\n"
                "  -e, --events FILE    write core events to FILE ('-' = standard output; the\n"
                "                       default when --actions is not given)\n"
                "  -a, --actions FILE   write the plugins' actions (say, led, step, session,\n"
                "                       plugin) to FILE ('-' = standard output)\n"
                "  -r, --routine NAME   run this routine (e.g. lower-back-relief); without it\n"
                "                       the session is free: safety and warnings still run\n"
                "  -s, --step STEP      start the routine at this step\n"
                "  -p, --profile FILE   the user's profile: an INI file with a [profile]\n"
                "                       section, the same format as the configuration file\n"
                "      --plugins DIR    load plugins from DIR (repeatable; replaces the default\n"
                "                       list: the shipped plugins, /etc/rollcoach/plugins,\n"
                "                       ~/.config/rollcoach/plugins)\n"
                "      --no-plugins     the analysis alone\n"
                "      --state-dir DIR  keep the plugins' stores and the session history in\n"
                "                       DIR (default: nothing is kept)\n"
                "      --now UNIX_TIME  wall-clock time of the trace's start (default: now),\n"
                "                       for os.time() and the history\n"
                "  -q, --quiet          no summary on standard error\n"
                "  -h, --help           this text\n\n"
                "Exit status: 0 done (malformed trace lines, rejected packets and failing\n"
                "plugins are reported and counted, not fatal), 1 run-time failure (e.g.\n"
                "writing output), 2 bad command line (incl. an unknown routine or step),\n"
                "3 unusable input (no trace header, unreadable trace, profile errors).\n");
}

static const char *shipped_plugin_dir(void) {
        struct stat st;

        /* installed, or else the source tree this binary was built from */
        return stat(RC_PLUGIN_DIR, &st) == 0 ? RC_PLUGIN_DIR : RC_SOURCE_PLUGIN_DIR;
}

/* The default plugin directories (docs/plugins.md, "Where plugins live"). */
static void default_plugin_dirs(struct rc_engine_opts *o, char *user_dir, size_t len) {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

        o->dirs[o->n_dirs++] = shipped_plugin_dir();
        o->dirs[o->n_dirs++] = "/etc/rollcoach/plugins";
        if (xdg && xdg[0])
                snprintf(user_dir, len, "%s/rollcoach/plugins", xdg);
        else if (home && home[0])
                snprintf(user_dir, len, "%s/.config/rollcoach/plugins", home);
        else
                return;
        o->dirs[o->n_dirs++] = user_dir;
}

static FILE *open_output(const char *path) {
        if (!path || strcmp(path, "-") == 0)
                return stdout;
        return fopen(path, "w");
}

/* Flush and close an output (standard output is only flushed). */
static int close_output(struct rc_jsonl_writer *w, const char *path) {
        int r = 0;

        if (!w->f)
                return 0;
        if (w->f == stdout ? fflush(stdout) != 0 : fclose(w->f) != 0) {
                rc_log_error("%s: %s", path ? path : "<stdout>", strerror(errno));
                r = -EIO;
        }
        w->f = NULL;
        return r;
}

static void report_engine(const struct rc_engine *e) {
        struct rc_engine_stats st;
        struct rc_engine_plugin_info info;

        rc_engine_stats(e, &st);
        fprintf(stderr, "plugins:");
        for (unsigned i = 0; rc_engine_plugin_info(e, i, &info) == 0; i++)
                fprintf(stderr, " %s%s", info.name, info.enabled ? "" : " (disabled)");
        fprintf(stderr,
                "\nactions: %llu said, %llu not repeated or muted, %llu LED changes; "
                "%llu plugin errors, %llu timer calls\n",
                (unsigned long long)st.says, (unsigned long long)st.suppressed_says,
                (unsigned long long)st.leds, (unsigned long long)st.errors,
                (unsigned long long)st.timer_fires);
}

int rc_cmd_replay(int argc, char **argv) {
        enum { OPT_PLUGINS = 256, OPT_NO_PLUGINS, OPT_STATE_DIR, OPT_NOW };
        static const struct option options[] = {
                {"events", required_argument, NULL, 'e'},
                {"actions", required_argument, NULL, 'a'},
                {"routine", required_argument, NULL, 'r'},
                {"step", required_argument, NULL, 's'},
                {"profile", required_argument, NULL, 'p'},
                {"plugins", required_argument, NULL, OPT_PLUGINS},
                {"no-plugins", no_argument, NULL, OPT_NO_PLUGINS},
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"now", required_argument, NULL, OPT_NOW},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *events_path = NULL, *actions_path = NULL, *profile_path = NULL, *trace_path;
        const char *routine = NULL, *step = NULL;
        struct rc_jsonl_writer writer = {0}, action_writer = {0};
        struct rc_engine_opts eo = {.wall_start_s = (int64_t)time(NULL)};
        struct rc_replay_opts ro = {0};
        struct rc_replay_stats stats;
        struct rc_config config;
        struct rc_session *session = NULL;
        struct rc_engine *engine = NULL;
        char user_dir[4096];
        bool quiet = false, plugins = true;
        FILE *trace = NULL;
        int c, r, ret = RC_EXIT_FAILURE;

        optind = 1;
        while ((c = getopt_long(argc, argv, "e:a:r:s:p:qh", options, NULL)) != -1) {
                switch (c) {
                case 'e':
                        events_path = optarg;
                        break;
                case 'a':
                        actions_path = optarg;
                        break;
                case 'r':
                        routine = optarg;
                        break;
                case 's':
                        step = optarg;
                        break;
                case 'p':
                        profile_path = optarg;
                        break;
                case OPT_PLUGINS:
                        if (eo.n_dirs == RC_ENGINE_MAX_DIRS) {
                                fprintf(stderr, "rollcoach replay: at most %d --plugins\n",
                                        RC_ENGINE_MAX_DIRS);
                                return RC_EXIT_USAGE;
                        }
                        eo.dirs[eo.n_dirs++] = optarg;
                        break;
                case OPT_NO_PLUGINS:
                        plugins = false;
                        break;
                case OPT_STATE_DIR:
                        eo.state_dir = optarg;
                        break;
                case OPT_NOW: {
                        char *end;

                        errno = 0;
                        eo.wall_start_s = strtoll(optarg, &end, 10);
                        if (errno || end == optarg || *end || eo.wall_start_s < 0) {
                                fprintf(stderr,
                                        "rollcoach replay: --now wants Unix seconds, "
                                        "got '%s'\n",
                                        optarg);
                                return RC_EXIT_USAGE;
                        }
                        break;
                }
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        usage(stdout);
                        return RC_EXIT_OK;
                default:
                        usage(stderr);
                        return RC_EXIT_USAGE;
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "rollcoach replay: expected one TRACE argument\n\n");
                usage(stderr);
                return RC_EXIT_USAGE;
        }
        trace_path = argv[optind];
        if (!plugins && (routine || step || actions_path)) {
                fprintf(stderr, "rollcoach replay: --no-plugins cannot run a routine or write "
                                "actions\n");
                return RC_EXIT_USAGE;
        }
        if (step && !routine) {
                fprintf(stderr, "rollcoach replay: --step needs --routine\n");
                return RC_EXIT_USAGE;
        }

        rc_config_defaults(&config);
        if (profile_path && rc_config_load(&config, profile_path) < 0)
                return RC_EXIT_INPUT;

        trace = strcmp(trace_path, "-") == 0 ? stdin : fopen(trace_path, "r");
        if (!trace) {
                rc_log_error("%s: %s", trace_path, strerror(errno));
                return RC_EXIT_INPUT;
        }
        /* events go to standard output unless only actions were asked for */
        if (events_path || !actions_path) {
                writer.f = open_output(events_path);
                if (!writer.f) {
                        rc_log_error("%s: %s", events_path, strerror(errno));
                        goto out;
                }
        }
        if (actions_path) {
                action_writer.f = open_output(actions_path);
                if (!action_writer.f) {
                        rc_log_error("%s: %s", actions_path, strerror(errno));
                        goto out;
                }
        }
        session = malloc(sizeof(*session));
        if (!session) {
                rc_log_error("out of memory");
                goto out;
        }
        rc_session_init(session);
        if (writer.f)
                rc_session_subscribe(session, rc_jsonl_write_event, &writer);

        if (plugins) {
                const struct rc_plugins_config *pc = &config.plugins;

                /* the command line, else the profile file's [plugins], else the defaults */
                if (eo.n_dirs == 0)
                        for (unsigned k = 0; k < pc->n_directories; k++)
                                eo.dirs[eo.n_dirs++] = pc->directories[k];
                if (eo.n_dirs == 0)
                        default_plugin_dirs(&eo, user_dir, sizeof(user_dir));
                if (!eo.state_dir && pc->state_dir[0])
                        eo.state_dir = pc->state_dir;
                eo.instructions = (uint64_t)pc->instructions;
                eo.memory = (size_t)pc->memory_mb << 20;
                eo.timers = (unsigned)pc->timers;
                eo.max_failures = (unsigned)pc->failures;
                eo.profile = config.profile;
                if (rc_engine_new(&eo, &engine) < 0 || rc_engine_load_all(engine) < 0) {
                        rc_log_error("out of memory");
                        goto out;
                }
                if (action_writer.f)
                        rc_engine_add_sink(engine, rc_jsonl_write_action, &action_writer);
                r = rc_engine_attach(engine, session, routine, step);
                if (r < 0) {
                        ret = RC_EXIT_USAGE;
                        goto out;
                }
                ro.routine = routine;
                ro.step = step;
                ro.advance = rc_engine_advance_hook;
                ro.userdata = engine;
        }

        r = rc_replay_run(trace, strcmp(trace_path, "-") == 0 ? "<stdin>" : trace_path, session,
                          &ro, &stats);
        if (r == -EBADMSG) {
                ret = RC_EXIT_INPUT;
                goto out;
        }
        if (r < 0) {
                rc_log_error("%s: %s", trace_path, strerror(-r));
                goto out;
        }
        if (!quiet) {
                fprintf(stderr,
                        "replay: %llu notifications, %llu malformed lines skipped, "
                        "%llu packets rejected\n",
                        (unsigned long long)stats.lines, (unsigned long long)stats.malformed,
                        (unsigned long long)stats.rejected);
                rc_session_report(session, stderr);
                if (engine)
                        report_engine(engine);
        }
        ret = writer.error || action_writer.error ? RC_EXIT_FAILURE : RC_EXIT_OK;
out:
        rc_engine_free(engine);
        if (close_output(&writer, events_path) < 0 && ret == RC_EXIT_OK)
                ret = RC_EXIT_FAILURE;
        if (close_output(&action_writer, actions_path) < 0 && ret == RC_EXIT_OK)
                ret = RC_EXIT_FAILURE;
        if (trace && trace != stdin)
                fclose(trace);
        free(session);
        return ret;
}
