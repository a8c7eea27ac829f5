/* rollcoach — decoders for the characteristics of spec/roller-gatt.md. */
#include "decode/gatt.h"

#include <errno.h>
#include <string.h>

#include "util/bytes.h"

/* The 128-bit UUIDs of the roller and body services differ only in bytes 2..3. */
/* clang-format off */
#define CAF7(hi, lo) \
        {{0xca, 0xf7, hi, lo, 0xe4, 0x6c, 0x49, 0xf3, 0x98, 0xa8, 0x0c, 0x9d, 0x24, 0x80, 0xbb, 0x18}}
/* A SIG 16-bit UUID 0xHHLL on the base 0000xxxx-0000-1000-8000-00805f9b34fb. */
#define SIG16(hh, ll) \
        {{0x00, 0x00, hh, ll, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb}}
/* clang-format on */

const rc_uuid RC_SERVICE_ROLLER = CAF7(0x00, 0x01);
const rc_uuid RC_SERVICE_BODY = CAF7(0x01, 0x01);
const rc_uuid RC_SERVICE_HR = SIG16(0x18, 0x0d);
const rc_uuid RC_SERVICE_BATTERY = SIG16(0x18, 0x0f);
const rc_uuid RC_SERVICE_DEVINFO = SIG16(0x18, 0x0a);

static const struct {
        rc_uuid uuid;
        const char *name;
} chars[RC_CHAR__COUNT] = {
        [RC_CHAR_ROLLER_IMU] = {CAF7(0x00, 0x02), "roller-imu"},
        [RC_CHAR_ROLLER_BUTTON] = {CAF7(0x00, 0x03), "roller-button"},
        [RC_CHAR_ROLLER_INFO] = {CAF7(0x00, 0x04), "roller-info"},
        [RC_CHAR_BODY_IMU] = {CAF7(0x01, 0x02), "body-imu"},
        [RC_CHAR_BODY_PLACEMENT] = {CAF7(0x01, 0x04), "body-placement"},
        [RC_CHAR_HR_MEASUREMENT] = {SIG16(0x2a, 0x37), "hr-measurement"},
        [RC_CHAR_BATTERY_LEVEL] = {SIG16(0x2a, 0x19), "battery-level"},
        [RC_CHAR_DEVICE_NAME] = {SIG16(0x2a, 0x00), "device-name"},
        [RC_CHAR_MANUFACTURER] = {SIG16(0x2a, 0x29), "manufacturer"},
        [RC_CHAR_MODEL_NUMBER] = {SIG16(0x2a, 0x24), "model-number"},
        [RC_CHAR_FIRMWARE_REV] = {SIG16(0x2a, 0x26), "firmware-rev"},
};

enum rc_char rc_gatt_char_from_uuid(const rc_uuid *u) {
        for (int c = RC_CHAR_UNKNOWN + 1; c < RC_CHAR__COUNT; c++)
                if (rc_uuid_equal(u, &chars[c].uuid))
                        return (enum rc_char)c;
        return RC_CHAR_UNKNOWN;
}

const rc_uuid *rc_gatt_char_uuid(enum rc_char c) {
        if (c == RC_CHAR_UNKNOWN || (unsigned)c >= RC_CHAR__COUNT)
                return NULL;
        return &chars[c].uuid;
}

const char *rc_gatt_char_name(enum rc_char c) {
        if (c == RC_CHAR_UNKNOWN || (unsigned)c >= RC_CHAR__COUNT)
                return "unknown";
        return chars[c].name;
}

static const char *const reason_names[RC_DECODE__COUNT] = {
        [RC_DECODE_OK] = "ok",           [RC_DECODE_LENGTH] = "length",
        [RC_DECODE_VERSION] = "version", [RC_DECODE_PERIOD] = "period",
        [RC_DECODE_COUNT] = "count",     [RC_DECODE_FLAGS] = "flags",
        [RC_DECODE_VALUE] = "value",     [RC_DECODE_UNKNOWN] = "unknown",
};

const char *rc_decode_reason_name(enum rc_decode_reason r) {
        if ((unsigned)r >= RC_DECODE__COUNT)
                return "invalid";
        return reason_names[r];
}

/* Record why a packet was rejected; always returns -EBADMSG. */
static int reject(enum rc_decode_reason *ret_reason, enum rc_decode_reason why) {
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}

static int accept(enum rc_decode_reason *ret_reason) {
        if (ret_reason)
                *ret_reason = RC_DECODE_OK;
        return 0;
}

/* ---- IMU batch ---------------------------------------------------------------- */

