/* rollcoach replay — the analysis core over a recorded trace, on virtual time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/session.h"
#include "config/config.h"
#include "main/commands.h"
#include "outputs/jsonl.h"
#include "replay/replay.h"
#include "util/log.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: rollcoach replay TRACE [OPTIONS]\n\n"
                "Run the analysis core over TRACE (a rollcoach trace; '-' for standard input)\n"
                "on virtual time and write every event as one JSON object a line.\n"
                "The same trace always gives byte-identical output.\n\n"
                "Options:\n"
                "  -e, --events FILE   write events to FILE ('-' = standard output, the default)\n"
                "  -p, --profile FILE  the user's profile: an INI file with a [profile] section,\n"
                "                      the same format as the configuration file\n"
                "  -q, --quiet         no summary on standard error\n"
                "  -h, --help          this text\n\n"
                "Exit status: 0 done (malformed trace lines and rejected packets are reported\n"
                "and counted, not fatal), 1 run-time failure (e.g. writing events), 2 bad\n"
                "command line, 3 unusable input (no trace header, unreadable trace, profile\n"
                "errors).\n");
}

static FILE *open_output(const char *path) {
        if (!path || strcmp(path, "-") == 0)
                return stdout;
        return fopen(path, "w");
}

int rc_cmd_replay(int argc, char **argv) {
        static const struct option options[] = {
                {"events", required_argument, NULL, 'e'},
                {"profile", required_argument, NULL, 'p'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *events_path = NULL, *profile_path = NULL, *trace_path;
        struct rc_jsonl_writer writer = {0};
        struct rc_replay_stats stats;
        struct rc_config config;
        struct rc_session *session = NULL;
        bool quiet = false;
        FILE *trace = NULL;
        int c, r, ret = RC_EXIT_FAILURE;

        optind = 1;
        while ((c = getopt_long(argc, argv, "e:p:qh", options, NULL)) != -1) {
                switch (c) {
                case 'e':
                        events_path = optarg;
                        break;
                case 'p':
                        profile_path = optarg;
                        break;
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

        rc_config_defaults(&config);
        if (profile_path && rc_config_load(&config, profile_path) < 0)
                return RC_EXIT_INPUT;

        trace = strcmp(trace_path, "-") == 0 ? stdin : fopen(trace_path, "r");
        if (!trace) {
                rc_log_error("%s: %s", trace_path, strerror(errno));
                return RC_EXIT_INPUT;
        }
        writer.f = open_output(events_path);
        if (!writer.f) {
                rc_log_error("%s: %s", events_path, strerror(errno));
                goto out;
        }
        session = malloc(sizeof(*session));
        if (!session) {
                rc_log_error("out of memory");
                goto out;
        }
        rc_session_init(session);
        rc_session_subscribe(session, rc_jsonl_write_event, &writer);

        r = rc_replay_run(trace, strcmp(trace_path, "-") == 0 ? "<stdin>" : trace_path, session,
                          NULL, &stats);
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
        }
        ret = writer.error ? RC_EXIT_FAILURE : RC_EXIT_OK;
out:
        if (writer.f && writer.f != stdout && fclose(writer.f) != 0 && ret == RC_EXIT_OK) {
                rc_log_error("%s: %s", events_path, strerror(errno));
                ret = RC_EXIT_FAILURE;
        } else if (writer.f == stdout && fflush(stdout) != 0 && ret == RC_EXIT_OK) {
                ret = RC_EXIT_FAILURE;
        }
        if (trace && trace != stdin)
                fclose(trace);
        free(session);
        return ret;
}
