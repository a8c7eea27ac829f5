/* rollcoach — the coach's voice (voice.h).
 *
 * The queue (struct rc_voice) decides what is said and when; an utterance (struct
 * utt) speaks one message: an espeak-ng child whose stdout WAV stream is parsed and
 * whose PCM goes, through a bounded ring, to the sink:
 *
 *   espeak-ng --stdout ─► pipe ─► WAV header parser ─► ring (64 KiB) ─► sink
 *                                                                  alsa: aplay's stdin
 *                                                                  wav:  uv_fs_write
 *
 * One write is in flight at a time; reading stops while the ring is full, so
 * espeak-ng waits on its pipe and nothing grows. An utterance ends exactly once:
 * done, cut or failed. Then it stops being the current one at once (the next can
 * start) and is torn down in the background: children killed (SIGKILL) and reaped
 * by their exit callbacks, handles closed, the WAV file's header fixed up; it is
 * freed when all of that has finished.
 *
 * Choices:
 * - aplay is spawned per utterance, not kept. A cut must silence what is already
 *   buffered: the socket to aplay holds seconds of audio and ALSA's ring up to
 *   half a second more, and only ending aplay drops them. aplay's exit after its
 *   drain is also the true end of the sound, so "one at a time" and the repeat
 *   window hold in the room, not only in the pipe. The device is held only while
 *   speaking, and each aplay takes the rate and channels of its own WAV header.
 *   The cost is aplay's start (fork, exec, opening the PCM), which overlaps with
 *   espeak-ng's synthesis of the first audio. With a killed aplay still around,
 *   the next waits for it to be reaped (at most REAP_WAIT_MS) so an exclusive hw
 *   device is free.
 * - Output wav plays in real time: PCM is written at most WAV_LEAD_MS ahead of a
 *   playback clock that starts with the first sample, and the utterance is done
 *   when its audio would have ended. So the queue behaves as with a sound card,
 *   and a cut file holds what would have been heard. File I/O is uv_fs (the
 *   thread pool): nothing touches the disk on the loop thread.
 * - Decisions (and t_ms) use the opts' clock; latencies and the playback clock
 *   always use uv_hrtime, so a test may move the decision clock freely. */
#include "outputs/voice.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "outputs/jsonl.h"
#include "util/bytes.h"
#include "util/log.h"

#define KEY_MAX 63         /* bytes of a key kept (longer keys are truncated) */
#define TEXT_MAX 2000      /* bytes of a text kept (the shipped ones are < 500) */
#define SAFETY_EXTRA 16    /* safety messages accepted beyond `queue` (then refused) */
#define RECENT_KEYS 64     /* keys remembered for the repeat window (oldest replaced) */
#define RING_BYTES 65536   /* PCM held per utterance: 1.5 s at 22050 Hz mono s16 */
#define READ_MIN 4096      /* reading pauses with less room than this in the ring */
#define HDR_MAX 4096       /* the WAV header, RIFF to the data chunk, must fit */
#define WAV_HDR 44         /* the canonical header written to wav files */
#define WAV_LEAD_MS 100    /* output wav: written this far ahead of the playback */
#define WAV_STEP_MS 20     /* output wav: and in steps of at least this much audio */
#define REAP_WAIT_MS 250   /* alsa: wait for a killed aplay before the next at most */
#define LATENCY_KEEP 1024  /* latencies kept for the median */
#define UNKNOWN UINT64_MAX /* a data chunk that runs to the end of the stream */
#define UPDATE_CUT_MS 1000 /* a new text cuts its key's old one once that has spoken this long */

struct msg {
        uint64_t id; /* say order, from 1 */
        enum rc_priority priority;
        int64_t said_ms;  /* decision clock */
        uint64_t said_ns; /* uv_hrtime */
        char key[KEY_MAX + 1];
        char *text;
        uint64_t text_hash;
};

struct wav_fmt {
        unsigned rate, channels, block;
        uint64_t data_size; /* UNKNOWN: to the end */
};

enum end_kind { END_DONE, END_CUT, END_FAILED };

struct utt {
        struct rc_voice *v;
        struct utt *next; /* v->utts */
        struct msg *m;
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
        struct wav_fmt fmt;
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
        uint8_t hdr[WAV_HDR];
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
        int64_t repeat_ms, stale_ms;
        unsigned queue_max;

        uv_idle_t idle; /* runs the queue once the current callbacks are done */
        struct msg **waiting;
        unsigned n_waiting, waiting_cap;
        struct utt *current;
        struct utt *utts; /* current and those being torn down */
        unsigned dying_aplays;
        uint64_t next_id, next_file;

        struct {
                char key[KEY_MAX + 1];
                uint64_t text_hash;
                int64_t start_ms;
        } recent[RECENT_KEYS];
        unsigned n_recent;

        struct rc_voice_stats stats;
        double latencies[LATENCY_KEEP];
        unsigned n_latencies; /* stored (up to LATENCY_KEEP), ring after that */
        uint64_t latency_count;

        bool closing, idle_closed, closed_called;
        void (*closed)(void *userdata);
        void *closed_userdata;
};

static void advance(struct utt *u);

/* ---- small helpers --------------------------------------------------------------------------- */

