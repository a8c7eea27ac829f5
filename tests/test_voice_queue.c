/* The voice's queue policy (core/outputs/voice_queue.h) driven alone, with plain
 * calls and the time passed in. Every expectation comes from the rules in
 * docs/spec/coaching.md and docs/headless.md ("The queue"): priorities and
 * first-come order, preemption, the repeat window (counted from a start), updates,
 * stale cues, the bound and the safety extra. */
#include "rc_test.h"

#include "outputs/voice_queue.h"

#define REPEAT_MS 10000 /* repeat_seconds' default, 10 s */
#define STALE_MS 6000   /* stale_seconds' default, 6 s */

struct told {
        unsigned n;
        char event[64][16];
        char key[64][RC_VMSG_KEY_MAX + 1];
        char text[64][32];
};

static void on_dropped(void *userdata, const char *event, const struct rc_vmsg *m) {
        struct told *t = userdata;

        assert_true(t->n < 64);
        snprintf(t->event[t->n], sizeof(t->event[0]), "%s", event);
        snprintf(t->key[t->n], sizeof(t->key[0]), "%s", m->key);
        snprintf(t->text[t->n], sizeof(t->text[0]), "%s", m->text);
        t->n++;
}

static uint64_t next_id;

static struct rc_vmsg *msg(const char *key, const char *text, enum rc_priority p, int64_t now) {
        bool cut;
        struct rc_vmsg *m = rc_vmsg_new(++next_id, key, text, p, now, &cut);

        assert_non_null(m);
        assert_false(cut);
        return m;
}

/* Add, expecting `verdict`; a message not queued is the caller's to free. */
static void add(struct rc_vqueue *q, const char *key, const char *text, enum rc_priority p,
                int64_t now, enum rc_vq_verdict verdict) {
        struct rc_vmsg *m = msg(key, text, p, now);
        enum rc_vq_verdict r = rc_vqueue_add(q, m, now);

        assert_int_equal(r, verdict);
        if (r != RC_VQ_QUEUED)
                rc_vmsg_free(m);
}

/* Pop the next message and check its key; it is then said (started) at `now`. */
static void pop_is(struct rc_vqueue *q, const char *key, int64_t now) {
        struct rc_vmsg *m = rc_vqueue_pop(q);

        assert_non_null(m);
        assert_string_equal(m->key, key);
        rc_vqueue_started(q, m, now);
        rc_vmsg_free(m);
}

static void init(struct rc_vqueue *q, struct told *t, unsigned max) {
        memset(t, 0, sizeof(*t));
        assert_int_equal(rc_vqueue_init(q, REPEAT_MS, STALE_MS, max, on_dropped, t), 0);
}

/* Waiting messages are said highest priority first, first come first within one. */
static void test_order(void **state) {
        struct rc_vqueue q;
        struct told t;

        (void)state;
        init(&q, &t, 8);
        add(&q, "info.a", "a", RC_PRIORITY_INFO, 0, RC_VQ_QUEUED);
        add(&q, "cue.b", "b", RC_PRIORITY_CUE, 1, RC_VQ_QUEUED);
        add(&q, "warning.c", "c", RC_PRIORITY_WARNING, 2, RC_VQ_QUEUED);
        add(&q, "cue.d", "d", RC_PRIORITY_CUE, 3, RC_VQ_QUEUED);
        add(&q, "safety.e", "e", RC_PRIORITY_SAFETY, 4, RC_VQ_QUEUED);
        add(&q, "info.f", "f", RC_PRIORITY_INFO, 5, RC_VQ_QUEUED);
        pop_is(&q, "safety.e", 10);
        pop_is(&q, "warning.c", 11);
        pop_is(&q, "cue.b", 12);
        pop_is(&q, "cue.d", 13);
        pop_is(&q, "info.a", 14);
        pop_is(&q, "info.f", 15);
        assert_null(rc_vqueue_pop(&q));
        assert_int_equal(t.n, 0);
        rc_vqueue_fini(&q);
}

/* Preemption: safety cuts anything (another safety message too), a higher
 * priority cuts a lower one, equal or lower waits; a new text under the key being
 * said cuts it once it has been speaking 1 s, whatever the priorities. */
static void test_cuts(void **state) {
        static const enum rc_priority prios[] = {RC_PRIORITY_INFO, RC_PRIORITY_CUE,
                                                 RC_PRIORITY_WARNING, RC_PRIORITY_SAFETY};
        struct rc_vmsg *speaking, *m;

        (void)state;
        for (unsigned i = 0; i < 4; i++)
                for (unsigned j = 0; j < 4; j++) {
                        speaking = msg("k.speaking", "x", prios[i], 0);
                        m = msg("k.new", "y", prios[j], 100);
                        assert_int_equal(rc_vqueue_cuts(speaking, 0, m, 100),
                                         prios[j] == RC_PRIORITY_SAFETY || j > i);
                        /* however long it has spoken: another key never cuts by time */
                        assert_int_equal(rc_vqueue_cuts(speaking, 0, m, 60000),
                                         prios[j] == RC_PRIORITY_SAFETY || j > i);
                        rc_vmsg_free(speaking);
                        rc_vmsg_free(m);
                }
        speaking = msg("cue.step", "step one", RC_PRIORITY_WARNING, 0);
        m = msg("cue.step", "step two", RC_PRIORITY_INFO, 0);
        assert_false(rc_vqueue_cuts(speaking, 5000, m, 5999));
        assert_true(rc_vqueue_cuts(speaking, 5000, m, 6000));
        rc_vmsg_free(speaking);
        rc_vmsg_free(m);
}

