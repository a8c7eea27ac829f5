/* Roller analysis against physics worked out here (spec/roller-gatt.md,
 * docs/analysis.md): a test "world" rolls a roller with a known contact-line
 * speed v(t) and force, lays the IMU packets out by hand, and the expected
 * speed, travel, holds and jerk follow from v(t). The packets go through the
 * real decoder, as they would from the radio. */
#include "rc_test.h"

#include "analysis/roller.h"
#include "decode/gatt.h"

#define MAX_EVENTS 20000

static struct rc_event events[MAX_EVENTS];
static unsigned n_events;

static void capture(struct rc_event *ev, void *userdata) {
        (void)userdata;
        if (n_events < MAX_EVENTS)
                events[n_events++] = *ev;
}

struct world {
        double (*speed)(double t); /* contact-line speed, cm/s */
        double (*force)(double t); /* N; NULL: no load cell */
        double diameter_mm;
        int axis; /* long axis 0..2 */
        double bias_dps, noise_dps;
        uint32_t clock0; /* device clock at t = 0 */
        uint16_t seq0;
        double latency_s;
        unsigned drop_every; /* drop every Nth packet; 0: none */
        bool link_down;      /* nothing reaches the hub (the world goes on) */
        unsigned samples_per_packet;
        uint64_t rng;
        /* state */
        double theta, t;
        uint16_t seq;
        unsigned packet_no;
        uint64_t dropped_samples;
};

static void world_init(struct world *w) {
        memset(w, 0, sizeof(*w));
        w->diameter_mm = 127;
        w->latency_s = 0.010;
        w->samples_per_packet = 16;
        w->rng = 42;
}

/* Roll the world until t_end (s), 200 Hz, feeding the roller. */
static void world_run(struct world *w, struct rc_roller *r, double t_end) {
        const double dt = 0.005, radius_cm = w->diameter_mm / 20.0;
        int with_force = w->force != NULL;

        while (w->t + 1e-9 < t_end) {
                uint8_t pkt[11 + 19 * 14];
                unsigned n = w->samples_per_packet;
                size_t len = rc_test_imu_header(pkt, with_force, w->seq,
                                                w->clock0 + (uint32_t)llround(w->t * 1e6), 5000,
                                                (uint8_t)n);
                double t_last = 0;

                for (unsigned i = 0; i < n; i++) {
                        double t = w->t + i * dt;
                        double omega = w->speed(t) / radius_cm; /* rad/s */
                        double gyro = omega * 180.0 / M_PI * 10.0 + w->bias_dps * 10.0 +
                                      w->noise_dps * 10.0 * rc_test_gauss(&w->rng);
                        int16_t a[3] = {0}, g[3] = {0};
                        int u = (w->axis + 1) % 3, v = (w->axis + 2) % 3;
                        double f = with_force ? w->force(t) : 0;

                        g[w->axis] = rc_test_i16(gyro);
                        a[u] = rc_test_i16(1000.0 * sin(w->theta));
                        a[v] = rc_test_i16(1000.0 * cos(w->theta));
                        len += rc_test_imu_sample(pkt + len, a, g, with_force,
                                                  (uint16_t)llround(f * 10.0));
                        w->theta += omega * dt;
                        t_last = t;
                }
                w->t += n * dt;
                w->packet_no++;
                if (w->link_down) {
                        /* the roller keeps turning; nothing is sent */
                } else if (w->drop_every && w->packet_no % w->drop_every == 0) {
                        w->dropped_samples += n;
                } else {
                        struct rc_imu_batch b;
                        enum rc_decode_reason why;

                        assert_int_equal(rc_decode_imu(pkt, len, false, &b, &why), 0);
                        rc_roller_feed(r, (int64_t)llround((t_last + w->latency_s) * 1e6), &b);
                }
                w->seq++;
        }
}

/* The first event of `type` at or after t_ms; NULL if none. */
static const struct rc_event *find(enum rc_event_type type, int64_t t_ms) {
        for (unsigned i = 0; i < n_events; i++)
                if (events[i].type == type && events[i].t_ms >= t_ms)
                        return &events[i];
        return NULL;
}

