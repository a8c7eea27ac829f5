/* The BlueZ stand-in — a device's GATT database and the GATT interfaces
 * (org.bluez.GattService1, GattCharacteristic1, GattDescriptor1), after
 * src/gatt-client.c:
 *
 *   - paths service%04x / char%04x / desc%04x from the attribute handles
 *     (characteristic: its declaration handle, which is also its Handle);
 *   - services a bluetoothd plugin claims are not exported: GAP (0x1800, whose
 *     Device Name and Appearance become Device1.Name/Appearance) and HID;
 *     Battery (0x180F) and Device Information (0x180A) are (their plugins are
 *     "external"), and the battery plugin adds org.bluez.Battery1 on the device;
 *   - Notifying exists only with "notify" or "indicate", NotifyAcquired only with
 *     "notify" (and not at all when AcquireNotify is withheld), WriteAcquired only
 *     with "write-without-response";
 *   - a method on a disconnected device: Failed "Not connected" (not NotConnected;
 *     StartNotify is the exception: it succeeds and arms the session for the next
 *     connection); ReadValue of a characteristic without "read": NotPermitted "Read
 *     not permitted" (the peer's ATT error); an offset past the value: InvalidArguments
 *     "Invalid offset"; options other than a uint16 "offset": InvalidArguments;
 *   - ReadValue updates Value and emits it at once (FLUSH), then replies;
 *   - StartNotify: one session per client (a second from the same client succeeds),
 *     NotPermitted "Notify acquired" while acquired; StopNotify without a session:
 *     Failed "No notify session started"; StopNotify while acquired releases it;
 *   - AcquireNotify: NotPermitted while acquired, InProgress while StartNotify
 *     sessions exist, NotSupported without "notify"; a SOCK_SEQPACKET|SOCK_NONBLOCK
 *     socket pair, one notification per packet, dropped when the socket is full
 *     (sendmsg fails: EAGAIN), shut down when the link drops; the client closing its
 *     end releases it; Notifying does not change;
 *   - each notification of a StartNotify session is a PropertiesChanged of Value
 *     alone, sent at once; with AcquireNotify Value does not change;
 *   - writing the CCC descriptor: NotPermitted "Write not permitted".
 */
#include "standin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_LE_MTU 23

const char *const sti_service_props[] = {"Handle", "UUID", "Device", "Primary", "Includes", NULL};
const char *const sti_chrc_props[] = {"Handle", "UUID",           "Service", "Value", "Notifying",
                                      "Flags",  "NotifyAcquired", "MTU",     NULL};
const char *const sti_desc_props[] = {"Handle", "UUID", "Characteristic", "Value", NULL};
const char *const sti_battery_props[] = {"Percentage", "Source", NULL};

static const rc_uuid ccc_uuid = {{0x00, 0x00, 0x29, 0x02, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00,
                                  0x80, 0x5f, 0x9b, 0x34, 0xfb}};

/* ---- layout ---------------------------------------------------------------------------- */

static struct sti_svc *add_svc(struct sti_dev *d, const rc_uuid *uuid, bool hidden, uint16_t *h) {
        struct sti_svc *s;

        if (d->n_svcs >= STI_MAX_SERVICES)
                return NULL;
        s = &d->svcs[d->n_svcs++];
        memset(s, 0, sizeof(*s));
        s->dev = d;
        s->uuid = *uuid;
        s->hidden = hidden;
        s->start = (*h)++;
        s->end = s->start;
        snprintf(s->path, sizeof(s->path), "%s/service%04x", d->path, s->start);
        return s;
}

static struct sti_chrc *add_chrc(struct sti_svc *s, const rc_uuid *uuid, uint8_t props,
                                 uint16_t *h) {
        struct sti_chrc *c;

        if (!s || s->n_chrcs >= STI_MAX_CHRCS)
                return NULL;
        c = &s->chrcs[s->n_chrcs++];
        memset(c, 0, sizeof(*c));
        c->svc = s;
        c->uuid = *uuid;
        c->known = rc_gatt_char_from_uuid(uuid);
        c->props = props;
        c->acq_fd = -1;
        c->handle = (*h)++;
        c->value_handle = (*h)++;
        snprintf(c->path, sizeof(c->path), "%s/char%04x", s->path, c->handle);
        if (props & (STI_PROP_NOTIFY | STI_PROP_INDICATE)) {
                c->has_ccc = true;
                c->ccc.chrc = c;
                c->ccc.uuid = ccc_uuid;
                c->ccc.handle = (*h)++;
                char suffix[16];

                snprintf(suffix, sizeof(suffix), "/desc%04x", c->ccc.handle);
                memcpy(c->ccc.path, c->path, strlen(c->path) + 1);
                strncat(c->ccc.path, suffix, sizeof(c->ccc.path) - strlen(c->ccc.path) - 1);
        }
        s->end = (uint16_t)(*h - 1);
        return c;
}

