/* The BlueZ stand-in (tests/bluez-standin) against BlueZ's D-Bus API.
 *
 * Each test starts a private dbus-daemon and the stand-in on it (rc_standin.h),
 * and talks to it with a small sd-bus client that records every signal from
 * org.bluez and every reply, in the order they arrive, so that orderings (reply
 * before or after a signal) can be checked. Expected values come from the trace
 * file, read here with the trace reader, and from the BlueZ documentation
 * (property types) — not from the stand-in's own output.
 */
#include "rc_test.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "decode/gatt.h"
#include "rc_standin.h"
#include "replay/trace.h"
#include "util/ids.h"

#define ROLLER "AA:BB:CC:00:00:01"
#define CLIP "AA:BB:CC:00:00:02"
#define STRAP "AA:BB:CC:00:00:03"
#define ROLLER_PATH "/org/bluez/hci0/dev_AA_BB_CC_00_00_01"
#define CLIP_PATH "/org/bluez/hci0/dev_AA_BB_CC_00_00_02"
#define STRAP_PATH "/org/bluez/hci0/dev_AA_BB_CC_00_00_03"
#define ADAPTER "/org/bluez/hci0"
#define SPEED "4" /* the 10 s session plays in 2.5 s */
#define SPEED_F 4.0

#define UUID_ROLLER_IMU "caf70002-e46c-49f3-98a8-0c9d2480bb18"
#define UUID_BUTTON "caf70003-e46c-49f3-98a8-0c9d2480bb18"
#define UUID_ROLLER_INFO "caf70004-e46c-49f3-98a8-0c9d2480bb18"
#define UUID_BODY_IMU "caf70102-e46c-49f3-98a8-0c9d2480bb18"
#define UUID_PLACEMENT "caf70104-e46c-49f3-98a8-0c9d2480bb18"
#define UUID_HRM "00002a37-0000-1000-8000-00805f9b34fb"
#define UUID_BATTERY "00002a19-0000-1000-8000-00805f9b34fb"
#define UUID_CCC "00002902-0000-1000-8000-00805f9b34fb"

/* ---- the trace, read here ------------------------------------------------------------ */

#define MAX_LINES 2000

struct tline {
        uint64_t t;
        char addr[RC_ADDR_STRLEN];
        enum rc_what what;
        char uuid[RC_UUID_STRLEN];
        uint8_t data[RC_TRACE_MAX_PAYLOAD];
        size_t len;
};

static char tmpdir[64];
static char trace_path[128];
static struct tline *lines;
static size_t n_lines;

static int make_trace(void) {
        char cmd[1024];
        struct rc_trace_reader r;
        struct rc_notification n;
        FILE *f;

        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-standin-XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(trace_path, sizeof(trace_path), "%s/session.trace", tmpdir);
        snprintf(cmd, sizeof(cmd), "'%s' simulate '%s/tests/fixtures/standin-session.scn' -o '%s'",
                 RC_PROGRAM, RC_SOURCE_DIR, trace_path);
        if (system(cmd) != 0)
                return -1;
        lines = calloc(MAX_LINES, sizeof(*lines));
        f = fopen(trace_path, "r");
        if (!lines || !f)
                return -1;
        rc_trace_reader_init(&r, f, trace_path);
        while (n_lines < MAX_LINES && rc_trace_next(&r, &n) > 0) {
                struct tline *l = &lines[n_lines++];

                l->t = n.t_us;
                rc_addr_format(&n.addr, l->addr);
                l->what = n.what;
                if (n.what == RC_WHAT_VALUE)
                        rc_uuid_format(&n.uuid, l->uuid);
                memcpy(l->data, n.data, n.len);
                l->len = n.len;
        }
        fclose(f);
        return 0;
}

/* The value lines of a device's characteristic, in order: index i of them. */
static const struct tline *nth_value(const char *addr, const char *uuid, size_t i) {
        for (size_t k = 0; k < n_lines; k++)
                if (lines[k].what == RC_WHAT_VALUE && strcmp(lines[k].addr, addr) == 0 &&
                    strcmp(lines[k].uuid, uuid) == 0 && i-- == 0)
                        return &lines[k];
        return NULL;
}

/* Value lines of (addr, uuid) with t in [t0, t1). */
static size_t count_values(const char *addr, const char *uuid, uint64_t t0, uint64_t t1) {
        size_t n = 0;

        for (size_t k = 0; k < n_lines; k++)
                n += lines[k].what == RC_WHAT_VALUE && strcmp(lines[k].addr, addr) == 0 &&
                     strcmp(lines[k].uuid, uuid) == 0 && lines[k].t >= t0 && lines[k].t < t1;
        return n;
}

/* Time of the k-th disconnect / connect line of a device. */
static uint64_t nth_link_line(const char *addr, enum rc_what what, size_t i) {
        for (size_t k = 0; k < n_lines; k++)
                if (lines[k].what == what && strcmp(lines[k].addr, addr) == 0 && i-- == 0)
                        return lines[k].t;
        return UINT64_MAX;
}

/* ---- a recording client ----------------------------------------------------------------- */

#define MAX_EV 6000

enum ev_kind { EV_SIGNAL, EV_REPLY };

struct ev {
        enum ev_kind kind;
        char tag[32];
        sd_bus_message *m;
};

struct client;
struct call_ctx {
        struct client *cl;
        char tag[32];
};

struct client {
        sd_bus *bus;
        struct ev ev[MAX_EV];
        size_t n;
        struct call_ctx calls[64];
        size_t n_calls;
};

struct fixture {
        struct rc_standin s;
        struct client *cl;
};

static void record(struct client *cl, enum ev_kind kind, const char *tag, sd_bus_message *m) {
        if (cl->n >= MAX_EV)
                return;
        cl->ev[cl->n].kind = kind;
        snprintf(cl->ev[cl->n].tag, sizeof(cl->ev[0].tag), "%s", tag ? tag : "");
        cl->ev[cl->n].m = sd_bus_message_ref(m);
        cl->n++;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        record(userdata, EV_SIGNAL, NULL, m);
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        struct call_ctx *c = userdata;

        record(c->cl, EV_REPLY, c->tag, m);
        return 0;
}

static struct client *client_open(struct rc_standin *s) {
        struct client *cl = calloc(1, sizeof(*cl));

        assert_non_null(cl);
        assert_int_equal(rc_standin_connect(s, &cl->bus), 0);
        assert_true(sd_bus_add_match(cl->bus, NULL, "type='signal',sender='org.bluez'", on_signal,
                                     cl) >= 0);
        return cl;
}

static void client_close(struct client *cl) {
        if (!cl)
                return;
        for (size_t i = 0; i < cl->n; i++)
                sd_bus_message_unref(cl->ev[i].m);
        sd_bus_flush_close_unref(cl->bus);
        free(cl);
}

static uint64_t now_ms(void) {
        return rc__standin_now_ms();
}

/* Dispatch what arrives for `ms` milliseconds. */
static void pump(struct client *cl, int ms) {
        uint64_t end = now_ms() + (uint64_t)ms;

        for (;;) {
                int r = sd_bus_process(cl->bus, NULL);
                int64_t left;

                assert_true(r >= 0);
                if (r > 0)
                        continue;
                left = (int64_t)(end - now_ms());
                if (left <= 0)
                        return;
                sd_bus_wait(cl->bus, (uint64_t)left * 1000);
        }
}

typedef bool (*ev_pred)(const struct ev *e, const void *ctx);

static ssize_t find_ev(struct client *cl, size_t from, ev_pred p, const void *ctx) {
        for (size_t i = from; i < cl->n; i++)
                if (p(&cl->ev[i], ctx))
                        return (ssize_t)i;
        return -1;
}

/* Dispatch until an event matches (from index `from`); its index, or -1. */
/* The first event from `from` that matches, waiting for it; -1 if none came. The
 * limit is only against a hang: at least 30 s, whatever the caller says, so that a
 * busy machine is slow, not failing. */
static ssize_t wait_ev(struct client *cl, size_t from, ev_pred p, const void *ctx, int timeout_ms) {
        uint64_t end = now_ms() + (uint64_t)(timeout_ms < 30000 ? 30000 : timeout_ms);

        for (;;) {
                ssize_t i = find_ev(cl, from, p, ctx);
                int r;

                if (i >= 0)
                        return i;
                if (now_ms() >= end)
                        return -1;
                r = sd_bus_process(cl->bus, NULL);
                assert_true(r >= 0);
                if (r == 0)
                        sd_bus_wait(cl->bus, 20 * 1000);
        }
}

/* Wait until `n` events from `from` match (a test failure after 30 s). */
static void wait_n(struct client *cl, size_t from, ev_pred p, const void *ctx, size_t n) {
        uint64_t end = now_ms() + 30000;

        for (;;) {
                size_t k = 0;

                for (ssize_t i = (ssize_t)from; (i = find_ev(cl, (size_t)i, p, ctx)) >= 0; i++)
                        k++;
                if (k >= n)
                        return;
                if (now_ms() >= end)
                        fail_msg("%zu events of %zu", k, n);
                pump(cl, 20);
        }
}

/* ---- reading values out of messages ------------------------------------------------------ */

/* The current complete value at the read position as text: strings and paths as
 * they are, numbers in decimal, booleans as true/false, as/ao joined with ',',
 * ay in hex; anything else "?". The value is consumed. */
static void value_str(sd_bus_message *m, char *out, size_t cap) {
        const char *contents = NULL;
        char type;

        out[0] = '\0';
        assert_true(sd_bus_message_peek_type(m, &type, &contents) > 0);
        switch (type) {
        case 's':
        case 'o':
        case 'g': {
                const char *v;

                assert_true(sd_bus_message_read_basic(m, type, &v) > 0);
                snprintf(out, cap, "%s", v);
                return;
        }
        case 'b': {
                int v;

                assert_true(sd_bus_message_read_basic(m, 'b', &v) > 0);
                snprintf(out, cap, "%s", v ? "true" : "false");
                return;
        }
        case 'y': {
                uint8_t v;

                assert_true(sd_bus_message_read_basic(m, 'y', &v) > 0);
                snprintf(out, cap, "%u", v);
                return;
        }
        case 'n': {
                int16_t v;

                assert_true(sd_bus_message_read_basic(m, 'n', &v) > 0);
                snprintf(out, cap, "%d", v);
                return;
        }
        case 'q': {
                uint16_t v;

                assert_true(sd_bus_message_read_basic(m, 'q', &v) > 0);
                snprintf(out, cap, "%u", v);
                return;
        }
        case 'i':
        case 'u': {
                uint32_t v;

                assert_true(sd_bus_message_read_basic(m, type, &v) > 0);
                snprintf(out, cap, type == 'i' ? "%d" : "%u", v);
                return;
        }
        case 'a':
                if (strcmp(contents, "y") == 0) {
                        const void *p;
                        size_t n;

                        assert_true(sd_bus_message_read_array(m, 'y', &p, &n) >= 0);
                        if (2 * n + 1 <= cap)
                                rc_hex_encode(p, n, out);
                        return;
                }
                if (strcmp(contents, "s") == 0 || strcmp(contents, "o") == 0) {
                        const char *v;
                        size_t used = 0;

                        assert_true(sd_bus_message_enter_container(m, 'a', contents) > 0);
                        while (sd_bus_message_read_basic(m, contents[0], &v) > 0)
                                used += (size_t)snprintf(out + used, used < cap ? cap - used : 0,
                                                         "%s%s", used ? "," : "", v);
                        assert_true(sd_bus_message_exit_container(m) >= 0);
                        return;
                }
                break;
        default:
                break;
        }
        assert_true(sd_bus_message_skip(m, NULL) >= 0);
        snprintf(out, cap, "?");
}