static unsigned count(enum rc_event_type type) {
        unsigned c = 0;

        for (unsigned i = 0; i < n_events; i++)
                c += events[i].type == type;
        return c;
}

/* The last motion event at or before t_ms. */
static const struct rc_event *motion_at(int64_t t_ms) {
        const struct rc_event *m = NULL;

        for (unsigned i = 0; i < n_events; i++)
                if (events[i].type == RC_EV_MOTION && events[i].t_ms <= t_ms)
                        m = &events[i];
        assert_non_null(m);
        return m;
}

static void start(struct rc_roller *r) {
        n_events = 0;
        rc_roller_init(r, capture, NULL);
}

/* ---- speed: v = ω·r (the spec's own example: 1 inch/s on a 127 mm roller) ---- */

static double inch_per_s(double t) {
        (void)t;
        return 2.54;
}

static void test_speed_one_inch(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = inch_per_s;
        start(&r);
        world_run(&w, &r, 5.0);
        /* ω = v / r = 2.54 / 6.35 = 0.40 rad/s = 22.9 °/s (spec) */
        assert_rel(motion_at(5000)->motion.speed_cm_s, 2.54, 0.02);
}

static double fast_negative(double t) {
        (void)t;
        return -12.0;
}

static void test_speed_other_roller(void **state) {
        struct rc_roller r;
        struct world w;
        /* a 150 mm roller whose long axis is the IMU's z; Roller Info says so */
        struct rc_roller_info info = {.diameter_mm = 150, .length_mm = 600, .long_axis = 2};

        (void)state;
        world_init(&w);
        w.speed = fast_negative;
        w.diameter_mm = 150;
        w.axis = 2;
        start(&r);
        rc_roller_set_info(&r, &info);
        world_run(&w, &r, 4.0);
        /* before any track the sign is provisional: + is the way it first moved */
        assert_rel(motion_at(4000)->motion.speed_cm_s, 12.0, 0.02);
        /* travel: 12 cm/s for 4 s */
        assert_rel(motion_at(4000)->motion.travel_cm, 48.0, 0.03);
}

/* ---- travel ---- */

static double out_and_back(double t) {
        if (t < 10.0)
                return 2.54; /* 25.4 cm out */
        if (t < 11.0)
                return 0.0;
        if (t < 14.0)
                return -5.0; /* 15 cm back */
        return 0.0;
}

static void test_travel(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = out_and_back;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 16.0);
        /* the block ending at 10.9 s is reported by the packet after it */
        assert_rel(motion_at(10950)->motion.travel_cm, 25.4, 0.03);
        assert_rel(motion_at(13500)->motion.speed_cm_s, -5.0, 0.02);
        assert_rel(motion_at(15950)->motion.travel_cm, 10.4, 0.03);
}

/* ---- holds ---- */

/* breathing rocks the loaded roller by 1 mm at 0.25 Hz: v = A·2πf·cos(2πft) */
static double breathing(double t) {
        return 0.1 * 2 * M_PI * 0.25 * cos(2 * M_PI * 0.25 * t);
}

static double hold_speed(double t) {
        if (t < 3.0)
                return 0.0; /* resting on the floor, unloaded */
        if (t < 8.0)
                return 2.54;
        if (t < 38.0)
                return breathing(t); /* a 30 s hold on a tender spot */
        return 2.54;
}

static double hold_force(double t) {
        return t < 3.0 ? 0.0 : 300.0;
}

/* One hold from start_s to end_s (s) with this mean force (NaN: no load cell),
 * reached after travel_cm within travel_tol_cm. */