static void set_dev_value(struct sti_chrc *c, const void *p, size_t len) {
        if (!c)
                return;
        if (len > STI_VALUE_MAX)
                len = STI_VALUE_MAX;
        memcpy(c->dev_value, p, len);
        c->dev_len = len;
        c->dev_known = true;
}

/* A readable characteristic whose value comes from the trace's first read. */
static struct sti_chrc *add_traced(struct sti_dev *d, struct sti_svc *s, enum rc_char which,
                                   uint8_t props, uint16_t *h) {
        struct sti_chrc *c = add_chrc(s, rc_gatt_char_uuid(which), props, h);

        if (c && d->td && d->td->seen_char[which])
                set_dev_value(c, d->td->first_value[which], d->td->first_len[which]);
        return c;
}

void sti_gatt_build(struct sti_dev *d, const bool has[RC_CHAR__COUNT]) {
        const bool *seen = d->td ? d->td->seen_char : has;
        uint16_t h = 1;
        struct sti_svc *s;
        struct sti_chrc *c;
        bool devinfo;

        /* GAP: claimed by the gap plugin, never exported. */
        s = add_svc(d, &(rc_uuid){{0}}, true, &h);
        s->uuid = rc_uuid_from16(0x1800);
        c = add_chrc(s, rc_gatt_char_uuid(RC_CHAR_DEVICE_NAME), STI_PROP_READ, &h);
        if (d->has_name)
                set_dev_value(c, d->name, strlen(d->name));
        c = add_chrc(s, &(rc_uuid){{0}}, STI_PROP_READ, &h);
        if (c) {
                uint8_t app[2] = {(uint8_t)d->appearance, (uint8_t)(d->appearance >> 8)};

                c->uuid = rc_uuid_from16(0x2a01);
                set_dev_value(c, app, 2);
        }
        /* Generic Attribute: Service Changed (indicate). */
        s = add_svc(d, &(rc_uuid){{0}}, false, &h);
        s->uuid = rc_uuid_from16(0x1801);
        c = add_chrc(s, &(rc_uuid){{0}}, STI_PROP_INDICATE, &h);
        if (c)
                c->uuid = rc_uuid_from16(0x2a05);

        switch (d->kind) {
        case STI_KIND_KEYBOARD: {
                s = add_svc(d, &(rc_uuid){{0}}, true, &h); /* HID: claimed by hog */
                s->uuid = rc_uuid_from16(0x1812);
                c = add_chrc(s, &(rc_uuid){{0}}, STI_PROP_READ | STI_PROP_NOTIFY, &h);
                if (c)
                        c->uuid = rc_uuid_from16(0x2a4d);
                break;
        }
        case STI_KIND_THERMOMETER: {
                static const uint8_t temp[] = {0x00, 0x72, 0x01, 0x00, 0xff}; /* 37.0 °C */

                s = add_svc(d, &(rc_uuid){{0}}, false, &h);
                s->uuid = rc_uuid_from16(0x1809);
                c = add_chrc(s, &(rc_uuid){{0}}, STI_PROP_INDICATE, &h);
                if (c) {
                        c->uuid = rc_uuid_from16(0x2a1c);
                        set_dev_value(c, temp, sizeof(temp));
                }
                break;
        }
        default:
                break;
        }
        if (d->kind == STI_KIND_ROLLER || seen[RC_CHAR_ROLLER_IMU] || seen[RC_CHAR_ROLLER_BUTTON] ||
            seen[RC_CHAR_ROLLER_INFO]) {
                s = add_svc(d, &RC_SERVICE_ROLLER, false, &h);
                add_traced(d, s, RC_CHAR_ROLLER_IMU, STI_PROP_NOTIFY, &h);
                add_traced(d, s, RC_CHAR_ROLLER_BUTTON, STI_PROP_NOTIFY, &h);
                add_traced(d, s, RC_CHAR_ROLLER_INFO, STI_PROP_READ, &h);
        }
        if (d->kind == STI_KIND_BODY || seen[RC_CHAR_BODY_IMU] || seen[RC_CHAR_BODY_PLACEMENT]) {
                s = add_svc(d, &RC_SERVICE_BODY, false, &h);
                add_traced(d, s, RC_CHAR_BODY_IMU, STI_PROP_NOTIFY, &h);
                add_traced(d, s, RC_CHAR_BODY_PLACEMENT, STI_PROP_READ, &h);
        }
        if (d->kind == STI_KIND_HR || seen[RC_CHAR_HR_MEASUREMENT]) {
                s = add_svc(d, &RC_SERVICE_HR, false, &h);
                add_traced(d, s, RC_CHAR_HR_MEASUREMENT, STI_PROP_NOTIFY, &h);
        }
        if (seen[RC_CHAR_BATTERY_LEVEL]) {
                s = add_svc(d, &RC_SERVICE_BATTERY, false, &h);
                c = add_traced(d, s, RC_CHAR_BATTERY_LEVEL, STI_PROP_READ | STI_PROP_NOTIFY, &h);
                if (c && !c->dev_known)
                        set_dev_value(c, "\x64", 1); /* a decoy: 100 % */
        }
        devinfo = seen[RC_CHAR_MANUFACTURER] || seen[RC_CHAR_MODEL_NUMBER] ||
                  seen[RC_CHAR_FIRMWARE_REV] || d->kind == STI_KIND_KEYBOARD ||
                  d->kind == STI_KIND_PHONE;
        if (devinfo) {
                s = add_svc(d, &RC_SERVICE_DEVINFO, false, &h);
                if (!d->td) {
                        c = add_chrc(s, rc_gatt_char_uuid(RC_CHAR_MANUFACTURER), STI_PROP_READ, &h);
                        set_dev_value(c, "Acme", 4);
                }
                if (seen[RC_CHAR_MANUFACTURER] && d->td)
                        add_traced(d, s, RC_CHAR_MANUFACTURER, STI_PROP_READ, &h);
                if (seen[RC_CHAR_MODEL_NUMBER])
                        add_traced(d, s, RC_CHAR_MODEL_NUMBER, STI_PROP_READ, &h);
                if (seen[RC_CHAR_FIRMWARE_REV])
                        add_traced(d, s, RC_CHAR_FIRMWARE_REV, STI_PROP_READ, &h);
        }
}

