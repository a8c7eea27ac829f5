/* rollcoach — WAV headers (wav.h). */
#include "outputs/wav.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "util/bytes.h"

#define HDR_MAX RC_WAV_HDR_MAX
#define UNKNOWN RC_WAV_UNKNOWN

double rc_wav_byte_rate(const struct rc_wav_fmt *f) {
        return (double)f->rate * f->block;
}

int rc_wav_parse(const uint8_t *p, size_t n, struct rc_wav_fmt *ret) {
        size_t off = 12;
        bool have_fmt = false;

        if (n >= 4 && memcmp(p, "RIFF", 4) != 0)
                return -EBADMSG;
        if (n >= 12 && memcmp(p + 8, "WAVE", 4) != 0)
                return -EBADMSG;
        for (;;) {
                uint32_t size;

                if (off + 8 > n)
                        return n >= HDR_MAX ? -EBADMSG : 0;
                size = rc_le32(p + off + 4);
                if (memcmp(p + off, "data", 4) == 0) {
                        if (!have_fmt)
                                return -EBADMSG;
                        ret->data_size = size == 0 || size >= 0x7ffff000u ? UNKNOWN : size;
                        return (int)(off + 8);
                }
                if (size > HDR_MAX)
                        return -EBADMSG;
                if (memcmp(p + off, "fmt ", 4) == 0) {
                        const uint8_t *f = p + off + 8;
                        unsigned tag, bits;

                        if (size < 16)
                                return -EBADMSG;
                        if (off + 8 + size > n)
                                return n >= HDR_MAX ? -EBADMSG : 0;
                        tag = rc_le16(f);
                        ret->channels = rc_le16(f + 2);
                        ret->rate = rc_le32(f + 4);
                        ret->block = rc_le16(f + 12);
                        bits = rc_le16(f + 14);
                        if (tag == 0xfffe && size >= 40) /* extensible: the subformat's tag */
                                tag = rc_le16(f + 24);
                        if (tag != 1 || bits != 16)
                                return -ENOTSUP;
                        if (ret->channels < 1 || ret->channels > 8 || ret->rate < 4000 ||
                            ret->rate > 384000 || ret->block != 2 * ret->channels)
                                return -EBADMSG;
                        have_fmt = true;
                }
                off += 8 + (size_t)size + (size & 1);
        }
}

/* The canonical 44-byte header for `data` bytes (UNKNOWN: the streaming sizes). */
void rc_wav_header(uint8_t h[RC_WAV_HDR_BYTES], const struct rc_wav_fmt *f, uint64_t data) {
        uint32_t d = data > 0xffffffffu - 36 ? 0xffffffffu - 36 : (uint32_t)data;

        memcpy(h, "RIFF", 4);
        rc_put_le32(h + 4, data == UNKNOWN ? 0xffffffffu : 36 + d);
        memcpy(h + 8, "WAVEfmt ", 8);
        rc_put_le32(h + 16, 16);
        rc_put_le16(h + 20, 1);
        rc_put_le16(h + 22, (uint16_t)f->channels);
        rc_put_le32(h + 24, f->rate);
        rc_put_le32(h + 28, f->rate * f->block);
        rc_put_le16(h + 32, (uint16_t)f->block);
        rc_put_le16(h + 34, 16);
        memcpy(h + 36, "data", 4);
        rc_put_le32(h + 40, data == UNKNOWN ? 0xffffffffu : d);
}
