/* rollcoach — the coach's voice (voice.h): the queue's driver, the timeline, the
 * stats and the API. What is said when is decided by the policy in voice_queue.c;
 * an utterance's pipeline (espeak-ng → aplay or a WAV file) is voice_utt.c.
 *
 * Decisions (and t_ms) use the opts' clock; latencies and the playback clock
 * always use uv_hrtime, so a test may move the decision clock freely. */
#include "outputs/voice.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outputs/jsonl.h"
#include "outputs/voice_internal.h"
#include "util/log.h"

/* ---- small helpers --------------------------------------------------------------------------- */

int64_t rc__voice_now_ms(const struct rc_voice *v) {
        if (v->now_ms)
                return v->now_ms(v->userdata);
        return (int64_t)(uv_hrtime() / 1000000u);
}

static size_t copy_str(char *dst, size_t cap, const char *src) {
        size_t n = strnlen(src, cap - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
        return n;
}

/* ---- the timeline and the stats -------------------------------------------------------------- */

cJSON *rc__voice_ev_new(struct rc_voice *v, const char *event, const struct rc_vmsg *m) {
        cJSON *o;

        if (!v->timeline)
                return NULL;
        o = cJSON_CreateObject();
        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "t_ms", (double)rc__voice_now_ms(v));
        cJSON_AddStringToObject(o, "event", event);
        cJSON_AddNumberToObject(o, "id", (double)m->id);
        cJSON_AddStringToObject(o, "key", m->key);
        cJSON_AddStringToObject(o, "priority", rc_priority_name(m->priority));
        return o;
}

void rc__voice_ev_emit(struct rc_voice *v, cJSON *o) {
        if (!o)
                return;
        if (rc_jsonl_write(v->timeline, o) < 0 || fflush(v->timeline) != 0)
                rc_log_warning("voice: cannot write the timeline");
        cJSON_Delete(o);
}

static void ev(struct rc_voice *v, const char *event, const struct rc_vmsg *m) {
        rc__voice_ev_emit(v, rc__voice_ev_new(v, event, m));
}

