/* rollcoach — what the gateway's files share (private; the contract is gateway.h).
 *
 *   dbus.c     reading D-Bus values safely (typed variants, dictionaries)
 *   bluez.c    the mirror of BlueZ's objects (adapter, devices, characteristics),
 *              its signals, discovery
 *   device.c   the per-device connect/backoff state machine
 *   gatt.c     GATT set-up: reads, subscriptions, notification sockets, events out
 *   gateway.c  start and stop */
#ifndef RC_GATEWAY_INTERNAL_H
#define RC_GATEWAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <uv.h>

#include "decode/gatt.h"
#include "gateway/gateway.h"
#include "gateway/uvbus.h"

#define BLUEZ "org.bluez"
#define IF_ADAPTER "org.bluez.Adapter1"
#define IF_DEVICE "org.bluez.Device1"
#define IF_CHAR "org.bluez.GattCharacteristic1"
#define IF_PROPS "org.freedesktop.DBus.Properties"
#define IF_OM "org.freedesktop.DBus.ObjectManager"
#define PATH_LEN 192
#define MAX_CHARS 24
#define CALL_TIMEOUT_US (25u * 1000000u)
#define READ_BATCH 64

enum gw_dev_state {
        DEV_IDLE,       /* not connected; may be connected when selected */
        DEV_WAIT,       /* backing off before the next attempt */
        DEV_CONNECTING, /* Connect() sent */
        DEV_RESOLVING,  /* connected, waiting for ServicesResolved */
        DEV_SETUP,      /* reading and subscribing */
        DEV_STREAMING,
};

struct gw_device;
struct gw_char;

/* An acquired notification socket and its poll handle. Allocated apart from its
 * characteristic and freed by the handle's close callback: a characteristic's slot
 * can be reused (a new object, a new acquisition) while the old handle is still
 * closing (libuv: memory holding a handle lives until its close callback). */
struct gw_sub {
        uv_poll_t poll;
        int fd;
        struct gw_char *c; /* NULL once closing */
};

struct gw_char {
        bool used;
        char path[PATH_LEN];
        enum rc_char kind;
        rc_uuid uuid;
        bool can_read, can_notify, acquirable;
        /* subscription */
        struct gw_sub *sub; /* an acquired socket being read */
        bool started;       /* StartNotify succeeded: Value changes are notifications */
        unsigned retries;   /* StartNotify refused while an acquisition is released */
        struct gw_device *dev;
};

struct gw_device {
        struct rc_gateway *g;
        bool used, present;
        char path[PATH_LEN];
        rc_addr addr;
        char addr_str[RC_ADDR_STRLEN];
        char name[RC_GATT_STRING_MAX + 1];
        enum rc_device_kind kind;
        bool ours; /* advertises one of our services */
        bool connected, resolved, trusted;
        bool selected, use_startnotify;
        bool checking; /* a hang-up is being checked with BlueZ */
        enum gw_dev_state state;
        unsigned attempts, pending;
        uint64_t generation; /* bumped on every (dis)connection: stale replies are ignored */
        uv_timer_t timer;
        bool timer_init;
        sd_bus_slot *connect_call;
        struct gw_char chars[MAX_CHARS];
};

struct rc_gateway {
        struct rc_gateway_opts o;
        sd_bus *bus;
        struct rc_uvbus ub;
        bool bluez_up, ready;
        char adapter[PATH_LEN];
        bool have_adapter, discovery_asked;
        struct gw_device dev[RC_GATEWAY_MAX_DEVICES];
        rc_addr chosen[4];
        bool has_chosen[4];
        struct rc_gateway_stats st;
        uint64_t rng;
        /* stopping */
        bool stopping;
        unsigned stop_pending, open_timers;
        uv_timer_t stop_timer;
        void (*stop_done)(void *);
        void *stop_userdata;
};

/* The session has been told of the connection (from DEV_SETUP on; gw_lost() tells
 * it of the end). */
static inline bool gw_announced(const struct gw_device *d) {
        return d->state >= DEV_SETUP;
}

/* ---- dbus.c: reading D-Bus values safely ------------------------------------------ */

/* A reply or signal of the wrong shape: counted and logged (r: the reader's error,
 * or 0 for a value of the wrong type or form). */
