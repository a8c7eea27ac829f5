/* Every text the shipped plugins say, heard as a person on a roller would.
 *
 * The texts are collected by running the plugins (tests/rc_plugin_run.h) over the
 * bundled scenarios with many profiles (each condition, all of them, a regular),
 * over variants of the demo's breathing reset, a week of sessions, a double press
 * and a slide onto the lower back with the weight off; every key the plugin
 * sources pass to coach.say must have been heard at least once. Then each text
 * is rendered by espeak-ng, the voice the hub speaks with (its default voice and
 * rate, core/config), and:
 *
 * - no symbol is read aloud: the phonemes (espeak-ng -q -x) hold no word that is
 *   the name of a symbol ("dash", "slash", "percent", "equals", ...; their
 *   phonemes are asked of espeak-ng itself, so this follows its version), and the
 *   text has none of the characters espeak-ng spells or that make no sense to the
 *   ear (brackets, slash, "=", "%", "#", "&", "*", "_", ...) nor digits glued to
 *   letters ("3cm", "T7") or to each other by a hyphen ("90-90");
 * - the first cue of each step of the routine and of the breathing reset
 *   (cue.step, cue.reset.belly_lift, cue.reset.hip_lift) is at most 6 s of
 *   speech, measured as the length of espeak-ng's WAV at that rate: said while
 *   someone gets onto a roller, it must be the essentials only.
 *
 * With conditions in the profile, the first step's cue comes after the clearance
 * notice and the note on what was adapted have been spoken.
 *
 * The checker is checked too: "Now the 90-90 hip lift." and a 21-s cue of the
 * old routine are rejected. */
#include "rc_test.h"

#include <ctype.h>
#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <sys/wait.h>

#include "rc_plugin_run.h"

extern char **environ;

#define FIRST_CUE_MAX_S 6.0

/* ---- the texts ------------------------------------------------------------------------- */

struct text {
        char key[64];
        char text[600];
};

static struct text *texts;
static size_t n_texts, cap_texts;

static void add_texts(const struct acts *L) {
        for (size_t i = 0; i < L->n; i++) {
                const struct act *x = &L->a[i];
                size_t k;

                if (x->kind != RC_ACTION_SAY)
                        continue;
                for (k = 0; k < n_texts; k++)
                        if (strcmp(texts[k].key, x->key) == 0 &&
                            strcmp(texts[k].text, x->text) == 0)
                                break;
                if (k < n_texts)
                        continue;
                if (n_texts == cap_texts) {
                        cap_texts = cap_texts ? 2 * cap_texts : 64;
                        texts = realloc(texts, cap_texts * sizeof(*texts));
                        assert_non_null(texts);
                }
                snprintf(texts[n_texts].key, sizeof(texts[0].key), "%s", x->key);
                snprintf(texts[n_texts].text, sizeof(texts[0].text), "%s", x->text);
                n_texts++;
        }
}

static void run_add(const char *trace, size_t len, const struct run *r) {
        struct acts L = replay_trace(trace, len, r);

        add_texts(&L);
        acts_free(&L);
}

static void scenario_add(const char *text, const struct run *r) {
        size_t len;
        char *trace = simulate(text, &len);

        run_add(trace, len, r);
        free(trace);
}

