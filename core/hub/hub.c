/* rollcoach — the hub (hub/hub.h): the gateway feeding the sessions (sessions.c),
 * the feedback (voice, LEDs, the hub's button), the session clock the plugins'
 * timers run on, the plugin watch (hot reload), and stopping: the session ended,
 * the devices disconnected, the last words said, every handle closed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "decode/gatt.h"
#include "gateway/uvbus.h"
#include "hub/hub_internal.h"
#include "replay/trace.h"
#include "util/exit.h"
#include "util/log.h"

#define STOP_TIMEOUT_MS 4000 /* BlueZ answers Disconnect after its 2 s disconnect timer */
#define RELOAD_DEBOUNCE_MS 300
#define DRAIN_MS 8000 /* stopping: the goodbye, or a pain stop's advice, said in full */

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
        struct rc_voice_opts vo = {.loop = h->loop, .config = h->config->voice};
        int r;

        if (h->opts.voice_timeline_path) {
                h->voice_timeline = fopen(h->opts.voice_timeline_path, "w");
                if (!h->voice_timeline) {
                        rc_log_error("%s: %s", h->opts.voice_timeline_path, strerror(errno));
                        return RC_EXIT_FAILURE;
                }
                setvbuf(h->voice_timeline, NULL, _IOLBF, 0);
                vo.timeline = h->voice_timeline;
        }
        if (h->config->voice.output == RC_VOICE_WAV && h->config->voice.wav_dir[0]) {
                r = make_dirs(h->config->voice.wav_dir);
                if (r < 0) {
                        rc_log_error("[voice] wav_dir %s: cannot create it: %s",
                                     h->config->voice.wav_dir, strerror(-r));
                        return RC_EXIT_INPUT;
                }
        }
        r = rc_voice_new(&vo, &h->voice);
        if (r == -EINVAL)
                return RC_EXIT_INPUT; /* rc_voice_new said which option */
        if (r < 0) {
                rc_log_error("[voice]: the voice cannot start: %s", strerror(-r));
                return RC_EXIT_FAILURE;
        }
        if (h->config->leds.backend != RC_LEDS_OFF) {
                r = rc_leds_new(h->loop, &h->config->leds, &h->leds);
                if (r < 0) {
                        rc_log_error("[leds]: no LEDs (%s); the coaching goes on without them",
                                     strerror(-r));
                        h->leds = NULL;
                }
        }
        if (h->config->button.enabled) {
                r = rc_button_new(h->loop, &h->config->button, on_button, h, &h->button);
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

        if (h->opts.on_stop)
                h->opts.on_stop(h->opts.userdata); /* the caller's handles */
        close_handle((uv_handle_t *)&h->engine_timer);
        close_handle((uv_handle_t *)&h->ready_timer);
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
        unsigned n;

        if (h->cli->no_plugins)
                return;
        n = rc_plugin_dirs(h->cli, h->config, dirs, h->watch_user_dir, sizeof(h->watch_user_dir));
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

/* ---- the hub's life ---------------------------------------------------------------------- */

/* What the hub holds besides its loop handles; `ret` an exit code, kept unless an
 * output failed (RC_EXIT_FAILURE then). */
static int hub_close(struct rc_hub *h, int ret) {
        feedback_free(h);
        rc_gateway_free(h->gw);
        h->gw = NULL;
        if (h->record && (fclose(h->record) != 0 || h->record_failed) && ret == RC_EXIT_OK) {
                rc_log_error("%s: the trace is incomplete", h->opts.record_path);
                ret = RC_EXIT_FAILURE;
        }
        h->record = NULL;
        return rc_session_outputs_close(&h->out, h->cli, ret);
}

int rc_hub_new(const struct rc_hub_opts *opts, struct rc_hub **ret) {
        struct rc_hub *h;
        struct rc_gateway_opts go;
        int r;

        *ret = NULL;
        h = calloc(1, sizeof(*h));
        if (!h) {
                rc_log_error("out of memory");
                return RC_EXIT_FAILURE;
        }
        h->opts = *opts;
        h->command = opts->command ? opts->command : "hub";
        h->loop = opts->loop;
        h->config = &h->opts.config;
        h->cli = &h->opts.cli;
        h->once = opts->once || opts->record_path;
        h->rearm_ms = opts->rearm_ms > 0 ? opts->rearm_ms : RC_HUB_REARM_MS;

        r = rc_outputs_open(&h->out, h->cli, false, true);
        if (r != RC_EXIT_OK)
                goto out;
        if (opts->record_path) {
                h->record = fopen(opts->record_path, "w");
                if (!h->record || rc_trace_write_header(h->record) < 0) {
                        rc_log_error("%s: %s", opts->record_path, strerror(errno));
                        r = RC_EXIT_FAILURE;
                        goto out;
                }
        }
        h->t0_us = rc_uvbus_now_us();
        rc_dataclock_init(&h->clock);
        uv_timer_init(h->loop, &h->engine_timer);
        uv_timer_init(h->loop, &h->drain_timer);
        h->engine_timer.data = h->drain_timer.data = h;
        r = feedback_start(h);
        if (r != RC_EXIT_OK)
                goto out_close;
        rc_hub_sessions_init(h);
        go = opts->gateway;
        go.loop = h->loop;
        go.notify = on_notification;
        go.userdata = h;
        go.t0_us = h->t0_us;
        if (rc_gateway_start(&go, &h->gw) < 0) {
                r = RC_EXIT_FAILURE;
                rc_hub_sessions_close(h);
                goto out_close;
        }
        uv_timer_init(h->loop, &h->ready_timer);
        uv_timer_init(h->loop, &h->reload_timer);
        h->ready_timer.data = h->reload_timer.data = h;
        uv_timer_start(&h->ready_timer, on_ready_timer, 50, 50);
        watch_plugins(h);
        rc_log_notice("%s: started (%s; %s)", h->command, h->routine ? h->routine : "free sessions",
                      h->once ? "one session" : "sessions start by themselves");
        *ret = h;
        return RC_EXIT_OK;

out_close: /* the hub could not start: what was started, closed */
        close_handle((uv_handle_t *)&h->engine_timer);
        feedback_close(h);
        uv_run(h->loop, UV_RUN_DEFAULT);
out:
        r = hub_close(h, r);
        free(h);
        return r;
}

int rc_hub_free(struct rc_hub *h) {
        int r;

        if (!h)
                return 0;
        r = hub_close(h, RC_EXIT_OK);
        free(h);
        return r == RC_EXIT_OK ? 0 : -EIO;
}

void rc_hub_stats(const struct rc_hub *h, struct rc_hub_stats *st) {
        memset(st, 0, sizeof(*st));
        st->sessions = h->sessions;
        st->in_session = h->session != NULL;
        st->armed = h->armed;
        st->stopping = h->stopping;
        snprintf(st->last_end, sizeof(st->last_end), "%s", h->last_end);
        for (unsigned i = 0; i < RC_HUB_CACHE_DEVICES; i++)
                st->devices_connected += h->devices[i].used && h->devices[i].connected;
        if (h->gw)
                rc_gateway_stats(h->gw, &st->gateway);
        st->notifications = h->n_notifications;
        st->streamed = h->n_streamed;
        st->cpu_streaming_us = h->cpu_streaming_us;
        st->cpu_total_us = cpu_us();
        st->has_voice = h->voice != NULL;
        if (h->voice)
                rc_voice_stats(h->voice, &st->voice);
        st->has_leds = h->leds != NULL;
        if (h->leds)
                rc_leds_stats(h->leds, &st->leds);
        st->has_button = h->button != NULL;
        if (h->button)
                rc_button_stats(h->button, &st->button);
}
