/* rollcoach — decoders for every characteristic of spec/roller-gatt.md.
 *
 * Each decoder validates the whole packet against the spec and either fills a
 * plain struct (returning 0) or rejects it whole (returning -EBADMSG and the
 * reason in *ret_reason). Decoders never allocate and never keep a pointer past
 * the call, except the views documented below, which point into the caller's
 * bytes. All multi-byte fields are little-endian. Reserved flag bits are ignored.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/ids.h"

/* Characteristics the hub knows. */
enum rc_char {
        RC_CHAR_UNKNOWN = 0,
        RC_CHAR_ROLLER_IMU,     /* caf70002-…  notify */
        RC_CHAR_ROLLER_BUTTON,  /* caf70003-…  notify */
        RC_CHAR_ROLLER_INFO,    /* caf70004-…  read */
        RC_CHAR_BODY_IMU,       /* caf70102-…  notify */
        RC_CHAR_BODY_PLACEMENT, /* caf70104-…  read */
        RC_CHAR_HR_MEASUREMENT, /* 0x2A37      notify */
        RC_CHAR_BATTERY_LEVEL,  /* 0x2A19      read/notify */
        RC_CHAR_DEVICE_NAME,    /* 0x2A00      read (GAP) */
        RC_CHAR_MANUFACTURER,   /* 0x2A29      read (Device Information) */
        RC_CHAR_MODEL_NUMBER,   /* 0x2A24      read (Device Information) */
        RC_CHAR_FIRMWARE_REV,   /* 0x2A26      read (Device Information) */
        RC_CHAR__COUNT,
};

/* Services the hub looks for when discovering (gateway) and classifying devices. */
extern const rc_uuid RC_SERVICE_ROLLER;  /* caf70001-e46c-49f3-98a8-0c9d2480bb18 */
extern const rc_uuid RC_SERVICE_BODY;    /* caf70101-e46c-49f3-98a8-0c9d2480bb18 */
extern const rc_uuid RC_SERVICE_HR;      /* 0x180D */
extern const rc_uuid RC_SERVICE_BATTERY; /* 0x180F */
extern const rc_uuid RC_SERVICE_DEVINFO; /* 0x180A */

/* The characteristic for a UUID, RC_CHAR_UNKNOWN if the hub does not use it. */
enum rc_char rc_gatt_char_from_uuid(const rc_uuid *u);
/* The UUID of a known characteristic (c != RC_CHAR_UNKNOWN). */
const rc_uuid *rc_gatt_char_uuid(enum rc_char c);
/* A short stable name for logs and statistics, e.g. "roller-imu". */
const char *rc_gatt_char_name(enum rc_char c);

/* Why a packet was rejected. Stable names (rc_decode_reason_name) are used in
 * logs, statistics and JSON. */
enum rc_decode_reason {
        RC_DECODE_OK = 0,
        RC_DECODE_LENGTH,  /* length does not match the spec for its fields */
        RC_DECODE_VERSION, /* version byte is not 1 */
        RC_DECODE_PERIOD,  /* IMU period_us is 0 */
        RC_DECODE_COUNT,   /* IMU n is 0 */
        RC_DECODE_FLAGS,   /* a flag the characteristic forbids (force on a body IMU) */
        RC_DECODE_VALUE,   /* a field outside its defined range (button event, axis, percent…) */
        RC_DECODE_UNKNOWN, /* a characteristic the hub does not know (counted, not an error) */
        RC_DECODE__COUNT,
};
const char *rc_decode_reason_name(enum rc_decode_reason r);

/* ---- Roller / body IMU batch ------------------------------------------------ */

#define RC_IMU_HEADER_LEN 11
#define RC_IMU_SAMPLE_LEN 12       /* ax ay az gx gy gz, i16 each */
#define RC_IMU_SAMPLE_FORCE_LEN 14 /* + force u16 */
#define RC_IMU_FLAG_FORCE 0x01

/* A validated IMU batch: header fields plus a view of the sample bytes inside the
 * caller's buffer (valid as long as that buffer). Sample i starts at
 * samples + i * stride: ax, ay, az (milli-g), gx, gy, gz (0.1 °/s) as i16, then
 * force (0.1 N) as u16 when has_force. */
struct rc_imu_batch {
        uint8_t flags;
        bool has_force;
        uint16_t seq;
        uint32_t t0_us;     /* device clock of sample 0, wraps at 2^32 */
        uint16_t period_us; /* > 0 */
        uint8_t n;          /* >= 1 */
        uint8_t stride;     /* RC_IMU_SAMPLE_LEN or RC_IMU_SAMPLE_FORCE_LEN */
        const uint8_t *samples;
};

/* One decoded sample in the packet's units (for tests and slow paths; the
 * analysis reads the bytes directly). */
struct rc_imu_sample {
        int16_t a[3];   /* milli-g */
        int16_t g[3];   /* 0.1 °/s */
        uint16_t force; /* 0.1 N; 0 without force */
};

/* Decode an IMU batch. `body` selects the body sensor's rules (force flag must
 * be clear). Rules, checked in this order: length >= 11 (LENGTH), version == 1
 * (VERSION), body && force flag (FLAGS), period_us != 0 (PERIOD), n >= 1 (COUNT),
 * length == 11 + n * stride (LENGTH). */
