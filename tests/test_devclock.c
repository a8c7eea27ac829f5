/* Device clock: u32 wrap and the mapping to the session clock
 * (core/analysis/devclock.h). Expected values are the simulated truths. */
#include "rc_test.h"

#include "analysis/devclock.h"

static void test_unwrap(void **state) {
        struct rc_devclock c;

        (void)state;
        rc_devclock_init(&c);
        assert_int_equal(rc_devclock_observe(&c, UINT32_MAX - 1000, 5000), UINT32_MAX - 1000);
        /* 2000 µs later the raw clock has wrapped to 999 */
        assert_int_equal(rc_devclock_observe(&c, 999, 7000), (int64_t)UINT32_MAX + 1000);
        /* a packet from just before the wrap, arriving late, is not a second wrap */
        assert_int_equal(rc_devclock_unwrap(&c, UINT32_MAX - 500), UINT32_MAX - 500);
        /* many wraps: 3 × 2^32 µs of steady progress */
        for (int64_t t = 0; t <= 3 * (1ll << 32); t += 1000000000)
                rc_devclock_observe(&c, (uint32_t)((int64_t)UINT32_MAX + 1000 + t), 7000 + t);
        assert_true(c.last_dev_us > 3 * (1ll << 32));
}

/* Latency = 10 ms + uniform jitter 0..20 ms: the offset settles on the minimum. */
static void test_minimum_latency(void **state) {
        struct rc_devclock c;
        uint64_t rng = 1;
        const int64_t true_offset = 123456789; /* session = device + this */

        (void)state;
        rc_devclock_init(&c);
        for (int64_t dev = 0; dev < 60 * 1000000; dev += 80000) {
                int64_t jitter = (int64_t)(rc_test_rand(&rng) % 20000);
                rc_devclock_observe(&c, (uint32_t)dev, dev + true_offset + 10000 + jitter);
        }
        /* 750 packets: the smallest jitter seen is tiny; the leak adds at most
         * 200 ppm of the time since it */
        assert_near((double)c.offset_us, (double)(true_offset + 10000), 1000);
}

/* A device clock 100 ppm slow (and one 100 ppm fast) is followed. */
static void drift(double ppm) {
        struct rc_devclock c;
        uint64_t rng = 3;

        rc_devclock_init(&c);
        for (int64_t host = 0; host < 600 * 1000000ll; host += 80000) {
                int64_t dev = (int64_t)((double)host * (1.0 + ppm * 1e-6));
                int64_t jitter = (int64_t)(rc_test_rand(&rng) % 15000);
                rc_devclock_observe(&c, (uint32_t)dev, host + 7500 + jitter);
                if (host > 10 * 1000000) {
                        /* mapped time of a sample vs its true host time + min latency */
                        int64_t err = rc_devclock_to_host(&c, dev) - (host + 7500);
                        if (llabs(err) > 3000)
                                fail_msg("at %lld µs: mapping off by %lld µs", (long long)host,
                                         (long long)err);
                }
        }
}

static void test_drift_slow(void **state) {
        (void)state;
        drift(-100);
}

static void test_drift_fast(void **state) {
        (void)state;
        drift(100);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unwrap),
                cmocka_unit_test(test_minimum_latency),
                cmocka_unit_test(test_drift_slow),
                cmocka_unit_test(test_drift_fast),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