void gw_malformed(struct rc_gateway *g, const char *what, int r);
/* Is e the D-Bus error `name`? (false for no error) */
bool gw_is_error(const sd_bus_error *e, const char *name);
/* Read a variant holding the given type (`what` names it in the log). 1: read;
 * 0: another type (skipped, counted as malformed); negative: a broken message. */
int gw_variant_bool(struct rc_gateway *g, sd_bus_message *m, const char *what, bool *ret);
int gw_variant_string(struct rc_gateway *g, sd_bus_message *m, const char *what, const char **ret);
int gw_variant_bytes(struct rc_gateway *g, sd_bus_message *m, const char *what, const void **ret,
                     size_t *ret_len);
/* A variant holding "as": fn(ctx, s) for each string. 0: read, or another type
 * (skipped, counted); negative: a broken message. */
int gw_variant_strings(struct rc_gateway *g, sd_bus_message *m, const char *what,
                       void (*fn)(void *ctx, const char *s), void *ctx);
/* Calls fn(g, ctx, key, m) for each entry of a dictionary at m whose entries have
 * the signature `entry` ("sv", "sa{sv}", "oa{sa{sv}}": a string or path key); fn
 * reads or skips the value. Negative: a broken message (or fn's error). */
typedef int (*gw_entry_fn)(struct rc_gateway *g, void *ctx, const char *key, sd_bus_message *m);
int gw_each_entry(struct rc_gateway *g, sd_bus_message *m, const char *entry, gw_entry_fn fn,
                  void *ctx);

/* ---- device.c: the per-device connect/backoff state machine ------------------------ */

/* The pure parts, tested alone (tests/test_gateway_fsm.c). */

/* The wait before retry number `attempts` (1 for the first): min_ms doubling with
 * each attempt up to max_ms, then 75..125 % of that from *rng (a 64-bit LCG state,
 * advanced once). */
uint64_t gw_backoff_ms(unsigned min_ms, unsigned max_ms, unsigned attempts, uint64_t *rng);

/* What a failed Connect (its D-Bus error name, NULL if none) calls for. */
enum gw_connect_error {
        GW_CONNECT_IN_PROGRESS, /* another connection is under way: wait and retry */
        GW_CONNECT_GONE,        /* BlueZ no longer has the device: wait for discovery */
        GW_CONNECT_RETRY,       /* the radio's transient failures, and the rest: back off */
};
enum gw_connect_error gw_connect_error_kind(const char *name);

/* What a Device1 property update means for a device in `state`. */
enum gw_change {
        GW_CHANGE_LOST,     /* the link of a device in use dropped */
        GW_CHANGE_DROPPED,  /* the link dropped before ServicesResolved: a failed connect */
        GW_CHANGE_RESOLVED, /* connected and resolved: set it up */
        GW_CHANGE_CONSIDER, /* nothing for the link: is it a device the user wants? */
};
enum gw_change gw_change_of(enum gw_dev_state state, bool connected, bool services_resolved,
                            bool connected_changed);

/* A Device1 property update: the device, and what changed. */
struct gw_device_change {
        struct gw_device *d;
        bool connected_changed, resolved_changed;
};
void gw_device_changed(struct rc_gateway *g, const struct gw_device_change *ch);
/* The link is gone (Connected=false, a hang-up, removal, bluetoothd gone). */
void gw_lost(struct gw_device *d, const char *why);
/* Connect the next selected device, one at a time per adapter. */
void gw_kick(struct rc_gateway *g);

/* ---- bluez.c: the mirror of BlueZ's objects ---------------------------------------- */

int gw_on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int gw_on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int gw_on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int gw_on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int gw_on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/* ---- gatt.c: set-up, subscriptions, notifications --------------------------------- */

/* An event to the session (o.notify). */
void gw_emit(struct gw_device *d, enum rc_what what, enum rc_char c, const uint8_t *data,
             size_t len);
/* Read what identifies the device, then subscribe (DEV_SETUP → DEV_STREAMING). */
void gw_setup_device(struct gw_device *d);
/* End c's subscription (its socket closes on the loop). */
void gw_char_unsubscribe(struct gw_char *c);
/* A characteristic's Value from a PropertiesChanged. */
void gw_on_value(struct gw_char *c, const void *data, size_t len);

#endif
