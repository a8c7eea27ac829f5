/* The BlueZ stand-in — the object tree.
 *
 * bluetoothd exports its objects with its own gdbus library over libdbus; the
 * stand-in does the same by hand on sd-bus, with one fallback handler for every
 * path, so that what a client sees is what bluetoothd sends:
 *   - every object carries org.freedesktop.DBus.Introspectable and
 *     org.freedesktop.DBus.Properties besides its BlueZ interfaces, and the
 *     ObjectManager at "/" lists them (empty dicts) in that order;
 *   - a method whose object is gone fails with libdbus's UnknownObject error,
 *     "Method "M" with signature "S" on interface "I" doesn't exist"; a known
 *     object with no such method or signature gives UnknownMethod;
 *   - Properties.Get of a property the object does not have (now) is InvalidArgs
 *     "No such property 'X'" (gdbus);
 *   - signals are not sent at once: gdbus queues property changes and interface
 *     additions per object and sends them when the main loop is idle, so method
 *     replies go out first and several changes of one object and interface merge
 *     into one PropertiesChanged, where a property that no longer exists is
 *     listed as invalidated. Value changes of a characteristic are flushed at once
 *     (G_DBUS_PROPERTY_CHANGED_FLAG_FLUSH in src/gatt-client.c).
 */
#include "standin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum obj_type {
        OBJ_NONE,
        OBJ_ROOT,
        OBJ_NODE, /* an intermediate path: /org, /org/rollcoach */
        OBJ_BLUEZ,
        OBJ_ADAPTER,
        OBJ_DEVICE,
        OBJ_SERVICE,
        OBJ_CHRC,
        OBJ_DESC,
        OBJ_CONTROL,
};

struct obj {
        enum obj_type type;
        struct sti_dev *dev;
        struct sti_svc *svc;
        struct sti_chrc *chrc;
        struct sti_desc *desc;
};

/* ---- lookup --------------------------------------------------------------------- */

static bool lookup(struct sti *si, const char *path, struct obj *o) {
        memset(o, 0, sizeof(*o));
        if (strcmp(path, "/") == 0) {
                o->type = OBJ_ROOT;
                return true;
        }
        if (strcmp(path, "/org") == 0 || strcmp(path, "/org/rollcoach") == 0) {
                o->type = OBJ_NODE;
                return true;
        }
        if (strcmp(path, "/org/bluez") == 0) {
                o->type = OBJ_BLUEZ;
                return true;
        }
        if (strcmp(path, STI_ADAPTER_PATH) == 0) {
                o->type = OBJ_ADAPTER;
                return true;
        }
        if (strcmp(path, STI_CONTROL_PATH) == 0) {
                o->type = OBJ_CONTROL;
                return true;
        }
        if (strncmp(path, STI_ADAPTER_PATH "/dev_", strlen(STI_ADAPTER_PATH "/dev_")) != 0)
                return false;
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];
                size_t dl = strlen(d->path);

                if (!d->exported || strncmp(path, d->path, dl) != 0)
                        continue;
                if (path[dl] == '\0') {
                        o->type = OBJ_DEVICE;
                        o->dev = d;
                        return true;
                }
                if (path[dl] != '/' || !d->gatt_exported)
                        return false;
                for (size_t s = 0; s < d->n_svcs; s++) {
                        struct sti_svc *sv = &d->svcs[s];
                        size_t sl = strlen(sv->path);

                        if (sv->hidden || strncmp(path, sv->path, sl) != 0)
                                continue;
                        if (path[sl] == '\0') {
                                *o = (struct obj){.type = OBJ_SERVICE, .dev = d, .svc = sv};
                                return true;
                        }
                        for (size_t c = 0; c < sv->n_chrcs; c++) {
                                struct sti_chrc *ch = &sv->chrcs[c];
                                size_t cl = strlen(ch->path);

                                if (strncmp(path, ch->path, cl) != 0)
                                        continue;
                                if (path[cl] == '\0') {
                                        *o = (struct obj){
                                                .type = OBJ_CHRC, .dev = d, .svc = sv, .chrc = ch};
                                        return true;
                                }
                                if (ch->has_ccc && strcmp(path, ch->ccc.path) == 0) {
                                        *o = (struct obj){.type = OBJ_DESC,
                                                          .dev = d,
                                                          .svc = sv,
                                                          .chrc = ch,
                                                          .desc = &ch->ccc};
                                        return true;
                                }
                        }
                }
                return false;
        }
        return false;
}

/* ---- interfaces and their properties ------------------------------------------- */

typedef int (*prop_fn)(struct sti *si, sd_bus_message *m, const struct obj *o, const char *name);

static int adapter_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_adapter_append_prop(si, m, n);
}
static int device_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_append_device_prop(si, m, o->dev, n);
}
static int battery_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_gatt_append_battery_prop(si, m, o->dev, n);
}
static int service_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_gatt_append_service_prop(si, m, o->svc, n);
}
static int chrc_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_append_chrc_prop(si, m, o->chrc, n);
}
static int desc_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        return sti_gatt_append_desc_prop(si, m, o->desc, n);
}

static const char *const adv_manager_props[] = {"ActiveInstances", "SupportedInstances",
                                                "SupportedIncludes", NULL};

