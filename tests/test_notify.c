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

#include "rc_notify.h"
#include "rc_standin.h"

static struct rc_standin si;

static const char scenario[] = "# rollcoach-scenario 1\nroller r AA:BB:CC:00:30:01\n"
                               "r: roll 2.5 30 force=280\n";

static void test_ready_watchdog_stopping(void **state) {
        char trace[] = "/tmp/rc-notify-trace-XXXXXX", sock_path[200], buf[512];
        int fd, watchdogs = 0, ready_at = -1;
        pid_t hub;

        (void)state;
        rc_test_write_trace(trace, scenario, "notify");
        assert_int_equal(rc_standin_bus_start(&si), 0);
        assert_int_equal(rc_standin_start(&si, trace, "--disconnect-delay", "0", NULL), 0);

        fd = rc_notify_bind(si.dir, sock_path, sizeof(sock_path));

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
                assert_true(rc_notify_next(fd, buf, sizeof(buf), 5000) > 0);
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
        rc_notify_expect_stop(fd, hub, 20);
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