/* A variant at the read position: its signature into sig, its value as text. */
static void variant_str(sd_bus_message *m, char *sig, size_t sigcap, char *val, size_t cap) {
        const char *contents = NULL;
        char type;

        assert_true(sd_bus_message_peek_type(m, &type, &contents) > 0);
        assert_int_equal(type, 'v');
        snprintf(sig, sigcap, "%s", contents);
        assert_true(sd_bus_message_enter_container(m, 'v', contents) > 0);
        value_str(m, val, cap);
        assert_true(sd_bus_message_exit_container(m) >= 0);
}

/* A property in a PropertiesChanged message: 1 changed (sig, val filled), 2
 * invalidated, 0 absent. */
static int pc_prop(sd_bus_message *m, const char *iface, const char *name, char *sig, size_t sigcap,
                   char *val, size_t cap) {
        const char *i, *key;
        int found = 0;

        if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged"))
                return 0;
        assert_true(sd_bus_message_rewind(m, true) >= 0);
        assert_true(sd_bus_message_read(m, "s", &i) > 0);
        if (strcmp(i, iface) != 0)
                return 0;
        assert_true(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                char s[16], v[2048];

                assert_true(sd_bus_message_read(m, "s", &key) > 0);
                variant_str(m, s, sizeof(s), v, sizeof(v));
                if (strcmp(key, name) == 0) {
                        found = 1;
                        if (sig)
                                snprintf(sig, sigcap, "%s", s);
                        if (val)
                                snprintf(val, cap, "%s", v);
                }
                assert_true(sd_bus_message_exit_container(m) >= 0);
        }
        assert_true(sd_bus_message_exit_container(m) >= 0);
        if (found)
                return 1;
        assert_true(sd_bus_message_enter_container(m, 'a', "s") > 0);
        while (sd_bus_message_read(m, "s", &key) > 0)
                if (strcmp(key, name) == 0)
                        found = 2;
        return found;
}

/* Predicates ------------------------------------------------------------------------ */

struct pc_want {
        const char *path; /* exact */
        const char *iface;
        const char *name;
        const char *value; /* NULL: any */
};

static bool is_pc(const struct ev *e, const void *ctx) {
        const struct pc_want *w = ctx;
        char val[2048];

        if (e->kind != EV_SIGNAL || strcmp(sd_bus_message_get_path(e->m), w->path) != 0)
                return false;
        if (pc_prop(e->m, w->iface, w->name, NULL, 0, val, sizeof(val)) != 1)
                return false;
        return !w->value || strcmp(val, w->value) == 0;
}

static bool is_pc_invalidated(const struct ev *e, const void *ctx) {
        const struct pc_want *w = ctx;

        return e->kind == EV_SIGNAL && strcmp(sd_bus_message_get_path(e->m), w->path) == 0 &&
               pc_prop(e->m, w->iface, w->name, NULL, 0, NULL, 0) == 2;
}

static bool is_reply(const struct ev *e, const void *ctx) {
        return e->kind == EV_REPLY && strcmp(e->tag, ctx) == 0;
}

/* InterfacesAdded/Removed of an object at `prefix` exactly, or under it when the
 * prefix ends with '/'; with `iface`, only if that interface is in it. */
struct om_want {
        const char *member;
        const char *prefix;
        const char *iface;
};

static const char *om_object(sd_bus_message *m) {
        const char *path;

        assert_true(sd_bus_message_rewind(m, true) >= 0);
        assert_true(sd_bus_message_read(m, "o", &path) > 0);
        return path;
}

static bool is_om(const struct ev *e, const void *ctx) {
        const struct om_want *w = ctx;
        const char *path, *name;
        size_t n = strlen(w->prefix);
        bool found = false;

        if (e->kind != EV_SIGNAL ||
            !sd_bus_message_is_signal(e->m, "org.freedesktop.DBus.ObjectManager", w->member))
                return false;
        path = om_object(e->m);
        if (w->prefix[n - 1] == '/' ? strncmp(path, w->prefix, n) != 0
                                    : strcmp(path, w->prefix) != 0)
                return false;
        if (!w->iface)
                return true;
        if (strcmp(w->member, "InterfacesRemoved") == 0) {
                assert_true(sd_bus_message_enter_container(e->m, 'a', "s") > 0);
                while (sd_bus_message_read(e->m, "s", &name) > 0)
                        found |= strcmp(name, w->iface) == 0;
                return found;
        }
        assert_true(sd_bus_message_enter_container(e->m, 'a', "{sa{sv}}") > 0);
        while (sd_bus_message_enter_container(e->m, 'e', "sa{sv}") > 0) {
                assert_true(sd_bus_message_read(e->m, "s", &name) > 0);
                found |= strcmp(name, w->iface) == 0;
                assert_true(sd_bus_message_skip(e->m, "a{sv}") >= 0);
                assert_true(sd_bus_message_exit_container(e->m) >= 0);
        }
        return found;
}

/* ---- calls ------------------------------------------------------------------------------ */

/* A method call of org.bluez with `types` and the arguments in ap (none if NULL). */
static sd_bus_message *new_call(struct client *cl, const char *path, const char *iface,
                                const char *member, const char *types, va_list ap) {
        sd_bus_message *m = NULL;

        assert_true(sd_bus_message_new_method_call(cl->bus, &m, "org.bluez", path, iface, member) >=
                    0);
        if (types)
                assert_true(sd_bus_message_appendv(m, types, ap) >= 0);
        return m;
}

static void call_async(struct client *cl, const char *tag, const char *path, const char *iface,
                       const char *member, const char *types, ...) {
        sd_bus_message *m;
        struct call_ctx *c;
        va_list ap;

        assert_true(cl->n_calls < sizeof(cl->calls) / sizeof(cl->calls[0]));
        c = &cl->calls[cl->n_calls++];
        c->cl = cl;
        snprintf(c->tag, sizeof(c->tag), "%s", tag);
        va_start(ap, types);
        m = new_call(cl, path, iface, member, types, ap);
        va_end(ap);
        assert_true(sd_bus_call_async(cl->bus, NULL, m, on_reply, c, 10 * 1000 * 1000) >= 0);
        sd_bus_message_unref(m);
}

static char last_errmsg[512];

/* The message of the last error a call got. */
static const char *last_error_message(void) {
        return last_errmsg;
}

/* A call and its reply; on an error, its name into *ret_error (NULL when it
 * succeeded) and its message kept for last_error_message(). Without ret_error, an
 * error fails the test. */
static sd_bus_message *vcall(struct client *cl, const char **ret_error, const char *path,
                             const char *iface, const char *member, const char *types, va_list ap) {
        static char errname[128];
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_call(cl, path, iface, member, types, ap), *reply = NULL;
        int r;

        r = sd_bus_call(cl->bus, m, 10 * 1000 * 1000, &error, &reply);
        sd_bus_message_unref(m);
        if (r < 0) {
                snprintf(errname, sizeof(errname), "%s", error.name ? error.name : "?");
                snprintf(last_errmsg, sizeof(last_errmsg), "%s",
                         error.message ? error.message : "");
                sd_bus_error_free(&error);
                if (!ret_error)
                        fail_msg("%s.%s on %s failed: %s: %s", iface, member, path, errname,
                                 last_errmsg);
                *ret_error = errname;
                return NULL;
        }
        if (ret_error)
                *ret_error = NULL;
        return reply;
}

static sd_bus_message *call(struct client *cl, const char **ret_error, const char *path,
                            const char *iface, const char *member, const char *types, ...) {
        sd_bus_message *reply;
        va_list ap;

        va_start(ap, types);
        reply = vcall(cl, ret_error, path, iface, member, types, ap);
        va_end(ap);
        return reply;
}

/* The error name of a call expected to fail, "(success)" if it did not. */
static const char *call_error(struct client *cl, const char *path, const char *iface,
                              const char *member, const char *types, ...) {
        const char *err;
        va_list ap;

        va_start(ap, types);
        sd_bus_message_unref(vcall(cl, &err, path, iface, member, types, ap));
        va_end(ap);
        return err ? err : "(success)";
}

static void call_ok(struct client *cl, const char *path, const char *iface, const char *member) {
        sd_bus_message_unref(call(cl, NULL, path, iface, member, NULL));
}

/* ReadValue without options: the value as text (hex). */
static void read_value(struct client *cl, const char *path, const char *iface, char *val,
                       size_t cap) {
        sd_bus_message *reply = call(cl, NULL, path, iface, "ReadValue", "a{sv}", 0);

        value_str(reply, val, cap);
        sd_bus_message_unref(reply);
}

/* Properties.Get: the variant's signature and value as text. */
static void get_prop(struct client *cl, const char *path, const char *iface, const char *name,
                     char *sig, size_t sigcap, char *val, size_t cap) {
        sd_bus_message *reply =
                call(cl, NULL, path, "org.freedesktop.DBus.Properties", "Get", "ss", iface, name);

        variant_str(reply, sig, sigcap, val, cap);
        sd_bus_message_unref(reply);
}

/* ---- GetManagedObjects as a flat list ---------------------------------------------------- */

struct mo_prop {
        char path[128];
        char iface[48];
        char name[32]; /* "" for the interface itself */
        char sig[16];
        char val[256];
};

struct mo {
        struct mo_prop *p;
        size_t n;
};

static void mo_free(struct mo *mo) {
        free(mo->p);
        mo->p = NULL;
        mo->n = 0;
}

static void mo_add(struct mo *mo, const char *path, const char *iface, const char *name,
                   const char *sig, const char *val) {
        struct mo_prop *e;

        mo->p = realloc(mo->p, (mo->n + 1) * sizeof(*mo->p));
        assert_non_null(mo->p);
        e = &mo->p[mo->n++];
        snprintf(e->path, sizeof(e->path), "%s", path);
        snprintf(e->iface, sizeof(e->iface), "%s", iface);
        snprintf(e->name, sizeof(e->name), "%s", name);
        snprintf(e->sig, sizeof(e->sig), "%s", sig);
        snprintf(e->val, sizeof(e->val), "%s", val);
}

/* a{sa{sv}} at the read position into mo, for object `path`. */
static void read_ifaces(sd_bus_message *m, const char *path, struct mo *mo) {
        const char *iface;

        assert_true(sd_bus_message_enter_container(m, 'a', "{sa{sv}}") > 0);
        while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
                assert_true(sd_bus_message_read(m, "s", &iface) > 0);
                mo_add(mo, path, iface, "", "", "");
                assert_true(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
                while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                        const char *name;
                        char sig[16], val[256];

                        assert_true(sd_bus_message_read(m, "s", &name) > 0);
                        variant_str(m, sig, sizeof(sig), val, sizeof(val));
                        mo_add(mo, path, iface, name, sig, val);
                        assert_true(sd_bus_message_exit_container(m) >= 0);
                }
                assert_true(sd_bus_message_exit_container(m) >= 0);
                assert_true(sd_bus_message_exit_container(m) >= 0);
        }
        assert_true(sd_bus_message_exit_container(m) >= 0);
}

static struct mo managed_objects(struct client *cl) {
        sd_bus_message *reply = call(cl, NULL, "/", "org.freedesktop.DBus.ObjectManager",
                                     "GetManagedObjects", NULL);
        struct mo mo = {0};
        const char *path;

        assert_true(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}") > 0);
        while (sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}") > 0) {
                assert_true(sd_bus_message_read(reply, "o", &path) > 0);
                read_ifaces(reply, path, &mo);
                assert_true(sd_bus_message_exit_container(reply) >= 0);
        }
        sd_bus_message_unref(reply);
        return mo;
}