struct sti_chrc *sti_gatt_find_chrc(struct sti_dev *d, const rc_uuid *uuid) {
        for (size_t s = 0; s < d->n_svcs; s++)
                for (size_t c = 0; c < d->svcs[s].n_chrcs; c++)
                        if (rc_uuid_equal(&d->svcs[s].chrcs[c].uuid, uuid))
                                return &d->svcs[s].chrcs[c];
        return NULL;
}

void sti_gatt_set_read_value(struct sti_dev *d, const rc_uuid *uuid, const uint8_t *p, size_t len) {
        set_dev_value(sti_gatt_find_chrc(d, uuid), p, len);
}

/* ---- properties ------------------------------------------------------------------------- */

static bool link_up(struct sti_chrc *c) {
        return c->svc->dev->link == STI_LINK_UP;
}

static uint16_t mtu_now(struct sti *si, struct sti_chrc *c) {
        return link_up(c) ? si->opt.mtu : DEFAULT_LE_MTU;
}

/* A UUID property: the 128-bit form as a string. */
static int uuid_variant(sd_bus_message *m, const rc_uuid *u) {
        char s[RC_UUID_STRLEN];

        rc_uuid_format(u, s);
        return sti_variant(m, "s", s);
}

/* Whether any StartNotify session is registered on the current link. */
static bool any_registered(struct sti_chrc *c) {
        for (size_t i = 0; i < c->n_clients; i++)
                if (c->clients[i].registered)
                        return true;
        return false;
}

