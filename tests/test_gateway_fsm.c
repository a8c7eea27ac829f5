/* Tests of the gateway's pure parts, alone (core/gateway/gateway_internal.h): the
 * backoff schedule, how a failed Connect is sorted, what a Device1 update means
 * for a device (docs/gateway.md, "Per device"), and the D-Bus readers against
 * messages of the wrong shape. The gateway against a BlueZ is tests/test_gateway.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/gateway_internal.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* docs/gateway.md: "0.5 s doubling to 30 s, ±25 % jitter" (the defaults). */
#define MIN_MS 500u
#define MAX_MS 30000u

static uint64_t nominal(unsigned attempts) {
        uint64_t ms = MIN_MS;

        for (unsigned i = 1; i < attempts && ms < MAX_MS; i++)
                ms *= 2;
        return ms < MAX_MS ? ms : MAX_MS;
}

static void test_backoff_doubles_to_the_cap(void **state) {
        /* 0.5, 1, 2, 4, 8, 16, then 30 s from the 7th attempt on, whatever the count */
        static const uint64_t expect[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
        const unsigned long_run[] = {50, 1000, 4000000000u};
        uint64_t rng = 1;

        (void)state;
        for (unsigned a = 1; a <= N(expect); a++) {
                uint64_t base = expect[a - 1];

                assert_int_equal(nominal(a), base);
                for (unsigned k = 0; k < 200; k++) {
                        uint64_t ms = gw_backoff_ms(MIN_MS, MAX_MS, a, &rng);

                        assert_in_range(ms, base * 75 / 100, base * 125 / 100);
                }
        }
        for (unsigned i = 0; i < N(long_run); i++)
                assert_in_range(gw_backoff_ms(MIN_MS, MAX_MS, long_run[i], &rng), MAX_MS * 75 / 100,
                                MAX_MS * 125 / 100);
        /* before any failure (attempts 0) the first step */
        assert_in_range(gw_backoff_ms(MIN_MS, MAX_MS, 0, &rng), MIN_MS * 75 / 100,
                        MIN_MS * 125 / 100);
}

/* The jitter spreads over the whole ±25 %, centred: devices that failed together
 * do not retry together. */
static void test_backoff_jitter_spreads(void **state) {
        const unsigned draws = 4000;
        uint64_t rng = 0x9e3779b97f4a7c15ull, lo = UINT64_MAX, hi = 0, sum = 0;

        (void)state;
        for (unsigned k = 0; k < draws; k++) {
                uint64_t ms = gw_backoff_ms(MIN_MS, MAX_MS, 4, &rng); /* nominal 4 s */

                lo = ms < lo ? ms : lo;
                hi = ms > hi ? ms : hi;
                sum += ms;
        }
        assert_in_range(lo, 3000, 3100);
        assert_in_range(hi, 4900, 5000);
        assert_in_range(sum / draws, 3880, 4120); /* the mean: 4 s within 3 % */
        /* the state advances: two devices drawing in turn get different waits */
        {
                uint64_t a = gw_backoff_ms(MIN_MS, MAX_MS, 4, &rng), same = 0;

                for (unsigned k = 0; k < 100; k++)
                        same += gw_backoff_ms(MIN_MS, MAX_MS, 4, &rng) == a;
                assert_true(same < 20);
        }
}

/* docs/gateway.md, 5: InProgress waits; UnknownObject waits for the device to be
 * discovered again (as do BlueZ's other "no such object" answers); le-connection-*
 * and any other failure are retried with backoff. */
static void test_connect_errors(void **state) {
        static const struct {
                const char *name;
                enum gw_connect_error kind;
        } cases[] = {
                {"org.bluez.Error.InProgress", GW_CONNECT_IN_PROGRESS},
                {"org.freedesktop.DBus.Error.UnknownObject", GW_CONNECT_GONE},
                {"org.freedesktop.DBus.Error.UnknownMethod", GW_CONNECT_GONE},
                {"org.bluez.Error.DoesNotExist", GW_CONNECT_GONE},
                {"org.bluez.Error.Failed", GW_CONNECT_RETRY}, /* le-connection-abort-by-local */
                {"org.freedesktop.DBus.Error.NoReply", GW_CONNECT_RETRY},
                {"org.rollcoach.Error.Timeout", GW_CONNECT_RETRY},
                {"org.bluez.Error.InProgressX", GW_CONNECT_RETRY}, /* names match whole */
                {"org.bluez.Error", GW_CONNECT_RETRY},
                {"", GW_CONNECT_RETRY},
                {NULL, GW_CONNECT_RETRY},
        };

        (void)state;
        for (unsigned i = 0; i < N(cases); i++)
                if (gw_connect_error_kind(cases[i].name) != cases[i].kind)
                        fail_msg("%s: %d, expected %d", cases[i].name ? cases[i].name : "(null)",
                                 gw_connect_error_kind(cases[i].name), cases[i].kind);
}

/* docs/gateway.md, 4 and 7: Connect, then wait for ServicesResolved racing
 * Connected=false; a device in use whose link drops is a disconnection. */
static void test_device_changes(void **state) {
        static const struct {
                enum gw_dev_state s;
                bool connected, resolved, connected_changed;
                enum gw_change expect;
        } cases[] = {
                /* in use (the session knows it): a dropped link is lost, whatever else */
                {DEV_SETUP, false, false, true, GW_CHANGE_LOST},
                {DEV_STREAMING, false, false, true, GW_CHANGE_LOST},
                {DEV_STREAMING, false, true, false, GW_CHANGE_LOST},
                {DEV_STREAMING, true, true, false, GW_CHANGE_CONSIDER},
                {DEV_STREAMING, true, false, false, GW_CHANGE_CONSIDER},
                /* waiting for ServicesResolved */
                {DEV_RESOLVING, true, true, false, GW_CHANGE_RESOLVED},
                {DEV_RESOLVING, true, true, true, GW_CHANGE_RESOLVED},
                {DEV_RESOLVING, true, false, true, GW_CHANGE_CONSIDER}, /* linked; still waiting */
                {DEV_RESOLVING, false, false, true, GW_CHANGE_DROPPED},
                /* Connect replied before BlueZ said Connected=true: not a drop */
                {DEV_RESOLVING, false, false, false, GW_CHANGE_CONSIDER},
                /* not connecting: only whether the user wants it */
                {DEV_IDLE, false, false, false, GW_CHANGE_CONSIDER},
                {DEV_IDLE, true, true, true, GW_CHANGE_CONSIDER},
                {DEV_IDLE, false, false, true, GW_CHANGE_CONSIDER},
                {DEV_WAIT, false, false, true, GW_CHANGE_CONSIDER},
                /* Connect sent: its reply decides */
                {DEV_CONNECTING, true, true, true, GW_CHANGE_CONSIDER},
                {DEV_CONNECTING, false, false, true, GW_CHANGE_CONSIDER},
        };

        (void)state;
        for (unsigned i = 0; i < N(cases); i++) {
                enum gw_change got = gw_change_of(cases[i].s, cases[i].connected, cases[i].resolved,
                                                  cases[i].connected_changed);

                if (got != cases[i].expect)
                        fail_msg("case %u: %d, expected %d", i, got, cases[i].expect);
        }
}

/* ---- the D-Bus readers -------------------------------------------------------------- */

/* Messages are built on a bus that never talks to anyone (one end of a socket
 * pair), sealed, and read back from the start as a received one would be. */
struct fixture {
        sd_bus *bus;
        int peer;
        struct rc_gateway *g;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        int sv[2];

        assert_non_null(f);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(sd_bus_new(&f->bus), 0);
        assert_int_equal(sd_bus_set_fd(f->bus, sv[0], sv[0]), 0);
        assert_int_equal(sd_bus_start(f->bus), 0);
        f->peer = sv[1];
        f->g = calloc(1, sizeof(*f->g));
        assert_non_null(f->g);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        sd_bus_flush_close_unref(f->bus);
        close(f->peer);
        free(f->g);
        free(f);
        return 0;
}

static sd_bus_message *new_message(struct fixture *f) {
        sd_bus_message *m = NULL;

        assert_int_equal(sd_bus_message_new_signal(f->bus, &m, "/t", "org.rollcoach.Test", "T"), 0);
        return m;
}

static sd_bus_message *sealed(sd_bus_message *m) {
        static uint64_t cookie = 1;

        assert_int_equal(sd_bus_message_seal(m, cookie++, 0), 0);
        assert_true(sd_bus_message_rewind(m, 1) >= 0);
        return m;
}

/* After a value of the wrong type, the reader has skipped it: the next one reads. */
static void assert_next_string(sd_bus_message *m, const char *expect) {
        const char *s = NULL;

        assert_int_equal(sd_bus_message_read(m, "s", &s), 1);
        assert_string_equal(s, expect);
}

static void test_variant_wrong_types(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_message(f);
        const char *s = NULL;
        const void *v = NULL;
        size_t n = 0;
        bool b = false;

        assert_true(sd_bus_message_append(m, "vs", "s", "yes", "after-bool") >= 0);
        assert_true(sd_bus_message_append(m, "vs", "b", 1, "after-string") >= 0);
        assert_true(sd_bus_message_append(m, "vs", "as", 1, "x", "after-bytes") >= 0);
        assert_true(sd_bus_message_append(m, "vs", "u", 7, "after-strings") >= 0);
        sealed(m);
        assert_int_equal(gw_variant_bool(f->g, m, "T.bool", &b), 0);
        assert_false(b);
        assert_next_string(m, "after-bool");
        assert_int_equal(gw_variant_string(f->g, m, "T.string", &s), 0);
        assert_null(s);
        assert_next_string(m, "after-string");
        assert_int_equal(gw_variant_bytes(f->g, m, "T.bytes", &v, &n), 0);
        assert_null(v);
        assert_next_string(m, "after-bytes");
        assert_int_equal(gw_variant_strings(f->g, m, "T.strings", NULL, NULL), 0);
        assert_next_string(m, "after-strings");
        assert_int_equal(f->g->st.malformed, 4);
        sd_bus_message_unref(m);
}

static void test_variant_right_types(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_message(f);
        const char *s = NULL;
        bool b = false;

        assert_true(sd_bus_message_append(m, "vvs", "b", 1, "s", "name", "end") >= 0);
        sealed(m);
        assert_int_equal(gw_variant_bool(f->g, m, "T.bool", &b), 1);
        assert_true(b);
        assert_int_equal(gw_variant_string(f->g, m, "T.string", &s), 1);
        assert_string_equal(s, "name");
        assert_next_string(m, "end");
        assert_int_equal(f->g->st.malformed, 0);
        sd_bus_message_unref(m);
}

static void count_string(void *ctx, const char *s) {
        (void)s;
        (*(unsigned *)ctx)++;
}

/* Huge arrays are read whole (the readers hold no fixed-size copy). */
static void test_variant_huge_arrays(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_message(f);
        const size_t big = 1u << 20;
        const unsigned strings = 20000;
        uint8_t *bytes = malloc(big);
        const void *v = NULL;
        unsigned seen = 0;
        size_t n = 0;

        assert_non_null(bytes);
        for (size_t i = 0; i < big; i++)
                bytes[i] = (uint8_t)(i * 7);
        assert_true(sd_bus_message_open_container(m, 'v', "ay") >= 0);
        assert_true(sd_bus_message_append_array(m, 'y', bytes, big) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_open_container(m, 'v', "as") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "s") >= 0);
        for (unsigned i = 0; i < strings; i++)
                assert_true(sd_bus_message_append(m, "s", "0000180f-0000-1000-8000-00805f9b34fb") >=
                            0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_append(m, "s", "end") >= 0);
        sealed(m);
        assert_int_equal(gw_variant_bytes(f->g, m, "T.bytes", &v, &n), 1);
        assert_int_equal(n, big);
        assert_memory_equal(v, bytes, big);
        assert_int_equal(gw_variant_strings(f->g, m, "T.strings", count_string, &seen), 0);
        assert_int_equal(seen, strings);
        assert_next_string(m, "end");
        assert_int_equal(f->g->st.malformed, 0);
        free(bytes);
        sd_bus_message_unref(m);
}