static void check_hold(double start_s, double end_s, double force_n, double travel_cm,
                       double travel_tol_cm) {
        const struct rc_event *hs = find(RC_EV_HOLD_START, 0), *he = find(RC_EV_HOLD_END, 0);

        assert_non_null(hs);
        assert_non_null(he);
        assert_int_equal(count(RC_EV_HOLD_START), 1);
        assert_int_equal(count(RC_EV_HOLD_END), 1);
        /* rest began at start_s; the hold is confirmed 2 s later (plus at most one
         * block and one packet of latency) */
        assert_near(hs->hold_start.since_ms / 1000.0, start_s, 0.2);
        assert_true(hs->t_ms / 1000.0 >= start_s + 2.0 - 0.2);
        assert_true(hs->t_ms / 1000.0 <= start_s + 2.0 + 0.2);
        assert_near(he->t_ms / 1000.0, end_s, 0.2);
        assert_near(he->hold_end.duration_s, end_s - start_s, 0.2);
        if (isnan(force_n)) {
                assert_true(isnan(he->hold_end.mean_force_n));
                assert_true(isnan(hs->hold_start.force_n));
        } else {
                assert_rel(he->hold_end.mean_force_n, force_n, 0.01);
        }
        assert_near(hs->hold_start.travel_cm, travel_cm, travel_tol_cm);
}

/* the hold scenarios roll 5 s at 2.54 cm/s first: 12.7 cm, within 3 % */
#define HOLD_TRAVEL 12.7, 12.7 * 0.03

static void test_hold_load_cell(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = hold_speed;
        w.force = hold_force;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 45.0);
        check_hold(8.0, 38.0, 300.0, HOLD_TRAVEL);
        /* unloaded and still at first: no motion events before the load */
        assert_true(find(RC_EV_MOTION, 0)->t_ms >= 3000);
}

static void test_hold_imu_only(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = hold_speed;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 45.0);
        check_hold(8.0, 38.0, NAN, HOLD_TRAVEL);
        assert_true(isnan(motion_at(20000)->motion.force_n));
}

static double ramped_hold_speed(double t) {
        /* slows from 2.54 to 0 over 7.7..8.0 s, speeds up again over 38.0..38.3 s */
        if (t >= 7.7 && t < 8.0)
                return 2.54 * (8.0 - t) / 0.3;
        if (t >= 38.0 && t < 38.3)
                return 2.54 * (t - 38.0) / 0.3;
        return hold_speed(t);
}

static void test_hold_ramped(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = ramped_hold_speed;
        w.force = hold_force;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 45.0);
        /* |v| < 0.5 cm/s from 8.0 − 0.3·0.5/2.54 = 7.94 s to 38.0 + 0.059 s */
        const struct rc_event *hs = find(RC_EV_HOLD_START, 0), *he = find(RC_EV_HOLD_END, 0);
        assert_non_null(hs);
        assert_non_null(he);
        assert_near(hs->hold_start.since_ms / 1000.0, 7.94, 0.2);
        assert_near(he->hold_end.duration_s, 38.06 - 7.94, 0.2);
}

/* ---- gyro bias ---- */

static double rest_then_hold(double t) {
        if (t < 5.0)
                return 0.0; /* on the floor: the bias shows alone */
        if (t < 15.0)
                return 2.54;
        return breathing(t); /* 30 s hold */
}

static double load_after_5(double t) {
        return t < 5.0 ? 0.0 : 250.0;
}

static void test_gyro_bias(void **state) {
        struct rc_roller r;
        struct world w;
        double travel_at_hold;

        (void)state;
        world_init(&w);
        w.speed = rest_then_hold;
        w.force = load_after_5;
        w.bias_dps = 1.5; /* uncorrected: 1.5 °/s · 6.35 cm = 0.166 cm/s of phantom rolling */
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 15.0);
        assert_true(r.bias_known);
        assert_near(r.bias_lsb, 15.0, 0.5);
        assert_rel(motion_at(15010)->motion.speed_cm_s, 2.54, 0.02);
        /* at most the first 2 s ran uncorrected: 0.33 cm */
        assert_rel(motion_at(15010)->motion.travel_cm, 25.4, 0.03);
        world_run(&w, &r, 45.0);
        /* a 30 s hold must not drift (it would by 5 cm with the bias left in) */
        travel_at_hold = find(RC_EV_HOLD_START, 0)->hold_start.travel_cm;
        assert_near(motion_at(45000)->motion.travel_cm, travel_at_hold, 0.3);
        /* nor show phantom speed: the breathing averages out over 7.5 cycles,
         * an uncorrected bias would leave 0.166 cm/s */
        {
                double sum = 0;
                unsigned n = 0;

                for (unsigned i = 0; i < n_events; i++)
                        if (events[i].type == RC_EV_MOTION && events[i].t_ms >= 17000) {
                                sum += events[i].motion.speed_cm_s;
                                n++;
                        }
                assert_true(n > 250);
                assert_near(sum / n, 0.0, 0.03);
        }
}