static const struct mo_prop *mo_get(const struct mo *mo, const char *path, const char *iface,
                                    const char *name) {
        for (size_t i = 0; i < mo->n; i++)
                if (strcmp(mo->p[i].path, path) == 0 && strcmp(mo->p[i].iface, iface) == 0 &&
                    strcmp(mo->p[i].name, name) == 0)
                        return &mo->p[i];
        return NULL;
}

/* A value that must be there: the test fails if it is not, and the caller gets an
 * empty string rather than NULL (cmocka's failures return as far as the compiler
 * knows; GCC's -Wstringop-overread then sees a NULL argument). */
static const char *must(const char *s, const char *what) {
        static const char missing[64]; /* longer than the offsets the tests read at */

        if (!s)
                fail_msg("%s: not found", what);
        return s ? s : missing;
}

/* The value of a property that must be there. */
static const char *mo_val(const struct mo *mo, const char *path, const char *iface,
                          const char *name) {
        const struct mo_prop *p = mo_get(mo, path, iface, name);

        return must(p ? p->val : NULL, name);
}

/* The object under `prefix` whose `iface` has UUID `uuid`. */
static const char *mo_find_uuid(const struct mo *mo, const char *prefix, const char *iface,
                                const char *uuid) {
        for (size_t i = 0; i < mo->n; i++)
                if (strncmp(mo->p[i].path, prefix, strlen(prefix)) == 0 &&
                    strcmp(mo->p[i].iface, iface) == 0 && strcmp(mo->p[i].name, "UUID") == 0 &&
                    strcmp(mo->p[i].val, uuid) == 0)
                        return mo->p[i].path;
        return NULL;
}

/* The BlueZ documentation's property types (doc/org.bluez.*.rst). */
struct doc_type {
        const char *iface, *name, *sig;
        bool required;
};

static const struct doc_type doc_types[] = {
        {"org.bluez.Adapter1", "Address", "s", true},
        {"org.bluez.Adapter1", "AddressType", "s", true},
        {"org.bluez.Adapter1", "Name", "s", true},
        {"org.bluez.Adapter1", "Alias", "s", true},
        {"org.bluez.Adapter1", "Class", "u", true},
        {"org.bluez.Adapter1", "Connectable", "b", false},
        {"org.bluez.Adapter1", "Powered", "b", true},
        {"org.bluez.Adapter1", "Discoverable", "b", true},
        {"org.bluez.Adapter1", "DiscoverableTimeout", "u", true},
        {"org.bluez.Adapter1", "Pairable", "b", true},
        {"org.bluez.Adapter1", "PairableTimeout", "u", true},
        {"org.bluez.Adapter1", "Discovering", "b", true},
        {"org.bluez.Adapter1", "UUIDs", "as", true},
        {"org.bluez.Adapter1", "Modalias", "s", false},
        {"org.bluez.Adapter1", "Roles", "as", true},
        {"org.bluez.Adapter1", "Manufacturer", "q", false},
        {"org.bluez.Adapter1", "Version", "y", false},
        {"org.bluez.Device1", "Address", "s", true},
        {"org.bluez.Device1", "AddressType", "s", true},
        {"org.bluez.Device1", "Name", "s", false},
        {"org.bluez.Device1", "Icon", "s", false},
        {"org.bluez.Device1", "Class", "u", false},
        {"org.bluez.Device1", "Appearance", "q", false},
        {"org.bluez.Device1", "UUIDs", "as", false},
        {"org.bluez.Device1", "Paired", "b", true},
        {"org.bluez.Device1", "Bonded", "b", true},
        {"org.bluez.Device1", "Connected", "b", true},
        {"org.bluez.Device1", "Trusted", "b", true},
        {"org.bluez.Device1", "Blocked", "b", true},
        {"org.bluez.Device1", "WakeAllowed", "b", false},
        {"org.bluez.Device1", "Alias", "s", true},
        {"org.bluez.Device1", "Adapter", "o", true},
        {"org.bluez.Device1", "LegacyPairing", "b", true},
        {"org.bluez.Device1", "Modalias", "s", false},
        {"org.bluez.Device1", "RSSI", "n", false},
        {"org.bluez.Device1", "TxPower", "n", false},
        {"org.bluez.Device1", "ManufacturerData", "a{qv}", false},
        {"org.bluez.Device1", "ServiceData", "a{sv}", false},
        {"org.bluez.Device1", "ServicesResolved", "b", true},
        {"org.bluez.Device1", "AdvertisingFlags", "ay", false},
        {"org.bluez.GattService1", "UUID", "s", true},
        {"org.bluez.GattService1", "Primary", "b", true},
        {"org.bluez.GattService1", "Device", "o", false},
        {"org.bluez.GattService1", "Includes", "ao", false},
        {"org.bluez.GattService1", "Handle", "q", true},
        {"org.bluez.GattCharacteristic1", "UUID", "s", true},
        {"org.bluez.GattCharacteristic1", "Service", "o", true},
        {"org.bluez.GattCharacteristic1", "Value", "ay", false},
        {"org.bluez.GattCharacteristic1", "WriteAcquired", "b", false},
        {"org.bluez.GattCharacteristic1", "NotifyAcquired", "b", false},
        {"org.bluez.GattCharacteristic1", "Notifying", "b", false},
        {"org.bluez.GattCharacteristic1", "Flags", "as", true},
        {"org.bluez.GattCharacteristic1", "Handle", "q", true},
        {"org.bluez.GattCharacteristic1", "MTU", "q", true},
        {"org.bluez.GattDescriptor1", "UUID", "s", true},
        {"org.bluez.GattDescriptor1", "Characteristic", "o", true},
        {"org.bluez.GattDescriptor1", "Value", "ay", false},
        {"org.bluez.GattDescriptor1", "Flags", "as", false},
        {"org.bluez.GattDescriptor1", "Handle", "q", true},
        {"org.bluez.Battery1", "Percentage", "y", true},
        {"org.bluez.Battery1", "Source", "s", false},
};

static const struct doc_type *doc_type(const char *iface, const char *name) {
        for (size_t i = 0; i < sizeof(doc_types) / sizeof(doc_types[0]); i++)
                if (strcmp(doc_types[i].iface, iface) == 0 && strcmp(doc_types[i].name, name) == 0)
                        return &doc_types[i];
        return NULL;
}

/* Every property of a BlueZ interface has its documented type; every required
 * one is there. */