static int64_t now_ms(const struct rc_voice *v) {
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

static double byte_rate(const struct wav_fmt *f) {
        return (double)f->rate * f->block;
}

/* ---- the WAV header -------------------------------------------------------------------------- */

/* Parse a WAV stream's header: RIFF/WAVE, chunks up to "data" (others skipped,
 * odd sizes padded), a 16-bit PCM (or extensible PCM) "fmt " before it. Returns
 * the offset of the first PCM byte, 0 if more bytes are needed, -EBADMSG if it is
 * not a WAV header that fits in HDR_MAX, -ENOTSUP for other sample formats. A data
 * size of 0 or 0xFFFFFFFF, or espeak-ng's placeholder 0x7FFFF000 and above, means
 * "to the end of the stream" (a writer that cannot seek back). */
static int wav_parse(const uint8_t *p, size_t n, struct wav_fmt *ret) {
        size_t off = 12;
        bool have_fmt = false;

        if (n >= 4 && memcmp(p, "RIFF", 4) != 0)
                return -EBADMSG;
        if (n >= 12 && memcmp(p + 8, "WAVE", 4) != 0)
                return -EBADMSG;
        for (;;) {
                uint32_t size;

                if (off + 8 > n)
                        return n >= HDR_MAX ? -EBADMSG : 0;
                size = rc_le32(p + off + 4);
                if (memcmp(p + off, "data", 4) == 0) {
                        if (!have_fmt)
                                return -EBADMSG;
                        ret->data_size = size == 0 || size >= 0x7ffff000u ? UNKNOWN : size;
                        return (int)(off + 8);
                }
                if (size > HDR_MAX)
                        return -EBADMSG;
                if (memcmp(p + off, "fmt ", 4) == 0) {
                        const uint8_t *f = p + off + 8;
                        unsigned tag, bits;

                        if (size < 16)
                                return -EBADMSG;
                        if (off + 8 + size > n)
                                return n >= HDR_MAX ? -EBADMSG : 0;
                        tag = rc_le16(f);
                        ret->channels = rc_le16(f + 2);
                        ret->rate = rc_le32(f + 4);
                        ret->block = rc_le16(f + 12);
                        bits = rc_le16(f + 14);
                        if (tag == 0xfffe && size >= 40) /* extensible: the subformat's tag */
                                tag = rc_le16(f + 24);
                        if (tag != 1 || bits != 16)
                                return -ENOTSUP;
                        if (ret->channels < 1 || ret->channels > 8 || ret->rate < 4000 ||
                            ret->rate > 384000 || ret->block != 2 * ret->channels)
                                return -EBADMSG;
                        have_fmt = true;
                }
                off += 8 + (size_t)size + (size & 1);
        }
}

/* The canonical 44-byte header for `data` bytes (UNKNOWN: the streaming sizes). */
static void wav_header(uint8_t *h, const struct wav_fmt *f, uint64_t data) {
        uint32_t d = data > 0xffffffffu - 36 ? 0xffffffffu - 36 : (uint32_t)data;

        memcpy(h, "RIFF", 4);
        rc_put_le32(h + 4, data == UNKNOWN ? 0xffffffffu : 36 + d);
        memcpy(h + 8, "WAVEfmt ", 8);
        rc_put_le32(h + 16, 16);
        rc_put_le16(h + 20, 1);
        rc_put_le16(h + 22, (uint16_t)f->channels);
        rc_put_le32(h + 24, f->rate);
        rc_put_le32(h + 28, f->rate * f->block);
        rc_put_le16(h + 32, (uint16_t)f->block);
        rc_put_le16(h + 34, 16);
        memcpy(h + 36, "data", 4);
        rc_put_le32(h + 40, data == UNKNOWN ? 0xffffffffu : d);
}

/* ---- the timeline and the stats -------------------------------------------------------------- */

static cJSON *ev_new(struct rc_voice *v, const char *event, const struct msg *m) {
        cJSON *o;

        if (!v->timeline)
                return NULL;
        o = cJSON_CreateObject();
        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "t_ms", (double)now_ms(v));
        cJSON_AddStringToObject(o, "event", event);
        cJSON_AddNumberToObject(o, "id", (double)m->id);
        cJSON_AddStringToObject(o, "key", m->key);
        cJSON_AddStringToObject(o, "priority", rc_priority_name(m->priority));
        return o;
}

static void ev_emit(struct rc_voice *v, cJSON *o) {
        if (!o)
                return;
        if (rc_jsonl_write(v->timeline, o) < 0 || fflush(v->timeline) != 0)
                rc_log_warning("voice: cannot write the timeline");
        cJSON_Delete(o);
}

static void ev(struct rc_voice *v, const char *event, const struct msg *m) {
        ev_emit(v, ev_new(v, event, m));
}