static void collect_all(void) {
        static const char *const reset_variants[] = {
                "pulse 64 80 breath=6 rsa=70 ramp=30", /* the demo's: calmer */
                "pulse 76 80 breath=9 rsa=36",         /* about the same */
                "pulse 84 80 breath=9 rsa=5",          /* more tense */
                "pulse 80 80 breath=14 rsa=25",        /* breathing too fast: paced */
        };
        /* the thoracic step: up 3 cm, then the weight taken off (15 N: the core
         * still counts the roller loaded down to 10 N, the safety rule only from
         * 20 N) and 20 cm down onto the lower back, then leaning back onto it */
        static const char lumbar[] = "# rollcoach-scenario 1\n"
                                     "roller r AA:BB:CC:00:00:61 load_cell=yes\n"
                                     "r: rest 4\n"
                                     "r: roll +2.5 dist=3 force=300\n"
                                     "r: roll -2.5 dist=20 force=15\n"
                                     "r: hold 4 force=300\n";
        static const char dbl[] = "# rollcoach-scenario 1\n"
                                  "roller r AA:BB:CC:00:00:62 load_cell=yes\n"
                                  "r: rest 4\n"
                                  "r: roll +2.5 dist=10 force=300\n"
                                  "r: press double\n"
                                  "r: hold 3\n";
        char *demo = scenario_text("demo-lower-back"), *demo_trace, dir[] = "/tmp/rc-texts-XXXXXX";
        size_t demo_len;
        glob_t g;

        rc_log_set_max_level(RC_LOG_ERR); /* the demo's malformed packets are expected */
        demo_trace = simulate(demo, &demo_len);
        /* the routine, for every profile that changes what it says */
        for (int c = -2; c < RC_COND__COUNT; c++) {
                struct run r = run_default("lower-back-relief", NULL);

                if (c == -2)
                        r.profile.level = RC_LEVEL_REGULAR;
                else if (c == -1)
                        r.profile.conditions = (1u << RC_COND__COUNT) - 1;
                else
                        r.profile.conditions = 1u << c;
                run_add(demo_trace, demo_len, &r);
        }
        for (size_t i = 0; i < sizeof(reset_variants) / sizeof(reset_variants[0]); i++) {
                struct run r = run_default("lower-back-relief", NULL);
                char *v = replace(demo, reset_variants[0], reset_variants[i]);

                scenario_add(v, &r);
                free(v);
        }
        /* every bundled scenario, free and with the routine */
        assert_int_equal(glob(RC_SOURCE_DIR "/scripts/scenarios/*.scn", 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++) {
                char *text = read_file(g.gl_pathv[i], NULL);
                struct run r = run_default(NULL, NULL);

                scenario_add(text, &r);
                r = run_default("lower-back-relief", NULL);
                scenario_add(text, &r);
                free(text);
        }
        globfree(&g);
        {
                struct run r = run_default("lower-back-relief", "thoracic");

                scenario_add(lumbar, &r);
                r = run_default("lower-back-relief", NULL);
                scenario_add(dbl, &r);
        }
        /* a week of sessions: the count of each */
        assert_non_null(mkdtemp(dir));
        for (int i = 0; i < 7; i++) {
                struct run r = run_default(NULL, NULL);
                char *text = scenario_text("slow-rolling");

                r.state_dir = dir;
                r.wall_start_s = 1760000000 + (int64_t)i * 20000;
                scenario_add(text, &r);
                free(text);
        }
        {
                char cmd[64];

                snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
                assert_int_equal(system(cmd), 0);
        }
        free(demo_trace);
        free(demo);
}

/* The keys the plugin sources say (coach.say("KEY", ...)), each heard? */
static void check_keys_heard(void) {
        glob_t g;
        unsigned keys = 0;

        assert_int_equal(glob(RC_SOURCE_DIR "/plugins/*.lua", 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++) {
                char *src = read_file(g.gl_pathv[i], NULL);

                for (const char *p = strstr(src, "coach.say(\""); p;
                     p = strstr(p + 1, "coach.say(\"")) {
                        const char *k = p + strlen("coach.say(\""), *e = strchr(k, '"');
                        bool heard = false;

                        assert_non_null(e);
                        for (size_t t = 0; t < n_texts; t++)
                                heard |= strlen(texts[t].key) == (size_t)(e - k) &&
                                         strncmp(texts[t].key, k, (size_t)(e - k)) == 0;
                        if (!heard)
                                fail_msg("%s: key %.*s never said by the runs of this test",
                                         g.gl_pathv[i], (int)(e - k), k);
                        keys++;
                }
                free(src);
        }
        globfree(&g);
        assert_true(keys >= 15); /* the parser found them */
}

/* ---- espeak-ng --------------------------------------------------------------------------- */

/* Run argv, return its standard output (caller frees); the exit status must be 0. */
static char *capture(char *const argv[]) {
        int fd[2], status;
        pid_t pid;
        posix_spawn_file_actions_t fa;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        ssize_t n;

        assert_int_equal(pipe(fd), 0);
        assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd[1], 1), 0);
        assert_int_equal(posix_spawn_file_actions_addclose(&fa, fd[0]), 0);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
                fail_msg("cannot run %s", argv[0]);
        posix_spawn_file_actions_destroy(&fa);
        close(fd[1]);
        do {
                if (cap - len < 4096) {
                        cap = cap ? 2 * cap : 8192;
                        buf = realloc(buf, cap);
                        assert_non_null(buf);
                }
                n = read(fd[0], buf + len, cap - len - 1);
                if (n > 0)
                        len += (size_t)n;
        } while (n > 0 || (n < 0 && errno == EINTR));
        close(fd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        buf[len] = '\0';
        return buf;
}

static struct rc_voice_config voice_config(void) {
        struct rc_config c;

        rc_config_defaults(&c);
        return c.voice;
}

/* The phonemes of `text` as espeak-ng says it (mnemonics, words split by blanks). */
static char *phonemes(const char *text) {
        struct rc_voice_config v = voice_config();
        char rate[16];
        char *argv[] = {"espeak-ng", "-q", "-x", "-v",         v.voice,
                        "-s",        rate, "--", (char *)text, NULL};

        snprintf(rate, sizeof(rate), "%.0f", v.rate);
        return capture(argv);
}

/* Is `word` (phonemes) a whole word of `ph`? */
static bool has_word(const char *ph, const char *word) {
        size_t n = strlen(word);

        for (const char *p = strstr(ph, word); p; p = strstr(p + 1, word))
                if ((p == ph || isspace((unsigned char)p[-1])) &&
                    (p[n] == '\0' || isspace((unsigned char)p[n])))
                        return true;
        return false;
}

/* Symbols espeak-ng reads aloud (or that mean nothing to the ear), by name. */
static const char *const symbol_names[] = {
        "dash",     "hyphen",     "slash",     "backslash", "percent",     "equals", "hash",
        "asterisk", "underscore", "ampersand", "bracket",   "parenthesis", "tilde",  "caret",
        "plus",     "vertical",   "less",      "greater",   "semicolon"};
#define N_SYMBOLS (sizeof(symbol_names) / sizeof(symbol_names[0]))
static char *symbol_ph[N_SYMBOLS];

static void symbols_init(void) {
        for (size_t i = 0; i < N_SYMBOLS; i++) {
                char *ph = phonemes(symbol_names[i]), *e;

                /* one word: trim the blanks and newline around it */
                while (*ph && isspace((unsigned char)*ph))
                        memmove(ph, ph + 1, strlen(ph));
                for (e = ph + strlen(ph); e > ph && isspace((unsigned char)e[-1]); e--)
                        e[-1] = '\0';
                assert_true(ph[0] && !strchr(ph, ' '));
                symbol_ph[i] = ph;
        }
}

static bool contains_word_ci(const char *text, const char *word) {
        size_t n = strlen(word);

        for (const char *p = text; *p; p++)
                if (strncasecmp(p, word, n) == 0 && (p == text || !isalpha((unsigned char)p[-1])) &&
                    !isalpha((unsigned char)p[n]))
                        return true;
        return false;
}

/* The symbol espeak-ng reads aloud in `text` (its name, into `why`), or NULL. */
static const char *symbol_spoken(const char *text, char *why, size_t len) {
        char *ph = phonemes(text);

        for (size_t i = 0; i < N_SYMBOLS; i++)
                if (has_word(ph, symbol_ph[i]) && !contains_word_ci(text, symbol_names[i])) {
                        snprintf(why, len, "espeak-ng says \"%s\" (%s) in [%s]", symbol_names[i],
                                 symbol_ph[i], ph);
                        free(ph);
                        return why;
                }
        free(ph);
        return NULL;
}

/* Why `text` is not written for the ear, or NULL. */
static const char *not_for_the_ear(const char *text, char *why, size_t len) {
        static const char spelled[] = "()[]{}<>/\\=%#&*_|~^+@\"";

        for (const char *p = text; *p; p++) {
                unsigned char c = (unsigned char)*p, n = (unsigned char)p[1];

                if (strchr(spelled, c)) {
                        snprintf(why, len, "the character '%c'", c);
                        return why;
                }
                if ((isdigit(c) && isalpha(n)) || (isalpha(c) && isdigit(n))) {
                        snprintf(why, len, "a digit glued to a letter: \"%.2s\"", p);
                        return why;
                }
                if (isdigit(c) && n == '-' && isdigit((unsigned char)p[2])) {
                        snprintf(why, len, "digits joined by a hyphen: \"%.3s\"", p);
                        return why;
                }
        }
        return symbol_spoken(text, why, len);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Seconds of speech espeak-ng makes of `text` at the hub's voice and rate. */
static double speech_s(const char *text) {
        struct rc_voice_config v = voice_config();
        char path[] = "/tmp/rc-speech-XXXXXX", rate[16];
        char *argv[] = {"espeak-ng", "-v", v.voice, "-s",         rate,
                        "-w",        path, "--",    (char *)text, NULL};
        int fd = mkstemp(path);
        size_t len, pos = 12;
        uint8_t *w;
        uint32_t byte_rate = 0, data = 0;

        assert_true(fd >= 0);
        close(fd);
        snprintf(rate, sizeof(rate), "%.0f", v.rate);
        free(capture(argv));
        w = (uint8_t *)read_file(path, &len);
        unlink(path);
        assert_true(len >= 44 && memcmp(w, "RIFF", 4) == 0 && memcmp(w + 8, "WAVE", 4) == 0);
        while (pos + 8 <= len) { /* the chunks: fmt (byte rate at +8), data */
                uint32_t size = le32(w + pos + 4);

                if (memcmp(w + pos, "fmt ", 4) == 0 && pos + 16 <= len)
                        byte_rate = le32(w + pos + 8 + 8);
                if (memcmp(w + pos, "data", 4) == 0) {
                        data = (uint32_t)(len - pos - 8 < size ? len - pos - 8 : size);
                        break;
                }
                pos += 8 + size + (size & 1);
        }
        free(w);
        assert_true(byte_rate > 0 && data > 0);
        return (double)data / byte_rate;
}

static bool is_first_cue(const char *key) {
        return strcmp(key, "cue.step") == 0 || strcmp(key, "cue.reset.belly_lift") == 0 ||
               strcmp(key, "cue.reset.hip_lift") == 0;
}

/* ---- the tests ----------------------------------------------------------------------------- */

/* The checks can fail: what the old plugins said is refused. */
static void test_checker_refuses(void **state) {
        char why[256];
        const char *old_cue =
                "Left glute. Sit on the roller, cross your left ankle over your right "
                "knee, and lean onto your left side. Roll slowly toward your thigh, "
                "then back up, about an inch a second. Stay below the top of your "
                "hip bone. When you find a tender spot, stop there and hold it for "
                "about 30 seconds.";

        (void)state;
        symbols_init();
        assert_non_null(not_for_the_ear("Now the 90-90 hip lift.", why, sizeof(why)));
        assert_non_null(not_for_the_ear("Roll 3cm.", why, sizeof(why)));
        assert_non_null(not_for_the_ear("Hold (about 30 s).", why, sizeof(why)));
        /* espeak-ng's own reading, apart from the text rules */
        assert_non_null(symbol_spoken("Now the 90-90 hip lift.", why, sizeof(why)));
        assert_non_null(strstr(why, "dash"));
        assert_non_null(symbol_spoken("Roll left/right.", why, sizeof(why)));
        assert_non_null(strstr(why, "slash"));
        assert_non_null(symbol_spoken("About 50% less.", why, sizeof(why)));
        assert_non_null(strstr(why, "percent"));
        /* words between hyphens are not spelled; the name of a symbol as a word is
         * not a symbol */
        assert_null(not_for_the_ear("Roll toward your neck first, at the bra-strap line.", why,
                                    sizeof(why)));
        assert_null(symbol_spoken("Lighter pressure, less weight.", why, sizeof(why)));
        assert_true(speech_s(old_cue) > 15);
        assert_true(speech_s("Hamstrings.") < 2);
}

static void test_every_text_for_the_ear(void **state) {
        char why[512];
        unsigned bad = 0, first = 0;
        double longest = 0;

        (void)state;
        collect_all();
        check_keys_heard();
        print_message("%zu texts\n", n_texts);
        for (size_t i = 0; i < n_texts; i++) {
                const struct text *t = &texts[i];

                if (not_for_the_ear(t->text, why, sizeof(why))) {
                        print_message("%s \"%s\": %s\n", t->key, t->text, why);
                        bad++;
                }
                if (is_first_cue(t->key)) {
                        double s = speech_s(t->text);

                        first++;
                        longest = s > longest ? s : longest;
                        if (s > FIRST_CUE_MAX_S) {
                                print_message("%s \"%s\": %.1f s of speech, more than %.0f s\n",
                                              t->key, t->text, s, FIRST_CUE_MAX_S);
                                bad++;
                        }
                }
        }
        print_message("%u first cues, the longest %.1f s\n", first, longest);
        assert_true(first >= 11); /* 9 steps and the reset's 2 */
        assert_int_equal(bad, 0);
}

/* With conditions in the profile, the clearance notice (safety) and the note on
 * what was adapted (info, waiting behind it) are said at the start, and the
 * first step's cue (which outranks an info and would cut it) must come after
 * both have been spoken: their speech, back to back, ends before it. */
static void test_notes_before_first_step(void **state) {
        char *demo = scenario_text("demo-lower-back"), *trace;
        size_t len;

        (void)state;
        trace = simulate(demo, &len);
        for (int c = -1; c < RC_COND__COUNT; c++) {
                struct run r = run_default("lower-back-relief", NULL);
                struct acts L;
                double spoken;

                r.profile.conditions = c < 0 ? (1u << RC_COND__COUNT) - 1 : 1u << c;
                L = replay_trace(trace, len, &r);
                assert_int_equal(count_key(&L, "safety.clearance"), 1);
                assert_int_equal(count_key(&L, "info.adapted"), 1);
                spoken = first_s(&L, "safety.clearance") +
                         speech_s(text_of(&L, "safety.clearance", 0)) +
                         speech_s(text_of(&L, "info.adapted", 0));
                if (!(first_s(&L, "cue.step") >= spoken))
                        fail_msg(
                                "conditions 0x%x: the first cue at %.1f s, the notes end at %.1f s",
                                r.profile.conditions, first_s(&L, "cue.step"), spoken);
                acts_free(&L);
        }
        free(trace);
        free(demo);
}

static int teardown(void **state) {
        (void)state;
        for (size_t i = 0; i < N_SYMBOLS; i++)
                free(symbol_ph[i]);
        free(texts);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_checker_refuses),
                cmocka_unit_test(test_every_text_for_the_ear),
                cmocka_unit_test(test_notes_before_first_step),
        };

        return cmocka_run_group_tests(tests, NULL, teardown);
}
