/* Tests of core/decode/gatt.c: every packet laid out by hand from the tables of
 * spec/roller-gatt.md (little-endian), valid and invalid forms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode/gatt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static rc_uuid uuid(const char *s) {
        rc_uuid u;

        assert_int_equal(rc_uuid_parse(s, strlen(s), &u), 0);
        return u;
}

/* ---- IMU -------------------------------------------------------------------- */

/* Roller IMU batch with force, two samples. */
static const uint8_t imu_force[] = {
        0x01, /* version 1 */
        0x01, /* flags: force */
        0x34,
        0x12, /* seq 0x1234 */
        0xef,
        0xcd,
        0xab,
        0x89, /* t0 0x89abcdef */
        0x88,
        0x13, /* period 5000 us (200 Hz) */
        0x02, /* n 2 */
        /* sample 0: ax -1000, ay 0, az 1000, gx 229, gy -1, gz 32767, force 40000 */
        0x18,
        0xfc,
        0x00,
        0x00,
        0xe8,
        0x03,
        0xe5,
        0x00,
        0xff,
        0xff,
        0xff,
        0x7f,
        0x40,
        0x9c,
        /* sample 1: ax -32768, ay 1, az 2, gx 3, gy 4, gz 5, force 65535 */
        0x00,
        0x80,
        0x01,
        0x00,
        0x02,
        0x00,
        0x03,
        0x00,
        0x04,
        0x00,
        0x05,
        0x00,
        0xff,
        0xff,
};

/* Body IMU batch without force, one sample. */
static const uint8_t imu_plain[] = {
        0x01,
        0x00,
        0xff,
        0xff, /* version 1, flags 0, seq 65535 */
        0x00,
        0x00,
        0x00,
        0x00, /* t0 0 */
        0x10,
        0x27,
        0x01, /* period 10000 us (100 Hz), n 1 */
        /* ax 16, ay -16, az 990, gx -229, gy 0, gz -32768 */
        0x10,
        0x00,
        0xf0,
        0xff,
        0xde,
        0x03,
        0x1b,
        0xff,
        0x00,
        0x00,
        0x00,
        0x80,
};

static void expect_imu_reject(const uint8_t *p, size_t len, bool body, enum rc_decode_reason why) {
        struct rc_imu_batch b;
        enum rc_decode_reason r = RC_DECODE_OK;

        memset(&b, 0xa5, sizeof(b));
        assert_int_equal(rc_decode_imu(p, len, body, &b, &r), -EBADMSG);
        assert_int_equal(r, why);
        /* Rejected whole: nothing written. */
        assert_int_equal(b.n, 0xa5);
}

static void test_imu_force(void **state) {
        struct rc_imu_batch b;
        struct rc_imu_sample s;
        enum rc_decode_reason r = RC_DECODE__COUNT;

        assert_int_equal(sizeof(imu_force), 11 + 2 * 14);
        assert_int_equal(rc_decode_imu(imu_force, sizeof(imu_force), false, &b, &r), 0);
        assert_int_equal(r, RC_DECODE_OK);
        assert_int_equal(b.flags, 0x01);
        assert_true(b.has_force);
        assert_int_equal(b.seq, 0x1234);
        assert_int_equal(b.t0_us, 0x89abcdefu);
        assert_int_equal(b.period_us, 5000);
        assert_int_equal(b.n, 2);
        assert_int_equal(b.stride, 14);
        assert_ptr_equal(b.samples, imu_force + 11);

        rc_imu_sample_get(&b, 0, &s);
        assert_int_equal(s.a[0], -1000);
        assert_int_equal(s.a[1], 0);
        assert_int_equal(s.a[2], 1000);
        assert_int_equal(s.g[0], 229);
        assert_int_equal(s.g[1], -1);
        assert_int_equal(s.g[2], 32767);
        assert_int_equal(s.force, 40000);

        rc_imu_sample_get(&b, 1, &s);
        assert_int_equal(s.a[0], -32768);
        assert_int_equal(s.a[1], 1);
        assert_int_equal(s.a[2], 2);
        assert_int_equal(s.g[0], 3);
        assert_int_equal(s.g[1], 4);
        assert_int_equal(s.g[2], 5);
        assert_int_equal(s.force, 65535);

        /* Past the last sample: zeros, not bytes beyond the packet. */
        memset(&s, 0x5a, sizeof(s));
        rc_imu_sample_get(&b, 2, &s);
        assert_int_equal(s.a[0], 0);
        assert_int_equal(s.g[2], 0);
        assert_int_equal(s.force, 0);
}

