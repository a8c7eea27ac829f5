/* rollcoach simulate — a scenario file (docs/scenario-format.md) in, a trace
 * (docs/spec/trace-format.md) out. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "main/commands.h"
#include "sim/sim.h"
#include "util/log.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: rollcoach simulate SCENARIO [-o FILE] [--seed N]\n"
                   "\n"
                   "Simulate a described session (see docs/scenario-format.md) and write the raw\n"
                   "BLE notifications a hub would receive from its rollers, body clips and\n"
                   "heart-rate straps, as a trace (docs/spec/trace-format.md).\n"
                   "\n"
                   "  -o, --output FILE  write the trace to FILE (through FILE.tmp, renamed when\n"
                   "                     complete) instead of standard output\n"
                   "      --seed N       override the scenario's seed (decimal or 0x hex)\n"
                   "  -h, --help         show this help\n"
                   "\n"
                   "A summary per device (notifications written, lost, malformed on purpose,\n"
                   "IMU samples) goes to standard error. The same scenario and seed always give\n"
                   "the same bytes.\n"
                   "\n"
                   "Exit status: 0 done, 1 run-time failure (the trace cannot be written),\n"
                   "2 bad command line, 3 unusable scenario (it cannot be read, or it has\n"
                   "errors, each reported as FILE:LINE: what).\n");
}

static int parse_seed(const char *s, uint64_t *ret) {
        int base = 10;
        char *end;
        unsigned long long v;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        if (*s == '\0' ||
            strspn(s, base == 16 ? "0123456789abcdefABCDEF" : "0123456789") != strlen(s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void summary(const struct rc_sim *sim) {
        static const char *const kinds[] = {"unknown", "roller", "body", "hr"};

        for (unsigned i = 0; i < rc_sim_device_count(sim); i++) {
                const struct rc_sim_device_stats *st = rc_sim_device_stats(sim, i);

                fprintf(stderr,
                        "simulate: %s %s %s: %" PRIu64 " notifications, %" PRIu64 " lost, %" PRIu64
                        " malformed, %" PRIu64 " samples%s\n",
                        kinds[st->kind <= RC_KIND_HR ? st->kind : 0], st->label, st->addr,
                        st->packets, st->lost, st->corrupted, st->samples,
                        st->lost || st->corrupted
                                ? " (lost and malformed on purpose: the scenario's loss= and "
                                  "corrupt=)"
                                : "");
        }
}

/* The temporary being written, removed if SIGINT, SIGTERM or SIGHUP ends the run. */
static const char *volatile writing;

static void on_signal(int sig) {
        if (writing)
                unlink(writing); /* async-signal-safe */
        signal(sig, SIG_DFL);
        raise(sig);
}

static void catch_signals(void (*handler)(int)) {
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
        struct sigaction sa = {.sa_handler = handler};

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigaction(sigs[i], &sa, NULL);
}

/* Write the trace straight into `output`, which exists and is not a regular file
 * (a device such as /dev/null, a FIFO, a terminal): renaming a temporary over it
 * would replace it. */
static int write_special(struct rc_sim *sim, const char *output) {
        FILE *f = fopen(output, "w");
        int r;

        if (!f) {
                r = -errno;
                rc_log_error("%s: %s", output, strerror(-r));
                return r;
        }
        r = rc_sim_write_trace(sim, f);
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r < 0)
                rc_log_error("writing %s: %s", output, strerror(-r));
        return r;
}

/* Write the trace to `output` through "output.tmp", renamed when complete, so a
 * failed or interrupted run never leaves a partial trace under the final name,
 * nor the temporary. An output that exists and is not a regular file is written
 * directly (write_special). */
static int write_file(struct rc_sim *sim, const char *output) {
        size_t n = strlen(output) + 5;
        struct stat st;
        char *tmp;
        FILE *f;
        int r;

        if (stat(output, &st) == 0 && !S_ISREG(st.st_mode))
                return write_special(sim, output);
        tmp = malloc(n);
        if (!tmp)
                return -ENOMEM;
        snprintf(tmp, n, "%s.tmp", output);
        f = fopen(tmp, "w");
        if (!f) {
                r = -errno;
                rc_log_error("%s: %s", tmp, strerror(-r));
                free(tmp);
                return r;
        }
        writing = tmp;
        catch_signals(on_signal);
        r = rc_sim_write_trace(sim, f);
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, output) < 0)
                r = -errno;
        catch_signals(SIG_DFL);
        writing = NULL;
        if (r < 0) {
                rc_log_error("writing %s: %s", output, strerror(-r));
                remove(tmp);
        }
        free(tmp);
        return r;
}

int rc_cmd_simulate(int argc, char **argv) {
        static const struct option options[] = {
                {"output", required_argument, NULL, 'o'},
                {"seed", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *output = NULL, *path;
        struct rc_sim *sim = NULL;
        uint64_t seed = 0;
        bool seed_set = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
                switch (c) {
                case 'o':
                        output = optarg;
                        break;
                case 's':
                        if (parse_seed(optarg, &seed) < 0) {
                                fprintf(stderr,
                                        "rollcoach simulate: --seed wants an unsigned 64-bit "
                                        "integer, got '%s'\n",
                                        optarg);
                                return rc_cmd_bad_usage("simulate");
                        }
                        seed_set = true;
                        break;
                case 'h':
                        usage(stdout);
                        return RC_EXIT_OK;
                default:
                        return rc_cmd_bad_usage("simulate"); /* getopt said what */
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "rollcoach simulate: expected one SCENARIO argument\n");
                return rc_cmd_bad_usage("simulate");
        }
        path = argv[optind];

        r = rc_sim_new_from_file(path, &sim);
        if (r == -ENOMEM) {
                rc_log_error("out of memory");
                return RC_EXIT_FAILURE;
        }
        if (r == -EINVAL) {
                rc_log_error("%s: not simulated: the scenario has errors", path);
                return RC_EXIT_INPUT;
        }
        if (r < 0) {
                rc_log_error("%s: %s", path, strerror(-r));
                return RC_EXIT_INPUT;
        }
        if (seed_set)
                rc_sim_set_seed(sim, seed);

        if (output) {
                r = write_file(sim, output);
        } else {
                r = rc_sim_write_trace(sim, stdout);
                if (r < 0)
                        rc_log_error("writing the trace: %s", strerror(-r));
        }
        if (r >= 0)
                summary(sim);
        rc_sim_free(sim);
        return r < 0 ? RC_EXIT_FAILURE : RC_EXIT_OK;
}
