/* bench_client — the floor for the gateway benchmark: a minimal BlueZ client that
 * only receives notifications. It connects every device advertising a rollcoach
 * service, subscribes to their notify characteristics (AcquireNotify, or
 * StartNotify with --signal), counts what arrives for --duration seconds, and
 * prints its own CPU time (getrusage) per notification and its peak RSS (VmHWM). No
 * decoding, no analysis, blocking calls: the least a receiver can do.
 *
 *   bench_client --bus ADDRESS [--signal] [--duration S]
 * Output (one line): notifications=N cpu_us=U us_per_notification=X total_cpu_us=T
 * peak_rss_kb=K, where N and U count from the first notification on (steady state). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "util/peak_rss.h"

#define MAX_FDS 64

static uint64_t received, first_at;
static double cpu_first_us;

static double cpu_us(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}
static int fds[MAX_FDS];
static unsigned n_fds;

static const char *const services[] = {"caf70001-e46c-49f3-98a8-0c9d2480bb18",
                                       "caf70101-e46c-49f3-98a8-0c9d2480bb18",
                                       "0000180d-0000-1000-8000-00805f9b34fb"};
static const char *const notify_chars[] = {
        "caf70002-e46c-49f3-98a8-0c9d2480bb18", "caf70003-e46c-49f3-98a8-0c9d2480bb18",
        "caf70102-e46c-49f3-98a8-0c9d2480bb18", "00002a37-0000-1000-8000-00805f9b34fb"};

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool listed(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(s, list[i]) == 0)
                        return true;
        return false;
}

/* Paths of objects with interface `iface` whose "UUID"/"UUIDs" property matches
 * `list`, and (for characteristics) that lie below `under`. */
static unsigned find(sd_bus *bus, const char *iface, const char *key, const char *const *list,
                     size_t n, const char *under, char paths[][192], unsigned max) {
        sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        unsigned found = 0;
        const char *path;

        if (sd_bus_call_method(bus, "org.bluez", "/", "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &e, &m, NULL) < 0) {
                fprintf(stderr, "bench_client: GetManagedObjects: %s\n", e.message);
                exit(1);
        }
        sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        while (sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}") > 0) {
                sd_bus_message_read(m, "o", &path);
                sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
                while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
                        const char *ifc, *k, *v;
                        bool match = false;

                        sd_bus_message_read(m, "s", &ifc);
                        sd_bus_message_enter_container(m, 'a', "{sv}");
                        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                                sd_bus_message_read(m, "s", &k);
                                if (strcmp(ifc, iface) == 0 && strcmp(k, key) == 0 &&
                                    strcmp(key, "UUIDs") == 0) {
                                        sd_bus_message_enter_container(m, 'v', "as");
                                        sd_bus_message_enter_container(m, 'a', "s");
                                        while (sd_bus_message_read(m, "s", &v) > 0)
                                                match |= listed(v, list, n);
                                        sd_bus_message_exit_container(m);
                                        sd_bus_message_exit_container(m);
                                } else if (strcmp(ifc, iface) == 0 && strcmp(k, key) == 0) {
                                        sd_bus_message_read(m, "v", "s", &v);
                                        match = listed(v, list, n);
                                } else {
                                        sd_bus_message_skip(m, "v");
                                }
                                sd_bus_message_exit_container(m);
                        }
                        sd_bus_message_exit_container(m);
                        sd_bus_message_exit_container(m);
                        if (match && found < max &&
                            (!under || strncmp(path, under, strlen(under)) == 0))
                                snprintf(paths[found++], 192, "%s", path);
                }
                sd_bus_message_exit_container(m);
                sd_bus_message_exit_container(m);
        }
        sd_bus_message_unref(m);
        return found;
}

static int on_value(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *iface;

        (void)userdata;
        (void)ret_error;
        if (sd_bus_message_read(m, "s", &iface) >= 0 &&
            strcmp(iface, "org.bluez.GattCharacteristic1") == 0)
                received++;
        return 0;
}