static void test_imu_plain(void **state) {
        struct rc_imu_batch b;
        struct rc_imu_sample s;
        enum rc_decode_reason r;

        assert_int_equal(sizeof(imu_plain), 11 + 12);
        /* The same packet is valid from a roller and from a body sensor. */
        for (int body = 0; body <= 1; body++) {
                assert_int_equal(rc_decode_imu(imu_plain, sizeof(imu_plain), body, &b, &r), 0);
                assert_int_equal(r, RC_DECODE_OK);
                assert_false(b.has_force);
                assert_int_equal(b.flags, 0);
                assert_int_equal(b.seq, 65535);
                assert_int_equal(b.t0_us, 0);
                assert_int_equal(b.period_us, 10000);
                assert_int_equal(b.n, 1);
                assert_int_equal(b.stride, 12);
                rc_imu_sample_get(&b, 0, &s);
                assert_int_equal(s.a[0], 16);
                assert_int_equal(s.a[1], -16);
                assert_int_equal(s.a[2], 990);
                assert_int_equal(s.g[0], -229);
                assert_int_equal(s.g[1], 0);
                assert_int_equal(s.g[2], -32768);
                assert_int_equal(s.force, 0);
        }
}

static void test_imu_max_count(void **state) {
        /* n = 255 without force: 11 + 255 * 12 = 3071 bytes. */
        static uint8_t p[11 + 255 * 12];
        struct rc_imu_batch b;
        struct rc_imu_sample s;
        enum rc_decode_reason r;

        memset(p, 0, sizeof(p));
        p[0] = 1;
        p[8] = 0x01; /* period 1 us */
        p[10] = 255;
        p[11 + 254 * 12] = 0x07; /* last sample's ax = 7 */
        assert_int_equal(rc_decode_imu(p, sizeof(p), true, &b, &r), 0);
        assert_int_equal(b.n, 255);
        assert_int_equal(b.period_us, 1);
        rc_imu_sample_get(&b, 254, &s);
        assert_int_equal(s.a[0], 7);
        expect_imu_reject(p, sizeof(p) - 1, true, RC_DECODE_LENGTH);
}

static void test_imu_length(void **state) {
        uint8_t p[64];

        /* Shorter than the header, whatever the content. */
        expect_imu_reject(imu_force, 0, false, RC_DECODE_LENGTH);
        expect_imu_reject(imu_force, 10, false, RC_DECODE_LENGTH);
        /* A header claiming 2 samples with none: length, once header fields pass. */
        expect_imu_reject(imu_force, 11, false, RC_DECODE_LENGTH);
        /* One byte short, one byte long. */
        expect_imu_reject(imu_force, sizeof(imu_force) - 1, false, RC_DECODE_LENGTH);
        memcpy(p, imu_force, sizeof(imu_force));
        p[sizeof(imu_force)] = 0;
        expect_imu_reject(p, sizeof(imu_force) + 1, false, RC_DECODE_LENGTH);
        expect_imu_reject(imu_plain, sizeof(imu_plain) - 1, true, RC_DECODE_LENGTH);
        memcpy(p, imu_plain, sizeof(imu_plain));
        p[sizeof(imu_plain)] = 0;
        expect_imu_reject(p, sizeof(imu_plain) + 1, true, RC_DECODE_LENGTH);

        /* Stride mismatch: 2 samples of 14 bytes without the force flag would need
         * 11 + 2 * 12 = 35 bytes, not 39. */
        memcpy(p, imu_force, sizeof(imu_force));
        p[1] = 0x00;
        expect_imu_reject(p, sizeof(imu_force), false, RC_DECODE_LENGTH);
        /* And 1 sample of 12 bytes with the flag set would need 25, not 23. */
        memcpy(p, imu_plain, sizeof(imu_plain));
        p[1] = 0x01;
        expect_imu_reject(p, sizeof(imu_plain), false, RC_DECODE_LENGTH);
}

static void test_imu_fields(void **state) {
        uint8_t p[64];

        /* Version 0 and 2. */
        memcpy(p, imu_force, sizeof(imu_force));
        p[0] = 0;
        expect_imu_reject(p, sizeof(imu_force), false, RC_DECODE_VERSION);
        p[0] = 2;
        expect_imu_reject(p, sizeof(imu_force), false, RC_DECODE_VERSION);

        /* Period 0. */
        memcpy(p, imu_force, sizeof(imu_force));
        p[8] = p[9] = 0;
        expect_imu_reject(p, sizeof(imu_force), false, RC_DECODE_PERIOD);
        /* Only the high byte set: 256 us is valid. */
        p[9] = 1;
        assert_int_equal(
                rc_decode_imu(p, sizeof(imu_force), false, &(struct rc_imu_batch){0}, NULL), 0);

        /* n 0 (with no sample bytes, so the length would be right). */
        memcpy(p, imu_plain, 11);
        p[10] = 0;
        expect_imu_reject(p, 11, false, RC_DECODE_COUNT);

        /* Force flag on a body sensor. */
        expect_imu_reject(imu_force, sizeof(imu_force), true, RC_DECODE_FLAGS);
}