static void check_types(const struct mo *mo) {
        for (size_t i = 0; i < mo->n; i++) {
                const struct mo_prop *e = &mo->p[i];
                const struct doc_type *t;

                if (!e->name[0] || strncmp(e->iface, "org.bluez.", 10) != 0 ||
                    strstr(e->iface, "Manager"))
                        continue;
                t = doc_type(e->iface, e->name);
                if (!t)
                        fail_msg("%s: %s.%s is not in the BlueZ documentation", e->path, e->iface,
                                 e->name);
                if (strcmp(t->sig, e->sig) != 0)
                        fail_msg("%s: %s.%s has type %s, the documentation says %s", e->path,
                                 e->iface, e->name, e->sig, t->sig);
        }
        for (size_t i = 0; i < mo->n; i++) {
                const struct mo_prop *e = &mo->p[i];

                if (e->name[0] || strncmp(e->iface, "org.bluez.", 10) != 0)
                        continue;
                for (size_t k = 0; k < sizeof(doc_types) / sizeof(doc_types[0]); k++)
                        if (doc_types[k].required && strcmp(doc_types[k].iface, e->iface) == 0 &&
                            !mo_get(mo, e->path, e->iface, doc_types[k].name))
                                fail_msg("%s: %s.%s is missing", e->path, e->iface,
                                         doc_types[k].name);
        }
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static int group_setup(void **state) {
        return make_trace();
}

static int group_teardown(void **state) {
        char path[200];

        free(lines);
        snprintf(path, sizeof(path), "%s/session.trace", tmpdir);
        unlink(path);
        rmdir(tmpdir);
        return 0;
}

/* Start the bus and the stand-in with these extra arguments (NULL-terminated). */
static struct fixture *start(const char *first, ...) {
        struct fixture *fx = calloc(1, sizeof(*fx));
        const char *args[24];
        size_t n = 0;
        va_list ap;

        assert_non_null(fx);
        args[n++] = "--speed";
        args[n++] = SPEED;
        args[n++] = "--connect-delay";
        args[n++] = "20";
        args[n++] = "--resolve-delay";
        args[n++] = "20";
        args[n++] = "--disconnect-delay";
        args[n++] = "50";
        args[n++] = "--absent-timeout";
        args[n++] = "400";
        args[n++] = "--rssi-period";
        args[n++] = "100";
        va_start(ap, first);
        for (const char *a = first; a && n < 22; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;
        assert_int_equal(rc_standin_bus_start(&fx->s), 0);
        if (rc_standin_startv(&fx->s, trace_path, args) != 0) {
                rc_standin_dump_log(&fx->s);
                fail_msg("the stand-in did not start");
        }
        fx->cl = client_open(&fx->s);
        return fx;
}

/* Stop everything; the stand-in must exit cleanly (0: no sanitizer report, no
 * leak) on SIGTERM. */
static void stop(struct fixture *fx) {
        int st = 0;

        client_close(fx->cl);
        if (fx->s.pid)
                st = rc_standin_kill(&fx->s);
        if (st != 0)
                rc_standin_dump_log(&fx->s);
        rc_standin_stop(&fx->s);
        free(fx);
        assert_int_equal(st, 0);
}

/* The test failed: show the stand-in's side. */
static void dump(struct fixture *fx) {
        rc_standin_dump_log(&fx->s);
}

static void discover(struct fixture *fx, const char *const *paths, size_t n) {
        call_ok(fx->cl, ADAPTER, "org.bluez.Adapter1", "StartDiscovery");
        for (size_t i = 0; i < n; i++) {
                struct om_want w = {"InterfacesAdded", paths[i], "org.bluez.Device1"};

                if (wait_ev(fx->cl, 0, is_om, &w, 5000) < 0) {
                        dump(fx);
                        fail_msg("%s did not appear", paths[i]);
                }
        }
}

/* Connect a device and wait until its services are resolved. */
static void connect_resolved(struct fixture *fx, const char *path) {
        struct pc_want w = {path, "org.bluez.Device1", "ServicesResolved", "true"};
        size_t from = fx->cl->n;

        call_ok(fx->cl, path, "org.bluez.Device1", "Connect");
        if (wait_ev(fx->cl, from, is_pc, &w, 5000) < 0) {
                dump(fx);
                fail_msg("%s: no ServicesResolved", path);
        }
}

static const char *chrc_path(struct fixture *fx, const char *dev, const char *uuid) {
        static char path[128];
        struct mo mo = managed_objects(fx->cl);
        const char *p = mo_find_uuid(&mo, dev, "org.bluez.GattCharacteristic1", uuid);

        assert_non_null(p);
        snprintf(path, sizeof(path), "%s", p);
        mo_free(&mo);
        return path;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_managed_objects_shape(void **state) {
        static const char *const devs[] = {ROLLER_PATH, CLIP_PATH, STRAP_PATH};
        struct fixture *fx = start("--decoy", "3", NULL);
        const struct tline *name;
        char expect[RC_GATT_STRING_MAX + 1];
        size_t n_devices = 0, n_decoys = 0;
        struct mo mo;

        discover(fx, devs, 3);
        {
                struct om_want dev = {"InterfacesAdded", ADAPTER "/", "org.bluez.Device1"};

                wait_n(fx->cl, 0, is_om, &dev, 6); /* the decoys too */
        }
        mo = managed_objects(fx->cl);
        check_types(&mo);

        /* The adapter, and gdbus's two standard interfaces on every object. */
        assert_non_null(mo_get(&mo, ADAPTER, "org.bluez.Adapter1", ""));
        assert_string_equal(mo_get(&mo, ADAPTER, "org.bluez.Adapter1", "Powered")->val, "true");
        assert_string_equal(mo_get(&mo, ADAPTER, "org.bluez.Adapter1", "Discovering")->val, "true");
        for (size_t i = 0; i < mo.n; i++)
                if (!mo.p[i].name[0] && strcmp(mo.p[i].iface, "org.bluez.Device1") == 0) {
                        const char *addr =
                                mo_get(&mo, mo.p[i].path, "org.bluez.Device1", "Address")->val;

                        assert_non_null(mo_get(&mo, mo.p[i].path,
                                               "org.freedesktop.DBus.Introspectable", ""));
                        assert_non_null(
                                mo_get(&mo, mo.p[i].path, "org.freedesktop.DBus.Properties", ""));
                        assert_string_equal(
                                mo_get(&mo, mo.p[i].path, "org.bluez.Device1", "Adapter")->val,
                                ADAPTER);
                        assert_string_equal(
                                mo_get(&mo, mo.p[i].path, "org.bluez.Device1", "Connected")->val,
                                "false");
                        assert_non_null(mo_get(&mo, mo.p[i].path, "org.bluez.Device1", "RSSI"));
                        if (nth_link_line(addr, RC_WHAT_CONNECT, 0) != UINT64_MAX)
                                n_devices++;
                        else
                                n_decoys++;
                }
        assert_int_equal(n_devices, 3);
        assert_int_equal(n_decoys, 3);

        /* Names from the trace's Device Name reads; addresses as in the trace. */
        for (size_t i = 0; i < 3; i++) {
                const char *addr = i == 0 ? ROLLER : i == 1 ? CLIP : STRAP;
                enum rc_decode_reason why;

                name = nth_value(addr, "00002a00-0000-1000-8000-00805f9b34fb", 0);
                assert_non_null(name);
                assert_int_equal(rc_decode_string(name->data, name->len, expect, &why), 0);
                assert_string_equal(mo_get(&mo, devs[i], "org.bluez.Device1", "Name")->val, expect);
                assert_string_equal(mo_get(&mo, devs[i], "org.bluez.Device1", "Alias")->val,
                                    expect);
                assert_string_equal(mo_get(&mo, devs[i], "org.bluez.Device1", "Address")->val,
                                    addr);
        }
        /* Advertised services. */
        assert_non_null(strstr(mo_val(&mo, ROLLER_PATH, "org.bluez.Device1", "UUIDs"),
                               "caf70001-e46c-49f3-98a8-0c9d2480bb18"));
        assert_non_null(strstr(mo_val(&mo, CLIP_PATH, "org.bluez.Device1", "UUIDs"),
                               "caf70101-e46c-49f3-98a8-0c9d2480bb18"));
        assert_non_null(strstr(mo_val(&mo, STRAP_PATH, "org.bluez.Device1", "UUIDs"),
                               "0000180d-0000-1000-8000-00805f9b34fb"));
        assert_non_null(strstr(mo_val(&mo, STRAP_PATH, "org.bluez.Device1", "UUIDs"),
                               "0000180f-0000-1000-8000-00805f9b34fb"));
        /* No GATT objects before a connection. */
        assert_null(mo_find_uuid(&mo, ROLLER_PATH "/", "org.bluez.GattService1",
                                 "caf70001-e46c-49f3-98a8-0c9d2480bb18"));
        /* The stand-in's own object is not BlueZ's: not listed. */
        for (size_t i = 0; i < mo.n; i++)
                assert_null(strstr(mo.p[i].path, "rollcoach"));
        mo_free(&mo);
        stop(fx);
}

static void test_discovery_filter(void **state) {
        static const char *const roller[] = {ROLLER_PATH};
        struct fixture *fx = start("--decoy", "2", NULL);
        struct client *cl = fx->cl;
        const char *const bad_uuids[] = {"not-a-uuid", NULL};
        sd_bus_message *m = NULL;
        char sig[16], val[256];

        /* Valid: every key with its documented type. */
        assert_true(sd_bus_message_new_method_call(cl->bus, &m, "org.bluez", ADAPTER,
                                                   "org.bluez.Adapter1",
                                                   "SetDiscoveryFilter") >= 0);
        assert_true(sd_bus_message_append(m, "a{sv}", 6, "UUIDs", "as", 1,
                                          "caf70001-e46c-49f3-98a8-0c9d2480bb18", "Transport", "s",
                                          "le", "RSSI", "n", -90, "DuplicateData", "b", 1,
                                          "Discoverable", "b", 0, "Pattern", "s", "") >= 0);
        assert_true(sd_bus_call(cl->bus, m, 0, NULL, NULL) >= 0);
        sd_bus_message_unref(m);
        /* Invalid ones: InvalidArguments, as parse_discovery_filter_dict() does. */
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "Transport", "s", "usb"),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "RSSI", "i", -60),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "RSSI", "n", 21),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "Pathloss", "q", 138),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 2, "RSSI", "n", -60, "Pathloss", "q", 50),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "Colour", "s", "blue"),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "UUIDs", "s", "180d"),
                            "org.bluez.Error.InvalidArguments");
        assert_true(sd_bus_message_new_method_call(cl->bus, &m, "org.bluez", ADAPTER,
                                                   "org.bluez.Adapter1",
                                                   "SetDiscoveryFilter") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_true(sd_bus_message_open_container(m, 'e', "sv") >= 0);
        assert_true(sd_bus_message_append(m, "s", "UUIDs") >= 0);
        assert_true(sd_bus_message_open_container(m, 'v', "as") >= 0);
        assert_true(sd_bus_message_append_strv(m, (char **)bad_uuids) >= 0);
        for (int i = 0; i < 3; i++)
                assert_true(sd_bus_message_close_container(m) >= 0);
        {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                assert_true(sd_bus_call(cl->bus, m, 0, &e, NULL) < 0);
                assert_string_equal(e.name, "org.bluez.Error.InvalidArguments");
                sd_bus_error_free(&e);
        }
        sd_bus_message_unref(m);
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "Pathloss", "q", 137),
                            "(success)");
        assert_string_equal(
                call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter", "a{sv}", 0),
                "(success)");
        /* A wrong signature is libdbus's UnknownMethod. */
        assert_string_equal(
                call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter", "s", "x"),
                "org.freedesktop.DBus.Error.UnknownMethod");

        m = call(cl, NULL, ADAPTER, "org.bluez.Adapter1", "GetDiscoveryFilters", NULL);
        value_str(m, val, sizeof(val));
        assert_string_equal(val,
                            "UUIDs,RSSI,Pathloss,Transport,DuplicateData,Discoverable,Pattern");
        sd_bus_message_unref(m);

        /* A filter for the roller only: bluetoothd merges filters, the decoys show. */
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                                       "a{sv}", 1, "UUIDs", "as", 1,
                                       "caf70001-e46c-49f3-98a8-0c9d2480bb18"),
                            "(success)");
        discover(fx, roller, 1);
        {
                struct om_want w = {"InterfacesAdded", "/org/bluez/hci0/dev_DE_C0_00_00_00_01",
                                    "org.bluez.Device1"};

                assert_true(wait_ev(cl, 0, is_om, &w, 3000) >= 0);
        }
        /* Discovering, and the session rules. */
        get_prop(cl, ADAPTER, "org.bluez.Adapter1", "Discovering", sig, sizeof(sig), val,
                 sizeof(val));
        assert_string_equal(val, "true");
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "StartDiscovery", NULL),
                            "org.bluez.Error.InProgress");
        {
                size_t from = cl->n;
                struct pc_want w = {ADAPTER, "org.bluez.Adapter1", "Discovering", "false"};
                struct pc_want rssi = {ROLLER_PATH, "org.bluez.Device1", "RSSI", NULL};

                call_ok(cl, ADAPTER, "org.bluez.Adapter1", "StopDiscovery");
                assert_true(wait_ev(cl, from, is_pc, &w, 2000) >= 0);
                /* discovery_cleanup(): RSSI invalidated. */
                assert_true(wait_ev(cl, from, is_pc_invalidated, &rssi, 2000) >= 0);
        }
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "StopDiscovery", NULL),
                            "org.bluez.Error.Failed");
        assert_string_equal(last_error_message(), "No discovery started");
        stop(fx);
}