int sti_gatt_append_service_prop(struct sti *si, sd_bus_message *m, struct sti_svc *s,
                                 const char *n) {
        if (strcmp(n, "Handle") == 0)
                return sti_variant(m, "q", s->start);
        if (strcmp(n, "UUID") == 0)
                return uuid_variant(m, &s->uuid);
        if (strcmp(n, "Device") == 0)
                return sti_variant(m, "o", s->dev->path);
        if (strcmp(n, "Primary") == 0)
                return sti_variant(m, "b", 1);
        if (strcmp(n, "Includes") == 0)
                return sti_variant(m, "ao", 0);
        return 0;
}

static int append_flags(sd_bus_message *m, uint8_t props) {
        const char *f[3];
        size_t n = 0;

        if (props & STI_PROP_READ)
                f[n++] = "read";
        if (props & STI_PROP_NOTIFY)
                f[n++] = "notify";
        if (props & STI_PROP_INDICATE)
                f[n++] = "indicate";
        switch (n) {
        case 1:
                return sti_variant(m, "as", 1, f[0]);
        case 2:
                return sti_variant(m, "as", 2, f[0], f[1]);
        case 3:
                return sti_variant(m, "as", 3, f[0], f[1], f[2]);
        default:
                return sti_variant(m, "as", 0);
        }
}

int sti_append_chrc_prop(struct sti *si, sd_bus_message *m, struct sti_chrc *c, const char *n) {
        if (strcmp(n, "Handle") == 0)
                return sti_variant(m, "q", c->handle);
        if (strcmp(n, "UUID") == 0)
                return uuid_variant(m, &c->uuid);
        if (strcmp(n, "Service") == 0)
                return sti_variant(m, "o", c->svc->path);
        if (strcmp(n, "Value") == 0)
                return sti_variant_bytes(m, c->value, c->value_len);
        if (strcmp(n, "Notifying") == 0) {
                if (!(c->props & (STI_PROP_NOTIFY | STI_PROP_INDICATE)))
                        return 0;
                return sti_variant(m, "b", c->notifying);
        }
        if (strcmp(n, "Flags") == 0)
                return m ? append_flags(m, c->props) : 1;
        if (strcmp(n, "NotifyAcquired") == 0) {
                if (!(c->props & STI_PROP_NOTIFY) || !si->opt.acquire_notify)
                        return 0;
                return sti_variant(m, "b", c->acq_fd >= 0);
        }
        if (strcmp(n, "MTU") == 0)
                return sti_variant(m, "q", mtu_now(si, c));
        return 0;
}

static uint16_t ccc_value(struct sti_chrc *c) {
        if (c->acq_fd < 0 && !any_registered(c))
                return 0;
        return (c->props & STI_PROP_NOTIFY) ? 0x0001 : 0x0002;
}

int sti_gatt_append_desc_prop(struct sti *si, sd_bus_message *m, struct sti_desc *ds,
                              const char *n) {
        if (strcmp(n, "Handle") == 0)
                return sti_variant(m, "q", ds->handle);
        if (strcmp(n, "UUID") == 0)
                return uuid_variant(m, &ds->uuid);
        if (strcmp(n, "Characteristic") == 0)
                return sti_variant(m, "o", ds->chrc->path);
        if (strcmp(n, "Value") == 0)
                return sti_variant_bytes(m, NULL, 0);
        return 0;
}

int sti_gatt_append_battery_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d,
                                 const char *n) {
        if (!d->battery1)
                return 0;
        if (strcmp(n, "Percentage") == 0)
                return sti_variant(m, "y", d->battery_pct);
        if (strcmp(n, "Source") == 0)
                return sti_variant(m, "s", "GATT Battery Service");
        return 0;
}

void sti_gatt_battery_update(struct sti *si, struct sti_dev *d, uint8_t pct) {
        if (d->battery_pct == pct)
                return;
        d->battery_pct = pct;
        if (d->battery1)
                sti_props_changed(si, d->path, STI_IFACE_BATTERY, "Percentage", NULL);
}

/* ---- export ------------------------------------------------------------------------------ */

void sti_gatt_export(struct sti *si, struct sti_dev *d) {
        d->gatt_exported = true;
        for (size_t s = 0; s < d->n_svcs; s++) {
                struct sti_svc *sv = &d->svcs[s];

                if (sv->hidden)
                        continue;
                sti_emit_added(si, sv->path, NULL);
                for (size_t c = 0; c < sv->n_chrcs; c++) {
                        sti_emit_added(si, sv->chrcs[c].path, NULL);
                        if (sv->chrcs[c].has_ccc)
                                sti_emit_added(si, sv->chrcs[c].ccc.path, NULL);
                }
        }
}

