#include "util/ids.h"

#include <errno.h>
#include <stdio.h>

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Two hex digits at s → one byte; -1 if either is not hex. */
static int hex_byte(const char *s) {
        int hi = hex_digit(s[0]), lo = hex_digit(s[1]);

        if (hi < 0 || lo < 0)
                return -1;
        return hi << 4 | lo;
}

int rc_addr_parse(const char *s, size_t len, rc_addr *ret) {
        rc_addr a;

        if (len != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++) {
                int v = hex_byte(s + 3 * i);

                if (v < 0)
                        return -EINVAL;
                if (i < 5 && s[3 * i + 2] != ':')
                        return -EINVAL;
                a.b[i] = (uint8_t)v;
        }
        *ret = a;
        return 0;
}

void rc_addr_format(const rc_addr *a, char out[RC_ADDR_STRLEN]) {
        snprintf(out, RC_ADDR_STRLEN, "%02X:%02X:%02X:%02X:%02X:%02X", a->b[0], a->b[1], a->b[2],
                 a->b[3], a->b[4], a->b[5]);
}

static const rc_uuid sig_base = {{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00,
                                  0x80, 0x5f, 0x9b, 0x34, 0xfb}};

rc_uuid rc_uuid_from16(uint16_t v) {
        rc_uuid u = sig_base;

        u.b[2] = (uint8_t)(v >> 8);
        u.b[3] = (uint8_t)v;
        return u;
}

bool rc_uuid_is_sig16(const rc_uuid *u, uint16_t *ret) {
        if (u->b[0] || u->b[1])
                return false;
        for (int i = 4; i < 16; i++)
                if (u->b[i] != sig_base.b[i])
                        return false;
        if (ret)
                *ret = (uint16_t)(u->b[2] << 8 | u->b[3]);
        return true;
}

int rc_uuid_parse(const char *s, size_t len, rc_uuid *ret) {
        rc_uuid u;
        int k = 0;

        if (len == 4) {
                int hi = hex_byte(s), lo = hex_byte(s + 2);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                *ret = rc_uuid_from16((uint16_t)(hi << 8 | lo));
                return 0;
        }
        if (len != 36)
                return -EINVAL;
        for (size_t i = 0; i < 36;) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return -EINVAL;
                        i++;
                        continue;
                }
                int v = hex_byte(s + i);
                if (v < 0)
                        return -EINVAL;
                u.b[k++] = (uint8_t)v;
                i += 2;
        }
        *ret = u;
        return 0;
}

void rc_uuid_format(const rc_uuid *u, char out[RC_UUID_STRLEN]) {
        const uint8_t *b = u->b;

        snprintf(out, RC_UUID_STRLEN,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
}

void rc_uuid_format_short(const rc_uuid *u, char out[RC_UUID_STRLEN]) {
        uint16_t v;

        if (rc_uuid_is_sig16(u, &v))
                snprintf(out, RC_UUID_STRLEN, "%04x", v);
        else
                rc_uuid_format(u, out);
}

int rc_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *ret_n) {
        if (len % 2)
                return -EINVAL;
        if (len / 2 > cap)
                return -E2BIG;
        for (size_t i = 0; i < len / 2; i++) {
                int v = hex_byte(s + 2 * i);

                if (v < 0)
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        *ret_n = len / 2;
        return 0;
}

void rc_hex_encode(const uint8_t *in, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xf];
        }
        out[2 * n] = '\0';
}
