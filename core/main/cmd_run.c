/* rollcoach run — the hub: the BlueZ gateway feeding the session live, on one
 * libuv loop; rollcoach record — the same, also writing every notification to a
 * trace that replays to the same events. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "analysis/session.h"
#include "gateway/gateway.h"
#include "main/coaching.h"
#include "main/commands.h"
#include "replay/trace.h"
#include "util/log.h"

#define DEFAULT_CONFIG "/etc/rollcoach/rollcoach.conf"
#define STOP_TIMEOUT_MS 4000 /* BlueZ answers Disconnect after its 2 s disconnect timer */
#define RELOAD_DEBOUNCE_MS 300
#define MAX_RELOADS 8

enum { OPT_BUS = RC_OPT__NEXT, OPT_DEVICE, OPT_NO_ACQUIRE, OPT_DURATION, OPT_RECORD };

struct hub {
        const char *command;
        uv_loop_t *loop;
        struct rc_config config;
        struct rc_session_cli cli;
        struct rc_session *session;
        struct rc_session_outputs out;
        struct rc_gateway *gw;
        uint64_t t0_us;
        bool begun, stopping, ready_sent;
        int exit_code;

        uv_signal_t sigterm, sigint;
        uv_timer_t engine_timer, watchdog_timer, ready_timer, duration_timer, reload_timer;
        uv_fs_event_t watch[RC_ENGINE_MAX_DIRS];
        unsigned n_watch;
        char reloads[MAX_RELOADS][4096];
        unsigned n_reloads;

        const char *record_path;
        FILE *record;
        bool record_failed;

        /* the cost while streaming (benchmark) */
        uint64_t n_notifications, n_streamed;
        double cpu_first_us, cpu_streaming_us;
};

static void usage(FILE *f, const char *command) {
        fprintf(f,
                "Usage: rollcoach %s%s [OPTIONS]\n\n"
                "The hub: find the user's roller, body clip and heart-rate strap through BlueZ,\n"
                "connect them, and coach the session live with the plugins. Runs until SIGTERM\n"
                "or SIGINT (devices disconnected, outputs flushed, exit 0), until the session\n"
                "ends (a long press, or the routine's end), or for --duration.%s\n\n"
                "Options:\n"
                "  -c, --config FILE    the configuration (default " DEFAULT_CONFIG " if it\n"
                "                       exists): [profile], [plugins], [devices]\n"
                "      --device KIND=ADDRESS  use this roller, body or hr (repeatable; over\n"
                "                       [devices]; otherwise the first of each kind found);\n"
                "                       --device all: every one found, up to 8\n"
                "      --bus ADDRESS    the D-Bus bus where BlueZ is (default: the system bus;\n"
                "                       DBUS_SYSTEM_BUS_ADDRESS is honoured)\n"
                "      --no-acquire     never AcquireNotify: always StartNotify\n"
                "      --duration SECONDS  stop after this long\n"
                "%s",
                command, strcmp(command, "record") == 0 ? " TRACE" : "",
                strcmp(command, "record") == 0
                        ? "\nEvery connect, disconnect, read value and notification is also\n"
                          "written to TRACE; `rollcoach replay TRACE` gives the same events."
                        : "",
                strcmp(command, "run") == 0
                        ? "      --record TRACE   also write what arrives to TRACE (as `record`)\n"
                        : "");
        fputs(rc_session_options_help, f);
        fprintf(f, "\nLog lines go to standard error (journald reads their priority). Under\n"
                   "systemd it sends READY=1 once connected to BlueZ's objects, and WATCHDOG=1\n"
                   "when WatchdogSec is set. Plugins are reloaded when their files change.\n\n"
                   "Exit status: 0 stopped, 1 run-time failure (no D-Bus, writing output),\n"
                   "2 bad command line, 3 configuration errors.\n");
}

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t session_ms(const struct hub *h) {
        return (int64_t)((now_us() - h->t0_us) / 1000);
}