static int adv_manager_prop(struct sti *si, sd_bus_message *m, const struct obj *o, const char *n) {
        static const char *const includes[] = {"tx-power", "appearance", "local-name", NULL};

        if (strcmp(n, "ActiveInstances") == 0)
                return sti_variant(m, "y", 0);
        if (strcmp(n, "SupportedInstances") == 0)
                return sti_variant(m, "y", 5);
        if (strcmp(n, "SupportedIncludes") == 0) {
                int r;

                if (!m)
                        return 1;
                r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, (char **)includes);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r < 0 ? r : 1;
        }
        return 0;
}

static const char *const no_props[] = {NULL};

struct iface {
        const char *name;
        const char *const *props;
        prop_fn fn;
};

static const struct iface if_intro = {STI_IFACE_INTRO, no_props, NULL};
static const struct iface if_props = {STI_IFACE_PROPS, no_props, NULL};
static const struct iface if_agent = {"org.bluez.AgentManager1", no_props, NULL};
static const struct iface if_profile = {"org.bluez.ProfileManager1", no_props, NULL};
static const struct iface if_adapter = {STI_IFACE_ADAPTER, sti_adapter_props, adapter_prop};
static const struct iface if_gatt_mgr = {"org.bluez.GattManager1", no_props, NULL};
static const struct iface if_adv_mgr = {"org.bluez.LEAdvertisingManager1", adv_manager_props,
                                        adv_manager_prop};
static const struct iface if_device = {STI_IFACE_DEVICE, sti_device_props, device_prop};
static const struct iface if_battery = {STI_IFACE_BATTERY, sti_battery_props, battery_prop};
static const struct iface if_service = {STI_IFACE_SERVICE, sti_service_props, service_prop};
static const struct iface if_chrc = {STI_IFACE_CHRC, sti_chrc_props, chrc_prop};
static const struct iface if_desc = {STI_IFACE_DESC, sti_desc_props, desc_prop};
static const struct iface if_om = {STI_IFACE_OM, no_props, NULL};
static const struct iface if_control = {STI_CONTROL_IFACE, no_props, NULL};

/* The interfaces of an object, in gdbus's order. Returns how many. */
static size_t object_ifaces(const struct obj *o, const struct iface *out[6]) {
        size_t n = 0;

        switch (o->type) {
        case OBJ_ROOT:
                out[n++] = &if_intro;
                out[n++] = &if_om;
                return n;
        case OBJ_NODE:
                out[n++] = &if_intro;
                return n;
        case OBJ_CONTROL:
                out[n++] = &if_intro;
                out[n++] = &if_control;
                return n;
        default:
                break;
        }
        out[n++] = &if_intro;
        switch (o->type) {
        case OBJ_BLUEZ:
                out[n++] = &if_agent;
                out[n++] = &if_profile;
                break;
        case OBJ_ADAPTER:
                out[n++] = &if_adapter;
                out[n++] = &if_gatt_mgr;
                out[n++] = &if_adv_mgr;
                break;
        case OBJ_DEVICE:
                out[n++] = &if_device;
                if (o->dev->battery1)
                        out[n++] = &if_battery;
                break;
        case OBJ_SERVICE:
                out[n++] = &if_service;
                break;
        case OBJ_CHRC:
                out[n++] = &if_chrc;
                break;
        case OBJ_DESC:
                out[n++] = &if_desc;
                break;
        default:
                break;
        }
        out[n++] = &if_props;
        return n;
}

static const struct iface *find_iface(const struct obj *o, const char *name) {
        const struct iface *ifs[6];
        size_t n = object_ifaces(o, ifs);

        if (!name)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strcmp(ifs[i]->name, name) == 0)
                        return ifs[i];
        return NULL;
}