static void test_imu_order(void **state) {
        uint8_t p[64];

        /* The rules apply in the order of the header: length >= 11, version, flags,
         * period, count, exact length. */
        memcpy(p, imu_force, sizeof(imu_force));
        p[0] = 2;
        expect_imu_reject(p, 10, true, RC_DECODE_LENGTH);
        p[8] = p[9] = 0;
        p[10] = 0;
        expect_imu_reject(p, 12, true, RC_DECODE_VERSION);
        p[0] = 1;
        expect_imu_reject(p, 12, true, RC_DECODE_FLAGS);
        expect_imu_reject(p, 12, false, RC_DECODE_PERIOD);
        p[8] = 1;
        expect_imu_reject(p, 12, false, RC_DECODE_COUNT);
        p[10] = 3;
        expect_imu_reject(p, 12, false, RC_DECODE_LENGTH);
}

static void test_imu_reserved_flags(void **state) {
        uint8_t p[64];
        struct rc_imu_batch b;
        enum rc_decode_reason r;

        /* Bits 1..7 are reserved: ignored, for a roller and for a body sensor. */
        memcpy(p, imu_plain, sizeof(imu_plain));
        p[1] = 0xfe;
        assert_int_equal(rc_decode_imu(p, sizeof(imu_plain), true, &b, &r), 0);
        assert_int_equal(b.flags, 0xfe);
        assert_false(b.has_force);
        assert_int_equal(b.stride, 12);
        memcpy(p, imu_force, sizeof(imu_force));
        p[1] = 0xff;
        assert_int_equal(rc_decode_imu(p, sizeof(imu_force), false, &b, &r), 0);
        assert_true(b.has_force);
        assert_int_equal(b.stride, 14);
}

/* ---- Button ------------------------------------------------------------------ */

static void test_button(void **state) {
        static const char *const names[] = {NULL, "short", "long", "double"};
        struct rc_button b;
        enum rc_decode_reason r;

        for (uint8_t ev = 1; ev <= 3; ev++) {
                const uint8_t p[] = {0x01, ev, 0x78, 0x56, 0x34, 0x12};

                assert_int_equal(rc_decode_button(p, sizeof(p), &b, &r), 0);
                assert_int_equal(r, RC_DECODE_OK);
                assert_int_equal(b.press, ev);
                assert_int_equal(b.t_us, 0x12345678u);
                assert_string_equal(rc_press_name(b.press), names[ev]);
        }
        assert_int_equal(RC_PRESS_SHORT, 1);
        assert_int_equal(RC_PRESS_LONG, 2);
        assert_int_equal(RC_PRESS_DOUBLE, 3);
}