static double cpu_us(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- shutting down ------------------------------------------------------------------ */

static void close_handle(uv_handle_t *handle) {
        if (!uv_is_closing(handle))
                uv_close(handle, NULL);
}

static void on_gateway_stopped(void *userdata) {
        struct hub *h = userdata;

        close_handle((uv_handle_t *)&h->sigterm);
        close_handle((uv_handle_t *)&h->sigint);
        close_handle((uv_handle_t *)&h->engine_timer);
        close_handle((uv_handle_t *)&h->watchdog_timer);
        close_handle((uv_handle_t *)&h->ready_timer);
        close_handle((uv_handle_t *)&h->duration_timer);
        close_handle((uv_handle_t *)&h->reload_timer);
        for (unsigned i = 0; i < h->n_watch; i++)
                close_handle((uv_handle_t *)&h->watch[i]);
}

static void stop(struct hub *h, const char *reason) {
        if (h->stopping)
                return;
        h->stopping = true;
        if (h->n_notifications) {
                h->cpu_streaming_us = cpu_us() - h->cpu_first_us;
                h->n_streamed = h->n_notifications - 1; /* after the first */
        }
        rc_log_notice("stopping: %s", reason);
        sd_notify(0, "STOPPING=1");
        if (h->begun && !h->session->ended)
                rc_session_end(h->session, session_ms(h), "stopped");
        if (h->gw)
                rc_gateway_stop(h->gw, STOP_TIMEOUT_MS, on_gateway_stopped, h);
        else
                on_gateway_stopped(h);
}

static void on_signal(uv_signal_t *s, int signum) {
        stop(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_duration(uv_timer_t *t) {
        stop(t->data, "--duration elapsed");
}

/* ---- the session clock: plugin timers on real time ----------------------------------- */

static void schedule_engine(struct hub *h);

static void on_engine_timer(uv_timer_t *t) {
        struct hub *h = t->data;

        rc_engine_advance(h->out.engine, session_ms(h));
        if (h->session->ended)
                stop(h, "the session ended");
        else
                schedule_engine(h);
}

static void schedule_engine(struct hub *h) {
        int64_t due;

        if (!h->out.engine || h->stopping)
                return;
        due = rc_engine_next_due(h->out.engine);
        if (due == INT64_MAX) {
                uv_timer_stop(&h->engine_timer);
                return;
        }
        due -= session_ms(h);
        uv_timer_start(&h->engine_timer, on_engine_timer, due > 0 ? (uint64_t)due : 0, 0);
}

/* ---- notifications in ------------------------------------------------------------------ */

static void on_notification(const struct rc_notification *n, void *userdata) {
        struct hub *h = userdata;
        int64_t t_ms = (int64_t)(n->t_us / 1000);

        if (h->session->ended)
                return; /* e.g. the disconnects while stopping: not part of the session */
        if (h->n_notifications++ == 0)
                h->cpu_first_us = cpu_us();
        if (h->record && rc_trace_write(h->record, n) < 0 && !h->record_failed) {
                h->record_failed = true;
                rc_log_error("%s: cannot write the trace: %s", h->record_path, strerror(errno));
        }
        /* the session starts with its first notification, as a replay of it does */
        if (!h->begun) {
                h->begun = true;
                rc_session_begin(h->session, t_ms, h->cli.routine, h->cli.step);
        }
        if (h->out.engine)
                rc_engine_advance(h->out.engine, t_ms);
        rc_session_feed(h->session, n);
        if (h->session->ended)
                stop(h, "the session ended");
        else
                schedule_engine(h);
}

/* ---- systemd ---------------------------------------------------------------------------- */

static void on_ready_timer(uv_timer_t *t) {
        struct hub *h = t->data;

        if (!h->ready_sent && h->gw && rc_gateway_ready(h->gw)) {
                h->ready_sent = true;
                sd_notify(0, "READY=1\nSTATUS=Looking for the roller, body clip and strap");
                uv_timer_stop(t);
        }
}

static void on_watchdog(uv_timer_t *t) {
        (void)t;
        sd_notify(0, "WATCHDOG=1");
}

/* ---- hot reload --------------------------------------------------------------------------- */

static void on_reload_timer(uv_timer_t *t) {
        struct hub *h = t->data;

        for (unsigned i = 0; i < h->n_reloads; i++) {
                struct stat st;

                if (stat(h->reloads[i], &st) == 0)
                        rc_engine_reload(h->out.engine, h->reloads[i]);
        }
        h->n_reloads = 0;
        schedule_engine(h);
}

static void on_plugin_dir_event(uv_fs_event_t *w, const char *filename, int events, int status) {
        struct hub *h = w->data;
        char dir[4096], path[4096];
        size_t dir_len = sizeof(dir), n;

        (void)events;
        if (status < 0 || !filename || (n = strlen(filename)) < 5 ||
            strcmp(filename + n - 4, ".lua") != 0 || filename[0] == '.')
                return;
        if (uv_fs_event_getpath(w, dir, &dir_len) < 0)
                return;
        snprintf(path, sizeof(path), "%.*s/%s", (int)dir_len, dir, filename);
        for (unsigned i = 0; i < h->n_reloads; i++)
                if (strcmp(h->reloads[i], path) == 0)
                        goto debounce;
        if (h->n_reloads < MAX_RELOADS)
                snprintf(h->reloads[h->n_reloads++], sizeof(h->reloads[0]), "%s", path);
debounce:
        /* editors write a file in several steps: wait for them to finish */
        uv_timer_start(&h->reload_timer, on_reload_timer, RELOAD_DEBOUNCE_MS, 0);
}

static void watch_plugins(struct hub *h) {
        for (unsigned i = 0; h->out.engine && i < rc_engine_dir_count(h->out.engine); i++) {
                const char *dir = rc_engine_dir(h->out.engine, i);
                uv_fs_event_t *w = &h->watch[h->n_watch];
                struct stat st;

                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue; /* a default directory nobody made */
                uv_fs_event_init(h->loop, w);
                w->data = h;
                h->n_watch++; /* closed with the others, started or not */
                if (uv_fs_event_start(w, on_plugin_dir_event, dir, 0) < 0)
                        rc_log_warning("%s: cannot watch it: plugins there will not reload", dir);
        }
}

/* ---- the command ------------------------------------------------------------------------- */

static int parse_device(struct rc_gateway_opts *go, const char *arg) {
        static const char *const kinds[] = {
                [RC_KIND_ROLLER] = "roller", [RC_KIND_BODY] = "body", [RC_KIND_HR] = "hr"};
        const char *eq = strchr(arg, '=');

        if (strcmp(arg, "all") == 0) {
                go->all = true;
                return 0;
        }
        for (unsigned k = RC_KIND_ROLLER; eq && k <= RC_KIND_HR; k++)
                if (strlen(kinds[k]) == (size_t)(eq - arg) &&
                    strncmp(arg, kinds[k], eq - arg) == 0 &&
                    rc_addr_parse(eq + 1, strlen(eq + 1), &go->want[k]) == 0) {
                        go->has_want[k] = true;
                        return 0;
                }
        return -EINVAL;
}

/* The hub's own cost (for the gateway benchmark): CPU per notification while
 * streaming (from the first notification to the stop: start-up and shutdown left
 * out), the whole run's CPU, and peak RSS. */
static void report_usage(const struct hub *h) {
        uint64_t n = h->n_streamed;
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr,
                "usage: notifications=%llu cpu_us=%.0f us_per_notification=%.2f "
                "total_cpu_us=%.0f maxrss_kb=%ld\n",
                (unsigned long long)n, h->cpu_streaming_us,
                n ? h->cpu_streaming_us / (double)n : 0.0, cpu_us(), ru.ru_maxrss);
}

static int hub_main(int argc, char **argv, const char *command) {
        static const struct option options[] = {
                RC_SESSION_OPTIONS,
                {"config", required_argument, NULL, 'c'},
                {"bus", required_argument, NULL, OPT_BUS},
                {"device", required_argument, NULL, OPT_DEVICE},
                {"no-acquire", no_argument, NULL, OPT_NO_ACQUIRE},
                {"duration", required_argument, NULL, OPT_DURATION},
                {"record", required_argument, NULL, OPT_RECORD},
                {0},
        };
        struct hub h = {.command = command, .loop = uv_default_loop()};
        struct rc_gateway_opts go = {0}, cli_devices = {0};
        const char *config_path = NULL;
        struct stat st;
        double duration = 0;
        uint64_t watchdog_us;
        int c, r, ret;

        rc_session_cli_init(&h.cli);
        optind = 1;
        while ((c = getopt_long(argc, argv, RC_SESSION_SHORT "c:", options, NULL)) != -1) {
                r = rc_session_cli_option(&h.cli, c, optarg, command);
                if (r < 0)
                        return RC_EXIT_USAGE;
                if (r > 0)
                        continue;
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case OPT_BUS:
                        go.bus_address = optarg;
                        break;
                case OPT_DEVICE:
                        if (parse_device(&cli_devices, optarg) < 0) {
                                fprintf(stderr,
                                        "rollcoach %s: --device wants roller=, body= or "
                                        "hr= and an address, got '%s'\n",
                                        command, optarg);
                                return RC_EXIT_USAGE;
                        }
                        break;
                case OPT_NO_ACQUIRE:
                        go.no_acquire = true;
                        break;
                case OPT_DURATION: {
                        char *end;

                        duration = strtod(optarg, &end);
                        if (*end || !(duration > 0 && duration < 1e7)) {
                                fprintf(stderr, "rollcoach %s: --duration wants seconds\n",
                                        command);
                                return RC_EXIT_USAGE;
                        }
                        break;
                }
                case OPT_RECORD:
                        if (strcmp(command, "run") != 0)
                                goto bad;
                        h.record_path = optarg;
                        break;
                case 'h':
                        usage(stdout, command);
                        return RC_EXIT_OK;
                default:
                bad:
                        usage(stderr, command);
                        return RC_EXIT_USAGE;
                }
        }
        if (strcmp(command, "record") == 0) {
                if (optind != argc - 1) {
                        fprintf(stderr, "rollcoach record: expected one TRACE argument\n\n");
                        usage(stderr, command);
                        return RC_EXIT_USAGE;
                }
                h.record_path = argv[optind++];
        }
        if (optind != argc) {
                usage(stderr, command);
                return RC_EXIT_USAGE;
        }
        if (rc_session_cli_check(&h.cli, command) < 0)
                return RC_EXIT_USAGE;
        if (!config_path && stat(DEFAULT_CONFIG, &st) == 0)
                config_path = DEFAULT_CONFIG;
        ret = rc_load_config(&h.config, config_path);
        if (ret != RC_EXIT_OK)
                return ret;

        h.session = malloc(sizeof(*h.session));
        if (!h.session)
                return RC_EXIT_FAILURE;
        rc_session_init(h.session);
        ret = rc_session_outputs_open(&h.out, &h.cli, &h.config, h.session, false, true);
        if (ret != RC_EXIT_OK)
                goto out;
        if (h.record_path) {
                h.record = fopen(h.record_path, "w");
                if (!h.record || rc_trace_write_header(h.record) < 0) {
                        rc_log_error("%s: %s", h.record_path, strerror(errno));
                        ret = RC_EXIT_FAILURE;
                        goto out;
                }
        }

        /* devices: --device over [devices] */
        go.all = cli_devices.all;
        for (unsigned k = RC_KIND_ROLLER; k <= RC_KIND_HR; k++) {
                if (cli_devices.has_want[k]) {
                        go.want[k] = cli_devices.want[k];
                        go.has_want[k] = true;
                } else if (h.config.devices.has[k]) {
                        memcpy(go.want[k].b, h.config.devices.addr[k], 6);
                        go.has_want[k] = true;
                }
        }
        h.t0_us = now_us();
        go.loop = h.loop;
        go.notify = on_notification;
        go.userdata = &h;
        go.t0_us = h.t0_us;
        if (rc_gateway_start(&go, &h.gw) < 0) {
                ret = RC_EXIT_FAILURE;
                goto out;
        }

        uv_signal_init(h.loop, &h.sigterm);
        uv_signal_init(h.loop, &h.sigint);
        h.sigterm.data = h.sigint.data = &h;
        uv_signal_start(&h.sigterm, on_signal, SIGTERM);
        uv_signal_start(&h.sigint, on_signal, SIGINT);
        uv_timer_init(h.loop, &h.engine_timer);
        uv_timer_init(h.loop, &h.watchdog_timer);
        uv_timer_init(h.loop, &h.ready_timer);
        uv_timer_init(h.loop, &h.duration_timer);
        uv_timer_init(h.loop, &h.reload_timer);
        h.engine_timer.data = h.watchdog_timer.data = h.ready_timer.data = &h;
        h.duration_timer.data = h.reload_timer.data = &h;
        uv_timer_start(&h.ready_timer, on_ready_timer, 50, 50);
        if (sd_watchdog_enabled(0, &watchdog_us) > 0)
                uv_timer_start(&h.watchdog_timer, on_watchdog, watchdog_us / 2000,
                               watchdog_us / 2000);
        if (duration > 0)
                uv_timer_start(&h.duration_timer, on_duration, (uint64_t)(duration * 1000), 0);
        watch_plugins(&h);
        rc_log_notice("%s: started (%s)", command, h.cli.routine ? h.cli.routine : "free session");

        uv_run(h.loop, UV_RUN_DEFAULT);
        ret = RC_EXIT_OK;

        if (!h.cli.quiet) {
                struct rc_gateway_stats gs;

                rc_gateway_stats(h.gw, &gs);
                rc_session_report(h.session, stderr);
                rc_session_outputs_report(&h.out);
                fprintf(stderr,
                        "bluez: %llu connections, %llu failed attempts, %llu disconnects, %llu "
                        "bluetoothd restarts; notifications: %llu by fd, %llu by signal; %llu "
                        "malformed replies\n",
                        (unsigned long long)gs.connects, (unsigned long long)gs.connect_failures,
                        (unsigned long long)gs.disconnects, (unsigned long long)gs.bluez_restarts,
                        (unsigned long long)gs.via_fd, (unsigned long long)gs.via_signal,
                        (unsigned long long)gs.malformed);
                report_usage(&h);
        }
out:
        rc_gateway_free(h.gw);
        if (h.record && (fclose(h.record) != 0 || h.record_failed) && ret == RC_EXIT_OK) {
                rc_log_error("%s: the trace is incomplete", h.record_path);
                ret = RC_EXIT_FAILURE;
        }
        ret = rc_session_outputs_close(&h.out, &h.cli, ret);
        free(h.session);
        uv_loop_close(h.loop);
        return ret;
}

int rc_cmd_run(int argc, char **argv) {
        return hub_main(argc, argv, "run");
}

int rc_cmd_record(int argc, char **argv) {
        return hub_main(argc, argv, "record");
}
