/* rollcoach — internal: the hub's structure, shared by hub.c (the gateway, the
 * feedback, the session clock, the plugin watch, stopping) and sessions.c (the
 * sessions, docs/headless.md: the standby analysis between them, starting,
 * ending and what the hub says about it). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "analysis/session.h"
#include "hub/hub.h"
#include "util/dataclock.h"

#define RC_HUB_MAX_RELOADS 8
#define RC_HUB_CACHE_DEVICES 8
#define RC_HUB_CACHE_READS 7
#define RC_HUB_CACHE_VALUE 64
#define RC_HUB_REARM_MS 10000 /* off the roller this long before a load starts a session */

/* What a device said when it connected, to tell each new session. */
struct rc_hub_device {
        bool used, connected;
        rc_addr addr;
        struct {
                bool has;
                rc_uuid uuid;
                size_t len;
                uint8_t data[RC_HUB_CACHE_VALUE];
        } reads[RC_HUB_CACHE_READS];
};

struct rc_hub {
        struct rc_hub_opts opts; /* the caller's, copied (gateway: the hub's own filled in) */
        const char *command;
        uv_loop_t *loop;
        const struct rc_config *config;   /* &opts.config */
        const struct rc_session_cli *cli; /* &opts.cli */
        struct rc_gateway *gw;
        uint64_t t0_us;
        struct rc_dataclock clock; /* the session clock (util/dataclock.h), on real µs since t0 */
        rc_addr clock_dev;         /* the device whose IMU times it follows */
        bool clock_dev_set;
        bool stopping, ready_sent;

        /* sessions (sessions.c) */
        bool once;           /* one session from the first notification (record) */
        const char *routine; /* NULL: free */
        int64_t rearm_ms;
        struct rc_session *session;    /* the coaching session, NULL between sessions */
        struct rc_session *standby;    /* analysis alone, between sessions (auto) */
        struct rc_session_outputs out; /* writers for the hub's life; engine per session */
        bool start_pending, finish_pending;
        const char *start_reason;
        char last_end[32];        /* why the last session ended ("": none yet) */
        bool armed;               /* a load may start a session */
        bool replaying;           /* telling a new session what the devices said */
        int64_t last_loaded_ms;   /* standby: the roller last seen loaded */
        int64_t last_activity_ms; /* session: rolling, holding, pressing */
        unsigned sessions;
        struct rc_hub_device devices[RC_HUB_CACHE_DEVICES];
        uv_timer_t idle_timer, grace_timer;

        /* feedback (any may be NULL) */
        struct rc_voice *voice;
        struct rc_leds *leds;
        struct rc_gpio_button *button;
        FILE *voice_timeline;
        uv_timer_t drain_timer; /* stopping: the last words said before the voice closes */
        int64_t drain_deadline_ms;

        uv_timer_t engine_timer, ready_timer, reload_timer;
        uv_fs_event_t watch[RC_ENGINE_MAX_DIRS];
        unsigned n_watch;
        char watch_user_dir[4096];
        char reloads[RC_HUB_MAX_RELOADS][4096];
        unsigned n_reloads;

        FILE *record;
        bool record_failed;

        /* the cost while streaming (benchmark) */
        uint64_t n_notifications, n_streamed;
        double cpu_first_us, cpu_streaming_us;
};

/* ms since the hub started on the session clock of every session it runs: real
 * time, or the data's when it streams faster (util/dataclock.h) */
int64_t rc_hub_now_ms(const struct rc_hub *h);

/* sessions.c */
void rc_hub_sessions_init(struct rc_hub *h);
/* Every notification from the gateway. */
void rc_hub_notification(struct rc_hub *h, const struct rc_notification *n);
/* End the session (if any) for `reason`, e.g. "stopped". */
void rc_hub_end_session(struct rc_hub *h, const char *reason);
/* Run what the last callback asked for (start or finish a session). */
void rc_hub_settle(struct rc_hub *h);
void rc_hub_sessions_close(struct rc_hub *h);

/* hub.c */
void rc_hub_schedule_engine(struct rc_hub *h);
/* Something the hub itself says (a say action: plugin "hub"). */
void rc_hub_say(struct rc_hub *h, const char *key, const char *text, enum rc_priority p);
/* A pattern the hub itself shows on its LEDs (if any). */
void rc_hub_led(struct rc_hub *h, enum rc_led_pattern pattern);
/* Send a session's engine's say and led actions to the voice and the LEDs. */
void rc_hub_feedback_sinks(struct rc_hub *h, struct rc_engine *e);
