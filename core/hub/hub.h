/* rollcoach — the hub: the BlueZ gateway feeding coaching sessions live on one
 * libuv loop, with the coaching spoken (voice), shown (LEDs) and pressed (the
 * hub's button); sessions start and end by themselves (docs/headless.md), or one
 * session runs from the first notification (`once`, what `rollcoach record` does).
 *
 *     struct rc_hub_opts o = {.loop = loop, .config = config, .cli = cli};
 *     struct rc_hub *h;
 *
 *     if (rc_hub_new(&o, &h) == RC_EXIT_OK) {
 *             uv_run(loop, UV_RUN_DEFAULT);  // until the hub has stopped
 *             rc_hub_stats(h, &st);
 *             ret = rc_hub_free(h);
 *     }
 *
 * The hub runs until rc_hub_stop() (a signal, a duration: the caller's), or until
 * it stops by itself (`once`: the session ended; out of memory): it ends the
 * session, disconnects the devices, lets the voice finish its last words, then
 * closes every handle it has, so uv_run() returns once the caller's are closed too
 * (opts.on_stop tells the caller when). It installs no signal handler and changes
 * no process-wide state beyond what its parts document; it tells systemd READY=1
 * once connected to BlueZ's objects and STOPPING=1 (sd_notify: nothing outside
 * systemd). Everything on the loop's thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "gateway/gateway.h"
#include "hub/coaching.h"
#include "outputs/button.h"
#include "outputs/leds.h"
#include "outputs/voice.h"
#include "util/exit.h"

struct rc_hub;

struct rc_hub_opts {
        uv_loop_t *loop;
        const char *command;       /* for messages: "run", "record"; NULL: "hub" */
        struct rc_config config;   /* copied */
        struct rc_session_cli cli; /* copied; its strings must outlive the hub */
        /* the gateway's: bus_address, want/has_want, all, no_acquire (copied; loop,
         * notify, userdata and t0_us are the hub's own) */
        struct rc_gateway_opts gateway;
        bool once;                       /* one session, from the first notification */
        const char *record_path;         /* also write what arrives to this trace */
        const char *voice_timeline_path; /* every voice decision, as JSON Lines */
        /* ms off the roller before a load starts the next session (0: 10 000, docs/headless.md) */
        int64_t rearm_ms;
        /* the hub has stopped (its session ended, the devices disconnected): the caller
         * closes what it keeps on the loop (signals, timers) so that uv_run() returns */
        void (*on_stop)(void *userdata);
        void *userdata;
};

/* Start the hub: the outputs, the trace, the feedback, standby, the gateway and
 * the plugin watch. RC_EXIT_OK and *ret, or an exit code (RC_EXIT_FAILURE,
 * RC_EXIT_INPUT: the voice's configuration) after reporting why; then what was
 * started is closed (the loop is run until it is) and *ret is NULL. */
int rc_hub_new(const struct rc_hub_opts *opts, struct rc_hub **ret);

/* Stop: end the session (if any) for `reason` ("stopped": the hub says goodbye),
 * disconnect and close. Asynchronous; does nothing once stopping. */
void rc_hub_stop(struct rc_hub *h, const char *reason);

/* Free the hub after the loop has run out (or after rc_hub_stop and uv_run).
 * Closes the outputs and the trace: 0, or -EIO if one of them could not be fully
 * written (reported). NULL: nothing. */
int rc_hub_free(struct rc_hub *h);

struct rc_hub_stats {
        unsigned sessions;          /* started */
        bool in_session;            /* a coaching session is running */
        bool armed;                 /* between sessions: a load may start one */
        bool stopping;              /* rc_hub_stop ran, or the hub stopped by itself */
        char last_end[32];          /* why the last session ended ("" none yet): docs/headless.md */
        unsigned devices_connected; /* devices connected now (what the hub was told) */
        struct rc_gateway_stats gateway;
        /* the cost while streaming (benchmark): notifications in, those after the
         * first, and the CPU from the first to the stop */
        uint64_t notifications, streamed;
        double cpu_streaming_us;
        double cpu_total_us; /* the process's, when the stats were taken */
        /* the feedback: has_* false when it is not running */
        bool has_voice, has_leds, has_button;
        struct rc_voice_stats voice;
        struct rc_leds_stats leds;
        struct rc_button_stats button;
};

void rc_hub_stats(const struct rc_hub *h, struct rc_hub_stats *st);

/* A press of the hub's own button (what [button] does; tests). */
void rc_hub_press(struct rc_hub *h, enum rc_press press);
