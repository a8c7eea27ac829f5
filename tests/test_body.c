/* Body-sensor posture against the orientation table of docs/analysis.md: the
 * test lays out accelerometer and gyro samples for a known trunk orientation
 * (gravity "up" in the sensor frame: x head, y left, z out of the back) and
 * rotations between them, and expects the postures and pitches that table
 * gives. Packets go through the real decoder. */
#include "rc_test.h"

#include "analysis/body.h"
#include "decode/gatt.h"

#define DEG (M_PI / 180.0)
#define MAX_EVENTS 256

static struct rc_event events[MAX_EVENTS];
static unsigned n_events;

static void capture(struct rc_event *ev, void *userdata) {
        (void)userdata;
        if (n_events < MAX_EVENTS)
                events[n_events++] = *ev;
}

/* "up" (unit vector, sensor frame) for each posture, from the docs table */
static void up_supine(double p, double g[3]) {
        g[0] = sin(p * DEG), g[1] = 0, g[2] = -cos(p * DEG);
}
static void up_prone(double p, double g[3]) {
        g[0] = sin(p * DEG), g[1] = 0, g[2] = cos(p * DEG);
}
static void up_side_left(double p, double g[3]) {
        g[0] = sin(p * DEG), g[1] = -cos(p * DEG), g[2] = 0;
}
static void up_side_right(double p, double g[3]) {
        g[0] = sin(p * DEG), g[1] = cos(p * DEG), g[2] = 0;
}

struct sensor {
        double g[3]; /* current "up" */
        double t;
        uint16_t seq;
        uint64_t rng;
        struct rc_body *body;
};

/* Emit `seconds` of samples at 100 Hz (19 a packet) while "up" turns
 * from the current one to `to` at a constant rate (or stays, if equal). */
static void sense(struct sensor *s, const double to[3], double seconds) {
        const double dt = 0.01;
        double axis[3], ang, cosang, rate;
        int steps = (int)llround(seconds / dt), i = 0;

        axis[0] = s->g[1] * to[2] - s->g[2] * to[1];
        axis[1] = s->g[2] * to[0] - s->g[0] * to[2];
        axis[2] = s->g[0] * to[1] - s->g[1] * to[0];
        cosang = s->g[0] * to[0] + s->g[1] * to[1] + s->g[2] * to[2];
        ang = atan2(sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]), cosang);
        if (ang > 1e-9)
                for (int k = 0; k < 3; k++)
                        axis[k] /= sin(ang);
        rate = ang / seconds;

        while (i < steps) {
                uint8_t pkt[11 + 19 * 12];
                unsigned n = steps - i < 19 ? (unsigned)(steps - i) : 19;
                size_t len = rc_test_imu_header(pkt, 0, s->seq++, (uint32_t)llround(s->t * 1e6),
                                                10000, (uint8_t)n);
                struct rc_imu_batch b;
                enum rc_decode_reason why;

                for (unsigned j = 0; j < n; j++, i++) {
                        int16_t a[3], g[3];
                        double th = rate * dt, c = cos(th), sn = sin(th), d, cr[3];

                        /* up rotates by +th about axis in the sensor frame
                         * (Rodrigues), which is the sensor turning by -th */
                        d = axis[0] * s->g[0] + axis[1] * s->g[1] + axis[2] * s->g[2];
                        cr[0] = axis[1] * s->g[2] - axis[2] * s->g[1];
                        cr[1] = axis[2] * s->g[0] - axis[0] * s->g[2];
                        cr[2] = axis[0] * s->g[1] - axis[1] * s->g[0];
                        for (int k = 0; k < 3; k++) {
                                s->g[k] = s->g[k] * c + cr[k] * sn + axis[k] * d * (1 - c);
                                a[k] = rc_test_i16(1000.0 * s->g[k] + 5.0 * rc_test_gauss(&s->rng));
                                /* gyro: dg/dt = -w × g, so w = -rate·axis (0.1 °/s) */
                                g[k] = rc_test_i16(-rate * axis[k] / DEG * 10.0 +
                                                   2.0 * rc_test_gauss(&s->rng));
                        }
                        len += rc_test_imu_sample(pkt + len, a, g, 0, 0);
                        s->t += dt;
                }
                assert_int_equal(rc_decode_imu(pkt, len, true, &b, &why), 0);
                rc_body_feed(s->body, (int64_t)llround((s->t + 0.01) * 1e6), &b);
        }
}

static void start(struct sensor *s, struct rc_body *b, const double up[3]) {
        memset(s, 0, sizeof(*s));
        memcpy(s->g, up, sizeof(s->g));
        s->rng = 7;
        s->body = b;
        n_events = 0;
        rc_body_init(b, capture, NULL);
}

