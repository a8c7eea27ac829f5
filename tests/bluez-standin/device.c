/* The BlueZ stand-in — org.bluez.Device1.
 *
 * Connect and Disconnect of an LE device as src/device.c does them:
 *
 * Connect (dev_connect, att_connect_cb, gatt_client_ready_cb):
 *   1. a second Connect while one waits is InProgress "In Progress"; Connect of a
 *      connected device succeeds at once (no AlreadyConnected for LE);
 *   2. the link comes up: Connected=true (mgmt Device Connected);
 *   3. the ATT channel is up: Connect() returns here, BEFORE service discovery;
 *   4. discovery ends: UUIDs, then the GATT objects (InterfacesAdded), then
 *      ServicesResolved=true (device_svc_resolved), then the battery plugin adds
 *      org.bluez.Battery1. A client must wait for ServicesResolved, not for the
 *      reply. With the GATT cache (main.conf Cache=always, the default) the
 *      objects of an earlier connection are still there and step 4 adds none.
 *   A connection that cannot be made ends with Failed "le-connection-abort-by-local"
 *   (ECONNABORTED from the kernel: a device that is off or out of range).
 *
 * Disconnect (dev_disconnect, device_request_disconnect, device_remove_connection):
 *   Disconnect of a device that is not connected succeeds at once; otherwise the
 *   link is dropped after DISCONNECT_TIMER (2 s, --disconnect-delay), then the
 *   reply goes out, then one PropertiesChanged {ServicesResolved: false, Connected:
 *   false} (gdbus sends signals after replies and merges them), acquired
 *   notification fds are shut down (the reader sees HUP; NotifyAcquired=false),
 *   Battery1 goes away, and, without the GATT cache, the GATT objects
 *   (InterfacesRemoved). A StartNotify session survives a disconnection and is
 *   registered again on the next connection (btd_gatt_client_connected).
 */
#include "standin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ABORT_MSG "le-connection-abort-by-local"

const char *const sti_device_props[] = {
        "Address",
        "AddressType",
        "Name",
        "Alias",
        "Appearance",
        "Icon",
        "Paired",
        "Bonded",
        "Trusted",
        "Blocked",
        "LegacyPairing",
        "RSSI",
        "Connected",
        "UUIDs",
        "Adapter",
        "ManufacturerData",
        "ServiceData",
        "ServicesResolved",
        "AdvertisingFlags",
        NULL,
};

const char *sti_device_default_alias(struct sti_dev *d, char buf[RC_ADDR_STRLEN]) {
        if (d->has_alias)
                return d->alias;
        if (d->has_name)
                return d->name;
        /* device.c: the address with dashes when there is no name. */
        memcpy(buf, d->addr_str, RC_ADDR_STRLEN);
        for (char *p = buf; *p; p++)
                if (*p == ':')
                        *p = '-';
        return buf;
}

