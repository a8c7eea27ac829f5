/* rollcoach tests — a private D-Bus bus with the BlueZ stand-in on it
 * (tests/bluez-standin/README.md), for cmocka tests of anything that talks to
 * BlueZ. Header-only: include it in one test program.
 *
 *     struct rc_standin s;
 *
 *     assert_int_equal(rc_standin_bus_start(&s), 0);            // dbus-daemon
 *     assert_int_equal(rc_standin_start(&s, trace, "--speed", "4",
 *                                       "--disconnect-delay", "0", NULL), 0);
 *     ... connect to s.address, talk to org.bluez ...
 *     rc_standin_call(&s, "DropLink", "s", "AA:BB:CC:00:00:01");   // a knob
 *     rc_standin_restart(&s, trace, "--offset", "30", NULL);       // bluetoothd restarts
 *     rc_standin_stop(&s);                                         // everything, also at exit
 *
 * Every wait has a timeout (RC_STANDIN_TIMEOUT_MS), so a test never hangs; the
 * children die with the test process (PR_SET_PDEATHSIG) and an atexit handler
 * stops whatever is left, so a failing test leaves no process behind. The
 * stand-in's messages go to s->log_path; rc_standin_dump_log() prints them.
 *
 * Functions return 0 (or a positive value where said) or a negative errno; they
 * print why on stderr when they fail.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#ifndef RC_STANDIN_TIMEOUT_MS
#define RC_STANDIN_TIMEOUT_MS 30000 /* against a hang; a busy machine is slow */
#endif
#define RC_STANDIN_MAX_ARGS 32

struct rc_standin {
        char dir[128];      /* a temporary directory: the bus socket, the log */
        char address[384];  /* the bus address, for sd_bus_set_address() */
        pid_t bus_pid;      /* dbus-daemon, 0 when not running */
        pid_t pid;          /* the stand-in, 0 when not running */
        int last_status;    /* exit status of the last stand-in stopped (-1: killed) */
        char log_path[160]; /* the stand-in's stderr (appended across restarts) */
};

/* ---- internals --------------------------------------------------------------------- */

static inline uint64_t rc__standin_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline const char *rc__standin_program(void) {
        const char *p = getenv("RC_STANDIN_PROGRAM");

        if (p && *p)
                return p;
#ifdef RC_STANDIN_PROGRAM
        return RC_STANDIN_PROGRAM;
#else
        return "rollcoach-bluez-standin";
#endif
}

static inline const char *rc__standin_bus_conf(void) {
        const char *p = getenv("RC_STANDIN_BUS_CONF");

        if (p && *p)
                return p;
#ifdef RC_SOURCE_DIR
        return RC_SOURCE_DIR "/tests/bluez-standin/bus.conf";
#else
        return "tests/bluez-standin/bus.conf";
#endif
}

/* Wait for a child up to timeout_ms; returns its wait status, or -ETIMEDOUT. */
static inline int rc__standin_waitpid(pid_t pid, int timeout_ms) {
        uint64_t end = rc__standin_now_ms() + (uint64_t)timeout_ms;
        int status;

        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);

                if (k == pid)
                        return status;
                if (k < 0)
                        return -errno;
                if (rc__standin_now_ms() >= end)
                        return -ETIMEDOUT;
                usleep(5000);
        }
}

/* SIGTERM, then SIGKILL if it does not go within the timeout. Returns the exit
 * status (0..255), -1 if it died of a signal, or a negative errno. */