static const struct rc_event *last_posture(void) {
        for (unsigned i = n_events; i-- > 0;)
                if (events[i].type == RC_EV_POSTURE)
                        return &events[i];
        return NULL;
}

static void expect(enum rc_posture p, double pitch) {
        const struct rc_event *ev = last_posture();

        assert_non_null(ev);
        assert_string_equal(rc_posture_name(ev->posture.posture), rc_posture_name(p));
        assert_near(ev->posture.trunk_pitch_deg, pitch, 2.0);
}

static void test_table(void **state) {
        static const struct {
                void (*up)(double, double[3]);
                double pitch;
                enum rc_posture posture;
        } rows[] = {
                {up_supine, 15, RC_POSTURE_SUPINE}, /* on a roller under the mid-back */
                {up_supine, 0, RC_POSTURE_SUPINE},       {up_prone, 10, RC_POSTURE_PRONE},
                {up_side_left, 5, RC_POSTURE_SIDE_LEFT}, {up_side_right, 0, RC_POSTURE_SIDE_RIGHT},
                {up_supine, 45, RC_POSTURE_SEATED}, /* leaning back on the hands */
                {up_supine, 85, RC_POSTURE_STANDING},
        };
        struct rc_body b;
        struct sensor s;

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                double up[3];

                rows[i].up(rows[i].pitch, up);
                start(&s, &b, up);
                sense(&s, up, 3.0);
                expect(rows[i].posture, rows[i].pitch);
                /* one event: the posture settled once */
                assert_int_equal(n_events, 1);
                /* after 1 s of settling plus at most a block and a packet */
                assert_in_range(events[0].t_ms, 900, 1400);
        }
}

static void test_transitions(void **state) {
        struct rc_body b;
        struct sensor s;
        double supine[3], side[3], seated[3];

        (void)state;
        up_supine(10, supine);
        up_side_left(10, side);
        up_supine(45, seated);
        start(&s, &b, supine);
        sense(&s, supine, 5.0);
        expect(RC_POSTURE_SUPINE, 10);
        /* roll onto the left side over 1.5 s: the gyro carries the turn */
        sense(&s, side, 1.5);
        sense(&s, side, 4.0);
        expect(RC_POSTURE_SIDE_LEFT, 10);
        {
                const struct rc_event *ev = last_posture();
                /* the turn ended at 6.5 s; the filter and 1 s of settling follow */
                assert_in_range(ev->t_ms, 6500, 9500);
        }
        sense(&s, supine, 1.5);
        sense(&s, seated, 1.5);
        sense(&s, seated, 4.0);
        expect(RC_POSTURE_SEATED, 45);
}

static void test_hysteresis(void **state) {
        struct rc_body b;
        struct sensor s;
        double up[3];
        unsigned before;

        (void)state;
        up_supine(20, up);
        start(&s, &b, up);
        sense(&s, up, 4.0);
        expect(RC_POSTURE_SUPINE, 20);
        before = n_events;
        /* rocking between 27° and 33°, across the 30° boundary: no flapping */
        for (int k = 0; k < 6; k++) {
                up_supine(27, up);
                sense(&s, up, 2.0);
                up_supine(33, up);
                sense(&s, up, 2.0);
        }
        assert_int_equal(n_events, before);
        /* sitting up clearly (45°) is seen */
        up_supine(45, up);
        sense(&s, up, 1.0);
        sense(&s, up, 4.0);
        expect(RC_POSTURE_SEATED, 45);
}

static void test_brief_jolt(void **state) {
        struct rc_body b;
        struct sensor s;
        double up[3], tilted[3];

        (void)state;
        up_prone(10, up);
        up_side_right(10, tilted);
        start(&s, &b, up);
        sense(&s, up, 4.0);
        /* a quick 0.3 s tilt and back is not a new posture */
        sense(&s, tilted, 0.15);
        sense(&s, up, 0.15);
        sense(&s, up, 4.0);
        assert_int_equal(n_events, 1);
        expect(RC_POSTURE_PRONE, 10);
}

static void test_thigh_placement(void **state) {
        struct rc_body b;
        struct sensor s;
        double up[3];

        (void)state;
        up_supine(0, up);
        start(&s, &b, up);
        rc_body_set_placement(&b, RC_PLACEMENT_LEFT_THIGH);
        sense(&s, up, 4.0);
        /* a thigh does not show the trunk */
        assert_int_equal(n_events, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),           cmocka_unit_test(test_transitions),
                cmocka_unit_test(test_hysteresis),      cmocka_unit_test(test_brief_jolt),
                cmocka_unit_test(test_thigh_placement),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