static void release_acquired(struct sti *si, struct sti_chrc *c, bool shutdown_first) {
        if (c->acq_fd < 0)
                return;
        c->acq_source = sd_event_source_disable_unref(c->acq_source);
        if (shutdown_first)
                shutdown(c->acq_fd, SHUT_RDWR);
        close(c->acq_fd);
        c->acq_fd = -1;
        if (c->svc->dev->gatt_exported)
                sti_props_changed(si, c->path, STI_IFACE_CHRC, "NotifyAcquired", NULL);
}

void sti_gatt_unexport(struct sti *si, struct sti_dev *d) {
        if (!d->gatt_exported)
                return;
        for (size_t s = d->n_svcs; s-- > 0;) {
                struct sti_svc *sv = &d->svcs[s];

                for (size_t c = sv->n_chrcs; c-- > 0;) {
                        struct sti_chrc *ch = &sv->chrcs[c];

                        release_acquired(si, ch, true);
                        ch->n_clients = 0;
                        ch->notifying = false;
                        ch->value_len = 0;
                        if (sv->hidden)
                                continue;
                        if (ch->has_ccc)
                                sti_emit_removed(si, ch->ccc.path, NULL, STI_IFACE_DESC);
                        sti_emit_removed(si, ch->path, NULL, STI_IFACE_CHRC);
                }
                if (!sv->hidden)
                        sti_emit_removed(si, sv->path, NULL, STI_IFACE_SERVICE);
        }
        d->gatt_exported = false;
}

bool sti_gatt_link_up(struct sti *si, struct sti_dev *d) {
        bool any = false;

        for (size_t s = 0; s < d->n_svcs; s++)
                for (size_t c = 0; c < d->svcs[s].n_chrcs; c++) {
                        struct sti_chrc *ch = &d->svcs[s].chrcs[c];

                        if (ch->n_clients == 0)
                                continue;
                        /* register_notify(): sessions made while away or before a
                         * disconnection are registered again (the CCC is written). */
                        for (size_t i = 0; i < ch->n_clients; i++)
                                ch->clients[i].registered = true;
                        any = true;
                        if (!ch->notifying) {
                                ch->notifying = true;
                                sti_props_changed(si, ch->path, STI_IFACE_CHRC, "Notifying", NULL);
                        }
                }
        return any;
}

void sti_gatt_link_down(struct sti *si, struct sti_dev *d) {
        for (size_t s = 0; s < d->n_svcs; s++)
                for (size_t c = 0; c < d->svcs[s].n_chrcs; c++) {
                        struct sti_chrc *ch = &d->svcs[s].chrcs[c];

                        /* btd_gatt_client_disconnected(): acquired sockets are shut down,
                         * notification ids cleared; Notifying is left as it is. */
                        release_acquired(si, ch, true);
                        for (size_t i = 0; i < ch->n_clients; i++)
                                ch->clients[i].registered = false;
                }
}

void sti_gatt_free(struct sti_dev *d) {
        for (size_t s = 0; s < d->n_svcs; s++)
                for (size_t c = 0; c < d->svcs[s].n_chrcs; c++) {
                        struct sti_chrc *ch = &d->svcs[s].chrcs[c];

                        ch->acq_source = sd_event_source_disable_unref(ch->acq_source);
                        if (ch->acq_fd >= 0)
                                close(ch->acq_fd);
                        ch->acq_fd = -1;
                }
}

/* ---- notifications ---------------------------------------------------------------------- */

static int send_value_signal(struct sti *si, struct sti_chrc *c) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(si->bus, &m, c->path, STI_IFACE_PROPS, "PropertiesChanged");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", STI_IFACE_CHRC);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "Value");
        if (r >= 0 && (si->malformed & STI_BAD_VALUE_STRING)) {
                char hex[2 * STI_VALUE_MAX + 1];

                rc_hex_encode(c->value, c->value_len, hex);
                r = sti_variant(m, "s", hex);
        } else if (r >= 0) {
                r = sti_variant_bytes(m, c->value, c->value_len);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 0);
        if (r >= 0)
                r = sti_send(si, m);
        sd_bus_message_unref(m);
        return r;
}

