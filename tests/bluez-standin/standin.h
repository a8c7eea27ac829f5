/* rollcoach — the BlueZ stand-in: a bluetoothd look-alike on a private D-Bus bus,
 * playing the devices of a trace file (tests/bluez-standin/README.md).
 *
 * One process, one sd-event loop, no threads. The files:
 *   main.c      options, the bus connection, the loop, signals
 *   model.c     the trace: devices, their sessions (connect .. disconnect), reads
 *   objects.c   the object tree: lookup, properties, GetManagedObjects, Introspect,
 *               the queue of signals (coalesced as BlueZ's gdbus does)
 *   adapter.c   org.bluez.Adapter1: discovery, filters, devices appearing, RSSI
 *   device.c    org.bluez.Device1: Connect/Disconnect, link loss, GATT export
 *   gatt.c      the GATT database of a device and its methods, notifications
 *   playback.c  each device's clock and the streaming of its trace lines
 *   control.c   org.rollcoach.StandIn1, the failure knobs
 *
 * Internal names carry the prefix sti_ (stand-in).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "decode/gatt.h"
#include "replay/trace.h"
#include "util/ids.h"
#include "util/log.h"

#define STI_BLUEZ_NAME "org.bluez"
#define STI_ADAPTER_PATH "/org/bluez/hci0"
#define STI_CONTROL_PATH "/org/rollcoach/standin"
#define STI_CONTROL_IFACE "org.rollcoach.StandIn1"

#define STI_IFACE_ADAPTER "org.bluez.Adapter1"
#define STI_IFACE_DEVICE "org.bluez.Device1"
#define STI_IFACE_SERVICE "org.bluez.GattService1"
#define STI_IFACE_CHRC "org.bluez.GattCharacteristic1"
#define STI_IFACE_DESC "org.bluez.GattDescriptor1"
#define STI_IFACE_BATTERY "org.bluez.Battery1"
#define STI_IFACE_PROPS "org.freedesktop.DBus.Properties"
#define STI_IFACE_INTRO "org.freedesktop.DBus.Introspectable"
#define STI_IFACE_OM "org.freedesktop.DBus.ObjectManager"

/* Bounds: every list the stand-in keeps has one. */
#define STI_MAX_DEVICES 64    /* from the trace */
#define STI_MAX_DECOYS 16     /* --decoy N */
#define STI_MAX_SESSIONS 4096 /* connect..disconnect spans of one device */
#define STI_MAX_SERVICES 8    /* GATT services of one device (GAP included) */
#define STI_MAX_CHRCS 8       /* characteristics of one service */
#define STI_MAX_CLIENTS 16    /* StartNotify sessions on one characteristic */
#define STI_MAX_DISCOVERY 32  /* discovery sessions (one per client) */
#define STI_MAX_PENDING 64    /* Disconnect() calls waiting on one device */
#define STI_VALUE_MAX 512     /* an ATT value */

/* Bluetooth characteristic properties (Core spec, Vol 3, Part G, 3.3.1.1). */
#define STI_PROP_READ 0x02
#define STI_PROP_NOTIFY 0x10
#define STI_PROP_INDICATE 0x20

/* What SetMalformed can break (a bit each). */
enum {
        STI_BAD_READ_VALUE_STRING = 1u << 0,  /* ReadValue returns s instead of ay */
        STI_BAD_CONNECTED_STRING = 1u << 1,   /* Device1.Connected sent as s */
        STI_BAD_VALUE_STRING = 1u << 2,       /* Value as s in PropertiesChanged */
        STI_BAD_ACQUIRE_MTU_STRING = 1u << 3, /* AcquireNotify returns (h, s) */
        STI_BAD_ACQUIRE_NO_FD = 1u << 4,      /* AcquireNotify returns (q) only */
        STI_BAD_RSSI_INT32 = 1u << 5,         /* Device1.RSSI sent as i */
        STI_BAD_UUIDS_STRING = 1u << 6,       /* Device1.UUIDs sent as s */
};

enum sti_kind {
        STI_KIND_ROLLER,
        STI_KIND_BODY,
        STI_KIND_HR,
        STI_KIND_OTHER, /* a trace device that sends nothing the hub knows */
        STI_KIND_KEYBOARD,
        STI_KIND_THERMOMETER,
        STI_KIND_PHONE,
        STI_KIND_BEACON,
};
const char *sti_kind_name(enum sti_kind k);

