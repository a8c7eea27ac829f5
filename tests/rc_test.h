/* rollcoach tests — small shared helpers (header-only; each test is one program).
 *
 * Include after <cmocka.h>'s prerequisites. Everything here lays bytes out from
 * the spec tables (spec/roller-gatt.md) by hand; none of it calls the code under
 * test, so expectations stay independent of it. */
#pragma once

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

/* |a - b| <= tol, with both values printed on failure. */
#define assert_near(a, b, tol)                                                                     \
        do {                                                                                       \
                double a_ = (a), b_ = (b), t_ = (tol);                                             \
                if (!(fabs(a_ - b_) <= t_))                                                        \
                        fail_msg("%s = %.6f, expected %s = %.6f within %.6f", #a, a_, #b, b_, t_); \
        } while (0)

/* |a - b| <= rel * |b| */
#define assert_rel(a, b, rel) assert_near(a, b, fabs((double)(b)) * (rel))

static inline void rc_test_put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static inline void rc_test_put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* IMU Batch header (spec/roller-gatt.md): version 1, flags, seq, t0, period, n. */
static inline size_t rc_test_imu_header(uint8_t *p, int force, uint16_t seq, uint32_t t0,
                                        uint16_t period_us, uint8_t n) {
        p[0] = 1;
        p[1] = force ? 1 : 0;
        rc_test_put16(p + 2, seq);
        rc_test_put32(p + 4, t0);
        rc_test_put16(p + 8, period_us);
        p[10] = n;
        return 11;
}

/* One sample: a[3] milli-g, g[3] 0.1 °/s, force 0.1 N (written only if with_force). */
static inline size_t rc_test_imu_sample(uint8_t *p, const int16_t a[3], const int16_t g[3],
                                        int with_force, uint16_t force) {
        for (int i = 0; i < 3; i++) {
                rc_test_put16(p + 2 * i, (uint16_t)a[i]);
                rc_test_put16(p + 6 + 2 * i, (uint16_t)g[i]);
        }
        if (with_force) {
                rc_test_put16(p + 12, force);
                return 14;
        }
        return 12;
}

/* Round to the nearest integer and clamp to i16. */
static inline int16_t rc_test_i16(double x) {
        double r = floor(x + 0.5);
        if (r > 32767)
                r = 32767;
        if (r < -32768)
                r = -32768;
        return (int16_t)r;
}

/* A tiny deterministic PRNG for test noise (splitmix64) and a Gaussian from it. */
static inline uint64_t rc_test_rand(uint64_t *state) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static inline double rc_test_gauss(uint64_t *state) {
        double u1 = ((double)(rc_test_rand(state) >> 11) + 0.5) / 9007199254740992.0;
        double u2 = ((double)(rc_test_rand(state) >> 11) + 0.5) / 9007199254740992.0;
        return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* The value of a "KEY = value" line in a Kubios HRV result file
 * (tests/fixtures/hrv): the last line, not a '#' comment, that starts with `key`.
 * Fails the test if there is none. */
static inline double rc_test_kubios_value(const char *path, const char *key) {
        FILE *f = fopen(path, "r");
        char line[256];
        double v = NAN;

        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (line[0] != '#' && strncmp(line, key, strlen(key)) == 0) {
                        const char *eq = strchr(line, '=');

                        assert_non_null(eq);
                        v = strtod(eq + 1, NULL);
                }
        fclose(f);
        assert_false(isnan(v));
        return v;
}
