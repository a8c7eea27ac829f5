/* rollcoach — entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "main/commands.h"
#include "util/log.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} commands[] = {
        {"run", rc_cmd_run, "the hub: connect the devices through BlueZ and coach, live"},
        {"record", rc_cmd_record, "the hub, also writing what it receives as a trace"},
        {"replay", rc_cmd_replay, "run the analysis and the coaching over a trace (virtual time)"},
        {"simulate", rc_cmd_simulate, "write a trace from a described session (scenario file)"},
};

static void usage(FILE *f) {
        fprintf(f, "Usage: rollcoach COMMAND [OPTIONS]\n"
                   "       rollcoach --help | --version\n\n"
                   "A headless home-gym hub that coaches safe foam rolling for low-back relief.\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\n'rollcoach COMMAND --help' describes a command.\n\n"
                   "Exit status: 0 done, 1 run-time failure, 2 bad command line,\n"
                   "3 unusable input file (not a trace, config or scenario errors).\n");
}

int rc_cmd_bad_usage(const char *command) {
        fprintf(stderr, "Try 'rollcoach %s --help'.\n", command);
        return RC_EXIT_USAGE;
}

int main(int argc, char **argv) {
        static char name[64];

        if (argc < 2) {
                fprintf(stderr, "rollcoach: expected a command (run, record, replay, simulate)\n"
                                "Try 'rollcoach --help'.\n");
                return RC_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return RC_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("rollcoach %s\n", RC_VERSION);
                return RC_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0) {
                        /* one prefix for every message: getopt's (argv[0]), the
                         * command's and the log's */
                        snprintf(name, sizeof(name), "rollcoach %s", commands[i].name);
                        argv[1] = name;
                        rc_log_set_prefix(name);
                        return commands[i].run(argc - 1, argv + 1);
                }
        fprintf(stderr, "rollcoach: unknown command '%s'\n", argv[1]);
        fprintf(stderr, "Try 'rollcoach --help'.\n");
        return RC_EXIT_USAGE;
}
