/* WAV headers (core/outputs/wav.h): the canonical header written and read back,
 * and hostile headers — truncated at every length, huge sizes, wrong chunk order,
 * other formats, a header that never ends. Every parse is given a buffer of
 * exactly the bytes it may read (the sanitizer build catches a read past them).
 * Expectations come from the RIFF/WAVE layout (a 12-byte RIFF/WAVE preamble, then
 * chunks of a 4-byte id, a 32-bit little-endian size and the data, padded to even)
 * and the rules in wav.h. */
#include "rc_test.h"

#include <errno.h>

#include "outputs/wav.h"

static size_t put(uint8_t *p, size_t off, const void *b, size_t n) {
        memcpy(p + off, b, n);
        return off + n;
}

static size_t put32(uint8_t *p, size_t off, uint32_t v) {
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        return put(p, off, b, 4);
}

static size_t put16(uint8_t *p, size_t off, unsigned v) {
        uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

        return put(p, off, b, 2);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A "fmt " chunk: `tag`, channels, rate, 16-bit (block = 2 × channels unless given). */
static size_t fmt_chunk(uint8_t *p, size_t off, unsigned tag, unsigned ch, uint32_t rate,
                        unsigned bits, unsigned block) {
        off = put(p, off, "fmt ", 4);
        off = put32(p, off, 16);
        off = put16(p, off, tag);
        off = put16(p, off, ch);
        off = put32(p, off, rate);
        off = put32(p, off, rate * block);
        off = put16(p, off, block);
        return put16(p, off, bits);
}

static size_t preamble(uint8_t *p) {
        size_t off = put(p, 0, "RIFF", 4);

        off = put32(p, off, 0xffffffffu);
        return put(p, off, "WAVE", 4);
}

/* Parse exactly `n` bytes of `p` from a buffer of that size. */
static int parse(const uint8_t *p, size_t n, struct rc_wav_fmt *f) {
        uint8_t *copy = malloc(n ? n : 1);
        int r;

        assert_non_null(copy);
        memcpy(copy, p, n);
        r = rc_wav_parse(copy, n, f);
        free(copy);
        return r;
}

/* The canonical header: 44 bytes, sizes 36 + data and data, read back. */
static void test_write_read(void **state) {
        struct rc_wav_fmt f = {.rate = 22050, .channels = 1, .block = 2}, g = {0};
        uint8_t h[RC_WAV_HDR_BYTES];

        (void)state;
        rc_wav_header(h, &f, 1000);
        assert_memory_equal(h, "RIFF", 4);
        assert_int_equal(get32(h + 4), 36 + 1000);
        assert_memory_equal(h + 8, "WAVEfmt ", 8);
        assert_int_equal(get32(h + 16), 16);
        assert_int_equal(h[20] | h[21] << 8, 1); /* PCM */
        assert_int_equal(h[22] | h[23] << 8, 1);
        assert_int_equal(get32(h + 24), 22050);
        assert_int_equal(get32(h + 28), 22050 * 2);
        assert_int_equal(h[32] | h[33] << 8, 2);
        assert_int_equal(h[34] | h[35] << 8, 16);
        assert_memory_equal(h + 36, "data", 4);
        assert_int_equal(get32(h + 40), 1000);
        assert_int_equal(parse(h, sizeof(h), &g), 44);
        assert_int_equal(g.rate, 22050);
        assert_int_equal(g.channels, 1);
        assert_int_equal(g.block, 2);
        assert_int_equal(g.data_size, 1000);
        assert_true(rc_wav_byte_rate(&g) == 44100.0);

        /* streaming: the sizes a writer that cannot seek back uses, read as "to the end" */
        f = (struct rc_wav_fmt){.rate = 48000, .channels = 2, .block = 4};
        rc_wav_header(h, &f, RC_WAV_UNKNOWN);
        assert_int_equal(get32(h + 4), 0xffffffffu);
        assert_int_equal(get32(h + 40), 0xffffffffu);
        assert_int_equal(parse(h, sizeof(h), &g), 44);
        assert_int_equal(g.channels, 2);
        assert_true(g.data_size == RC_WAV_UNKNOWN);

        /* more than 32 bits of data: clamped so that the RIFF size still fits */
        rc_wav_header(h, &f, 5000000000u);
        assert_int_equal(get32(h + 4), 0xffffffffu);
        assert_int_equal(get32(h + 40), 0xffffffffu - 36);
}

/* Cut short at every length: "more bytes needed" (0), never an error or a read
 * past the end. */
static void test_truncated(void **state) {
        struct rc_wav_fmt f = {.rate = 22050, .channels = 1, .block = 2}, g;
        uint8_t h[RC_WAV_HDR_BYTES];

        (void)state;
        rc_wav_header(h, &f, 1000);
        for (size_t n = 0; n < sizeof(h); n++)
                assert_int_equal(parse(h, n, &g), 0);
}

/* Chunks before "fmt " and "data" are skipped, an odd size with its pad byte;
 * espeak-ng's placeholder sizes and 0 mean "to the end". */
static void test_chunks(void **state) {
        uint8_t p[256];
        size_t off = preamble(p), data_at;
        struct rc_wav_fmt g;

        (void)state;
        off = put(p, off, "junk", 4);
        off = put32(p, off, 3);
        off = put(p, off, "abc\0", 4); /* 3 bytes and the pad */
        off = fmt_chunk(p, off, 1, 1, 22050, 16, 2);
        off = put(p, off, "LIST", 4);
        off = put32(p, off, 4);
        off = put(p, off, "INFO", 4);
        data_at = off;
        off = put(p, off, "data", 4);
        off = put32(p, off, 0x7ffff000u);
        assert_int_equal(parse(p, off, &g), (int)(data_at + 8));
        assert_true(g.data_size == RC_WAV_UNKNOWN);
        put32(p, data_at + 4, 0);
        assert_int_equal(parse(p, off, &g), (int)(data_at + 8));
        assert_true(g.data_size == RC_WAV_UNKNOWN);
        put32(p, data_at + 4, 0x7fffefffu);
        assert_int_equal(parse(p, off, &g), (int)(data_at + 8));
        assert_int_equal(g.data_size, 0x7fffefffu);
        /* a truncation anywhere in it asks for more */
        for (size_t n = 0; n < off; n++)
                assert_int_equal(parse(p, n, &g), 0);
}

/* Not a WAV stream, data before "fmt ", a short "fmt ", nonsense formats. */
static void test_hostile(void **state) {
        uint8_t p[256];
        size_t off;
        struct rc_wav_fmt g;

        (void)state;
        off = preamble(p);
        memcpy(p, "RIFX", 4); /* big-endian RIFF: not ours */
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        assert_int_equal(parse(p, 4, &g), -EBADMSG); /* known from the first 4 bytes */
        off = preamble(p);
        memcpy(p + 8, "AVI ", 4);
        assert_int_equal(parse(p, off, &g), -EBADMSG);

        /* wrong chunk order: data before fmt */
        off = preamble(p);
        off = put(p, off, "data", 4);
        off = put32(p, off, 100);
        off = fmt_chunk(p, off, 1, 1, 22050, 16, 2);
        assert_int_equal(parse(p, off, &g), -EBADMSG);

        /* a "fmt " chunk shorter than its fields */
        off = preamble(p);
        off = put(p, off, "fmt ", 4);
        off = put32(p, off, 8);
        off = put(p, off, "\1\0\1\0\x22\x56\0\0", 8);
        off = put(p, off, "data", 4);
        off = put32(p, off, 0);
        assert_int_equal(parse(p, off, &g), -EBADMSG);

        /* other sample formats: 8-bit PCM, 32-bit float, extensible float */
        off = fmt_chunk(p, preamble(p), 1, 1, 22050, 8, 1);
        assert_int_equal(parse(p, off, &g), -ENOTSUP);
        off = fmt_chunk(p, preamble(p), 3, 1, 22050, 16, 2);
        assert_int_equal(parse(p, off, &g), -ENOTSUP);

        /* impossible 16-bit PCM: no channels, too many, a rate below 4000 Hz or above
         * 384 kHz, a block that is not 2 × channels */
        off = fmt_chunk(p, preamble(p), 1, 0, 22050, 16, 2);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        off = fmt_chunk(p, preamble(p), 1, 9, 22050, 16, 18);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        off = fmt_chunk(p, preamble(p), 1, 1, 1000, 16, 2);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        off = fmt_chunk(p, preamble(p), 1, 1, 0xffffffffu, 16, 2);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        off = fmt_chunk(p, preamble(p), 1, 2, 22050, 16, 2);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
}

/* Huge sizes: a chunk before "data" that claims more than a header may hold is
 * refused at once (not waited for), and so is a header that never reaches "data". */
static void test_huge(void **state) {
        uint8_t p[RC_WAV_HDR_MAX + 64];
        size_t off;
        struct rc_wav_fmt g;

        (void)state;
        off = preamble(p);
        off = put(p, off, "LIST", 4);
        off = put32(p, off, 0xfffffff0u);
        assert_int_equal(parse(p, off, &g), -EBADMSG);
        off = fmt_chunk(p, preamble(p), 1, 1, 22050, 16, 2);
        memcpy(p + 16, "\xff\xff\xff\x7f", 4); /* "fmt " of 2 GB */
        assert_int_equal(parse(p, off, &g), -EBADMSG);

        /* small unknown chunks, one after another, past RC_WAV_HDR_MAX */
        off = preamble(p);
        while (off + 108 <= sizeof(p)) {
                off = put(p, off, "pad ", 4);
                off = put32(p, off, 100);
                memset(p + off, 0, 100);
                off += 100;
        }
        assert_true(off >= RC_WAV_HDR_MAX);
        assert_int_equal(parse(p, RC_WAV_HDR_MAX - 200, &g), 0); /* may still come */
        assert_int_equal(parse(p, off, &g), -EBADMSG);
}

/* Extensible PCM (tag 0xFFFE, 40-byte "fmt ") is PCM: its subformat's tag counts. */
static void test_extensible(void **state) {
        uint8_t p[256];
        size_t off = preamble(p);
        struct rc_wav_fmt g;

        (void)state;
        off = put(p, off, "fmt ", 4);
        off = put32(p, off, 40);
        off = put16(p, off, 0xfffe);
        off = put16(p, off, 2);
        off = put32(p, off, 44100);
        off = put32(p, off, 44100 * 4);
        off = put16(p, off, 4);
        off = put16(p, off, 16);
        off = put16(p, off, 22); /* cbSize */
        off = put16(p, off, 16); /* valid bits */
        off = put32(p, off, 3);  /* channel mask */
        off = put16(p, off, 1);  /* the subformat GUID's first two bytes: PCM */
        memset(p + off, 0, 14);
        off += 14;
        off = put(p, off, "data", 4);
        off = put32(p, off, 400);
        assert_int_equal(parse(p, off, &g), (int)off);
        assert_int_equal(g.channels, 2);
        assert_int_equal(g.rate, 44100);
        assert_int_equal(g.data_size, 400);
        put16(p, 12 + 8 + 24, 3); /* extensible float */
        assert_int_equal(parse(p, off, &g), -ENOTSUP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_read), cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_chunks),     cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_huge),       cmocka_unit_test(test_extensible),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
