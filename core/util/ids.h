/* rollcoach — textual identifiers that cross the outside boundary: Bluetooth
 * device addresses, UUIDs and hex payloads. Every parser validates its whole
 * input and returns -EINVAL (malformed) or -E2BIG (too long for the output). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_ADDR_STRLEN 18 /* "AA:BB:CC:DD:EE:FF" + NUL */
#define RC_UUID_STRLEN 37 /* 36 characters + NUL */

/* A device address, in printed order: b[0] is the first pair of digits. */
typedef struct {
        uint8_t b[6];
} rc_addr;

/* A 128-bit UUID in printed (big-endian) order. */
typedef struct {
        uint8_t b[16];
} rc_uuid;

/* Parse "XX:XX:XX:XX:XX:XX" (exactly 17 characters, hex either case). */
int rc_addr_parse(const char *s, size_t len, rc_addr *ret);
/* Format as upper-case "AA:BB:CC:DD:EE:FF" into `out` (RC_ADDR_STRLEN bytes). */
void rc_addr_format(const rc_addr *a, char out[RC_ADDR_STRLEN]);
static inline bool rc_addr_equal(const rc_addr *a, const rc_addr *b) {
        for (int i = 0; i < 6; i++)
                if (a->b[i] != b->b[i])
                        return false;
        return true;
}

/* Parse a 128-bit UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (36 characters) or a
 * Bluetooth SIG 16-bit UUID "xxxx" (4 hex digits), hex either case. A 16-bit UUID
 * is expanded over the SIG base 0000xxxx-0000-1000-8000-00805f9b34fb. */
int rc_uuid_parse(const char *s, size_t len, rc_uuid *ret);
/* The UUID for a SIG 16-bit value. */
rc_uuid rc_uuid_from16(uint16_t v);
/* True if `u` lies on the SIG base; its 16-bit value goes to *ret (may be NULL). */
bool rc_uuid_is_sig16(const rc_uuid *u, uint16_t *ret);
/* Lower-case canonical 128-bit form. */
void rc_uuid_format(const rc_uuid *u, char out[RC_UUID_STRLEN]);
/* The trace form: 4 lower-case digits for a SIG 16-bit UUID, else the 128-bit form. */
void rc_uuid_format_short(const rc_uuid *u, char out[RC_UUID_STRLEN]);
static inline bool rc_uuid_equal(const rc_uuid *a, const rc_uuid *b) {
        for (int i = 0; i < 16; i++)
                if (a->b[i] != b->b[i])
                        return false;
        return true;
}

/* Decode `len` hex characters (even count, either case) into `out` of `cap` bytes;
 * the byte count goes to *ret_n. -EINVAL: odd length or a non-hex character;
 * -E2BIG: more than `cap` bytes. */
int rc_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *ret_n);
/* Encode `n` bytes as lower-case hex into `out`, which holds 2n+1 characters. */
void rc_hex_encode(const uint8_t *in, size_t n, char *out);
