/* rollcoach run — the hub (hub/hub.h): the BlueZ gateway feeding sessions live,
 * on one libuv loop, with the coaching spoken and shown (docs/headless.md);
 * rollcoach record — one session, also writing every notification to a trace that
 * replays to the same events. Here: the command line, the configuration merged
 * with it, the process's signals, --duration, systemd's watchdog, and the report. */
#include <signal.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "hub/hub.h"
#include "main/commands.h"
#include "util/log.h"
#include "util/peak_rss.h"

#define DEFAULT_CONFIG "/etc/rollcoach/rollcoach.conf"

enum {
        OPT_BUS = RC_OPT__NEXT,
        OPT_DEVICE,
        OPT_NO_ACQUIRE,
        OPT_DURATION,
        OPT_RECORD,
        OPT_ONCE,
        OPT_VOICE,
        OPT_WAV_DIR,
        OPT_VOICE_TIMELINE,
};

static void usage(FILE *f, const char *command) {
        bool record = strcmp(command, "record") == 0;

        fprintf(f,
                "Usage: rollcoach %s%s [OPTIONS]\n\n"
                "The hub: find the user's roller, body clip and heart-rate strap through BlueZ,\n"
                "connect them, and coach sessions live with the plugins.%s\n\n"
                "Options:\n"
                "  -c, --config FILE    the configuration (default " DEFAULT_CONFIG " if it\n"
                "                       exists): [profile], [plugins], [devices], [session]…\n"
                "      --device KIND=ADDRESS  use this roller, body or hr (repeatable; over\n"
                "                       [devices]; otherwise the first of each kind found);\n"
                "                       --device all: every one found, up to 8\n"
                "      --bus ADDRESS    the D-Bus bus where BlueZ is (default: the system bus;\n"
                "                       DBUS_SYSTEM_BUS_ADDRESS is honoured)\n"
                "      --no-acquire     never AcquireNotify: always StartNotify\n"
                "      --duration SECONDS  stop after this long\n"
                "      --voice alsa|wav|off  where the coach speaks (over [voice] output)\n"
                "      --wav-dir DIR    with wav: one WAV file an utterance here (over\n"
                "                       [voice] wav_dir)\n"
                "      --voice-timeline FILE  every voice decision (queued, start,\n"
                "                       first_sample, done, cut, dropped…) as JSON Lines\n"
                "%s",
                command, record ? " TRACE" : "",
                record ? " One session, from the first\n"
                         "notification until SIGTERM/SIGINT, a long press or the routine's end;\n"
                         "every connect, disconnect, read value and notification is also written\n"
                         "to TRACE, and `rollcoach replay TRACE` gives the same events."
                       : "\nSessions start and end by themselves ([session]): a roller taking a "
                         "load\n"
                         "or a short press starts one; completion, a long press, idle_minutes\n"
                         "without rolling or the roller leaving ends it; the hub says so. Runs\n"
                         "until SIGTERM or SIGINT (the session ended, devices disconnected,\n"
                         "outputs flushed, exit 0) or --duration.",
                record ? ""
                       : "      --once           one session, from the first notification (as "
                         "record)\n"
                         "      --record TRACE   also write what arrives to TRACE (implies "
                         "--once)\n");
        fputs(rc_session_options_help, f);
        fprintf(f, "\nLog lines go to standard error (journald reads their priority). Under\n"
                   "systemd it sends READY=1 once connected to BlueZ's objects, and WATCHDOG=1\n"
                   "when WatchdogSec is set. Plugins are reloaded when their files change.\n\n"
                   "Exit status: 0 stopped, 1 run-time failure (no D-Bus, writing output),\n"
                   "2 bad command line, 3 configuration errors.\n");
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
                    strncmp(arg, kinds[k], (size_t)(eq - arg)) == 0 &&
                    rc_addr_parse(eq + 1, strlen(eq + 1), &go->want[k]) == 0) {
                        go->has_want[k] = true;
                        return 0;
                }
        return -EINVAL;
}

/* The hub's own cost (for the gateway benchmark): CPU per notification while
 * streaming (from the first notification to the stop: start-up and shutdown left
 * out), the whole run's CPU, and peak RSS. */
static void report_usage(const struct rc_hub_stats *st) {
        uint64_t n = st->streamed;
        long peak_kb = -1; /* -1: unknown */

        (void)rc_peak_rss_kb(&peak_kb);
        fprintf(stderr,
                "usage: notifications=%llu cpu_us=%.0f us_per_notification=%.2f "
                "total_cpu_us=%.0f peak_rss_kb=%ld\n",
                (unsigned long long)n, st->cpu_streaming_us,
                n ? st->cpu_streaming_us / (double)n : 0.0, st->cpu_total_us, peak_kb);
}

