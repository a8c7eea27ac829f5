#include "sim/encode.h"

#include <errno.h>
#include <string.h>

#include "util/bytes.h"

int rc_encode_imu(uint8_t *out, size_t cap, bool with_force, uint16_t seq, uint32_t t0_us,
                  uint16_t period_us, const struct rc_imu_sample *samples, unsigned n) {
        size_t stride = with_force ? RC_IMU_SAMPLE_FORCE_LEN : RC_IMU_SAMPLE_LEN;
        size_t len;

        if (n == 0 || n > 255 || period_us == 0)
                return -EINVAL;
        len = RC_IMU_HEADER_LEN + n * stride;
        if (len > cap)
                return -E2BIG;
        out[0] = 1;
        out[1] = with_force ? RC_IMU_FLAG_FORCE : 0;
        rc_put_le16(out + 2, seq);
        rc_put_le32(out + 4, t0_us);
        rc_put_le16(out + 8, period_us);
        out[10] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
                uint8_t *p = out + RC_IMU_HEADER_LEN + i * stride;

                for (int a = 0; a < 3; a++) {
                        rc_put_le16(p + 2 * a, (uint16_t)samples[i].a[a]);
                        rc_put_le16(p + 6 + 2 * a, (uint16_t)samples[i].g[a]);
                }
                if (with_force)
                        rc_put_le16(p + 12, samples[i].force);
        }
        return (int)len;
}

int rc_encode_button(uint8_t *out, size_t cap, enum rc_press press, uint32_t t_us) {
        if (press != RC_PRESS_SHORT && press != RC_PRESS_LONG && press != RC_PRESS_DOUBLE)
                return -EINVAL;
        if (cap < 6)
                return -E2BIG;
        out[0] = 1;
        out[1] = (uint8_t)press;
        rc_put_le32(out + 2, t_us);
        return 6;
}

int rc_encode_roller_info(uint8_t *out, size_t cap, const struct rc_roller_info *info) {
        if (info->diameter_mm == 0 || info->diameter_mm > 1000 || info->length_mm == 0 ||
            info->length_mm > 3000 || info->long_axis > 2 || info->surface > RC_SURFACE_VIBRATING)
                return -EINVAL;
        if (cap < 7)
                return -E2BIG;
        out[0] = 1;
        rc_put_le16(out + 1, info->diameter_mm);
        rc_put_le16(out + 3, info->length_mm);
        out[5] = info->long_axis;
        out[6] = info->surface;
        return 7;
}

int rc_encode_placement(uint8_t *out, size_t cap, enum rc_placement placement) {
        if (placement < RC_PLACEMENT_SACRUM || placement > RC_PLACEMENT_WRIST)
                return -EINVAL;
        if (cap < 2)
                return -E2BIG;
        out[0] = 1;
        out[1] = (uint8_t)placement;
        return 2;
}

int rc_encode_hr_measurement(uint8_t *out, size_t cap, const struct rc_hr_encode *m) {
        bool hr16 = m->force_hr16 || m->bpm > 255;
        size_t len = 1 + (hr16 ? 2 : 1) + (m->has_energy ? 2 : 0) + 2 * (size_t)m->n_rr;
        uint8_t flags = 0;
        size_t o = 1;

        if (len > cap)
                return -E2BIG;
        if (hr16)
                flags |= RC_HR_FLAG_HR16;
        if (m->contact == RC_CONTACT_OK)
                flags |= RC_HR_FLAG_CONTACT_SUPPORTED | RC_HR_FLAG_CONTACT_DETECTED;
        else if (m->contact == RC_CONTACT_LOST)
                flags |= RC_HR_FLAG_CONTACT_SUPPORTED;
        else if (m->contact != RC_CONTACT_UNSUPPORTED)
                return -EINVAL;
        if (m->has_energy)
                flags |= RC_HR_FLAG_ENERGY;
        if (m->n_rr > 0)
                flags |= RC_HR_FLAG_RR;
        out[0] = flags;
        if (hr16) {
                rc_put_le16(out + o, m->bpm);
                o += 2;
        } else {
                out[o++] = (uint8_t)m->bpm;
        }
        if (m->has_energy) {
                rc_put_le16(out + o, m->energy_kj);
                o += 2;
        }
        for (unsigned i = 0; i < m->n_rr; i++, o += 2)
                rc_put_le16(out + o, m->rr[i]);
        return (int)len;
}

int rc_encode_battery(uint8_t *out, size_t cap, unsigned percent) {
        if (percent > 100)
                return -EINVAL;
        if (cap < 1)
                return -E2BIG;
        out[0] = (uint8_t)percent;
        return 1;
}

int rc_encode_string(uint8_t *out, size_t cap, const char *s) {
        size_t len = strlen(s);

        if (len == 0 || len > RC_GATT_STRING_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return -EINVAL;
        if (len > cap)
                return -E2BIG;
        memcpy(out, s, len);
        return (int)len;
}

int rc_corrupt_imu(uint8_t *p, size_t len, size_t cap, enum rc_corrupt_imu kind) {
        if (len < RC_IMU_HEADER_LEN + RC_IMU_SAMPLE_LEN)
                return -EINVAL;
        switch (kind) {
        case RC_CORRUPT_IMU_TRUNCATED:
                return (int)(len - 1);
        case RC_CORRUPT_IMU_VERSION:
                p[0] = 2;
                return (int)len;
        case RC_CORRUPT_IMU_COUNT:
                p[10] = 0;
                return (int)len;
        case RC_CORRUPT_IMU_PERIOD:
                rc_put_le16(p + 8, 0);
                return (int)len;
        case RC_CORRUPT_IMU_OVERLONG:
                if (len + 1 > cap)
                        return -E2BIG;
                /* Firmware that forgot to clear its buffer: a stale byte. */
                p[len] = p[len - 1];
                return (int)(len + 1);
        case RC_CORRUPT_IMU_HEADER:
                return 7;
        case RC_CORRUPT_IMU_FORCE:
                /* The samples no longer match their announced size. */
                p[1] ^= RC_IMU_FLAG_FORCE;
                return (int)len;
        case RC_CORRUPT_IMU__COUNT:
                break;
        }
        return -EINVAL;
}

int rc_corrupt_hr(uint8_t *p, size_t len, size_t cap, enum rc_corrupt_hr kind) {
        if (len < 2)
                return -EINVAL;
        switch (kind) {
        case RC_CORRUPT_HR_TRUNCATED:
                return (int)(len - 1);
        case RC_CORRUPT_HR_OVERLONG:
                if (len + 1 > cap)
                        return -E2BIG;
                p[len] = 0;
                return (int)(len + 1);
        case RC_CORRUPT_HR_HR16:
                /* The width flag disagrees with the bytes: every field after it
                 * shifts by one, leaving a length no layout accepts. */
                p[0] ^= RC_HR_FLAG_HR16;
                return (int)len;
        case RC_CORRUPT_HR__COUNT:
                break;
        }
        return -EINVAL;
}
