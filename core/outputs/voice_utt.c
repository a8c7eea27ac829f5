/* rollcoach — the coach's voice (voice.h): one utterance.
 *
 * The queue (struct rc_voice, voice.c) decides what is said and when; an utterance
 * (struct rc__utt, here) speaks one message: an espeak-ng child whose stdout WAV stream is parsed
and
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
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/jsonl.h"
#include "outputs/voice_internal.h"
#include "util/log.h"

#define RING_BYTES 65536 /* PCM held per utterance: 1.5 s at 22050 Hz mono s16 */
#define READ_MIN 4096    /* reading pauses with less room than this in the ring */
#define WAV_LEAD_MS 100  /* output wav: written this far ahead of the playback */
#define WAV_STEP_MS 20   /* output wav: and in steps of at least this much audio */
#define REAP_WAIT_MS 250 /* alsa: wait for a killed aplay before the next at most */

/* ---- an utterance: ending and teardown ------------------------------------------------------- */

/* Closing: `closed` runs once the idle handle is closed and every utterance freed. */
static void utt_free(struct rc__utt *u) {
        struct rc_voice *v = u->v;

        for (struct rc__utt **p = &v->utts; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        rc_vmsg_free(u->m);
        free(u->ring);
        free(u);
        rc__voice_closed_if_done(v);
}

static double audio_ms(const struct rc__utt *u) {
        if (!u->hdr_done)
                return 0;
        return (double)u->pcm_out * 1000.0 / rc_wav_byte_rate(&u->fmt);
}

/* End the utterance once: it is no longer the current one; teardown follows in
 * rc__utt_advance(). `by`: what cut it (a key, or "close"). */
void rc__utt_end(struct rc__utt *u, enum rc__voice_end kind, const char *by) {
        struct rc_voice *v = u->v;
        static const char *const names[] = {"done", "cut", "failed"};
        cJSON *o;

        if (u->ended)
                return;
        u->ended = true;
        if (v->current == u)
                v->current = NULL;
        o = rc__voice_ev_new(v, names[kind], u->m);
        if (o && u->hdr_done)
                rc_json_add_number(o, "audio_ms", audio_ms(u), 0);
        switch (kind) {
        case RC__VOICE_DONE:
                v->stats.said++;
                rc_log_debug("voice: %s done (%.0f ms of audio)", u->m->key, audio_ms(u));
                break;
        case RC__VOICE_CUT:
                v->stats.cut++;
                if (o)
                        cJSON_AddStringToObject(o, "by", by);
                rc_log_info("voice: %s cut by %s", u->m->key, by);
                break;
        case RC__VOICE_FAILED:
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
        rc__voice_ev_emit(v, o);
        rc__voice_schedule(v);
}

static void fail(struct rc__utt *u, const char *why, int err) {
        if (u->ended || u->fail)
                return;
        u->fail = why;
        u->fail_errno = err;
}

static void on_handle_closed(uv_handle_t *h) {
        struct rc__utt *u = h->data;

        u->handles--;
        rc__utt_advance(u);
}

static void close_handle(struct rc__utt *u, uv_handle_t *h) {
        uv_close(h, on_handle_closed);
}

static void on_fs(uv_fs_t *req);

/* Output wav: the file's next last step, once the PCM is written (or the utterance
 * ended): the header's sizes fixed up, then the file closed. False if both are done. */
static bool finish_file(struct rc__utt *u) {
        if (u->fs_closed)
                return false;
        u->fs_busy = true;
        u->fsreq.data = u;
        if (!u->fs_fixed) {
                uv_buf_t b = uv_buf_init((char *)u->hdr, RC_WAV_HDR_BYTES);

                u->fs_fixed = true;
                rc_wav_header(u->hdr, &u->fmt, u->pcm_out);
                uv_fs_write(u->v->loop, &u->fsreq, u->fd, &b, 1, 0, on_fs);
        } else {
                u->fs_closed = true;
                uv_fs_close(u->v->loop, &u->fsreq, u->fd, on_fs);
        }
        return true;
}

static void teardown(struct rc__utt *u) {
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
        struct rc__utt *u = p->data;

        u->espeak_running = false;
        u->espeak_ok = status == 0 && signal == 0;
        if (!u->espeak_ok && !u->espeak_killed) {
                rc_log_warning("voice: espeak-ng exited with status %" PRId64 ", signal %d", status,
                               signal);
                fail(u, "espeak-ng failed", 0);
        }
        close_handle(u, (uv_handle_t *)p);
        rc__utt_advance(u);
}

static void on_aplay_exit(uv_process_t *p, int64_t status, int signal) {
        struct rc__utt *u = p->data;
        struct rc_voice *v = u->v;

        u->aplay_running = false;
        u->aplay_ok = status == 0 && signal == 0;
        if (u->aplay_killed) {
                /* the device is free: the current utterance may open it */
                if (--v->dying_aplays == 0 && v->current && v->current != u)
                        rc__utt_advance(v->current);
        } else if (!u->aplay_ok) {
                rc_log_warning("voice: aplay exited with status %" PRId64 ", signal %d", status,
                               signal);
                fail(u, "aplay failed", 0);
        } else if (u->in_open) {
                fail(u, "aplay exited before the end", 0);
        }
        close_handle(u, (uv_handle_t *)p);
        rc__utt_advance(u);
}

static int spawn(struct rc__utt *u, uv_process_t *p, uv_pipe_t *pipe, bool child_reads,
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
        struct rc__utt *u = h->data;
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

static void stop_reading(struct rc__utt *u) {
        if (u->reading) {
                uv_read_stop((uv_stream_t *)&u->out);
                u->reading = false;
        }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
        struct rc__utt *u = s->data;

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
                r = rc_wav_parse(u->ring + u->head, u->len, &u->fmt);
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
                        if (u->data_left != RC_WAV_UNKNOWN && u->len > u->data_left)
                                u->len = (size_t)u->data_left;
                        if (u->data_left != RC_WAV_UNKNOWN)
                                u->data_left -= u->len;
                }
        } else if (nread > 0) {
                size_t keep = (size_t)nread;

                if (u->data_left != RC_WAV_UNKNOWN) {
                        if (keep > u->data_left)
                                keep = (size_t)u->data_left;
                        u->data_left -= keep;
                }
                u->len += keep;
        }
        if (u->reading && RING_BYTES - u->len < READ_MIN)
                stop_reading(u);
        rc__utt_advance(u);
}

/* ---- an utterance: the sinks ----------------------------------------------------------------- */

/* The ring's next `n` bytes as one or two buffers. */
static unsigned ring_bufs(const struct rc__utt *u, size_t n, uv_buf_t *b) {
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
static void written(struct rc__utt *u, size_t n) {
        struct rc_voice *v = u->v;

        u->head = (u->head + n) % RING_BYTES;
        u->len -= n;
        u->pcm_out += n;
        u->writing = 0;
        if (!u->first_sample && n > 0 && !u->ended) {
                double ms = (double)(uv_hrtime() - u->m->said_ns) / 1e6;
                cJSON *o = rc__voice_ev_new(v, "first_sample", u->m);

                u->first_sample = true;
                rc__voice_add_latency(v, u->m, ms);
                if (o)
                        rc_json_add_number(o, "latency_ms", ms, 1);
                rc__voice_ev_emit(v, o);
        }
}

static void on_pipe_written(uv_write_t *req, int status) {
        struct rc__utt *u = req->data;
        size_t n = u->writing;

        if (status < 0) {
                u->writing = 0;
                if (status != UV_ECANCELED)
                        fail(u, "writing to aplay", status);
        } else {
                written(u, n);
        }
        rc__utt_advance(u);
}

static void on_fs(uv_fs_t *req) {
        struct rc__utt *u = req->data;
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

                        if (r < 0 || (size_t)r != n + (u->pcm_out == 0 ? RC_WAV_HDR_BYTES : 0)) {
                                u->writing = 0;
                                fail(u, "cannot write the WAV file", r < 0 ? (int)r : -EIO);
                        } else {
                                written(u, n);
                        }
                } else if (r != RC_WAV_HDR_BYTES) { /* the header's fix-up */
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
        rc__utt_advance(u);
}

static void on_timer(uv_timer_t *t) {
        struct rc__utt *u = t->data;

        u->timer_armed = false;
        if (u->v->cfg.output == RC_VOICE_ALSA)
                u->reap_waited = true;
        rc__utt_advance(u);
}

static void arm_timer(struct rc__utt *u, uint64_t ms) {
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

static void spawn_aplay(struct rc__utt *u) {
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

static void open_file(struct rc__utt *u) {
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
static void step_alsa(struct rc__utt *u) {
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
static size_t quantum(const struct rc__utt *u) {
        size_t q = (size_t)(rc_wav_byte_rate(&u->fmt) * WAV_STEP_MS / 1000);

        return q - q % u->fmt.block;
}

/* Output wav: PCM at most WAV_LEAD_MS ahead of the playback clock. */
static void step_wav(struct rc__utt *u) {
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
                double br = rc_wav_byte_rate(&u->fmt);
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
                        rc_wav_header(u->hdr, &u->fmt, RC_WAV_UNKNOWN);
                        b[nb++] = uv_buf_init((char *)u->hdr, RC_WAV_HDR_BYTES);
                }
                nb += ring_bufs(u, n, b + nb);
                u->writing = n;
                u->fs_busy = true;
                u->fsreq.data = u;
                uv_fs_write(v->loop, &u->fsreq, u->fd, b, nb,
                            (int64_t)(u->pcm_out ? RC_WAV_HDR_BYTES + u->pcm_out : 0), on_fs);
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
void rc__utt_advance(struct rc__utt *u) {
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
                        rc__utt_end(u, RC__VOICE_FAILED, NULL);
                } else if (!u->reading && u->out_open && RING_BYTES - u->len >= READ_MIN) {
                        u->reading = uv_read_start((uv_stream_t *)&u->out, on_alloc, on_read) == 0;
                } else if (u->eof && !u->espeak_running && u->espeak_ok) {
                        bool finished = v->cfg.output == RC_VOICE_ALSA
                                                ? u->aplay_spawned && !u->aplay_running &&
                                                          u->aplay_ok && !u->in_open
                                                : u->fs_closed && !u->fs_busy && u->played;

                        if (finished)
                                rc__utt_end(u, RC__VOICE_DONE, NULL);
                }
        }
        if (u->ended)
                teardown(u);
}

/* ---- starting an utterance ------------------------------------------------------------------- */

void rc__utt_start(struct rc_voice *v, struct rc_vmsg *m) {
        struct rc__utt *u;
        char rate[16], pitch[16], volume[16];
        char *args[] = {v->espeak, "--stdout", "-v",   v->cfg.voice, "-s",    rate, "-p",
                        pitch,     "-a",       volume, "--",         m->text, NULL};
        int64_t now = rc__voice_now_ms(v);
        cJSON *o;
        int r;

        rc_vqueue_started(&v->queue, m, now);
        u = calloc(1, sizeof(*u));
        if (u)
                u->ring = malloc(RING_BYTES);
        if (!u || !u->ring) {
                rc_log_error("voice: %s not said: out of memory", m->key);
                rc__voice_ev_emit(v, rc__voice_ev_new(v, "failed", m));
                v->stats.failed++;
                free(u);
                rc_vmsg_free(m);
                return;
        }
        u->v = v;
        u->m = m;
        u->start_ms = now;
        u->fd = -1;
        u->espeak_ok = u->aplay_ok = true;
        u->next = v->utts;
        v->utts = u;
        o = rc__voice_ev_new(v, "start", m);
        if (v->cfg.output == RC_VOICE_WAV) {
                char safe[RC_VMSG_KEY_MAX + 1];
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
        rc__voice_ev_emit(v, o);
        rc_log_info("say [%s] %s: %s", rc_priority_name(m->priority), m->key, m->text);
        v->current = u;
        if (v->cfg.output == RC_VOICE_OFF) {
                rc__utt_end(u, RC__VOICE_DONE, NULL);
                rc__utt_advance(u);
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
        rc__utt_advance(u);
}