int rc_decode_imu(const uint8_t *p, size_t len, bool body, struct rc_imu_batch *ret,
                  enum rc_decode_reason *ret_reason);
void rc_imu_sample_get(const struct rc_imu_batch *b, unsigned i, struct rc_imu_sample *ret);

/* ---- Button ------------------------------------------------------------------ */

enum rc_press {
        RC_PRESS_SHORT = 1,
        RC_PRESS_LONG = 2, /* >= 1.5 s: "stop — it hurts" */
        RC_PRESS_DOUBLE = 3,
};
const char *rc_press_name(enum rc_press p); /* "short", "long", "double" */

struct rc_button {
        enum rc_press press;
        uint32_t t_us; /* device clock */
};
/* Exactly 6 bytes: version (1), event (1..3), t u32. */
int rc_decode_button(const uint8_t *p, size_t len, struct rc_button *ret,
                     enum rc_decode_reason *ret_reason);

/* ---- Roller Info ---------------------------------------------------------- */

enum rc_surface { RC_SURFACE_SMOOTH = 0, RC_SURFACE_TEXTURED = 1, RC_SURFACE_VIBRATING = 2 };

struct rc_roller_info {
        uint16_t diameter_mm; /* 1..1000 */
        uint16_t length_mm;   /* 1..3000 */
        uint8_t long_axis;    /* 0 = x, 1 = y, 2 = z */
        uint8_t surface;      /* enum rc_surface */
};
/* The spec's defaults when Roller Info cannot be read: 127 mm, 457 mm, x, smooth. */
extern const struct rc_roller_info RC_ROLLER_INFO_DEFAULT;
/* Exactly 7 bytes: version (1), diameter u16, length u16, long_axis (0..2), surface (0..2).
 * A zero diameter or length is VALUE. */
int rc_decode_roller_info(const uint8_t *p, size_t len, struct rc_roller_info *ret,
                          enum rc_decode_reason *ret_reason);

/* ---- Body placement ----------------------------------------------------------- */

enum rc_placement {
        RC_PLACEMENT_SACRUM = 1, /* sacrum / low back */
        RC_PLACEMENT_UPPER_BACK = 2,
        RC_PLACEMENT_LEFT_THIGH = 3,
        RC_PLACEMENT_RIGHT_THIGH = 4,
        RC_PLACEMENT_WRIST = 5,
};
const char *rc_placement_name(enum rc_placement p);
/* Exactly 2 bytes: version (1), placement (1..5). */
int rc_decode_placement(const uint8_t *p, size_t len, enum rc_placement *ret,
                        enum rc_decode_reason *ret_reason);

/* ---- Heart Rate Measurement (0x2A37, Bluetooth SIG) ---------------------------- */

#define RC_HR_FLAG_HR16 0x01
#define RC_HR_FLAG_CONTACT_DETECTED 0x02
#define RC_HR_FLAG_CONTACT_SUPPORTED 0x04
#define RC_HR_FLAG_ENERGY 0x08
#define RC_HR_FLAG_RR 0x10

enum rc_contact { RC_CONTACT_UNSUPPORTED = -1, RC_CONTACT_LOST = 0, RC_CONTACT_OK = 1 };

/* RR intervals are a view into the caller's bytes: rr(i) = le16(rr_bytes + 2 i),
 * in 1/1024 s. */
struct rc_hr_measurement {
        uint8_t flags;
        uint16_t bpm; /* 0 means the sensor does not know yet */
        enum rc_contact contact;
        bool has_energy;
        uint16_t energy_kj;
        unsigned n_rr;
        const uint8_t *rr_bytes;
};
/* Layout: flags u8; heart rate u8, or u16 with flag bit 0; energy u16 with bit 3;
 * with bit 4, one or more RR u16 filling the rest exactly. Without bit 4 the
 * length must be exact. LENGTH when short, when bytes are left over, or when the
 * RR part is empty or odd. */
int rc_decode_hr_measurement(const uint8_t *p, size_t len, struct rc_hr_measurement *ret,
                             enum rc_decode_reason *ret_reason);
static inline uint16_t rc_hr_rr(const struct rc_hr_measurement *m, unsigned i) {
        return rc_le16(m->rr_bytes + 2 * i);
}

/* ---- Battery Level (0x2A19) ------------------------------------------------------ */

/* Exactly 1 byte, 0..100 percent (VALUE above 100). */
int rc_decode_battery(const uint8_t *p, size_t len, uint8_t *ret_percent,
                      enum rc_decode_reason *ret_reason);

/* ---- UTF-8 strings (Device Name, Device Information) ------------------------------ */

#define RC_GATT_STRING_MAX 64
/* 1..64 bytes of valid UTF-8 with no control characters (a trailing NUL, which
 * some devices send, is dropped). Copied, NUL-terminated, into out[RC_GATT_STRING_MAX + 1]. */
int rc_decode_string(const uint8_t *p, size_t len, char out[RC_GATT_STRING_MAX + 1],
                     enum rc_decode_reason *ret_reason);
