/* rollcoach — little-endian field access for validated packet bytes.
 * The caller has checked the length; these only read. */
#pragma once

#include <stdint.h>
#include <string.h>

static inline uint16_t rc_le16(const uint8_t *p) {
        return (uint16_t)(p[0] | (p[1] << 8));
}

static inline int16_t rc_les16(const uint8_t *p) {
        return (int16_t)rc_le16(p);
}

static inline uint32_t rc_le32(const uint8_t *p) {
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
               ((uint32_t)p[3] << 24);
}

static inline void rc_put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static inline void rc_put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}