enum sti_cache { STI_CACHE_ALWAYS, STI_CACHE_NO };

struct sti_options {
        const char *bus_address;
        const char *trace_path;
        double speed;         /* trace seconds per wall second */
        uint64_t offset_us;   /* start the trace this far in */
        unsigned decoys;      /* unrelated LE devices */
        bool acquire_notify;  /* AcquireNotify offered (NotifyAcquired present) */
        enum sti_cache cache; /* main.conf [GATT] Cache */
        uint32_t connect_delay_ms;
        uint32_t resolve_delay_ms;
        uint32_t disconnect_delay_ms;
        uint32_t disconnect_reply_delay_ms; /* the reply this long after the link drops */
        uint32_t absent_timeout_ms; /* Connect to a device that is off gives up after this */
        uint16_t mtu;
        uint32_t rssi_period_ms;
        uint64_t seed;
        bool verbose;
};

struct sti;
struct sti_dev;
struct sti_svc;

/* A session of a trace device: from a connect line to the next disconnect line
 * (t_disconnect UINT64_MAX when the trace ends first: the device stays on). */
struct sti_session {
        uint64_t t_connect;
        uint64_t t_disconnect;
        long pos;         /* file position at or before the connect line */
        uint64_t line_no; /* lines before that position */
};

/* What the pre-scan learned about one address of the trace. */
struct sti_trace_dev {
        rc_addr addr;
        bool seen_char[RC_CHAR__COUNT];
        uint64_t n_unknown; /* lines for characteristics the hub does not know */
        char name[RC_GATT_STRING_MAX + 1];
        /* The first value the trace gives each characteristic: what a read
         * returns before the playback reaches a session's own reads. */
        uint8_t first_value[RC_CHAR__COUNT][STI_VALUE_MAX];
        uint16_t first_len[RC_CHAR__COUNT];
        struct sti_session *sessions;
        size_t n_sessions;
};

/* A StartNotify session: one per D-Bus client (unique name) and characteristic. */
struct sti_notify_client {
        char owner[64];
        bool registered; /* CCC written on the current link */
};

struct sti_desc {
        struct sti_chrc *chrc;
        uint16_t handle;
        rc_uuid uuid;
        char path[128];
};

struct sti_chrc {
        struct sti_svc *svc;
        uint16_t handle;       /* declaration handle (path, Handle property) */
        uint16_t value_handle; /* value handle */
        rc_uuid uuid;
        enum rc_char known;
        uint8_t props;
        char path[112];
        bool has_ccc;
        struct sti_desc ccc;
        /* The peripheral's value (what a read returns). */
        uint8_t dev_value[STI_VALUE_MAX];
        size_t dev_len;
        bool dev_known;
        /* BlueZ's cached Value property. */
        uint8_t value[STI_VALUE_MAX];
        size_t value_len;
        bool notifying;
        struct sti_notify_client clients[STI_MAX_CLIENTS];
        size_t n_clients;
        /* AcquireNotify: our end of the socket pair, -1 when not acquired. */
        int acq_fd;
        sd_event_source *acq_source;
};

struct sti_svc {
        struct sti_dev *dev;
        uint16_t start, end;
        rc_uuid uuid;
        bool hidden; /* claimed by a bluetoothd plugin (GAP): not exported */
        char path[96];
        struct sti_chrc chrcs[STI_MAX_CHRCS];
        size_t n_chrcs;
};

enum sti_link { STI_LINK_DOWN, STI_LINK_CONNECTING, STI_LINK_UP };

/* The playback of one trace device: its own reader over the trace file, its own
 * clock (spec: README.md, "Playback"). */
struct sti_player {
        FILE *f;
        struct rc_trace_reader r;
        bool eof;
        struct rc_notification next; /* look-ahead line; data in next_buf */
        uint8_t next_buf[RC_TRACE_MAX_PAYLOAD];
        enum rc_char next_char; /* its characteristic (a value line) */
        bool have_next;
        size_t session;         /* the current session (in_session), else the next one */
        bool in_session;        /* powered: advertising or connected */
        bool session_anchored;  /* a client enabled notifications in this session */
        bool clock_anchored;    /* some session was anchored: the device runs its own clock */
        uint64_t anchor_t;      /* trace µs at anchor_wall */
        uint64_t anchor_wall;   /* CLOCK_MONOTONIC µs */
        bool battery_read_seen; /* the session's first 2a19 line is its read value */
        sd_event_source *timer;
};

