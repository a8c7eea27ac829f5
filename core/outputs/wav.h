/* rollcoach — WAV headers: parsing a stream's (espeak-ng --stdout) and writing the
 * canonical 44-byte one. Pure: no I/O, no allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define RC_WAV_HDR_MAX 4096       /* a header, RIFF to the data chunk, must fit in this */
#define RC_WAV_HDR_BYTES 44       /* the canonical header rc_wav_header writes */
#define RC_WAV_UNKNOWN UINT64_MAX /* a data chunk that runs to the end of the stream */

/* 16-bit PCM: `block` is the bytes of one frame (2 × channels) */
struct rc_wav_fmt {
        unsigned rate, channels, block;
        uint64_t data_size; /* RC_WAV_UNKNOWN: to the end */
};

/* Parse the header at the start of the `n` bytes at `p`: RIFF/WAVE, chunks up to
 * "data" (others skipped, odd sizes padded), a 16-bit PCM (or extensible PCM)
 * "fmt " before it. Returns the offset of the first PCM byte, 0 if more bytes are
 * needed, -EBADMSG if it is not a WAV header that fits in RC_WAV_HDR_MAX, -ENOTSUP
 * for other sample formats. A data size of 0 or 0xFFFFFFFF, or espeak-ng's
 * placeholder 0x7FFFF000 and above, means "to the end of the stream" (a writer
 * that cannot seek back). */
int rc_wav_parse(const uint8_t *p, size_t n, struct rc_wav_fmt *ret);

/* The canonical header for `data` bytes of PCM in `f`'s format (RC_WAV_UNKNOWN:
 * the streaming sizes, 0xFFFFFFFF; sizes beyond 32 bits are clamped). */
void rc_wav_header(uint8_t h[RC_WAV_HDR_BYTES], const struct rc_wav_fmt *f, uint64_t data);

/* Bytes of PCM a second. */
double rc_wav_byte_rate(const struct rc_wav_fmt *f);
