#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum rc_log_level max_level = RC_LOG_INFO;
static rc_log_sink_fn sink;
static void *sink_userdata;
static const char *prefix;

void rc_log_set_prefix(const char *p) {
        prefix = p;
}

void rc_log_set_max_level(enum rc_log_level max) {
        max_level = max;
}

enum rc_log_level rc_log_get_max_level(void) {
        return max_level;
}

void rc_log_set_sink(rc_log_sink_fn fn, void *userdata) {
        sink = fn;
        sink_userdata = userdata;
}

static const struct {
        const char *name;
        enum rc_log_level level;
} level_names[] = {
        {"error", RC_LOG_ERR}, {"warning", RC_LOG_WARN}, {"notice", RC_LOG_NOTICE},
        {"info", RC_LOG_INFO}, {"debug", RC_LOG_DEBUG},
};

int rc_log_level_from_string(const char *s, enum rc_log_level *ret) {
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcmp(s, level_names[i].name) == 0) {
                        *ret = level_names[i].level;
                        return 0;
                }
        return -EINVAL;
}

static const char *level_name(enum rc_log_level level) {
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (level_names[i].level == level)
                        return level_names[i].name;
        return "log";
}

void rc_logv(enum rc_log_level level, const char *fmt, va_list ap) {
        char msg[1024];

        if (level > max_level)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (sink) {
                sink(level, msg, sink_userdata);
                return;
        }
        if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>%s\n", (int)level, msg);
        else
                fprintf(stderr, "%s: %s: %s\n", prefix ? prefix : "rollcoach", level_name(level),
                        msg);
}

void rc_log(enum rc_log_level level, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        rc_logv(level, fmt, ap);
        va_end(ap);
}