static void set_cached_value(struct sti_chrc *c, const uint8_t *p, size_t len) {
        if (len > STI_VALUE_MAX)
                len = STI_VALUE_MAX;
        memcpy(c->value, p, len);
        c->value_len = len;
}

bool sti_gatt_notify(struct sti *si, struct sti_dev *d, const rc_uuid *uuid, const uint8_t *p,
                     size_t len) {
        struct sti_chrc *c = sti_gatt_find_chrc(d, uuid);
        ssize_t k;

        if (!c || d->link != STI_LINK_UP || c->svc->hidden)
                return false;
        if (len + 3 > si->opt.mtu)
                d->st_oversize++; /* a real link could not carry it; sent anyway */
        if (c->acq_fd >= 0) {
                k = send(c->acq_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        /* notify_io_cb(): "sendmsg: ..." and the notification is lost. */
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                d->st_eagain++;
                        return false;
                }
                d->st_sent_fd++;
                return true;
        }
        if (!any_registered(c))
                return false;
        set_cached_value(c, p, len);
        if (send_value_signal(si, c) < 0)
                return false;
        d->st_sent_signal++;
        return true;
}

/* ---- methods -------------------------------------------------------------------------- */

/* parse_options(): "offset" (any case) must be a uint16; other keys are ignored. */
static int parse_offset(sd_bus_message *m, uint16_t *ret) {
        int r;

        *ret = 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcasecmp(key, "offset") == 0) {
                        if (!sti_read_set_value(m, 'q', ret))
                                return -EINVAL;
                } else {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int reply_bytes(struct sti *si, sd_bus_message *call, const uint8_t *p, size_t len,
                       bool may_break) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_return(call, &m);

        if (r >= 0 && may_break && (si->malformed & STI_BAD_READ_VALUE_STRING)) {
                char hex[2 * STI_VALUE_MAX + 1];

                rc_hex_encode(p, len, hex);
                r = sd_bus_message_append(m, "s", hex);
        } else if (r >= 0) {
                r = sd_bus_message_append_array(m, 'y', p, len);
        }
        if (r >= 0)
                r = sd_bus_send(si->bus, m, NULL);
        sd_bus_message_unref(m);
        return r < 0 ? r : 1;
}

static int chrc_read(struct sti *si, sd_bus_message *m, struct sti_chrc *c) {
        uint16_t offset;

        if (!link_up(c))
                return sti_reply_error(m, "org.bluez.Error.Failed", "Not connected");
        if (parse_offset(m, &offset) < 0)
                return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                       "Invalid arguments in method call");
        if (!(c->props & STI_PROP_READ))
                return sti_reply_error(m, "org.bluez.Error.NotPermitted", "Read not permitted");
        if (offset > c->dev_len)
                return sti_reply_error(m, "org.bluez.Error.InvalidArguments", "Invalid offset");
        c->svc->dev->st_reads++;
        /* chrc_read_cb(): the value is stored and Value emitted (flushed) before the
         * reply goes out. */
        set_cached_value(c, c->dev_value, c->dev_len);
        sti_props_changed(si, c->path, STI_IFACE_CHRC, "Value", NULL);
        sti_flush(si);
        return reply_bytes(si, m, c->dev_value + offset, c->dev_len - offset, true);
}

static struct sti_notify_client *find_client(struct sti_chrc *c, const char *owner) {
        for (size_t i = 0; i < c->n_clients; i++)
                if (strcmp(c->clients[i].owner, owner) == 0)
                        return &c->clients[i];
        return NULL;
}

static void update_notifying(struct sti *si, struct sti_chrc *c) {
        if (!c->notifying || any_registered(c))
                return;
        c->notifying = false;
        sti_props_changed(si, c->path, STI_IFACE_CHRC, "Notifying", NULL);
}

/* A StartNotify session ends (StopNotify, or its client left the bus). */
static void remove_client(struct sti *si, struct sti_chrc *c, struct sti_notify_client *cl) {
        size_t i = (size_t)(cl - c->clients);

        memmove(&c->clients[i], &c->clients[i + 1], (c->n_clients - i - 1) * sizeof(*cl));
        c->n_clients--;
        update_notifying(si, c);
}