void rc__voice_add_latency(struct rc_voice *v, const struct rc_vmsg *m, double ms) {
        struct rc_voice_stats *s = &v->stats;

        if (v->latency_count == 0 || ms < s->latency_min_ms)
                s->latency_min_ms = ms;
        if (v->latency_count == 0 || ms > s->latency_max_ms)
                s->latency_max_ms = ms;
        if (m->priority == RC_PRIORITY_SAFETY &&
            (isnan(s->safety_latency_max_ms) || ms > s->safety_latency_max_ms))
                s->safety_latency_max_ms = ms;
        v->latencies[v->latency_count % RC__VOICE_LATENCY_KEEP] = ms;
        v->latency_count++;
        if (v->n_latencies < RC__VOICE_LATENCY_KEEP)
                v->n_latencies++;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

void rc_voice_stats(const struct rc_voice *v, struct rc_voice_stats *ret) {
        double sorted[RC__VOICE_LATENCY_KEEP];
        unsigned n = v->n_latencies;

        *ret = v->stats;
        if (n == 0) {
                ret->latency_min_ms = ret->latency_median_ms = ret->latency_max_ms = NAN;
                return;
        }
        memcpy(sorted, v->latencies, n * sizeof(double));
        qsort(sorted, n, sizeof(double), cmp_double);
        ret->latency_median_ms = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* ---- the API --------------------------------------------------------------------------------- */

/* The queue dropped a waiting message: logged, counted and on the timeline. */
static void on_dropped(void *userdata, const char *event, const struct rc_vmsg *m) {
        struct rc_voice *v = userdata;

        if (strcmp(event, RC_VQ_DROPPED_STALE) == 0) {
                rc_log_info("voice: %s dropped: not begun within %.0f s", m->key,
                            v->cfg.stale_seconds);
                v->stats.dropped_stale++;
        } else if (strcmp(event, RC_VQ_REPLACED) == 0) {
                rc_log_info("voice: %s replaced by a newer one", m->key);
                v->stats.replaced++;
        } else {
                rc_log_notice("voice: %s dropped for room", m->key);
                v->stats.dropped_full++;
        }
        ev(v, event, m);
}

/* The queue, once the callbacks that said something are done: messages said
 * together are taken in priority order, not in the order of their says. */
static void on_idle(uv_idle_t *h) {
        struct rc_voice *v = h->data;
        struct rc_vmsg *m;

        uv_idle_stop(h);
        if (v->closing)
                return;
        rc_vqueue_purge_stale(&v->queue, rc__voice_now_ms(v));
        while (!v->current && (m = rc_vqueue_pop(&v->queue)))
                rc__utt_start(v, m);
}

void rc__voice_schedule(struct rc_voice *v) {
        if (!v->closing && !uv_is_active((uv_handle_t *)&v->idle))
                uv_idle_start(&v->idle, on_idle);
}

void rc__voice_closed_if_done(struct rc_voice *v) {
        if (v->closing && v->idle_closed && !v->utts && !v->closed_called) {
                v->closed_called = true;
                if (v->closed)
                        v->closed(v->closed_userdata);
        }
}

/* ---- the API --------------------------------------------------------------------------------- */

void rc_voice_say(struct rc_voice *v, const char *key, const char *text,
                  enum rc_priority priority) {
        struct rc_vmsg *m;
        int64_t now;
        bool text_cut;
        cJSON *o;

        if (v->closing)
                return;
        if (!key || !text || (unsigned)priority > RC_PRIORITY_SAFETY) {
                rc_log_warning("voice: say without a key, a text or a valid priority: ignored");
                return;
        }
        now = rc__voice_now_ms(v);
        m = rc_vmsg_new(v->next_id + 1, key, text, priority, now, &text_cut);
        if (!m) {
                rc_log_error("voice: %s not said: out of memory", key);
                v->stats.failed++;
                return;
        }
        v->next_id++;
        m->said_ns = uv_hrtime();
        if (text_cut)
                rc_log_warning("voice: %s: text cut to %d bytes", key, RC_VMSG_TEXT_MAX);

        switch (rc_vqueue_add(&v->queue, m, now)) {
        case RC_VQ_REPEAT:
                rc_log_debug("voice: %s not repeated within %.0f s", m->key, v->cfg.repeat_seconds);
                ev(v, "repeat", m);
                v->stats.repeats++;
                rc_vmsg_free(m);
                return;
        case RC_VQ_REFUSED:
                rc_log(priority == RC_PRIORITY_SAFETY ? RC_LOG_ERR : RC_LOG_NOTICE,
                       "voice: %s refused: the queue is full", m->key);
                ev(v, "refused_full", m);
                v->stats.refused_full++;
                rc_vmsg_free(m);
                return;
        case RC_VQ_QUEUED:
                break;
        }
        o = rc__voice_ev_new(v, "queued", m);
        if (o)
                cJSON_AddNumberToObject(o, "waiting", v->queue.n_waiting);
        rc__voice_ev_emit(v, o);
        if (v->current && rc_vqueue_cuts(v->current->m, v->current->start_ms, m, now)) {
                struct rc__utt *u = v->current;

                rc__utt_end(u, RC__VOICE_CUT, m->key);
                rc__utt_advance(u);
        }
        rc__voice_schedule(v);
}

void rc_voice_action(const struct rc_action *a, void *userdata) {
        if (a->kind == RC_ACTION_SAY)
                rc_voice_say(userdata, a->say.key, a->say.text, a->say.priority);
}

bool rc_voice_idle(const struct rc_voice *v) {
        return !v->current && v->queue.n_waiting == 0;
}

/* The next file number: after the highest NNNNNN-*.wav already in the directory,
 * so a restarted hub does not overwrite what an earlier one recorded. */
static uint64_t last_file_number(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        uint64_t max = 0;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                char *end;
                unsigned long long n = strtoull(e->d_name, &end, 10);
                size_t len = strlen(e->d_name);

                if (end != e->d_name && *end == '-' && len > 4 &&
                    strcmp(e->d_name + len - 4, ".wav") == 0 && n > max)
                        max = n;
        }
        closedir(d);
        return max;
}

int rc_voice_new(const struct rc_voice_opts *opts, struct rc_voice **ret) {
        const struct rc_voice_config *c = &opts->config;
        struct rc_voice *v;

        *ret = NULL;
        if (!opts->loop || c->output < RC_VOICE_ALSA || c->output > RC_VOICE_OFF ||
            !(c->rate >= 80 && c->rate <= 450) || !(c->pitch >= 0 && c->pitch <= 99) ||
            !(c->volume >= 0 && c->volume <= 200) || !(c->repeat_seconds >= 0) ||
            !(c->stale_seconds > 0) || !(c->queue >= 1 && c->queue <= 64) || !c->voice[0] ||
            (c->output == RC_VOICE_ALSA && !c->alsa_device[0])) {
                rc_log_error("voice: invalid options");
                return -EINVAL;
        }
        if (c->output == RC_VOICE_WAV) {
                struct stat st;

                if (!c->wav_dir[0] || stat(c->wav_dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
                    access(c->wav_dir, W_OK | X_OK) < 0) {
                        rc_log_error("voice: output wav needs a writable wav_dir (%s)",
                                     c->wav_dir[0] ? c->wav_dir : "none set");
                        return -EINVAL;
                }
        }
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->loop = opts->loop;
        v->cfg = *c;
        copy_str(v->espeak, sizeof(v->espeak), opts->espeak ? opts->espeak : "espeak-ng");
        copy_str(v->aplay, sizeof(v->aplay), opts->aplay ? opts->aplay : "aplay");
        v->timeline = opts->timeline;
        v->now_ms = opts->now_ms;
        v->userdata = opts->userdata;
        if (rc_vqueue_init(&v->queue, (int64_t)llround(c->repeat_seconds * 1000),
                           (int64_t)llround(c->stale_seconds * 1000), (unsigned)c->queue,
                           on_dropped, v) < 0) {
                free(v);
                return -ENOMEM;
        }
        v->stats.latency_min_ms = v->stats.latency_median_ms = v->stats.latency_max_ms = NAN;
        v->stats.safety_latency_max_ms = NAN;
        if (c->output == RC_VOICE_WAV)
                v->next_file = last_file_number(c->wav_dir);
        uv_idle_init(v->loop, &v->idle);
        v->idle.data = v;
        *ret = v;
        return 0;
}

static void on_idle_closed(uv_handle_t *h) {
        struct rc_voice *v = h->data;

        v->idle_closed = true;
        rc__voice_closed_if_done(v);
}

void rc_voice_close(struct rc_voice *v, void (*closed)(void *userdata), void *userdata) {
        unsigned n;

        if (v->closing)
                return;
        v->closing = true;
        v->closed = closed;
        v->closed_userdata = userdata;
        n = rc_vqueue_clear(&v->queue);
        if (n)
                rc_log_info("voice: closing, %u waiting not said", n);
        if (v->current) {
                struct rc__utt *u = v->current;

                rc__utt_end(u, RC__VOICE_CUT, "close");
                rc__utt_advance(u);
        }
        uv_close((uv_handle_t *)&v->idle, on_idle_closed);
}

void rc_voice_free(struct rc_voice *v) {
        if (!v)
                return;
        rc_vqueue_fini(&v->queue);
        free(v);
}
