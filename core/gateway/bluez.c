/* rollcoach — the mirror of BlueZ's objects: the adapter, devices and their
 * characteristics from GetManagedObjects and the ObjectManager/Properties signals;
 * bluetoothd coming and going; discovery. */
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/log.h"

/* ---- devices ---------------------------------------------------------------------- */

static struct gw_device *device_by_path(struct rc_gateway *g, const char *path) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++)
                if (g->dev[i].used && strcmp(g->dev[i].path, path) == 0)
                        return &g->dev[i];
        return NULL;
}

/* The device an object belongs to: its path, or a path below it. */
static struct gw_device *device_of(struct rc_gateway *g, const char *path) {
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                size_t n = strlen(g->dev[i].path);

                if (g->dev[i].used && strncmp(path, g->dev[i].path, n) == 0 &&
                    (path[n] == '/' || path[n] == '\0'))
                        return &g->dev[i];
        }
        return NULL;
}

static struct gw_device *device_add(struct rc_gateway *g, const char *path) {
        struct gw_device *d = device_by_path(g, path);

        if (d)
                return d;
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                d = &g->dev[i];
                if (d->used)
                        continue;
                if (strlen(path) >= sizeof(d->path))
                        return NULL;
                if (!d->timer_init) {
                        uv_timer_init(g->o.loop, &d->timer);
                        d->timer.data = d;
                        d->timer_init = true;
                }
                /* a slot used before: nothing of that device carries over but its
                 * timer (open until the gateway stops) and its generation, bumped so
                 * that replies still on their way for it are ignored; its sockets
                 * were handed to their own memory when unsubscribed (gw_sub) */
                d->generation++;
                d->used = true;
                d->g = g;
                d->present = d->ours = d->connected = d->resolved = d->trusted = false;
                d->selected = d->use_startnotify = d->checking = false;
                d->attempts = d->pending = 0;
                memset(&d->addr, 0, sizeof(d->addr));
                d->addr_str[0] = d->name[0] = '\0';
                d->state = DEV_IDLE;
                d->kind = RC_KIND_UNKNOWN;
                for (unsigned k = 0; k < MAX_CHARS; k++)
                        d->chars[k].used = false;
                strcpy(d->path, path);
                return d;
        }
        rc_log_warning("bluez: more than %d devices around; %s ignored", RC_GATEWAY_MAX_DEVICES,
                       path);
        return NULL;
}

static struct gw_char *char_by_path(struct gw_device *d, const char *path) {
        for (unsigned i = 0; i < MAX_CHARS; i++)
                if (d->chars[i].used && strcmp(d->chars[i].path, path) == 0)
                        return &d->chars[i];
        return NULL;
}

/* BlueZ no longer has the device (or bluetoothd is gone): end its link and forget
 * its characteristics. */
static void device_gone(struct gw_device *d, const char *why) {
        if (d->state != DEV_IDLE)
                gw_lost(d, why);
        uv_timer_stop(&d->timer);
        d->present = false;
        d->state = DEV_IDLE;
        for (unsigned i = 0; i < MAX_CHARS; i++) {
                gw_char_unsubscribe(&d->chars[i]);
                d->chars[i].used = false;
        }
}

static enum rc_device_kind kind_of_service(const char *uuid) {
        rc_uuid u;

        if (rc_uuid_parse(uuid, strlen(uuid), &u) < 0)
                return RC_KIND_UNKNOWN;
        if (rc_uuid_equal(&u, &RC_SERVICE_ROLLER))
                return RC_KIND_ROLLER;
        if (rc_uuid_equal(&u, &RC_SERVICE_BODY))
                return RC_KIND_BODY;
        if (rc_uuid_equal(&u, &RC_SERVICE_HR))
                return RC_KIND_HR;
        return RC_KIND_UNKNOWN;
}

static void device_uuid(void *ctx, const char *uuid) {
        struct gw_device *d = ctx;
        enum rc_device_kind k = kind_of_service(uuid);

        if (k != RC_KIND_UNKNOWN) {
                d->ours = true;
                d->kind = k;
        }
}