static inline int rc__standin_terminate(pid_t pid, int timeout_ms) {
        int st;

        if (pid <= 0)
                return -ESRCH;
        kill(pid, SIGTERM);
        st = rc__standin_waitpid(pid, timeout_ms);
        if (st == -ETIMEDOUT) {
                fprintf(stderr, "rc_standin: pid %d ignored SIGTERM, killing it\n", (int)pid);
                kill(pid, SIGKILL);
                st = rc__standin_waitpid(pid, timeout_ms);
        }
        if (st < 0)
                return st;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* What the atexit handler cleans up: children still running, directories still
 * there (by value, so a struct rc_standin on a test's stack may go away). */
#define RC__STANDIN_MAX_LIVE 16
static pid_t rc__standin_pids[RC__STANDIN_MAX_LIVE];
static char rc__standin_dirs[RC__STANDIN_MAX_LIVE][128];

static inline void rc__standin_rmdir(const char *dir) {
        static const char *const files[] = {"bus", "standin.log"};
        char path[256];

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                int k = snprintf(path, sizeof(path), "%s/%s", dir, files[i]);

                if (k > 0 && (size_t)k < sizeof(path))
                        unlink(path);
        }
        rmdir(dir);
}

static inline void rc__standin_atexit(void) {
        /* Stand-ins first (higher slots are filled later), then the buses. */
        for (int i = RC__STANDIN_MAX_LIVE; i-- > 0;)
                if (rc__standin_pids[i] > 0) {
                        rc__standin_terminate(rc__standin_pids[i], 2000);
                        rc__standin_pids[i] = 0;
                }
        for (int i = 0; i < RC__STANDIN_MAX_LIVE; i++)
                if (rc__standin_dirs[i][0]) {
                        rc__standin_rmdir(rc__standin_dirs[i]);
                        rc__standin_dirs[i][0] = '\0';
                }
}

static inline void rc__standin_track(pid_t pid, const char *dir) {
        static bool installed;

        if (!installed) {
                atexit(rc__standin_atexit);
                installed = true;
        }
        for (int i = 0; pid > 0 && i < RC__STANDIN_MAX_LIVE; i++)
                if (rc__standin_pids[i] <= 0) {
                        rc__standin_pids[i] = pid;
                        break;
                }
        for (int i = 0; dir && i < RC__STANDIN_MAX_LIVE; i++)
                if (!rc__standin_dirs[i][0]) {
                        snprintf(rc__standin_dirs[i], sizeof(rc__standin_dirs[i]), "%s", dir);
                        break;
                }
}

static inline void rc__standin_untrack(pid_t pid, const char *dir) {
        for (int i = 0; i < RC__STANDIN_MAX_LIVE; i++) {
                if (pid > 0 && rc__standin_pids[i] == pid)
                        rc__standin_pids[i] = 0;
                if (dir && strcmp(rc__standin_dirs[i], dir) == 0)
                        rc__standin_dirs[i][0] = '\0';
        }
}

/* In a child: die with the parent, and keep stdin away from the terminal. */
static inline void rc__standin_child_setup(void) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null >= 0)
                dup2(null, STDIN_FILENO);
}

/* The NULL-terminated arguments in ap into args (RC_STANDIN_MAX_ARGS at most), NULL
 * after them. */
static inline void rc__standin_args(const char *args[RC_STANDIN_MAX_ARGS + 1], va_list ap) {
        size_t n = 0;
        const char *a;

        while ((a = va_arg(ap, const char *)) && n < RC_STANDIN_MAX_ARGS)
                args[n++] = a;
        args[n] = NULL;
}

/* Stop the stand-in (rc__standin_terminate) and forget it; its status goes to
 * s->last_status and is returned. */
static inline int rc__standin_reap(struct rc_standin *s) {
        s->last_status = rc__standin_terminate(s->pid, RC_STANDIN_TIMEOUT_MS);
        rc__standin_untrack(s->pid, NULL);
        s->pid = 0;
        return s->last_status;
}

static inline void rc_standin_stop(struct rc_standin *s);

/* ---- the bus --------------------------------------------------------------------- */

/* Start a private dbus-daemon with tests/bluez-standin/bus.conf, its socket in a
 * new temporary directory. Fills s->address and s->bus_pid. */
static inline int rc_standin_bus_start(struct rc_standin *s) {
        char addr_opt[192];
        int pfd[2];
        pid_t pid;
        uint64_t end;
        size_t got = 0;

        memset(s, 0, sizeof(*s));
        s->last_status = -1;
        snprintf(s->dir, sizeof(s->dir), "/tmp/rc-standin-XXXXXX");
        if (!mkdtemp(s->dir)) {
                fprintf(stderr, "rc_standin: mkdtemp: %s\n", strerror(errno));
                return -errno;
        }
        snprintf(s->log_path, sizeof(s->log_path), "%s/standin.log", s->dir);
        snprintf(addr_opt, sizeof(addr_opt), "--address=unix:path=%s/bus", s->dir);
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(pfd[0]);
                close(pfd[1]);
                return -errno;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);

                rc__standin_child_setup();
                dup2(pfd[1], STDOUT_FILENO);
                if (null >= 0)
                        dup2(null, STDERR_FILENO); /* "Failed to set fd limit" and such */
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--nosyslog",
                       "--print-address", addr_opt, "--config-file", rc__standin_bus_conf(),
                       (char *)NULL);
                _exit(127);
        }
        close(pfd[1]);
        s->bus_pid = pid;
        rc__standin_track(pid, s->dir);
        end = rc__standin_now_ms() + RC_STANDIN_TIMEOUT_MS;
        while (got < sizeof(s->address) - 1) {
                struct pollfd p = {.fd = pfd[0], .events = POLLIN};
                int64_t left = (int64_t)(end - rc__standin_now_ms());
                ssize_t k;

                if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                        break;
                k = read(pfd[0], s->address + got, sizeof(s->address) - 1 - got);
                if (k <= 0)
                        break;
                got += (size_t)k;
                if (memchr(s->address, '\n', got))
                        break;
        }
        close(pfd[0]);
        s->address[got] = '\0';
        if (!strchr(s->address, '\n')) {
                fprintf(stderr, "rc_standin: dbus-daemon gave no address\n");
                rc_standin_stop(s);
                return -EIO;
        }
        *strchr(s->address, '\n') = '\0';
        return 0;
}

