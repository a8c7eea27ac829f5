/* Tests of core/util/ids.c: device addresses, UUIDs and hex payloads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/ids.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int addr_parse(const char *s, rc_addr *a) {
        return rc_addr_parse(s, strlen(s), a);
}

static int uuid_parse(const char *s, rc_uuid *u) {
        return rc_uuid_parse(s, strlen(s), u);
}

static void test_addr_parse(void **state) {
        const uint8_t expect[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01};
        rc_addr a, b;

        assert_int_equal(addr_parse("AA:BB:CC:DD:EE:01", &a), 0);
        assert_memory_equal(a.b, expect, 6);
        assert_int_equal(addr_parse("aa:bB:Cc:dd:ee:01", &b), 0);
        assert_true(rc_addr_equal(&a, &b));
        /* Only `len` characters are read. */
        assert_int_equal(rc_addr_parse("11:22:33:44:55:66,connect", 17, &b), 0);
        assert_int_equal(b.b[0], 0x11);
        assert_int_equal(b.b[5], 0x66);
        assert_false(rc_addr_equal(&a, &b));
}

static void test_addr_reject(void **state) {
        static const char *const bad[] = {
                "",
                "AA:BB:CC:DD:EE",
                "AA:BB:CC:DD:EE:0",
                "AA:BB:CC:DD:EE:011",
                "AA:BB:CC:DD:EE:0G",
                "AA-BB-CC-DD-EE-01",
                "AA:BB:CC:DD:EE-01",
                "AABB:CC:DD:EE:01:",
                " A:BB:CC:DD:EE:01",
                "AA:BB:CC:DD:EE:01 ",
                "+A:BB:CC:DD:EE:01",
        };
        rc_addr a;

        for (size_t i = 0; i < N(bad); i++)
                assert_int_equal(addr_parse(bad[i], &a), -EINVAL);
        /* Too short a length over a valid string. */
        assert_int_equal(rc_addr_parse("AA:BB:CC:DD:EE:01", 16, &a), -EINVAL);
}

static void test_addr_format(void **state) {
        const rc_addr a = {{0x0a, 0xbc, 0x00, 0xff, 0x10, 0x9e}};
        char s[RC_ADDR_STRLEN];
        rc_addr b;

        rc_addr_format(&a, s);
        assert_string_equal(s, "0A:BC:00:FF:10:9E");
        assert_int_equal(addr_parse(s, &b), 0);
        assert_true(rc_addr_equal(&a, &b));
}

static void test_uuid_parse(void **state) {
        const uint8_t expect[16] = {0xca, 0xf7, 0x00, 0x02, 0xe4, 0x6c, 0x49, 0xf3,
                                    0x98, 0xa8, 0x0c, 0x9d, 0x24, 0x80, 0xbb, 0x18};
        /* The SIG base 00000000-0000-1000-8000-00805f9b34fb with 0x2a37 in bytes 2..3. */
        const uint8_t hr[16] = {0x00, 0x00, 0x2a, 0x37, 0x00, 0x00, 0x10, 0x00,
                                0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb};
        rc_uuid u, v;

        assert_int_equal(uuid_parse("caf70002-e46c-49f3-98a8-0c9d2480bb18", &u), 0);
        assert_memory_equal(u.b, expect, 16);
        assert_int_equal(uuid_parse("CAF70002-E46C-49F3-98A8-0C9D2480BB18", &v), 0);
        assert_true(rc_uuid_equal(&u, &v));

        assert_int_equal(uuid_parse("2a37", &u), 0);
        assert_memory_equal(u.b, hr, 16);
        assert_int_equal(uuid_parse("2A37", &v), 0);
        assert_true(rc_uuid_equal(&u, &v));
        assert_int_equal(uuid_parse("00002a37-0000-1000-8000-00805f9b34fb", &v), 0);
        assert_true(rc_uuid_equal(&u, &v));
        v = rc_uuid_from16(0x2a37);
        assert_true(rc_uuid_equal(&u, &v));
}

static void test_uuid_reject(void **state) {
        static const char *const bad[] = {
                "",
                "2a3",
                "2a3g",
                "2a37a",
                "0x2a37",
                "-2a3",
                "caf70002-e46c-49f3-98a8-0c9d2480bb1",
                "caf70002-e46c-49f3-98a8-0c9d2480bb188",
                "caf70002e46c-49f3-98a8-0c9d2480bb18a",
                "caf70002-e46c-49f3-98a80c9d2480bb18a",
                "caf7000-2e46c-49f3-98a8-0c9d2480bb18",
                "caf70002-e46c-49f3-98a8-0c9d2480bb1g",
                "caf70002_e46c_49f3_98a8_0c9d2480bb18",
                "{af70002-e46c-49f3-98a8-0c9d2480bb18",
        };
        rc_uuid u;

        for (size_t i = 0; i < N(bad); i++)
                assert_int_equal(uuid_parse(bad[i], &u), -EINVAL);
}