static int compare_str(const void *a, const void *b) {
        return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

static int append_uuids(struct sti *si, sd_bus_message *m, struct sti_dev *d) {
        char strs[STI_MAX_SERVICES + 4][RC_UUID_STRLEN];
        const char *list[STI_MAX_SERVICES + 4];
        size_t n = 0;
        int r;

        if (d->uuids_from_gatt) {
                /* device->uuids: every primary service, sorted (g_slist_insert_sorted). */
                for (size_t i = 0; i < d->n_svcs; i++) {
                        bool dup = false;

                        rc_uuid_format(&d->svcs[i].uuid, strs[n]);
                        for (size_t j = 0; j < n; j++)
                                dup |= strcmp(strs[j], strs[n]) == 0;
                        if (!dup) {
                                list[n] = strs[n];
                                n++;
                        }
                }
                qsort(list, n, sizeof(list[0]), compare_str);
        } else {
                for (size_t i = 0; i < d->n_adv_uuids; i++) {
                        rc_uuid_format(&d->adv_uuids[i], strs[n]);
                        list[n] = strs[n];
                        n++;
                }
        }
        if (si->malformed & STI_BAD_UUIDS_STRING)
                return sti_variant(m, "s", n ? list[0] : "");
        r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "s", list[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : 1;
}

int sti_append_device_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *n) {
        char buf[RC_ADDR_STRLEN];
        int r;

        if (strcmp(n, "Address") == 0)
                return sti_variant(m, "s", d->addr_str);
        if (strcmp(n, "AddressType") == 0)
                return sti_variant(m, "s", d->random_address ? "random" : "public");
        if (strcmp(n, "Name") == 0)
                return d->has_name ? sti_variant(m, "s", d->name) : 0;
        if (strcmp(n, "Alias") == 0)
                return sti_variant(m, "s", sti_device_default_alias(d, buf));
        if (strcmp(n, "Appearance") == 0)
                return d->has_appearance ? sti_variant(m, "q", d->appearance) : 0;
        if (strcmp(n, "Icon") == 0)
                return d->icon ? sti_variant(m, "s", d->icon) : 0;
        if (strcmp(n, "Paired") == 0 || strcmp(n, "Bonded") == 0 || strcmp(n, "LegacyPairing") == 0)
                return sti_variant(m, "b", 0);
        if (strcmp(n, "Trusted") == 0)
                return sti_variant(m, "b", d->trusted);
        if (strcmp(n, "Blocked") == 0)
                return sti_variant(m, "b", d->blocked);
        if (strcmp(n, "RSSI") == 0) {
                if (!d->rssi_valid)
                        return 0;
                if (si->malformed & STI_BAD_RSSI_INT32)
                        return sti_variant(m, "i", (int32_t)d->rssi);
                return sti_variant(m, "n", d->rssi);
        }
        if (strcmp(n, "Connected") == 0) {
                bool c = d->link == STI_LINK_UP;

                if (si->malformed & STI_BAD_CONNECTED_STRING)
                        return sti_variant(m, "s", c ? "true" : "false");
                return sti_variant(m, "b", c);
        }
        if (strcmp(n, "UUIDs") == 0)
                return m ? append_uuids(si, m, d) : 1;
        if (strcmp(n, "Adapter") == 0)
                return sti_variant(m, "o", STI_ADAPTER_PATH);
        if (strcmp(n, "ManufacturerData") == 0) {
                if (!d->mfr_len)
                        return 0;
                if (!m)
                        return 1;
                r = sd_bus_message_open_container(m, 'v', "a{qv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{qv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'e', "qv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "q", d->mfr_id);
                if (r >= 0)
                        r = sti_variant_bytes(m, d->mfr_data, d->mfr_len);
                for (int i = 0; r >= 0 && i < 3; i++)
                        r = sd_bus_message_close_container(m);
                return r < 0 ? r : 1;
        }
        if (strcmp(n, "ServiceData") == 0) {
                static const uint8_t eddystone_uid[] = {0x00, 0xe7, 'r', 'o', 'l', 'l'};
                char uuid[RC_UUID_STRLEN];

                if (d->kind != STI_KIND_BEACON)
                        return 0;
                if (!m)
                        return 1;
                rc_uuid_format(&d->adv_uuids[0], uuid);
                r = sd_bus_message_open_container(m, 'v', "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", uuid);
                if (r >= 0)
                        r = sti_variant_bytes(m, eddystone_uid, sizeof(eddystone_uid));
                for (int i = 0; r >= 0 && i < 3; i++)
                        r = sd_bus_message_close_container(m);
                return r < 0 ? r : 1;
        }
        if (strcmp(n, "ServicesResolved") == 0)
                return sti_variant(m, "b", d->services_resolved);
        if (strcmp(n, "AdvertisingFlags") == 0) {
                /* LE General Discoverable, BR/EDR not supported. */
                static const uint8_t flags[] = {0x06};

                return sti_variant_bytes(m, flags, sizeof(flags));
        }
        return 0;
}

bool sti_device_powered(struct sti_dev *d) {
        if (!d->td)
                return true; /* decoys are always on */
        return d->player.in_session;
}

/* ---- the link ----------------------------------------------------------------------- */

static void cancel(sd_event_source **s) {
        *s = sd_event_source_disable_unref(*s);
}

static void fail_connect(struct sti *si, struct sti_dev *d, const char *why) {
        cancel(&d->connect_timer);
        if (d->connect_msg) {
                sti_reply_error(d->connect_msg, "org.bluez.Error.Failed", ABORT_MSG);
                d->connect_msg = sd_bus_message_unref(d->connect_msg);
        }
        d->link = STI_LINK_DOWN;
        si->st_connect_failures++;
        rc_log_info("device %s: connection failed (%s)", d->addr_str, why);
        sti_adapter_advertising_changed(si, d);
}

void sti_device_abort_connect(struct sti *si, struct sti_dev *d) {
        if (d->link == STI_LINK_CONNECTING)
                fail_connect(si, d, "aborted");
}

void sti_device_drop(struct sti *si, struct sti_dev *d, const char *reason) {
        sti_device_abort_connect(si, d);
        sti_device_link_down(si, d, reason);
}

static int on_resolve(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti_dev *d = userdata;
        struct sti *si = d->si;
        struct sti_chrc *batt;

        cancel(&d->resolve_timer);
        if (d->link != STI_LINK_UP)
                return 0;
        if (!d->uuids_from_gatt) {
                /* gatt_service_added(): UUIDs change while services are discovered. */
                d->uuids_from_gatt = true;
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "UUIDs", NULL);
                sti_flush(si);
        }
        if (!d->gatt_exported)
                sti_gatt_export(si, d);
        d->services_resolved = true;
        sti_props_changed(si, d->path, STI_IFACE_DEVICE, "ServicesResolved", NULL);
        rc_log_info("device %s: services resolved", d->addr_str);
        /* The battery plugin reads the level, subscribes, then registers Battery1. */
        batt = sti_gatt_find_chrc(d, rc_gatt_char_uuid(RC_CHAR_BATTERY_LEVEL));
        if (batt && batt->dev_known && batt->dev_len >= 1 && !d->battery1) {
                d->battery_pct = batt->dev_value[0];
                d->battery1 = true;
                sti_emit_added(si, d->path, STI_IFACE_BATTERY);
        }
        if (sti_gatt_link_up(si, d))
                sti_playback_enabled(si, d);
        return 0;
}

