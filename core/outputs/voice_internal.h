/* rollcoach — the voice's private parts (voice.c: the queue's driver, the
 * timeline, the stats and the API; voice_utt.c: an utterance's pipeline). Not for
 * use outside core/outputs/voice*. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>
#include <uv.h>

#include "outputs/voice.h"
#include "outputs/voice_queue.h"
#include "outputs/wav.h"

#define RC__VOICE_LATENCY_KEEP 1024 /* latencies kept for the median */

enum rc__voice_end { RC__VOICE_DONE, RC__VOICE_CUT, RC__VOICE_FAILED };

struct rc__utt {
        struct rc_voice *v;
        struct rc__utt *next; /* v->utts */
        struct rc_vmsg *m;
        int64_t start_ms; /* decision clock */
        uint64_t file_no;
        bool ended;
        const char *fail; /* why it failed (a literal), NULL if it has not */
        int fail_errno;   /* with it, or 0 */
        unsigned handles; /* open libuv handles */

        /* espeak-ng and its stdout */
        uv_process_t espeak;
        uv_pipe_t out;
        bool espeak_running, espeak_ok, espeak_killed;
        bool out_open, reading, eof;

        /* the stream: header, then PCM through the ring */
        bool hdr_done;
        struct rc_wav_fmt fmt;
        uint64_t data_left;
        uint8_t *ring;
        size_t head, len;
        size_t writing;   /* bytes of the write in flight, 0: none */
        uint64_t pcm_out; /* PCM bytes written (completed) */
        uint64_t t0_ns;   /* the first PCM write began (wav's playback clock) */
        bool first_sample;

        /* alsa: aplay and its stdin */
        uv_process_t aplay;
        uv_pipe_t in;
        uv_write_t wreq;
        bool aplay_spawned, aplay_running, aplay_ok, aplay_killed, in_open;
        bool reap_waited;

        /* wav: the file */
        uv_fs_t fsreq;
        bool fs_busy, fs_opened, fs_fixed, fs_closed;
        int fd;
        uint8_t hdr[RC_WAV_HDR_BYTES];
        char path[PATH_MAX];

        /* pacing (wav) or waiting for a killed aplay (alsa) */
        uv_timer_t timer;
        bool timer_open, timer_armed, played;
};

struct rc_voice {
        uv_loop_t *loop;
        struct rc_voice_config cfg;
        char espeak[PATH_MAX], aplay[PATH_MAX];
        FILE *timeline;
        int64_t (*now_ms)(void *userdata);
        void *userdata;

        uv_idle_t idle; /* runs the queue once the current callbacks are done */
        struct rc_vqueue queue;
        struct rc__utt *current;
        struct rc__utt *utts; /* current and those being torn down */
        unsigned dying_aplays;
        uint64_t next_id, next_file;

        struct rc_voice_stats stats;
        double latencies[RC__VOICE_LATENCY_KEEP];
        unsigned n_latencies; /* stored (up to RC__VOICE_LATENCY_KEEP), ring after that */
        uint64_t latency_count;

        bool closing, idle_closed, closed_called;
        void (*closed)(void *userdata);
        void *closed_userdata;
};

/* voice.c */
int64_t rc__voice_now_ms(const struct rc_voice *v);
/* A timeline event about `m` (NULL without a timeline): add fields, then emit. */
cJSON *rc__voice_ev_new(struct rc_voice *v, const char *event, const struct rc_vmsg *m);
void rc__voice_ev_emit(struct rc_voice *v, cJSON *o);
void rc__voice_add_latency(struct rc_voice *v, const struct rc_vmsg *m, double ms);
/* Run the queue once the current callbacks are done. */
void rc__voice_schedule(struct rc_voice *v);
/* Closing: `closed` runs once the idle handle is closed and every utterance freed. */
void rc__voice_closed_if_done(struct rc_voice *v);

/* voice_utt.c */
/* Begin saying `m` (owned from here): it becomes v->current (unless it ends at once). */
void rc__utt_start(struct rc_voice *v, struct rc_vmsg *m);
/* End the utterance once: it is no longer the current one; `by`: what cut it (a
 * key, or "close"). Follow with rc__utt_advance. */
void rc__utt_end(struct rc__utt *u, enum rc__voice_end kind, const char *by);
/* Move the utterance on after any event; the only place that frees it. */
void rc__utt_advance(struct rc__utt *u);
