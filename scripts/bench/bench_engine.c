/* bench_engine — what the coaching engine costs, and how fast it stops a runaway.
 *
 * Not a test: it prints figures.
 *   kill      wall time from entering a callback that loops forever to the engine
 *             getting control back (the instruction budget, default 2,000,000)
 *   hostile   for each plugin of tests/hostile (or argv[2]): wall time of the
 *             motion events it attacks in, until it is disabled (total, and the
 *             longest single event: how long it held the loop at most)
 *   dispatch  CPU time per event delivered to a plugin with a trivial handler
 *   shipped   CPU time per motion event through every shipped plugin
 *   memory    a plugin's Lua heap after loading
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/session.h"
#include "engine/engine.h"
#include "util/log.h"

static double now_s(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

static struct rc_engine *engine_for(const char *dir, struct rc_session *s, unsigned failures) {
        struct rc_engine_opts o = {.n_dirs = 1, .dirs = {dir}, .max_failures = failures};
        struct rc_engine *e;

        o.profile = (struct rc_profile){.height_cm = 170, .weight_kg = 70};
        if (rc_engine_new(&o, &e) < 0 || rc_engine_load_all(e) < 1) {
                fprintf(stderr, "bench_engine: cannot load plugins from %s\n", dir);
                exit(1);
        }
        rc_session_init(s);
        rc_engine_attach(e, s, NULL, NULL);
        rc_session_begin(s, 0, NULL, NULL);
        return e;
}

/* Deliver n motion events through the session's bus; CPU seconds per event. */
static double per_event(struct rc_session *s, unsigned n) {
        struct rc_event ev = {.type = RC_EV_MOTION, .device = "AA:BB:CC:DD:EE:01"};
        double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

        ev.motion.force_n = 250;
        for (unsigned i = 0; i < n; i++) {
                ev.t_ms = 1000 + i * 100;
                ev.motion.speed_cm_s = 2.5 + (i % 7) * 0.1;
                ev.motion.travel_cm = (double)(i % 200) / 10.0;
                ev.motion.jerk = 0.1;
                rc_event_bus_emit(&s->bus, &ev);
        }
        return (now_s(CLOCK_PROCESS_CPUTIME_ID) - t0) / n;
}

static void usage(FILE *f) {
        fprintf(f, "Usage: bench_engine [SHIPPED_PLUGIN_DIR [HOSTILE_PLUGIN_DIR]]\n\n"
                   "What the coaching engine costs, and how fast it stops a runaway plugin;\n"
                   "prints figures, asserts nothing:\n"
                   "  kill      wall time from entering a callback that loops forever to the\n"
                   "            engine getting control back (the instruction budget)\n"
                   "  dispatch  CPU time per event delivered to a trivial handler\n"
                   "  shipped   CPU time per motion event through every shipped plugin\n"
                   "            (from SHIPPED_PLUGIN_DIR, default the source tree's plugins/)\n"
                   "  memory    a plugin's Lua heap after loading\n"
                   "  hostile   each plugin of HOSTILE_PLUGIN_DIR (default tests/hostile) alone:\n"
                   "            events and time until the sandbox disables it\n");
}

