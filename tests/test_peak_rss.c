/* Tests of the peak resident memory figure (core/util/peak_rss.h).
 *
 * Ground truth is memory this test touches itself: TOUCH_MB of pages written one
 * by one are resident at once, so the peak is at least that. The point of the
 * helper is a program started by a bigger one: after fork + exec, getrusage's
 * ru_maxrss keeps the peak of the process before the exec (the kernel records the
 * old memory's high-water mark in the process at exec), so a small program
 * started by this one, after it touched TOUCH_MB, would report at least that.
 * The test runs itself again that way (--report-peak) and checks that the
 * child's figure is its own (well under TOUCH_MB), and prints the child's
 * ru_maxrss next to it to show the difference. */
#include "rc_test.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/peak_rss.h"

#define TOUCH_MB 96

static char *self_path;

static void test_peak_grows_with_touched_memory(void **unused) {
        long before = -1, after = -1;
        size_t size = (size_t)TOUCH_MB << 20;
        volatile char *p;

        (void)unused;
        assert_int_equal(rc_peak_rss_kb(&before), 0);
        assert_true(before > 0);
        p = malloc(size);
        assert_non_null(p);
        for (size_t i = 0; i < size; i += 4096)
                p[i] = 1;
        assert_int_equal(rc_peak_rss_kb(&after), 0);
        print_message("peak before %ld kB, after touching %d MiB %ld kB\n", before, TOUCH_MB,
                      after);
        assert_true(after >= (long)TOUCH_MB * 1024);
        assert_true(after >= before);
        free((void *)p);
}

/* A child exec'd by this process after it touched TOUCH_MB reports its own peak. */
static void test_child_after_exec_reports_its_own_peak(void **unused) {
        size_t size = (size_t)TOUCH_MB << 20;
        volatile char *p = malloc(size);
        int fds[2];
        char buf[128] = "";
        long child_peak = -1, child_maxrss = -1;
        int status;
        ssize_t n;
        pid_t pid;

        (void)unused;
        assert_non_null(p);
        for (size_t i = 0; i < size; i += 4096)
                p[i] = 1;
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                execl(self_path, self_path, "--report-peak", (char *)NULL);
                _exit(127);
        }
        close(fds[1]);
        n = read(fds[0], buf, sizeof(buf) - 1);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_int_equal(sscanf(buf, "%ld %ld", &child_peak, &child_maxrss), 2);
        print_message("the child: peak %ld kB (VmHWM), ru_maxrss %ld kB; this process touched "
                      "%d MiB before starting it\n",
                      child_peak, child_maxrss, TOUCH_MB);
        assert_true(child_peak > 0);
        assert_true(child_peak < (long)TOUCH_MB * 1024 / 2);
        free((void *)p);
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_peak_grows_with_touched_memory),
                cmocka_unit_test(test_child_after_exec_reports_its_own_peak),
        };

        if (argc == 2 && strcmp(argv[1], "--report-peak") == 0) {
                struct rusage ru;
                long kb;
                int r = rc_peak_rss_kb(&kb);

                if (r < 0) {
                        fprintf(stderr, "rc_peak_rss_kb: %s\n", strerror(-r));
                        return 1;
                }
                getrusage(RUSAGE_SELF, &ru);
                printf("%ld %ld\n", kb, ru.ru_maxrss);
                return 0;
        }
        self_path = argv[0];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
