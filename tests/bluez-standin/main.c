/* rollcoach-bluez-standin — a BlueZ look-alike on a private D-Bus bus that plays
 * the devices of a trace file (tests/bluez-standin/README.md).
 *
 *   rollcoach-bluez-standin --bus ADDRESS TRACE [options]
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 when the bus goes away or the loop
 * fails, 2 for a usage error, 3 for a trace that cannot be used, 4 when
 * org.bluez is already owned on the bus.
 */
#include "standin.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t t0_us;

static uint64_t monotonic_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sti_now(struct sti *si) {
        return monotonic_us();
}

uint64_t sti_rand(struct sti *si) {
        uint64_t z = (si->rng += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

void sti_exit(struct sti *si, int status) {
        if (si->exiting)
                return;
        si->exiting = true;
        si->exit_status = status;
        sd_event_exit(si->event, status);
}

static void log_sink(enum rc_log_level level, const char *msg, void *userdata) {
        double t = (double)(monotonic_us() - t0_us) / 1e6;
        const char *what = level <= RC_LOG_ERR    ? "error: "
                           : level == RC_LOG_WARN ? "warning: "
                                                  : "";

        fprintf(stderr, "bluez-standin[%.3f]: %s%s\n", t, what, msg);
}

static void usage(FILE *f) {
        fputs("usage: rollcoach-bluez-standin --bus ADDRESS TRACE [options]\n"
              "\n"
              "Owns org.bluez on the bus at ADDRESS and behaves as bluetoothd does, playing\n"
              "the devices of TRACE (a rollcoach trace). Options:\n"
              "  --speed F              trace seconds per second (default 1; up to 1000)\n"
              "  --offset S             start the trace S seconds in (default 0)\n"
              "  --decoy N              add N unrelated LE devices (0..16, default 0)\n"
              "  --no-acquire-notify    no AcquireNotify (no NotifyAcquired; NotSupported)\n"
              "  --gatt-cache MODE      always (BlueZ's default: GATT objects stay after a\n"
              "                         disconnection) or no (they are removed)\n"
              "  --connect-delay MS     link set-up time of Connect (default 100)\n"
              "  --resolve-delay MS     service discovery after the reply (default 50)\n"
              "  --disconnect-delay MS  Disconnect's wait before dropping (default 2000)\n"
              "  --disconnect-reply-delay MS\n"
              "                         Disconnect's reply this long after the link drops\n"
              "                         (its sockets hang up and signals go first; default 0)\n"
              "  --absent-timeout MS    Connect to a device that is off fails after\n"
              "                         this (default 5000)\n"
              "  --mtu N                ATT MTU (23..517, default 247)\n"
              "  --rssi-period MS       RSSI updates while discovering (default 1000)\n"
              "  --seed N               seed of RSSI and addresses (default 1)\n"
              "  -v, --verbose          debug messages\n"
              "  -q, --quiet            warnings and errors only\n"
              "  -h, --help\n",
              f);
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
                return false;
        *ret = (uint32_t)v;
        return true;
}

static bool parse_double(const char *s, double lo, double hi, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
                return false;
        *ret = v;
        return true;
}

enum {
        OPT_BUS = 0x100,
        OPT_SPEED,
        OPT_OFFSET,
        OPT_DECOY,
        OPT_NO_ACQUIRE,
        OPT_CACHE,
        OPT_CONNECT_DELAY,
        OPT_RESOLVE_DELAY,
        OPT_DISCONNECT_DELAY,
        OPT_DISCONNECT_REPLY_DELAY,
        OPT_ABSENT,
        OPT_MTU,
        OPT_RSSI,
        OPT_SEED,
};

static int parse_args(int argc, char **argv, struct sti_options *o) {
        static const struct option longopts[] = {
                {"bus", required_argument, NULL, OPT_BUS},
                {"speed", required_argument, NULL, OPT_SPEED},
                {"offset", required_argument, NULL, OPT_OFFSET},
                {"decoy", required_argument, NULL, OPT_DECOY},
                {"no-acquire-notify", no_argument, NULL, OPT_NO_ACQUIRE},
                {"gatt-cache", required_argument, NULL, OPT_CACHE},
                {"connect-delay", required_argument, NULL, OPT_CONNECT_DELAY},
                {"resolve-delay", required_argument, NULL, OPT_RESOLVE_DELAY},
                {"disconnect-delay", required_argument, NULL, OPT_DISCONNECT_DELAY},
                {"disconnect-reply-delay", required_argument, NULL, OPT_DISCONNECT_REPLY_DELAY},
                {"absent-timeout", required_argument, NULL, OPT_ABSENT},
                {"mtu", required_argument, NULL, OPT_MTU},
                {"rssi-period", required_argument, NULL, OPT_RSSI},
                {"seed", required_argument, NULL, OPT_SEED},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c;

        *o = (struct sti_options){
                .speed = 1.0,
                .acquire_notify = true,
                .cache = STI_CACHE_ALWAYS,
                .connect_delay_ms = 100,
                .resolve_delay_ms = 50,
                .disconnect_delay_ms = 2000,
                .absent_timeout_ms = 5000,
                .mtu = 247,
                .rssi_period_ms = 1000,
                .seed = 1,
        };
        while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
                uint32_t u;
                double f;

                switch (c) {
                case OPT_BUS:
                        o->bus_address = optarg;
                        break;
                case OPT_SPEED:
                        if (!parse_double(optarg, 1e-3, 1000, &f)) {
                                fprintf(stderr, "--speed: a number from 0.001 to 1000\n");
                                return -EINVAL;
                        }
                        o->speed = f;
                        break;
                case OPT_OFFSET:
                        if (!parse_double(optarg, 0, 4.0 * 24 * 3600, &f)) {
                                fprintf(stderr, "--offset: seconds, 0 or more\n");
                                return -EINVAL;
                        }
                        o->offset_us = (uint64_t)llround(f * 1e6);
                        break;
                case OPT_DECOY:
                        if (!parse_u32(optarg, 0, STI_MAX_DECOYS, &o->decoys)) {
                                fprintf(stderr, "--decoy: 0..%d\n", STI_MAX_DECOYS);
                                return -EINVAL;
                        }
                        break;
                case OPT_NO_ACQUIRE:
                        o->acquire_notify = false;
                        break;
                case OPT_CACHE:
                        if (strcmp(optarg, "always") == 0)
                                o->cache = STI_CACHE_ALWAYS;
                        else if (strcmp(optarg, "no") == 0 || strcmp(optarg, "yes") == 0)
                                o->cache = STI_CACHE_NO; /* "yes" caches paired devices only */
                        else {
                                fprintf(stderr, "--gatt-cache: always, yes or no\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_CONNECT_DELAY:
                case OPT_RESOLVE_DELAY:
                case OPT_DISCONNECT_DELAY:
                case OPT_DISCONNECT_REPLY_DELAY:
                case OPT_ABSENT:
                case OPT_RSSI:
                        if (!parse_u32(optarg, c == OPT_RSSI ? 10 : 0, 600000, &u)) {
                                fprintf(stderr, "%s: milliseconds, up to 600000\n",
                                        argv[optind - 1]);
                                return -EINVAL;
                        }
                        if (c == OPT_CONNECT_DELAY)
                                o->connect_delay_ms = u;
                        else if (c == OPT_RESOLVE_DELAY)
                                o->resolve_delay_ms = u;
                        else if (c == OPT_DISCONNECT_DELAY)
                                o->disconnect_delay_ms = u;
                        else if (c == OPT_DISCONNECT_REPLY_DELAY)
                                o->disconnect_reply_delay_ms = u;
                        else if (c == OPT_ABSENT)
                                o->absent_timeout_ms = u;
                        else
                                o->rssi_period_ms = u;
                        break;
                case OPT_MTU:
                        if (!parse_u32(optarg, 23, 517, &u)) {
                                fprintf(stderr, "--mtu: 23..517\n");
                                return -EINVAL;
                        }
                        o->mtu = (uint16_t)u;
                        break;
                case OPT_SEED:
                        if (!parse_u32(optarg, 0, UINT32_MAX, &u)) {
                                fprintf(stderr, "--seed: an unsigned integer\n");
                                return -EINVAL;
                        }
                        o->seed = u;
                        break;
                case 'v':
                        o->verbose = true;
                        rc_log_set_max_level(RC_LOG_DEBUG);
                        break;
                case 'q':
                        rc_log_set_max_level(RC_LOG_WARN);
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        return -EINVAL;
                }
        }
        if (optind != argc - 1 || !o->bus_address) {
                fprintf(stderr, "rollcoach-bluez-standin: %s\n",
                        !o->bus_address ? "--bus ADDRESS is required" : "one TRACE is required");
                return -EINVAL;
        }
        o->trace_path = argv[optind];
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si_, void *userdata) {
        struct sti *si = userdata;

        rc_log_info("signal %u: exiting", si_->ssi_signo);
        sti_exit(si, 0);
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        struct sti *si = userdata;

        /* bluetoothd: "Disconnected from D-Bus. Exiting." */
        rc_log_error("disconnected from the bus: exiting");
        sti_exit(si, 1);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        struct sti *si = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] != ':' || new_owner[0] != '\0')
                return 0;
        /* A client left: its discovery session and StartNotify sessions end. */
        sti_adapter_client_gone(si, name);
        sti_gatt_client_gone(si, name);
        return 0;
}

static int connect_bus(struct sti *si) {
        int r;

        r = sd_bus_new(&si->bus);
        if (r >= 0)
                r = sd_bus_set_address(si->bus, si->opt.bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(si->bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(si->bus, 1);
        if (r >= 0)
                r = sd_bus_start(si->bus);
        if (r < 0) {
                rc_log_error("cannot connect to the bus at %s: %s", si->opt.bus_address,
                             strerror(-r));
                return r;
        }
        r = sd_bus_attach_event(si->bus, si->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_match_signal(si->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected",
                                        on_disconnected, si);
        if (r >= 0)
                r = sd_bus_match_signal(si->bus, NULL, "org.freedesktop.DBus",
                                        "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                        "NameOwnerChanged", on_name_owner_changed, si);
        if (r >= 0)
                r = sti_objects_attach(si);
        if (r < 0)
                rc_log_error("setting up the bus: %s", strerror(-r));
        return r;
}

int main(int argc, char **argv) {
        struct sti *si;
        sigset_t mask;
        int r, status = 1;

        t0_us = monotonic_us();
        rc_log_set_sink(log_sink, NULL);
        si = calloc(1, sizeof(*si));
        if (!si) {
                fprintf(stderr, "rollcoach-bluez-standin: out of memory\n");
                return 1;
        }
        if (parse_args(argc, argv, &si->opt) < 0) {
                usage(stderr);
                free(si);
                return 2;
        }
        si->rng = si->opt.seed;
        si->powered = true;
        si->pairable = true;
        si->connectable = true;
        si->discoverable_timeout = 180;

        r = sti_model_scan(si);
        if (r < 0) {
                status = 3;
                goto out;
        }
        r = sti_model_build_devices(si);
        if (r < 0) {
                rc_log_error("building the devices: %s", strerror(-r));
                goto out;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_new(&si->event);
        if (r >= 0)
                r = sd_event_add_signal(si->event, NULL, SIGTERM, on_signal, si);
        if (r >= 0)
                r = sd_event_add_signal(si->event, NULL, SIGINT, on_signal, si);
        if (r < 0) {
                rc_log_error("event loop: %s", strerror(-r));
                goto out;
        }
        r = connect_bus(si);
        if (r < 0)
                goto out;

        r = sd_bus_request_name(si->bus, STI_BLUEZ_NAME, 0);
        if (r < 0) {
                if (r == -EEXIST)
                        rc_log_error("%s is already owned on this bus (bluetoothd or another "
                                     "stand-in?): not starting",
                                     STI_BLUEZ_NAME);
                else
                        rc_log_error("cannot own %s: %s", STI_BLUEZ_NAME, strerror(-r));
                status = 4;
                goto out;
        }
        si->start_wall = sti_now(si);
        r = sti_playback_start(si);
        if (r < 0)
                goto out;
        rc_log_info("%s on %s: %zu device(s) from %s, %u decoy(s), speed %g, offset %.3f s",
                    STI_BLUEZ_NAME, si->opt.bus_address, si->n_tdevs, si->opt.trace_path,
                    si->opt.decoys, si->opt.speed, (double)si->opt.offset_us / 1e6);

        r = sd_event_loop(si->event);
        status = r < 0 ? 1 : si->exiting ? si->exit_status : r;
        if (r < 0)
                rc_log_error("event loop: %s", strerror(-r));

out:
        if (si->bus) {
                sti_flush(si);
                (void)sd_bus_release_name(si->bus, STI_BLUEZ_NAME);
        }
        sti_devices_free(si);
        sti_adapter_free(si);
        sti_objects_free(si);
        if (si->bus)
                si->bus = sd_bus_flush_close_unref(si->bus);
        si->event = sd_event_unref(si->event);
        sti_model_free(si);
        free(si);
        return status;
}