static int device_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct gw_device_change *ch = ctx;
        struct gw_device *d = ch->d;
        const char *s;
        bool b;
        int r;

        if (strcmp(key, "Address") == 0) {
                r = gw_variant_string(g, m, "Device1.Address", &s);
                if (r > 0 && rc_addr_parse(s, strlen(s), &d->addr) == 0)
                        rc_addr_format(&d->addr, d->addr_str);
                else if (r > 0)
                        gw_malformed(g, "Device1.Address", 0);
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Alias") == 0 || (strcmp(key, "Name") == 0 && !d->name[0])) {
                r = gw_variant_string(g, m, "Device1.Alias", &s);
                if (r > 0) {
                        uint8_t tmp[RC_GATT_STRING_MAX + 1];
                        enum rc_decode_reason why;
                        size_t n = strlen(s);

                        /* a name is shown and logged: the same rules as a GATT string */
                        if (n <= RC_GATT_STRING_MAX &&
                            rc_decode_string((const uint8_t *)s, n, (char *)tmp, &why) == 0)
                                snprintf(d->name, sizeof(d->name), "%s", (char *)tmp);
                }
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Connected") == 0 || strcmp(key, "ServicesResolved") == 0 ||
            strcmp(key, "Trusted") == 0) {
                r = gw_variant_bool(g, m, key, &b);
                if (r <= 0)
                        return r;
                if (key[0] == 'C') {
                        ch->connected_changed = d->connected != b;
                        d->connected = b;
                } else if (key[0] == 'S') {
                        ch->resolved_changed = d->resolved != b;
                        d->resolved = b;
                        if (b)
                                d->connected = true; /* resolved services need a link */
                } else {
                        d->trusted = b;
                }
                return 0;
        }
        if (strcmp(key, "UUIDs") == 0)
                return gw_variant_strings(g, m, "Device1.UUIDs", device_uuid, d);
        return sd_bus_message_skip(m, "v");
}

static void char_flag(void *ctx, const char *flag) {
        struct gw_char *c = ctx;

        if (strcmp(flag, "read") == 0)
                c->can_read = true;
        else if (strcmp(flag, "notify") == 0 || strcmp(flag, "indicate") == 0)
                c->can_notify = true;
}

static int char_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct gw_char *c = ctx;
        const char *s;
        int r;

        if (strcmp(key, "UUID") == 0) {
                r = gw_variant_string(g, m, "GattCharacteristic1.UUID", &s);
                if (r > 0 && rc_uuid_parse(s, strlen(s), &c->uuid) == 0)
                        c->kind = rc_gatt_char_from_uuid(&c->uuid);
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "NotifyAcquired") == 0) {
                bool b;

                r = gw_variant_bool(g, m, "GattCharacteristic1.NotifyAcquired", &b);
                if (r > 0)
                        c->acquirable = true; /* its presence says AcquireNotify works */
                return r < 0 ? r : 0;
        }
        if (strcmp(key, "Flags") == 0)
                return gw_variant_strings(g, m, "GattCharacteristic1.Flags", char_flag, c);
        return sd_bus_message_skip(m, "v");
}

/* The Value of a characteristic's PropertiesChanged (ctx: the characteristic, NULL
 * when it is not one of the mirror's). */
static int char_value_prop(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m) {
        struct gw_char *c = ctx;
        const void *v;
        size_t n;
        int r;

        if (!c || strcmp(key, "Value") != 0)
                return sd_bus_message_skip(m, "v");
        r = gw_variant_bytes(g, m, "characteristic Value", &v, &n);
        if (r > 0)
                gw_on_value(c, v, n);
        return r;
}

/* ---- the mirror -------------------------------------------------------------------- */

static void start_discovery(struct rc_gateway *g);

/* The characteristic of a GattCharacteristic1 object: its slot in the device's
 * table, set up when new. NULL if the device is not mirrored or the table is full. */
static struct gw_char *char_add(struct rc_gateway *g, const char *path) {
        struct gw_device *d = device_of(g, path);
        struct gw_char *c = NULL;