/* Loaded from the first packet, rolling at 1 inch/s with a 2 °/s bias it never
 * sees alone: gravity's angle gives the rotation, so the bias is learned under
 * load. Uncorrected it would read 2.54 + 0.2·6.35·π/18 = 2.76 cm/s (8.7 % fast)
 * and 76.2 cm of travel as 82.9 cm after 30 s. */
static double always_inch(double t) {
        (void)t;
        return 2.54;
}

static double always_loaded(double t) {
        (void)t;
        return 300.0;
}

static void test_bias_under_load(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        for (int sign = -1; sign <= 1; sign += 2) {
                world_init(&w);
                w.speed = always_inch;
                w.force = always_loaded;
                w.bias_dps = 2.0 * sign;
                w.noise_dps = 0.3;
                start(&r);
                world_run(&w, &r, 30.0);
                /* speed within 3 % once the bias is learned (a few seconds) */
                for (int64_t t = 10000; t <= 29900; t += 1000)
                        assert_rel(motion_at(t)->motion.speed_cm_s, 2.54, 0.03);
                /* travel within 2 % over the whole 30 s */
                assert_rel(motion_at(30000)->motion.travel_cm, 2.54 * 30, 0.02);
                assert_near(r.bias_lsb, 20.0 * sign, 2.0);
        }
}

/* ---- a hold seen only as far as the data shows it ---- */

/* Someone already lies still on the roller when the hub starts (or the link
 * comes back): the hold starts where the data starts, is confirmed 2 s of data
 * later, and lasts no longer than the data. The device clock reads 3000 s. */
static void test_hold_from_first_packet(void **state) {
        struct rc_roller r;
        struct world w;
        const struct rc_event *hs, *he;

        (void)state;
        world_init(&w);
        w.speed = breathing;
        w.force = always_loaded;
        w.bias_dps = 0.7;
        w.noise_dps = 0.3;
        w.clock0 = 3000000000u;
        start(&r);
        world_run(&w, &r, 30.0);
        rc_roller_disconnect(&r, 30100000);
        hs = find(RC_EV_HOLD_START, 0);
        he = find(RC_EV_HOLD_END, 0);
        assert_non_null(hs);
        assert_non_null(he);
        assert_int_equal(count(RC_EV_HOLD_START), 1);
        /* the first sample is at 0 s (received 10 ms later) */
        assert_in_range(hs->hold_start.since_ms, 0, 200);
        /* (its last sample, at 1.995 s, stands for the data up to 2.0 s) */
        assert_true(hs->t_ms >= hs->hold_start.since_ms + 2000 - 10);
        /* the data ends at 30 s: the hold lasted 30 s at most */
        assert_near(he->hold_end.duration_s, 30.0 - hs->hold_start.since_ms / 1000.0, 0.2);
        assert_true(he->hold_end.duration_s <= 30.0);
}

/* The link drops in the middle of a hold and comes back 5 s later: the hold ends
 * with the last data, and a new one starts only 2 s after the data resumes. */
static void test_hold_across_reconnect(void **state) {
        struct rc_roller r;
        struct world w;
        const struct rc_event *h2;

        (void)state;
        world_init(&w);
        w.speed = hold_speed;
        w.force = hold_force;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 20.0);
        rc_roller_disconnect(&r, 20020000);
        w.link_down = true;
        world_run(&w, &r, 25.0);
        w.link_down = false;
        world_run(&w, &r, 35.0);
        assert_int_equal(count(RC_EV_HOLD_START), 2);
        assert_int_equal(count(RC_EV_HOLD_END), 1);
        assert_near(find(RC_EV_HOLD_END, 0)->hold_end.duration_s, 20.0 - 8.0, 0.2);
        h2 = find(RC_EV_HOLD_START, 20100);
        assert_non_null(h2);
        assert_in_range(h2->hold_start.since_ms, 25000, 25200);
        assert_true(h2->t_ms >= 27000);
}