struct sti_dev {
        struct sti *si;
        size_t index;
        const struct sti_trace_dev *td; /* NULL for decoys */
        rc_addr addr;
        char addr_str[RC_ADDR_STRLEN];
        char path[64];
        enum sti_kind kind;
        bool random_address;

        /* Advertised data and identity. */
        char name[RC_GATT_STRING_MAX + 1];
        bool has_name;
        char alias[256];
        bool has_alias;
        uint16_t appearance;
        bool has_appearance;
        const char *icon;
        rc_uuid adv_uuids[4];
        size_t n_adv_uuids;
        uint16_t mfr_id;
        uint8_t mfr_data[8];
        size_t mfr_len;
        bool trusted, blocked;

        /* Object lifecycle. */
        bool exported;        /* the Device1 object exists */
        bool vanished;        /* StandIn1.RemoveDevice: gone for this run */
        bool uuids_from_gatt; /* services were resolved once: UUIDs lists them */
        int16_t rssi;
        bool rssi_valid;

        /* Link. */
        enum sti_link link;
        bool services_resolved;
        bool gatt_exported;
        bool battery1;
        uint8_t battery_pct;
        bool disconnecting;
        bool remove_after_disconnect; /* Adapter1.RemoveDevice of a connected device */
        sd_bus_message *connect_msg;
        uint64_t connect_started;
        sd_event_source *connect_timer;
        sd_event_source *resolve_timer;
        sd_event_source *disconnect_timer;
        sd_bus_message *disconnect_msgs[STI_MAX_PENDING];
        size_t n_disconnect_msgs;
        /* Disconnect calls answered late (--disconnect-reply-delay) */
        sd_event_source *late_reply_timer;
        sd_bus_message *late_replies[STI_MAX_PENDING];
        size_t n_late_replies;
        unsigned refuse_connects;

        /* GATT database. */
        struct sti_svc svcs[STI_MAX_SERVICES];
        size_t n_svcs;

        /* Playback (trace devices only). */
        struct sti_player player;

        /* Statistics. */
        uint64_t st_sent_signal, st_sent_fd, st_dropped, st_eagain, st_oversize;
        uint64_t st_connects, st_link_losses, st_reads;
};

struct sti_discovery {
        char owner[64];
        bool active;     /* StartDiscovery called */
        bool has_filter; /* SetDiscoveryFilter called with a non-empty filter */
};

/* A signal waiting in the queue (objects.c). */
struct sti_pending;

struct sti {
        struct sti_options opt;
        sd_event *event;
        sd_bus *bus;
        bool exiting;
        int exit_status;

        /* The trace. */
        struct sti_trace_dev tdevs[STI_MAX_DEVICES];
        size_t n_tdevs;

        struct sti_dev *devs[STI_MAX_DEVICES + STI_MAX_DECOYS];
        size_t n_devs;

        /* Adapter. */
        bool powered, discoverable, pairable, connectable;
        uint32_t discoverable_timeout, pairable_timeout;
        char adapter_alias[256];
        bool adapter_has_alias;
        struct sti_discovery discovery[STI_MAX_DISCOVERY];
        size_t n_discovery;
        bool discovering;
        sd_event_source *scan_timer;

        /* Playback clock: trace µs offset_us at start_wall. */
        uint64_t start_wall;

        /* Knobs. */
        unsigned malformed;
        uint64_t rng;

        /* Signal queue. */
        struct sti_pending *pending_head, *pending_tail;
        size_t n_pending;
        sd_event_source *flush_source;

        /* Totals. */
        uint64_t st_connect_calls, st_connect_failures, st_disconnect_calls;
        uint64_t st_trace_malformed;
};

/* ---- main.c ------------------------------------------------------------------ */
/* CLOCK_MONOTONIC µs of the loop. */
uint64_t sti_now(struct sti *si);
/* A splitmix64 step of the stand-in's deterministic generator. */
uint64_t sti_rand(struct sti *si);
/* Stop the loop with this status (0 on a signal, 1 on a lost bus). */
void sti_exit(struct sti *si, int status);