static void test_rssi_updates(void **state) {
        static const char *const devs[] = {ROLLER_PATH, CLIP_PATH, STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct pc_want w = {ROLLER_PATH, "org.bluez.Device1", "RSSI", NULL};
        size_t from;

        discover(fx, devs, 3);
        from = fx->cl->n;
        /* While discovering, RSSI changes now and then (period 100 ms here). */
        assert_true(wait_ev(fx->cl, from, is_pc, &w, 8000) >= 0);
        stop(fx);
}

static void test_connect_sequence(void **state) {
        static const char *const devs[] = {ROLLER_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct pc_want connected = {ROLLER_PATH, "org.bluez.Device1", "Connected", "true"};
        struct pc_want resolved = {ROLLER_PATH, "org.bluez.Device1", "ServicesResolved", "true"};
        struct om_want gatt = {"InterfacesAdded", ROLLER_PATH "/", NULL};
        ssize_t i_conn, i_reply, i_gatt, i_res;
        size_t from;
        struct mo mo;
        const char *svc, *imu, *button, *info, *batt;
        char buf[160];

        discover(fx, devs, 1);
        from = cl->n;
        call_async(cl, "connect", ROLLER_PATH, "org.bluez.Device1", "Connect", NULL);
        i_res = wait_ev(cl, from, is_pc, &resolved, 5000);
        if (i_res < 0)
                dump(fx);
        assert_true(i_res >= 0);
        i_conn = find_ev(cl, from, is_pc, &connected);
        i_reply = find_ev(cl, from, is_reply, "connect");
        i_gatt = find_ev(cl, from, is_om, &gatt);
        assert_true(i_conn >= 0 && i_reply >= 0 && i_gatt >= 0);
        assert_false(sd_bus_message_is_method_error(cl->ev[i_reply].m, NULL));
        /* bluetoothd: Connected, then the reply (ATT up), then the GATT objects, then
         * ServicesResolved. */
        assert_true(i_conn < i_reply);
        assert_true(i_reply < i_gatt);
        assert_true(i_gatt < i_res);

        mo = managed_objects(cl);
        check_types(&mo);
        svc = must(mo_find_uuid(&mo, ROLLER_PATH "/", "org.bluez.GattService1",
                                "caf70001-e46c-49f3-98a8-0c9d2480bb18"),
                   "the roller's service");
        /* serviceXXXX: four lower-case hex digits, as BlueZ names them. */
        assert_int_equal(strlen(svc), strlen(ROLLER_PATH "/service0000"));
        assert_int_equal(strspn(svc + strlen(ROLLER_PATH "/service"), "0123456789abcdef"), 4);
        assert_string_equal(mo_get(&mo, svc, "org.bluez.GattService1", "Device")->val, ROLLER_PATH);
        assert_string_equal(mo_get(&mo, svc, "org.bluez.GattService1", "Primary")->val, "true");
        imu = must(mo_find_uuid(&mo, svc, "org.bluez.GattCharacteristic1", UUID_ROLLER_IMU), "IMU");
        button = mo_find_uuid(&mo, svc, "org.bluez.GattCharacteristic1", UUID_BUTTON);
        info = must(mo_find_uuid(&mo, svc, "org.bluez.GattCharacteristic1", UUID_ROLLER_INFO),
                    "Roller Info");
        batt = mo_find_uuid(&mo, ROLLER_PATH "/", "org.bluez.GattCharacteristic1", UUID_BATTERY);
        assert_true(imu && button && info && batt);
        assert_int_equal(strspn(imu + strlen(svc) + strlen("/char"), "0123456789abcdef"), 4);
        assert_string_equal(mo_get(&mo, imu, "org.bluez.GattCharacteristic1", "Flags")->val,
                            "notify");
        assert_string_equal(mo_get(&mo, button, "org.bluez.GattCharacteristic1", "Flags")->val,
                            "notify");
        assert_string_equal(mo_get(&mo, info, "org.bluez.GattCharacteristic1", "Flags")->val,
                            "read");
        assert_string_equal(mo_get(&mo, batt, "org.bluez.GattCharacteristic1", "Flags")->val,
                            "read,notify");
        assert_string_equal(mo_get(&mo, imu, "org.bluez.GattCharacteristic1", "Service")->val, svc);
        assert_string_equal(
                mo_get(&mo, imu, "org.bluez.GattCharacteristic1", "NotifyAcquired")->val, "false");
        assert_string_equal(mo_get(&mo, imu, "org.bluez.GattCharacteristic1", "Notifying")->val,
                            "false");
        /* Handle: the characteristic's handle, the one in its path. */
        snprintf(buf, sizeof(buf), "%u",
                 (unsigned)strtoul(imu + strlen(svc) + strlen("/char"), NULL, 16));
        assert_string_equal(mo_get(&mo, imu, "org.bluez.GattCharacteristic1", "Handle")->val, buf);
        /* "notify" only where it is set; none on a read-only characteristic. */
        assert_null(mo_get(&mo, info, "org.bluez.GattCharacteristic1", "NotifyAcquired"));
        assert_null(mo_get(&mo, info, "org.bluez.GattCharacteristic1", "Notifying"));
        /* A CCC descriptor under every notify characteristic. */
        snprintf(buf, sizeof(buf), "%s/", imu);
        {
                const char *ccc = mo_find_uuid(&mo, buf, "org.bluez.GattDescriptor1", UUID_CCC);

                assert_non_null(ccc);
                assert_string_equal(
                        mo_get(&mo, ccc, "org.bluez.GattDescriptor1", "Characteristic")->val, imu);
        }
        snprintf(buf, sizeof(buf), "%s/", info);
        assert_null(mo_find_uuid(&mo, buf, "org.bluez.GattDescriptor1", UUID_CCC));
        /* GAP is claimed by bluetoothd's gap plugin: never exported. */
        assert_null(mo_find_uuid(&mo, ROLLER_PATH "/", "org.bluez.GattService1",
                                 "00001800-0000-1000-8000-00805f9b34fb"));
        /* The battery plugin's Battery1, with the trace's battery read. */
        {
                const struct tline *b = nth_value(ROLLER, UUID_BATTERY, 0);

                struct om_want battery = {"InterfacesAdded", ROLLER_PATH, "org.bluez.Battery1"};

                assert_non_null(b);
                assert_true(wait_ev(cl, 0, is_om, &battery, 5000) >= 0);
                mo_free(&mo);
                mo = managed_objects(cl);
                snprintf(buf, sizeof(buf), "%u", b->data[0]);
                assert_non_null(mo_get(&mo, ROLLER_PATH, "org.bluez.Battery1", "Percentage"));
                assert_string_equal(
                        mo_get(&mo, ROLLER_PATH, "org.bluez.Battery1", "Percentage")->val, buf);
        }
        mo_free(&mo);

        /* Connect on a connected LE device succeeds (dev_connect). */
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.bluez.Device1", "Connect", NULL),
                            "(success)");
        stop(fx);
}

static void test_connect_in_progress(void **state) {
        static const char *const devs[] = {CLIP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        ssize_t a, b;

        discover(fx, devs, 1);
        assert_int_equal(rc_standin_call(&fx->s, "SetConnectDelay", "u", 400), 0);
        call_async(cl, "first", CLIP_PATH, "org.bluez.Device1", "Connect", NULL);
        pump(cl, 50);
        call_async(cl, "second", CLIP_PATH, "org.bluez.Device1", "Connect", NULL);
        b = wait_ev(cl, 0, is_reply, "second", 3000);
        a = wait_ev(cl, 0, is_reply, "first", 3000);
        assert_true(a >= 0 && b >= 0);
        assert_true(b < a);
        assert_true(sd_bus_message_is_method_error(cl->ev[b].m, "org.bluez.Error.InProgress"));
        assert_false(sd_bus_message_is_method_error(cl->ev[a].m, NULL));
        stop(fx);
}

static void test_disconnect(void **state) {
        static const char *const devs[] = {CLIP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct pc_want gone = {CLIP_PATH, "org.bluez.Device1", "Connected", "false"};
        struct om_want removed = {"InterfacesRemoved", CLIP_PATH "/", NULL};
        ssize_t i_reply, i_pc;
        size_t from;
        char sig[16], val[32];
        const char *info;
        struct mo mo;

        discover(fx, devs, 1);
        connect_resolved(fx, CLIP_PATH);
        info = chrc_path(fx, CLIP_PATH, UUID_PLACEMENT);
        from = cl->n;
        call_async(cl, "disconnect", CLIP_PATH, "org.bluez.Device1", "Disconnect", NULL);
        i_pc = wait_ev(cl, from, is_pc, &gone, 3000);
        i_reply = find_ev(cl, from, is_reply, "disconnect");
        assert_true(i_pc >= 0 && i_reply >= 0);
        /* The reply first; then one PropertiesChanged with both properties. */
        assert_true(i_reply < i_pc);
        assert_int_equal(pc_prop(cl->ev[i_pc].m, "org.bluez.Device1", "ServicesResolved", sig,
                                 sizeof(sig), val, sizeof(val)),
                         1);
        assert_string_equal(val, "false");
        /* The GATT cache (BlueZ's default): the objects stay, and say so. */
        pump(cl, 100);
        assert_int_equal(find_ev(cl, from, is_om, &removed), -1);
        mo = managed_objects(cl);
        assert_non_null(mo_get(&mo, info, "org.bluez.GattCharacteristic1", "UUID"));
        assert_null(mo_get(&mo, CLIP_PATH, "org.bluez.Battery1", ""));
        mo_free(&mo);
        assert_string_equal(
                call_error(cl, info, "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", 0),
                "org.bluez.Error.Failed");
        assert_string_equal(last_error_message(), "Not connected");
        /* Disconnect of a device that is not connected succeeds. */
        assert_string_equal(call_error(cl, CLIP_PATH, "org.bluez.Device1", "Disconnect", NULL),
                            "(success)");
        /* Connected again: the same objects, no new InterfacesAdded. */
        {
                struct om_want added = {"InterfacesAdded", CLIP_PATH "/", NULL};

                from = cl->n;
                connect_resolved(fx, CLIP_PATH);
                assert_int_equal(find_ev(cl, from, is_om, &added), -1);
        }
        stop(fx);
}

static void test_disconnect_no_cache(void **state) {
        static const char *const devs[] = {CLIP_PATH};
        struct fixture *fx = start("--gatt-cache", "no", NULL);
        struct client *cl = fx->cl;
        struct om_want removed = {"InterfacesRemoved", CLIP_PATH "/", NULL};
        struct om_want added = {"InterfacesAdded", CLIP_PATH "/", NULL};
        struct pc_want gone = {CLIP_PATH, "org.bluez.Device1", "Connected", "false"};
        size_t from, n_added = 0, n_removed = 0;
        ssize_t i_pc, i;
        const char *imu;

        discover(fx, devs, 1);
        from = cl->n;
        connect_resolved(fx, CLIP_PATH);
        for (i = (ssize_t)from; (i = find_ev(cl, (size_t)i, is_om, &added)) >= 0; i++)
                n_added++;
        assert_true(n_added >= 5); /* services, characteristics, descriptors */
        imu = chrc_path(fx, CLIP_PATH, UUID_BODY_IMU);
        from = cl->n;
        call_ok(cl, CLIP_PATH, "org.bluez.Device1", "Disconnect");
        i_pc = wait_ev(cl, from, is_pc, &gone, 3000);
        assert_true(i_pc >= 0);
        wait_n(cl, from, is_om, &removed, n_added);
        for (i = (ssize_t)from; (i = find_ev(cl, (size_t)i, is_om, &removed)) >= 0; i++) {
                assert_true(i > i_pc);
                n_removed++;
        }
        assert_int_equal(n_removed, n_added);
        /* A method on a removed object: libdbus's UnknownObject. */
        assert_string_equal(
                call_error(cl, imu, "org.bluez.GattCharacteristic1", "StartNotify", NULL),
                "org.freedesktop.DBus.Error.UnknownObject");
        assert_non_null(strstr(last_error_message(), "Method \"StartNotify\" with signature \"\" "
                                                     "on interface "
                                                     "\"org.bluez.GattCharacteristic1\" doesn't "
                                                     "exist"));
        stop(fx);
}

static void test_read_values(void **state) {
        static const char *const devs[] = {ROLLER_PATH, CLIP_PATH, STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        const struct tline *info = nth_value(ROLLER, UUID_ROLLER_INFO, 0);
        const struct tline *place = nth_value(CLIP, UUID_PLACEMENT, 0);
        const struct tline *batt = nth_value(STRAP, UUID_BATTERY, 0);
        char want[1100], val[1100], sig[16];
        const char *info_p, *place_p, *batt_p, *imu_p, *err;
        sd_bus_message *r;
        size_t from;

        assert_true(info && place && batt);
        discover(fx, devs, 3);
        connect_resolved(fx, ROLLER_PATH);
        connect_resolved(fx, CLIP_PATH);
        connect_resolved(fx, STRAP_PATH);
        info_p = strdup(chrc_path(fx, ROLLER_PATH, UUID_ROLLER_INFO));
        place_p = strdup(chrc_path(fx, CLIP_PATH, UUID_PLACEMENT));
        batt_p = strdup(chrc_path(fx, STRAP_PATH, UUID_BATTERY));
        imu_p = strdup(chrc_path(fx, ROLLER_PATH, UUID_ROLLER_IMU));

        /* Each read returns the trace's value; Value follows, before the reply. */
        from = cl->n;
        read_value(cl, info_p, "org.bluez.GattCharacteristic1", val, sizeof(val));
        rc_hex_encode(info->data, info->len, want);
        assert_string_equal(val, want);
        {
                struct pc_want w = {info_p, "org.bluez.GattCharacteristic1", "Value", want};

                assert_true(wait_ev(cl, from, is_pc, &w, 1000) >= 0);
        }
        get_prop(cl, info_p, "org.bluez.GattCharacteristic1", "Value", sig, sizeof(sig), val,
                 sizeof(val));
        assert_string_equal(sig, "ay");
        assert_string_equal(val, want);

        read_value(cl, place_p, "org.bluez.GattCharacteristic1", val, sizeof(val));
        rc_hex_encode(place->data, place->len, want);
        assert_string_equal(val, want);

        read_value(cl, batt_p, "org.bluez.GattCharacteristic1", val, sizeof(val));
        rc_hex_encode(batt->data, batt->len, want);
        assert_string_equal(val, want);

        /* The offset option: the value from there. */
        r = call(cl, NULL, info_p, "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", 1,
                 "offset", "q", 3);
        value_str(r, val, sizeof(val));
        sd_bus_message_unref(r);
        rc_hex_encode(info->data + 3, info->len - 3, want);
        assert_string_equal(val, want);
        assert_string_equal(call_error(cl, info_p, "org.bluez.GattCharacteristic1", "ReadValue",
                                       "a{sv}", 1, "offset", "q", (uint16_t)(info->len + 1)),
                            "org.bluez.Error.InvalidArguments");
        assert_string_equal(call_error(cl, info_p, "org.bluez.GattCharacteristic1", "ReadValue",
                                       "a{sv}", 1, "offset", "u", 1),
                            "org.bluez.Error.InvalidArguments");
        /* Without the option dictionary: no such method (signature). */
        err = call_error(cl, info_p, "org.bluez.GattCharacteristic1", "ReadValue", NULL);
        assert_string_equal(err, "org.freedesktop.DBus.Error.UnknownMethod");
        /* A notify-only characteristic: the peer's Read Not Permitted. */
        assert_string_equal(
                call_error(cl, imu_p, "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", 0),
                "org.bluez.Error.NotPermitted");
        /* The CCC descriptor reads 0000 while nothing is enabled; writing it is refused. */
        {
                char ccc[160];

                snprintf(ccc, sizeof(ccc), "%s/", imu_p);
                {
                        struct mo mo = managed_objects(cl);

                        snprintf(ccc, sizeof(ccc), "%s",
                                 mo_find_uuid(&mo, ccc, "org.bluez.GattDescriptor1", UUID_CCC));
                        mo_free(&mo);
                }
                read_value(cl, ccc, "org.bluez.GattDescriptor1", val, sizeof(val));
                assert_string_equal(val, "0000");
                assert_string_equal(call_error(cl, ccc, "org.bluez.GattDescriptor1", "WriteValue",
                                               "aya{sv}", 2, 1, 0, 0),
                                    "org.bluez.Error.NotPermitted");
        }
        free((void *)info_p);
        free((void *)place_p);
        free((void *)batt_p);
        free((void *)imu_p);
        stop(fx);
}

/* Value signals of a characteristic from index `from`, into out[] as hex. */
static size_t collect_values(struct client *cl, size_t from, const char *path, char (*out)[1100],
                             size_t cap, const char *owner) {
        size_t n = 0;

        for (size_t i = from; i < cl->n && n < cap; i++) {
                struct ev *e = &cl->ev[i];
                char sig[16];

                if (e->kind != EV_SIGNAL || strcmp(sd_bus_message_get_path(e->m), path) != 0)
                        continue;
                if (pc_prop(e->m, "org.bluez.GattCharacteristic1", "Value", sig, sizeof(sig),
                            out[n], 1100) != 1)
                        continue;
                /* Sent by the owner of org.bluez. */
                assert_string_equal(sd_bus_message_get_sender(e->m), owner);
                assert_string_equal(sig, "ay");
                n++;
        }
        return n;
}

static void bluez_owner(struct client *cl, char *out, size_t cap) {
        sd_bus_message *r = NULL;
        const char *o;

        assert_true(sd_bus_call_method(cl->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetNameOwner", NULL, &r, "s",
                                       "org.bluez") >= 0);
        assert_true(sd_bus_message_read(r, "s", &o) > 0);
        snprintf(out, cap, "%s", o);
        sd_bus_message_unref(r);
}

static void test_start_notify_stream(void **state) {
        static const char *const devs[] = {ROLLER_PATH};
        struct fixture *fx = start("--no-acquire-notify", NULL);
        struct client *cl = fx->cl;
        uint64_t t_drop = nth_link_line(ROLLER, RC_WHAT_DISCONNECT, 0);
        size_t expect = count_values(ROLLER, UUID_ROLLER_IMU, 0, t_drop);
        size_t buttons = count_values(ROLLER, UUID_BUTTON, 0, t_drop);
        static char got[200][1100];
        char owner[64], want[1100];
        const char *imu;
        struct pc_want notifying;
        struct pc_want lost = {ROLLER_PATH, "org.bluez.Device1", "Connected", "false"};
        size_t from, n;
        uint64_t dropped = 0;

        assert_true(expect > 20 && buttons >= 1);
        discover(fx, devs, 1);
        connect_resolved(fx, ROLLER_PATH);
        imu = strdup(chrc_path(fx, ROLLER_PATH, UUID_ROLLER_IMU));
        bluez_owner(cl, owner, sizeof(owner));
        from = cl->n;
        call_ok(cl, imu, "org.bluez.GattCharacteristic1", "StartNotify");
        notifying = (struct pc_want){imu, "org.bluez.GattCharacteristic1", "Notifying", "true"};
        assert_true(wait_ev(cl, from, is_pc, &notifying, 1000) >= 0);
        /* The session plays to the roller's disconnect line: the link drops. */
        if (wait_ev(cl, from, is_pc, &lost, (int)(t_drop / 1000 / SPEED_F) + 3000) < 0) {
                dump(fx);
                fail_msg("the trace's disconnect line did not drop the link");
        }
        n = collect_values(cl, from, imu, got, 200, owner);
        assert_int_equal(n, expect);
        for (size_t i = 0; i < n; i++) {
                const struct tline *l = nth_value(ROLLER, UUID_ROLLER_IMU, i);

                rc_hex_encode(l->data, l->len, want);
                if (strcmp(got[i], want) != 0)
                        fail_msg("notification %zu: %s, the trace has %s", i, got[i], want);
        }
        /* Nobody enabled the button: its notifications were dropped and counted. */
        assert_int_equal(rc_standin_stat(&fx->s, ROLLER ".dropped", &dropped), 0);
        assert_int_equal(dropped, buttons);
        free((void *)imu);
        stop(fx);
}

static void test_acquire_notify(void **state) {
        static const char *const devs[] = {CLIP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct pc_want acquired, released;
        const char *imu;
        sd_bus_message *r;
        int fd, type = 0, k;
        socklen_t len = sizeof(type);
        uint16_t mtu;
        size_t from;

        discover(fx, devs, 1);
        connect_resolved(fx, CLIP_PATH);
        imu = strdup(chrc_path(fx, CLIP_PATH, UUID_BODY_IMU));
        from = cl->n;
        r = call(cl, NULL, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0);
        assert_true(sd_bus_message_read(r, "hq", &fd, &mtu) > 0);
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        sd_bus_message_unref(r);
        assert_true(fd >= 0);
        assert_int_equal(mtu, 247);
        assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
        assert_int_equal(type, SOCK_SEQPACKET);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        acquired = (struct pc_want){imu, "org.bluez.GattCharacteristic1", "NotifyAcquired", "true"};
        assert_true(wait_ev(cl, from, is_pc, &acquired, 1000) >= 0);
        /* Locked: StartNotify NotPermitted, a second AcquireNotify too. */
        assert_string_equal(
                call_error(cl, imu, "org.bluez.GattCharacteristic1", "StartNotify", NULL),
                "org.bluez.Error.NotPermitted");
        assert_string_equal(
                call_error(cl, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0),
                "org.bluez.Error.NotPermitted");
        /* One notification per packet, the trace's bytes in order. */
        for (size_t i = 0; i < 10; i++) {
                const struct tline *l = nth_value(CLIP, UUID_BODY_IMU, i);
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint8_t buf[600];
                ssize_t got;

                assert_non_null(l);
                assert_int_equal(poll(&p, 1, 3000), 1);
                got = recv(fd, buf, sizeof(buf), 0);
                assert_int_equal(got, (ssize_t)l->len);
                assert_memory_equal(buf, l->data, l->len);
        }
        /* A link loss: the socket is shut down (HUP), NotifyAcquired goes false. */
        from = cl->n;
        assert_int_equal(rc_standin_call(&fx->s, "DropLink", "s", CLIP), 0);
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint8_t buf[600];

                assert_int_equal(poll(&p, 1, 3000), 1);
                k = (int)recv(fd, buf, sizeof(buf), 0);
                if (k == 0) {
                        assert_true(p.revents & (POLLHUP | POLLIN));
                        break;
                }
                assert_true(k > 0); /* what was queued before */
        }
        close(fd);
        released =
                (struct pc_want){imu, "org.bluez.GattCharacteristic1", "NotifyAcquired", "false"};
        assert_true(wait_ev(cl, from, is_pc, &released, 1000) >= 0);

        /* The client closing its end releases it: StartNotify works again. */
        connect_resolved(fx, CLIP_PATH);
        from = cl->n;
        r = call(cl, NULL, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0);
        assert_true(sd_bus_message_read(r, "hq", &fd, &mtu) > 0);
        sd_bus_message_unref(r); /* closes the message's copy: the only one */
        assert_true(wait_ev(cl, from, is_pc, &released, 2000) >= 0);
        assert_string_equal(
                call_error(cl, imu, "org.bluez.GattCharacteristic1", "StartNotify", NULL),
                "(success)");
        /* With a StartNotify session, AcquireNotify is InProgress. */
        assert_string_equal(
                call_error(cl, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0),
                "org.bluez.Error.InProgress");
        free((void *)imu);
        stop(fx);
}

static void test_withhold_acquire_notify(void **state) {
        static const char *const devs[] = {STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        const char *hrm;
        struct mo mo;

        discover(fx, devs, 1);
        connect_resolved(fx, STRAP_PATH);
        hrm = strdup(chrc_path(fx, STRAP_PATH, UUID_HRM));
        assert_int_equal(rc_standin_call(&fx->s, "WithholdAcquireNotify", "b", 1), 0);
        mo = managed_objects(cl);
        assert_null(mo_get(&mo, hrm, "org.bluez.GattCharacteristic1", "NotifyAcquired"));
        assert_non_null(mo_get(&mo, hrm, "org.bluez.GattCharacteristic1", "Notifying"));
        mo_free(&mo);
        assert_string_equal(
                call_error(cl, hrm, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0),
                "org.bluez.Error.NotSupported");
        /* The fallback works: heart-rate measurements as Value signals. */
        {
                struct pc_want v = {hrm, "org.bluez.GattCharacteristic1", "Value", NULL};
                const struct tline *first = nth_value(STRAP, UUID_HRM, 0);
                char want[64], val[64];
                ssize_t i;
                size_t from = cl->n;

                call_ok(cl, hrm, "org.bluez.GattCharacteristic1", "StartNotify");
                i = wait_ev(cl, from, is_pc, &v, 3000);
                assert_true(i >= 0);
                pc_prop(cl->ev[i].m, "org.bluez.GattCharacteristic1", "Value", NULL, 0, val,
                        sizeof(val));
                rc_hex_encode(first->data, first->len, want);
                assert_string_equal(val, want);
        }
        free((void *)hrm);
        stop(fx);
}

static void test_refuse_connects(void **state) {
        static const char *const devs[] = {STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        uint64_t failures = 0;

        discover(fx, devs, 1);
        assert_int_equal(rc_standin_call(&fx->s, "RefuseConnects", "su", STRAP, 2), 0);
        for (int i = 0; i < 2; i++) {
                assert_string_equal(
                        call_error(cl, STRAP_PATH, "org.bluez.Device1", "Connect", NULL),
                        "org.bluez.Error.Failed");
                assert_string_equal(last_error_message(), "le-connection-abort-by-local");
        }
        connect_resolved(fx, STRAP_PATH);
        assert_int_equal(rc_standin_stat(&fx->s, "connect_failures", &failures), 0);
        assert_int_equal(failures, 2);
        stop(fx);
}

static void test_remove_device_knob(void **state) {
        static const char *const devs[] = {STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct om_want gone = {"InterfacesRemoved", STRAP_PATH, "org.bluez.Device1"};
        struct om_want gatt_gone = {"InterfacesRemoved", STRAP_PATH "/", NULL};
        struct pc_want lost = {STRAP_PATH, "org.bluez.Device1", "Connected", "false"};
        ssize_t i_lost, i_gatt, i_gone;
        size_t from;

        discover(fx, devs, 1);
        connect_resolved(fx, STRAP_PATH);
        from = cl->n;
        assert_int_equal(rc_standin_call(&fx->s, "RemoveDevice", "s", STRAP), 0);
        i_gone = wait_ev(cl, from, is_om, &gone, 2000);
        i_lost = find_ev(cl, from, is_pc, &lost);
        i_gatt = find_ev(cl, from, is_om, &gatt_gone);
        assert_true(i_gone >= 0 && i_lost >= 0 && i_gatt >= 0);
        assert_true(i_lost < i_gatt && i_gatt < i_gone); /* children before the device */
        assert_string_equal(call_error(cl, STRAP_PATH, "org.bluez.Device1", "Connect", NULL),
                            "org.freedesktop.DBus.Error.UnknownObject");
        /* Adapter1.RemoveDevice of a path that is gone: DoesNotExist. */
        assert_string_equal(
                call_error(cl, ADAPTER, "org.bluez.Adapter1", "RemoveDevice", "o", STRAP_PATH),
                "org.bluez.Error.DoesNotExist");
        stop(fx);
}

static void test_adapter_remove_device(void **state) {
        static const char *const devs[] = {CLIP_PATH, STRAP_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct om_want gone = {"InterfacesRemoved", CLIP_PATH, "org.bluez.Device1"};
        struct om_want back = {"InterfacesAdded", CLIP_PATH, "org.bluez.Device1"};
        struct om_want strap_gone = {"InterfacesRemoved", STRAP_PATH, "org.bluez.Device1"};
        struct pc_want lost = {STRAP_PATH, "org.bluez.Device1", "Connected", "false"};
        ssize_t i_gone, i_reply, i_lost;
        size_t from;

        discover(fx, devs, 2);
        /* Not connected: removed at once; advertising, it is found again. */
        from = cl->n;
        call_async(cl, "remove", ADAPTER, "org.bluez.Adapter1", "RemoveDevice", "o", CLIP_PATH);
        i_gone = wait_ev(cl, from, is_om, &gone, 2000);
        i_reply = find_ev(cl, from, is_reply, "remove");
        assert_true(i_gone >= 0 && i_reply >= 0);
        assert_false(sd_bus_message_is_method_error(cl->ev[i_reply].m, NULL));
        assert_true(wait_ev(cl, (size_t)i_gone, is_om, &back, 3000) > i_gone);
        /* Connected: disconnected first; the reply comes with the removal. */
        connect_resolved(fx, STRAP_PATH);
        from = cl->n;
        call_async(cl, "remove2", ADAPTER, "org.bluez.Adapter1", "RemoveDevice", "o", STRAP_PATH);
        i_gone = wait_ev(cl, from, is_om, &strap_gone, 3000);
        i_lost = find_ev(cl, from, is_pc, &lost);
        i_reply = find_ev(cl, from, is_reply, "remove2");
        assert_true(i_gone >= 0 && i_lost >= 0 && i_reply >= 0);
        assert_true(i_reply < i_lost && i_lost < i_gone);
        assert_string_equal(call_error(cl, ADAPTER, "org.bluez.Adapter1", "RemoveDevice", "o",
                                       "/org/bluez/hci0/dev_00_00_00_00_00_00"),
                            "org.bluez.Error.DoesNotExist");
        stop(fx);
}

static void test_malformed(void **state) {
        static const char *const devs[] = {ROLLER_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        const char *info, *imu;
        sd_bus_message *r;
        struct mo mo;

        discover(fx, devs, 1);
        connect_resolved(fx, ROLLER_PATH);
        info = strdup(chrc_path(fx, ROLLER_PATH, UUID_ROLLER_INFO));
        imu = strdup(chrc_path(fx, ROLLER_PATH, UUID_ROLLER_IMU));

        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "read-value-string"), 0);
        r = call(cl, NULL, info, "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", 0);
        assert_string_equal(sd_bus_message_get_signature(r, true), "s");
        sd_bus_message_unref(r);

        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "connected-string"), 0);
        mo = managed_objects(cl);
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "Connected")->sig, "s");
        mo_free(&mo);

        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "acquire-mtu-string"), 0);
        {
                struct pc_want rel = {imu, "org.bluez.GattCharacteristic1", "NotifyAcquired",
                                      "false"};
                size_t from = cl->n;

                r = call(cl, NULL, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}",
                         0);
                assert_string_equal(sd_bus_message_get_signature(r, true), "hs");
                sd_bus_message_unref(r); /* released: our copy of the fd was the only one */
                assert_true(wait_ev(cl, from, is_pc, &rel, 5000) >= 0);
        }

        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "none"), 0);
        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "acquire-no-fd"), 0);
        r = call(cl, NULL, imu, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0);
        assert_string_equal(sd_bus_message_get_signature(r, true), "q");
        sd_bus_message_unref(r);
        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "none"), 0);
        /* The fd it could not hand out was closed: released (NotifyAcquired false). */
        {
                struct pc_want rel = {imu, "org.bluez.GattCharacteristic1", "NotifyAcquired",
                                      "false"};

                assert_true(wait_ev(cl, 0, is_pc, &rel, 2000) >= 0);
                pump(cl, 100);
        }

        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "value-string"), 0);
        {
                struct pc_want v = {imu, "org.bluez.GattCharacteristic1", "Value", NULL};
                char sig[16];
                size_t from = cl->n;
                ssize_t i;

                call_ok(cl, imu, "org.bluez.GattCharacteristic1", "StartNotify");
                i = wait_ev(cl, from, is_pc, &v, 3000);
                assert_true(i >= 0);
                pc_prop(cl->ev[i].m, "org.bluez.GattCharacteristic1", "Value", sig, sizeof(sig),
                        NULL, 0);
                assert_string_equal(sig, "s");
        }
        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "rssi-int32"), 0);
        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "uuids-string"), 0);
        mo = managed_objects(cl);
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "RSSI")->sig, "i");
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "UUIDs")->sig, "s");
        mo_free(&mo);
        assert_int_equal(rc_standin_call(&fx->s, "SetMalformed", "s", "none"), 0);
        mo = managed_objects(cl);
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "Connected")->sig, "b");
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "RSSI")->sig, "n");
        assert_string_equal(mo_get(&mo, ROLLER_PATH, "org.bluez.Device1", "UUIDs")->sig, "as");
        mo_free(&mo);
        assert_true(rc_standin_call(&fx->s, "SetMalformed", "s", "sideways") < 0);
        free((void *)info);
        free((void *)imu);
        stop(fx);
}

