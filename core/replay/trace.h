/* rollcoach — the raw notification and the trace format (spec/trace-format.md).
 *
 * A raw notification is the single entry point of the data path: live BLE,
 * trace replay and the simulator all produce these. The trace reader parses a
 * trace file line by line; a malformed line is reported (file:line: why),
 * counted by reason and skipped, and reading goes on. The writer produces
 * exactly what the reader accepts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/ids.h"

#define RC_TRACE_MAGIC "# rollcoach-trace 1"
#define RC_TRACE_MAX_PAYLOAD 512
/* Longest valid line: t_us (20) + addr (17) + uuid (36) + payload (1024) + commas + CR. */
#define RC_TRACE_MAX_LINE 1120
/* What is read of a file that is not a trace (e.g. /dev/zero) is bounded: a line
 * longer than this is not skipped but ends the replay (-EBADMSG), and the header
 * must come within the first RC_TRACE_MAX_BLANK lines. */
#define RC_TRACE_MAX_SKIP (1 << 20)
#define RC_TRACE_MAX_BLANK 1000

enum rc_what {
        RC_WHAT_CONNECT,
        RC_WHAT_DISCONNECT,
        RC_WHAT_VALUE, /* a notification, or the value of a read */
};

/* One received notification. `data` points at storage owned by whoever produced
 * it (the reader's buffer, the gateway's read buffer) and is valid until the
 * producer's next call; consumers copy what they keep. */
struct rc_notification {
        uint64_t t_us; /* host receive time, µs since the session/trace started */
        rc_addr addr;
        enum rc_what what;
        rc_uuid uuid; /* RC_WHAT_VALUE only */
        size_t len;   /* 0..RC_TRACE_MAX_PAYLOAD */
        const uint8_t *data;
        uint64_t line; /* its line in a trace file (for messages), 0 when not from a trace */
};

/* Why a trace line was rejected. */
enum rc_trace_error {
        RC_TRACE_ERR_FIELDS,    /* not exactly 4 comma-separated fields */
        RC_TRACE_ERR_TIME,      /* t_us not an unsigned decimal integer fitting in 64 bits */
        RC_TRACE_ERR_BACKWARDS, /* t_us smaller than the previous line's */
        RC_TRACE_ERR_ADDRESS,   /* device address malformed */
        RC_TRACE_ERR_WHAT,      /* neither a UUID nor connect/disconnect */
        RC_TRACE_ERR_PAYLOAD,   /* payload not lower-case hex of even length, or non-empty on
                                   connect/disconnect */
        RC_TRACE_ERR_TOO_LONG,  /* payload over 512 bytes or line over RC_TRACE_MAX_LINE */
        RC_TRACE_ERR_NUL,       /* a NUL byte in the line */
        RC_TRACE_ERR__COUNT,
};
const char *rc_trace_error_name(enum rc_trace_error e);

struct rc_trace_reader {
        FILE *f;
        const char *name; /* for messages, e.g. the path */
        uint64_t line_no; /* of the line last read */
        uint64_t last_t_us;
        bool header_seen;
        uint64_t n_lines;     /* notification lines returned */
        uint64_t n_malformed; /* lines rejected */
        uint64_t n_by_error[RC_TRACE_ERR__COUNT];
        uint8_t payload[RC_TRACE_MAX_PAYLOAD];
        char line[RC_TRACE_MAX_LINE + 2];
};

/* Start reading `f` (not owned, not closed). `name` is used in messages and must
 * outlive the reader. */
void rc_trace_reader_init(struct rc_trace_reader *r, FILE *f, const char *name);

/* Read the next notification into *ret (its data points into the reader).
 * Returns 1 for a notification, 0 at end of file, -EBADMSG if the first
 * non-blank line is not RC_TRACE_MAGIC (nothing can be trusted then) or a line
 * is longer than RC_TRACE_MAX_SKIP (not a trace), -EIO on a
 * read error. Malformed lines are logged as "NAME:LINE: reason", counted, and
 * skipped. */
int rc_trace_next(struct rc_trace_reader *r, struct rc_notification *ret);

/* Write the header line. Returns 0 or -EIO. */
int rc_trace_write_header(FILE *f);
/* Write one notification as a trace line. -EINVAL if it cannot be represented
 * (payload over 512 bytes, or a payload on connect/disconnect); -EIO on write error. */
int rc_trace_write(FILE *f, const struct rc_notification *n);