static void link_up(struct sti *si, struct sti_dev *d) {
        int r;

        cancel(&d->connect_timer);
        d->link = STI_LINK_UP;
        d->st_connects++;
        sti_props_changed(si, d->path, STI_IFACE_DEVICE, "Connected", NULL);
        /* The link comes up (mgmt event) before the ATT channel: Connected first. */
        sti_flush(si);
        if (d->connect_msg) {
                sti_reply_empty(d->connect_msg);
                d->connect_msg = sd_bus_message_unref(d->connect_msg);
        }
        rc_log_info("device %s: connected", d->addr_str);
        r = sd_event_add_time(si->event, &d->resolve_timer, CLOCK_MONOTONIC,
                              sti_now(si) + (uint64_t)si->opt.resolve_delay_ms * 1000, 1,
                              on_resolve, d);
        if (r < 0)
                rc_log_error("resolve timer: %s", strerror(-r));
}

static int on_connect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti_dev *d = userdata;
        struct sti *si = d->si;
        uint64_t now = sti_now(si);

        if (d->link != STI_LINK_CONNECTING)
                return 0;
        if (d->refuse_connects > 0) {
                d->refuse_connects--;
                fail_connect(si, d, "refused by StandIn1.RefuseConnects");
                return 0;
        }
        if (d->vanished || !sti_device_powered(d)) {
                /* Nobody answers: the kernel gives up after its connection timeout. */
                if (now - d->connect_started >= (uint64_t)si->opt.absent_timeout_ms * 1000) {
                        fail_connect(si, d, "the device is off or out of range");
                        return 0;
                }
                sd_event_source_set_time(s, now + 50 * 1000);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        link_up(si, d);
        return 0;
}

