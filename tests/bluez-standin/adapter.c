/* The BlueZ stand-in — org.bluez.Adapter1 at /org/bluez/hci0.
 *
 * Discovery follows src/adapter.c: one discovery session per client (a second
 * StartDiscovery from it is InProgress, StopDiscovery without one is Failed "No
 * discovery started"), a session ends when its client leaves the bus, Discovering
 * is true while any session is on. SetDiscoveryFilter parses its dictionary as
 * parse_discovery_filter_dict() does: an unknown key, a wrong type, a UUID that
 * does not parse, RSSI outside -127..20, Pathloss over 137, a Transport other than
 * auto/bredr/le, or RSSI and Pathloss together are InvalidArguments. Filters of
 * all clients are merged by bluetoothd, so devices are not filtered here: every
 * advertising device appears, decoys too. While discovering, RSSI changes of at
 * least 8 dBm are reported (RSSI_THRESHOLD), every change once some client set a
 * filter; when discovery stops the RSSI of every device is invalidated.
 */
#include "standin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RSSI_THRESHOLD 8
#define PATHLOSS_MAX 137

const char *const sti_adapter_props[] = {
        "Address",      "AddressType",     "Name",
        "Alias",        "Class",           "Connectable",
        "Powered",      "Discoverable",    "DiscoverableTimeout",
        "Pairable",     "PairableTimeout", "Discovering",
        "UUIDs",        "Modalias",        "Roles",
        "Manufacturer", "Version",         NULL,
};

static const char adapter_address[] = "B8:27:EB:5C:A1:01";
static const char adapter_name[] = "rollcoach-hub";

int sti_adapter_append_prop(struct sti *si, sd_bus_message *m, const char *n) {
        if (strcmp(n, "Address") == 0)
                return sti_variant(m, "s", adapter_address);
        if (strcmp(n, "AddressType") == 0)
                return sti_variant(m, "s", "public");
        if (strcmp(n, "Name") == 0)
                return sti_variant(m, "s", adapter_name);
        if (strcmp(n, "Alias") == 0)
                return sti_variant(m, "s",
                                   si->adapter_has_alias ? si->adapter_alias : adapter_name);
        if (strcmp(n, "Class") == 0)
                return sti_variant(m, "u", (uint32_t)0x000000);
        if (strcmp(n, "Connectable") == 0)
                return sti_variant(m, "b", si->connectable);
        if (strcmp(n, "Powered") == 0)
                return sti_variant(m, "b", si->powered);
        if (strcmp(n, "Discoverable") == 0)
                return sti_variant(m, "b", si->discoverable);
        if (strcmp(n, "DiscoverableTimeout") == 0)
                return sti_variant(m, "u", si->discoverable_timeout);
        if (strcmp(n, "Pairable") == 0)
                return sti_variant(m, "b", si->pairable);
        if (strcmp(n, "PairableTimeout") == 0)
                return sti_variant(m, "u", si->pairable_timeout);
        if (strcmp(n, "Discovering") == 0)
                return sti_variant(m, "b", si->discovering);
        if (strcmp(n, "UUIDs") == 0)
                return sti_variant(m, "as", 3, "00001800-0000-1000-8000-00805f9b34fb",
                                   "00001801-0000-1000-8000-00805f9b34fb",
                                   "0000180a-0000-1000-8000-00805f9b34fb");
        if (strcmp(n, "Modalias") == 0)
                return sti_variant(m, "s", "usb:v1D6Bp0246d0542");
        if (strcmp(n, "Roles") == 0)
                return sti_variant(m, "as", 2, "central", "peripheral");
        if (strcmp(n, "Manufacturer") == 0)
                return sti_variant(m, "q", (uint16_t)0x0131); /* Cypress (the Pi's radio) */
        if (strcmp(n, "Version") == 0)
                return sti_variant(m, "y", (uint8_t)0x09); /* Core 5.0 */
        return 0;
}

/* ---- discovery ---------------------------------------------------------------------- */

