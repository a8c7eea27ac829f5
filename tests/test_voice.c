/* test_voice — the voice (core/outputs/voice.h) on a real libuv loop with real
 * espeak-ng.
 *
 * Expected orders and drops are worked out here from the queue rules of voice.h;
 * expected audio comes from espeak-ng run by the test itself with the same
 * arguments (its PCM is deterministic), from the WAV format, and from the speech
 * rate (words × 60 / rate). The timeline (JSON Lines) is parsed with cJSON.
 *
 * The decision clock is real time plus a skew the test may move forward: "7 s
 * later" without waiting 7 s. Audio always takes real time (output wav plays at
 * the sample rate), so the tests use short texts or a fast rate where the audio
 * itself is not under test. */
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <uv.h>

#include "rc_test.h"

#include "config/config.h"
#include "outputs/voice.h"
#include "util/bytes.h"
#include "util/log.h"

extern char **environ;

#define FIXTURES RC_SOURCE_DIR "/tests/fixtures"
#define ESPEAK "espeak-ng"

/* Texts of the shipped plugins (plugins/). */
#define T_TOO_FAST "Too fast. Slow down to about an inch a second."
#define T_COMPLETE "That's your session done. Well done."
#define T_HOLD_TARGET "That's 30 seconds. Release, and move on to the next spot."
#define T_PAIN_STOP                                                                                \
        "Stopping now. If you felt sharp or shooting pain, numbness or tingling, don't roll "      \
        "again until you've seen a doctor or physiotherapist."
#define T_HIP_LIFT                                                                                 \
        "Now the 90-90 hip lift. Lie with your heels on the wall, hips and knees bent at right "   \
        "angles. Breathe out fully, press your heels lightly into the wall and lift your "         \
        "tailbone just off the floor. Feel the backs of your thighs switch on. Keep breathing: "   \
        "in through your nose, out all the way."

/* ---- the fixture: a loop, a voice, a temporary directory, a skewable clock ------------------- */

struct fx {
        uv_loop_t loop;
        char dir[64], wav_dir[96], timeline_path[96];
        FILE *timeline;
        struct rc_voice *v;
        struct rc_voice_config cfg;
        int64_t skew_ms;
        bool closed;
        /* the log, for the tests that read it */
        char log[16384];
        size_t log_len;
};

static struct fx *the_fx;

static int64_t clock_ms(void *userdata) {
        struct fx *f = userdata;

        return (int64_t)(uv_hrtime() / 1000000u) + f->skew_ms;
}

static void on_log(enum rc_log_level level, const char *msg, void *userdata) {
        struct fx *f = userdata;
        int n = snprintf(f->log + f->log_len, sizeof(f->log) - f->log_len, "%d %s\n", (int)level,
                         msg);

        if (n > 0 && f->log_len + (size_t)n < sizeof(f->log))
                f->log_len += (size_t)n;
        fprintf(stderr, "  log: %s\n", msg);
}

/* A configuration as the defaults give it, with output wav into the fixture's dir. */
static void fx_init(struct fx *f) {
        struct rc_config c;

        memset(f, 0, sizeof(*f));
        strcpy(f->dir, "/tmp/test_voice.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->wav_dir, sizeof(f->wav_dir), "%s/wav", f->dir);
        assert_int_equal(mkdir(f->wav_dir, 0755), 0);
        snprintf(f->timeline_path, sizeof(f->timeline_path), "%s/timeline.jsonl", f->dir);
        assert_int_equal(uv_loop_init(&f->loop), 0);
        rc_config_defaults(&c);
        f->cfg = c.voice;
        f->cfg.output = RC_VOICE_WAV;
        snprintf(f->cfg.wav_dir, sizeof(f->cfg.wav_dir), "%s", f->wav_dir);
        the_fx = f;
        rc_log_set_sink(on_log, f);
}

static void fx_start(struct fx *f, const char *espeak, const char *aplay) {
        struct rc_voice_opts o = {.loop = &f->loop,
                                  .config = f->cfg,
                                  .espeak = espeak,
                                  .aplay = aplay,
                                  .now_ms = clock_ms,
                                  .userdata = f};

        f->timeline = fopen(f->timeline_path, "w");
        assert_non_null(f->timeline);
        o.timeline = f->timeline;
        assert_int_equal(rc_voice_new(&o, &f->v), 0);
}

static void on_tick(uv_timer_t *t) {
        (void)t;
}

static bool is_idle(struct fx *f) {
        return rc_voice_idle(f->v);
}

static bool is_closed(struct fx *f) {
        return f->closed;
}

/* An utterance has been heard (its first sample is out). */
static bool heard_any(struct fx *f) {
        struct rc_voice_stats st;

        rc_voice_stats(f->v, &st);
        return !isnan(st.latency_max_ms);
}

/* The fake aplay (tests/fixtures/fake-aplay) has started: it wrote its arguments. */
static bool aplay_started(struct fx *f) {
        char path[300];
        struct stat st;

        snprintf(path, sizeof(path), "%s/args", f->dir);
        return stat(path, &st) == 0 && st.st_size > 0;
}

static bool never(struct fx *f) {
        (void)f;
        return false;
}

/* Run the loop until `done` or `ms` have passed; returns done's last answer. */
static bool run_until(struct fx *f, bool (*done)(struct fx *), int ms) {
        uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
        uv_timer_t tick;
        bool r;

        uv_timer_init(&f->loop, &tick);
        uv_timer_start(&tick, on_tick, 5, 5);
        while (!(r = done(f)) && uv_hrtime() < end)
                uv_run(&f->loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&tick, NULL);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        return r;
}

static void run_for(struct fx *f, int ms) {
        run_until(f, never, ms);
}

static void run_until_idle(struct fx *f, int ms) {
        if (!run_until(f, is_idle, ms))
                fail_msg("the voice is not idle after %d ms", ms);
}

static void on_closed(void *userdata) {
        ((struct fx *)userdata)->closed = true;
}

/* Close the voice (waiting for its children and files), the loop and the timeline. */
static void fx_close(struct fx *f) {
        rc_voice_close(f->v, on_closed, f);
        if (!run_until(f, is_closed, 10000))
                fail_msg("rc_voice_close did not finish");
        rc_voice_free(f->v);
        f->v = NULL;
        fclose(f->timeline);
        f->timeline = NULL;
        assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void fx_cleanup(struct fx *f) {
        char cmd[128];

        rc_log_set_sink(NULL, NULL);
        if (getenv("RC_TEST_KEEP")) { /* to look at the files and the timeline */
                fprintf(stderr, "  kept %s\n", f->dir);
                return;
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
}

/* ---- the timeline ---------------------------------------------------------------------------- */

#define TL_MAX 512

struct tl {
        cJSON *ev[TL_MAX];
        unsigned n;
};

static void tl_read(struct fx *f, struct tl *tl) {
        FILE *in = fopen(f->timeline_path, "r");
        char line[4096];

        assert_non_null(in);
        tl->n = 0;
        while (fgets(line, sizeof(line), in)) {
                cJSON *o = cJSON_Parse(line);

                if (!o)
                        fail_msg("timeline line is not JSON: %s", line);
                assert_true(tl->n < TL_MAX);
                assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "t_ms")));
                assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "event")));
                assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "key")));
                assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "priority")));
                tl->ev[tl->n++] = o;
        }
        fclose(in);
}

