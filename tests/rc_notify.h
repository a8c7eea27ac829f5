/* rollcoach tests — systemd's side of the hub's notify socket, and traces from
 * scenario text: for tests that start `rollcoach run` as systemd would
 * (NOTIFY_SOCKET, WATCHDOG_USEC; sd_notify(3), sd_watchdog_enabled(3)).
 * Header-only, after rc_test.h. */
#pragma once

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/sim.h"

/* Simulate scenario text `scn` into a new file made from the mkstemp template
 * `path` (rewritten in place); `name` names the scenario in messages. */
static inline void rc_test_write_trace(char *path, const char *scn, const char *name) {
        struct rc_sim *sim;
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

        assert_non_null(f);
        assert_int_equal(rc_sim_new_from_string(scn, strlen(scn), name, &sim), 0);
        assert_int_equal(rc_sim_write_trace(sim, f), 0);
        rc_sim_free(sim);
        fclose(f);
}

/* Bind a datagram socket at DIR/notify, its path in ret_path; the fd. */
static inline int rc_notify_bind(const char *dir, char *ret_path, size_t len) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        snprintf(ret_path, len, "%s/notify", dir);
        assert_true(strlen(ret_path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, ret_path, strlen(ret_path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* The next datagram within timeout_ms, into buf (NUL-terminated); its length, or -1. */
static inline ssize_t rc_notify_next(int fd, char *buf, size_t len, int timeout_ms) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        ssize_t n;

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(fd, buf, len - 1, 0);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

/* SIGTERM to the hub `pid`, then what systemd expects: only WATCHDOG=1 (at most
 * `max` of them) until STOPPING=1, and exit status 0. */
static inline void rc_notify_expect_stop(int fd, pid_t pid, int max) {
        char buf[512];
        int status;

        kill(pid, SIGTERM);
        for (int i = 0; i < max; i++) {
                assert_true(rc_notify_next(fd, buf, sizeof(buf), 5000) > 0);
                if (strcmp(buf, "STOPPING=1") == 0)
                        break;
                assert_string_equal(buf, "WATCHDOG=1");
        }
        assert_string_equal(buf, "STOPPING=1");
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}
