/* rollcoach — the voice's queue policy (docs/spec/coaching.md, docs/headless.md):
 * what is said next, what is dropped, refused, not repeated, and what cuts the
 * message being said. Pure: plain calls with the time passed in; no loop, no I/O,
 * no logging (what happens is told through the `dropped` callback and the
 * verdicts; the voice logs and counts it). The rules are stated in voice.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

#define RC_VMSG_KEY_MAX 63    /* bytes of a key kept (longer keys are truncated) */
#define RC_VMSG_TEXT_MAX 2000 /* bytes of a text kept (the shipped ones are < 500) */
#define RC_VQ_SAFETY_EXTRA 16 /* safety messages accepted beyond the bound (then refused) */
#define RC_VQ_RECENT_KEYS 64  /* keys remembered for the repeat window (oldest replaced) */
#define RC_VQ_UPDATE_CUT_MS                                                                        \
        1000 /* a new text cuts its key's old one once that has spoken this long */

struct rc_vmsg {
        uint64_t id; /* say order, from 1 */
        enum rc_priority priority;
        int64_t said_ms;  /* the decision clock */
        uint64_t said_ns; /* the caller's own (latency) clock; not used here */
        char key[RC_VMSG_KEY_MAX + 1];
        char *text;
        uint64_t text_hash;
};

/* A message (key and text copied, cut to their maxima: *text_cut says if the text
 * was), or NULL when out of memory. */
struct rc_vmsg *rc_vmsg_new(uint64_t id, const char *key, const char *text,
                            enum rc_priority priority, int64_t said_ms, bool *text_cut);
void rc_vmsg_free(struct rc_vmsg *m);

/* Why a waiting message leaves the queue unsaid (the callback's `event`, also the
 * timeline's name): */
#define RC_VQ_DROPPED_STALE "dropped_stale" /* a cue not begun within stale_ms */
#define RC_VQ_REPLACED "replaced"           /* a newer text under its key came */
#define RC_VQ_DROPPED_FULL "dropped_full"   /* the bound: lowest priority, oldest */

struct rc_vqueue {
        int64_t repeat_ms, stale_ms;
        unsigned max, cap; /* the bound, and with the safety extra */
        struct rc_vmsg **waiting;
        unsigned n_waiting;
        struct {
                char key[RC_VMSG_KEY_MAX + 1];
                uint64_t text_hash;
                int64_t start_ms;
        } recent[RC_VQ_RECENT_KEYS];
        unsigned n_recent;
        /* told of each waiting message dropped, before it is freed */
        void (*dropped)(void *userdata, const char *event, const struct rc_vmsg *m);
        void *userdata;
};

/* 0 or -ENOMEM; max ≥ 1. */
int rc_vqueue_init(struct rc_vqueue *q, int64_t repeat_ms, int64_t stale_ms, unsigned max,
                   void (*dropped)(void *userdata, const char *event, const struct rc_vmsg *m),
                   void *userdata);
/* Frees what waits (not told) and the queue's memory. */
void rc_vqueue_fini(struct rc_vqueue *q);
/* Frees what waits (not told); returns how many did. */
unsigned rc_vqueue_clear(struct rc_vqueue *q);

enum rc_vq_verdict {
        RC_VQ_QUEUED,  /* it waits (the queue owns it) */
        RC_VQ_REPEAT,  /* said within the repeat window, or already waiting: not queued */
        RC_VQ_REFUSED, /* the queue is full of messages of its priority or higher */
};
/* A message said at `now`: stale cues are dropped first, then the rules apply.
 * Unless RC_VQ_QUEUED, `m` stays the caller's (to report and free). */
enum rc_vq_verdict rc_vqueue_add(struct rc_vqueue *q, struct rc_vmsg *m, int64_t now);

/* Drop the cues waiting longer than stale_ms at `now`. */
void rc_vqueue_purge_stale(struct rc_vqueue *q, int64_t now);

/* The message to say next (the caller's now): highest priority, oldest of it;
 * NULL if none waits. */
struct rc_vmsg *rc_vqueue_pop(struct rc_vqueue *q);

/* `m` begins to be said at `now` (the repeat window counts from here). */
void rc_vqueue_started(struct rc_vqueue *q, const struct rc_vmsg *m, int64_t now);

/* Does `m`, said at `now`, cut `speaking` (begun at `started_ms`)? A safety
 * message cuts anything, a higher priority a lower one, and a new text under the
 * speaking message's key cuts it once it has spoken RC_VQ_UPDATE_CUT_MS. */
bool rc_vqueue_cuts(const struct rc_vmsg *speaking, int64_t started_ms, const struct rc_vmsg *m,
                    int64_t now);