static struct sti_discovery *find_client(struct sti *si, const char *owner) {
        for (size_t i = 0; i < si->n_discovery; i++)
                if (strcmp(si->discovery[i].owner, owner) == 0)
                        return &si->discovery[i];
        return NULL;
}

static struct sti_discovery *add_client(struct sti *si, const char *owner) {
        struct sti_discovery *c = find_client(si, owner);

        if (c)
                return c;
        if (si->n_discovery >= STI_MAX_DISCOVERY)
                return NULL;
        c = &si->discovery[si->n_discovery++];
        memset(c, 0, sizeof(*c));
        snprintf(c->owner, sizeof(c->owner), "%s", owner);
        return c;
}

static void remove_client(struct sti *si, struct sti_discovery *c) {
        size_t i = (size_t)(c - si->discovery);

        memmove(&si->discovery[i], &si->discovery[i + 1],
                (si->n_discovery - i - 1) * sizeof(si->discovery[0]));
        si->n_discovery--;
}

static bool any_active(struct sti *si) {
        for (size_t i = 0; i < si->n_discovery; i++)
                if (si->discovery[i].active)
                        return true;
        return false;
}

static bool any_filter(struct sti *si) {
        for (size_t i = 0; i < si->n_discovery; i++)
                if (si->discovery[i].active && si->discovery[i].has_filter)
                        return true;
        return false;
}

static bool advertising(struct sti_dev *d) {
        return !d->vanished && d->link == STI_LINK_DOWN && sti_device_powered(d);
}

static int16_t random_rssi(struct sti *si) {
        return (int16_t)(-85 + (int)(sti_rand(si) % 40)); /* -85 .. -46 dBm */
}

void sti_adapter_export_device(struct sti *si, struct sti_dev *d) {
        if (d->exported)
                return;
        d->exported = true;
        d->rssi = random_rssi(si);
        d->rssi_valid = true;
        sti_emit_added(si, d->path, NULL);
        rc_log_info("device %s found (%s)", d->addr_str, sti_kind_name(d->kind));
}

void sti_adapter_unexport_device(struct sti *si, struct sti_dev *d) {
        if (!d->exported)
                return;
        if (d->gatt_exported)
                sti_gatt_unexport(si, d);
        if (d->battery1) {
                d->battery1 = false;
                sti_emit_removed(si, d->path, STI_IFACE_BATTERY, NULL);
        }
        sti_emit_removed(si, d->path, NULL, STI_IFACE_DEVICE);
        d->exported = false;
        d->rssi_valid = false;
        d->uuids_from_gatt = false;
        /* Stored information goes with the object (RemoveDevice deletes it). */
        d->trusted = d->blocked = false;
        d->has_alias = false;
        rc_log_info("device %s removed", d->addr_str);
}

static void scan_tick(struct sti *si) {
        bool no_threshold = any_filter(si);

        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];
                int16_t rssi;

                if (!advertising(d))
                        continue;
                if (!d->exported) {
                        sti_adapter_export_device(si, d);
                        continue;
                }
                rssi = (int16_t)(d->rssi + (int)(sti_rand(si) % 13) - 6);
                if (rssi > -30)
                        rssi = -30;
                if (rssi < -100)
                        rssi = -100;
                if (!d->rssi_valid) {
                        rssi = random_rssi(si);
                } else if (!no_threshold && abs(rssi - d->rssi) < RSSI_THRESHOLD) {
                        /* Make the walk reach the threshold now and then. */
                        if (sti_rand(si) % 4 != 0)
                                continue;
                        rssi = (int16_t)(d->rssi +
                                         (rssi >= d->rssi ? RSSI_THRESHOLD : -RSSI_THRESHOLD));
                        if (rssi > -30 || rssi < -100)
                                continue;
                } else if (rssi == d->rssi) {
                        continue;
                }
                d->rssi = rssi;
                d->rssi_valid = true;
                sti_props_changed(si, d->path, STI_IFACE_DEVICE, "RSSI", NULL);
        }
}

static int on_scan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct sti *si = userdata;

        if (!si->discovering)
                return 0;
        scan_tick(si);
        sd_event_source_set_time(s, sti_now(si) + (uint64_t)si->opt.rssi_period_ms * 1000);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* Scan soon (a first advertising report comes within a scan window). */
