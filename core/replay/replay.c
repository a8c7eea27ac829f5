#include "replay/replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

int rc_replay_run(FILE *f, const char *name, struct rc_session *s,
                  const struct rc_replay_opts *opts, struct rc_replay_stats *ret_stats) {
        struct rc_trace_reader *reader;
        struct rc_replay_stats st = {0};
        struct rc_notification n;
        int r;

        reader = malloc(sizeof(*reader)); /* its line buffers make it large for a stack */
        if (!reader)
                return -ENOMEM;
        rc_trace_reader_init(reader, f, name);
        while ((r = rc_trace_next(reader, &n)) > 0) {
                int64_t t_ms = (int64_t)(n.t_us / 1000);

                if (st.lines++ == 0) {
                        st.first_ms = t_ms;
                        r = rc_session_begin(s, t_ms, opts ? opts->routine : NULL,
                                             opts ? opts->step : NULL);
                        if (r < 0)
                                break;
                }
                st.last_ms = t_ms;
                if (opts && opts->advance)
                        opts->advance(t_ms, opts->userdata);
                if (s->ended) {
                        r = 0;
                        break;
                }
                if (rc_session_feed(s, &n) < 0)
                        st.rejected++;
                if (s->ended) {
                        r = 0;
                        break;
                }
        }
        st.malformed = reader->n_malformed;
        free(reader);
        if (r < 0) {
                if (ret_stats)
                        *ret_stats = st;
                return r;
        }
        if (st.lines == 0)
                rc_log_warning("%s: the trace holds no notifications", name);
        rc_session_end(s, st.last_ms, "end_of_trace");
        if (ret_stats)
                *ret_stats = st;
        return 0;
}