/* A dictionary visitor that reads string values and skips the rest, counting keys. */
struct keys {
        unsigned n;
        char last[32];
};

static int visit(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct keys *k = ctx;
        const char *s;
        int r = gw_variant_string(g, m, key, &s);

        k->n++;
        snprintf(k->last, sizeof(k->last), "%s", key);
        return r < 0 ? r : 0;
}

static void test_each_entry(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_message(f);
        struct keys k = {0};

        assert_true(sd_bus_message_append(m, "a{sv}", 3, "Alias", "s", "Roller", "RSSI", "n", -60,
                                          "Name", "s", "R") >= 0);
        assert_true(sd_bus_message_append(m, "s", "end") >= 0);
        sealed(m);
        assert_int_equal(gw_each_entry(f->g, m, "sv", visit, &k), 1);
        assert_int_equal(k.n, 3);
        assert_string_equal(k.last, "Name");
        assert_int_equal(f->g->st.malformed, 1); /* RSSI is not a string */
        assert_next_string(m, "end");
        sd_bus_message_unref(m);
}

/* A dictionary of another shape than expected is an error, not a crash, and no
 * entry of it is visited. */
static void test_each_entry_wrong_shape(void **state) {
        static const struct { const char *sig; } shapes[] = {{"a{ss}"}, {"a{iv}"}, {"as"}, {"s"}};
        struct fixture *f = *state;

        for (unsigned i = 0; i < N(shapes); i++) {
                sd_bus_message *m = new_message(f);
                struct keys k = {0};
                int r;

                if (strcmp(shapes[i].sig, "a{ss}") == 0)
                        r = sd_bus_message_append(m, "a{ss}", 1, "Alias", "R");
                else if (strcmp(shapes[i].sig, "a{iv}") == 0)
                        r = sd_bus_message_append(m, "a{iv}", 1, 5, "s", "R");
                else if (strcmp(shapes[i].sig, "as") == 0)
                        r = sd_bus_message_append(m, "as", 1, "Alias");
                else
                        r = sd_bus_message_append(m, "s", "Alias");
                assert_true(r >= 0);
                sealed(m);
                r = gw_each_entry(f->g, m, "sv", visit, &k);
                if (r >= 0)
                        fail_msg("%s read as a{sv}: %d", shapes[i].sig, r);
                assert_int_equal(k.n, 0);
                sd_bus_message_unref(m);
        }
}

/* Nothing after the end of a message: a missing value is an error. */
static void test_missing_values(void **state) {
        struct fixture *f = *state;
        sd_bus_message *m = new_message(f);
        struct keys k = {0};
        const char *s = NULL;
        bool b;

        sealed(m);
        assert_true(gw_variant_bool(f->g, m, "T.bool", &b) <= 0);
        assert_true(gw_variant_string(f->g, m, "T.string", &s) <= 0);
        assert_null(s);
        assert_true(gw_each_entry(f->g, m, "sv", visit, &k) <= 0);
        assert_int_equal(k.n, 0);
        sd_bus_message_unref(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff_doubles_to_the_cap),
                cmocka_unit_test(test_backoff_jitter_spreads),
                cmocka_unit_test(test_connect_errors),
                cmocka_unit_test(test_device_changes),
                cmocka_unit_test_setup_teardown(test_variant_wrong_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_variant_right_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_variant_huge_arrays, setup, teardown),
                cmocka_unit_test_setup_teardown(test_each_entry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_each_entry_wrong_shape, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_values, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
