/* rollcoach — the coach's voice: espeak-ng, offline, never blocking the loop.
 *
 * Each utterance is synthesised by an `espeak-ng --stdout` child (uv_spawn) whose
 * WAV stream is read from a pipe on the loop and written on — to an `aplay` child
 * (output alsa), to a WAV file per utterance (output wav), or nowhere (off:
 * logged only). One utterance is spoken at a time. Output wav is written at the
 * pace of playback, so the queue behaves as it does with a sound card and a cut
 * file holds what was heard.
 *
 * The queue follows docs/spec/coaching.md:
 * - priorities, highest first: safety, warning, cue, info. A message cuts off one
 *   of lower priority being said (the children are killed), and a `safety` message
 *   whatever is being said; waiting messages are said highest priority first
 *   (FIFO within a priority);
 * - the same message (key and text) is not said again within `repeat_seconds` (of
 *   its last start), nor queued while it is already waiting. A new text under a key
 *   is an update (the next step's cue): it replaces its key's waiting message, and
 *   cuts its key's message being said once that has been speaking for 1 s (a flood
 *   of updates cuts at most once a second);
 * - a stale cue — its moment has passed, i.e. not begun within `stale_seconds` of
 *   its say — is dropped rather than spoken late (infos keep; safety and warnings
 *   are never stale);
 * - the queue never holds more than `queue` messages: when full, the lowest-priority
 *   oldest waiting message is dropped (a message of lower priority than everything
 *   waiting is refused instead); safety messages are never dropped for room.
 * Messages said in the same turn of the loop are taken in priority order (the
 * queue runs once the callbacks that said them are done).
 * Every utterance and every decision is logged, and appended to an optional
 * timeline (JSON Lines) for tests and figures.
 *
 * Latency: the time from rc_voice_say() to the first audio sample written (to
 * aplay's stdin or the WAV file) is measured for each utterance. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "config/config.h"
#include "engine/engine.h"

struct rc_voice;

struct rc_voice_opts {
        uv_loop_t *loop;
        struct rc_voice_config config;
        /* programs (tests may point them elsewhere); NULL: "espeak-ng" and "aplay" */
        const char *espeak, *aplay;
        /* every queue decision and playback event as one JSON object a line, e.g.
         * {"t_ms":1200,"event":"start","key":"cue.step","priority":"cue"}; events:
         * queued, start, first_sample, done, cut, dropped_stale, dropped_full,
         * refused_full, repeat (not said again), replaced (by a newer text), failed. Each also has
         * "id" (the say's number) and: queued "waiting" (count); start "file" (wav); first_sample
         * "latency_ms"; done and cut "audio_ms"; cut "by" (the key that cut it, or "close"); failed
         * "reason" and maybe "error". NULL: none */
        FILE *timeline;
        /* the clock for t_ms in the timeline and the decisions: ms; NULL: the loop's */
        int64_t (*now_ms)(void *userdata);
        void *userdata;
};

/* Start the voice (nothing is spawned until the first say). 0, -ENOMEM, or
 * -EINVAL for options it cannot use (e.g. output wav without a writable wav_dir:
 * reported: the only error it logs). The program must ignore SIGPIPE (the library
 * leaves process-wide state alone): an aplay that dies must fail a write (EPIPE),
 * not end the process. */
int rc_voice_new(const struct rc_voice_opts *opts, struct rc_voice **ret);

/* Say `text` (copied) under `key` with `priority`. Never blocks. */
void rc_voice_say(struct rc_voice *v, const char *key, const char *text, enum rc_priority priority);

/* An rc_action_fn for the engine: says the say actions (userdata: the voice). */
void rc_voice_action(const struct rc_action *a, void *userdata);

/* Nothing is being said and nothing waits. */
bool rc_voice_idle(const struct rc_voice *v);

/* Stop speaking (children killed), drop what waits, close the handles; `closed`
 * runs on the loop once done (then rc_voice_free). */
void rc_voice_close(struct rc_voice *v, void (*closed)(void *userdata), void *userdata);
void rc_voice_free(struct rc_voice *v);

struct rc_voice_stats {
        uint64_t said, cut, dropped_stale, dropped_full, refused_full, repeats, replaced, failed;
        /* say → first audio sample, ms, over the utterances spoken so far */
        double latency_min_ms, latency_median_ms, latency_max_ms;
        /* the same for safety messages alone (NaN if none) */
        double safety_latency_max_ms;
};
void rc_voice_stats(const struct rc_voice *v, struct rc_voice_stats *ret);