        for (unsigned i = 0; d && i < MAX_CHARS && !c; i++)
                if (!d->chars[i].used || strcmp(d->chars[i].path, path) == 0)
                        c = &d->chars[i];
        if (!c || strlen(path) >= sizeof(c->path))
                return NULL;
        if (!c->used) {
                memset(c, 0, sizeof(*c)); /* c->sub, if any, went with gw_char_unsubscribe */
                c->dev = d;
                c->used = true;
                strcpy(c->path, path);
        }
        return c;
}

/* One interface of an object (ctx: its path), at m positioned on its a{sv}. */
static int interface_added(struct rc_gateway *g, void *ctx, const char *iface, sd_bus_message *m) {
        const char *path = ctx;
        int r;

        if (strcmp(iface, IF_ADAPTER) == 0) {
                if (!g->have_adapter && strlen(path) < sizeof(g->adapter)) {
                        strcpy(g->adapter, path);
                        g->have_adapter = true;
                }
        } else if (strcmp(iface, IF_DEVICE) == 0) {
                struct gw_device_change ch = {.d = device_add(g, path)};

                if (!ch.d)
                        return sd_bus_message_skip(m, "a{sv}");
                ch.d->present = true;
                r = gw_each_entry(g, m, "sv", device_prop, &ch);
                if (r >= 0 && !ch.d->addr_str[0]) {
                        gw_malformed(g, "Device1 without an Address", 0);
                        ch.d->used = false;
                } else if (r >= 0 && !ch.d->ours) {
                        g->st.ignored_devices++;
                }
                return r;
        } else if (strcmp(iface, IF_CHAR) == 0) {
                struct gw_char *c = char_add(g, path);

                if (c)
                        return gw_each_entry(g, m, "sv", char_prop, c);
        }
        return sd_bus_message_skip(m, "a{sv}");
}

/* An object and its interfaces, at m positioned on its a{sa{sv}}. */
static int object_added(struct rc_gateway *g, void *ctx, const char *path, sd_bus_message *m) {
        return gw_each_entry(g, m, "sa{sv}", interface_added, (void *)path);
}

/* After objects changed: devices to consider, an adapter to discover with. */
static void settle(struct rc_gateway *g) {
        if (g->have_adapter && !g->discovery_asked)
                start_discovery(g);
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device_change ch = {.d = &g->dev[i]};

                if (ch.d->used && ch.d->present)
                        gw_device_changed(g, &ch);
        }
}

int gw_on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path;
        int r;

        (void)ret_error;
        if (!g->bluez_up)
                return 0;
        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = object_added(g, NULL, path, m);
        if (r < 0)
                gw_malformed(g, "InterfacesAdded", r);
        settle(g);
        return 0;
}

int gw_on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path, *iface;
        int r;

        (void)ret_error;
        r = sd_bus_message_read(m, "o", &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0) {
                struct gw_device *d = device_of(g, path);

                if (!d)
                        continue;
                if (strcmp(iface, IF_DEVICE) == 0 && strcmp(d->path, path) == 0) {
                        device_gone(d, "BlueZ removed the device");
                } else if (strcmp(iface, IF_CHAR) == 0) {
                        struct gw_char *c = char_by_path(d, path);

                        if (c) {
                                gw_char_unsubscribe(c);
                                c->used = false;
                        }
                } else if (strcmp(iface, IF_ADAPTER) == 0 && strcmp(path, g->adapter) == 0) {
                        g->have_adapter = false;
                        g->discovery_asked = false;
                }
        }
        if (r < 0)
                gw_malformed(g, "InterfacesRemoved", r);
        return 0;
}

int gw_on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;
        struct gw_device *d;
        int r;

        (void)ret_error;
        if (!path || !(d = device_of(g, path)))
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0) {
                gw_malformed(g, "PropertiesChanged", r);
                return 0;
        }
        if (strcmp(iface, IF_DEVICE) == 0 && strcmp(path, d->path) == 0) {
                struct gw_device_change ch = {.d = d};

                r = gw_each_entry(g, m, "sv", device_prop, &ch);
                if (r < 0)
                        gw_malformed(g, "Device1 PropertiesChanged", r);
                gw_device_changed(g, &ch);
        } else if (strcmp(iface, IF_CHAR) == 0) {
                r = gw_each_entry(g, m, "sv", char_value_prop, char_by_path(d, path));
                if (r < 0)
                        gw_malformed(g, "characteristic PropertiesChanged", r);
        }
        return 0;
}