static void tl_free(struct tl *tl) {
        for (unsigned i = 0; i < tl->n; i++)
                cJSON_Delete(tl->ev[i]);
        tl->n = 0;
}

static const char *tl_str(const struct tl *tl, int i, const char *name) {
        const cJSON *x = cJSON_GetObjectItem(tl->ev[i], name);

        return cJSON_IsString(x) ? x->valuestring : NULL;
}

static double tl_num(const struct tl *tl, int i, const char *name) {
        const cJSON *x = cJSON_GetObjectItem(tl->ev[i], name);

        if (!cJSON_IsNumber(x))
                fail_msg("timeline event %d has no number %s", i, name);
        return x->valuedouble;
}

static bool tl_is(const struct tl *tl, int i, const char *event, const char *key) {
        return strcmp(tl_str(tl, i, "event"), event) == 0 &&
               (!key || strcmp(tl_str(tl, i, "key"), key) == 0);
}

/* The index of the n-th (from 0) `event` of `key` (NULL: any key), or -1. */
static int tl_find_nth(const struct tl *tl, const char *event, const char *key, int nth) {
        for (unsigned i = 0; i < tl->n; i++)
                if (tl_is(tl, (int)i, event, key) && nth-- == 0)
                        return (int)i;
        return -1;
}

static int tl_find(const struct tl *tl, const char *event, const char *key) {
        return tl_find_nth(tl, event, key, 0);
}

static int tl_must(const struct tl *tl, const char *event, const char *key) {
        int i = tl_find(tl, event, key);

        if (i < 0)
                fail_msg("no %s event for %s in the timeline", event, key);
        return i;
}

static unsigned tl_count(const struct tl *tl, const char *event, const char *key) {
        unsigned n = 0;

        for (unsigned i = 0; i < tl->n; i++)
                n += tl_is(tl, (int)i, event, key);
        return n;
}

/* The keys of every `event`, in order, joined by spaces. */
static void tl_keys(const struct tl *tl, const char *event, char *out, size_t cap) {
        size_t len = 0;

        out[0] = '\0';
        for (unsigned i = 0; i < tl->n; i++)
                if (tl_is(tl, (int)i, event, NULL))
                        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? " " : "",
                                                tl_str(tl, (int)i, "key"));
}

/* ---- WAV files and reference audio ----------------------------------------------------------- */

struct audio {
        uint8_t *bytes; /* the whole file or stream */
        size_t size;
        const int16_t *pcm; /* into bytes (little-endian host assumed, as on a Pi) */
        size_t samples;
        unsigned rate, channels;
};

static void audio_free(struct audio *a) {
        free(a->bytes);
        memset(a, 0, sizeof(*a));
}

static int read_all(int fd, uint8_t **ret, size_t *ret_size) {
        size_t cap = 65536, n = 0;
        uint8_t *b = malloc(cap);
        ssize_t r;

        assert_non_null(b);
        while ((r = read(fd, b + n, cap - n)) > 0) {
                n += (size_t)r;
                if (n == cap) {
                        cap *= 2;
                        b = realloc(b, cap);
                        assert_non_null(b);
                }
        }
        *ret = b;
        *ret_size = n;
        return r < 0 ? -errno : 0;
}

/* A file the voice wrote: the canonical 44-byte header with its sizes fixed up,
 * 16-bit PCM, and nothing after the data. */
static void wav_load(const char *path, struct audio *a) {
        int fd = open(path, O_RDONLY);
        const uint8_t *h;

        if (fd < 0)
                fail_msg("cannot open %s", path);
        memset(a, 0, sizeof(*a));
        assert_int_equal(read_all(fd, &a->bytes, &a->size), 0);
        close(fd);
        h = a->bytes;
        if (a->size < 44)
                fail_msg("%s: %zu bytes, not a WAV file", path, a->size);
        assert_memory_equal(h, "RIFF", 4);
        assert_int_equal(rc_le32(h + 4), a->size - 8);
        assert_memory_equal(h + 8, "WAVEfmt ", 8);
        assert_int_equal(rc_le32(h + 16), 16);
        assert_int_equal(rc_le16(h + 20), 1); /* PCM */
        a->channels = rc_le16(h + 22);
        a->rate = rc_le32(h + 24);
        assert_int_equal(rc_le32(h + 28), a->rate * a->channels * 2);
        assert_int_equal(rc_le16(h + 32), a->channels * 2);
        assert_int_equal(rc_le16(h + 34), 16);
        assert_memory_equal(h + 36, "data", 4);
        assert_int_equal(rc_le32(h + 40), a->size - 44);
        assert_int_equal((a->size - 44) % (2 * a->channels), 0);
        a->pcm = (const int16_t *)(a->bytes + 44);
        a->samples = (a->size - 44) / 2;
}

static double wav_seconds(const struct audio *a) {
        return (double)a->samples / a->channels / a->rate;
}

static double rms(const int16_t *s, size_t n) {
        double sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += (double)s[i] * s[i];
        return n ? sqrt(sum / (double)n) : 0;
}

/* What espeak-ng says for `text` with the fixture's settings: its stdout read
 * whole, the PCM after the data chunk's header (its sizes are placeholders). */