static void scan_soon(struct sti *si) {
        uint64_t when = sti_now(si) + 20 * 1000;
        int r;

        if (!si->scan_timer) {
                r = sd_event_add_time(si->event, &si->scan_timer, CLOCK_MONOTONIC, when, 1000,
                                      on_scan_timer, si);
                if (r < 0) {
                        rc_log_error("scan timer: %s", strerror(-r));
                        return;
                }
        } else {
                uint64_t cur = 0;
                int en = SD_EVENT_OFF;

                sd_event_source_get_enabled(si->scan_timer, &en);
                sd_event_source_get_time(si->scan_timer, &cur);
                if (en != SD_EVENT_OFF && cur <= when)
                        return;
                sd_event_source_set_time(si->scan_timer, when);
        }
        sd_event_source_set_enabled(si->scan_timer, SD_EVENT_ONESHOT);
}

static void set_discovering(struct sti *si, bool on) {
        if (si->discovering == on)
                return;
        si->discovering = on;
        sti_props_changed(si, STI_ADAPTER_PATH, STI_IFACE_ADAPTER, "Discovering", NULL);
        rc_log_info("discovery %s", on ? "on" : "off");
        if (on) {
                scan_soon(si);
                return;
        }
        if (si->scan_timer)
                sd_event_source_set_enabled(si->scan_timer, SD_EVENT_OFF);
        /* discovery_cleanup(): RSSI and TxPower of every device are invalidated. */
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];

                if (d->exported && d->rssi_valid) {
                        d->rssi_valid = false;
                        sti_props_changed(si, d->path, STI_IFACE_DEVICE, "RSSI", NULL);
                }
        }
}

void sti_adapter_advertising_changed(struct sti *si, struct sti_dev *d) {
        if (si->discovering && advertising(d))
                scan_soon(si);
}

void sti_adapter_client_gone(struct sti *si, const char *owner) {
        struct sti_discovery *c = find_client(si, owner);

        if (!c)
                return;
        rc_log_info("client %s left: its discovery session ends", owner);
        remove_client(si, c);
        set_discovering(si, any_active(si));
}

static int start_discovery(struct sti *si, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        struct sti_discovery *c;

        if (!si->powered)
                return sti_reply_error(m, "org.bluez.Error.NotReady", "Resource Not Ready");
        c = find_client(si, sender ? sender : "");
        if (c && c->active)
                return sti_reply_error(m, "org.bluez.Error.InProgress",
                                       "Operation already in progress");
        c = add_client(si, sender ? sender : "");
        if (!c)
                return sti_reply_error(m, "org.bluez.Error.Failed", "No memory");
        c->active = true;
        sti_reply_empty(m);
        set_discovering(si, true);
        return 1;
}

static int stop_discovery(struct sti *si, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        struct sti_discovery *c;

        if (!si->powered)
                return sti_reply_error(m, "org.bluez.Error.NotReady", "Resource Not Ready");
        c = find_client(si, sender ? sender : "");
        if (!c || !c->active)
                return sti_reply_error(m, "org.bluez.Error.Failed", "No discovery started");
        remove_client(si, c);
        sti_reply_empty(m);
        set_discovering(si, any_active(si));
        return 1;
}