static void report(const struct rc_hub *h) {
        struct rc_hub_stats st;
        const struct rc_gateway_stats *gs = &st.gateway;

        rc_hub_stats(h, &st);
        fprintf(stderr,
                "hub: %u sessions; bluez: %llu connections, %llu failed attempts, %llu "
                "disconnects, %llu bluetoothd restarts; notifications: %llu by fd, %llu by "
                "signal; %llu malformed replies\n",
                st.sessions, (unsigned long long)gs->connects,
                (unsigned long long)gs->connect_failures, (unsigned long long)gs->disconnects,
                (unsigned long long)gs->bluez_restarts, (unsigned long long)gs->via_fd,
                (unsigned long long)gs->via_signal, (unsigned long long)gs->malformed);
        if (st.has_voice) {
                const struct rc_voice_stats *vs = &st.voice;

                fprintf(stderr,
                        "voice: %llu said, %llu cut off, %llu repeats held back, %llu replaced "
                        "by a newer text, %llu stale dropped, %llu dropped and %llu refused for "
                        "room, %llu failed",
                        (unsigned long long)vs->said, (unsigned long long)vs->cut,
                        (unsigned long long)vs->repeats, (unsigned long long)vs->replaced,
                        (unsigned long long)vs->dropped_stale, (unsigned long long)vs->dropped_full,
                        (unsigned long long)vs->refused_full, (unsigned long long)vs->failed);
                if (vs->said)
                        fprintf(stderr,
                                "; say to first sample: min %.0f ms, median %.0f ms, max %.0f "
                                "ms",
                                vs->latency_min_ms, vs->latency_median_ms, vs->latency_max_ms);
                if (!isnan(vs->safety_latency_max_ms))
                        fprintf(stderr, " (safety: max %.0f ms)", vs->safety_latency_max_ms);
                fputc('\n', stderr);
        }
        if (st.has_leds)
                fprintf(stderr, "leds: %llu changes, %llu write errors\n",
                        (unsigned long long)st.leds.changes,
                        (unsigned long long)st.leds.write_errors);
        if (st.has_button)
                fprintf(stderr,
                        "hub button: %llu short, %llu long, %llu double presses; %llu bounces "
                        "ignored\n",
                        (unsigned long long)st.button.shorts, (unsigned long long)st.button.longs,
                        (unsigned long long)st.button.doubles,
                        (unsigned long long)st.button.bounces);
        report_usage(&st);
}

/* ---- what the program keeps on the loop: signals, --duration, the watchdog ------------- */

struct program {
        struct rc_hub *hub;
        uv_signal_t sigterm, sigint;
        uv_timer_t watchdog_timer, duration_timer;
};

