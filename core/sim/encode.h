/* rollcoach — packet encoders for every characteristic of spec/roller-gatt.md: the
 * exact bytes a roller, a body clip or a heart-rate strap would send. They are
 * the inverse of the decoders in decode/gatt.h and reuse their structs.
 *
 * Every encoder writes into the caller's buffer `out` of `cap` bytes and returns
 * the packet length, -E2BIG if it does not fit, or -EINVAL if the fields cannot
 * be represented by the spec (the encoders never write an invalid packet; the
 * rc_corrupt_* functions do that, on purpose, for tests of the decoders' rejection
 * paths). All multi-byte fields are written little-endian.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/gatt.h"

/* IMU Batch (roller caf70002, body caf70102): header + n samples of 12 bytes, or
 * 14 with `with_force`. -EINVAL if n is 0 or over 255, or period_us is 0. */
int rc_encode_imu(uint8_t *out, size_t cap, bool with_force, uint16_t seq, uint32_t t0_us,
                  uint16_t period_us, const struct rc_imu_sample *samples, unsigned n);

/* Button (caf70003): version, event (short/long/double), device time. 6 bytes. */
int rc_encode_button(uint8_t *out, size_t cap, enum rc_press press, uint32_t t_us);

/* Roller Info (caf70004): 7 bytes. -EINVAL for a zero or out-of-range field. */
int rc_encode_roller_info(uint8_t *out, size_t cap, const struct rc_roller_info *info);

/* Body Placement (caf70104): 2 bytes. */
int rc_encode_placement(uint8_t *out, size_t cap, enum rc_placement placement);

/* A Heart Rate Measurement (0x2A37) to encode. */
struct rc_hr_encode {
        uint16_t bpm;            /* written as u8 when it fits and !force_hr16 */
        bool force_hr16;         /* always use the 16-bit heart-rate field */
        enum rc_contact contact; /* UNSUPPORTED: bits 1-2 clear; LOST: supported only */
        bool has_energy;
        uint16_t energy_kj;
        const uint16_t *rr; /* RR intervals in 1/1024 s */
        unsigned n_rr;      /* 0: no RR flag */
};
/* Heart Rate Measurement: flags, HR, [energy], [RR...]. */
int rc_encode_hr_measurement(uint8_t *out, size_t cap, const struct rc_hr_encode *m);

/* Battery Level (0x2A19): one byte, 0..100. */
int rc_encode_battery(uint8_t *out, size_t cap, unsigned percent);

/* A GATT UTF-8 string (Device Name 0x2A00, Device Information): the bytes of `s`
 * without the NUL. -EINVAL if empty, over RC_GATT_STRING_MAX bytes, or holding a
 * control character. */
int rc_encode_string(uint8_t *out, size_t cap, const char *s);

/* Ways a firmware can send a malformed IMU batch. Each one is rejected by
 * rc_decode_imu with the reason named in the comment. BLE's link-layer CRC means
 * flipped bits do not reach the host; real corruption is bad firmware output. */
enum rc_corrupt_imu {
        RC_CORRUPT_IMU_TRUNCATED, /* last byte missing: LENGTH */
        RC_CORRUPT_IMU_VERSION,   /* version byte 2: VERSION */
        RC_CORRUPT_IMU_COUNT,     /* n = 0, samples still attached: COUNT */
        RC_CORRUPT_IMU_PERIOD,    /* period_us = 0: PERIOD */
        RC_CORRUPT_IMU_OVERLONG,  /* one stray byte after the samples: LENGTH */
        RC_CORRUPT_IMU_HEADER,    /* cut inside the header (7 bytes): LENGTH */
        RC_CORRUPT_IMU_FORCE,     /* force flag toggled: FLAGS on a body batch, else LENGTH */
        RC_CORRUPT_IMU__COUNT,
};
/* Turn the valid IMU batch p[0..len) (in place, in a buffer of `cap`) into the
 * malformed packet `kind`; returns its new length, or -E2BIG / -EINVAL. */
int rc_corrupt_imu(uint8_t *p, size_t len, size_t cap, enum rc_corrupt_imu kind);

/* Ways a strap can send a malformed Heart Rate Measurement; each is LENGTH. */
enum rc_corrupt_hr {
        RC_CORRUPT_HR_TRUNCATED, /* last byte missing */
        RC_CORRUPT_HR_OVERLONG,  /* one stray byte at the end */
        RC_CORRUPT_HR_HR16,      /* 16-bit HR flag set without the extra byte */
        RC_CORRUPT_HR__COUNT,
};
/* Turn the valid measurement p[0..len) into the malformed packet `kind`, in place;
 * returns its new length, or -E2BIG / -EINVAL. */
int rc_corrupt_hr(uint8_t *p, size_t len, size_t cap, enum rc_corrupt_hr kind);