static void test_trace_relink(void **state) {
        static const char *const devs[] = {ROLLER_PATH};
        /* Half speed here: the roller is off for about 1 s of wall time. */
        struct fixture *fx = start("--speed", "2", "--absent-timeout", "300", NULL);
        const double speed = 2.0;
        struct client *cl = fx->cl;
        uint64_t t_drop = nth_link_line(ROLLER, RC_WHAT_DISCONNECT, 0);
        uint64_t t_back = nth_link_line(ROLLER, RC_WHAT_CONNECT, 1);
        uint64_t t_conn = nth_link_line(ROLLER, RC_WHAT_CONNECT, 0);
        int gap_ms = (int)((double)(t_back - t_drop) / 1000 / speed);
        struct pc_want lost = {ROLLER_PATH, "org.bluez.Device1", "Connected", "false"};
        struct pc_want v;
        const char *button;
        char want[64], val[64];
        uint64_t losses = 0, t_lost, t_clock;
        size_t from;
        ssize_t i;

        assert_true(t_drop != UINT64_MAX && t_back != UINT64_MAX && t_conn != UINT64_MAX &&
                    gap_ms > 800);
        discover(fx, devs, 1);
        connect_resolved(fx, ROLLER_PATH);
        button = strdup(chrc_path(fx, ROLLER_PATH, UUID_BUTTON));
        from = cl->n;
        /* the device's clock starts with this CCC write: no earlier than now */
        t_clock = now_ms();
        call_ok(cl, button, "org.bluez.GattCharacteristic1", "StartNotify");
        /* The trace's disconnect line: a link loss, no Disconnect call. */
        i = wait_ev(cl, from, is_pc, &lost, (int)((double)t_drop / 1000 / speed) + 3000);
        assert_true(i >= 0);
        t_lost = now_ms();
        assert_int_equal(rc_standin_stat(&fx->s, "link_losses", &losses), 0);
        assert_int_equal(losses, 1);
        /* Off: nobody answers a Connect; it fails as a radio's does (300 ms here). */
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.bluez.Device1", "Connect", NULL),
                            "org.bluez.Error.Failed");
        assert_string_equal(last_error_message(), "le-connection-abort-by-local");
        /* A Connect made shortly before it comes back waits for it and succeeds;
         * the StartNotify session survived (GATT cache) and is registered again,
         * so the second session's press arrives without a new StartNotify. */
        pump(cl, gap_ms - (int)(now_ms() - t_lost) - 150);
        from = cl->n;
        connect_resolved(fx, ROLLER_PATH);
        /* not before the trace's connect line (1 ms: the clocks' rounding); a busy
         * machine only makes it later */
        assert_true(now_ms() - t_clock + 1 >= (uint64_t)((double)(t_back - t_conn) / 1000 / speed));
        v = (struct pc_want){button, "org.bluez.GattCharacteristic1", "Value", NULL};
        i = wait_ev(cl, from, is_pc, &v, 3000);
        if (i < 0)
                dump(fx);
        assert_true(i >= 0);
        pc_prop(cl->ev[i].m, "org.bluez.GattCharacteristic1", "Value", NULL, 0, val, sizeof(val));
        rc_hex_encode(nth_value(ROLLER, UUID_BUTTON, 1)->data,
                      nth_value(ROLLER, UUID_BUTTON, 1)->len, want);
        assert_string_equal(val, want);
        free((void *)button);
        stop(fx);
}