int rc_decode_imu(const uint8_t *p, size_t len, bool body, struct rc_imu_batch *ret,
                  enum rc_decode_reason *ret_reason) {
        struct rc_imu_batch b;

        if (len < RC_IMU_HEADER_LEN)
                return reject(ret_reason, RC_DECODE_LENGTH);
        if (p[0] != 1)
                return reject(ret_reason, RC_DECODE_VERSION);
        b.flags = p[1];
        b.has_force = b.flags & RC_IMU_FLAG_FORCE;
        if (body && b.has_force)
                return reject(ret_reason, RC_DECODE_FLAGS);
        b.seq = rc_le16(p + 2);
        b.t0_us = rc_le32(p + 4);
        b.period_us = rc_le16(p + 8);
        if (b.period_us == 0)
                return reject(ret_reason, RC_DECODE_PERIOD);
        b.n = p[10];
        if (b.n == 0)
                return reject(ret_reason, RC_DECODE_COUNT);
        b.stride = b.has_force ? RC_IMU_SAMPLE_FORCE_LEN : RC_IMU_SAMPLE_LEN;
        if (len != RC_IMU_HEADER_LEN + (size_t)b.n * b.stride)
                return reject(ret_reason, RC_DECODE_LENGTH);
        b.samples = p + RC_IMU_HEADER_LEN;
        *ret = b;
        return accept(ret_reason);
}

void rc_imu_sample_get(const struct rc_imu_batch *b, unsigned i, struct rc_imu_sample *ret) {
        const uint8_t *s;

        /* Out of range is a caller bug; give an all-zero sample rather than read past
         * the packet. */
        if (i >= b->n) {
                memset(ret, 0, sizeof(*ret));
                return;
        }
        s = b->samples + (size_t)i * b->stride;
        for (int k = 0; k < 3; k++) {
                ret->a[k] = rc_les16(s + 2 * k);
                ret->g[k] = rc_les16(s + 6 + 2 * k);
        }
        ret->force = b->has_force ? rc_le16(s + 12) : 0;
}

/* ---- Button ------------------------------------------------------------------- */

const char *rc_press_name(enum rc_press p) {
        switch (p) {
        case RC_PRESS_SHORT:
                return "short";
        case RC_PRESS_LONG:
                return "long";
        case RC_PRESS_DOUBLE:
                return "double";
        }
        return "invalid";
}

int rc_decode_button(const uint8_t *p, size_t len, struct rc_button *ret,
                     enum rc_decode_reason *ret_reason) {
        if (len != 6)
                return reject(ret_reason, RC_DECODE_LENGTH);
        if (p[0] != 1)
                return reject(ret_reason, RC_DECODE_VERSION);
        if (p[1] < RC_PRESS_SHORT || p[1] > RC_PRESS_DOUBLE)
                return reject(ret_reason, RC_DECODE_VALUE);
        ret->press = (enum rc_press)p[1];
        ret->t_us = rc_le32(p + 2);
        return accept(ret_reason);
}

/* ---- Roller Info ---------------------------------------------------------------- */

const struct rc_roller_info RC_ROLLER_INFO_DEFAULT = {
        .diameter_mm = 127,
        .length_mm = 457,
        .long_axis = 0,
        .surface = RC_SURFACE_SMOOTH,
};

int rc_decode_roller_info(const uint8_t *p, size_t len, struct rc_roller_info *ret,
                          enum rc_decode_reason *ret_reason) {
        uint16_t diameter, length;

        if (len != 7)
                return reject(ret_reason, RC_DECODE_LENGTH);
        if (p[0] != 1)
                return reject(ret_reason, RC_DECODE_VERSION);
        diameter = rc_le16(p + 1);
        length = rc_le16(p + 3);
        if (diameter < 1 || diameter > 1000 || length < 1 || length > 3000 || p[5] > 2 ||
            p[6] > RC_SURFACE_VIBRATING)
                return reject(ret_reason, RC_DECODE_VALUE);
        ret->diameter_mm = diameter;
        ret->length_mm = length;
        ret->long_axis = p[5];
        ret->surface = p[6];
        return accept(ret_reason);
}

/* ---- Body placement --------------------------------------------------------------- */

const char *rc_placement_name(enum rc_placement p) {
        switch (p) {
        case RC_PLACEMENT_SACRUM:
                return "sacrum";
        case RC_PLACEMENT_UPPER_BACK:
                return "upper_back";
        case RC_PLACEMENT_LEFT_THIGH:
                return "left_thigh";
        case RC_PLACEMENT_RIGHT_THIGH:
                return "right_thigh";
        case RC_PLACEMENT_WRIST:
                return "wrist";
        }
        return "invalid";
}