static void connect_device(sd_bus *bus, const char *dev, bool signal) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        char chars[16][192];
        unsigned n;
        int resolved = 0;

        if (sd_bus_call_method(bus, "org.bluez", dev, "org.bluez.Device1", "Connect", &e, NULL,
                               NULL) < 0 &&
            !sd_bus_error_has_name(&e, "org.bluez.Error.AlreadyConnected")) {
                fprintf(stderr, "bench_client: %s: Connect: %s\n", dev, e.message);
                sd_bus_error_free(&e);
                return;
        }
        sd_bus_error_free(&e);
        for (int i = 0; i < 300 && !resolved; i++) {
                sd_bus_get_property_trivial(bus, "org.bluez", dev, "org.bluez.Device1",
                                            "ServicesResolved", NULL, 'b', &resolved);
                if (!resolved)
                        usleep(10000);
        }
        n = find(bus, "org.bluez.GattCharacteristic1", "UUID", notify_chars, 4, dev, chars, 16);
        for (unsigned i = 0; i < n; i++) {
                sd_bus_message *reply = NULL;
                int fd;
                uint16_t mtu;

                if (signal) {
                        sd_bus_call_method(bus, "org.bluez", chars[i],
                                           "org.bluez.GattCharacteristic1", "StartNotify", NULL,
                                           NULL, NULL);
                        continue;
                }
                if (sd_bus_call_method(bus, "org.bluez", chars[i], "org.bluez.GattCharacteristic1",
                                       "AcquireNotify", &e, &reply, "a{sv}", 0) < 0) {
                        fprintf(stderr, "bench_client: %s: AcquireNotify: %s\n", chars[i],
                                e.message);
                        sd_bus_error_free(&e);
                        continue;
                }
                if (sd_bus_message_read(reply, "hq", &fd, &mtu) >= 0 && n_fds < MAX_FDS)
                        fds[n_fds++] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                sd_bus_message_unref(reply);
        }
}

int main(int argc, char **argv) {
        static const struct option options[] = {{"bus", required_argument, NULL, 'b'},
                                                {"signal", no_argument, NULL, 's'},
                                                {"duration", required_argument, NULL, 'd'},
                                                {0}};
        const char *address = NULL;
        bool signal = false;
        double duration = 10, end;
        char devices[16][192];
        unsigned n;
        sd_bus *bus = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c == 'b')
                        address = optarg;
                else if (c == 's')
                        signal = true;
                else if (c == 'd')
                        duration = strtod(optarg, NULL);
                else
                        return 2;
        }
        if (!address || sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                fprintf(stderr, "usage: bench_client --bus ADDRESS [--signal] [--duration S]\n");
                return 2;
        }
        if (signal)
                sd_bus_match_signal(bus, NULL, "org.bluez", NULL, "org.freedesktop.DBus.Properties",
                                    "PropertiesChanged", on_value, NULL);
        /* devices appear once discovery is on */
        sd_bus_call_method(bus, "org.bluez", "/org/bluez/hci0", "org.bluez.Adapter1",
                           "StartDiscovery", NULL, NULL, NULL);
        usleep(300000);
        n = find(bus, "org.bluez.Device1", "UUIDs", services, 3, NULL, devices, 16);
        for (unsigned i = 0; i < n; i++)
                connect_device(bus, devices[i], signal);
        fprintf(stderr, "bench_client: %u devices, %u fds\n", n, n_fds);

        for (end = now_s() + duration; now_s() < end;) {
                struct pollfd p[MAX_FDS + 1];
                uint8_t buf[600];

                for (unsigned i = 0; i < n_fds; i++)
                        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                p[n_fds] = (struct pollfd){.fd = sd_bus_get_fd(bus),
                                           .events = (short)sd_bus_get_events(bus)};
                if (poll(p, n_fds + 1, 100) < 0 && errno != EINTR)
                        break;
                for (unsigned i = 0; i < n_fds; i++)
                        while ((p[i].revents & POLLIN) &&
                               recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
                                received++;
                while (sd_bus_process(bus, NULL) > 0)
                        ;
                if (received && !first_at) {
                        /* steady state from here: start-up left out, as the hub does */
                        first_at = received;
                        cpu_first_us = cpu_us();
                }
        }
        {
                double streaming = cpu_us() - cpu_first_us;
                uint64_t got = received - first_at;
                long peak_kb = -1; /* -1: unknown */

                (void)rc_peak_rss_kb(&peak_kb);
                printf("notifications=%llu cpu_us=%.0f us_per_notification=%.2f "
                       "total_cpu_us=%.0f peak_rss_kb=%ld\n",
                       (unsigned long long)got, streaming, got ? streaming / (double)got : 0.0,
                       cpu_us(), peak_kb);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}