/* ---- model.c ----------------------------------------------------------------- */
/* Read the whole trace once: its devices, kinds, names and sessions. Returns 0, or
 * a negative errno (message already logged): -EBADMSG not a trace, -E2BIG too many
 * devices or sessions, -errno on I/O. */
int sti_model_scan(struct sti *si);
void sti_model_free(struct sti *si);
/* Create the device objects (trace devices then decoys) with their GATT layout. */
int sti_model_build_devices(struct sti *si);
void sti_devices_free(struct sti *si);
/* The kind of a trace device, from the characteristics it has. */
enum sti_kind sti_model_kind(const struct sti_trace_dev *td);

/* ---- objects.c ---------------------------------------------------------------- */
int sti_objects_attach(struct sti *si);
/* Queue PropertiesChanged of these properties (NULL-terminated names) of an object;
 * later changes of the same object and interface still waiting merge in. */
void sti_props_changed(struct sti *si, const char *path, const char *iface, ...)
        __attribute__((sentinel));
/* Queue InterfacesAdded for the object at path (all its current interfaces, or
 * only `iface` when not NULL). */
void sti_emit_added(struct sti *si, const char *path, const char *iface);
/* Queue InterfacesRemoved for the object (all its interfaces, or only `iface`). */
void sti_emit_removed(struct sti *si, const char *path, const char *iface_or_null,
                      const char *main_iface);
/* Send everything queued now, in order. */
void sti_flush(struct sti *si);
/* Flush when the queue has grown to its cap (growth is bounded). */
void sti_flush_if_large(struct sti *si);
/* Send a message now, after everything queued. */
int sti_send(struct sti *si, sd_bus_message *m);
/* Reply with a BlueZ error (org.bluez.Error.NAME) or another error name. */
int sti_reply_error(sd_bus_message *call, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int sti_reply_empty(sd_bus_message *call);
void sti_objects_free(struct sti *si);
/* Append a property's value as a variant (the name selects it). Returns 1, 0 when
 * the object does not have that property (now), or a negative errno. */
int sti_append_device_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *name);
int sti_append_chrc_prop(struct sti *si, sd_bus_message *m, struct sti_chrc *c, const char *name);

/* ---- adapter.c ---------------------------------------------------------------- */
int sti_adapter_method(struct sti *si, sd_bus_message *m, const char *member);
int sti_adapter_append_prop(struct sti *si, sd_bus_message *m, const char *name);
extern const char *const sti_adapter_props[];
int sti_adapter_set_prop(struct sti *si, sd_bus_message *m, const char *name);
/* A client's connection left the bus: end its discovery session. */
void sti_adapter_client_gone(struct sti *si, const char *owner);
/* A device starts or stops advertising (powered and not connected). */
void sti_adapter_advertising_changed(struct sti *si, struct sti_dev *d);
void sti_adapter_free(struct sti *si);
/* Create the Device1 object now (InterfacesAdded), with an RSSI. */
void sti_adapter_export_device(struct sti *si, struct sti_dev *d);
/* Remove the device object and its children (InterfacesRemoved). */
void sti_adapter_unexport_device(struct sti *si, struct sti_dev *d);

/* ---- device.c ----------------------------------------------------------------- */
extern const char *const sti_device_props[];
int sti_device_method(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *member);
int sti_device_set_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d, const char *name);
/* Adapter1.RemoveDevice of a connected device: disconnect it (after the usual
 * delay), then reply to `m` and remove the object (device_request_disconnect). */
int sti_device_request_removal(struct sti *si, sd_bus_message *m, struct sti_dev *d);
/* Whether the device is on and can be connected (advertising or connected). */
bool sti_device_powered(struct sti_dev *d);
/* The link drops (reason for the log: "remote", "local", "timeout"). Replies to
 * waiting Disconnect() calls, emits the property changes, closes acquired fds. */
void sti_device_link_down(struct sti *si, struct sti_dev *d, const char *reason);
/* Abort a connection attempt in progress with Failed le-connection-abort-by-local. */
void sti_device_abort_connect(struct sti *si, struct sti_dev *d);
/* Both: a connection attempt is aborted, a link dropped (reason as above). */
void sti_device_drop(struct sti *si, struct sti_dev *d, const char *reason);
void sti_device_free_runtime(struct sti_dev *d);
const char *sti_device_default_alias(struct sti_dev *d, char buf[RC_ADDR_STRLEN]);