static int on_managed_objects(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        (void)ret_error;
        if (e) {
                rc_log_warning("bluez: GetManagedObjects failed: %s",
                               e->message ? e->message : e->name);
                return 0;
        }
        r = gw_each_entry(g, m, "oa{sa{sv}}", object_added, NULL);
        if (r < 0)
                gw_malformed(g, "GetManagedObjects reply", r);
        if (!g->have_adapter)
                rc_log_warning("bluez: no adapter yet; waiting for one");
        g->ready = true;
        settle(g);
        return 0;
}

static void bluez_up(struct rc_gateway *g) {
        int r;

        if (g->bluez_up)
                return;
        g->bluez_up = true;
        rc_log_notice("bluez: org.bluez is on the bus");
        r = sd_bus_call_method_async(g->bus, NULL, BLUEZ, "/", IF_OM, "GetManagedObjects",
                                     on_managed_objects, g, NULL);
        if (r < 0)
                rc_log_error("bluez: cannot ask for its objects: %s", strerror(-r));
}

static void bluez_down(struct rc_gateway *g) {
        if (!g->bluez_up)
                return;
        g->bluez_up = false;
        rc_log_warning("bluez: org.bluez left the bus (bluetoothd stopped?); waiting for it");
        for (unsigned i = 0; i < RC_GATEWAY_MAX_DEVICES; i++) {
                struct gw_device *d = &g->dev[i];

                if (!d->used)
                        continue;
                device_gone(d, "bluetoothd is gone");
                d->connected = d->resolved = d->selected = false;
                d->used = false;
        }
        g->have_adapter = g->discovery_asked = false;
}

int gw_on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        (void)ret_error;
        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0) {
                gw_malformed(g, "NameOwnerChanged", r);
                return 0;
        }
        if (strcmp(name, BLUEZ) != 0)
                return 0;
        if (old_owner[0])
                bluez_down(g);
        if (new_owner[0]) {
                if (old_owner[0] || g->ready)
                        g->st.bluez_restarts++;
                bluez_up(g);
        }
        return 0;
}

int gw_on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct rc_gateway *g = userdata;

        (void)ret_error;
        if (!sd_bus_message_is_method_error(m, NULL))
                bluez_up(g);
        else
                rc_log_warning("bluez: org.bluez is not on the bus yet (is bluetoothd running?); "
                               "waiting for it");
        return 0;
}

/* ---- discovery ----------------------------------------------------------------------- */

static int on_discovery_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void)userdata;
        (void)ret_error;
        if (e && !gw_is_error(e, "org.bluez.Error.InProgress")) /* InProgress: already on */
                rc_log_warning("bluez: discovery: %s", e->message ? e->message : e->name);
        return 0;
}

static void start_discovery(struct rc_gateway *g) {
        static const rc_uuid *const services[] = {&RC_SERVICE_ROLLER, &RC_SERVICE_BODY,
                                                  &RC_SERVICE_HR};
        sd_bus_message *m = NULL;
        int r;

        g->discovery_asked = true;
        r = sd_bus_message_new_method_call(g->bus, &m, BLUEZ, g->adapter, IF_ADAPTER,
                                           "SetDiscoveryFilter");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "Transport", "s", "le");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "UUIDs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "as");
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "s");
        for (unsigned i = 0; r >= 0 && i < 3; i++) {
                char s[RC_UUID_STRLEN];

                rc_uuid_format(services[i], s);
                r = sd_bus_message_append(m, "s", s);
        }
        for (int i = 0; r >= 0 && i < 4; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(g->bus, NULL, m, on_discovery_reply, g, CALL_TIMEOUT_US);
        sd_bus_message_unref(m);
        if (r >= 0)
                r = sd_bus_call_method_async(g->bus, NULL, BLUEZ, g->adapter, IF_ADAPTER,
                                             "StartDiscovery", on_discovery_reply, g, NULL);
        if (r < 0)
                rc_log_error("bluez: cannot start discovery: %s", strerror(-r));
        else
                rc_log_info("bluez: discovering rollers, body clips and heart-rate straps on %s",
                            g->adapter);
}
