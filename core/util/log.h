/* rollcoach — leveled logging to stderr (journald reads it).
 *
 * Lines go to stderr as "PREFIX: LEVEL: message", PREFIX "rollcoach" or the
 * command's ("rollcoach replay": the prefix of its usage errors too). When stderr is connected to
 * the journal (JOURNAL_STREAM is set), each line is prefixed with the syslog
 * priority "<N>" instead, which journald turns into the entry's priority.
 * Tests can install a sink to capture messages. Not thread-safe: the hub runs
 * one loop thread. */
#pragma once

#include <stdarg.h>

enum rc_log_level {
        RC_LOG_ERR = 3, /* syslog priorities */
        RC_LOG_WARN = 4,
        RC_LOG_NOTICE = 5,
        RC_LOG_INFO = 6,
        RC_LOG_DEBUG = 7,
};

typedef void (*rc_log_sink_fn)(enum rc_log_level level, const char *msg, void *userdata);

/* Messages above (less important than) `max` are dropped. Default: RC_LOG_INFO. */
void rc_log_set_max_level(enum rc_log_level max);
enum rc_log_level rc_log_get_max_level(void);

/* The program's name in each line ("rollcoach replay"); NULL: "rollcoach". The
 * string must outlive the logging. */
void rc_log_set_prefix(const char *prefix);

/* Route messages to `fn` instead of stderr; NULL restores stderr. */
void rc_log_set_sink(rc_log_sink_fn fn, void *userdata);

/* Parse "error", "warning", "notice", "info", "debug"; -EINVAL otherwise. */
int rc_log_level_from_string(const char *s, enum rc_log_level *ret);

void rc_log(enum rc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rc_logv(enum rc_log_level level, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

#define rc_log_error(...) rc_log(RC_LOG_ERR, __VA_ARGS__)
#define rc_log_warning(...) rc_log(RC_LOG_WARN, __VA_ARGS__)
#define rc_log_notice(...) rc_log(RC_LOG_NOTICE, __VA_ARGS__)
#define rc_log_info(...) rc_log(RC_LOG_INFO, __VA_ARGS__)
#define rc_log_debug(...) rc_log(RC_LOG_DEBUG, __VA_ARGS__)