/* Repeat: the same key and text is not said again within 10 s of its last start,
 * nor queued while it waits; a new text under the key is an update, not a repeat;
 * another key with the same text is another message. */
static void test_repeat(void **state) {
        struct rc_vqueue q;
        struct told t;

        (void)state;
        init(&q, &t, 8);
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 0, RC_VQ_QUEUED);
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 100, RC_VQ_REPEAT); /* waiting */
        pop_is(&q, "cue.hold", 200);                                           /* starts at 200 */
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 5000, RC_VQ_REPEAT);
        add(&q, "cue.other", "Hold here.", RC_PRIORITY_CUE, 5000, RC_VQ_QUEUED);
        pop_is(&q, "cue.other", 5001);
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 200 + REPEAT_MS - 1, RC_VQ_REPEAT);
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 200 + REPEAT_MS, RC_VQ_QUEUED);
        pop_is(&q, "cue.hold", 200 + REPEAT_MS); /* a new start: the window moves */
        add(&q, "cue.hold", "Hold here.", RC_PRIORITY_CUE, 200 + REPEAT_MS + 9000, RC_VQ_REPEAT);
        add(&q, "cue.hold", "Hold there.", RC_PRIORITY_CUE, 200 + REPEAT_MS + 9000, RC_VQ_QUEUED);
        assert_int_equal(t.n, 0);
        rc_vqueue_fini(&q);
}

/* Update: a new text under a key replaces its key's waiting message (told as
 * "replaced"), and takes a place of its own at the end of its priority. */
static void test_update(void **state) {
        struct rc_vqueue q;
        struct told t;
        struct rc_vmsg *m;

        (void)state;
        init(&q, &t, 8);
        add(&q, "cue.step", "Step one.", RC_PRIORITY_CUE, 0, RC_VQ_QUEUED);
        add(&q, "cue.other", "Other.", RC_PRIORITY_CUE, 10, RC_VQ_QUEUED);
        add(&q, "cue.step", "Step two.", RC_PRIORITY_CUE, 20, RC_VQ_QUEUED);
        assert_int_equal(t.n, 1);
        assert_string_equal(t.event[0], RC_VQ_REPLACED);
        assert_string_equal(t.key[0], "cue.step");
        assert_string_equal(t.text[0], "Step one.");
        assert_int_equal(q.n_waiting, 2);
        pop_is(&q, "cue.other", 30);
        m = rc_vqueue_pop(&q);
        assert_non_null(m);
        assert_string_equal(m->text, "Step two.");
        rc_vmsg_free(m);
        rc_vqueue_fini(&q);
}

/* Stale: a cue not begun within 6 s of its say is dropped when the queue is next
 * looked at (a say, or the queue run); infos, warnings and safety messages keep. */
static void test_stale(void **state) {
        struct rc_vqueue q;
        struct told t;

        (void)state;
        init(&q, &t, 8);
        add(&q, "cue.a", "a", RC_PRIORITY_CUE, 0, RC_VQ_QUEUED);
        add(&q, "info.b", "b", RC_PRIORITY_INFO, 0, RC_VQ_QUEUED);
        add(&q, "warning.c", "c", RC_PRIORITY_WARNING, 0, RC_VQ_QUEUED);
        add(&q, "safety.d", "d", RC_PRIORITY_SAFETY, 0, RC_VQ_QUEUED);
        add(&q, "cue.e", "e", RC_PRIORITY_CUE, 3000, RC_VQ_QUEUED);
        rc_vqueue_purge_stale(&q, STALE_MS - 1);
        assert_int_equal(t.n, 0);
        /* a say 7 s on drops cue.a (said at 0) before it is considered; cue.e (3 s) keeps */
        add(&q, "info.f", "f", RC_PRIORITY_INFO, 7000, RC_VQ_QUEUED);
        assert_int_equal(t.n, 1);
        assert_string_equal(t.event[0], RC_VQ_DROPPED_STALE);
        assert_string_equal(t.key[0], "cue.a");
        rc_vqueue_purge_stale(&q, 3000 + STALE_MS + 1);
        assert_int_equal(t.n, 2);
        assert_string_equal(t.key[1], "cue.e");
        rc_vqueue_purge_stale(&q, 3600000); /* an hour on: the rest keep */
        assert_int_equal(t.n, 2);
        pop_is(&q, "safety.d", 3600000);
        pop_is(&q, "warning.c", 3600000);
        pop_is(&q, "info.b", 3600000);
        pop_is(&q, "info.f", 3600000);
        assert_null(rc_vqueue_pop(&q));
        rc_vqueue_fini(&q);
}