/* One {sv} entry: a property and its value. */
static int append_prop(struct sti *si, sd_bus_message *m, const struct obj *o,
                       const struct iface *ifc, const char *name) {
        int r = sd_bus_message_open_container(m, 'e', "sv");

        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = ifc->fn(si, m, o, name);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* a{sv} of an interface's properties. */
static int append_props(struct sti *si, sd_bus_message *m, const struct obj *o,
                        const struct iface *ifc) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");

        if (r < 0)
                return r;
        for (size_t i = 0; ifc->fn && ifc->props[i]; i++) {
                if (ifc->fn(si, NULL, o, ifc->props[i]) <= 0)
                        continue;
                r = append_prop(si, m, o, ifc, ifc->props[i]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* a{sa{sv}} of an object's interfaces (only `only` when not NULL). */
static int append_ifaces(struct sti *si, sd_bus_message *m, const struct obj *o, const char *only) {
        const struct iface *ifs[6];
        size_t n = object_ifaces(o, ifs);
        int r = sd_bus_message_open_container(m, 'a', "{sa{sv}}");

        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (only && strcmp(ifs[i]->name, only) != 0)
                        continue;
                r = sd_bus_message_open_container(m, 'e', "sa{sv}");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", ifs[i]->name);
                if (r >= 0)
                        r = append_props(si, m, o, ifs[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* ---- the object list ----------------------------------------------------------- */

typedef int (*object_cb)(struct sti *si, const char *path, const struct obj *o, void *ud);

/* Every object ObjectManager reports, parents before children. */
static int foreach_object(struct sti *si, object_cb cb, void *ud) {
        struct obj o = {.type = OBJ_BLUEZ};
        int r;

        r = cb(si, "/org/bluez", &o, ud);
        if (r < 0)
                return r;
        o = (struct obj){.type = OBJ_ADAPTER};
        r = cb(si, STI_ADAPTER_PATH, &o, ud);
        if (r < 0)
                return r;
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];

                if (!d->exported)
                        continue;
                o = (struct obj){.type = OBJ_DEVICE, .dev = d};
                r = cb(si, d->path, &o, ud);
                if (r < 0 || !d->gatt_exported)
                        continue;
                for (size_t s = 0; s < d->n_svcs && r >= 0; s++) {
                        struct sti_svc *sv = &d->svcs[s];

                        if (sv->hidden)
                                continue;
                        o = (struct obj){.type = OBJ_SERVICE, .dev = d, .svc = sv};
                        r = cb(si, sv->path, &o, ud);
                        for (size_t c = 0; c < sv->n_chrcs && r >= 0; c++) {
                                struct sti_chrc *ch = &sv->chrcs[c];

                                o = (struct obj){.type = OBJ_CHRC, .dev = d, .svc = sv, .chrc = ch};
                                r = cb(si, ch->path, &o, ud);
                                if (r >= 0 && ch->has_ccc) {
                                        o.type = OBJ_DESC;
                                        o.desc = &ch->ccc;
                                        r = cb(si, ch->ccc.path, &o, ud);
                                }
                        }
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int managed_one(struct sti *si, const char *path, const struct obj *o, void *ud) {
        sd_bus_message *m = ud;
        int r = sd_bus_message_open_container(m, 'e', "oa{sa{sv}}");

        if (r >= 0)
                r = sd_bus_message_append(m, "o", path);
        if (r >= 0)
                r = append_ifaces(si, m, o, NULL);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int get_managed_objects(struct sti *si, sd_bus_message *call) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_return(call, &m);

        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{oa{sa{sv}}}");
        if (r >= 0)
                r = foreach_object(si, managed_one, m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

/* ---- Introspect ----------------------------------------------------------------- */

static const char intro_header[] =
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
        "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n";

static const char *iface_xml(const char *name) {
        static const struct {
                const char *name, *xml;
        } x[] = {
                {STI_IFACE_INTRO, "<method name=\"Introspect\"><arg name=\"xml\" type=\"s\" "
                                  "direction=\"out\"/></method>"},
                {STI_IFACE_PROPS,
                 "<method name=\"Get\"><arg name=\"interface\" type=\"s\" direction=\"in\"/><arg "
                 "name=\"name\" type=\"s\" direction=\"in\"/><arg name=\"value\" type=\"v\" "
                 "direction=\"out\"/></method><method name=\"Set\"><arg name=\"interface\" "
                 "type=\"s\" direction=\"in\"/><arg name=\"name\" type=\"s\" "
                 "direction=\"in\"/><arg "
                 "name=\"value\" type=\"v\" direction=\"in\"/></method><method "
                 "name=\"GetAll\"><arg name=\"interface\" type=\"s\" direction=\"in\"/><arg "
                 "name=\"properties\" type=\"a{sv}\" direction=\"out\"/></method><signal "
                 "name=\"PropertiesChanged\"><arg name=\"interface\" type=\"s\"/><arg "
                 "name=\"changed_properties\" type=\"a{sv}\"/><arg name=\"invalidated_properties\" "
                 "type=\"as\"/></signal>"},
                {STI_IFACE_OM, "<method name=\"GetManagedObjects\"><arg name=\"objects\" "
                               "type=\"a{oa{sa{sv}}}\" direction=\"out\"/></method><signal "
                               "name=\"InterfacesAdded\"><arg name=\"object\" type=\"o\"/><arg "
                               "name=\"interfaces\" type=\"a{sa{sv}}\"/></signal><signal "
                               "name=\"InterfacesRemoved\"><arg name=\"object\" type=\"o\"/><arg "
                               "name=\"interfaces\" type=\"as\"/></signal>"},
                {"org.bluez.AgentManager1",
                 "<method name=\"RegisterAgent\"><arg name=\"agent\" type=\"o\" "
                 "direction=\"in\"/><arg name=\"capability\" type=\"s\" "
                 "direction=\"in\"/></method><method name=\"UnregisterAgent\"><arg name=\"agent\" "
                 "type=\"o\" direction=\"in\"/></method><method name=\"RequestDefaultAgent\"><arg "
                 "name=\"agent\" type=\"o\" direction=\"in\"/></method>"},
                {"org.bluez.ProfileManager1",
                 "<method name=\"RegisterProfile\"><arg name=\"profile\" type=\"o\" "
                 "direction=\"in\"/><arg name=\"UUID\" type=\"s\" direction=\"in\"/><arg "
                 "name=\"options\" type=\"a{sv}\" direction=\"in\"/></method><method "
                 "name=\"UnregisterProfile\"><arg name=\"profile\" type=\"o\" "
                 "direction=\"in\"/></method>"},
                {STI_IFACE_ADAPTER,
                 "<method name=\"StartDiscovery\"/><method name=\"SetDiscoveryFilter\"><arg "
                 "name=\"properties\" type=\"a{sv}\" direction=\"in\"/></method><method "
                 "name=\"StopDiscovery\"/><method name=\"RemoveDevice\"><arg name=\"device\" "
                 "type=\"o\" direction=\"in\"/></method><method name=\"GetDiscoveryFilters\"><arg "
                 "name=\"filters\" type=\"as\" direction=\"out\"/></method><property "
                 "name=\"Address\" type=\"s\" access=\"read\"/><property name=\"AddressType\" "
                 "type=\"s\" access=\"read\"/><property name=\"Name\" type=\"s\" "
                 "access=\"read\"/><property name=\"Alias\" type=\"s\" "
                 "access=\"readwrite\"/><property name=\"Class\" type=\"u\" "
                 "access=\"read\"/><property name=\"Connectable\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"Powered\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"Discoverable\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"DiscoverableTimeout\" type=\"u\" "
                 "access=\"readwrite\"/><property name=\"Pairable\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"PairableTimeout\" type=\"u\" "
                 "access=\"readwrite\"/><property name=\"Discovering\" type=\"b\" "
                 "access=\"read\"/><property name=\"UUIDs\" type=\"as\" access=\"read\"/><property "
                 "name=\"Modalias\" type=\"s\" access=\"read\"/><property name=\"Roles\" "
                 "type=\"as\" access=\"read\"/><property name=\"Manufacturer\" type=\"q\" "
                 "access=\"read\"/><property name=\"Version\" type=\"y\" access=\"read\"/>"},
                {"org.bluez.GattManager1",
                 "<method name=\"RegisterApplication\"><arg name=\"application\" type=\"o\" "
                 "direction=\"in\"/><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/></method><method name=\"UnregisterApplication\"><arg "
                 "name=\"application\" type=\"o\" direction=\"in\"/></method>"},
                {"org.bluez.LEAdvertisingManager1",
                 "<method name=\"RegisterAdvertisement\"><arg name=\"advertisement\" type=\"o\" "
                 "direction=\"in\"/><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/></method><method name=\"UnregisterAdvertisement\"><arg "
                 "name=\"service\" type=\"o\" direction=\"in\"/></method><property "
                 "name=\"ActiveInstances\" type=\"y\" access=\"read\"/><property "
                 "name=\"SupportedInstances\" type=\"y\" access=\"read\"/><property "
                 "name=\"SupportedIncludes\" type=\"as\" access=\"read\"/>"},
                {STI_IFACE_DEVICE,
                 "<method name=\"Disconnect\"/><method name=\"Connect\"/><method "
                 "name=\"ConnectProfile\"><arg name=\"UUID\" type=\"s\" "
                 "direction=\"in\"/></method><method name=\"DisconnectProfile\"><arg "
                 "name=\"UUID\" type=\"s\" direction=\"in\"/></method><method "
                 "name=\"Pair\"/><method name=\"CancelPairing\"/><property name=\"Address\" "
                 "type=\"s\" access=\"read\"/><property name=\"AddressType\" type=\"s\" "
                 "access=\"read\"/><property name=\"Name\" type=\"s\" access=\"read\"/><property "
                 "name=\"Alias\" type=\"s\" access=\"readwrite\"/><property name=\"Appearance\" "
                 "type=\"q\" access=\"read\"/><property name=\"Icon\" type=\"s\" "
                 "access=\"read\"/><property name=\"Paired\" type=\"b\" "
                 "access=\"read\"/><property name=\"Bonded\" type=\"b\" "
                 "access=\"read\"/><property name=\"Trusted\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"Blocked\" type=\"b\" "
                 "access=\"readwrite\"/><property name=\"LegacyPairing\" type=\"b\" "
                 "access=\"read\"/><property name=\"RSSI\" type=\"n\" access=\"read\"/><property "
                 "name=\"Connected\" type=\"b\" access=\"read\"/><property name=\"UUIDs\" "
                 "type=\"as\" access=\"read\"/><property name=\"Adapter\" type=\"o\" "
                 "access=\"read\"/><property name=\"ManufacturerData\" type=\"a{qv}\" "
                 "access=\"read\"/><property name=\"ServiceData\" type=\"a{sv}\" "
                 "access=\"read\"/><property name=\"ServicesResolved\" type=\"b\" "
                 "access=\"read\"/><property name=\"AdvertisingFlags\" type=\"ay\" "
                 "access=\"read\"/>"},
                {STI_IFACE_BATTERY, "<property name=\"Percentage\" type=\"y\" "
                                    "access=\"read\"/><property name=\"Source\" type=\"s\" "
                                    "access=\"read\"/>"},
                {STI_IFACE_SERVICE,
                 "<property name=\"UUID\" type=\"s\" access=\"read\"/><property name=\"Device\" "
                 "type=\"o\" access=\"read\"/><property name=\"Primary\" type=\"b\" "
                 "access=\"read\"/><property name=\"Includes\" type=\"ao\" "
                 "access=\"read\"/><property name=\"Handle\" type=\"q\" access=\"read\"/>"},
                {STI_IFACE_CHRC,
                 "<method name=\"ReadValue\"><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/><arg name=\"value\" type=\"ay\" "
                 "direction=\"out\"/></method><method name=\"WriteValue\"><arg name=\"value\" "
                 "type=\"ay\" direction=\"in\"/><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/></method><method name=\"AcquireWrite\"><arg "
                 "name=\"options\" type=\"a{sv}\" direction=\"in\"/><arg name=\"fd\" type=\"h\" "
                 "direction=\"out\"/><arg name=\"mtu\" type=\"q\" "
                 "direction=\"out\"/></method><method name=\"AcquireNotify\"><arg "
                 "name=\"options\" type=\"a{sv}\" direction=\"in\"/><arg name=\"fd\" type=\"h\" "
                 "direction=\"out\"/><arg name=\"mtu\" type=\"q\" "
                 "direction=\"out\"/></method><method name=\"StartNotify\"/><method "
                 "name=\"StopNotify\"/><property name=\"Handle\" type=\"q\" "
                 "access=\"read\"/><property name=\"UUID\" type=\"s\" access=\"read\"/><property "
                 "name=\"Service\" type=\"o\" access=\"read\"/><property name=\"Value\" "
                 "type=\"ay\" access=\"read\"/><property name=\"Notifying\" type=\"b\" "
                 "access=\"read\"/><property name=\"Flags\" type=\"as\" "
                 "access=\"read\"/><property name=\"NotifyAcquired\" type=\"b\" "
                 "access=\"read\"/><property name=\"MTU\" type=\"q\" access=\"read\"/>"},
                {STI_IFACE_DESC,
                 "<method name=\"ReadValue\"><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/><arg name=\"value\" type=\"ay\" "
                 "direction=\"out\"/></method><method name=\"WriteValue\"><arg name=\"value\" "
                 "type=\"ay\" direction=\"in\"/><arg name=\"options\" type=\"a{sv}\" "
                 "direction=\"in\"/></method><property name=\"Handle\" type=\"q\" "
                 "access=\"read\"/><property name=\"UUID\" type=\"s\" access=\"read\"/><property "
                 "name=\"Characteristic\" type=\"o\" access=\"read\"/><property name=\"Value\" "
                 "type=\"ay\" access=\"read\"/>"},
                {STI_CONTROL_IFACE,
                 "<method name=\"DropLink\"><arg name=\"address\" type=\"s\" "
                 "direction=\"in\"/></method><method name=\"RefuseConnects\"><arg "
                 "name=\"address\" type=\"s\" direction=\"in\"/><arg name=\"count\" type=\"u\" "
                 "direction=\"in\"/></method><method name=\"WithholdAcquireNotify\"><arg "
                 "name=\"withhold\" type=\"b\" direction=\"in\"/></method><method "
                 "name=\"SetConnectDelay\"><arg name=\"ms\" type=\"u\" "
                 "direction=\"in\"/></method><method name=\"SetDisconnectDelay\"><arg name=\"ms\" "
                 "type=\"u\" direction=\"in\"/></method><method name=\"RemoveDevice\"><arg "
                 "name=\"address\" type=\"s\" direction=\"in\"/></method><method "
                 "name=\"SetMalformed\"><arg name=\"kind\" type=\"s\" "
                 "direction=\"in\"/></method><method name=\"Stats\"><arg name=\"stats\" "
                 "type=\"a{st}\" direction=\"out\"/></method>"},
        };

        for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
                if (strcmp(x[i].name, name) == 0)
                        return x[i].xml;
        return "";
}

struct children {
        const char *parent;
        size_t plen;
        char names[64][48];
        size_t n;
};

static void add_child(struct children *c, const char *path) {
        const char *rest, *slash;
        size_t len;

        if (c->plen == 1)
                rest = path + 1;
        else if (strncmp(path, c->parent, c->plen) == 0 && path[c->plen] == '/')
                rest = path + c->plen + 1;
        else
                return;
        slash = strchr(rest, '/');
        len = slash ? (size_t)(slash - rest) : strlen(rest);
        if (len == 0 || len >= sizeof(c->names[0]))
                return;
        for (size_t i = 0; i < c->n; i++)
                if (strlen(c->names[i]) == len && strncmp(c->names[i], rest, len) == 0)
                        return;
        if (c->n < sizeof(c->names) / sizeof(c->names[0])) {
                memcpy(c->names[c->n], rest, len);
                c->names[c->n++][len] = '\0';
        }
}

static int child_cb(struct sti *si, const char *path, const struct obj *o, void *ud) {
        add_child(ud, path);
        return 0;
}

static int introspect(struct sti *si, sd_bus_message *call, const struct obj *o, const char *path) {
        const struct iface *ifs[6];
        size_t n = object_ifaces(o, ifs);
        struct children *c = calloc(1, sizeof(*c));
        char *xml = NULL;
        size_t xlen = 0;
        FILE *f;
        int r;

        if (!c)
                return -ENOMEM;
        f = open_memstream(&xml, &xlen);
        if (!f) {
                free(c);
                return -ENOMEM;
        }
        c->parent = path;
        c->plen = strlen(path);
        foreach_object(si, child_cb, c);
        add_child(c, STI_CONTROL_PATH);
        fputs(intro_header, f);
        fprintf(f, "<node>");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "<interface name=\"%s\">%s</interface>", ifs[i]->name,
                        iface_xml(ifs[i]->name));
        for (size_t i = 0; i < c->n; i++)
                fprintf(f, "<node name=\"%s\"/>", c->names[i]);
        fprintf(f, "</node>\n");
        fclose(f);
        r = sd_bus_reply_method_return(call, "s", xml);
        free(xml);
        free(c);
        return r;
}

/* ---- Properties ------------------------------------------------------------------ */

/* The interface (and, with ret_name, the property) a Properties call names, read
 * from its arguments. 0 when the object has them; else the result of the error
 * reply (gdbus's InvalidArgs). */
static int props_target(struct sti *si, sd_bus_message *call, const struct obj *o,
                        const struct iface **ret_ifc, const char **ret_name) {
        const char *ifname;
        int r;

        r = ret_name ? sd_bus_message_read(call, "ss", &ifname, ret_name)
                     : sd_bus_message_read(call, "s", &ifname);
        if (r < 0)
                return sti_reply_error(call, "org.freedesktop.DBus.Error.InvalidArgs",
                                       "Invalid arguments");
        *ret_ifc = find_iface(o, ifname);
        if (!*ret_ifc)
                return sti_reply_error(call, "org.freedesktop.DBus.Error.InvalidArgs",
                                       "No such interface '%s'", ifname);
        if (ret_name && (!(*ret_ifc)->fn || (*ret_ifc)->fn(si, NULL, o, *ret_name) <= 0))
                return sti_reply_error(call, "org.freedesktop.DBus.Error.InvalidArgs",
                                       "No such property '%s'", *ret_name);
        return 0;
}

static int props_get(struct sti *si, sd_bus_message *call, const struct obj *o) {
        const char *name;
        const struct iface *ifc;
        sd_bus_message *m = NULL;
        int r;

        r = props_target(si, call, o, &ifc, &name);
        if (r != 0)
                return r;
        r = sd_bus_message_new_method_return(call, &m);
        if (r >= 0)
                r = ifc->fn(si, m, o, name);
        if (r >= 0)
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static int props_get_all(struct sti *si, sd_bus_message *call, const struct obj *o) {
        const struct iface *ifc;
        sd_bus_message *m = NULL;
        int r;

        r = props_target(si, call, o, &ifc, NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_new_method_return(call, &m);
        if (r >= 0)
                r = append_props(si, m, o, ifc);
        if (r >= 0)
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static int props_set(struct sti *si, sd_bus_message *call, const struct obj *o) {
        const char *name;
        const struct iface *ifc;
        int r;

        r = props_target(si, call, o, &ifc, &name);
        if (r != 0)
                return r;
        /* The setters read the variant themselves and reply. */
        if (ifc == &if_adapter) {
                r = sti_adapter_set_prop(si, call, name);
                if (r != 0)
                        return r;
        } else if (ifc == &if_device) {
                r = sti_device_set_prop(si, call, o->dev, name);
                if (r != 0)
                        return r;
        }
        return sti_reply_error(call, "org.freedesktop.DBus.Error.PropertyReadOnly",
                               "Property '%s' is not writable", name);
}

/* ---- method dispatch ----------------------------------------------------------- */

static int unknown(sd_bus_message *m, bool object_found) {
        const char *iface = sd_bus_message_get_interface(m);

        /* libdbus's own reply when no handler takes a call (dbus-connection.c). */
        return sti_reply_error(
                m,
                object_found ? "org.freedesktop.DBus.Error.UnknownMethod"
                             : "org.freedesktop.DBus.Error.UnknownObject",
                "Method \"%s\" with signature \"%s\" on interface \"%s\" doesn't exist\n",
                sd_bus_message_get_member(m), sd_bus_message_get_signature(m, true),
                iface ? iface : "(null)");
}

static bool sig_is(sd_bus_message *m, const char *sig) {
        const char *s = sd_bus_message_get_signature(m, true);

        return s && strcmp(s, sig) == 0;
}

static int on_method(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct sti *si = userdata;
        const char *path = sd_bus_message_get_path(m);
        const char *ifname = sd_bus_message_get_interface(m);
        const char *member = sd_bus_message_get_member(m);
        const struct iface *ifc;
        struct obj o;
        int r;

        if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0)
                return 0;
        if (!path || !member)
                return 0;
        if (!lookup(si, path, &o))
                return unknown(m, false);
        ifc = find_iface(&o, ifname);
        if (!ifc)
                return unknown(m, true);

        if (ifc == &if_intro) {
                if (strcmp(member, "Introspect") == 0 && sig_is(m, ""))
                        return introspect(si, m, &o, path);
                return unknown(m, true);
        }
        if (ifc == &if_props) {
                if (strcmp(member, "Get") == 0 && sig_is(m, "ss"))
                        return props_get(si, m, &o);
                if (strcmp(member, "GetAll") == 0 && sig_is(m, "s"))
                        return props_get_all(si, m, &o);
                if (strcmp(member, "Set") == 0 && sig_is(m, "ssv"))
                        return props_set(si, m, &o);
                return unknown(m, true);
        }
        if (ifc == &if_om) {
                if (strcmp(member, "GetManagedObjects") == 0 && sig_is(m, ""))
                        return get_managed_objects(si, m);
                return unknown(m, true);
        }
        r = 0;
        if (ifc == &if_adapter)
                r = sti_adapter_method(si, m, member);
        else if (ifc == &if_device)
                r = sti_device_method(si, m, o.dev, member);
        else if (ifc == &if_chrc)
                r = sti_gatt_chrc_method(si, m, o.chrc, member);
        else if (ifc == &if_desc)
                r = sti_gatt_desc_method(si, m, o.desc, member);
        else if (ifc == &if_control)
                r = sti_control_method(si, m, member);
        else if (ifc == &if_agent || ifc == &if_profile) {
                /* Agents and profiles are accepted and never called. */
                if ((strcmp(member, "RegisterAgent") == 0 && sig_is(m, "os")) ||
                    (strcmp(member, "UnregisterAgent") == 0 && sig_is(m, "o")) ||
                    (strcmp(member, "RequestDefaultAgent") == 0 && sig_is(m, "o")) ||
                    (strcmp(member, "RegisterProfile") == 0 && sig_is(m, "osa{sv}")) ||
                    (strcmp(member, "UnregisterProfile") == 0 && sig_is(m, "o")))
                        r = sti_reply_empty(m);
        } else if (ifc == &if_gatt_mgr || ifc == &if_adv_mgr) {
                if ((strcmp(member, "RegisterApplication") == 0 && sig_is(m, "oa{sv}")) ||
                    (strcmp(member, "RegisterAdvertisement") == 0 && sig_is(m, "oa{sv}")))
                        r = sti_reply_error(m, "org.bluez.Error.NotSupported",
                                            "Operation is not supported");
                else if ((strcmp(member, "UnregisterApplication") == 0 ||
                          strcmp(member, "UnregisterAdvertisement") == 0) &&
                         sig_is(m, "o"))
                        r = sti_reply_error(m, "org.bluez.Error.DoesNotExist", "Does Not Exist");
        }
        if (r == 0)
                return unknown(m, true);
        if (r < 0)
                rc_log_warning("%s.%s on %s: %s", ifname, member, path, strerror(-r));
        sti_flush_if_large(si);
        return 1;
}

/* ---- errors and replies -------------------------------------------------------------- */

int sti_reply_error(sd_bus_message *call, const char *name, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        r = sd_bus_reply_method_errorf(call, name, "%s", msg);
        return r < 0 ? r : 1;
}

int sti_read_set_value(sd_bus_message *m, char type, void *ret) {
        const char *contents = NULL;
        char want[2] = {type, 0};
        char t;
        int r;

        r = sd_bus_message_peek_type(m, &t, &contents);
        if (r <= 0 || t != 'v' || !contents || strcmp(contents, want) != 0)
                return 0;
        r = sd_bus_message_enter_container(m, 'v', want);
        if (r < 0)
                return 0;
        r = sd_bus_message_read_basic(m, type, ret);
        if (r <= 0)
                return 0;
        sd_bus_message_exit_container(m);
        return 1;
}

int sti_reply_empty(sd_bus_message *call) {
        int r = sd_bus_reply_method_return(call, NULL);

        return r < 0 ? r : 1;
}

/* ---- the signal queue ------------------------------------------------------------ */

#define STI_PENDING_PROPS 24
#define STI_PENDING_MAX 4096

struct sti_pending {
        struct sti_pending *next;
        sd_bus_message *msg; /* a built signal, or NULL for a property change */
        char path[160];
        char iface[48];
        char names[STI_PENDING_PROPS][32]; /* copies: callers may pass message strings */
        size_t n_names;
};

static int on_flush(sd_event_source *s, void *userdata) {
        sti_flush(userdata);
        return 0;
}

static void queue(struct sti *si, struct sti_pending *p) {
        if (si->pending_tail)
                si->pending_tail->next = p;
        else
                si->pending_head = p;
        si->pending_tail = p;
        si->n_pending++;
        if (si->flush_source)
                sd_event_source_set_enabled(si->flush_source, SD_EVENT_ONESHOT);
        sti_flush_if_large(si);
}

void sti_flush_if_large(struct sti *si) {
        if (si->n_pending >= STI_PENDING_MAX)
                sti_flush(si);
}

void sti_props_changed(struct sti *si, const char *path, const char *iface, ...) {
        struct sti_pending *p;
        va_list ap;
        const char *name;

        for (p = si->pending_head; p; p = p->next)
                if (!p->msg && strcmp(p->path, path) == 0 && strcmp(p->iface, iface) == 0)
                        break;
        if (!p) {
                p = calloc(1, sizeof(*p));
                if (!p) {
                        rc_log_error("out of memory: a property change is lost");
                        return;
                }
                snprintf(p->path, sizeof(p->path), "%s", path);
                snprintf(p->iface, sizeof(p->iface), "%s", iface);
                queue(si, p);
        }
        va_start(ap, iface);
        while ((name = va_arg(ap, const char *))) {
                bool have = false;

                for (size_t i = 0; i < p->n_names; i++)
                        if (strcmp(p->names[i], name) == 0)
                                have = true;
                if (!have && p->n_names < STI_PENDING_PROPS)
                        snprintf(p->names[p->n_names++], sizeof(p->names[0]), "%s", name);
        }
        va_end(ap);
}

static void queue_msg(struct sti *si, sd_bus_message *m) {
        struct sti_pending *p = calloc(1, sizeof(*p));

        if (!p) {
                sd_bus_message_unref(m);
                rc_log_error("out of memory: a signal is lost");
                return;
        }
        p->msg = m;
        queue(si, p);
}

void sti_emit_added(struct sti *si, const char *path, const char *iface) {
        sd_bus_message *m = NULL;
        struct obj o;
        int r;

        if (!lookup(si, path, &o))
                return;
        r = sd_bus_message_new_signal(si->bus, &m, "/", STI_IFACE_OM, "InterfacesAdded");
        if (r >= 0)
                r = sd_bus_message_append(m, "o", path);
        if (r >= 0)
                r = append_ifaces(si, m, &o, iface);
        if (r < 0) {
                rc_log_error("InterfacesAdded %s: %s", path, strerror(-r));
                sd_bus_message_unref(m);
                return;
        }
        queue_msg(si, m);
}

static int send_props(struct sti *si, struct sti_pending *p);

/* gdbus's process_properties_from_interface(): changes of an interface still
 * waiting when it is removed are sent at once, before the removal. */
static void flush_object_props(struct sti *si, const char *path, const char *iface) {
        struct sti_pending **pp = &si->pending_head, *prev = NULL;

        while (*pp) {
                struct sti_pending *p = *pp;

                if (p->msg || strcmp(p->path, path) != 0 ||
                    (iface && strcmp(p->iface, iface) != 0)) {
                        prev = p;
                        pp = &p->next;
                        continue;
                }
                *pp = p->next;
                if (si->pending_tail == p)
                        si->pending_tail = prev;
                si->n_pending--;
                if (send_props(si, p) < 0)
                        rc_log_warning("sending a signal: %s", path);
                free(p);
        }
}

void sti_emit_removed(struct sti *si, const char *path, const char *iface_or_null,
                      const char *main_iface) {
        sd_bus_message *m = NULL;
        int r;

        flush_object_props(si, path, iface_or_null);
        r = sd_bus_message_new_signal(si->bus, &m, "/", STI_IFACE_OM, "InterfacesRemoved");
        if (r >= 0)
                r = sd_bus_message_append(m, "o", path);
        if (r >= 0 && iface_or_null)
                r = sd_bus_message_append(m, "as", 1, iface_or_null);
        else if (r >= 0)
                r = sd_bus_message_append(m, "as", 3, STI_IFACE_INTRO, main_iface, STI_IFACE_PROPS);
        if (r < 0) {
                rc_log_error("InterfacesRemoved %s: %s", path, strerror(-r));
                sd_bus_message_unref(m);
                return;
        }
        queue_msg(si, m);
}

/* PropertiesChanged of a pending change, from the current values. */
static int send_props(struct sti *si, struct sti_pending *p) {
        sd_bus_message *m = NULL;
        const struct iface *ifc;
        const char *invalid[STI_PENDING_PROPS];
        size_t n_invalid = 0, n_changed = 0;
        struct obj o;
        int r;

        if (!lookup(si, p->path, &o))
                return 0; /* the object went away first */
        ifc = find_iface(&o, p->iface);
        if (!ifc || !ifc->fn)
                return 0;
        r = sd_bus_message_new_signal(si->bus, &m, p->path, STI_IFACE_PROPS, "PropertiesChanged");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", p->iface);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < p->n_names; i++) {
                if (ifc->fn(si, NULL, &o, p->names[i]) <= 0) {
                        invalid[n_invalid++] = p->names[i];
                        continue;
                }
                n_changed++;
                r = append_prop(si, m, &o, ifc, p->names[i]);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < n_invalid; i++)
                r = sd_bus_message_append(m, "s", invalid[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0 && (n_changed || n_invalid))
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

void sti_flush(struct sti *si) {
        while (si->pending_head) {
                struct sti_pending *p = si->pending_head;
                int r;

                si->pending_head = p->next;
                if (!si->pending_head)
                        si->pending_tail = NULL;
                si->n_pending--;
                if (p->msg) {
                        r = sd_bus_send(si->bus, p->msg, NULL);
                        sd_bus_message_unref(p->msg);
                } else {
                        r = send_props(si, p);
                }
                if (r < 0)
                        rc_log_warning("sending a signal: %s", strerror(-r));
                free(p);
        }
}

int sti_send(struct sti *si, sd_bus_message *m) {
        sti_flush(si);
        return sd_bus_send(si->bus, m, NULL);
}

int sti_objects_attach(struct sti *si) {
        int r = sd_bus_add_fallback(si->bus, NULL, "/", on_method, si);

        if (r < 0)
                return r;
        r = sd_event_add_defer(si->event, &si->flush_source, on_flush, si);
        if (r < 0)
                return r;
        /* Like gdbus's idle source: after every message and timer waiting. */
        sd_event_source_set_priority(si->flush_source, SD_EVENT_PRIORITY_IDLE);
        return sd_event_source_set_enabled(si->flush_source, SD_EVENT_OFF);
}

void sti_objects_free(struct sti *si) {
        while (si->pending_head) {
                struct sti_pending *p = si->pending_head;

                si->pending_head = p->next;
                sd_bus_message_unref(p->msg);
                free(p);
        }
        si->pending_tail = NULL;
        si->n_pending = 0;
        si->flush_source = sd_event_source_unref(si->flush_source);
}
