/* rollcoach run — the hub: the BlueZ gateway feeding sessions live, on one libuv
 * loop, with the coaching spoken and shown (docs/headless.md); rollcoach record —
 * one session, also writing every notification to a trace that replays to the
 * same events. The sessions themselves: hub_session.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "analysis/session.h"
#include "decode/gatt.h"
#include "gateway/gateway.h"
#include "gateway/uvbus.h"
#include "main/coaching.h"
#include "main/commands.h"
#include "main/hub.h"
#include "outputs/button.h"
#include "outputs/leds.h"
#include "outputs/voice.h"
#include "replay/trace.h"
#include "util/log.h"
#include "util/peak_rss.h"

#define DEFAULT_CONFIG "/etc/rollcoach/rollcoach.conf"
#define STOP_TIMEOUT_MS 4000 /* BlueZ answers Disconnect after its 2 s disconnect timer */
#define RELOAD_DEBOUNCE_MS 300
#define DRAIN_MS 8000 /* stopping: the goodbye, or a pain stop's advice, said in full */

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

/* the gateway stamps notifications with real µs since t0_us; the session clock
 * follows the data's device time when it comes faster than that */
int64_t rc_hub_now_ms(const struct rc_hub *h) {
        return rc_dataclock_now(&h->clock, (int64_t)(rc_uvbus_now_us() - h->t0_us)) / 1000;
}