static void reference(const struct rc_voice_config *c, const char *text, struct audio *a) {
        char rate[16], pitch[16], volume[16];
        char *argv[] = {ESPEAK, "--stdout", "-v", (char *)c->voice, "-s", rate, "-p", pitch,
                        "-a",   volume,     "--", (char *)text,     NULL};
        posix_spawn_file_actions_t fa;
        int p[2], status;
        pid_t pid;
        size_t off = 12;

        snprintf(rate, sizeof(rate), "%.0f", c->rate);
        snprintf(pitch, sizeof(pitch), "%.0f", c->pitch);
        snprintf(volume, sizeof(volume), "%.0f", c->volume);
        assert_int_equal(pipe(p), 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_addclose(&fa, p[0]);
        assert_int_equal(posix_spawnp(&pid, ESPEAK, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        memset(a, 0, sizeof(*a));
        assert_int_equal(read_all(p[0], &a->bytes, &a->size), 0);
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(a->size > 12);
        assert_memory_equal(a->bytes, "RIFF", 4);
        while (off + 8 <= a->size && memcmp(a->bytes + off, "data", 4) != 0)
                off += 8 + rc_le32(a->bytes + off + 4);
        assert_true(off + 8 <= a->size);
        a->rate = 22050;
        a->channels = 1;
        a->pcm = (const int16_t *)(a->bytes + off + 8);
        a->samples = (a->size - off - 8) / 2;
}

static void wav_path(struct fx *f, const struct tl *tl, const char *key, char *out, size_t cap) {
        const char *file = tl_str(tl, tl_must(tl, "start", key), "file");

        assert_non_null(file);
        snprintf(out, cap, "%s/%s", f->wav_dir, file);
}

static unsigned files_in(const char *dir) {
        char cmd[256];
        FILE *p;
        unsigned n = 0;

        snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%u", &n), 1);
        pclose(p);
        return n;
}

static unsigned words(const char *text) {
        unsigned n = 0;
        bool in = false;

        for (const char *p = text; *p; p++) {
                bool space = *p == ' ';

                n += !space && !in;
                in = !space;
        }
        return n;
}

static unsigned pauses(const char *text) {
        unsigned n = 0;

        for (const char *p = text; *p; p++)
                n += strchr(".,:;!?", *p) != NULL;
        return n;
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* espeak-ng writes real audio: each utterance's file is a valid WAV holding exactly
 * espeak-ng's PCM for its text, of a plausible length for the rate, not silent, and
 * spoken in real time. */
static void test_real_audio(void **state) {
        static const struct {
                const char *key, *text;
                enum rc_priority p;
        } said[] = {
                {"warn.too_fast", T_TOO_FAST, RC_PRIORITY_WARNING},
                {"info.complete", T_COMPLETE, RC_PRIORITY_INFO},
                {"cue.hold_target", T_HOLD_TARGET, RC_PRIORITY_CUE},
                /* a text that looks like options is still text (it comes after "--") */
                {"cue.dash", "-v xx --help, said aloud", RC_PRIORITY_CUE},
        };
        struct fx f;
        struct tl tl;
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.stale_seconds = 60; /* audio is under test here, not staleness */
        f.cfg.rate = 400;         /* the checks scale with the rate; the test is shorter */
        fx_start(&f, NULL, NULL);
        for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++)
                rc_voice_say(f.v, said[i].key, said[i].text, said[i].p);
        run_until_idle(&f, 60000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_int_equal(st.said, 4);
        assert_int_equal(st.failed + st.cut, 0);
        assert_int_equal(files_in(f.wav_dir), 4);

        for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++) {
                char path[256];
                struct audio a, ref;
                double nominal = words(said[i].text) * 60.0 / f.cfg.rate, secs, level;
                int first = tl_must(&tl, "first_sample", said[i].key);
                int done = tl_must(&tl, "done", said[i].key);

                wav_path(&f, &tl, said[i].key, path, sizeof(path));
                wav_load(path, &a);
                assert_int_equal(a.rate, 22050);
                assert_int_equal(a.channels, 1);
                /* the same samples espeak-ng gives for the same arguments */
                reference(&f.cfg, said[i].text, &ref);
                assert_int_equal(a.samples, ref.samples);
                assert_memory_equal(a.pcm, ref.pcm, a.samples * 2);
                /* its length: words at `rate` words a minute, from half as fast to half
                 * as slow, plus up to 0.3 s for each punctuation pause and 0.5 s of
                 * lead-in and tail (espeak-ng keeps to the rate within ~15%) */
                secs = wav_seconds(&a);
                if (strcmp(said[i].key, "cue.dash") != 0) {
                        if (secs < 0.5 * nominal ||
                            secs > 1.5 * nominal + 0.3 * pauses(said[i].text) + 0.5)
                                fail_msg("%s: %.2f s of audio for %u words at %.0f wpm",
                                         said[i].key, secs, words(said[i].text), f.cfg.rate);
                }
                /* not silent: espeak-ng's speech at amplitude 100 peaks around half of
                 * full scale and averages around -22 dBFS RMS over an utterance,
                 * pauses included; -40 dBFS (328) is far below that and far above
                 * silence (0) or a stray LSB of noise */
                level = rms(a.pcm, a.samples);
                if (level < 0.01 * 32768)
                        fail_msg("%s: RMS %.0f, silent", said[i].key, level);
                /* played in real time: done no sooner than its audio lasts after its
                 * start (10 ms for the timer's rounding). Not after the first sample:
                 * that is stamped when written, later than the pace's start on a busy
                 * machine. */
                assert_true(first < done);
                assert_true(tl_num(&tl, done, "t_ms") -
                                    tl_num(&tl, tl_must(&tl, "start", said[i].key), "t_ms") >=
                            secs * 1000 - 10);
                assert_near(tl_num(&tl, done, "audio_ms"), secs * 1000, 1);
                audio_free(&a);
                audio_free(&ref);
        }
        /* one at a time: each starts after the previous one is done */
        for (unsigned i = 1; i < 4; i++) {
                int prev_done = tl_find_nth(&tl, "done", NULL, (int)i - 1);
                int next_start = tl_find_nth(&tl, "start", NULL, (int)i);

                assert_true(prev_done >= 0 && next_start > prev_done);
        }
        tl_free(&tl);
        fx_cleanup(&f);
}

/* A long info, then a safety message 300 ms after it is first heard: the info is
 * cut, the safety message starts next and is spoken whole. (How soon: bench_voice.) */
static void test_preemption(void **state) {
        struct fx f;
        struct tl tl;
        struct audio info, safety, ref;
        struct rc_voice_stats st;
        char path[256];
        int cut, s_queued, s_start, s_first, i_first;
        double heard;

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400; /* a shorter test; the info still lasts seconds */
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "info.hip_lift", T_HIP_LIFT, RC_PRIORITY_INFO);
        if (!run_until(&f, heard_any, 30000)) /* a busy machine: espeak-ng may be slow */
                fail_msg("the info was never heard");
        run_for(&f, 300);
        rc_voice_say(f.v, "safety.pain_stop", T_PAIN_STOP, RC_PRIORITY_SAFETY);
        run_until_idle(&f, 60000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);

        cut = tl_must(&tl, "cut", "info.hip_lift");
        assert_string_equal(tl_str(&tl, cut, "by"), "safety.pain_stop");
        assert_int_equal(tl_find(&tl, "done", "info.hip_lift"), -1);
        s_queued = tl_must(&tl, "queued", "safety.pain_stop");
        s_start = tl_must(&tl, "start", "safety.pain_stop");
        s_first = tl_must(&tl, "first_sample", "safety.pain_stop");
        i_first = tl_must(&tl, "first_sample", "info.hip_lift");
        tl_must(&tl, "done", "safety.pain_stop");
        /* queued, the info cut, the safety message started and heard, in that order;
         * its latency is recorded (how long it takes is bench_voice's figure: a test
         * on a busy machine cannot assert a time) */
        assert_true(s_queued < cut && cut < s_start && s_start < s_first);
        assert_true(tl_num(&tl, s_first, "latency_ms") >= 0);
        assert_false(isnan(st.safety_latency_max_ms));
        assert_int_equal(st.cut, 1);
        assert_int_equal(st.said, 1);

        /* the safety message whole: all of espeak-ng's samples */
        wav_path(&f, &tl, "safety.pain_stop", path, sizeof(path));
        wav_load(path, &safety);
        reference(&f.cfg, T_PAIN_STOP, &ref);
        assert_int_equal(safety.samples, ref.samples);
        assert_memory_equal(safety.pcm, ref.pcm, ref.samples * 2);
        audio_free(&ref);
        /* the info: a valid file holding the start of the text, and no more than was
         * heard before the cut, i.e. from its first sample to the cut, plus what is
         * written ahead (100 ms). (Less when the machine is busy: the writer keeps to
         * real time, never ahead of it.) */
        wav_path(&f, &tl, "info.hip_lift", path, sizeof(path));
        wav_load(path, &info);
        reference(&f.cfg, T_HIP_LIFT, &ref);
        heard = (tl_num(&tl, cut, "t_ms") - tl_num(&tl, i_first, "t_ms")) / 1000;
        if (info.samples == 0 || wav_seconds(&info) > heard + 0.25)
                fail_msg("the cut info holds %.3f s; %.3f s were heard", wav_seconds(&info), heard);
        assert_true(info.samples < ref.samples / 4);
        assert_memory_equal(info.pcm, ref.pcm, info.samples * 2);
        audio_free(&ref);
        audio_free(&info);
        audio_free(&safety);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Messages waiting come out safety, warning, cue, info; first come first within a
 * priority. The first message that outranks the one being said cuts it. */
static void test_priority_order(void **state) {
        struct fx f;
        struct tl tl;
        char order[512];

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        f.cfg.stale_seconds = 60;
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "info.first", "The order test begins now.", RC_PRIORITY_INFO);
        run_for(&f, 150); /* info.first is being said */
        rc_voice_say(f.v, "info.a", "Alpha.", RC_PRIORITY_INFO);
        rc_voice_say(f.v, "cue.b", "Bravo.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "warn.c", "Charlie.", RC_PRIORITY_WARNING);
        rc_voice_say(f.v, "cue.e", "Echo.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "warn.f", "Foxtrot.", RC_PRIORITY_WARNING);
        rc_voice_say(f.v, "safety.s", "Sierra.", RC_PRIORITY_SAFETY);
        rc_voice_say(f.v, "info.g", "Golf.", RC_PRIORITY_INFO);
        run_until_idle(&f, 60000);
        fx_close(&f);
        tl_read(&f, &tl);
        /* info.first was being said when cue.b, of a higher priority, came: cut;
         * then by priority, and by order of saying within one */
        assert_string_equal(tl_str(&tl, tl_must(&tl, "cut", "info.first"), "by"), "cue.b");
        tl_keys(&tl, "start", order, sizeof(order));
        assert_string_equal(order, "info.first safety.s warn.c warn.f cue.b cue.e info.a info.g");
        tl_keys(&tl, "done", order, sizeof(order));
        assert_string_equal(order, "safety.s warn.c warn.f cue.b cue.e info.a info.g");
        tl_free(&tl);
        fx_cleanup(&f);
}

/* The ladder of interruptions (spec/coaching.md): a long cue is not cut by an info
 * or another cue, a warning cuts it; a cue said during the warning waits for it. */
static void test_interrupt_ladder(void **state) {
        struct fx f;
        struct tl tl;
        char order[256];

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        f.cfg.stale_seconds = 60;
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "cue.long", T_HIP_LIFT, RC_PRIORITY_CUE);
        run_for(&f, 150); /* being said */
        rc_voice_say(f.v, "info.i", "India.", RC_PRIORITY_INFO);
        run_for(&f, 100);
        rc_voice_say(f.v, "cue.c", "Charlie.", RC_PRIORITY_CUE);
        run_for(&f, 100);
        rc_voice_say(f.v, "warn.w", "Slow down, you are rolling far too fast.",
                     RC_PRIORITY_WARNING);
        run_for(&f, 150); /* warn.w being said */
        rc_voice_say(f.v, "cue.d", "Delta.", RC_PRIORITY_CUE);
        run_until_idle(&f, 60000);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_int_equal(tl_count(&tl, "cut", NULL), 1);
        assert_string_equal(tl_str(&tl, tl_must(&tl, "cut", "cue.long"), "by"), "warn.w");
        assert_int_equal(tl_count(&tl, "done", "warn.w"), 1);
        tl_keys(&tl, "start", order, sizeof(order));
        assert_string_equal(order, "cue.long warn.w cue.c cue.d info.i");
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Messages said in one turn of the loop are taken in priority order, whatever the
 * order of the says (nothing is started, then cut, for a message said just after). */
static void test_same_turn(void **state) {
        struct fx f;
        struct tl tl;
        char order[256];

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "info.consistency", "Aim for three to five.", RC_PRIORITY_INFO);
        rc_voice_say(f.v, "cue.step", "Left glute.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "safety.clearance", "Check with your doctor.", RC_PRIORITY_SAFETY);
        run_until_idle(&f, 30000);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_keys(&tl, "start", order, sizeof(order));
        assert_string_equal(order, "safety.clearance cue.step info.consistency");
        assert_int_equal(tl_count(&tl, "cut", NULL), 0);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* The same key is not said again within repeat_seconds of its last start, nor
 * queued twice; after the window it is said. */
static void test_repeat(void **state) {
        struct fx f;
        struct tl tl;
        struct rc_voice_stats st;
        int r1, r2, s2;

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        f.cfg.repeat_seconds = 5;
        f.cfg.stale_seconds = 60;
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "cue.breathe", "Breathe.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "cue.breathe", "Breathe.", RC_PRIORITY_CUE); /* waiting: not twice */
        run_until_idle(&f, 30000);
        rc_voice_say(f.v, "cue.breathe", "Breathe.", RC_PRIORITY_CUE); /* < 5 s after its start */
        run_until_idle(&f, 30000);
        f.skew_ms += 5000; /* now 5 s and more after its start */
        rc_voice_say(f.v, "cue.breathe", "Breathe.", RC_PRIORITY_CUE);
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_int_equal(tl_count(&tl, "start", "cue.breathe"), 2);
        assert_int_equal(tl_count(&tl, "repeat", "cue.breathe"), 2);
        assert_int_equal(st.repeats, 2);
        assert_int_equal(st.said, 2);
        r1 = tl_find_nth(&tl, "repeat", NULL, 0);
        r2 = tl_find_nth(&tl, "repeat", NULL, 1);
        s2 = tl_find_nth(&tl, "start", NULL, 1);
        assert_true(r1 < tl_find(&tl, "start", NULL)); /* the second say, while waiting */
        assert_true(r2 > tl_find(&tl, "done", NULL) && r2 < s2);
        assert_true(tl_num(&tl, s2, "t_ms") - tl_num(&tl, tl_find(&tl, "start", NULL), "t_ms") >=
                    5000);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* A new text under a key is an update, not a repeat: the next step's cue replaces
 * the step cue still waiting, and cuts the one being said once it has spoken for a
 * second; the same text again is a repeat. */
static void test_update(void **state) {
        struct fx f;
        struct tl tl;
        char order[256];
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        f.cfg.stale_seconds = 60;
        fx_start(&f, NULL, NULL);
        /* waiting behind a safety message: step two replaces step one */
        rc_voice_say(f.v, "safety.s", "Stop. Roll back up to your shoulder blades.",
                     RC_PRIORITY_SAFETY);
        rc_voice_say(f.v, "cue.step", "Step one.", RC_PRIORITY_CUE);
        run_for(&f, 100);
        rc_voice_say(f.v, "cue.step", "Step two.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "cue.step", "Step two.", RC_PRIORITY_CUE); /* waiting: a repeat */
        run_until_idle(&f, 30000);
        /* being said: step three, said 0.3 s in, waits; step four, 1.3 s in, cuts it */
        rc_voice_say(f.v, "cue.step", T_HIP_LIFT, RC_PRIORITY_CUE);
        run_for(&f, 300);
        rc_voice_say(f.v, "cue.step", "Step three.", RC_PRIORITY_CUE);
        run_for(&f, 1000);
        rc_voice_say(f.v, "cue.step", "Step four.", RC_PRIORITY_CUE);
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_keys(&tl, "replaced", order, sizeof(order));
        assert_string_equal(order, "cue.step cue.step"); /* step one, then step three */
        assert_int_equal(tl_count(&tl, "repeat", "cue.step"), 1);
        assert_int_equal(tl_count(&tl, "cut", NULL), 1);
        assert_string_equal(tl_str(&tl, tl_must(&tl, "cut", "cue.step"), "by"), "cue.step");
        /* said: safety.s, step two, the long one (cut), step four */
        tl_keys(&tl, "start", order, sizeof(order));
        assert_string_equal(order, "safety.s cue.step cue.step cue.step");
        assert_int_equal(tl_count(&tl, "done", "cue.step"), 2);
        assert_int_equal(st.replaced, 2);
        assert_int_equal(st.repeats, 1);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* With a busy voice, a cue waiting longer than stale_seconds is dropped; an info,
 * a warning or a safety message waiting as long is still said. */
static void test_stale(void **state) {
        struct fx f;
        struct tl tl;
        char order[256];
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        fx_start(&f, NULL, NULL);
        /* in one turn: s1 starts, the others wait behind it (a safety message does
         * not cut one said in the same turn: neither was being said) */
        rc_voice_say(f.v, "safety.s1", "Stop. Roll back up to your shoulder blades.",
                     RC_PRIORITY_SAFETY);
        rc_voice_say(f.v, "safety.s2", "Stop now.", RC_PRIORITY_SAFETY);
        rc_voice_say(f.v, "warn.w", "Too fast.", RC_PRIORITY_WARNING);
        rc_voice_say(f.v, "cue.c", "Breathe.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "info.i", "Well done.", RC_PRIORITY_INFO);
        run_for(&f, 100);
        f.skew_ms += (int64_t)(f.cfg.stale_seconds * 1000) + 1000; /* they have waited 7 s */
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_keys(&tl, "start", order, sizeof(order));
        assert_string_equal(order, "safety.s1 safety.s2 warn.w info.i");
        tl_keys(&tl, "dropped_stale", order, sizeof(order));
        assert_string_equal(order, "cue.c");
        assert_true(tl_num(&tl, tl_must(&tl, "dropped_stale", "cue.c"), "t_ms") -
                            tl_num(&tl, tl_must(&tl, "queued", "cue.c"), "t_ms") >
                    f.cfg.stale_seconds * 1000);
        for (int i = 0; i < 2; i++) {
                const char *key = i ? "info.i" : "warn.w";

                assert_true(tl_num(&tl, tl_must(&tl, "start", key), "t_ms") -
                                    tl_num(&tl, tl_must(&tl, "queued", key), "t_ms") >
                            f.cfg.stale_seconds * 1000);
        }
        assert_int_equal(st.dropped_stale, 1);
        assert_int_equal(st.said, 4);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* More messages than `queue`: the lowest-priority oldest waiting one is dropped; one
 * below everything waiting is refused; safety messages are never dropped. */
static void test_queue_bound(void **state) {
        struct fx f;
        struct tl tl;
        char keys[512];
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.rate = 400;
        f.cfg.queue = 3;
        f.cfg.stale_seconds = 60;
        fx_start(&f, NULL, NULL);
        /* a safety message being said: only another safety message cuts it */
        rc_voice_say(f.v, "safety.long", T_HIP_LIFT, RC_PRIORITY_SAFETY);
        run_for(&f, 150); /* being said; nothing waits */
        /* waiting after each say (oldest first), worked out from the rules: */
        rc_voice_say(f.v, "cue.c1", "One.", RC_PRIORITY_CUE);          /* c1 */
        rc_voice_say(f.v, "info.i1", "Two.", RC_PRIORITY_INFO);        /* c1 i1 */
        rc_voice_say(f.v, "info.i2", "Three.", RC_PRIORITY_INFO);      /* c1 i1 i2: full */
        rc_voice_say(f.v, "cue.c2", "Four.", RC_PRIORITY_CUE);         /* i1 dropped: c1 i2 c2 */
        rc_voice_say(f.v, "info.i3", "Five.", RC_PRIORITY_INFO);       /* i2 dropped: c1 c2 i3 */
        rc_voice_say(f.v, "warn.w1", "Six.", RC_PRIORITY_WARNING);     /* i3 dropped: c1 c2 w1 */
        rc_voice_say(f.v, "info.i4", "Seven.", RC_PRIORITY_INFO);      /* below all: refused */
        rc_voice_say(f.v, "safety.s1", "Eight.", RC_PRIORITY_SAFETY);  /* c1 dropped, cuts */
        rc_voice_say(f.v, "safety.s2", "Nine.", RC_PRIORITY_SAFETY);   /* c2 dropped */
        rc_voice_say(f.v, "safety.s3", "Ten.", RC_PRIORITY_SAFETY);    /* w1 dropped */
        rc_voice_say(f.v, "safety.s4", "Eleven.", RC_PRIORITY_SAFETY); /* all safety: kept, 4 */
        rc_voice_say(f.v, "cue.c3", "Twelve.", RC_PRIORITY_CUE);       /* below all: refused */
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_keys(&tl, "dropped_full", keys, sizeof(keys));
        assert_string_equal(keys, "info.i1 info.i2 info.i3 cue.c1 cue.c2 warn.w1");
        tl_keys(&tl, "refused_full", keys, sizeof(keys));
        assert_string_equal(keys, "info.i4 cue.c3");
        tl_keys(&tl, "start", keys, sizeof(keys));
        assert_string_equal(keys, "safety.long safety.s1 safety.s2 safety.s3 safety.s4");
        assert_string_equal(tl_str(&tl, tl_must(&tl, "cut", "safety.long"), "by"), "safety.s1");
        assert_int_equal(tl_num(&tl, tl_must(&tl, "queued", "safety.s4"), "waiting"), 4);
        assert_int_equal(st.dropped_full, 6);
        assert_int_equal(st.refused_full, 2);
        assert_int_equal(st.said, 4);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Output alsa with a stand-in aplay: it is given the right arguments, and exactly
 * espeak-ng's PCM on stdin, one aplay per utterance. */
static void test_alsa_fake_aplay(void **state) {
        struct fx f;
        struct tl tl;
        struct audio a = {0}, r1, r2;
        char path[256], args[512], expect[256];
        FILE *in;
        int fd;

        (void)state;
        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        snprintf(f.cfg.alsa_device, sizeof(f.cfg.alsa_device), "plughw:7,3");
        setenv("RC_FAKE_APLAY_DIR", f.dir, 1);
        fx_start(&f, NULL, FIXTURES "/fake-aplay");
        rc_voice_say(f.v, "warn.too_fast", T_TOO_FAST, RC_PRIORITY_WARNING);
        rc_voice_say(f.v, "info.complete", T_COMPLETE, RC_PRIORITY_INFO);
        run_until_idle(&f, 30000);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_int_equal(tl_count(&tl, "done", NULL), 2);
        assert_int_equal(tl_count(&tl, "first_sample", NULL), 2);
        assert_int_equal(tl_count(&tl, "failed", NULL), 0);
        assert_int_equal(files_in(f.wav_dir), 0);

        snprintf(expect, sizeof(expect), "-q -D plughw:7,3 -t raw -f S16_LE -r 22050 -c 1\n");
        snprintf(path, sizeof(path), "%s/args", f.dir);
        in = fopen(path, "r");
        assert_non_null(in);
        for (int i = 0; i < 2; i++) {
                assert_non_null(fgets(args, sizeof(args), in));
                assert_string_equal(args, expect);
        }
        assert_null(fgets(args, sizeof(args), in));
        fclose(in);

        snprintf(path, sizeof(path), "%s/pcm", f.dir);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(read_all(fd, &a.bytes, &a.size), 0);
        close(fd);
        reference(&f.cfg, T_TOO_FAST, &r1);
        reference(&f.cfg, T_COMPLETE, &r2);
        assert_int_equal(a.size, 2 * (r1.samples + r2.samples));
        assert_memory_equal(a.bytes, r1.pcm, 2 * r1.samples);
        assert_memory_equal(a.bytes + 2 * r1.samples, r2.pcm, 2 * r2.samples);
        audio_free(&a);
        audio_free(&r1);
        audio_free(&r2);
        unsetenv("RC_FAKE_APLAY_DIR");
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Output alsa: a message is being said until aplay exits (after draining), so a
 * safety message cuts it by killing aplay; the next aplay starts once the killed
 * one has been reaped, and the safety message is on its way within the target. */
static void test_alsa_preemption(void **state) {
        struct fx f;
        struct tl tl;
        char path[256], line[256];
        FILE *in;
        unsigned runs = 0;
        int cut, first;

        (void)state;
        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        f.cfg.rate = 400;
        setenv("RC_FAKE_APLAY_DIR", f.dir, 1);
        setenv("RC_FAKE_APLAY_MODE", "hold", 1);
        setenv("RC_FAKE_APLAY_HOLD", "1", 1);
        fx_start(&f, NULL, FIXTURES "/fake-aplay");
        rc_voice_say(f.v, "info.complete", T_COMPLETE, RC_PRIORITY_INFO);
        /* aplay started and the info heard (a busy machine: not within a set time) */
        if (!run_until(&f, aplay_started, 30000) || !run_until(&f, heard_any, 30000))
                fail_msg("aplay did not start or the info was never heard");
        run_for(&f, 300); /* all written; aplay is "playing" for a second */
        assert_false(rc_voice_idle(f.v));
        rc_voice_say(f.v, "safety.lumbar", "Stop.", RC_PRIORITY_SAFETY);
        run_until_idle(&f, 30000);
        fx_close(&f);
        tl_read(&f, &tl);
        cut = tl_must(&tl, "cut", "info.complete");
        first = tl_must(&tl, "first_sample", "safety.lumbar");
        tl_must(&tl, "done", "safety.lumbar");
        assert_true(first > cut);
        assert_true(tl_num(&tl, first, "latency_ms") >= 0); /* its time: bench_voice */
        snprintf(path, sizeof(path), "%s/args", f.dir);
        in = fopen(path, "r");
        assert_non_null(in);
        while (fgets(line, sizeof(line), in))
                runs++;
        fclose(in);
        assert_int_equal(runs, 2);
        unsetenv("RC_FAKE_APLAY_MODE");
        unsetenv("RC_FAKE_APLAY_HOLD");
        unsetenv("RC_FAKE_APLAY_DIR");
        tl_free(&tl);
        fx_cleanup(&f);
}

/* An aplay that goes away without reading: the write fails (EPIPE, not a SIGPIPE
 * that would end the hub), the message is failed, the next one still attempted.
 * The messages are long: ~900 KB of audio, more than a socket holds, so the
 * voice cannot have handed all of it over before aplay went (a short one could
 * be, and an aplay that exits 0 after taking everything has done its job). */
static void test_alsa_aplay_quits(void **state) {
        struct fx f;
        struct tl tl;
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        setenv("RC_FAKE_APLAY_DIR", f.dir, 1);
        setenv("RC_FAKE_APLAY_MODE", "quit", 1);
        fx_start(&f, NULL, FIXTURES "/fake-aplay");
        rc_voice_say(f.v, "cue.one", T_HIP_LIFT, RC_PRIORITY_CUE);
        rc_voice_say(f.v, "info.two", T_HIP_LIFT, RC_PRIORITY_INFO);
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_must(&tl, "failed", "cue.one");
        tl_must(&tl, "failed", "info.two");
        assert_int_equal(st.failed, 2);
        unsetenv("RC_FAKE_APLAY_MODE");
        unsetenv("RC_FAKE_APLAY_DIR");
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Output alsa with the real aplay, as far as it goes without a sound card: ALSA's
 * null device takes the audio (done); a device that does not exist makes aplay
 * fail, which is reported and counted, and the next message is still attempted. */
static void test_alsa_real_aplay(void **state) {
        struct fx f;
        struct tl tl;
        struct rc_voice_stats st;

        (void)state;
        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        f.cfg.rate = 400;
        snprintf(f.cfg.alsa_device, sizeof(f.cfg.alsa_device), "null");
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "cue.null", "Into the null device.", RC_PRIORITY_CUE);
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_must(&tl, "first_sample", "cue.null");
        tl_must(&tl, "done", "cue.null");
        assert_int_equal(st.said, 1);
        assert_int_equal(st.failed, 0);
        tl_free(&tl);
        fx_cleanup(&f);

        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        f.cfg.rate = 400;
        snprintf(f.cfg.alsa_device, sizeof(f.cfg.alsa_device), "rollcoach_no_such_device");
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "cue.one", "One.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "cue.two", "Two.", RC_PRIORITY_CUE);
        run_until_idle(&f, 30000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        tl_must(&tl, "failed", "cue.one");
        tl_must(&tl, "failed", "cue.two");
        assert_true(tl_must(&tl, "start", "cue.two") > tl_must(&tl, "failed", "cue.one"));
        assert_int_equal(st.failed, 2);
        assert_int_equal(st.said, 0);
        assert_non_null(strstr(f.log, "cue.one not said"));
        tl_free(&tl);
        fx_cleanup(&f);
}

/* No espeak-ng: each message fails (reported, counted), nothing crashes, the next
 * one is still attempted, no file is left. The same for a missing aplay. */
static void test_missing_programs(void **state) {
        struct fx f;
        struct tl tl;
        struct rc_voice_stats st;
        int fa, sb;

        (void)state;
        fx_init(&f);
        fx_start(&f, "/nonexistent", NULL);
        rc_voice_say(f.v, "cue.a", "Alpha.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "cue.b", "Bravo.", RC_PRIORITY_CUE);
        run_until_idle(&f, 10000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        fa = tl_must(&tl, "failed", "cue.a");
        sb = tl_must(&tl, "start", "cue.b");
        tl_must(&tl, "failed", "cue.b");
        assert_true(sb > fa);
        assert_string_equal(tl_str(&tl, fa, "reason"), "cannot start espeak-ng");
        assert_string_equal(tl_str(&tl, fa, "error"), uv_strerror(UV_ENOENT));
        assert_int_equal(st.failed, 2);
        assert_int_equal(st.said, 0);
        assert_true(isnan(st.latency_median_ms));
        assert_int_equal(files_in(f.wav_dir), 0);
        assert_non_null(strstr(f.log, "3 voice: cue.a not said: cannot start espeak-ng"));
        tl_free(&tl);
        fx_cleanup(&f);

        fx_init(&f);
        f.cfg.output = RC_VOICE_ALSA;
        fx_start(&f, NULL, "/nonexistent/aplay");
        rc_voice_say(f.v, "cue.a", "Alpha.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "cue.b", "Bravo.", RC_PRIORITY_CUE);
        run_until_idle(&f, 10000);
        rc_voice_stats(f.v, &st);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_string_equal(tl_str(&tl, tl_must(&tl, "failed", "cue.a"), "reason"),
                            "cannot start aplay");
        tl_must(&tl, "failed", "cue.b");
        assert_int_equal(st.failed, 2);
        tl_free(&tl);
        fx_cleanup(&f);
}

/* ---- the WAV parser, through a stand-in espeak-ng that writes prepared streams --------------- */

static size_t put_chunk(uint8_t *p, const char *id, uint32_t size) {
        memcpy(p, id, 4);
        rc_test_put32(p + 4, size);
        return 8;
}

static size_t put_fmt(uint8_t *p, unsigned rate, unsigned bits) {
        size_t n = put_chunk(p, "fmt ", 16);

        rc_test_put16(p + n, 1);
        rc_test_put16(p + n + 2, 1);
        rc_test_put32(p + n + 4, rate);
        rc_test_put32(p + n + 8, rate * bits / 8);
        rc_test_put16(p + n + 12, (uint16_t)(bits / 8));
        rc_test_put16(p + n + 14, (uint16_t)bits);
        return n + 16;
}

/* Speak a prepared stream; returns the timeline's last event for it. */
static void speak_stream(const uint8_t *stream, size_t size, struct fx *f, struct tl *tl) {
        char path[256];
        FILE *out;

        fx_init(f);
        snprintf(path, sizeof(path), "%s/stream", f->dir);
        out = fopen(path, "w");
        assert_non_null(out);
        assert_int_equal(fwrite(stream, 1, size, out), size);
        fclose(out);
        setenv("RC_FAKE_ESPEAK_WAV", path, 1);
        fx_start(f, FIXTURES "/fake-espeak", NULL);
        rc_voice_say(f->v, "cue.stream", "(ignored by the stand-in)", RC_PRIORITY_CUE);
        run_until_idle(f, 10000);
        fx_close(f);
        unsetenv("RC_FAKE_ESPEAK_WAV");
        tl_read(f, tl);
}

static void test_wav_parser(void **state) {
        uint8_t s[8192];
        size_t n;
        struct fx f;
        struct tl tl;
        struct audio a;
        char path[256];

        (void)state;
        /* chunks before fmt and data (an odd-sized one with its pad byte), a finite
         * data size, and bytes after the data chunk that are not audio */
        n = 0;
        memcpy(s, "RIFF", 4);
        rc_test_put32(s + 4, 0);
        memcpy(s + 8, "WAVE", 4);
        n = 12;
        n += put_chunk(s + n, "LIST", 3);
        memcpy(s + n, "abc\0", 4); /* 3 bytes and the pad */
        n += 4;
        n += put_fmt(s + n, 16000, 16);
        n += put_chunk(s + n, "data", 1000);
        for (int i = 0; i < 500; i++)
                rc_test_put16(s + n + 2 * i, (uint16_t)(i * 37));
        n += 1000;
        n += put_chunk(s + n, "junk", 200);
        memset(s + n, 0x7f, 200);
        n += 200;
        speak_stream(s, n, &f, &tl);
        tl_must(&tl, "done", "cue.stream");
        wav_path(&f, &tl, "cue.stream", path, sizeof(path));
        wav_load(path, &a);
        assert_int_equal(a.rate, 16000);
        assert_int_equal(a.samples, 500);
        assert_memory_equal(a.pcm, s + n - 208 - 1000, 1000);
        audio_free(&a);
        tl_free(&tl);
        fx_cleanup(&f);

        /* unknown sizes: 0xFFFFFFFF and 0, the data running to the end */
        for (int k = 0; k < 2; k++) {
                n = 0;
                memcpy(s, "RIFF", 4);
                rc_test_put32(s + 4, 0xffffffffu);
                memcpy(s + 8, "WAVE", 4);
                n = 12 + put_fmt(s + 12, 22050, 16);
                n += put_chunk(s + n, "data", k ? 0 : 0xffffffffu);
                for (int i = 0; i < 3000; i++)
                        rc_test_put16(s + n + 2 * i, (uint16_t)(i * 11));
                n += 6000;
                speak_stream(s, n, &f, &tl);
                tl_must(&tl, "done", "cue.stream");
                wav_path(&f, &tl, "cue.stream", path, sizeof(path));
                wav_load(path, &a);
                assert_int_equal(a.samples, 3000);
                assert_memory_equal(a.pcm, s + n - 6000, 6000);
                audio_free(&a);
                tl_free(&tl);
                fx_cleanup(&f);
        }

        /* not a WAV stream; 8-bit PCM; data before fmt; a header that never ends */
        for (int k = 0; k < 4; k++) {
                memcpy(s, "RIFF\0\0\0\0WAVE", 12);
                n = 12;
                if (k == 0) {
                        memcpy(s, "Hello, world.\n", 14);
                        n = 14;
                } else if (k == 1) {
                        n += put_fmt(s + n, 22050, 8);
                        n += put_chunk(s + n, "data", 100);
                        memset(s + n, 0x80, 100);
                        n += 100;
                } else if (k == 2) {
                        n += put_chunk(s + n, "data", 100);
                        memset(s + n, 0, 100);
                        n += 100;
                } else {
                        while (n + 108 < sizeof(s)) {
                                n += put_chunk(s + n, "pad ", 100);
                                memset(s + n, 0, 100);
                                n += 100;
                        }
                }
                speak_stream(s, n, &f, &tl);
                tl_must(&tl, "failed", "cue.stream");
                assert_int_equal(tl_find(&tl, "first_sample", NULL), -1);
                assert_int_equal(files_in(f.wav_dir), 0);
                tl_free(&tl);
                fx_cleanup(&f);
        }
}

/* Output off: logged ("say [priority] key: text"), nothing spawned or written. */
static void test_off(void **state) {
        struct fx f;
        struct tl tl;

        (void)state;
        fx_init(&f);
        f.cfg.output = RC_VOICE_OFF;
        fx_start(&f, "/nonexistent", "/nonexistent");
        rc_voice_say(f.v, "cue.step", "Left glute.", RC_PRIORITY_CUE);
        rc_voice_say(f.v, "warn.jerky", "Smooth and slow.", RC_PRIORITY_WARNING);
        run_until_idle(&f, 1000);
        fx_close(&f);
        tl_read(&f, &tl);
        assert_int_equal(tl_count(&tl, "done", NULL), 2);
        assert_int_equal(tl_count(&tl, "failed", NULL), 0);
        assert_int_equal(files_in(f.wav_dir), 0);
        assert_non_null(strstr(f.log, "6 say [warning] warn.jerky: Smooth and slow.\n6 say [cue] "
                                      "cue.step: Left glute.\n"));
        tl_free(&tl);
        fx_cleanup(&f);
}

/* Closing while speaking: the children are killed and reaped, the file is a valid
 * WAV of what was written, `closed` runs; a later say is ignored. Files already in
 * wav_dir are not overwritten by a new voice. */
static void test_close_while_speaking(void **state) {
        struct fx f;
        struct tl tl;
        struct audio a;
        char path[256];
        FILE *old;

        (void)state;
        fx_init(&f);
        snprintf(path, sizeof(path), "%s/000041-cue.step.wav", f.wav_dir);
        old = fopen(path, "w");
        assert_non_null(old);
        fclose(old);
        fx_start(&f, NULL, NULL);
        rc_voice_say(f.v, "cue.reset.hip_lift", T_HIP_LIFT, RC_PRIORITY_CUE);
        if (!run_until(&f, heard_any, 30000)) /* being said: heard, long from done */
                fail_msg("the cue was never heard");
        assert_false(rc_voice_idle(f.v));
        fx_close(&f);
        tl_read(&f, &tl);
        assert_string_equal(tl_str(&tl, tl_must(&tl, "cut", "cue.reset.hip_lift"), "by"), "close");
        wav_path(&f, &tl, "cue.reset.hip_lift", path, sizeof(path));
        assert_non_null(strstr(path, "/000042-cue.reset.hip_lift.wav"));
        wav_load(path, &a);
        assert_true(a.samples > 0);
        audio_free(&a);
        tl_free(&tl);
        fx_cleanup(&f);
}

static void test_invalid_options(void **state) {
        struct fx f;
        struct rc_voice_opts o;
        struct rc_voice *v = NULL;

        (void)state;
        fx_init(&f);
        o = (struct rc_voice_opts){.loop = &f.loop, .config = f.cfg};
        snprintf(o.config.wav_dir, sizeof(o.config.wav_dir), "%s/missing", f.dir);
        assert_int_equal(rc_voice_new(&o, &v), -EINVAL);
        assert_null(v);
        o.config.wav_dir[0] = '\0';
        assert_int_equal(rc_voice_new(&o, &v), -EINVAL);
        o.config = f.cfg;
        o.config.rate = 20;
        assert_int_equal(rc_voice_new(&o, &v), -EINVAL);
        assert_int_equal(uv_loop_close(&f.loop), 0);
        fx_cleanup(&f);
}

int main(void) {
        /* as the program does: a dead aplay fails a write (EPIPE) */
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_audio),
                cmocka_unit_test(test_preemption),
                cmocka_unit_test(test_priority_order),
                cmocka_unit_test(test_interrupt_ladder),
                cmocka_unit_test(test_same_turn),
                cmocka_unit_test(test_repeat),
                cmocka_unit_test(test_stale),
                cmocka_unit_test(test_update),
                cmocka_unit_test(test_queue_bound),
                cmocka_unit_test(test_alsa_fake_aplay),
                cmocka_unit_test(test_alsa_preemption),
                cmocka_unit_test(test_alsa_aplay_quits),
                cmocka_unit_test(test_alsa_real_aplay),
                cmocka_unit_test(test_missing_programs),
                cmocka_unit_test(test_wav_parser),
                cmocka_unit_test(test_off),
                cmocka_unit_test(test_close_while_speaking),
                cmocka_unit_test(test_invalid_options),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
