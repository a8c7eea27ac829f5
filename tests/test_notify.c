/* The hub under systemd: `rollcoach run` with NOTIFY_SOCKET and WATCHDOG_USEC set,
 * as systemd sets them for Type=notify and WatchdogSec= (sd_notify(3),
 * sd_watchdog_enabled(3)). This test plays systemd's side: it binds the notify
 * socket and reads what the hub sends — READY=1 once BlueZ's objects are mirrored,
 * WATCHDOG=1 every WatchdogSec/2, STOPPING=1 on SIGTERM, then exit 0. */
#include "rc_test.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "rc_standin.h"
#include "sim/sim.h"

static struct rc_standin si;

static void make_trace(char *path) {
        static const char scn[] = "# rollcoach-scenario 1\nroller r AA:BB:CC:00:30:01\n"
                                  "r: roll 2.5 30 force=280\n";
        struct rc_sim *sim;
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");

        assert_non_null(f);
        assert_int_equal(rc_sim_new_from_string(scn, strlen(scn), "notify", &sim), 0);
        assert_int_equal(rc_sim_write_trace(sim, f), 0);
        rc_sim_free(sim);
        fclose(f);
}

/* The next datagram within timeout_ms, into buf; its length, or -1. */
static ssize_t next_message(int fd, char *buf, size_t len, int timeout_ms) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        ssize_t n;

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(fd, buf, len - 1, 0);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

static void test_ready_watchdog_stopping(void **state) {
        char trace[] = "/tmp/rc-notify-trace-XXXXXX", sock_path[200], buf[512];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, status, watchdogs = 0, ready_at = -1;
        pid_t hub;

        (void)state;
        make_trace(trace);
        assert_int_equal(rc_standin_bus_start(&si), 0);
        assert_int_equal(rc_standin_start(&si, trace, "--disconnect-delay", "0", NULL), 0);

        snprintf(sock_path, sizeof(sock_path), "%s/notify", si.dir);
        assert_true(strlen(sock_path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

        hub = fork();
        assert_true(hub >= 0);
        if (hub == 0) {
                setenv("NOTIFY_SOCKET", sock_path, 1);
                setenv("WATCHDOG_USEC", "400000", 1); /* WatchdogSec=0.4s: a ping every 0.2 s */
                unsetenv("WATCHDOG_PID");
                execl(RC_PROGRAM, "rollcoach", "run", "--bus", si.address, "--no-plugins",
                      "--voice", "off", "--quiet", (char *)NULL);
                _exit(127);
        }
        /* READY=1 first, then watchdog pings every 0.2 s */
        for (int i = 0; i < 20 && watchdogs < 3; i++) {
                assert_true(next_message(fd, buf, sizeof(buf), 5000) > 0);
                if (strstr(buf, "READY=1")) {
                        assert_int_equal(ready_at, -1);
                        assert_int_equal(watchdogs, 0); /* the first message */
                        ready_at = i;
                } else if (strcmp(buf, "WATCHDOG=1") == 0) {
                        assert_true(ready_at >= 0);
                        watchdogs++;
                }
        }
        assert_int_equal(watchdogs, 3);
        kill(hub, SIGTERM);
        for (int i = 0; i < 20; i++) {
                assert_true(next_message(fd, buf, sizeof(buf), 5000) > 0);
                if (strcmp(buf, "STOPPING=1") == 0)
                        break;
                assert_string_equal(buf, "WATCHDOG=1");
        }
        assert_string_equal(buf, "STOPPING=1");
        assert_int_equal(waitpid(hub, &status, 0), hub);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        close(fd);
        rc_standin_stop(&si);
        unlink(trace);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready_watchdog_stopping),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
