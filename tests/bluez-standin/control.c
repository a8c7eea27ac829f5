/* The BlueZ stand-in — org.rollcoach.StandIn1 at /org/rollcoach/standin: the
 * knobs tests turn to make the stand-in fail the way a radio and bluetoothd do.
 * Not part of BlueZ; not listed by GetManagedObjects. Errors are
 * org.freedesktop.DBus.Error.InvalidArgs with a message that says why. */
#include "standin.h"

#include <errno.h>
#include <string.h>

#define MAX_DELAY_MS 600000u

static struct sti_dev *device_arg(struct sti *si, sd_bus_message *m) {
        const char *addr;

        if (sd_bus_message_read(m, "s", &addr) < 0)
                return NULL;
        return sti_find_device_by_addr(si, addr);
}

static int no_device(sd_bus_message *m) {
        return sti_reply_error(m, "org.freedesktop.DBus.Error.InvalidArgs",
                               "No such device in the trace (or decoy)");
}

static const struct {
        const char *name;
        unsigned bit;
} malformed_kinds[] = {
        {"read-value-string", STI_BAD_READ_VALUE_STRING},
        {"connected-string", STI_BAD_CONNECTED_STRING},
        {"value-string", STI_BAD_VALUE_STRING},
        {"acquire-mtu-string", STI_BAD_ACQUIRE_MTU_STRING},
        {"acquire-no-fd", STI_BAD_ACQUIRE_NO_FD},
        {"rssi-int32", STI_BAD_RSSI_INT32},
        {"uuids-string", STI_BAD_UUIDS_STRING},
};

struct counter {
        const char *name;
        uint64_t v;
};

/* Append each counter as {"prefix.name", value} ("name" without a prefix). */
static int append_counters(sd_bus_message *m, const char *prefix, const struct counter *c,
                           size_t n) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                char key[96];

                if (prefix)
                        snprintf(key, sizeof(key), "%s.%s", prefix, c[i].name);
                else
                        snprintf(key, sizeof(key), "%s", c[i].name);
                r = sd_bus_message_append(m, "{st}", key, c[i].v);
        }
        return r;
}

static int stats(struct sti *si, sd_bus_message *call) {
        uint64_t sig = 0, fd = 0, dropped = 0, eagain = 0, oversize = 0, connects = 0, losses = 0,
                 reads = 0;
        sd_bus_message *m = NULL;
        int r;

        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];

                sig += d->st_sent_signal;
                fd += d->st_sent_fd;
                dropped += d->st_dropped;
                eagain += d->st_eagain;
                oversize += d->st_oversize;
                connects += d->st_connects;
                losses += d->st_link_losses;
                reads += d->st_reads;
        }
        r = sd_bus_message_new_method_return(call, &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{st}");
        if (r >= 0) {
                const struct counter totals[] = {
                        {"connect_calls", si->st_connect_calls},
                        {"connects", connects},
                        {"connect_failures", si->st_connect_failures},
                        {"disconnect_calls", si->st_disconnect_calls},
                        {"link_losses", losses},
                        {"notifications_sent", sig + fd},
                        {"notifications_sent_signal", sig},
                        {"notifications_sent_fd", fd},
                        {"notifications_dropped", dropped},
                        {"notifications_eagain", eagain},
                        {"notifications_oversize", oversize},
                        {"reads", reads},
                        {"trace_malformed_lines", si->st_trace_malformed},
                        {"discovery_sessions", si->n_discovery},
                };

                r = append_counters(m, NULL, totals, sizeof(totals) / sizeof(totals[0]));
        }
        for (size_t i = 0; r >= 0 && i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];
                const struct counter per_device[] = {
                        {"sent", d->st_sent_signal + d->st_sent_fd},
                        {"sent_signal", d->st_sent_signal},
                        {"sent_fd", d->st_sent_fd},
                        {"dropped", d->st_dropped},
                        {"eagain", d->st_eagain},
                        {"connects", d->st_connects},
                        {"link_losses", d->st_link_losses},
                        {"reads", d->st_reads},
                        /* 1 once every line of its trace has been played */
                        {"played", d->player.eof && !d->player.have_next},
                };

                r = append_counters(m, d->addr_str, per_device,
                                    sizeof(per_device) / sizeof(per_device[0]));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r < 0 ? r : 1;
}