static int start_notify(struct sti *si, sd_bus_message *m, struct sti_chrc *c) {
        const char *sender = sd_bus_message_get_sender(m);
        struct sti_dev *d = c->svc->dev;
        struct sti_notify_client *cl;

        if (d->disconnecting)
                return sti_reply_error(m, "org.bluez.Error.NotConnected", "Not Connected");
        if (c->acq_fd >= 0)
                return sti_reply_error(m, "org.bluez.Error.NotPermitted", "Notify acquired");
        if (!(c->props & (STI_PROP_NOTIFY | STI_PROP_INDICATE)))
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        cl = find_client(c, sender ? sender : "");
        if (cl) {
                if (cl->registered || !link_up(c))
                        return sti_reply_empty(m);
                return sti_reply_error(m, "org.bluez.Error.InProgress", "In Progress");
        }
        if (c->n_clients >= STI_MAX_CLIENTS)
                return sti_reply_error(m, "org.bluez.Error.Failed",
                                       "Failed allocate notify session");
        cl = &c->clients[c->n_clients++];
        memset(cl, 0, sizeof(*cl));
        snprintf(cl->owner, sizeof(cl->owner), "%s", sender ? sender : "");
        if (!link_up(c))
                return sti_reply_empty(m); /* armed for the next connection */
        cl->registered = true;
        sti_reply_empty(m);
        if (!c->notifying) {
                c->notifying = true;
                sti_props_changed(si, c->path, STI_IFACE_CHRC, "Notifying", NULL);
        }
        rc_log_info("device %s: %s StartNotify by %s", d->addr_str, c->path + strlen(d->path) + 1,
                    cl->owner);
        sti_playback_enabled(si, d);
        return 1;
}

static int stop_notify(struct sti *si, sd_bus_message *m, struct sti_chrc *c) {
        const char *sender = sd_bus_message_get_sender(m);
        struct sti_notify_client *cl;

        if (c->acq_fd >= 0) {
                release_acquired(si, c, true);
                return sti_reply_empty(m);
        }
        cl = find_client(c, sender ? sender : "");
        if (!cl)
                return sti_reply_error(m, "org.bluez.Error.Failed", "No notify session started");
        remove_client(si, c, cl);
        return sti_reply_empty(m);
}

static int on_acquired_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct sti_chrc *c = userdata;
        struct sti *si = c->svc->dev->si;

        if (revents & EPOLLIN) {
                uint8_t buf[STI_VALUE_MAX];
                ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                /* Bytes written by the client would be written to the characteristic
                 * (sock_read); ours are not writable: dropped. */
                if (k > 0)
                        return 0;
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
        } else if (!(revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
                return 0;
        }
        /* sock_hup(): the client closed its end. */
        rc_log_info("device %s: %s released by the client (fd closed)", c->svc->dev->addr_str,
                    c->path + strlen(c->svc->dev->path) + 1);
        release_acquired(si, c, false);
        sti_flush(si);
        return 0;
}

static int acquire_notify(struct sti *si, sd_bus_message *m, struct sti_chrc *c) {
        sd_bus_message *reply = NULL;
        struct sti_dev *d = c->svc->dev;
        int fds[2];
        int r;

        if (!si->opt.acquire_notify)
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        if (!link_up(c))
                return sti_reply_error(m, "org.bluez.Error.Failed", "Not connected");
        if (c->acq_fd >= 0)
                return sti_reply_error(m, "org.bluez.Error.NotPermitted", "Notify acquired");
        if (c->n_clients > 0)
                return sti_reply_error(m, "org.bluez.Error.InProgress", "In Progress");
        if (!(c->props & STI_PROP_NOTIFY))
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        if (sd_bus_message_skip(m, "a{sv}") < 0)
                return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                       "Invalid arguments in method call");
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
                return sti_reply_error(m, "org.bluez.Error.Failed", "%s", strerror(errno));
        r = sd_event_add_io(si->event, &c->acq_source, fds[0], EPOLLIN | EPOLLRDHUP, on_acquired_io,
                            c);
        if (r < 0) {
                close(fds[0]);
                close(fds[1]);
                return sti_reply_error(m, "org.bluez.Error.Failed", "%s", strerror(-r));
        }
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0 && (si->malformed & STI_BAD_ACQUIRE_NO_FD))
                r = sd_bus_message_append(reply, "q", si->opt.mtu);
        else if (r >= 0 && (si->malformed & STI_BAD_ACQUIRE_MTU_STRING))
                r = sd_bus_message_append(reply, "hs", fds[1], "247");
        else if (r >= 0)
                r = sd_bus_message_append(reply, "hq", fds[1], si->opt.mtu);
        if (r >= 0)
                r = sd_bus_send(si->bus, reply, NULL);
        sd_bus_message_unref(reply);
        close(fds[1]); /* the message holds its own copy */
        if (r < 0) {
                c->acq_source = sd_event_source_disable_unref(c->acq_source);
                close(fds[0]);
                return r;
        }
        c->acq_fd = fds[0];
        sti_props_changed(si, c->path, STI_IFACE_CHRC, "NotifyAcquired", NULL);
        rc_log_info("device %s: %s AcquireNotify by %s", d->addr_str, c->path + strlen(d->path) + 1,
                    sd_bus_message_get_sender(m));
        sti_playback_enabled(si, d);
        return 1;
}