/* ---- a device clock that jumps back: no signed overflow, the hold still ends ---- */

/* One stray packet at device time 100 µs, then the stream at 2^32 − 60 s: a step
 * back of 60 s, so the whole session lies at negative device times. The hold
 * must end on disconnect (a long silence), with no overflow (UBSan). */
static void test_clock_jump_back(void **state) {
        struct rc_roller r;
        struct world w;
        uint8_t pkt[11 + 16 * 14];
        struct rc_imu_batch b;
        enum rc_decode_reason why;
        int16_t a[3] = {0, 0, 1000}, g[3] = {0, 0, 0};
        size_t len = rc_test_imu_header(pkt, 1, 65535, 100, 5000, 16);

        (void)state;
        for (int i = 0; i < 16; i++)
                len += rc_test_imu_sample(pkt + len, a, g, 1, 0);
        assert_int_equal(rc_decode_imu(pkt, len, false, &b, &why), 0);
        start(&r);
        rc_roller_feed(&r, 1000, &b);
        world_init(&w);
        w.speed = hold_speed;
        w.force = hold_force;
        w.clock0 = (uint32_t)(UINT32_MAX - 60000000u + 1);
        world_run(&w, &r, 30.0);
        assert_true(r.link.last_data_end_dev < 0);
        assert_int_equal(count(RC_EV_HOLD_START), 1);
        rc_roller_disconnect(&r, 30100000);
        assert_int_equal(count(RC_EV_HOLD_END), 1);
        assert_near(find(RC_EV_HOLD_END, 0)->hold_end.duration_s, 30.0 - 8.0, 0.2);
}

/* ---- device clock wrap and sequence numbers ---- */

static void test_clock_wrap(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = hold_speed;
        w.force = hold_force;
        w.clock0 = UINT32_MAX - 20000000u; /* wraps at t = 20 s, inside the hold */
        w.seq0 = w.seq = 65500;            /* and seq wraps too */
        start(&r);
        world_run(&w, &r, 45.0);
        check_hold(8.0, 38.0, 300.0, HOLD_TRAVEL);
        assert_int_equal(r.link.lost, 0);
        assert_int_equal(count(RC_EV_PACKET_LOSS), 0);
        /* motion events keep coming at 10 Hz across the wrap: 42 s loaded */
        assert_in_range(count(RC_EV_MOTION), 415, 425);
}

/* ---- lost packets: bridged by gravity's angle, holds unchanged ---- */

static void test_lost_packets(void **state) {
        struct rc_roller r;
        struct world w;
        double lost_cm;
        const struct rc_event *loss;

        (void)state;
        world_init(&w);
        w.speed = hold_speed;
        w.force = hold_force;
        w.drop_every = 10; /* 10 % of the packets */
        start(&r);
        world_run(&w, &r, 45.0);
        /* every 10th packet of the 5 s at 2.54 cm/s is missing (1.27 cm), but the
         * roller's angle before and after each gap says how far it turned: travel
         * is the truth's within 3 %, not 10 % short */
        lost_cm = 12.7 * 0.10;
        check_hold(8.0, 38.0, 300.0, 12.7, lost_cm / 4);
        assert_true(r.angle_bridges > 0);
        loss = find(RC_EV_PACKET_LOSS, 0);
        assert_non_null(loss);
        /* the last report covers everything lost up to it */
        assert_int_equal(r.link.lost, w.packet_no / 10);
        assert_true(loss->packet_loss.total > loss->packet_loss.lost);
}