static void test_uuid_sig16(void **state) {
        rc_uuid u = rc_uuid_from16(0x180d), c;
        uint16_t v = 0;

        assert_int_equal(u.b[2], 0x18);
        assert_int_equal(u.b[3], 0x0d);
        assert_true(rc_uuid_is_sig16(&u, &v));
        assert_int_equal(v, 0x180d);
        assert_true(rc_uuid_is_sig16(&u, NULL));
        u = rc_uuid_from16(0xffff);
        assert_true(rc_uuid_is_sig16(&u, &v));
        assert_int_equal(v, 0xffff);

        assert_int_equal(uuid_parse("caf70002-e46c-49f3-98a8-0c9d2480bb18", &c), 0);
        assert_false(rc_uuid_is_sig16(&c, &v));
        /* A 32-bit SIG UUID (bytes 0..1 set) is not a 16-bit one. */
        assert_int_equal(uuid_parse("00012a37-0000-1000-8000-00805f9b34fb", &c), 0);
        assert_false(rc_uuid_is_sig16(&c, NULL));
        assert_int_equal(uuid_parse("00002a37-0000-1000-8000-00805f9b34fa", &c), 0);
        assert_false(rc_uuid_is_sig16(&c, NULL));
}

static void test_uuid_format(void **state) {
        rc_uuid u;
        char s[RC_UUID_STRLEN];

        assert_int_equal(uuid_parse("CAF70104-E46C-49F3-98A8-0C9D2480BB18", &u), 0);
        rc_uuid_format(&u, s);
        assert_string_equal(s, "caf70104-e46c-49f3-98a8-0c9d2480bb18");
        rc_uuid_format_short(&u, s);
        assert_string_equal(s, "caf70104-e46c-49f3-98a8-0c9d2480bb18");

        u = rc_uuid_from16(0x2A19);
        rc_uuid_format(&u, s);
        assert_string_equal(s, "00002a19-0000-1000-8000-00805f9b34fb");
        rc_uuid_format_short(&u, s);
        assert_string_equal(s, "2a19");
        u = rc_uuid_from16(0x000a);
        rc_uuid_format_short(&u, s);
        assert_string_equal(s, "000a");
}

static void test_hex_decode(void **state) {
        const uint8_t expect[] = {0x00, 0xff, 0x7f, 0xa5, 0x10};
        uint8_t out[8];
        size_t n = 99;

        assert_int_equal(rc_hex_decode("00ff7FA510", 10, out, sizeof(out), &n), 0);
        assert_int_equal(n, 5);
        assert_memory_equal(out, expect, 5);
        assert_int_equal(rc_hex_decode("", 0, out, sizeof(out), &n), 0);
        assert_int_equal(n, 0);
        /* Exactly the capacity. */
        assert_int_equal(rc_hex_decode("0102030405060708", 16, out, 8, &n), 0);
        assert_int_equal(n, 8);
        assert_int_equal(out[7], 0x08);
}

static void test_hex_reject(void **state) {
        uint8_t out[4];
        size_t n = 99;

        assert_int_equal(rc_hex_decode("abc", 3, out, sizeof(out), &n), -EINVAL);
        assert_int_equal(rc_hex_decode("0g", 2, out, sizeof(out), &n), -EINVAL);
        assert_int_equal(rc_hex_decode("g0", 2, out, sizeof(out), &n), -EINVAL);
        assert_int_equal(rc_hex_decode("00 1", 4, out, sizeof(out), &n), -EINVAL);
        assert_int_equal(rc_hex_decode("0x12", 4, out, sizeof(out), &n), -EINVAL);
        assert_int_equal(rc_hex_decode("0001020304", 10, out, 4, &n), -E2BIG);
        assert_int_equal(n, 99);
}

static void test_hex_encode(void **state) {
        const uint8_t in[] = {0x00, 0xff, 0x7f, 0xa5, 0x0b};
        char s[2 * sizeof(in) + 1];

        rc_hex_encode(in, sizeof(in), s);
        assert_string_equal(s, "00ff7fa50b");
        memset(s, 'x', sizeof(s));
        rc_hex_encode(in, 0, s);
        assert_string_equal(s, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr_parse),  cmocka_unit_test(test_addr_reject),
                cmocka_unit_test(test_addr_format), cmocka_unit_test(test_uuid_parse),
                cmocka_unit_test(test_uuid_reject), cmocka_unit_test(test_uuid_sig16),
                cmocka_unit_test(test_uuid_format), cmocka_unit_test(test_hex_decode),
                cmocka_unit_test(test_hex_reject),  cmocka_unit_test(test_hex_encode),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