int sti_gatt_chrc_method(struct sti *si, sd_bus_message *m, struct sti_chrc *c,
                         const char *member) {
        const char *sig = sd_bus_message_get_signature(m, true);

        if (!sig)
                return 0;
        if (strcmp(member, "ReadValue") == 0 && strcmp(sig, "a{sv}") == 0)
                return chrc_read(si, m, c);
        if (strcmp(member, "StartNotify") == 0 && strcmp(sig, "") == 0)
                return start_notify(si, m, c);
        if (strcmp(member, "StopNotify") == 0 && strcmp(sig, "") == 0)
                return stop_notify(si, m, c);
        if (strcmp(member, "AcquireNotify") == 0 && strcmp(sig, "a{sv}") == 0)
                return acquire_notify(si, m, c);
        if ((strcmp(member, "WriteValue") == 0 && strcmp(sig, "aya{sv}") == 0) ||
            (strcmp(member, "AcquireWrite") == 0 && strcmp(sig, "a{sv}") == 0)) {
                if (!link_up(c))
                        return sti_reply_error(m, "org.bluez.Error.Failed", "Not connected");
                return sti_reply_error(m, "org.bluez.Error.NotSupported",
                                       "Operation is not supported");
        }
        return 0;
}

int sti_gatt_desc_method(struct sti *si, sd_bus_message *m, struct sti_desc *ds,
                         const char *member) {
        const char *sig = sd_bus_message_get_signature(m, true);
        struct sti_chrc *c = ds->chrc;

        if (!sig)
                return 0;
        if (strcmp(member, "ReadValue") == 0 && strcmp(sig, "a{sv}") == 0) {
                uint16_t offset, v;
                uint8_t b[2];

                if (!link_up(c))
                        return sti_reply_error(m, "org.bluez.Error.Failed", "Not connected");
                if (parse_offset(m, &offset) < 0)
                        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                               "Invalid arguments in method call");
                if (offset > 2)
                        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                               "Invalid offset");
                v = ccc_value(c);
                b[0] = (uint8_t)v;
                b[1] = (uint8_t)(v >> 8);
                return reply_bytes(si, m, b + offset, 2u - offset, false);
        }
        if (strcmp(member, "WriteValue") == 0 && strcmp(sig, "aya{sv}") == 0) {
                uint16_t offset;

                if (!link_up(c))
                        return sti_reply_error(m, "org.bluez.Error.Failed", "Not connected");
                if (sd_bus_message_skip(m, "ay") < 0 || parse_offset(m, &offset) < 0)
                        return sti_reply_error(m, "org.bluez.Error.InvalidArguments",
                                               "Invalid arguments in method call");
                /* The CCC is written through StartNotify/StopNotify only. */
                return sti_reply_error(m, "org.bluez.Error.NotPermitted", "Write not permitted");
        }
        return 0;
}

void sti_gatt_client_gone(struct sti *si, const char *owner) {
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];

                for (size_t s = 0; s < d->n_svcs; s++)
                        for (size_t c = 0; c < d->svcs[s].n_chrcs; c++) {
                                struct sti_chrc *ch = &d->svcs[s].chrcs[c];
                                struct sti_notify_client *cl = find_client(ch, owner);

                                if (cl)
                                        remove_client(si, ch, cl);
                        }
        }
}