static int set_malformed(struct sti *si, sd_bus_message *m) {
        const char *kind;

        if (sd_bus_message_read(m, "s", &kind) < 0)
                return sti_reply_error(m, "org.freedesktop.DBus.Error.InvalidArgs",
                                       "Invalid arguments");
        if (strcmp(kind, "none") == 0) {
                si->malformed = 0;
                rc_log_info("replies are well-formed again");
                return sti_reply_empty(m);
        }
        for (size_t i = 0; i < sizeof(malformed_kinds) / sizeof(malformed_kinds[0]); i++)
                if (strcmp(kind, malformed_kinds[i].name) == 0) {
                        si->malformed |= malformed_kinds[i].bit;
                        rc_log_info("malformed: %s", kind);
                        return sti_reply_empty(m);
                }
        return sti_reply_error(m, "org.freedesktop.DBus.Error.InvalidArgs",
                               "Unknown kind '%s' (none, read-value-string, connected-string, "
                               "value-string, acquire-mtu-string, acquire-no-fd, rssi-int32, "
                               "uuids-string)",
                               kind);
}

static int set_delay(sd_bus_message *m, uint32_t *field, const char *what) {
        uint32_t ms;

        if (sd_bus_message_read(m, "u", &ms) < 0 || ms > MAX_DELAY_MS)
                return sti_reply_error(m, "org.freedesktop.DBus.Error.InvalidArgs",
                                       "A delay is 0..%u ms", MAX_DELAY_MS);
        *field = ms;
        rc_log_info("%s delay: %u ms", what, ms);
        return sti_reply_empty(m);
}

int sti_control_method(struct sti *si, sd_bus_message *m, const char *member) {
        const char *sig = sd_bus_message_get_signature(m, true);
        struct sti_dev *d;

        if (!sig)
                return 0;
        if (strcmp(member, "DropLink") == 0 && strcmp(sig, "s") == 0) {
                d = device_arg(si, m);
                if (!d)
                        return no_device(m);
                sti_device_drop(si, d, "timeout");
                return sti_reply_empty(m);
        }
        if (strcmp(member, "RefuseConnects") == 0 && strcmp(sig, "su") == 0) {
                uint32_t count;
                const char *addr;

                if (sd_bus_message_read(m, "su", &addr, &count) < 0)
                        return no_device(m);
                d = sti_find_device_by_addr(si, addr);
                if (!d)
                        return no_device(m);
                d->refuse_connects = count;
                rc_log_info("device %s: the next %u connection(s) fail", d->addr_str, count);
                return sti_reply_empty(m);
        }
        if (strcmp(member, "WithholdAcquireNotify") == 0 && strcmp(sig, "b") == 0) {
                int b;

                if (sd_bus_message_read(m, "b", &b) < 0)
                        return no_device(m);
                si->opt.acquire_notify = !b;
                rc_log_info("AcquireNotify %s", b ? "withheld" : "offered");
                return sti_reply_empty(m);
        }
        if (strcmp(member, "SetConnectDelay") == 0 && strcmp(sig, "u") == 0)
                return set_delay(m, &si->opt.connect_delay_ms, "connect");
        if (strcmp(member, "SetDisconnectDelay") == 0 && strcmp(sig, "u") == 0)
                return set_delay(m, &si->opt.disconnect_delay_ms, "disconnect");
        if (strcmp(member, "RemoveDevice") == 0 && strcmp(sig, "s") == 0) {
                d = device_arg(si, m);
                if (!d)
                        return no_device(m);
                d->vanished = true;
                sti_device_drop(si, d, "timeout");
                sti_adapter_unexport_device(si, d);
                return sti_reply_empty(m);
        }
        if (strcmp(member, "SetMalformed") == 0 && strcmp(sig, "s") == 0)
                return set_malformed(si, m);
        if (strcmp(member, "Stats") == 0 && strcmp(sig, "") == 0)
                return stats(si, m);
        return 0;
}