static int dev_connect(struct sti *si, sd_bus_message *m, struct sti_dev *d) {
        int r;

        si->st_connect_calls++;
        if (!si->powered)
                return sti_reply_error(m, "org.bluez.Error.NotReady", "Resource Not Ready");
        if (d->connect_msg)
                return sti_reply_error(m, "org.bluez.Error.InProgress", "In Progress");
        if (d->link == STI_LINK_UP)
                return sti_reply_empty(m);
        d->link = STI_LINK_CONNECTING;
        d->connect_started = sti_now(si);
        d->connect_msg = sd_bus_message_ref(m);
        r = sd_event_add_time(si->event, &d->connect_timer, CLOCK_MONOTONIC,
                              d->connect_started + (uint64_t)si->opt.connect_delay_ms * 1000, 1,
                              on_connect_timer, d);
        if (r < 0) {
                fail_connect(si, d, strerror(-r));
                return 1;
        }
        rc_log_info("device %s: connecting", d->addr_str);
        return 1;
}

static int on_late_reply_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti_dev *d = userdata;

        d->late_reply_timer = sd_event_source_unref(d->late_reply_timer);
        for (size_t i = 0; i < d->n_late_replies; i++) {
                sti_reply_empty(d->late_replies[i]);
                d->late_replies[i] = sd_bus_message_unref(d->late_replies[i]);
        }
        d->n_late_replies = 0;
        return 0;
}

/* The Disconnect calls waiting for the link to drop: answered now, or with
 * --disconnect-reply-delay that much later (the link's sockets hang up and the
 * signals go out first). */
static void reply_disconnects(struct sti *si, struct sti_dev *d) {
        for (size_t i = 0; i < d->n_disconnect_msgs; i++) {
                sd_bus_message *m = d->disconnect_msgs[i];

                d->disconnect_msgs[i] = NULL;
                if (si->opt.disconnect_reply_delay_ms > 0 && d->n_late_replies < STI_MAX_PENDING &&
                    (d->late_reply_timer ||
                     sd_event_add_time(si->event, &d->late_reply_timer, CLOCK_MONOTONIC,
                                       sti_now(si) +
                                               (uint64_t)si->opt.disconnect_reply_delay_ms * 1000,
                                       1, on_late_reply_timer, d) >= 0)) {
                        d->late_replies[d->n_late_replies++] = m;
                        continue;
                }
                sti_reply_empty(m);
                sd_bus_message_unref(m);
        }
        d->n_disconnect_msgs = 0;
}

void sti_device_link_down(struct sti *si, struct sti_dev *d, const char *reason) {
        bool was_resolved = d->services_resolved;

        if (d->link != STI_LINK_UP)
                return;
        cancel(&d->resolve_timer);
        cancel(&d->disconnect_timer);
        d->link = STI_LINK_DOWN;
        d->disconnecting = false;
        d->services_resolved = false;
        if (was_resolved)
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "ServicesResolved", "Connected",
                                  NULL);
        else
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "Connected", NULL);
        /* device_remove_connection() replies to waiting Disconnect() calls at once;
         * the property changes above go out when the loop is idle, after them. */
        reply_disconnects(si, d);
        sti_gatt_link_down(si, d);
        if (d->battery1) {
                d->battery1 = false;
                sti_emit_removed(si, d->path, STI_IFACE_BATTERY, NULL);
        }
        if (si->opt.cache == STI_CACHE_NO && d->gatt_exported)
                sti_gatt_unexport(si, d);
        if (strcmp(reason, "local") != 0)
                d->st_link_losses++;
        rc_log_info("device %s: disconnected (%s)", d->addr_str, reason);
        if (d->remove_after_disconnect) {
                d->remove_after_disconnect = false;
                sti_adapter_unexport_device(si, d);
        }
        sti_adapter_advertising_changed(si, d);
}

static int on_disconnect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti_dev *d = userdata;

        sti_device_link_down(d->si, d, "local");
        return 0;
}