/* A new client connection to the private bus (caller unrefs it). */
static inline int rc_standin_connect(const struct rc_standin *s, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, s->address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_set_method_call_timeout(bus, (uint64_t)RC_STANDIN_TIMEOUT_MS * 1000);
        if (r < 0) {
                fprintf(stderr, "rc_standin: connecting to %s: %s\n", s->address, strerror(-r));
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* Whether a name has an owner on the bus: 1, 0, or a negative errno. */
static inline int rc_standin_name_has_owner(const struct rc_standin *s, const char *name) {
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        int has = 0, r;

        r = rc_standin_connect(s, &bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s", name);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? r : has;
}

/* The process that owns a name: its pid, 0 when nobody owns it, or a negative
 * errno. */
static inline int rc_standin_owner_pid(const struct rc_standin *s, const char *name) {
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        const char *owner;
        uint32_t pid = 0;
        int r;

        r = rc_standin_connect(s, &bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetNameOwner", NULL, &reply, "s", name);
        if (r < 0) {
                r = 0; /* NameHasNoOwner */
                goto out;
        }
        r = sd_bus_message_read(reply, "s", &owner);
        if (r >= 0) {
                sd_bus_message *m = NULL;

                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID", NULL,
                                       &m, "s", owner);
                if (r >= 0)
                        r = sd_bus_message_read(m, "u", &pid);
                sd_bus_message_unref(m);
        }
        if (r >= 0)
                r = (int)pid;
out:
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r;
}

/* ---- the stand-in ------------------------------------------------------------------- */

/* Start the stand-in on the bus with TRACE and extra arguments (argv-style, NULL
 * terminated; may be NULL), and wait until it owns org.bluez. -ECHILD if it
 * exited first (s->last_status says how: 4 when the name was taken). */
static inline int rc_standin_startv(struct rc_standin *s, const char *trace,
                                    const char *const *args) {
        const char *argv[RC_STANDIN_MAX_ARGS + 6];
        size_t n = 0;
        uint64_t end;
        pid_t pid;

        if (!s->bus_pid) {
                fprintf(stderr, "rc_standin: no bus (rc_standin_bus_start first)\n");
                return -ENOTCONN;
        }
        if (s->pid) {
                fprintf(stderr, "rc_standin: the stand-in is already running\n");
                return -EALREADY;
        }
        argv[n++] = rc__standin_program();
        argv[n++] = "--bus";
        argv[n++] = s->address;
        argv[n++] = trace;
        for (size_t i = 0; args && args[i]; i++) {
                if (i >= RC_STANDIN_MAX_ARGS)
                        return -E2BIG;
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                rc__standin_child_setup();
                if (log >= 0) {
                        dup2(log, STDERR_FILENO);
                        dup2(log, STDOUT_FILENO);
                }
                execv(argv[0], (char *const *)argv);
                fprintf(stderr, "rc_standin: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        s->pid = pid;
        rc__standin_track(pid, NULL);
        end = rc__standin_now_ms() + RC_STANDIN_TIMEOUT_MS;
        for (;;) {
                int st, owner = rc_standin_owner_pid(s, "org.bluez");
                pid_t k;

                if (owner == pid)
                        return 0;
                k = waitpid(pid, &st, WNOHANG);
                if (k == pid) {
                        rc__standin_untrack(pid, NULL);
                        s->pid = 0;
                        s->last_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                        fprintf(stderr,
                                "rc_standin: the stand-in exited (%d) before owning "
                                "org.bluez; its log: %s\n",
                                s->last_status, s->log_path);
                        return -ECHILD;
                }
                if (rc__standin_now_ms() >= end) {
                        fprintf(stderr, "rc_standin: org.bluez not owned after %d ms\n",
                                RC_STANDIN_TIMEOUT_MS);
                        return -ETIMEDOUT;
                }
                usleep(10000);
        }
}

/* The same with the extra arguments as a NULL-terminated list. */
static inline int rc_standin_start(struct rc_standin *s, const char *trace, ...) {
        const char *args[RC_STANDIN_MAX_ARGS + 1];
        va_list ap;

        va_start(ap, trace);
        rc__standin_args(args, ap);
        va_end(ap);
        return rc_standin_startv(s, trace, args);
}

/* Stop the stand-in (SIGTERM; SIGKILL after the timeout) and wait until the name
 * is released. Returns its exit status (0 is a clean exit), -1 if it died of a
 * signal, or a negative errno. */
static inline int rc_standin_kill(struct rc_standin *s) {
        uint64_t end;
        int st;

        if (!s->pid)
                return -ESRCH;
        st = rc__standin_reap(s);
        end = rc__standin_now_ms() + RC_STANDIN_TIMEOUT_MS;
        while (s->bus_pid && rc_standin_name_has_owner(s, "org.bluez") > 0 &&
               rc__standin_now_ms() < end)
                usleep(5000);
        return st;
}

/* Like bluetoothd restarting: stop the stand-in and start a new one on the same
 * bus, with these arguments. */
static inline int rc_standin_restart(struct rc_standin *s, const char *trace, ...) {
        const char *args[RC_STANDIN_MAX_ARGS + 1];
        va_list ap;

        va_start(ap, trace);
        rc__standin_args(args, ap);
        va_end(ap);
        if (s->pid)
                rc_standin_kill(s);
        return rc_standin_startv(s, trace, args);
}

/* Call a method of org.rollcoach.StandIn1 (the knobs): `types` and the arguments
 * as for sd_bus_call_method(). With ret_reply, the reply is handed over (caller
 * unrefs). Returns 0 or a negative errno (the D-Bus error is printed). */
static inline int rc_standin_call_reply(struct rc_standin *s, sd_bus_message **ret_reply,
                                        const char *method, const char *types, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus = NULL;
        va_list ap;
        int r;

        r = rc_standin_connect(s, &bus);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, "org.bluez", "/org/rollcoach/standin",
                                           "org.rollcoach.StandIn1", method);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_call(bus, m, (uint64_t)RC_STANDIN_TIMEOUT_MS * 1000, &error, &reply);
        if (r < 0)
                fprintf(stderr, "rc_standin: StandIn1.%s: %s: %s\n", method,
                        error.name ? error.name : "error",
                        error.message ? error.message : strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        if (r >= 0 && ret_reply)
                *ret_reply = reply;
        else
                sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? r : 0;
}

#define rc_standin_call(s, method, ...) rc_standin_call_reply(s, NULL, method, __VA_ARGS__)

/* One counter of StandIn1.Stats() ("connects", "AA:BB:CC:DD:EE:FF.sent", …). */
static inline int rc_standin_stat(struct rc_standin *s, const char *key, uint64_t *ret) {
        sd_bus_message *reply = NULL;
        const char *k;
        uint64_t v;
        int r;

        r = rc_standin_call_reply(s, &reply, "Stats", NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{st}");
        while (r >= 0 && (r = sd_bus_message_read(reply, "{st}", &k, &v)) > 0)
                if (strcmp(k, key) == 0) {
                        *ret = v;
                        sd_bus_message_unref(reply);
                        return 0;
                }
        sd_bus_message_unref(reply);
        return r < 0 ? r : -ENOENT;
}

/* Print the stand-in's log (for a failing test). */
static inline void rc_standin_dump_log(const struct rc_standin *s) {
        FILE *f = fopen(s->log_path, "r");
        char line[512];

        if (!f)
                return;
        fprintf(stderr, "---- %s ----\n", s->log_path);
        while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
        fclose(f);
}

/* Stop the stand-in and the bus, remove the directory. Safe to call twice. */
static inline void rc_standin_stop(struct rc_standin *s) {
        if (s->pid)
                rc__standin_reap(s);
        if (s->bus_pid) {
                rc__standin_terminate(s->bus_pid, RC_STANDIN_TIMEOUT_MS);
                rc__standin_untrack(s->bus_pid, NULL);
                s->bus_pid = 0;
        }
        if (s->dir[0]) {
                rc__standin_untrack(0, s->dir);
                rc__standin_rmdir(s->dir);
                s->dir[0] = '\0';
        }
}