static void test_duplicate_dropped(void **state) {
        struct rc_roller r;
        uint8_t pkt[11 + 16 * 14];
        struct rc_imu_batch b;
        enum rc_decode_reason why;
        int16_t a[3] = {0, 0, 1000}, g[3] = {0, 0, 0};
        size_t len = rc_test_imu_header(pkt, 1, 7, 1000, 5000, 16);

        (void)state;
        for (int i = 0; i < 16; i++)
                len += rc_test_imu_sample(pkt + len, a, g, 1, 3000);
        assert_int_equal(rc_decode_imu(pkt, len, false, &b, &why), 0);
        start(&r);
        rc_roller_feed(&r, 100000, &b);
        rc_roller_feed(&r, 180000, &b); /* the same seq again */
        assert_int_equal(r.link.packets, 1);
        assert_int_equal(r.link.duplicates, 1);
        assert_int_equal(r.link.lost, 0);
}

/* ---- jerk ---- */

static double sine_speed(double t) {
        return 10.0 * sin(2 * M_PI * 1.0 * t);
}

static void test_jerk(void **state) {
        struct rc_roller r;
        struct world w;
        const double A = 10.0, f = 1.0, T = 0.1, x = M_PI * f * T;
        /* v = A sin(2πft): jerk amplitude A(2πf)² cm/s³. The core sees 0.1 s block
         * means (gain sin x / x) and takes a second difference (gain
         * (2 sin x / T)² instead of (2πf)²); the RMS of a sinusoid is 1/√2 of it. */
        double expected = A * pow(2 * sin(x) / T, 2) * (sin(x) / x) / sqrt(2.0) / 100.0;

        (void)state;
        world_init(&w);
        w.speed = sine_speed;
        w.force = hold_force;
        start(&r);
        world_run(&w, &r, 10.0);
        assert_rel(motion_at(9990)->motion.jerk, expected, 0.05);
        /* and smooth rolling is not jerky */
        world_init(&w);
        w.speed = inch_per_s;
        w.force = hold_force;
        w.noise_dps = 0.3;
        start(&r);
        world_run(&w, &r, 10.0);
        assert_true(motion_at(9990)->motion.jerk < 0.05 * expected);
}

/* ---- track: the first sustained movement fixes the direction ---- */

static double back_and_forth(double t) {
        if (t < 3.2)
                return 2.54; /* the previous step */
        if (t < 5.2)
                return -2.5; /* 5 cm, raw negative: this is "the named direction" */
        if (t < 9.2)
                return 2.0; /* 8 cm the other way */
        return 0.0;
}

static void test_track(void **state) {
        struct rc_roller r;
        struct world w;

        (void)state;
        world_init(&w);
        w.speed = back_and_forth;
        w.force = hold_force;
        start(&r);
        world_run(&w, &r, 3.2); /* 40 packets of 80 ms */
        rc_roller_track(&r);    /* a new step begins here */
        world_run(&w, &r, 9.6);
        /* out 5 cm in the tracked direction: +5; then 8 cm back: −3 */
        assert_rel(motion_at(5210)->motion.travel_cm, 5.0, 0.03);
        assert_true(motion_at(5210)->motion.speed_cm_s > 0);
        assert_rel(motion_at(8210)->motion.speed_cm_s, -2.0, 0.02);
        assert_rel(motion_at(9610)->motion.travel_cm, -3.0, 0.05);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_speed_one_inch),
                cmocka_unit_test(test_speed_other_roller),
                cmocka_unit_test(test_travel),
                cmocka_unit_test(test_hold_load_cell),
                cmocka_unit_test(test_hold_imu_only),
                cmocka_unit_test(test_hold_ramped),
                cmocka_unit_test(test_gyro_bias),
                cmocka_unit_test(test_clock_wrap),
                cmocka_unit_test(test_lost_packets),
                cmocka_unit_test(test_duplicate_dropped),
                cmocka_unit_test(test_jerk),
                cmocka_unit_test(test_track),
                cmocka_unit_test(test_bias_under_load),
                cmocka_unit_test(test_hold_from_first_packet),
                cmocka_unit_test(test_hold_across_reconnect),
                cmocka_unit_test(test_clock_jump_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