static void test_properties(void **state) {
        static const char *const devs[] = {ROLLER_PATH};
        struct fixture *fx = start(NULL);
        struct client *cl = fx->cl;
        struct pc_want trusted = {ROLLER_PATH, "org.bluez.Device1", "Trusted", "true"};
        struct pc_want alias = {ROLLER_PATH, "org.bluez.Device1", "Alias", "My roller"};
        char sig[16], val[128], name[128];
        size_t from;

        discover(fx, devs, 1);
        from = cl->n;
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Set",
                                       "ssv", "org.bluez.Device1", "Trusted", "b", 1),
                            "(success)");
        assert_true(wait_ev(cl, from, is_pc, &trusted, 1000) >= 0);
        get_prop(cl, ROLLER_PATH, "org.bluez.Device1", "Trusted", sig, sizeof(sig), val,
                 sizeof(val));
        assert_string_equal(sig, "b");
        assert_string_equal(val, "true");
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Set",
                                       "ssv", "org.bluez.Device1", "Trusted", "s", "yes"),
                            "org.bluez.Error.InvalidArguments");
        /* Alias: settable; empty goes back to the name. */
        get_prop(cl, ROLLER_PATH, "org.bluez.Device1", "Name", sig, sizeof(sig), name,
                 sizeof(name));
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Set",
                                       "ssv", "org.bluez.Device1", "Alias", "s", "My roller"),
                            "(success)");
        assert_true(wait_ev(cl, from, is_pc, &alias, 1000) >= 0);
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Set",
                                       "ssv", "org.bluez.Device1", "Alias", "s", ""),
                            "(success)");
        get_prop(cl, ROLLER_PATH, "org.bluez.Device1", "Alias", sig, sizeof(sig), val, sizeof(val));
        assert_string_equal(val, name);
        /* Read-only and unknown properties, gdbus's errors. */
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Set",
                                       "ssv", "org.bluez.Device1", "Connected", "b", 1),
                            "org.freedesktop.DBus.Error.PropertyReadOnly");
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Get",
                                       "ss", "org.bluez.Device1", "Colour"),
                            "org.freedesktop.DBus.Error.InvalidArgs");
        assert_string_equal(last_error_message(), "No such property 'Colour'");
        assert_string_equal(call_error(cl, ROLLER_PATH, "org.freedesktop.DBus.Properties", "Get",
                                       "ss", "org.bluez.Device1", "Appearance"),
                            "org.freedesktop.DBus.Error.InvalidArgs");
        stop(fx);
}