/* ---- gatt.c ------------------------------------------------------------------- */
extern const char *const sti_chrc_props[];
/* Lay out the GATT database of a device from what it has. */
void sti_gatt_build(struct sti_dev *d, const bool has_char[RC_CHAR__COUNT]);
int sti_gatt_chrc_method(struct sti *si, sd_bus_message *m, struct sti_chrc *c, const char *member);
int sti_gatt_desc_method(struct sti *si, sd_bus_message *m, struct sti_desc *ds,
                         const char *member);
int sti_gatt_append_service_prop(struct sti *si, sd_bus_message *m, struct sti_svc *s,
                                 const char *name);
int sti_gatt_append_desc_prop(struct sti *si, sd_bus_message *m, struct sti_desc *ds,
                              const char *name);
extern const char *const sti_service_props[];
extern const char *const sti_desc_props[];
/* Export / remove the GATT objects of a device (InterfacesAdded/Removed). */
void sti_gatt_export(struct sti *si, struct sti_dev *d);
void sti_gatt_unexport(struct sti *si, struct sti_dev *d);
/* The link came up and services are resolved: BlueZ re-registers the StartNotify
 * sessions that survived (cache=always). Returns whether any was. */
bool sti_gatt_link_up(struct sti *si, struct sti_dev *d);
/* The link went down: close acquired fds, forget CCC registrations. */
void sti_gatt_link_down(struct sti *si, struct sti_dev *d);
/* Deliver a notification of the device; returns true if it went somewhere. */
bool sti_gatt_notify(struct sti *si, struct sti_dev *d, const rc_uuid *uuid, const uint8_t *p,
                     size_t len);
/* Set the peripheral-side value of a readable characteristic (from a trace read). */
void sti_gatt_set_read_value(struct sti_dev *d, const rc_uuid *uuid, const uint8_t *p, size_t len);
struct sti_chrc *sti_gatt_find_chrc(struct sti_dev *d, const rc_uuid *uuid);
/* A client left the bus: drop its StartNotify sessions. */
void sti_gatt_client_gone(struct sti *si, const char *owner);
void sti_gatt_free(struct sti_dev *d);
/* Battery1 on the device (BlueZ's battery plugin). */
void sti_gatt_battery_update(struct sti *si, struct sti_dev *d, uint8_t pct);
int sti_gatt_append_battery_prop(struct sti *si, sd_bus_message *m, struct sti_dev *d,
                                 const char *name);
extern const char *const sti_battery_props[];

/* ---- playback.c --------------------------------------------------------------- */
int sti_playback_start(struct sti *si);
/* A client enabled notifications on the device (CCC written): start its clock
 * for the current session if not started yet. */
void sti_playback_enabled(struct sti *si, struct sti_dev *d);
void sti_playback_free(struct sti_dev *d);

/* ---- control.c ---------------------------------------------------------------- */
int sti_control_method(struct sti *si, sd_bus_message *m, const char *member);

/* ---- small helpers ------------------------------------------------------------- */
/* Append a variant of basic type `type` (one complete type, e.g. "b", "s", "as"
 * with its count and items) to m; with m NULL only say the property exists.
 * Returns 1 or a negative errno: the shape of every property appender. */
static inline int sti_variant(sd_bus_message *m, const char *type, ...) {
        va_list ap;
        int r;

        if (!m)
                return 1;
        r = sd_bus_message_open_container(m, 'v', type);
        if (r < 0)
                return r;
        va_start(ap, type);
        r = sd_bus_message_appendv(m, type, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        return r < 0 ? r : 1;
}

/* A variant holding ay. */
static inline int sti_variant_bytes(sd_bus_message *m, const uint8_t *p, size_t len) {
        int r;

        if (!m)
                return 1;
        r = sd_bus_message_open_container(m, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', p, len);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : 1;
}

/* Read a Set() value: the variant must hold exactly `type`. Returns 1 and the
 * value in *ret (read with sd_bus_message_read), 0 on a type mismatch. */
int sti_read_set_value(sd_bus_message *m, char type, void *ret);

struct sti_dev *sti_find_device_by_addr(struct sti *si, const char *addr);
struct sti_dev *sti_find_device_by_path(struct sti *si, const char *path);
/* Log as "bluez-standin: LEVEL: ..." through the project's logger. */
#define sti_log(...) rc_log_info(__VA_ARGS__)