/* One entry of the filter dictionary; false if it is not acceptable. */
static bool parse_filter_entry(sd_bus_message *m, const char *key, bool *has_rssi,
                               bool *has_pathloss) {
        const char *contents = NULL;
        char type;

        if (sd_bus_message_peek_type(m, &type, &contents) <= 0 || type != 'v' || !contents)
                return false;
        if (strcmp(key, "UUIDs") == 0) {
                const char *u;
                int r;

                if (strcmp(contents, "as") != 0)
                        return false;
                if (sd_bus_message_enter_container(m, 'v', "as") < 0 ||
                    sd_bus_message_enter_container(m, 'a', "s") < 0)
                        return false;
                while ((r = sd_bus_message_read(m, "s", &u)) > 0) {
                        rc_uuid uuid;
                        size_t len = strlen(u);

                        /* bt_string_to_uuid(): 16-, 32- or 128-bit forms. */
                        if (rc_uuid_parse(u, len, &uuid) < 0 && len != 8)
                                return false;
                        if (len == 8)
                                for (size_t i = 0; i < 8; i++)
                                        if (!strchr("0123456789abcdefABCDEF", u[i]))
                                                return false;
                }
                if (r < 0)
                        return false;
                return sd_bus_message_exit_container(m) >= 0 &&
                       sd_bus_message_exit_container(m) >= 0;
        }
        if (strcmp(key, "RSSI") == 0) {
                int16_t v;

                if (!sti_read_set_value(m, 'n', &v))
                        return false;
                *has_rssi = true;
                return v >= -127 && v <= 20;
        }
        if (strcmp(key, "Pathloss") == 0) {
                uint16_t v;

                if (!sti_read_set_value(m, 'q', &v))
                        return false;
                *has_pathloss = true;
                return v <= PATHLOSS_MAX;
        }
        if (strcmp(key, "Transport") == 0) {
                const char *v;

                if (!sti_read_set_value(m, 's', &v))
                        return false;
                return strcmp(v, "auto") == 0 || strcmp(v, "bredr") == 0 || strcmp(v, "le") == 0;
        }
        if (strcmp(key, "DuplicateData") == 0 || strcmp(key, "Discoverable") == 0 ||
            strcmp(key, "AutoConnect") == 0) {
                int v;

                return sti_read_set_value(m, 'b', &v) == 1;
        }
        if (strcmp(key, "Pattern") == 0) {
                const char *v;

                return sti_read_set_value(m, 's', &v) == 1;
        }
        return false; /* "Unknown key parameter" */
}

static int set_discovery_filter(struct sti *si, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        bool has_rssi = false, has_pathloss = false, empty = true;
        struct sti_discovery *c;
        int r;

        if (!si->powered)
                return sti_reply_error(m, "org.bluez.Error.NotReady", "Resource Not Ready");
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                goto invalid;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                empty = false;
                if (sd_bus_message_read(m, "s", &key) < 0)
                        goto invalid;
                if (!parse_filter_entry(m, key, &has_rssi, &has_pathloss))
                        goto invalid;
                if (sd_bus_message_exit_container(m) < 0)
                        goto invalid;
        }
        if (r < 0)
                goto invalid;
        /* "only pathloss or rssi can be set, never both" */
        if (has_rssi && has_pathloss)
                goto invalid;

        c = find_client(si, sender ? sender : "");
        if (empty) {
                if (c) {
                        c->has_filter = false;
                        if (!c->active)
                                remove_client(si, c);
                }
                return sti_reply_empty(m);
        }
        c = add_client(si, sender ? sender : "");
        if (!c)
                return sti_reply_error(m, "org.bluez.Error.Failed", "No memory");
        c->has_filter = true;
        return sti_reply_empty(m);

invalid:
        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                               "Invalid arguments in method call");
}

static int remove_device(struct sti *si, sd_bus_message *m) {
        const char *path;
        struct sti_dev *d;

        if (sd_bus_message_read(m, "o", &path) < 0)
                return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                       "Invalid arguments in method call");
        d = sti_find_device_by_path(si, path);
        if (!d || !d->exported)
                return sti_reply_error(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
        if (!si->powered)
                return sti_reply_error(m, "org.bluez.Error.NotReady", "Resource Not Ready");
        sti_device_abort_connect(si, d);
        if (d->link == STI_LINK_UP) {
                /* device_request_disconnect(): the reply and the removal follow the
                 * disconnection. */
                return sti_device_request_removal(si, m, d);
        }
        sti_adapter_unexport_device(si, d);
        return sti_reply_empty(m);
}