static void on_signal(uv_signal_t *s, int signum) {
        struct program *p = s->data;

        rc_hub_stop(p->hub, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_duration(uv_timer_t *t) {
        struct program *p = t->data;

        rc_hub_stop(p->hub, "--duration elapsed");
}

static void on_watchdog(uv_timer_t *t) {
        (void)t;
        sd_notify(0, "WATCHDOG=1");
}

/* the hub has stopped: close ours, so that the loop runs out */
static void on_hub_stop(void *userdata) {
        struct program *p = userdata;

        uv_close((uv_handle_t *)&p->sigterm, NULL);
        uv_close((uv_handle_t *)&p->sigint, NULL);
        uv_close((uv_handle_t *)&p->watchdog_timer, NULL);
        uv_close((uv_handle_t *)&p->duration_timer, NULL);
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
                {"once", no_argument, NULL, OPT_ONCE},
                {"voice", required_argument, NULL, OPT_VOICE},
                {"wav-dir", required_argument, NULL, OPT_WAV_DIR},
                {"voice-timeline", required_argument, NULL, OPT_VOICE_TIMELINE},
                {0},
        };
        struct rc_hub_opts o = {0};
        struct rc_gateway_opts *go = &o.gateway, cli_devices = {0};
        struct program p = {0};
        const char *config_path = NULL, *wav_dir = NULL;
        int voice_output = -1; /* enum rc_voice_output, over [voice] output */
        struct stat st;
        double duration = 0;
        uint64_t watchdog_us;
        int c, r, ret = RC_EXIT_USAGE;
        bool record = strcmp(command, "record") == 0;

        o.command = command;
        o.loop = uv_default_loop();
        o.once = record;
        rc_session_cli_init(&o.cli);
        optind = 1;
        while ((c = getopt_long(argc, argv, RC_SESSION_SHORT "c:", options, NULL)) != -1) {
                r = rc_session_cli_option(&o.cli, c, optarg, command);
                if (r < 0)
                        goto bad_usage;
                if (r > 0)
                        continue;
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case OPT_BUS:
                        go->bus_address = optarg;
                        break;
                case OPT_DEVICE:
                        if (parse_device(&cli_devices, optarg) < 0) {
                                fprintf(stderr,
                                        "rollcoach %s: --device wants all, or roller=, body= or "
                                        "hr= and an address, got '%s'\n",
                                        command, optarg);
                                goto bad_usage;
                        }
                        break;
                case OPT_NO_ACQUIRE:
                        go->no_acquire = true;
                        break;
                case OPT_DURATION: {
                        char *end;

                        duration = strtod(optarg, &end);
                        if (*end || !(duration > 0 && duration < 1e7)) {
                                fprintf(stderr, "rollcoach %s: --duration wants seconds\n",
                                        command);
                                goto bad_usage;
                        }
                        break;
                }
                case OPT_RECORD:
                case OPT_ONCE:
                        if (record) {
                                fprintf(stderr, "rollcoach record: --once and --record are "
                                                "for run (record is one session)\n");
                                goto bad_usage;
                        }
                        o.once = true;
                        if (c == OPT_RECORD)
                                o.record_path = optarg;
                        break;
                case OPT_VOICE:
                        voice_output = rc_voice_output_from_name(optarg);
                        if (voice_output < 0) {
                                fprintf(stderr,
                                        "rollcoach %s: --voice wants alsa, wav or off, got "
                                        "'%s'\n",
                                        command, optarg);
                                goto bad_usage;
                        }
                        break;
                case OPT_WAV_DIR:
                        if (strlen(optarg) >= sizeof(o.config.voice.wav_dir)) {
                                fprintf(stderr, "rollcoach %s: --wav-dir: too long\n", command);
                                goto bad_usage;
                        }
                        wav_dir = optarg;
                        break;
                case OPT_VOICE_TIMELINE:
                        o.voice_timeline_path = optarg;
                        break;
                case 'h':
                        usage(stdout, command);
                        ret = RC_EXIT_OK;
                        goto out_usage;
                default: /* getopt said what */
                        goto bad_usage;
                }
        }
        if (record) {
                if (optind != argc - 1) {
                        fprintf(stderr, "rollcoach record: expected one TRACE argument\n");
                        goto bad_usage;
                }
                o.record_path = argv[optind++];
        }
        if (optind != argc) {
                fprintf(stderr, "rollcoach %s: unexpected argument '%s'\n", command, argv[optind]);
                goto bad_usage;
        }
        if (rc_session_cli_check(&o.cli, command) < 0)
                goto bad_usage;
        if (!config_path && stat(DEFAULT_CONFIG, &st) == 0)
                config_path = DEFAULT_CONFIG;
        ret = rc_load_config(&o.config, config_path);
        if (ret != RC_EXIT_OK)
                goto out_usage;
        if (voice_output >= 0)
                o.config.voice.output = voice_output;
        if (wav_dir)
                snprintf(o.config.voice.wav_dir, sizeof(o.config.voice.wav_dir), "%s", wav_dir);

        /* devices: --device over [devices] */
        go->all = cli_devices.all;
        for (unsigned k = RC_KIND_ROLLER; k <= RC_KIND_HR; k++) {
                if (cli_devices.has_want[k]) {
                        go->want[k] = cli_devices.want[k];
                        go->has_want[k] = true;
                } else if (o.config.devices.has[k]) {
                        memcpy(go->want[k].b, o.config.devices.addr[k], 6);
                        go->has_want[k] = true;
                }
        }
        o.on_stop = on_hub_stop;
        o.userdata = &p;
        /* the voice writes into aplay's pipe: an aplay that dies must fail a write
         * (EPIPE), not end the hub */
        signal(SIGPIPE, SIG_IGN);
        ret = rc_hub_new(&o, &p.hub);
        if (ret != RC_EXIT_OK)
                goto out_loop;

        uv_signal_init(o.loop, &p.sigterm);
        uv_signal_init(o.loop, &p.sigint);
        p.sigterm.data = p.sigint.data = &p;
        uv_signal_start(&p.sigterm, on_signal, SIGTERM);
        uv_signal_start(&p.sigint, on_signal, SIGINT);
        uv_timer_init(o.loop, &p.watchdog_timer);
        uv_timer_init(o.loop, &p.duration_timer);
        p.watchdog_timer.data = p.duration_timer.data = &p;
        if (sd_watchdog_enabled(0, &watchdog_us) > 0)
                uv_timer_start(&p.watchdog_timer, on_watchdog, watchdog_us / 2000,
                               watchdog_us / 2000);
        if (duration > 0)
                uv_timer_start(&p.duration_timer, on_duration, (uint64_t)(duration * 1000), 0);

        uv_run(o.loop, UV_RUN_DEFAULT);
        if (!o.cli.quiet)
                report(p.hub);
        ret = rc_hub_free(p.hub) < 0 ? RC_EXIT_FAILURE : RC_EXIT_OK;
out_loop:
        uv_loop_close(o.loop);
out_usage:
        return ret;
bad_usage:
        return rc_cmd_bad_usage(command);
}

int rc_cmd_run(int argc, char **argv) {
        return hub_main(argc, argv, "run");
}

int rc_cmd_record(int argc, char **argv) {
        return hub_main(argc, argv, "record");
}
