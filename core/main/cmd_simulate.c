/* rollcoach simulate — a scenario file (docs/scenario-format.md) in, a trace
 * (spec/trace-format.md) out. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "main/commands.h"
#include "sim/sim.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: rollcoach simulate SCENARIO [-o FILE] [--seed N]\n"
                   "\n"
                   "Simulate a described session (see docs/scenario-format.md) and write the raw\n"
                   "BLE notifications a hub would receive from its rollers, body clips and\n"
                   "heart-rate straps, as a trace (spec/trace-format.md).\n"
                   "\n"
                   "  -o, --output FILE  write the trace to FILE (atomically, through FILE.tmp)\n"
                   "                     instead of standard output\n"
                   "      --seed N       override the scenario's seed (decimal or 0x hex)\n"
                   "  -h, --help         show this help\n"
                   "\n"
                   "A summary per device (notifications, lost, corrupted, samples) goes to\n"
                   "standard error. The same scenario and seed always give the same bytes.\n"
                   "\n"
                   "Exit status: 0 done, 1 I/O failure (cannot read the scenario or write the\n"
                   "trace), 2 bad command line, 3 errors in the scenario (each reported as\n"
                   "FILE:LINE: what).\n");
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
                        "rollcoach: %s %s %s: %" PRIu64 " notifications, %" PRIu64 " lost, %" PRIu64
                        " corrupted, %" PRIu64 " samples\n",
                        kinds[st->kind <= RC_KIND_HR ? st->kind : 0], st->label, st->addr,
                        st->packets, st->lost, st->corrupted, st->samples);
        }
}

int rc_cmd_simulate(int argc, char **argv) {
        static const struct option options[] = {
                {"output", required_argument, NULL, 'o'},
                {"seed", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *output = NULL, *path;
        struct rc_sim *sim = NULL;
        char *tmp = NULL;
        uint64_t seed = 0;
        bool seed_set = false;
        FILE *f = stdout;
        int c, r, ret = RC_EXIT_FAILURE;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+o:h", options, NULL)) != -1) {
                switch (c) {
                case 'o':
                        output = optarg;
                        break;
                case 's':
                        if (parse_seed(optarg, &seed) < 0) {
                                fprintf(stderr,
                                        "rollcoach simulate: --seed wants an unsigned "
                                        "64-bit integer, got '%s'\n",
                                        optarg);
                                return RC_EXIT_USAGE;
                        }
                        seed_set = true;
                        break;
                case 'h':
                        usage(stdout);
                        return RC_EXIT_OK;
                default:
                        usage(stderr);
                        return RC_EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                fprintf(stderr, "rollcoach simulate: %s\n\n",
                        argc - optind < 1 ? "a scenario file is required" : "too many arguments");
                usage(stderr);
                return RC_EXIT_USAGE;
        }
        path = argv[optind];

        r = rc_sim_new_from_file(path, &sim);
        if (r == -EINVAL) {
                fprintf(stderr, "rollcoach simulate: %s: not simulated, see the errors above\n",
                        path);
                return RC_EXIT_INPUT;
        }
        if (r < 0) {
                fprintf(stderr, "rollcoach simulate: %s: %s\n", path, strerror(-r));
                return RC_EXIT_FAILURE;
        }
        if (seed_set)
                rc_sim_set_seed(sim, seed);

        if (output) {
                size_t n = strlen(output) + 5;

                tmp = malloc(n);
                if (!tmp) {
                        fprintf(stderr, "rollcoach simulate: out of memory\n");
                        goto out;
                }
                snprintf(tmp, n, "%s.tmp", output);
                f = fopen(tmp, "w");
                if (!f) {
                        fprintf(stderr, "rollcoach simulate: %s: %s\n", tmp, strerror(errno));
                        goto out;
                }
        }
        r = rc_sim_write_trace(sim, f);
        if (output) {
                if (fclose(f) != 0 && r >= 0)
                        r = -errno;
                f = NULL;
                if (r >= 0 && rename(tmp, output) < 0)
                        r = -errno;
                if (r < 0)
                        remove(tmp);
        }
        if (r < 0) {
                fprintf(stderr, "rollcoach simulate: writing %s: %s\n", output ? output : "stdout",
                        strerror(-r));
                goto out;
        }
        summary(sim);
        ret = RC_EXIT_OK;
out:
        free(tmp);
        rc_sim_free(sim);
        return ret;
}