int sti_adapter_method(struct sti *si, sd_bus_message *m, const char *member) {
        const char *sig = sd_bus_message_get_signature(m, true);

        if (!sig)
                return 0;
        if (strcmp(member, "StartDiscovery") == 0 && strcmp(sig, "") == 0)
                return start_discovery(si, m);
        if (strcmp(member, "StopDiscovery") == 0 && strcmp(sig, "") == 0)
                return stop_discovery(si, m);
        if (strcmp(member, "SetDiscoveryFilter") == 0 && strcmp(sig, "a{sv}") == 0)
                return set_discovery_filter(si, m);
        if (strcmp(member, "GetDiscoveryFilters") == 0 && strcmp(sig, "") == 0) {
                int r = sd_bus_reply_method_return(m, "as", 7, "UUIDs", "RSSI", "Pathloss",
                                                   "Transport", "DuplicateData", "Discoverable",
                                                   "Pattern");
                return r < 0 ? r : 1;
        }
        if (strcmp(member, "RemoveDevice") == 0 && strcmp(sig, "o") == 0)
                return remove_device(si, m);
        if (strcmp(member, "ConnectDevice") == 0 && strcmp(sig, "a{sv}") == 0)
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        return 0;
}

/* ---- Set -------------------------------------------------------------------------- */

static void power_off(struct sti *si) {
        si->n_discovery = 0;
        set_discovering(si, false);
        for (size_t i = 0; i < si->n_devs; i++)
                sti_device_drop(si, si->devs[i], "local");
}

/* Returns 1 after replying, 0 if the property is read-only. */
int sti_adapter_set_prop(struct sti *si, sd_bus_message *m, const char *name) {
        bool is_bool = strcmp(name, "Powered") == 0 || strcmp(name, "Discoverable") == 0 ||
                       strcmp(name, "Pairable") == 0 || strcmp(name, "Connectable") == 0;
        bool is_u32 =
                strcmp(name, "DiscoverableTimeout") == 0 || strcmp(name, "PairableTimeout") == 0;

        if (strcmp(name, "Alias") == 0) {
                const char *v;

                if (!sti_read_set_value(m, 's', &v))
                        goto invalid;
                snprintf(si->adapter_alias, sizeof(si->adapter_alias), "%s", v);
                si->adapter_has_alias = v[0] != '\0';
                sti_reply_empty(m);
                sti_props_changed(si, STI_ADAPTER_PATH, STI_IFACE_ADAPTER, "Alias", NULL);
                return 1;
        }
        if (is_bool) {
                int v;
                bool *field = strcmp(name, "Powered") == 0        ? &si->powered
                              : strcmp(name, "Discoverable") == 0 ? &si->discoverable
                              : strcmp(name, "Pairable") == 0     ? &si->pairable
                                                                  : &si->connectable;

                if (!sti_read_set_value(m, 'b', &v))
                        goto invalid;
                if (field == &si->discoverable && !si->powered)
                        return sti_reply_error(m, "org.bluez.Error.Failed", "Not Powered");
                sti_reply_empty(m);
                if (*field == !!v)
                        return 1;
                *field = !!v;
                if (field == &si->powered && !v)
                        power_off(si);
                if (field == &si->connectable && !v && si->discoverable) {
                        si->discoverable = false;
                        sti_props_changed(si, STI_ADAPTER_PATH, STI_IFACE_ADAPTER, "Discoverable",
                                          NULL);
                }
                sti_props_changed(si, STI_ADAPTER_PATH, STI_IFACE_ADAPTER, name, NULL);
                rc_log_info("adapter %s = %s", name, v ? "true" : "false");
                return 1;
        }
        if (is_u32) {
                uint32_t v;

                if (!sti_read_set_value(m, 'u', &v))
                        goto invalid;
                if (strcmp(name, "DiscoverableTimeout") == 0)
                        si->discoverable_timeout = v;
                else
                        si->pairable_timeout = v;
                sti_reply_empty(m);
                sti_props_changed(si, STI_ADAPTER_PATH, STI_IFACE_ADAPTER, name, NULL);
                return 1;
        }
        return 0;

invalid:
        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                               "Invalid arguments in method call");
}

void sti_adapter_free(struct sti *si) {
        si->scan_timer = sd_event_source_unref(si->scan_timer);
}
