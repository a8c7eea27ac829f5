/* The live hub with hostile plugins: `rollcoach run` over the BlueZ stand-in, as
 * systemd runs it (NOTIFY_SOCKET, WATCHDOG_USEC; see test_notify.c), with every
 * plugin of tests/hostile loaded beside a good one. Each hostile plugin attacks on
 * every motion event; before the sandbox bounded them, the first attack stalled
 * the loop for good (no WATCHDOG=1, SIGTERM unanswered).
 *
 * Checked: every hostile plugin is reported disabled; the watchdog pings go on
 * after that; the good plugin still logs and speaks after the last one was
 * disabled; SIGTERM gives STOPPING=1 and exit 0. The waits are on conditions, with
 * generous bounds only as failure guards. */
#include "rc_test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "rc_notify.h"
#include "rc_standin.h"

#define GUARD_MS 120000 /* failure guard for the whole wait: the machine may be loaded */

static struct rc_standin si;

static const char scenario[] = "# rollcoach-scenario 1\nroller r AA:BB:CC:00:30:02\n"
                               "r: roll 2.5 60 force=280\n";

static void copy_file(const char *from, const char *to) {
        FILE *in = fopen(from, "r"), *out = fopen(to, "w");
        char buf[4096];
        size_t n;

        assert_non_null(in);
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        assert_int_equal(fclose(out), 0);
}

/* Copy the .lua files of tests/hostile into dir; how many. */
static unsigned copy_hostile(const char *dir) {
        DIR *d = opendir(RC_SOURCE_DIR "/tests/hostile");
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char from[512], to[512];

                if (len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0)
                        continue;
                snprintf(from, sizeof(from), RC_SOURCE_DIR "/tests/hostile/%s", de->d_name);
                snprintf(to, sizeof(to), "%s/%s", dir, de->d_name);
                copy_file(from, to);
                n++;
        }
        closedir(d);
        return n;
}

static const char good[] = "coach.plugin{api = 1, name = 'good'}\n"
                           "local n = 0\n"
                           "coach.on('motion', function()\n"
                           "  n = n + 1\n"
                           "  if n % 10 == 0 then\n"
                           "    coach.log('info', 'good alive ' .. n)\n"
                           "    coach.say('info.good', 'still here ' .. n)\n"
                           "  end\n"
                           "end)\n";

/* Lines of `path` that contain `needle`. */
static unsigned count_lines(const char *path, const char *needle) {
        FILE *f = fopen(path, "r");
        char line[4096];
        unsigned n = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                n += strstr(line, needle) != NULL;
        fclose(f);
        return n;
}

static void test_hostile_plugins_live(void **state) {
        char trace[] = "/tmp/rc-hubsb-trace-XXXXXX", dir[] = "/tmp/rc-hubsb-XXXXXX";
        char sock_path[200], buf[512], err_path[256], actions_path[256], path[300];
        char conf_path[256];
        int fd, status = 0, watchdogs_after = 0;
        unsigned n_hostile, alive_at_disable = 0;
        bool ready = false, all_disabled = false;
        uint64_t start;
        pid_t hub;

        (void)state;
        rc_test_write_trace(trace, scenario, "hub-sandbox");
        assert_non_null(mkdtemp(dir));
        n_hostile = copy_hostile(dir);
        assert_true(n_hostile >= 20 && n_hostile < 32);
        snprintf(path, sizeof(path), "%s/good.lua", dir);
        {
                FILE *f = fopen(path, "w");

                assert_non_null(f);
                fputs(good, f);
                fclose(f);
        }
        snprintf(conf_path, sizeof(conf_path), "%s/hub.conf", dir);
        {
                FILE *f = fopen(conf_path, "w");

                assert_non_null(f);
                fputs("[session]\nroutine = none\n", f); /* free sessions: every plugin */
                fclose(f);
        }
        snprintf(err_path, sizeof(err_path), "%s/hub.err", dir);
        snprintf(actions_path, sizeof(actions_path), "%s/actions.jsonl", dir);

        assert_int_equal(rc_standin_bus_start(&si), 0);
        assert_int_equal(rc_standin_start(&si, trace, "--disconnect-delay", "0", NULL), 0);
        fd = rc_notify_bind(si.dir, sock_path, sizeof(sock_path));

        hub = fork();
        assert_true(hub >= 0);
        if (hub == 0) {
                int efd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

                dup2(efd, 2);
                prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test leaves no hub behind */
                setenv("NOTIFY_SOCKET", sock_path, 1);
                setenv("WATCHDOG_USEC", "400000", 1); /* a ping every 0.2 s */
                unsetenv("WATCHDOG_PID");
                execl(RC_PROGRAM, "rollcoach", "run", "--config", conf_path, "--bus", si.address,
                      "--plugins", dir, "--voice", "off", "--actions", actions_path, (char *)NULL);
                _exit(127);
        }
        /* until every hostile plugin is disabled, then two more pings and the good
         * plugin alive after the last disable */
        start = rc__standin_now_ms();
        for (;;) {
                unsigned alive;

                if (rc__standin_now_ms() - start > GUARD_MS ||
                    waitpid(hub, &status, WNOHANG) == hub) {
                        fprintf(stderr, "the hub's log:\n");
                        {
                                FILE *f = fopen(err_path, "r");
                                char line[1024];

                                while (f && fgets(line, sizeof(line), f))
                                        fputs(line, stderr);
                                if (f)
                                        fclose(f);
                        }
                        kill(hub, SIGKILL);
                        fail_msg("no progress: ready %d, all disabled %d, pings after %d", ready,
                                 all_disabled, watchdogs_after);
                }
                if (rc_notify_next(fd, buf, sizeof(buf), 100) > 0) {
                        if (strstr(buf, "READY=1"))
                                ready = true;
                        else if (strcmp(buf, "WATCHDOG=1") == 0 && all_disabled)
                                watchdogs_after++;
                }
                alive = count_lines(err_path, "plugin good: good alive");
                if (!all_disabled && count_lines(err_path, "disabled after") == n_hostile) {
                        all_disabled = true;
                        alive_at_disable = alive;
                }
                if (all_disabled && watchdogs_after >= 2 && alive > alive_at_disable)
                        break;
        }
        assert_true(ready);
        /* none of the good plugin's lines says it was disabled */
        assert_int_equal(count_lines(err_path, "plugin good disabled"), 0);

        rc_notify_expect_stop(fd, hub, 200);
        /* the good plugin spoke; no hostile one said it escaped */
        assert_true(count_lines(actions_path, "\"key\":\"info.good\"") >= 1);
        assert_int_equal(count_lines(actions_path, "info.escaped"), 0);
        close(fd);
        rc_standin_stop(&si);
        unlink(trace);
        snprintf(buf, sizeof(buf), "rm -rf %s", dir);
        assert_int_equal(system(buf), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hostile_plugins_live),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
