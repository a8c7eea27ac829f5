/* rollcoach — the voice's queue policy (voice_queue.h). */
#include "outputs/voice_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: the same text, for the repeat rule */
static uint64_t text_hash(const char *t) {
        uint64_t h = 14695981039346656037u;

        for (; *t; t++)
                h = (h ^ (uint8_t)*t) * 1099511628211u;
        return h;
}

static void copy_key(char *dst, const char *src) {
        size_t n = strnlen(src, RC_VMSG_KEY_MAX);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

struct rc_vmsg *rc_vmsg_new(uint64_t id, const char *key, const char *text,
                            enum rc_priority priority, int64_t said_ms, bool *text_cut) {
        struct rc_vmsg *m = calloc(1, sizeof(*m));
        size_t n = strnlen(text, RC_VMSG_TEXT_MAX);

        if (m)
                m->text = malloc(n + 1);
        if (!m || !m->text) {
                rc_vmsg_free(m);
                return NULL;
        }
        memcpy(m->text, text, n);
        m->text[n] = '\0';
        *text_cut = text[n] != '\0';
        copy_key(m->key, key);
        m->id = id;
        m->priority = priority;
        m->said_ms = said_ms;
        m->text_hash = text_hash(m->text);
        return m;
}

void rc_vmsg_free(struct rc_vmsg *m) {
        if (!m)
                return;
        free(m->text);
        free(m);
}

int rc_vqueue_init(struct rc_vqueue *q, int64_t repeat_ms, int64_t stale_ms, unsigned max,
                   void (*dropped)(void *userdata, const char *event, const struct rc_vmsg *m),
                   void *userdata) {
        memset(q, 0, sizeof(*q));
        q->repeat_ms = repeat_ms;
        q->stale_ms = stale_ms;
        q->max = max;
        q->cap = max + RC_VQ_SAFETY_EXTRA;
        q->dropped = dropped;
        q->userdata = userdata;
        q->waiting = calloc(q->cap, sizeof(q->waiting[0]));
        return q->waiting ? 0 : -ENOMEM;
}

unsigned rc_vqueue_clear(struct rc_vqueue *q) {
        unsigned n = q->n_waiting;

        while (q->n_waiting > 0)
                rc_vmsg_free(q->waiting[--q->n_waiting]);
        return n;
}

void rc_vqueue_fini(struct rc_vqueue *q) {
        rc_vqueue_clear(q);
        free(q->waiting);
        q->waiting = NULL;
}

static void unqueue(struct rc_vqueue *q, unsigned i) {
        memmove(&q->waiting[i], &q->waiting[i + 1], (q->n_waiting - i - 1) * sizeof(q->waiting[0]));
        q->n_waiting--;
}

/* Drop the i-th waiting message, telling why. */
static void drop_waiting(struct rc_vqueue *q, unsigned i, const char *event) {
        struct rc_vmsg *m = q->waiting[i];

        if (q->dropped)
                q->dropped(q->userdata, event, m);
        unqueue(q, i);
        rc_vmsg_free(m);
}

/* Cues waiting longer than stale_ms are dropped (never begun late): a cue
 * belongs to its moment. Infos (a summary, the week's sessions, what the hub did)
 * keep; warnings and safety messages are always said. */
void rc_vqueue_purge_stale(struct rc_vqueue *q, int64_t now) {
        for (unsigned i = 0; i < q->n_waiting;) {
                const struct rc_vmsg *m = q->waiting[i];

                if (m->priority == RC_PRIORITY_CUE && now - m->said_ms > q->stale_ms) {
                        drop_waiting(q, i, RC_VQ_DROPPED_STALE);
                        continue;
                }
                i++;
        }
}

/* The waiting message to say next: the highest priority, the oldest of it. */
static int best_waiting(const struct rc_vqueue *q) {
        int best = -1;

        for (unsigned i = 0; i < q->n_waiting; i++)
                if (best < 0 || q->waiting[i]->priority > q->waiting[best]->priority)
                        best = (int)i;
        return best;
}

/* The waiting message to drop for room: the lowest priority, the oldest of it. */
static int worst_waiting(const struct rc_vqueue *q) {
        int worst = -1;

        for (unsigned i = 0; i < q->n_waiting; i++)
                if (worst < 0 || q->waiting[i]->priority < q->waiting[worst]->priority)
                        worst = (int)i;
        return worst;
}

static bool same_message(const struct rc_vmsg *a, const struct rc_vmsg *b) {
        return strcmp(a->key, b->key) == 0 && a->text_hash == b->text_hash &&
               strcmp(a->text, b->text) == 0;
}

/* Was this message (key and text) started within the repeat window, or is it
 * waiting? */
static bool is_repeat(const struct rc_vqueue *q, const struct rc_vmsg *m, int64_t now) {
        if (q->repeat_ms <= 0)
                return false;
        for (unsigned i = 0; i < q->n_recent; i++)
                if (strcmp(q->recent[i].key, m->key) == 0 &&
                    q->recent[i].text_hash == m->text_hash &&
                    now - q->recent[i].start_ms < q->repeat_ms)
                        return true;
        for (unsigned i = 0; i < q->n_waiting; i++)
                if (same_message(q->waiting[i], m))
                        return true;
        return false;
}

enum rc_vq_verdict rc_vqueue_add(struct rc_vqueue *q, struct rc_vmsg *m, int64_t now) {
        rc_vqueue_purge_stale(q, now);
        if (is_repeat(q, m, now))
                return RC_VQ_REPEAT;
        /* a new text under a key is an update: it replaces its key's waiting one */
        for (unsigned i = 0; i < q->n_waiting; i++)
                if (strcmp(q->waiting[i]->key, m->key) == 0) {
                        drop_waiting(q, i, RC_VQ_REPLACED);
                        break;
                }
        if (q->n_waiting >= q->max) {
                int w = worst_waiting(q);
                const struct rc_vmsg *victim = q->waiting[w];

                if (m->priority < victim->priority ||
                    (victim->priority == RC_PRIORITY_SAFETY && q->n_waiting >= q->cap))
                        return RC_VQ_REFUSED;
                if (victim->priority != RC_PRIORITY_SAFETY)
                        drop_waiting(q, (unsigned)w, RC_VQ_DROPPED_FULL);
        }
        q->waiting[q->n_waiting++] = m;
        return RC_VQ_QUEUED;
}

struct rc_vmsg *rc_vqueue_pop(struct rc_vqueue *q) {
        int i = best_waiting(q);
        struct rc_vmsg *m;

        if (i < 0)
                return NULL;
        m = q->waiting[i];
        unqueue(q, (unsigned)i);
        return m;
}

void rc_vqueue_started(struct rc_vqueue *q, const struct rc_vmsg *m, int64_t now) {
        unsigned slot = RC_VQ_RECENT_KEYS;

        for (unsigned i = 0; i < q->n_recent && slot == RC_VQ_RECENT_KEYS; i++)
                if (strcmp(q->recent[i].key, m->key) == 0)
                        slot = i;
        if (slot == RC_VQ_RECENT_KEYS && q->n_recent < RC_VQ_RECENT_KEYS) {
                slot = q->n_recent++;
        } else if (slot == RC_VQ_RECENT_KEYS) { /* full: forget the oldest start */
                slot = 0;
                for (unsigned i = 1; i < RC_VQ_RECENT_KEYS; i++)
                        if (q->recent[i].start_ms < q->recent[slot].start_ms)
                                slot = i;
        }
        copy_key(q->recent[slot].key, m->key);
        q->recent[slot].text_hash = m->text_hash;
        q->recent[slot].start_ms = now;
}

/* docs/spec/coaching.md: a higher priority interrupts a lower one being spoken; a
 * safety message cuts whatever is being said (the newest danger is the one that
 * matters); an update cuts its key's old text, at most once a second. */
bool rc_vqueue_cuts(const struct rc_vmsg *speaking, int64_t started_ms, const struct rc_vmsg *m,
                    int64_t now) {
        return m->priority == RC_PRIORITY_SAFETY || m->priority > speaking->priority ||
               (strcmp(speaking->key, m->key) == 0 && now - started_ms >= RC_VQ_UPDATE_CUT_MS);
}