static void test_restart_offset(void **state) {
        static const char *const later[] = {CLIP_PATH, STRAP_PATH};
        struct fixture *fx = start(NULL);
        uint64_t t_drop = nth_link_line(ROLLER, RC_WHAT_DISCONNECT, 0);
        uint64_t t_back = nth_link_line(ROLLER, RC_WHAT_CONNECT, 1);
        char offset[32];
        struct om_want roller = {"InterfacesAdded", ROLLER_PATH, "org.bluez.Device1"};
        uint64_t t0;
        ssize_t i;

        /* bluetoothd restarts half-way through the roller's gap: the objects go with
         * the old process; the new one starts the trace there. */
        snprintf(offset, sizeof(offset), "%.3f", (double)(t_drop + t_back) / 2 / 1e6);
        client_close(fx->cl);
        t0 = now_ms(); /* the new stand-in's clock starts after this */
        assert_int_equal(rc_standin_restart(&fx->s, trace_path, "--speed", SPEED, "--offset",
                                            offset, "--rssi-period", "100", NULL),
                         0);
        assert_int_equal(fx->s.last_status, 0); /* the old one exited cleanly */
        fx->cl = client_open(&fx->s);
        discover(fx, later, 2);
        /* The roller is off until its next connect line. */
        i = wait_ev(fx->cl, 0, is_om, &roller, 5000);
        assert_true(i >= 0);
        assert_true(now_ms() - t0 + 1 >= (t_back - (t_drop + t_back) / 2) / 1000 / SPEED_F);
        stop(fx);
}

static void test_name_taken_and_sigterm(void **state) {
        struct fixture *fx = start(NULL);
        struct rc_standin second = fx->s;

        /* A second stand-in on the same bus refuses to start. */
        second.pid = 0;
        assert_int_equal(rc_standin_start(&second, trace_path, NULL), -ECHILD);
        assert_int_equal(second.last_status, 4);
        /* SIGTERM: exit 0, name released. */
        assert_int_equal(rc_standin_kill(&fx->s), 0);
        assert_int_equal(rc_standin_name_has_owner(&fx->s, "org.bluez"), 0);
        stop(fx);
}

static void test_unknown_object(void **state) {
        struct fixture *fx = start(NULL);

        assert_string_equal(call_error(fx->cl, ROLLER_PATH "/service0042/char0043",
                                       "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", 0),
                            "org.freedesktop.DBus.Error.UnknownObject");
        assert_string_equal(call_error(fx->cl, ADAPTER, "org.bluez.Adapter1", "Levitate", NULL),
                            "org.freedesktop.DBus.Error.UnknownMethod");
        stop(fx);
}

/* The bundled demo session (3 devices, 8 minutes) at 40x through AcquireNotify, as
 * the gateway reads it. A notification socket drops what does not fit (BlueZ's
 * notify_io_cb), so what is guaranteed is: every packet that arrives is the trace's
 * next line for its characteristic or a later one (in order, bytes equal), and every
 * line skipped was counted by the stand-in as lost to a full socket (`eagain`). */
#define DEMO_ROLLER "C4:7F:51:0A:12:01"
#define DEMO_CLIP "C4:7F:51:0A:12:02"
#define DEMO_STRAP "E8:1B:3C:77:40:09"

struct demo_stream {
        const char *addr, *path, *uuid;
        int fd;
        FILE *trace;
        struct rc_trace_reader r;
        size_t got;  /* packets received */
        size_t gaps; /* trace lines skipped between them */
        size_t want; /* received before the test ends */
};

/* The next value line of (addr, uuid) in the stream's own reader. */
static const struct rc_notification *demo_next(struct demo_stream *st) {
        static struct rc_notification n;
        rc_addr a;
        rc_uuid u;

        assert_int_equal(rc_addr_parse(st->addr, strlen(st->addr), &a), 0);
        assert_int_equal(rc_uuid_parse(st->uuid, strlen(st->uuid), &u), 0);
        while (rc_trace_next(&st->r, &n) > 0)
                if (n.what == RC_WHAT_VALUE && rc_addr_equal(&n.addr, &a) &&
                    rc_uuid_equal(&n.uuid, &u))
                        return &n;
        return NULL;
}

/* A received packet: the trace's next line of the stream, or a later one (the
 * lines between counted as gaps). */
static void demo_match(struct demo_stream *st, const uint8_t *buf, size_t k) {
        const struct rc_notification *n;
        size_t skipped = 0;

        while ((n = demo_next(st)) != NULL) {
                if (k == n->len && memcmp(buf, n->data, n->len) == 0)
                        break;
                skipped++;
        }
        if (!n)
                fail_msg("%s %s packet %zu (%zu bytes) is not in the trace after the previous one",
                         st->addr, st->uuid, st->got, k);
        st->gaps += skipped;
        st->got++;
}

static bool demo_done(const struct demo_stream *st, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (st[i].got < st[i].want)
                        return false;
        return true;
}

static void test_demo_acquire(void **state) {
        static const char *const devs[] = {"/org/bluez/hci0/dev_C4_7F_51_0A_12_01",
                                           "/org/bluez/hci0/dev_C4_7F_51_0A_12_02",
                                           "/org/bluez/hci0/dev_E8_1B_3C_77_40_09"};
        /* Packets to see before stopping (the demo: IMU batches at 20 and 10 a second,
         * the strap at 1 a second, the button a few times): about a minute of trace,
         * 1.5 s at 40x on an idle machine. The limit is only against a hang. */
        struct demo_stream st[] = {
                {DEMO_ROLLER, devs[0], UUID_ROLLER_IMU, -1, NULL, {0}, 0, 0, 1000},
                {DEMO_ROLLER, devs[0], UUID_BUTTON, -1, NULL, {0}, 0, 0, 0},
                {DEMO_CLIP, devs[1], UUID_BODY_IMU, -1, NULL, {0}, 0, 0, 500},
                {DEMO_STRAP, devs[2], UUID_HRM, -1, NULL, {0}, 0, 0, 40},
        };
        static const char *const addrs[] = {DEMO_ROLLER, DEMO_CLIP, DEMO_STRAP};
        const size_t n_st = sizeof(st) / sizeof(st[0]);
        char demo[256];
        struct rc_standin s;
        struct client *cl;
        uint64_t end;

        snprintf(demo, sizeof(demo), "%s/demo-lower-back.trace", RC_BINARY_DIR);
        if (access(demo, R_OK) != 0)
                skip();
        assert_int_equal(rc_standin_bus_start(&s), 0);
        assert_int_equal(rc_standin_start(&s, demo, "--speed", "40", "--connect-delay", "10",
                                          "--resolve-delay", "10", NULL),
                         0);
        cl = client_open(&s);
        call_ok(cl, ADAPTER, "org.bluez.Adapter1", "StartDiscovery");
        for (size_t i = 0; i < 3; i++) {
                struct om_want w = {"InterfacesAdded", devs[i], "org.bluez.Device1"};
                struct pc_want res = {devs[i], "org.bluez.Device1", "ServicesResolved", "true"};
                size_t from;

                assert_true(wait_ev(cl, 0, is_om, &w, 5000) >= 0);
                from = cl->n;
                call_ok(cl, devs[i], "org.bluez.Device1", "Connect");
                assert_true(wait_ev(cl, from, is_pc, &res, 5000) >= 0);
        }
        for (size_t i = 0; i < n_st; i++) {
                struct mo mo = managed_objects(cl);
                const char *p =
                        mo_find_uuid(&mo, st[i].path, "org.bluez.GattCharacteristic1", st[i].uuid);
                sd_bus_message *r;
                uint16_t mtu;
                int fd;

                assert_non_null(p);
                r = call(cl, NULL, p, "org.bluez.GattCharacteristic1", "AcquireNotify", "a{sv}", 0);
                assert_true(sd_bus_message_read(r, "hq", &fd, &mtu) > 0);
                st[i].fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                sd_bus_message_unref(r);
                mo_free(&mo);
                st[i].trace = fopen(demo, "r");
                assert_non_null(st[i].trace);
                rc_trace_reader_init(&st[i].r, st[i].trace, demo);
        }
        end = now_ms() + 120000; /* a hang, not a slow machine */
        while (!demo_done(st, n_st)) {
                struct pollfd p[4];

                if (now_ms() > end)
                        fail_msg("no progress: %zu, %zu, %zu packets", st[0].got, st[2].got,
                                 st[3].got);
                for (size_t i = 0; i < n_st; i++)
                        p[i] = (struct pollfd){.fd = st[i].fd, .events = POLLIN};
                if (poll(p, n_st, 100) <= 0)
                        continue;
                for (size_t i = 0; i < n_st; i++) {
                        uint8_t buf[600];
                        ssize_t k;

                        if (!(p[i].revents & POLLIN))
                                continue;
                        while ((k = recv(st[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                                demo_match(&st[i], buf, (size_t)k);
                }
        }
        /* Every gap is a notification the stand-in counted as lost to a full socket
         * (asked after reading stops: later losses only add to the count). */
        for (size_t d = 0; d < 3; d++) {
                uint64_t eagain = 0;
                size_t gaps = 0;
                char key[64];

                for (size_t i = 0; i < n_st; i++)
                        if (strcmp(st[i].addr, addrs[d]) == 0)
                                gaps += st[i].gaps;
                snprintf(key, sizeof(key), "%s.eagain", addrs[d]);
                assert_int_equal(rc_standin_stat(&s, key, &eagain), 0);
                print_message("%s: %zu lines missed, %llu lost to a full socket\n", addrs[d], gaps,
                              (unsigned long long)eagain);
                if (gaps > eagain)
                        fail_msg("%s: %zu trace lines missing, only %llu counted as lost", addrs[d],
                                 gaps, (unsigned long long)eagain);
        }
        for (size_t i = 0; i < n_st; i++) {
                close(st[i].fd);
                fclose(st[i].trace);
        }
        client_close(cl);
        assert_int_equal(rc_standin_kill(&s), 0);
        rc_standin_stop(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_managed_objects_shape),
                cmocka_unit_test(test_discovery_filter),
                cmocka_unit_test(test_rssi_updates),
                cmocka_unit_test(test_connect_sequence),
                cmocka_unit_test(test_connect_in_progress),
                cmocka_unit_test(test_disconnect),
                cmocka_unit_test(test_disconnect_no_cache),
                cmocka_unit_test(test_read_values),
                cmocka_unit_test(test_start_notify_stream),
                cmocka_unit_test(test_acquire_notify),
                cmocka_unit_test(test_withhold_acquire_notify),
                cmocka_unit_test(test_refuse_connects),
                cmocka_unit_test(test_remove_device_knob),
                cmocka_unit_test(test_adapter_remove_device),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_trace_relink),
                cmocka_unit_test(test_properties),
                cmocka_unit_test(test_restart_offset),
                cmocka_unit_test(test_name_taken_and_sigterm),
                cmocka_unit_test(test_unknown_object),
                cmocka_unit_test(test_demo_acquire),
        };

        if (getenv("RC_TEST_FILTER")) /* e.g. RC_TEST_FILTER='test_connect*' */
                cmocka_set_test_filter(getenv("RC_TEST_FILTER"));
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