int rc_decode_placement(const uint8_t *p, size_t len, enum rc_placement *ret,
                        enum rc_decode_reason *ret_reason) {
        if (len != 2)
                return reject(ret_reason, RC_DECODE_LENGTH);
        if (p[0] != 1)
                return reject(ret_reason, RC_DECODE_VERSION);
        if (p[1] < RC_PLACEMENT_SACRUM || p[1] > RC_PLACEMENT_WRIST)
                return reject(ret_reason, RC_DECODE_VALUE);
        *ret = (enum rc_placement)p[1];
        return accept(ret_reason);
}

/* ---- Heart Rate Measurement ----------------------------------------------------------- */

int rc_decode_hr_measurement(const uint8_t *p, size_t len, struct rc_hr_measurement *ret,
                             enum rc_decode_reason *ret_reason) {
        struct rc_hr_measurement m = {0};
        size_t off = 1;

        if (len < 2)
                return reject(ret_reason, RC_DECODE_LENGTH);
        m.flags = p[0];
        if (m.flags & RC_HR_FLAG_HR16) {
                if (len < off + 2)
                        return reject(ret_reason, RC_DECODE_LENGTH);
                m.bpm = rc_le16(p + off);
                off += 2;
        } else {
                m.bpm = p[off];
                off += 1;
        }
        /* Sensor contact status, bits 1-2: bit 2 says the feature is supported, bit 1
         * that contact is detected; without bit 2, bit 1 means nothing. */
        if (!(m.flags & RC_HR_FLAG_CONTACT_SUPPORTED))
                m.contact = RC_CONTACT_UNSUPPORTED;
        else if (m.flags & RC_HR_FLAG_CONTACT_DETECTED)
                m.contact = RC_CONTACT_OK;
        else
                m.contact = RC_CONTACT_LOST;
        if (m.flags & RC_HR_FLAG_ENERGY) {
                if (len < off + 2)
                        return reject(ret_reason, RC_DECODE_LENGTH);
                m.has_energy = true;
                m.energy_kj = rc_le16(p + off);
                off += 2;
        }
        if (m.flags & RC_HR_FLAG_RR) {
                size_t rest = len - off;

                if (rest == 0 || rest % 2)
                        return reject(ret_reason, RC_DECODE_LENGTH);
                m.n_rr = (unsigned)(rest / 2);
                m.rr_bytes = p + off;
        } else if (len != off) {
                return reject(ret_reason, RC_DECODE_LENGTH);
        }
        *ret = m;
        return accept(ret_reason);
}

/* ---- Battery Level ------------------------------------------------------------------- */

int rc_decode_battery(const uint8_t *p, size_t len, uint8_t *ret_percent,
                      enum rc_decode_reason *ret_reason) {
        if (len != 1)
                return reject(ret_reason, RC_DECODE_LENGTH);
        if (p[0] > 100)
                return reject(ret_reason, RC_DECODE_VALUE);
        *ret_percent = p[0];
        return accept(ret_reason);
}

/* ---- UTF-8 strings -------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (at most `len` bytes available), or
 * 0 if it is malformed: a stray continuation byte, an overlong form, a surrogate
 * (U+D800..U+DFFF), a code point above U+10FFFF or a truncated sequence. The
 * ranges of the second byte are those of RFC 3629's table. */
static size_t utf8_sequence(const uint8_t *p, size_t len) {
        uint8_t c = p[0], lo = 0x80, hi = 0xbf;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
        else
                return 0; /* continuation byte, overlong lead 0xc0/0xc1, or beyond U+10FFFF */
        if (c == 0xe0)
                lo = 0xa0; /* below U+0800: overlong */
        else if (c == 0xed)
                hi = 0x9f; /* U+D800..U+DFFF: surrogates */
        else if (c == 0xf0)
                lo = 0x90; /* below U+10000: overlong */
        else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        if (len < n)
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

int rc_decode_string(const uint8_t *p, size_t len, char out[RC_GATT_STRING_MAX + 1],
                     enum rc_decode_reason *ret_reason) {
        if (len > 0 && p[len - 1] == '\0')
                len--;
        if (len < 1 || len > RC_GATT_STRING_MAX)
                return reject(ret_reason, RC_DECODE_LENGTH);
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence(p + i, len - i);

                if (n == 0)
                        return reject(ret_reason, RC_DECODE_VALUE);
                if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))
                        return reject(ret_reason, RC_DECODE_VALUE);
                i += n;
        }
        memcpy(out, p, len);
        out[len] = '\0';
        return accept(ret_reason);
}
