/* rollcoach replay — the analysis core and the coaching plugins over a recorded
 * trace, on virtual time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/session.h"
#include "hub/coaching.h"
#include "main/commands.h"
#include "replay/replay.h"
#include "util/log.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: rollcoach replay TRACE [OPTIONS]\n\n"
                "Run the analysis core and the coaching plugins over TRACE (a rollcoach\n"
                "trace; '-' for standard input) on virtual time, as one session. Events and\n"
                "actions are written as one JSON object a line; the same trace and options\n"
                "always give byte-identical output. Core events go to standard output unless\n"
                "--events or --actions says otherwise.\n\n"
                "Options:\n"
                "  -p, --profile FILE   the user's profile: the configuration file format\n"
                "                       ([profile], and [plugins] for the plugins)\n"
                "      --strict         a plugin that fails to load, fails in a callback or\n"
                "                       is disabled fails the run (exit 4): for a plugin's CI\n");
        fputs(rc_session_options_help, f);
        fprintf(f, "With --quiet, warnings (malformed lines, rejected packets) are not printed\n"
                   "either; they are still counted.\n"
                   "\nExit status: 0 done (malformed trace lines, rejected packets and failing\n"
                   "plugins are reported and counted, not fatal), 1 run-time failure (e.g.\n"
                   "writing output), 2 bad command line (incl. an unknown routine or step),\n"
                   "3 unusable input (not a trace, unreadable trace, profile errors), 4 with\n"
                   "--strict: a plugin failed.\n");
}

int rc_cmd_replay(int argc, char **argv) {
        enum { OPT_STRICT = RC_OPT__NEXT };
        static const struct option options[] = {
                RC_SESSION_OPTIONS,
                {"profile", required_argument, NULL, 'p'},
                {"strict", no_argument, NULL, OPT_STRICT},
                {0},
        };
        const char *profile_path = NULL, *trace_path;
        struct rc_session_cli cli;
        struct rc_session_outputs out = {0};
        struct rc_replay_opts ro = {0};
        struct rc_replay_stats stats;
        struct rc_config config;
        struct rc_session *session = NULL;
        FILE *trace = NULL;
        struct stat st;
        bool strict = false;
        unsigned failed;
        int c, r, ret;

        rc_session_cli_init(&cli);
        optind = 1;
        while ((c = getopt_long(argc, argv, RC_SESSION_SHORT "p:", options, NULL)) != -1) {
                r = rc_session_cli_option(&cli, c, optarg, "replay");
                if (r < 0)
                        return rc_cmd_bad_usage("replay");
                if (r > 0)
                        continue;
                if (c == 'p') {
                        profile_path = optarg;
                } else if (c == OPT_STRICT) {
                        strict = true;
                } else if (c == 'h') {
                        usage(stdout);
                        return RC_EXIT_OK;
                } else {
                        return rc_cmd_bad_usage("replay"); /* getopt said what */
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "rollcoach replay: expected one TRACE argument\n");
                return rc_cmd_bad_usage("replay");
        }
        if (rc_session_cli_check(&cli, "replay") < 0)
                return rc_cmd_bad_usage("replay");
        trace_path = argv[optind];
        if (cli.quiet)
                rc_log_set_max_level(RC_LOG_ERR); /* counted in the summary, not printed */
        ret = rc_load_config(&config, profile_path);
        if (ret != RC_EXIT_OK)
                return ret;

        trace = strcmp(trace_path, "-") == 0 ? stdin : fopen(trace_path, "r");
        if (!trace) {
                rc_log_error("%s: %s", trace_path, strerror(errno));
                return RC_EXIT_INPUT;
        }
        if (fstat(fileno(trace), &st) == 0 && S_ISDIR(st.st_mode)) {
                rc_log_error("%s: a directory, not a trace", trace_path);
                fclose(trace);
                return RC_EXIT_INPUT;
        }
        session = malloc(sizeof(*session));
        if (!session) {
                rc_log_error("out of memory");
                ret = RC_EXIT_FAILURE;
                goto out;
        }
        rc_session_init(session);
        ret = rc_session_outputs_open(&out, &cli, &config, session, true, false);
        if (ret != RC_EXIT_OK)
                goto out;
        if (out.engine) {
                ro.routine = cli.routine;
                ro.step = cli.step;
                ro.advance = rc_engine_advance_hook;
                ro.userdata = out.engine;
        }
        r = rc_replay_run(trace, strcmp(trace_path, "-") == 0 ? "<stdin>" : trace_path, session,
                          &ro, &stats);
        if (r < 0) {
                if (r != -EBADMSG)
                        rc_log_error("%s: %s", trace_path, strerror(-r));
                ret = r == -EBADMSG ? RC_EXIT_INPUT : RC_EXIT_FAILURE;
                goto out;
        }
        if (!cli.quiet) {
                fprintf(stderr,
                        "replay: %llu notifications, %llu malformed lines skipped, "
                        "%llu packets rejected\n",
                        (unsigned long long)stats.lines, (unsigned long long)stats.malformed,
                        (unsigned long long)stats.rejected);
                rc_session_report(session, stderr);
                rc_session_outputs_report(&out);
        }
        failed = rc_session_outputs_plugin_failures(&out);
        if (strict && failed) {
                rc_log_error("--strict: %u plugin(s) failed to load, failed or were disabled",
                             failed);
                ret = RC_EXIT_PLUGIN;
        }
out:
        ret = rc_session_outputs_close(&out, &cli, ret);
        if (trace && trace != stdin)
                fclose(trace);
        free(session);
        return ret;
}