static void add_latency(struct rc_voice *v, const struct msg *m, double ms) {
        struct rc_voice_stats *s = &v->stats;

        if (v->latency_count == 0 || ms < s->latency_min_ms)
                s->latency_min_ms = ms;
        if (v->latency_count == 0 || ms > s->latency_max_ms)
                s->latency_max_ms = ms;
        if (m->priority == RC_PRIORITY_SAFETY &&
            (isnan(s->safety_latency_max_ms) || ms > s->safety_latency_max_ms))
                s->safety_latency_max_ms = ms;
        v->latencies[v->latency_count % LATENCY_KEEP] = ms;
        v->latency_count++;
        if (v->n_latencies < LATENCY_KEEP)
                v->n_latencies++;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

void rc_voice_stats(const struct rc_voice *v, struct rc_voice_stats *ret) {
        double sorted[LATENCY_KEEP];
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

/* ---- messages and the queue ------------------------------------------------------------------ */

static void msg_free(struct msg *m) {
        if (!m)
                return;
        free(m->text);
        free(m);
}

static void unqueue(struct rc_voice *v, unsigned i) {
        memmove(&v->waiting[i], &v->waiting[i + 1], (v->n_waiting - i - 1) * sizeof(v->waiting[0]));
        v->n_waiting--;
}

/* Drop the i-th waiting message: a timeline `event`, counted in `count`. */
static void drop_waiting(struct rc_voice *v, unsigned i, const char *event, uint64_t *count) {
        struct msg *m = v->waiting[i];

        ev(v, event, m);
        (*count)++;
        unqueue(v, i);
        msg_free(m);
}

/* Cues waiting longer than stale_seconds are dropped (never begun late): a cue
 * belongs to its moment. Infos (a summary, the week's sessions, what the hub did)
 * keep; warnings and safety messages are always said. */
static void purge_stale(struct rc_voice *v, int64_t now) {
        for (unsigned i = 0; i < v->n_waiting;) {
                struct msg *m = v->waiting[i];

                if (m->priority == RC_PRIORITY_CUE && now - m->said_ms > v->stale_ms) {
                        rc_log_info("voice: %s dropped: not begun within %.0f s", m->key,
                                    v->cfg.stale_seconds);
                        drop_waiting(v, i, "dropped_stale", &v->stats.dropped_stale);
                        continue;
                }
                i++;
        }
}

/* The waiting message to say next: the highest priority, the oldest of it. */
static int best_waiting(const struct rc_voice *v) {
        int best = -1;

        for (unsigned i = 0; i < v->n_waiting; i++)
                if (best < 0 || v->waiting[i]->priority > v->waiting[best]->priority)
                        best = (int)i;
        return best;
}

/* The waiting message to drop for room: the lowest priority, the oldest of it. */
static int worst_waiting(const struct rc_voice *v) {
        int worst = -1;

        for (unsigned i = 0; i < v->n_waiting; i++)
                if (worst < 0 || v->waiting[i]->priority < v->waiting[worst]->priority)
                        worst = (int)i;
        return worst;
}

/* FNV-1a: the same text, for the repeat rule */
static uint64_t text_hash(const char *t) {
        uint64_t h = 14695981039346656037u;

        for (; *t; t++)
                h = (h ^ (uint8_t)*t) * 1099511628211u;
        return h;
}

static bool same_message(const struct msg *a, const struct msg *b) {
        return strcmp(a->key, b->key) == 0 && a->text_hash == b->text_hash &&
               strcmp(a->text, b->text) == 0;
}

/* Was this message (key and text) started within the repeat window, or is it
 * waiting? */
static bool is_repeat(const struct rc_voice *v, const struct msg *m, int64_t now) {
        if (v->repeat_ms <= 0)
                return false;
        for (unsigned i = 0; i < v->n_recent; i++)
                if (strcmp(v->recent[i].key, m->key) == 0 &&
                    v->recent[i].text_hash == m->text_hash &&
                    now - v->recent[i].start_ms < v->repeat_ms)
                        return true;
        for (unsigned i = 0; i < v->n_waiting; i++)
                if (same_message(v->waiting[i], m))
                        return true;
        return false;
}

static void remember_start(struct rc_voice *v, const struct msg *m, int64_t now) {
        const char *key = m->key;
        unsigned slot = RECENT_KEYS;

        for (unsigned i = 0; i < v->n_recent && slot == RECENT_KEYS; i++)
                if (strcmp(v->recent[i].key, key) == 0)
                        slot = i;
        if (slot == RECENT_KEYS && v->n_recent < RECENT_KEYS) {
                slot = v->n_recent++;
        } else if (slot == RECENT_KEYS) { /* full: forget the oldest start */
                slot = 0;
                for (unsigned i = 1; i < RECENT_KEYS; i++)
                        if (v->recent[i].start_ms < v->recent[slot].start_ms)
                                slot = i;
        }
        copy_str(v->recent[slot].key, sizeof(v->recent[slot].key), key);
        v->recent[slot].text_hash = m->text_hash;
        v->recent[slot].start_ms = now;
}

static void schedule(struct rc_voice *v);

/* ---- an utterance: ending and teardown ------------------------------------------------------- */

/* Closing: `closed` runs once the idle handle is closed and every utterance freed. */
static void closed_if_done(struct rc_voice *v) {
        if (v->closing && v->idle_closed && !v->utts && !v->closed_called) {
                v->closed_called = true;
                if (v->closed)
                        v->closed(v->closed_userdata);
        }
}

static void utt_free(struct utt *u) {
        struct rc_voice *v = u->v;

        for (struct utt **p = &v->utts; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        msg_free(u->m);
        free(u->ring);
        free(u);
        closed_if_done(v);
}

static double audio_ms(const struct utt *u) {
        if (!u->hdr_done)
                return 0;
        return (double)u->pcm_out * 1000.0 / byte_rate(&u->fmt);
}

/* End the utterance once: it is no longer the current one; teardown follows in
 * advance(). `by`: what cut it (a key, or "close"). */
static void end(struct utt *u, enum end_kind kind, const char *by) {
        struct rc_voice *v = u->v;
        static const char *const names[] = {"done", "cut", "failed"};
        cJSON *o;

        if (u->ended)
                return;
        u->ended = true;
        if (v->current == u)
                v->current = NULL;
        o = ev_new(v, names[kind], u->m);
        if (o && u->hdr_done)
                rc_json_add_number(o, "audio_ms", audio_ms(u), 0);
        switch (kind) {
        case END_DONE:
                v->stats.said++;
                rc_log_debug("voice: %s done (%.0f ms of audio)", u->m->key, audio_ms(u));
                break;
        case END_CUT:
                v->stats.cut++;
                if (o)
                        cJSON_AddStringToObject(o, "by", by);
                rc_log_info("voice: %s cut by %s", u->m->key, by);
                break;
        case END_FAILED:
                v->stats.failed++;
                if (o) {
                        cJSON_AddStringToObject(o, "reason", u->fail);
                        if (u->fail_errno)
                                cJSON_AddStringToObject(o, "error", uv_strerror(u->fail_errno));
                }
                if (u->fail_errno)
                        rc_log_error("voice: %s not said: %s: %s", u->m->key, u->fail,
                                     uv_strerror(u->fail_errno));
                else
                        rc_log_error("voice: %s not said: %s", u->m->key, u->fail);
                break;
        }
        ev_emit(v, o);
        schedule(v);
}

static void fail(struct utt *u, const char *why, int err) {
        if (u->ended || u->fail)
                return;
        u->fail = why;
        u->fail_errno = err;
}

static void on_handle_closed(uv_handle_t *h) {
        struct utt *u = h->data;

        u->handles--;
        advance(u);
}

static void close_handle(struct utt *u, uv_handle_t *h) {
        uv_close(h, on_handle_closed);
}

static void on_fs(uv_fs_t *req);

/* Output wav: the file's next last step, once the PCM is written (or the utterance
 * ended): the header's sizes fixed up, then the file closed. False if both are done. */
static bool finish_file(struct utt *u) {
        if (u->fs_closed)
                return false;
        u->fs_busy = true;
        u->fsreq.data = u;
        if (!u->fs_fixed) {
                uv_buf_t b = uv_buf_init((char *)u->hdr, WAV_HDR);

                u->fs_fixed = true;
                wav_header(u->hdr, &u->fmt, u->pcm_out);
                uv_fs_write(u->v->loop, &u->fsreq, u->fd, &b, 1, 0, on_fs);
        } else {
                u->fs_closed = true;
                uv_fs_close(u->v->loop, &u->fsreq, u->fd, on_fs);
        }
        return true;
}

static void teardown(struct utt *u) {
        struct rc_voice *v = u->v;

        if (u->espeak_running && !u->espeak_killed) {
                u->espeak_killed = true;
                uv_process_kill(&u->espeak, SIGKILL);
        }
        if (u->aplay_running && !u->aplay_killed) {
                u->aplay_killed = true;
                v->dying_aplays++;
                uv_process_kill(&u->aplay, SIGKILL);
        }
        if (u->out_open) {
                u->out_open = false;
                close_handle(u, (uv_handle_t *)&u->out);
        }
        if (u->in_open) { /* cancels the write in flight (its callback runs first) */
                u->in_open = false;
                close_handle(u, (uv_handle_t *)&u->in);
        }
        if (u->timer_open) {
                u->timer_open = false;
                close_handle(u, (uv_handle_t *)&u->timer);
        }
        if (u->fs_opened && !u->fs_busy)
                finish_file(u);
        if (u->handles == 0 && !u->fs_busy && !u->espeak_running && !u->aplay_running &&
            (!u->fs_opened || u->fs_closed) && !u->writing)
                utt_free(u);
}

/* ---- an utterance: the children -------------------------------------------------------------- */

static void on_espeak_exit(uv_process_t *p, int64_t status, int signal) {
        struct utt *u = p->data;

        u->espeak_running = false;
        u->espeak_ok = status == 0 && signal == 0;
        if (!u->espeak_ok && !u->espeak_killed) {
                rc_log_warning("voice: espeak-ng exited with status %" PRId64 ", signal %d", status,
                               signal);
                fail(u, "espeak-ng failed", 0);
        }
        close_handle(u, (uv_handle_t *)p);
        advance(u);
}

static void on_aplay_exit(uv_process_t *p, int64_t status, int signal) {
        struct utt *u = p->data;
        struct rc_voice *v = u->v;

        u->aplay_running = false;
        u->aplay_ok = status == 0 && signal == 0;
        if (u->aplay_killed) {
                /* the device is free: the current utterance may open it */
                if (--v->dying_aplays == 0 && v->current && v->current != u)
                        advance(v->current);
        } else if (!u->aplay_ok) {
                rc_log_warning("voice: aplay exited with status %" PRId64 ", signal %d", status,
                               signal);
                fail(u, "aplay failed", 0);
        } else if (u->in_open) {
                fail(u, "aplay exited before the end", 0);
        }
        close_handle(u, (uv_handle_t *)p);
        advance(u);
}

static int spawn(struct utt *u, uv_process_t *p, uv_pipe_t *pipe, bool child_reads,
                 const char *file, char **args, uv_exit_cb exit_cb) {
        uv_stdio_container_t stdio[3];
        uv_process_options_t o = {0};
        int r;

        uv_pipe_init(u->v->loop, pipe, 0);
        pipe->data = p->data = u;
        u->handles++;
        stdio[0].flags = UV_IGNORE;
        stdio[1].flags = UV_IGNORE;
        stdio[child_reads ? 0 : 1].flags =
                UV_CREATE_PIPE | (child_reads ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
        stdio[child_reads ? 0 : 1].data.stream = (uv_stream_t *)pipe;
        stdio[2].flags = UV_INHERIT_FD; /* their complaints go to our stderr: the journal */
        stdio[2].data.fd = 2;
        o.file = file;
        o.args = args;
        o.stdio = stdio;
        o.stdio_count = 3;
        o.exit_cb = exit_cb;
        r = uv_spawn(u->v->loop, p, &o);
        u->handles++; /* the process handle is initialised even when the spawn fails */
        if (r < 0) {
                close_handle(u, (uv_handle_t *)p);
                close_handle(u, (uv_handle_t *)pipe);
        }
        return r;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        struct utt *u = h->data;
        size_t tail;

        (void)suggested;
        if (u->len == 0) /* nothing held (a write in flight holds its bytes) */
                u->head = 0;
        if (u->len == RING_BYTES) {
                *buf = uv_buf_init(NULL, 0);
                return;
        }
        tail = (u->head + u->len) % RING_BYTES;
        *buf = uv_buf_init((char *)u->ring + tail,
                           (unsigned)(tail >= u->head ? RING_BYTES - tail : u->head - tail));
}

static void stop_reading(struct utt *u) {
        if (u->reading) {
                uv_read_stop((uv_stream_t *)&u->out);
                u->reading = false;
        }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
        struct utt *u = s->data;

        (void)buf;
        if (nread == UV_ENOBUFS) {
                stop_reading(u);
        } else if (nread < 0) {
                stop_reading(u);
                if (nread != UV_EOF)
                        fail(u, "reading espeak-ng's output", (int)nread);
                u->eof = true;
                if (u->out_open) {
                        u->out_open = false;
                        close_handle(u, (uv_handle_t *)&u->out);
                }
        } else if (nread > 0 && u->ended) {
                /* a cut: the rest is not wanted */
        } else if (nread > 0 && !u->hdr_done) {
                int r;

                u->len += (size_t)nread;
                r = wav_parse(u->ring + u->head, u->len, &u->fmt);
                if (r < 0) {
                        fail(u,
                             r == -ENOTSUP ? "espeak-ng's WAV is not 16-bit PCM"
                                           : "espeak-ng's output is not a WAV stream",
                             0);
                } else if (r > 0) {
                        u->hdr_done = true;
                        u->head += (size_t)r;
                        u->len -= (size_t)r;
                        u->data_left = u->fmt.data_size;
                        if (u->data_left != UNKNOWN && u->len > u->data_left)
                                u->len = (size_t)u->data_left;
                        if (u->data_left != UNKNOWN)
                                u->data_left -= u->len;
                }
        } else if (nread > 0) {
                size_t keep = (size_t)nread;

                if (u->data_left != UNKNOWN) {
                        if (keep > u->data_left)
                                keep = (size_t)u->data_left;
                        u->data_left -= keep;
                }
                u->len += keep;
        }
        if (u->reading && RING_BYTES - u->len < READ_MIN)
                stop_reading(u);
        advance(u);
}

/* ---- an utterance: the sinks ----------------------------------------------------------------- */

/* The ring's next `n` bytes as one or two buffers. */
static unsigned ring_bufs(const struct utt *u, size_t n, uv_buf_t *b) {
        size_t first = RING_BYTES - u->head;

        if (n <= first) {
                b[0] = uv_buf_init((char *)u->ring + u->head, (unsigned)n);
                return 1;
        }
        b[0] = uv_buf_init((char *)u->ring + u->head, (unsigned)first);
        b[1] = uv_buf_init((char *)u->ring, (unsigned)(n - first));
        return 2;
}

/* A write of `n` PCM bytes completed. */
static void written(struct utt *u, size_t n) {
        struct rc_voice *v = u->v;

        u->head = (u->head + n) % RING_BYTES;
        u->len -= n;
        u->pcm_out += n;
        u->writing = 0;
        if (!u->first_sample && n > 0 && !u->ended) {
                double ms = (double)(uv_hrtime() - u->m->said_ns) / 1e6;
                cJSON *o = ev_new(v, "first_sample", u->m);

                u->first_sample = true;
                add_latency(v, u->m, ms);
                if (o)
                        rc_json_add_number(o, "latency_ms", ms, 1);
                ev_emit(v, o);
        }
}

static void on_pipe_written(uv_write_t *req, int status) {
        struct utt *u = req->data;
        size_t n = u->writing;

        if (status < 0) {
                u->writing = 0;
                if (status != UV_ECANCELED)
                        fail(u, "writing to aplay", status);
        } else {
                written(u, n);
        }
        advance(u);
}

static void on_fs(uv_fs_t *req) {
        struct utt *u = req->data;
        ssize_t r = req->result;
        uv_fs_type type = req->fs_type;

        uv_fs_req_cleanup(req);
        u->fs_busy = false;
        switch (type) {
        case UV_FS_OPEN:
                if (r < 0) {
                        fail(u, "cannot create the WAV file", (int)r);
                } else {
                        u->fd = (int)r;
                        u->fs_opened = true;
                }
                break;
        case UV_FS_WRITE:
                if (u->writing) {
                        size_t n = u->writing;

                        if (r < 0 || (size_t)r != n + (u->pcm_out == 0 ? WAV_HDR : 0)) {
                                u->writing = 0;
                                fail(u, "cannot write the WAV file", r < 0 ? (int)r : -EIO);
                        } else {
                                written(u, n);
                        }
                } else if (r != WAV_HDR) { /* the header's fix-up */
                        fail(u, "cannot write the WAV file", r < 0 ? (int)r : -EIO);
                }
                break;
        case UV_FS_CLOSE:
                if (r < 0)
                        fail(u, "cannot close the WAV file", (int)r);
                break;
        default:
                break;
        }
        advance(u);
}

static void on_timer(uv_timer_t *t) {
        struct utt *u = t->data;

        u->timer_armed = false;
        if (u->v->cfg.output == RC_VOICE_ALSA)
                u->reap_waited = true;
        advance(u);
}

static void arm_timer(struct utt *u, uint64_t ms) {
        if (!u->timer_open) {
                uv_timer_init(u->v->loop, &u->timer);
                u->timer.data = u;
                u->timer_open = true;
                u->handles++;
        }
        if (!u->timer_armed) {
                u->timer_armed = true;
                uv_timer_start(&u->timer, on_timer, ms, 0);
        }
}

static void spawn_aplay(struct utt *u) {
        struct rc_voice *v = u->v;
        char rate[16], ch[8];
        char *args[] = {
                v->aplay, "-q", "-D", v->cfg.alsa_device, "-t", "raw", "-f", "S16_LE", "-r", rate,
                "-c",     ch,   NULL};
        int r;

        snprintf(rate, sizeof(rate), "%u", u->fmt.rate);
        snprintf(ch, sizeof(ch), "%u", u->fmt.channels);
        u->aplay_spawned = true;
        r = spawn(u, &u->aplay, &u->in, true, v->aplay, args, on_aplay_exit);
        if (r < 0) {
                fail(u, "cannot start aplay", r);
                return;
        }
        u->aplay_running = u->in_open = true;
}

static void open_file(struct utt *u) {
        struct rc_voice *v = u->v;
        int r;

        u->fs_busy = true;
        u->fsreq.data = u;
        r = uv_fs_open(v->loop, &u->fsreq, u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644,
                       on_fs);
        if (r < 0) {
                u->fs_busy = false;
                fail(u, "cannot create the WAV file", r);
        }
}

/* Output alsa: aplay once the header is known (and a killed one has gone). */
static void step_alsa(struct utt *u) {
        uv_buf_t b[2];
        unsigned nb;

        if (!u->hdr_done)
                return;
        if (!u->aplay_spawned) {
                if (u->v->dying_aplays > 0 && !u->reap_waited) {
                        arm_timer(u, REAP_WAIT_MS);
                        return;
                }
                spawn_aplay(u);
                if (u->fail)
                        return;
        }
        if (!u->in_open || u->writing)
                return;
        if (u->len > 0) {
                nb = ring_bufs(u, u->len, b);
                u->writing = u->len;
                u->wreq.data = u;
                int r = uv_write(&u->wreq, (uv_stream_t *)&u->in, b, nb, on_pipe_written);
                if (r < 0) {
                        u->writing = 0;
                        fail(u, "writing to aplay", r);
                }
        } else if (u->eof) { /* all written: aplay drains and exits */
                u->in_open = false;
                close_handle(u, (uv_handle_t *)&u->in);
        }
}

/* Writes smaller than WAV_STEP_MS of audio wait (unless they are the last). */
static size_t quantum(const struct utt *u) {
        size_t q = (size_t)(byte_rate(&u->fmt) * WAV_STEP_MS / 1000);

        return q - q % u->fmt.block;
}

/* Output wav: PCM at most WAV_LEAD_MS ahead of the playback clock. */
static void step_wav(struct utt *u) {
        struct rc_voice *v = u->v;
        uv_buf_t b[3];
        unsigned nb = 0;
        size_t n;

        if (!u->hdr_done)
                return;
        if (!u->fs_opened) {
                if (!u->fs_busy)
                        open_file(u);
                return;
        }
        if (u->fs_busy || u->writing)
                return;
        if (u->eof && u->len < u->fmt.block)
                u->len = 0; /* a partial frame at the end */
        if (u->len > 0) {
                double br = byte_rate(&u->fmt);
                uint64_t now = uv_hrtime(), allowed;

                if (!u->t0_ns)
                        u->t0_ns = now;
                allowed = (uint64_t)((double)(now - u->t0_ns) / 1e9 * br + WAV_LEAD_MS / 1e3 * br);
                n = allowed > u->pcm_out ? (size_t)(allowed - u->pcm_out) : 0;
                if (n > u->len)
                        n = u->len;
                n -= n % u->fmt.block;
                if (n < u->len && n < quantum(u)) { /* not worth a write yet */
                        arm_timer(u, WAV_STEP_MS);
                        return;
                }
                if (u->pcm_out == 0) { /* the first write carries the header */
                        wav_header(u->hdr, &u->fmt, UNKNOWN);
                        b[nb++] = uv_buf_init((char *)u->hdr, WAV_HDR);
                }
                nb += ring_bufs(u, n, b + nb);
                u->writing = n;
                u->fs_busy = true;
                u->fsreq.data = u;
                uv_fs_write(v->loop, &u->fsreq, u->fd, b, nb,
                            (int64_t)(u->pcm_out ? WAV_HDR + u->pcm_out : 0), on_fs);
                return;
        }
        if (!u->eof || u->espeak_running || finish_file(u))
                return;
        if (!u->played) { /* done when its audio would have ended */
                uint64_t end_ns = u->t0_ns + (uint64_t)(audio_ms(u) * 1e6);
                uint64_t now = uv_hrtime();

                if (!u->t0_ns || now + 1000000 >= end_ns)
                        u->played = true;
                else
                        arm_timer(u, (end_ns - now + 999999) / 1000000);
        }
}

/* Move the utterance on after any event; the only place that ends or frees it. */
static void advance(struct utt *u) {
        struct rc_voice *v = u->v;

        if (!u->ended) {
                if (!u->fail && u->eof && !u->hdr_done && !u->espeak_running)
                        fail(u, "espeak-ng wrote no WAV header", 0);
                if (!u->fail) {
                        if (v->cfg.output == RC_VOICE_ALSA)
                                step_alsa(u);
                        else
                                step_wav(u);
                }
                if (u->fail) {
                        end(u, END_FAILED, NULL);
                } else if (!u->reading && u->out_open && RING_BYTES - u->len >= READ_MIN) {
                        u->reading = uv_read_start((uv_stream_t *)&u->out, on_alloc, on_read) == 0;
                } else if (u->eof && !u->espeak_running && u->espeak_ok) {
                        bool finished = v->cfg.output == RC_VOICE_ALSA
                                                ? u->aplay_spawned && !u->aplay_running &&
                                                          u->aplay_ok && !u->in_open
                                                : u->fs_closed && !u->fs_busy && u->played;

                        if (finished)
                                end(u, END_DONE, NULL);
                }
        }
        if (u->ended)
                teardown(u);
}

/* ---- starting an utterance ------------------------------------------------------------------- */

static void start(struct rc_voice *v, struct msg *m) {
        struct utt *u;
        char rate[16], pitch[16], volume[16];
        char *args[] = {v->espeak, "--stdout", "-v",   v->cfg.voice, "-s",    rate, "-p",
                        pitch,     "-a",       volume, "--",         m->text, NULL};
        int64_t now = now_ms(v);
        cJSON *o;
        int r;

        remember_start(v, m, now);
        u = calloc(1, sizeof(*u));
        if (u)
                u->ring = malloc(RING_BYTES);
        if (!u || !u->ring) {
                rc_log_error("voice: %s not said: out of memory", m->key);
                ev(v, "failed", m);
                v->stats.failed++;
                free(u);
                msg_free(m);
                return;
        }
        u->v = v;
        u->m = m;
        u->start_ms = now;
        u->fd = -1;
        u->espeak_ok = u->aplay_ok = true;
        u->next = v->utts;
        v->utts = u;
        o = ev_new(v, "start", m);
        if (v->cfg.output == RC_VOICE_WAV) {
                char safe[KEY_MAX + 1];
                size_t i;

                for (i = 0; m->key[i]; i++) {
                        char c = m->key[i];
                        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

                        safe[i] = ok && !(i == 0 && c == '.') ? c : '_';
                }
                safe[i] = '\0';
                u->file_no = ++v->next_file;
                r = snprintf(u->path, sizeof(u->path), "%s/%06" PRIu64 "-%s.wav", v->cfg.wav_dir,
                             u->file_no, safe);
                if (r < 0 || (size_t)r >= sizeof(u->path))
                        fail(u, "the WAV file's path is too long", 0);
                if (o)
                        cJSON_AddStringToObject(o, "file", strrchr(u->path, '/') + 1);
        }
        ev_emit(v, o);
        rc_log_info("say [%s] %s: %s", rc_priority_name(m->priority), m->key, m->text);
        v->current = u;
        if (v->cfg.output == RC_VOICE_OFF) {
                end(u, END_DONE, NULL);
                advance(u);
                return;
        }
        if (!u->fail) {
                snprintf(rate, sizeof(rate), "%ld", lround(v->cfg.rate));
                snprintf(pitch, sizeof(pitch), "%ld", lround(v->cfg.pitch));
                snprintf(volume, sizeof(volume), "%ld", lround(v->cfg.volume));
                r = spawn(u, &u->espeak, &u->out, false, v->espeak, args, on_espeak_exit);
                if (r < 0) {
                        fail(u, "cannot start espeak-ng", r);
                } else {
                        u->espeak_running = u->out_open = true;
                }
        }
        advance(u);
}

/* The queue, once the callbacks that said something are done: messages said
 * together are taken in priority order, not in the order of their says. */
static void on_idle(uv_idle_t *h) {
        struct rc_voice *v = h->data;

        uv_idle_stop(h);
        if (v->closing)
                return;
        purge_stale(v, now_ms(v));
        while (!v->current && v->n_waiting > 0) {
                int i = best_waiting(v);
                struct msg *m = v->waiting[i];

                unqueue(v, (unsigned)i);
                start(v, m);
        }
}

static void schedule(struct rc_voice *v) {
        if (!v->closing && !uv_is_active((uv_handle_t *)&v->idle))
                uv_idle_start(&v->idle, on_idle);
}

/* ---- the API --------------------------------------------------------------------------------- */

void rc_voice_say(struct rc_voice *v, const char *key, const char *text,
                  enum rc_priority priority) {
        struct msg *m;
        int64_t now;
        size_t n;

        if (v->closing)
                return;
        if (!key || !text || (unsigned)priority > RC_PRIORITY_SAFETY) {
                rc_log_warning("voice: say without a key, a text or a valid priority: ignored");
                return;
        }
        now = now_ms(v);
        m = calloc(1, sizeof(*m));
        n = strnlen(text, TEXT_MAX);
        if (m)
                m->text = malloc(n + 1);
        if (!m || !m->text) {
                rc_log_error("voice: %s not said: out of memory", key);
                v->stats.failed++;
                msg_free(m);
                return;
        }
        memcpy(m->text, text, n);
        m->text[n] = '\0';
        if (text[n])
                rc_log_warning("voice: %s: text cut to %d bytes", key, TEXT_MAX);
        copy_str(m->key, sizeof(m->key), key);
        m->id = ++v->next_id;
        m->priority = priority;
        m->said_ms = now;
        m->said_ns = uv_hrtime();
        m->text_hash = text_hash(m->text);

        purge_stale(v, now);
        if (is_repeat(v, m, now)) {
                rc_log_debug("voice: %s not repeated within %.0f s", m->key, v->cfg.repeat_seconds);
                ev(v, "repeat", m);
                v->stats.repeats++;
                msg_free(m);
                return;
        }
        /* a new text under a key is an update: it replaces its key's waiting one */
        for (unsigned i = 0; i < v->n_waiting; i++)
                if (strcmp(v->waiting[i]->key, m->key) == 0) {
                        rc_log_info("voice: %s replaced by a newer one", m->key);
                        drop_waiting(v, i, "replaced", &v->stats.replaced);
                        break;
                }
        if (v->n_waiting >= v->queue_max) {
                int w = worst_waiting(v);
                struct msg *victim = v->waiting[w];

                if (priority < victim->priority ||
                    (victim->priority == RC_PRIORITY_SAFETY && v->n_waiting >= v->waiting_cap)) {
                        rc_log(priority == RC_PRIORITY_SAFETY ? RC_LOG_ERR : RC_LOG_NOTICE,
                               "voice: %s refused: the queue is full", m->key);
                        ev(v, "refused_full", m);
                        v->stats.refused_full++;
                        msg_free(m);
                        return;
                }
                if (victim->priority != RC_PRIORITY_SAFETY) {
                        rc_log_notice("voice: %s dropped for room", victim->key);
                        drop_waiting(v, (unsigned)w, "dropped_full", &v->stats.dropped_full);
                }
        }
        v->waiting[v->n_waiting++] = m;
        {
                cJSON *o = ev_new(v, "queued", m);

                if (o)
                        cJSON_AddNumberToObject(o, "waiting", v->n_waiting);
                ev_emit(v, o);
        }
        /* docs/spec/coaching.md: a higher priority interrupts a lower one being
         * spoken; a safety message cuts whatever is being said (the newest danger is
         * the one that matters) */
        if (v->current && (priority == RC_PRIORITY_SAFETY || priority > v->current->m->priority ||
                           (strcmp(v->current->m->key, m->key) == 0 &&
                            now - v->current->start_ms >= UPDATE_CUT_MS))) {
                struct utt *u = v->current;

                end(u, END_CUT, m->key);
                advance(u);
        }
        schedule(v);
}

void rc_voice_action(const struct rc_action *a, void *userdata) {
        if (a->kind == RC_ACTION_SAY)
                rc_voice_say(userdata, a->say.key, a->say.text, a->say.priority);
}

bool rc_voice_idle(const struct rc_voice *v) {
        return !v->current && v->n_waiting == 0;
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
        struct sigaction sa;

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
        v->repeat_ms = (int64_t)llround(c->repeat_seconds * 1000);
        v->stale_ms = (int64_t)llround(c->stale_seconds * 1000);
        v->queue_max = (unsigned)c->queue;
        v->waiting_cap = v->queue_max + SAFETY_EXTRA;
        v->waiting = calloc(v->waiting_cap, sizeof(v->waiting[0]));
        if (!v->waiting) {
                free(v);
                return -ENOMEM;
        }
        v->stats.latency_min_ms = v->stats.latency_median_ms = v->stats.latency_max_ms = NAN;
        v->stats.safety_latency_max_ms = NAN;
        if (c->output == RC_VOICE_WAV)
                v->next_file = last_file_number(c->wav_dir);
        uv_idle_init(v->loop, &v->idle);
        v->idle.data = v;
        /* a dead aplay must not kill the hub with SIGPIPE on the next write */
        if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
                signal(SIGPIPE, SIG_IGN);
        *ret = v;
        return 0;
}

static void on_idle_closed(uv_handle_t *h) {
        struct rc_voice *v = h->data;

        v->idle_closed = true;
        closed_if_done(v);
}

void rc_voice_close(struct rc_voice *v, void (*closed)(void *userdata), void *userdata) {
        if (v->closing)
                return;
        v->closing = true;
        v->closed = closed;
        v->closed_userdata = userdata;
        if (v->n_waiting)
                rc_log_info("voice: closing, %u waiting not said", v->n_waiting);
        while (v->n_waiting > 0)
                msg_free(v->waiting[--v->n_waiting]);
        if (v->current) {
                struct utt *u = v->current;

                end(u, END_CUT, "close");
                advance(u);
        }
        uv_close((uv_handle_t *)&v->idle, on_idle_closed);
}

void rc_voice_free(struct rc_voice *v) {
        if (!v)
                return;
        while (v->n_waiting > 0)
                msg_free(v->waiting[--v->n_waiting]);
        free(v->waiting);
        free(v);
}