static double cpu_us(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- what the hub says ---------------------------------------------------------------- */

void rc_hub_say(struct rc_hub *h, const char *key, const char *text, enum rc_priority p) {
        struct rc_action a = {.kind = RC_ACTION_SAY, .t_ms = rc_hub_now_ms(h), .plugin = "hub"};

        a.say.key = key;
        a.say.text = text;
        a.say.priority = p;
        if (h->out.actions.f)
                rc_jsonl_write_action(&a, &h->out.actions);
        if (h->voice)
                rc_voice_say(h->voice, key, text, p);
}

void rc_hub_led(struct rc_hub *h, enum rc_led_pattern pattern) {
        struct rc_action a = {.kind = RC_ACTION_LED, .t_ms = rc_hub_now_ms(h), .plugin = "hub"};

        a.led.pattern = pattern;
        if (h->out.actions.f && !h->once) /* one session: the plugins' actions only */
                rc_jsonl_write_action(&a, &h->out.actions);
        if (h->leds)
                rc_leds_set(h->leds, pattern);
}

void rc_hub_feedback_sinks(struct rc_hub *h, struct rc_engine *e) {
        if (h->voice)
                rc_engine_add_sink(e, rc_voice_action, h->voice);
        if (h->leds)
                rc_engine_add_sink(e, rc_leds_action, h->leds);
}

/* ---- the voice, the LEDs and the button ----------------------------------------------------- */

static void on_button(enum rc_press press, void *userdata) {
        struct rc_hub *h = userdata;

        if (h->stopping)
                return;
        rc_log_info("hub button: %s press", rc_press_name(press));
        rc_hub_press(h, press);
}

/* mkdir -p DIR (mode 0755): the WAVs' directory, made if missing. 0 or -errno. */
static int make_dirs(const char *dir) {
        char path[RC_CONFIG_PATH_MAX];

        if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        for (char *p = path + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char c = *p;

                *p = '\0';
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = c;
                if (c == '\0')
                        return 0;
        }
}

/* Start what the configuration asks for. The voice is needed (a hub without a
 * screen is silent without it): RC_EXIT_INPUT if it cannot start. LEDs and the
 * button that cannot start are reported and left out: the coaching goes on. */
static int feedback_start(struct rc_hub *h) {
        struct rc_voice_opts vo = {.loop = h->loop, .config = h->config.voice};
        int r;

        if (h->voice_timeline_path) {
                h->voice_timeline = fopen(h->voice_timeline_path, "w");
                if (!h->voice_timeline) {
                        rc_log_error("%s: %s", h->voice_timeline_path, strerror(errno));
                        return RC_EXIT_FAILURE;
                }
                setvbuf(h->voice_timeline, NULL, _IOLBF, 0);
                vo.timeline = h->voice_timeline;
        }
        if (h->config.voice.output == RC_VOICE_WAV && h->config.voice.wav_dir[0]) {
                r = make_dirs(h->config.voice.wav_dir);
                if (r < 0) {
                        rc_log_error("[voice] wav_dir %s: cannot create it: %s",
                                     h->config.voice.wav_dir, strerror(-r));
                        return RC_EXIT_INPUT;
                }
        }
        r = rc_voice_new(&vo, &h->voice);
        if (r < 0) {
                rc_log_error("[voice]: the voice cannot start: %s", strerror(-r));
                return r == -EINVAL ? RC_EXIT_INPUT : RC_EXIT_FAILURE;
        }
        if (h->config.leds.backend != RC_LEDS_OFF) {
                r = rc_leds_new(h->loop, &h->config.leds, &h->leds);
                if (r < 0) {
                        rc_log_error("[leds]: no LEDs (%s); the coaching goes on without them",
                                     strerror(-r));
                        h->leds = NULL;
                }
        }
        if (h->config.button.enabled) {
                r = rc_button_new(h->loop, &h->config.button, on_button, h, &h->button);
                if (r < 0) {
                        rc_log_error("[button]: no hub button (%s); the roller's button still "
                                     "works",
                                     strerror(-r));
                        h->button = NULL;
                }
        }
        return RC_EXIT_OK;
}

static void close_handle(uv_handle_t *handle) {
        if (!uv_is_closing(handle))
                uv_close(handle, NULL);
}

/* The loop runs until their handles are closed: no callback needed. */
static void feedback_close(struct rc_hub *h) {
        close_handle((uv_handle_t *)&h->drain_timer);
        if (h->voice)
                rc_voice_close(h->voice, NULL, NULL);
        if (h->leds)
                rc_leds_close(h->leds, NULL, NULL);
        if (h->button)
                rc_button_close(h->button, NULL, NULL);
}

static void on_drain(uv_timer_t *t) {
        struct rc_hub *h = t->data;
        bool speaking = h->voice && !rc_voice_idle(h->voice);

        if (speaking && rc_hub_now_ms(h) < h->drain_deadline_ms)
                return;
        if (speaking)
                rc_log_warning("stopping: the voice was still speaking after %d s: cut off",
                               DRAIN_MS / 1000);
        feedback_close(h);
}

static void feedback_free(struct rc_hub *h) {
        rc_voice_free(h->voice);
        rc_leds_free(h->leds);
        rc_button_free(h->button);
        h->voice = NULL;
        h->leds = NULL;
        h->button = NULL;
        if (h->voice_timeline)
                fclose(h->voice_timeline);
        h->voice_timeline = NULL;
}

/* ---- shutting down ------------------------------------------------------------------ */

static void on_gateway_stopped(void *userdata) {
        struct rc_hub *h = userdata;

        close_handle((uv_handle_t *)&h->sigterm);
        close_handle((uv_handle_t *)&h->sigint);
        close_handle((uv_handle_t *)&h->engine_timer);
        close_handle((uv_handle_t *)&h->watchdog_timer);
        close_handle((uv_handle_t *)&h->ready_timer);
        close_handle((uv_handle_t *)&h->duration_timer);
        close_handle((uv_handle_t *)&h->reload_timer);
        for (unsigned i = 0; i < h->n_watch; i++)
                close_handle((uv_handle_t *)&h->watch[i]);
        rc_hub_sessions_close(h);
        /* the last words (goodbye, a pain stop's advice) are said in full, within reason */
        h->drain_deadline_ms = rc_hub_now_ms(h) + DRAIN_MS;
        uv_timer_start(&h->drain_timer, on_drain, 0, 50);
}

void rc_hub_stop(struct rc_hub *h, const char *reason) {
        if (h->stopping)
                return;
        h->stopping = true;
        if (h->n_notifications) {
                h->cpu_streaming_us = cpu_us() - h->cpu_first_us;
                h->n_streamed = h->n_notifications - 1; /* after the first */
        }
        rc_log_notice("stopping: %s", reason);
        sd_notify(0, "STOPPING=1");
        rc_hub_end_session(h, "stopped");
        if (h->gw)
                rc_gateway_stop(h->gw, STOP_TIMEOUT_MS, on_gateway_stopped, h);
        else
                on_gateway_stopped(h);
}

static void on_signal(uv_signal_t *s, int signum) {
        rc_hub_stop(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_duration(uv_timer_t *t) {
        rc_hub_stop(t->data, "--duration elapsed");
}

/* ---- the session clock: plugin timers on it, whatever the data's speed ---------------- */

static void on_engine_timer(uv_timer_t *t) {
        struct rc_hub *h = t->data;

        if (!h->out.engine)
                return;
        rc_engine_advance(h->out.engine, rc_hub_now_ms(h));
        rc_hub_settle(h); /* a timer may have ended the session (coach.stop) */
        rc_hub_schedule_engine(h);
}

void rc_hub_schedule_engine(struct rc_hub *h) {
        int64_t due;

        if (!h->out.engine || h->stopping) {
                uv_timer_stop(&h->engine_timer);
                return;
        }
        due = rc_engine_next_due(h->out.engine);
        if (due == INT64_MAX) {
                uv_timer_stop(&h->engine_timer);
                return;
        }
        /* real ms until the session clock reads `due` (rounded up: never early) */
        due = rc_dataclock_real_until(&h->clock, (int64_t)(rc_uvbus_now_us() - h->t0_us),
                                      due * 1000);
        uv_timer_start(&h->engine_timer, on_engine_timer, (uint64_t)(due + 999) / 1000, 0);
}

/* ---- notifications in ------------------------------------------------------------------ */

/* The session clock follows one roller's (else body clip's) IMU times. */
static void follow_device_time(struct rc_hub *h, const struct rc_notification *n) {
        enum rc_char c = rc_gatt_char_from_uuid(&n->uuid);
        struct rc_imu_batch b;
        enum rc_decode_reason why;

        if (n->what != RC_WHAT_VALUE || (c != RC_CHAR_ROLLER_IMU && c != RC_CHAR_BODY_IMU) ||
            rc_decode_imu(n->data, n->len, c == RC_CHAR_BODY_IMU, &b, &why) < 0)
                return;
        if (!h->clock_dev_set) {
                h->clock_dev = n->addr;
                h->clock_dev_set = true;
        }
        if (rc_addr_equal(&h->clock_dev, &n->addr))
                rc_dataclock_observe(&h->clock, (int64_t)n->t_us, b.t0_us);
}

static void on_notification(const struct rc_notification *n, void *userdata) {
        struct rc_hub *h = userdata;
        struct rc_notification m = *n;

        if (h->stopping)
                return; /* e.g. the disconnects while stopping: not part of a session */
        if (h->n_notifications++ == 0)
                h->cpu_first_us = cpu_us();
        follow_device_time(h, n);
        m.t_us = (uint64_t)rc_dataclock_now(&h->clock, (int64_t)n->t_us);
        rc_hub_notification(h, &m);
}

/* ---- systemd ---------------------------------------------------------------------------- */

static void on_ready_timer(uv_timer_t *t) {
        struct rc_hub *h = t->data;

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
        struct rc_hub *h = t->data;

        /* between sessions there is nothing to reload: the next session loads the files */
        for (unsigned i = 0; h->out.engine && i < h->n_reloads; i++) {
                struct stat st;

                if (stat(h->reloads[i], &st) == 0)
                        rc_engine_reload(h->out.engine, h->reloads[i]);
        }
        h->n_reloads = 0;
        rc_hub_schedule_engine(h);
}

static void on_plugin_dir_event(uv_fs_event_t *w, const char *filename, int events, int status) {
        struct rc_hub *h = w->data;
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
        if (h->n_reloads < RC_HUB_MAX_RELOADS)
                snprintf(h->reloads[h->n_reloads++], sizeof(h->reloads[0]), "%s", path);
debounce:
        /* editors write a file in several steps: wait for them to finish */
        uv_timer_start(&h->reload_timer, on_reload_timer, RELOAD_DEBOUNCE_MS, 0);
}

static void watch_plugins(struct rc_hub *h) {
        const char *dirs[RC_ENGINE_MAX_DIRS];
        static char user_dir[4096];
        unsigned n;

        if (h->cli.no_plugins)
                return;
        n = rc_plugin_dirs(&h->cli, &h->config, dirs, user_dir, sizeof(user_dir));
        for (unsigned i = 0; i < n; i++) {
                uv_fs_event_t *w = &h->watch[h->n_watch];
                struct stat st;

                if (stat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                        continue; /* a default directory nobody made */
                uv_fs_event_init(h->loop, w);
                w->data = h;
                h->n_watch++; /* closed with the others, started or not */
                if (uv_fs_event_start(w, on_plugin_dir_event, dirs[i], 0) < 0)
                        rc_log_warning("%s: cannot watch it: plugins there will not reload",
                                       dirs[i]);
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
static void report_usage(const struct rc_hub *h) {
        uint64_t n = h->n_streamed;
        long peak_kb = -1; /* -1: unknown */

        (void)rc_peak_rss_kb(&peak_kb);
        fprintf(stderr,
                "usage: notifications=%llu cpu_us=%.0f us_per_notification=%.2f "
                "total_cpu_us=%.0f peak_rss_kb=%ld\n",
                (unsigned long long)n, h->cpu_streaming_us,
                n ? h->cpu_streaming_us / (double)n : 0.0, cpu_us(), peak_kb);
}

static void report(const struct rc_hub *h) {
        struct rc_gateway_stats gs;

        rc_gateway_stats(h->gw, &gs);
        fprintf(stderr,
                "hub: %u sessions; bluez: %llu connections, %llu failed attempts, %llu "
                "disconnects, %llu bluetoothd restarts; notifications: %llu by fd, %llu by "
                "signal; %llu malformed replies\n",
                h->sessions, (unsigned long long)gs.connects,
                (unsigned long long)gs.connect_failures, (unsigned long long)gs.disconnects,
                (unsigned long long)gs.bluez_restarts, (unsigned long long)gs.via_fd,
                (unsigned long long)gs.via_signal, (unsigned long long)gs.malformed);
        if (h->voice) {
                struct rc_voice_stats vs;

                rc_voice_stats(h->voice, &vs);
                fprintf(stderr,
                        "voice: %llu said, %llu cut off, %llu repeats held back, %llu replaced "
                        "by a newer text, %llu stale dropped, %llu dropped and %llu refused for "
                        "room, %llu failed",
                        (unsigned long long)vs.said, (unsigned long long)vs.cut,
                        (unsigned long long)vs.repeats, (unsigned long long)vs.replaced,
                        (unsigned long long)vs.dropped_stale, (unsigned long long)vs.dropped_full,
                        (unsigned long long)vs.refused_full, (unsigned long long)vs.failed);
                if (vs.said)
                        fprintf(stderr,
                                "; say to first sample: min %.0f ms, median %.0f ms, max %.0f "
                                "ms",
                                vs.latency_min_ms, vs.latency_median_ms, vs.latency_max_ms);
                if (!isnan(vs.safety_latency_max_ms))
                        fprintf(stderr, " (safety: max %.0f ms)", vs.safety_latency_max_ms);
                fputc('\n', stderr);
        }
        if (h->leds) {
                struct rc_leds_stats ls;

                rc_leds_stats(h->leds, &ls);
                fprintf(stderr, "leds: %llu changes, %llu write errors\n",
                        (unsigned long long)ls.changes, (unsigned long long)ls.write_errors);
        }
        if (h->button) {
                struct rc_button_stats bs;

                rc_button_stats(h->button, &bs);
                fprintf(stderr,
                        "hub button: %llu short, %llu long, %llu double presses; %llu bounces "
                        "ignored\n",
                        (unsigned long long)bs.shorts, (unsigned long long)bs.longs,
                        (unsigned long long)bs.doubles, (unsigned long long)bs.bounces);
        }
        report_usage(h);
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
        struct rc_hub *h = calloc(1, sizeof(*h));
        struct rc_gateway_opts go = {0}, cli_devices = {0};
        const char *config_path = NULL, *wav_dir = NULL;
        int voice_output = -1; /* enum rc_voice_output, over [voice] output */
        struct stat st;
        double duration = 0;
        uint64_t watchdog_us;
        int c, r, ret = RC_EXIT_USAGE;
        bool record = strcmp(command, "record") == 0;

        if (!h)
                return RC_EXIT_FAILURE;
        h->command = command;
        h->loop = uv_default_loop();
        h->once = record;
        rc_session_cli_init(&h->cli);
        optind = 1;
        while ((c = getopt_long(argc, argv, RC_SESSION_SHORT "c:", options, NULL)) != -1) {
                r = rc_session_cli_option(&h->cli, c, optarg, command);
                if (r < 0)
                        goto bad_usage;
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
                                        "rollcoach %s: --device wants all, or roller=, body= or "
                                        "hr= and an address, got '%s'\n",
                                        command, optarg);
                                goto bad_usage;
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
                        h->once = true;
                        if (c == OPT_RECORD)
                                h->record_path = optarg;
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
                        if (strlen(optarg) >= sizeof(h->config.voice.wav_dir)) {
                                fprintf(stderr, "rollcoach %s: --wav-dir: too long\n", command);
                                goto bad_usage;
                        }
                        wav_dir = optarg;
                        break;
                case OPT_VOICE_TIMELINE:
                        h->voice_timeline_path = optarg;
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
                h->record_path = argv[optind++];
        }
        if (optind != argc) {
                fprintf(stderr, "rollcoach %s: unexpected argument '%s'\n", command, argv[optind]);
                goto bad_usage;
        }
        if (rc_session_cli_check(&h->cli, command) < 0)
                goto bad_usage;
        if (!config_path && stat(DEFAULT_CONFIG, &st) == 0)
                config_path = DEFAULT_CONFIG;
        ret = rc_load_config(&h->config, config_path);
        if (ret != RC_EXIT_OK)
                goto out_usage;
        if (voice_output >= 0)
                h->config.voice.output = voice_output;
        if (wav_dir)
                snprintf(h->config.voice.wav_dir, sizeof(h->config.voice.wav_dir), "%s", wav_dir);

        ret = rc_outputs_open(&h->out, &h->cli, false, true);
        if (ret != RC_EXIT_OK)
                goto out;
        if (h->record_path) {
                h->record = fopen(h->record_path, "w");
                if (!h->record || rc_trace_write_header(h->record) < 0) {
                        rc_log_error("%s: %s", h->record_path, strerror(errno));
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
                } else if (h->config.devices.has[k]) {
                        memcpy(go.want[k].b, h->config.devices.addr[k], 6);
                        go.has_want[k] = true;
                }
        }
        h->t0_us = rc_uvbus_now_us();
        rc_dataclock_init(&h->clock);
        uv_timer_init(h->loop, &h->engine_timer);
        uv_timer_init(h->loop, &h->drain_timer);
        h->engine_timer.data = h->drain_timer.data = h;
        ret = feedback_start(h);
        if (ret != RC_EXIT_OK)
                goto out_close;
        rc_hub_sessions_init(h);
        go.loop = h->loop;
        go.notify = on_notification;
        go.userdata = h;
        go.t0_us = h->t0_us;
        if (rc_gateway_start(&go, &h->gw) < 0) {
                ret = RC_EXIT_FAILURE;
                rc_hub_sessions_close(h);
                goto out_close;
        }

        uv_signal_init(h->loop, &h->sigterm);
        uv_signal_init(h->loop, &h->sigint);
        h->sigterm.data = h->sigint.data = h;
        uv_signal_start(&h->sigterm, on_signal, SIGTERM);
        uv_signal_start(&h->sigint, on_signal, SIGINT);
        uv_timer_init(h->loop, &h->watchdog_timer);
        uv_timer_init(h->loop, &h->ready_timer);
        uv_timer_init(h->loop, &h->duration_timer);
        uv_timer_init(h->loop, &h->reload_timer);
        h->watchdog_timer.data = h->ready_timer.data = h;
        h->duration_timer.data = h->reload_timer.data = h;
        uv_timer_start(&h->ready_timer, on_ready_timer, 50, 50);
        if (sd_watchdog_enabled(0, &watchdog_us) > 0)
                uv_timer_start(&h->watchdog_timer, on_watchdog, watchdog_us / 2000,
                               watchdog_us / 2000);
        if (duration > 0)
                uv_timer_start(&h->duration_timer, on_duration, (uint64_t)(duration * 1000), 0);
        watch_plugins(h);
        rc_log_notice("%s: started (%s; %s)", command, h->routine ? h->routine : "free sessions",
                      h->once ? "one session" : "sessions start by themselves");

        uv_run(h->loop, UV_RUN_DEFAULT);
        ret = RC_EXIT_OK;
        if (!h->cli.quiet)
                report(h);
        goto out;
out_close: /* the hub could not start: what was started, closed */
        close_handle((uv_handle_t *)&h->engine_timer);
        feedback_close(h);
        uv_run(h->loop, UV_RUN_DEFAULT);
out:
        feedback_free(h);
        rc_gateway_free(h->gw);
        if (h->record && (fclose(h->record) != 0 || h->record_failed) && ret == RC_EXIT_OK) {
                rc_log_error("%s: the trace is incomplete", h->record_path);
                ret = RC_EXIT_FAILURE;
        }
        ret = rc_session_outputs_close(&h->out, &h->cli, ret);
        uv_loop_close(h->loop);
out_usage:
        free(h);
        return ret;
bad_usage:
        free(h);
        return rc_cmd_bad_usage(command);
}

int rc_cmd_run(int argc, char **argv) {
        return hub_main(argc, argv, "run");
}

int rc_cmd_record(int argc, char **argv) {
        return hub_main(argc, argv, "record");
}
