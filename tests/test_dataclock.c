/* Tests of core/util/dataclock.c: the hub's session clock is real time for data
 * that comes in real time, and runs at the data's rate when it comes N times
 * faster (the expected rates are the scenarios' own: device µs per real µs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/dataclock.h"

/* A device sending a batch every 80 ms of its own time, its clock starting at
 * `raw0` (wrapping at 2^32), streamed `speed` times faster than real time, from
 * real time `from_us` for `real_s` seconds. Returns the real time reached. */
static int64_t stream(struct rc_dataclock *c, int64_t from_us, double real_s, double speed,
                      uint32_t raw0) {
        const int64_t batch_dev_us = 80000;
        int64_t real = from_us;

        for (int64_t dev = 0; real < from_us + (int64_t)(real_s * 1e6); dev += batch_dev_us) {
                real = from_us + (int64_t)((double)dev / speed);
                rc_dataclock_observe(c, real, raw0 + (uint32_t)dev);
        }
        return real;
}

static void test_real_time(void **state) {
        struct rc_dataclock c;
        int64_t end;

        rc_dataclock_init(&c);
        assert_int_equal(rc_dataclock_now(&c, 0), 0);
        end = stream(&c, 0, 60, 1.0, 0xfff00000u); /* wraps on the way */
        /* real time: the clock reads what the wall clock does, to the µs */
        assert_int_equal(rc_dataclock_now(&c, end), end);
        assert_int_equal(rc_dataclock_real_until(&c, end, end + 30000000), 30000000);
        /* a device that is a little fast (under 5 %) or slow does not move it, nor
         * does its clock jumping ahead (a reconnection) */
        end = stream(&c, end, 30, 1.03, 0x40000000u);
        assert_int_equal(rc_dataclock_now(&c, end), end);
        end = stream(&c, end, 30, 0.5, 7);
        assert_int_equal(rc_dataclock_now(&c, end), end);
}

static void test_faster(void **state) {
        struct rc_dataclock c;
        int64_t t, end, read1, read2;

        rc_dataclock_init(&c);
        /* 4x: after the first window the clock runs at 4 session s per real s */
        end = stream(&c, 0, 60, 4.0, 0);
        read1 = rc_dataclock_now(&c, end);
        read2 = rc_dataclock_now(&c, end + 1000000);
        assert_in_range(read2 - read1, 3920000, 4080000); /* 4 s, within 2 % */
        /* 60 s of real time: at least the 58 s after the first window ran at 4x */
        assert_true(read1 >= 58 * 4000000LL);
        /* a 30 s plugin timer is 7.5 real seconds */
        t = rc_dataclock_real_until(&c, end, read1 + 30000000);
        assert_in_range(t, 7350000, 7650000);
        /* back to real time: the clock slows down but never goes back */
        end = stream(&c, end, 10, 1.0, 12345);
        assert_true(rc_dataclock_now(&c, end) >= read2);
        read1 = rc_dataclock_now(&c, end);
        assert_int_equal(rc_dataclock_now(&c, end + 1000000) - read1, 1000000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_time),
                cmocka_unit_test(test_faster),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