static void test_button_invalid(void **state) {
        const uint8_t ev0[] = {0x01, 0x00, 0, 0, 0, 0};
        const uint8_t ev4[] = {0x01, 0x04, 0, 0, 0, 0};
        const uint8_t v0[] = {0x00, 0x01, 0, 0, 0, 0};
        const uint8_t v2[] = {0x02, 0x01, 0, 0, 0, 0};
        const uint8_t len7[] = {0x01, 0x01, 0, 0, 0, 0, 0};
        struct rc_button b;
        enum rc_decode_reason r;

        assert_int_equal(rc_decode_button(ev0, sizeof(ev0), &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(rc_decode_button(ev4, sizeof(ev4), &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(rc_decode_button(v0, sizeof(v0), &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VERSION);
        assert_int_equal(rc_decode_button(v2, sizeof(v2), &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VERSION);
        assert_int_equal(rc_decode_button(len7, 5, &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
        assert_int_equal(rc_decode_button(len7, 7, &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
        assert_int_equal(rc_decode_button(len7, 0, &b, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
}

/* ---- Roller Info ------------------------------------------------------------ */

static void expect_info_reject(const uint8_t *p, size_t len, enum rc_decode_reason why) {
        struct rc_roller_info i;
        enum rc_decode_reason r = RC_DECODE_OK;

        assert_int_equal(rc_decode_roller_info(p, len, &i, &r), -EBADMSG);
        assert_int_equal(r, why);
}

static void test_roller_info(void **state) {
        /* The trace spec's example: 127 mm, 457 mm (0x01c9), x, smooth. */
        const uint8_t std[] = {0x01, 0x7f, 0x00, 0xc9, 0x01, 0x00, 0x00};
        /* The upper bounds: 1000 mm (0x03e8), 3000 mm (0x0bb8), z, vibrating. */
        const uint8_t big[] = {0x01, 0xe8, 0x03, 0xb8, 0x0b, 0x02, 0x02};
        /* The lower bounds: 1 mm, 1 mm, y, textured. */
        const uint8_t small[] = {0x01, 0x01, 0x00, 0x01, 0x00, 0x01, 0x01};
        struct rc_roller_info i;
        enum rc_decode_reason r;

        assert_int_equal(rc_decode_roller_info(std, sizeof(std), &i, &r), 0);
        assert_int_equal(r, RC_DECODE_OK);
        assert_int_equal(i.diameter_mm, 127);
        assert_int_equal(i.length_mm, 457);
        assert_int_equal(i.long_axis, 0);
        assert_int_equal(i.surface, RC_SURFACE_SMOOTH);
        assert_int_equal(rc_decode_roller_info(big, sizeof(big), &i, &r), 0);
        assert_int_equal(i.diameter_mm, 1000);
        assert_int_equal(i.length_mm, 3000);
        assert_int_equal(i.long_axis, 2);
        assert_int_equal(i.surface, RC_SURFACE_VIBRATING);
        assert_int_equal(rc_decode_roller_info(small, sizeof(small), &i, &r), 0);
        assert_int_equal(i.diameter_mm, 1);
        assert_int_equal(i.length_mm, 1);
        assert_int_equal(i.long_axis, 1);
        assert_int_equal(i.surface, RC_SURFACE_TEXTURED);
}

static void test_roller_info_invalid(void **state) {
        uint8_t p[8];
        const uint8_t std[] = {0x01, 0x7f, 0x00, 0xc9, 0x01, 0x00, 0x00};

        memcpy(p, std, 7);
        p[5] = 3; /* axis */
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[6] = 3; /* surface */
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[1] = p[2] = 0; /* zero diameter */
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[3] = p[4] = 0; /* zero length */
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[1] = 0xe9; /* diameter 1001 */
        p[2] = 0x03;
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[3] = 0xb9; /* length 3001 */
        p[4] = 0x0b;
        expect_info_reject(p, 7, RC_DECODE_VALUE);
        memcpy(p, std, 7);
        p[0] = 2;
        expect_info_reject(p, 7, RC_DECODE_VERSION);
        memcpy(p, std, 7);
        p[7] = 0;
        expect_info_reject(p, 6, RC_DECODE_LENGTH);
        expect_info_reject(p, 8, RC_DECODE_LENGTH);
}

static void test_roller_info_default(void **state) {
        /* spec: 127 mm diameter (5 inch), 457 mm long, long axis x; smooth. */
        assert_int_equal(RC_ROLLER_INFO_DEFAULT.diameter_mm, 127);
        assert_int_equal(RC_ROLLER_INFO_DEFAULT.length_mm, 457);
        assert_int_equal(RC_ROLLER_INFO_DEFAULT.long_axis, 0);
        assert_int_equal(RC_ROLLER_INFO_DEFAULT.surface, RC_SURFACE_SMOOTH);
}

/* ---- Placement ------------------------------------------------------------- */

static void test_placement(void **state) {
        static const char *const names[] = {NULL,         "sacrum",      "upper_back",
                                            "left_thigh", "right_thigh", "wrist"};
        enum rc_placement pl;
        enum rc_decode_reason r;

        for (uint8_t v = 1; v <= 5; v++) {
                const uint8_t p[] = {0x01, v};

                assert_int_equal(rc_decode_placement(p, 2, &pl, &r), 0);
                assert_int_equal(r, RC_DECODE_OK);
                assert_int_equal(pl, v);
                assert_string_equal(rc_placement_name(pl), names[v]);
        }
        const uint8_t p0[] = {0x01, 0x00, 0x00}, p6[] = {0x01, 0x06}, v2[] = {0x02, 0x01};
        assert_int_equal(rc_decode_placement(p0, 2, &pl, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(rc_decode_placement(p6, 2, &pl, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(rc_decode_placement(v2, 2, &pl, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VERSION);
        assert_int_equal(rc_decode_placement(p0, 1, &pl, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
        assert_int_equal(rc_decode_placement(p0, 3, &pl, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
}

/* ---- Heart rate --------------------------------------------------------------- */

static struct rc_hr_measurement hr_ok(const uint8_t *p, size_t len) {
        struct rc_hr_measurement m;
        enum rc_decode_reason r = RC_DECODE__COUNT;

        assert_int_equal(rc_decode_hr_measurement(p, len, &m, &r), 0);
        assert_int_equal(r, RC_DECODE_OK);
        return m;
}

static void hr_bad(const uint8_t *p, size_t len) {
        struct rc_hr_measurement m;
        enum rc_decode_reason r = RC_DECODE_OK;

        assert_int_equal(rc_decode_hr_measurement(p, len, &m, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
}

static void test_hr_basic(void **state) {
        struct rc_hr_measurement m;
        const uint8_t hr8[] = {0x00, 0x48};                /* 72 bpm */
        const uint8_t hr16[] = {0x01, 0x2c, 0x01};         /* 0x012c = 300 bpm */
        const uint8_t zero[] = {0x00, 0x00};               /* not known yet */
        const uint8_t energy[] = {0x08, 0x48, 0xe8, 0x03}; /* 1000 kJ */
        const uint8_t reserved[] = {0xe0, 0x48};           /* bits 5..7 reserved */

        m = hr_ok(hr8, sizeof(hr8));
        assert_int_equal(m.flags, 0);
        assert_int_equal(m.bpm, 72);
        assert_int_equal(m.contact, RC_CONTACT_UNSUPPORTED);
        assert_false(m.has_energy);
        assert_int_equal(m.n_rr, 0);
        m = hr_ok(hr16, sizeof(hr16));
        assert_int_equal(m.bpm, 300);
        assert_int_equal(m.n_rr, 0);
        m = hr_ok(zero, sizeof(zero));
        assert_int_equal(m.bpm, 0);
        m = hr_ok(energy, sizeof(energy));
        assert_true(m.has_energy);
        assert_int_equal(m.energy_kj, 1000);
        assert_int_equal(m.bpm, 72);
        m = hr_ok(reserved, sizeof(reserved));
        assert_int_equal(m.flags, 0xe0);
        assert_int_equal(m.bpm, 72);
}

static void test_hr_contact(void **state) {
        /* Flags bits 2..1: 00 and 01 not supported (bit 2 clear), 10 supported but
         * no contact, 11 contact. */
        const uint8_t c00[] = {0x00, 60}, c01[] = {0x02, 60}, c10[] = {0x04, 60},
                      c11[] = {0x06, 60};

        assert_int_equal(hr_ok(c00, 2).contact, RC_CONTACT_UNSUPPORTED);
        assert_int_equal(hr_ok(c01, 2).contact, RC_CONTACT_UNSUPPORTED);
        assert_int_equal(hr_ok(c10, 2).contact, RC_CONTACT_LOST);
        assert_int_equal(hr_ok(c11, 2).contact, RC_CONTACT_OK);
}

static void test_hr_rr(void **state) {
        struct rc_hr_measurement m;
        /* The trace spec's example: RR present, 72 bpm, one RR of 0x0400 = 1024/1024 s. */
        const uint8_t one[] = {0x10, 0x48, 0x00, 0x04};
        /* Three RR: 1024, 0x0366 = 870, 0x049a = 1178. */
        const uint8_t three[] = {0x10, 0x48, 0x00, 0x04, 0x66, 0x03, 0x9a, 0x04};
        /* Every flag: 16-bit HR 60, contact, energy 16 kJ, RR 1024 and 0x0333 = 819. */
        const uint8_t all[] = {0x1e | 0x01, 0x3c, 0x00, 0x10, 0x00, 0x00, 0x04, 0x33, 0x03};

        m = hr_ok(one, sizeof(one));
        assert_int_equal(m.bpm, 72);
        assert_int_equal(m.n_rr, 1);
        assert_ptr_equal(m.rr_bytes, one + 2);
        assert_int_equal(rc_hr_rr(&m, 0), 1024);

        m = hr_ok(three, sizeof(three));
        assert_int_equal(m.n_rr, 3);
        assert_int_equal(rc_hr_rr(&m, 0), 1024);
        assert_int_equal(rc_hr_rr(&m, 1), 870);
        assert_int_equal(rc_hr_rr(&m, 2), 1178);

        m = hr_ok(all, sizeof(all));
        assert_int_equal(m.flags, 0x1f);
        assert_int_equal(m.bpm, 60);
        assert_int_equal(m.contact, RC_CONTACT_OK);
        assert_true(m.has_energy);
        assert_int_equal(m.energy_kj, 16);
        assert_int_equal(m.n_rr, 2);
        assert_ptr_equal(m.rr_bytes, all + 5);
        assert_int_equal(rc_hr_rr(&m, 0), 1024);
        assert_int_equal(rc_hr_rr(&m, 1), 819);
}

static void test_hr_invalid(void **state) {
        const uint8_t rr_none[] = {0x10, 0x48};
        const uint8_t rr_none_energy[] = {0x18, 0x48, 0xe8, 0x03};
        const uint8_t rr_odd[] = {0x10, 0x48, 0x00, 0x04, 0x01};
        const uint8_t rr_half[] = {0x10, 0x48, 0x00};
        const uint8_t leftover[] = {0x00, 0x48, 0x00};
        const uint8_t leftover_energy[] = {0x08, 0x48, 0xe8, 0x03, 0x00};
        const uint8_t leftover16[] = {0x01, 0x48, 0x00, 0x00};
        const uint8_t short16[] = {0x01, 0x48};
        const uint8_t short_energy[] = {0x08, 0x48, 0xe8};
        const uint8_t short_energy16[] = {0x09, 0x48, 0x00, 0xe8};

        hr_bad(rr_none, 0);
        hr_bad(rr_none, 1);
        hr_bad(rr_none, sizeof(rr_none));
        hr_bad(rr_none_energy, sizeof(rr_none_energy));
        hr_bad(rr_odd, sizeof(rr_odd));
        hr_bad(rr_half, sizeof(rr_half));
        hr_bad(leftover, sizeof(leftover));
        hr_bad(leftover_energy, sizeof(leftover_energy));
        hr_bad(leftover16, sizeof(leftover16));
        hr_bad(short16, sizeof(short16));
        hr_bad(short_energy, sizeof(short_energy));
        hr_bad(short_energy16, sizeof(short_energy16));
}

/* ---- Battery ----------------------------------------------------------------- */

static void test_battery(void **state) {
        const uint8_t v[] = {0, 100, 101, 255};
        uint8_t pct = 0xee;
        enum rc_decode_reason r;

        assert_int_equal(rc_decode_battery(&v[0], 1, &pct, &r), 0);
        assert_int_equal(pct, 0);
        assert_int_equal(r, RC_DECODE_OK);
        assert_int_equal(rc_decode_battery(&v[1], 1, &pct, &r), 0);
        assert_int_equal(pct, 100);
        assert_int_equal(rc_decode_battery(&v[2], 1, &pct, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(rc_decode_battery(&v[3], 1, &pct, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_VALUE);
        assert_int_equal(pct, 100);
        assert_int_equal(rc_decode_battery(v, 0, &pct, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
        assert_int_equal(rc_decode_battery(v, 2, &pct, &r), -EBADMSG);
        assert_int_equal(r, RC_DECODE_LENGTH);
}

/* ---- Strings ------------------------------------------------------------------ */

static void string_ok(const char *bytes, size_t len, const char *expect) {
        char out[RC_GATT_STRING_MAX + 1];
        enum rc_decode_reason r = RC_DECODE__COUNT;

        memset(out, 'x', sizeof(out));
        assert_int_equal(rc_decode_string((const uint8_t *)bytes, len, out, &r), 0);
        assert_int_equal(r, RC_DECODE_OK);
        assert_string_equal(out, expect);
}

static void string_bad(const char *bytes, size_t len, enum rc_decode_reason why) {
        char out[RC_GATT_STRING_MAX + 1];
        enum rc_decode_reason r = RC_DECODE_OK;

        assert_int_equal(rc_decode_string((const uint8_t *)bytes, len, out, &r), -EBADMSG);
        assert_int_equal(r, why);
}

#define STR_OK(lit) string_ok(lit, sizeof(lit) - 1, lit)
#define STR_BAD(lit, why) string_bad(lit, sizeof(lit) - 1, why)

static void test_string_valid(void **state) {
        char s64[65], s65[66];

        STR_OK("Roller");
        STR_OK("a");
        STR_OK("Acme Rollers GmbH & Co. ~ v1.2");
        /* 2-, 3- and 4-byte forms: é U+00E9, € U+20AC, 😀 U+1F600. */
        STR_OK("Gr\xc3\xb6\xc3\x9f"
               "e \xe2\x82\xac \xf0\x9f\x98\x80");
        /* Boundaries of each form: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF,
         * U+10000, U+10FFFF. */
        STR_OK("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
               "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
        /* One trailing NUL is dropped. */
        string_ok("Roller\0", 7, "Roller");

        /* 64 bytes: the maximum; 64 + a trailing NUL also fits. */
        memset(s64, 'r', 64);
        s64[64] = '\0';
        string_ok(s64, 64, s64);
        string_ok(s64, 65, s64);
        /* 62 ASCII + a 2-byte character = 64 bytes. */
        memset(s65, 'r', 62);
        memcpy(s65 + 62, "\xc3\xa9", 3);
        string_ok(s65, 64, s65);
}

static void test_string_invalid(void **state) {
        char s65[65];

        /* Length: empty, only a NUL, 65 bytes. */
        string_bad("", 0, RC_DECODE_LENGTH);
        string_bad("\0", 1, RC_DECODE_LENGTH);
        memset(s65, 'r', 65);
        string_bad(s65, 65, RC_DECODE_LENGTH);
        /* Overlong forms of '/', U+07FF and U+FFFF. */
        STR_BAD("\xc0\xaf", RC_DECODE_VALUE);
        STR_BAD("\xc1\xbf", RC_DECODE_VALUE);
        STR_BAD("\xe0\x80\xaf", RC_DECODE_VALUE);
        STR_BAD("\xe0\x9f\xbf", RC_DECODE_VALUE);
        STR_BAD("\xf0\x80\x80\xaf", RC_DECODE_VALUE);
        STR_BAD("\xf0\x8f\xbf\xbf", RC_DECODE_VALUE);
        /* Surrogates U+D800 and U+DFFF. */
        STR_BAD("ab\xed\xa0\x80", RC_DECODE_VALUE);
        STR_BAD("\xed\xbf\xbf", RC_DECODE_VALUE);
        /* Beyond U+10FFFF. */
        STR_BAD("\xf4\x90\x80\x80", RC_DECODE_VALUE);
        STR_BAD("\xf5\x80\x80\x80", RC_DECODE_VALUE);
        STR_BAD("\xff", RC_DECODE_VALUE);
        /* A stray continuation byte, truncated sequences, a missing continuation. */
        STR_BAD("a\x80", RC_DECODE_VALUE);
        STR_BAD("ab\xc3", RC_DECODE_VALUE);
        STR_BAD("\xe2\x82", RC_DECODE_VALUE);
        STR_BAD("\xf0\x9f\x98", RC_DECODE_VALUE);
        STR_BAD("\xe2\x82x", RC_DECODE_VALUE);
        STR_BAD("\xc3"
                "a",
                RC_DECODE_VALUE);
        /* Control characters: tab, newline, 0x1f, DEL, an inner NUL, two trailing NULs. */
        STR_BAD("a\tb", RC_DECODE_VALUE);
        STR_BAD("a\n", RC_DECODE_VALUE);
        STR_BAD("\x1f", RC_DECODE_VALUE);
        STR_BAD("a\x7f", RC_DECODE_VALUE);
        string_bad("a\0b", 3, RC_DECODE_VALUE);
        string_bad("ab\0\0", 4, RC_DECODE_VALUE);
}

/* ---- UUID table --------------------------------------------------------------- */

static void test_uuid_table(void **state) {
        static const struct {
                const char *uuid;
                enum rc_char c;
                const char *name;
        } known[] = {
                {"caf70002-e46c-49f3-98a8-0c9d2480bb18", RC_CHAR_ROLLER_IMU, "roller-imu"},
                {"caf70003-e46c-49f3-98a8-0c9d2480bb18", RC_CHAR_ROLLER_BUTTON, "roller-button"},
                {"caf70004-e46c-49f3-98a8-0c9d2480bb18", RC_CHAR_ROLLER_INFO, "roller-info"},
                {"caf70102-e46c-49f3-98a8-0c9d2480bb18", RC_CHAR_BODY_IMU, "body-imu"},
                {"caf70104-e46c-49f3-98a8-0c9d2480bb18", RC_CHAR_BODY_PLACEMENT, "body-placement"},
                {"00002a37-0000-1000-8000-00805f9b34fb", RC_CHAR_HR_MEASUREMENT, "hr-measurement"},
                {"00002a19-0000-1000-8000-00805f9b34fb", RC_CHAR_BATTERY_LEVEL, "battery-level"},
                {"00002a00-0000-1000-8000-00805f9b34fb", RC_CHAR_DEVICE_NAME, "device-name"},
                {"00002a29-0000-1000-8000-00805f9b34fb", RC_CHAR_MANUFACTURER, "manufacturer"},
                {"00002a24-0000-1000-8000-00805f9b34fb", RC_CHAR_MODEL_NUMBER, "model-number"},
                {"00002a26-0000-1000-8000-00805f9b34fb", RC_CHAR_FIRMWARE_REV, "firmware-rev"},
        };

        assert_int_equal(N(known), RC_CHAR__COUNT - 1);
        for (size_t i = 0; i < N(known); i++) {
                rc_uuid u = uuid(known[i].uuid);

                assert_int_equal(rc_gatt_char_from_uuid(&u), known[i].c);
                assert_non_null(rc_gatt_char_uuid(known[i].c));
                assert_true(rc_uuid_equal(rc_gatt_char_uuid(known[i].c), &u));
                assert_string_equal(rc_gatt_char_name(known[i].c), known[i].name);
        }
}

static void test_uuid_table_16bit(void **state) {
        static const struct {
                const char *s;
                uint16_t v;
                enum rc_char c;
        } sig[] = {
                {"2a37", 0x2a37, RC_CHAR_HR_MEASUREMENT}, {"2A19", 0x2a19, RC_CHAR_BATTERY_LEVEL},
                {"2a00", 0x2a00, RC_CHAR_DEVICE_NAME},    {"2a29", 0x2a29, RC_CHAR_MANUFACTURER},
                {"2a24", 0x2a24, RC_CHAR_MODEL_NUMBER},   {"2a26", 0x2a26, RC_CHAR_FIRMWARE_REV},
        };

        for (size_t i = 0; i < N(sig); i++) {
                rc_uuid a = uuid(sig[i].s), b = rc_uuid_from16(sig[i].v);
                uint16_t v;

                assert_int_equal(rc_gatt_char_from_uuid(&a), sig[i].c);
                assert_int_equal(rc_gatt_char_from_uuid(&b), sig[i].c);
                assert_true(rc_uuid_is_sig16(rc_gatt_char_uuid(sig[i].c), &v));
                assert_int_equal(v, sig[i].v);
        }
}

static void test_uuid_table_unknown(void **state) {
        static const char *const unknown[] = {
                "2a38",                                 /* another SIG characteristic */
                "180d",                                 /* a service, not a characteristic */
                "caf70001-e46c-49f3-98a8-0c9d2480bb18", /* the roller service */
                "caf70005-e46c-49f3-98a8-0c9d2480bb18",
                "caf70103-e46c-49f3-98a8-0c9d2480bb18",
                "caf70002-e46c-49f3-98a8-0c9d2480bb19", /* last byte differs */
                "00002a37-0000-1000-8000-00805f9b34fc", /* not on the SIG base */
                "00000000-0000-0000-0000-000000000000",
        };

        for (size_t i = 0; i < N(unknown); i++) {
                rc_uuid u = uuid(unknown[i]);

                assert_int_equal(rc_gatt_char_from_uuid(&u), RC_CHAR_UNKNOWN);
        }
        assert_null(rc_gatt_char_uuid(RC_CHAR_UNKNOWN));
        assert_null(rc_gatt_char_uuid(RC_CHAR__COUNT));
        assert_string_equal(rc_gatt_char_name(RC_CHAR_UNKNOWN), "unknown");
}

static void test_services(void **state) {
        rc_uuid roller = uuid("caf70001-e46c-49f3-98a8-0c9d2480bb18");
        rc_uuid body = uuid("caf70101-e46c-49f3-98a8-0c9d2480bb18");
        rc_uuid hr = uuid("0000180d-0000-1000-8000-00805f9b34fb");
        rc_uuid battery = uuid("180F");
        rc_uuid devinfo = uuid("180a");

        assert_true(rc_uuid_equal(&RC_SERVICE_ROLLER, &roller));
        assert_true(rc_uuid_equal(&RC_SERVICE_BODY, &body));
        assert_true(rc_uuid_equal(&RC_SERVICE_HR, &hr));
        assert_true(rc_uuid_equal(&RC_SERVICE_BATTERY, &battery));
        assert_true(rc_uuid_equal(&RC_SERVICE_DEVINFO, &devinfo));
}

static void test_names(void **state) {
        assert_string_equal(rc_decode_reason_name(RC_DECODE_OK), "ok");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_LENGTH), "length");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_VERSION), "version");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_PERIOD), "period");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_COUNT), "count");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_FLAGS), "flags");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_VALUE), "value");
        assert_string_equal(rc_decode_reason_name(RC_DECODE_UNKNOWN), "unknown");
        assert_string_equal(rc_decode_reason_name(RC_DECODE__COUNT), "invalid");
        assert_string_equal(rc_press_name((enum rc_press)0), "invalid");
        assert_string_equal(rc_placement_name((enum rc_placement)6), "invalid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_imu_force),
                cmocka_unit_test(test_imu_plain),
                cmocka_unit_test(test_imu_max_count),
                cmocka_unit_test(test_imu_length),
                cmocka_unit_test(test_imu_fields),
                cmocka_unit_test(test_imu_order),
                cmocka_unit_test(test_imu_reserved_flags),
                cmocka_unit_test(test_button),
                cmocka_unit_test(test_button_invalid),
                cmocka_unit_test(test_roller_info),
                cmocka_unit_test(test_roller_info_invalid),
                cmocka_unit_test(test_roller_info_default),
                cmocka_unit_test(test_placement),
                cmocka_unit_test(test_hr_basic),
                cmocka_unit_test(test_hr_contact),
                cmocka_unit_test(test_hr_rr),
                cmocka_unit_test(test_hr_invalid),
                cmocka_unit_test(test_battery),
                cmocka_unit_test(test_string_valid),
                cmocka_unit_test(test_string_invalid),
                cmocka_unit_test(test_uuid_table),
                cmocka_unit_test(test_uuid_table_16bit),
                cmocka_unit_test(test_uuid_table_unknown),
                cmocka_unit_test(test_services),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