static int dev_disconnect(struct sti *si, sd_bus_message *m, struct sti_dev *d, bool remove) {
        int r;

        if (!remove)
                si->st_disconnect_calls++;
        sti_device_abort_connect(si, d);
        if (d->link != STI_LINK_UP) {
                if (remove)
                        sti_adapter_unexport_device(si, d);
                return sti_reply_empty(m);
        }
        if (d->n_disconnect_msgs >= STI_MAX_PENDING)
                return sti_reply_error(m, "org.bluez.Error.InProgress", "In Progress");
        d->disconnect_msgs[d->n_disconnect_msgs++] = sd_bus_message_ref(m);
        if (remove)
                d->remove_after_disconnect = true;
        d->disconnecting = true;
        if (d->disconnect_timer)
                return 1;
        r = sd_event_add_time(si->event, &d->disconnect_timer, CLOCK_MONOTONIC,
                              sti_now(si) + (uint64_t)si->opt.disconnect_delay_ms * 1000, 1,
                              on_disconnect_timer, d);
        if (r < 0)
                sti_device_link_down(si, d, "local");
        return 1;
}

int sti_device_method(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *member) {
        const char *sig = sd_bus_message_get_signature(m, true);

        if (!sig)
                return 0;
        if (strcmp(member, "Connect") == 0 && strcmp(sig, "") == 0)
                return dev_connect(si, m, d);
        if (strcmp(member, "Disconnect") == 0 && strcmp(sig, "") == 0)
                return dev_disconnect(si, m, d, false);
        if (strcmp(member, "ConnectProfile") == 0 && strcmp(sig, "s") == 0)
                return sti_reply_error(m, "org.bluez.Error.NotAvailable",
                                       "Operation currently not available");
        if (strcmp(member, "DisconnectProfile") == 0 && strcmp(sig, "s") == 0)
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        if (strcmp(member, "Pair") == 0 && strcmp(sig, "") == 0)
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        if (strcmp(member, "CancelPairing") == 0 && strcmp(sig, "") == 0)
                return sti_reply_error(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
        return 0;
}

int sti_device_request_removal(struct sti *si, sd_bus_message *m, struct sti_dev *d) {
        return dev_disconnect(si, m, d, true);
}

/* Returns 1 after replying, 0 if the property is read-only. */
int sti_device_set_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *name) {
        if (strcmp(name, "Alias") == 0) {
                const char *v;

                if (!sti_read_set_value(m, 's', &v))
                        goto invalid;
                /* An empty alias goes back to the remote name. */
                snprintf(d->alias, sizeof(d->alias), "%s", v);
                d->has_alias = v[0] != '\0';
                sti_reply_empty(m);
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "Alias", NULL);
                return 1;
        }
        if (strcmp(name, "Trusted") == 0 || strcmp(name, "Blocked") == 0) {
                bool *field = name[0] == 'T' ? &d->trusted : &d->blocked;
                int v;

                if (!sti_read_set_value(m, 'b', &v))
                        goto invalid;
                sti_reply_empty(m);
                if (*field != !!v) {
                        *field = !!v;
                        sti_props_changed(si, d->path, STI_IFACE_DEVICE, name, NULL);
                        rc_log_info("device %s: %s = %s", d->addr_str, name, v ? "true" : "false");
                }
                if (field == &d->blocked && v && d->link == STI_LINK_UP)
                        sti_device_link_down(si, d, "local"); /* device_block() */
                return 1;
        }
        return 0;

invalid:
        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                               "Invalid arguments in method call");
}

void sti_device_free_runtime(struct sti_dev *d) {
        cancel(&d->connect_timer);
        cancel(&d->resolve_timer);
        cancel(&d->disconnect_timer);
        d->connect_msg = sd_bus_message_unref(d->connect_msg);
        for (size_t i = 0; i < d->n_disconnect_msgs; i++)
                d->disconnect_msgs[i] = sd_bus_message_unref(d->disconnect_msgs[i]);
        d->n_disconnect_msgs = 0;
        cancel(&d->late_reply_timer);
        for (size_t i = 0; i < d->n_late_replies; i++)
                d->late_replies[i] = sd_bus_message_unref(d->late_replies[i]);
        d->n_late_replies = 0;
}