static int lua_file(const struct dirent *d) {
        size_t n = strlen(d->d_name);

        return n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

/* Each hostile plugin alone: motion events until it is disabled (at most 100). */
static void hostile(const char *from, struct rc_session *s) {
        char dir[] = "/tmp/rc-bench-hostile-XXXXXX", src[512], dst[512];
        struct dirent **list;
        int n = scandir(from, &list, lua_file, alphasort);

        if (n < 0 || !mkdtemp(dir))
                return;
        for (int i = 0; i < n; i++) {
                struct rc_engine_plugin_info info = {0};
                struct rc_engine *e;
                double total = 0, longest = 0;
                unsigned events = 0;
                char cmd[1200];

                snprintf(src, sizeof(src), "%s/%s", from, list[i]->d_name);
                snprintf(dst, sizeof(dst), "%s/%s", dir, list[i]->d_name);
                snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
                if (system(cmd) != 0)
                        continue;
                e = engine_for(dir, s, 0); /* the default: disabled after 5 failures */
                for (; events < 100; events++) {
                        double t0 = now_s(CLOCK_MONOTONIC), dt;

                        per_event(s, 1);
                        dt = now_s(CLOCK_MONOTONIC) - t0;
                        total += dt;
                        longest = dt > longest ? dt : longest;
                        rc_engine_plugin_info(e, 0, &info);
                        if (!info.enabled)
                                break;
                }
                printf("hostile   %-28s %s after %3u events: %7.2f ms in all, %6.2f ms the "
                       "longest\n",
                       list[i]->d_name, info.enabled ? "STILL ENABLED" : "disabled", events + 1,
                       total * 1e3, longest * 1e3);
                fflush(stdout);
                rc_engine_free(e);
                unlink(dst);
                free(list[i]);
        }
        free(list);
        rmdir(dir);
}

int main(int argc, char **argv) {
        char dir[] = "/tmp/rc-bench-engine-XXXXXX", path[256];
        const char *shipped = argc > 1 ? argv[1] : RC_SOURCE_PLUGIN_DIR;
        struct rc_session *s = malloc(sizeof(*s));
        struct rc_engine *e;
        struct rc_engine_plugin_info info;
        double kills[20];

        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                usage(stdout);
                return 0;
        }
        if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
                fprintf(stderr, "bench_engine: unexpected argument '%s'\n", argv[argc - 1]);
                fprintf(stderr, "Try 'bench_engine --help'.\n");
                return 2;
        }
        rc_log_set_max_level(RC_LOG_ERR - 1); /* quiet: the kills are expected */
        if (!s || !mkdtemp(dir))
                return 1;

        /* kill: each motion event runs into an endless loop */
        snprintf(path, sizeof(path), "%s/loop.lua", dir);
        write_file(path, "coach.plugin{api = 1}\n"
                         "coach.on('motion', function() while true do end end)\n");
        for (int k = 0; k < 20; k++) {
                double t0;

                /* a fresh engine each time: a killed plugin is disabled */
                e = engine_for(dir, s, 1000000);
                t0 = now_s(CLOCK_MONOTONIC);
                per_event(s, 1);
                kills[k] = now_s(CLOCK_MONOTONIC) - t0;
                rc_engine_free(e);
        }
        {
                double min = kills[0], max = kills[0], sum = 0;

                for (int k = 0; k < 20; k++) {
                        min = kills[k] < min ? kills[k] : min;
                        max = kills[k] > max ? kills[k] : max;
                        sum += kills[k];
                }
                printf("kill      a runaway callback is stopped after %.2f ms (min %.2f, max "
                       "%.2f; 20 runs, budget 2,000,000 instructions)\n",
                       sum / 20 * 1e3, min * 1e3, max * 1e3);
        }
        unlink(path);

        /* dispatch: a trivial handler */
        snprintf(path, sizeof(path), "%s/trivial.lua", dir);
        write_file(path, "coach.plugin{api = 1}\nlocal n = 0\n"
                         "coach.on('motion', function(ev) n = n + ev.speed_cm_s end)\n");
        e = engine_for(dir, s, 1000000);
        per_event(s, 10000);
        printf("dispatch  %.2f us of CPU per event to a plugin with a trivial handler\n",
               per_event(s, 200000) * 1e6);
        rc_engine_plugin_info(e, 0, &info);
        printf("memory    %.1f KiB of Lua heap for a small plugin after loading\n",
               info.memory / 1024.0);
        rc_engine_free(e);
        unlink(path);
        rmdir(dir);

        hostile(argc > 2 ? argv[2] : RC_SOURCE_PLUGIN_DIR "/../tests/hostile", s);

        /* the shipped plugins, free session */
        e = engine_for(shipped, s, 1000000);
        per_event(s, 1000);
        printf("shipped   %.2f us of CPU per motion event through all %u shipped plugins:",
               per_event(s, 50000) * 1e6, rc_engine_plugin_count(e));
        for (unsigned i = 0; rc_engine_plugin_info(e, i, &info) == 0; i++)
                printf(" %s %.0f KiB;", info.name, info.memory / 1024.0);
        printf("\n");
        rc_engine_free(e);
        free(s);
        return 0;
}