/* The bound: when full, the lowest-priority oldest waiting message is dropped; a
 * message of lower priority than everything waiting is refused. */
static void test_bound(void **state) {
        struct rc_vqueue q;
        struct told t;

        (void)state;
        init(&q, &t, 3);
        add(&q, "info.1", "1", RC_PRIORITY_INFO, 0, RC_VQ_QUEUED);
        add(&q, "cue.1", "1", RC_PRIORITY_CUE, 1, RC_VQ_QUEUED);
        add(&q, "info.2", "2", RC_PRIORITY_INFO, 2, RC_VQ_QUEUED);
        add(&q, "cue.2", "2", RC_PRIORITY_CUE, 3, RC_VQ_QUEUED); /* drops info.1 */
        assert_int_equal(t.n, 1);
        assert_string_equal(t.event[0], RC_VQ_DROPPED_FULL);
        assert_string_equal(t.key[0], "info.1");
        add(&q, "info.3", "3", RC_PRIORITY_INFO, 4, RC_VQ_QUEUED); /* not lower: drops info.2 */
        assert_int_equal(t.n, 2);
        assert_string_equal(t.key[1], "info.2");
        add(&q, "warning.1", "1", RC_PRIORITY_WARNING, 5, RC_VQ_QUEUED); /* drops info.3 */
        add(&q, "warning.2", "2", RC_PRIORITY_WARNING, 6, RC_VQ_QUEUED); /* drops cue.1 */
        assert_int_equal(t.n, 4);
        assert_string_equal(t.key[2], "info.3");
        assert_string_equal(t.key[3], "cue.1");
        add(&q, "info.4", "4", RC_PRIORITY_INFO, 7, RC_VQ_REFUSED); /* lower than everything */
        assert_int_equal(t.n, 4);
        assert_int_equal(q.n_waiting, 3);
        pop_is(&q, "warning.1", 8);
        pop_is(&q, "warning.2", 9);
        pop_is(&q, "cue.2", 10);
        rc_vqueue_fini(&q);
}

/* Safety messages are never dropped for room: a queue full of them keeps up to 16
 * more, and only then refuses; a safety message said to a full queue of others
 * drops the lowest. */
static void test_bound_safety(void **state) {
        struct rc_vqueue q;
        struct told t;
        char key[32];

        (void)state;
        init(&q, &t, 3);
        add(&q, "warning.1", "1", RC_PRIORITY_WARNING, 0, RC_VQ_QUEUED);
        add(&q, "info.1", "1", RC_PRIORITY_INFO, 0, RC_VQ_QUEUED);
        add(&q, "warning.2", "2", RC_PRIORITY_WARNING, 0, RC_VQ_QUEUED);
        add(&q, "safety.0", "0", RC_PRIORITY_SAFETY, 0, RC_VQ_QUEUED);
        assert_int_equal(t.n, 1);
        assert_string_equal(t.key[0], "info.1");
        for (unsigned i = 1; i < 3 + 16; i++) {
                snprintf(key, sizeof(key), "safety.%u", i);
                add(&q, key, "s", RC_PRIORITY_SAFETY, 0, RC_VQ_QUEUED);
        }
        /* the two warnings went for room; the safety messages all stay */
        assert_int_equal(t.n, 3);
        assert_int_equal(q.n_waiting, 3 + 16);
        add(&q, "safety.last", "s", RC_PRIORITY_SAFETY, 0, RC_VQ_REFUSED);
        add(&q, "warning.3", "3", RC_PRIORITY_WARNING, 0, RC_VQ_REFUSED);
        assert_int_equal(q.n_waiting, 3 + 16);
        pop_is(&q, "safety.0", 1); /* first come first */
        assert_int_equal(rc_vqueue_clear(&q), 3 + 16 - 1);
        rc_vqueue_fini(&q);
}

/* Hostile sizes: a text is kept to 2000 bytes (and says it was cut), a key to 63. */
static void test_msg_bounds(void **state) {
        char *text = malloc(5000), key[200];
        struct rc_vmsg *m;
        bool cut = false;

        (void)state;
        assert_non_null(text);
        memset(text, 'a', 4999);
        text[4999] = '\0';
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        m = rc_vmsg_new(1, key, text, RC_PRIORITY_INFO, 0, &cut);
        assert_non_null(m);
        assert_true(cut);
        assert_int_equal(strlen(m->text), 2000);
        assert_int_equal(strlen(m->key), 63);
        rc_vmsg_free(m);
        text[2000] = '\0';
        m = rc_vmsg_new(2, "k", text, RC_PRIORITY_INFO, 0, &cut);
        assert_non_null(m);
        assert_false(cut);
        assert_int_equal(strlen(m->text), 2000);
        rc_vmsg_free(m);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order),        cmocka_unit_test(test_cuts),
                cmocka_unit_test(test_repeat),       cmocka_unit_test(test_update),
                cmocka_unit_test(test_stale),        cmocka_unit_test(test_bound),
                cmocka_unit_test(test_bound_safety), cmocka_unit_test(test_msg_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
