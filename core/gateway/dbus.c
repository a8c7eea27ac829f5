/* rollcoach — reading D-Bus values safely: every value with its expected type; one
 * of another shape is counted and skipped (gateway_internal.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/log.h"

void gw_malformed(struct rc_gateway *g, const char *what, int r) {
        g->st.malformed++;
        rc_log_warning("bluez: malformed %s (%s); ignored", what,
                       r < 0 ? strerror(-r) : "bad shape");
}

bool gw_is_error(const sd_bus_error *e, const char *name) {
        return e && e->name && strcmp(e->name, name) == 0;
}

/* Enter a variant of signature `sig`. 1: entered; 0: another type (skipped,
 * counted); negative: a broken message. */
static int enter_variant(struct rc_gateway *g, sd_bus_message *m, const char *sig,
                         const char *what) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, sig);

        if (r == -ENXIO) {
                gw_malformed(g, what, 0);
                r = sd_bus_message_skip(m, "v");
                return r < 0 ? r : 0;
        }
        return r < 0 ? r : 1;
}

int gw_variant_bool(struct rc_gateway *g, sd_bus_message *m, const char *what, bool *ret) {
        int b, r = enter_variant(g, m, "b", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "b", &b);
        if (r < 0)
                return r;
        *ret = b;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

int gw_variant_string(struct rc_gateway *g, sd_bus_message *m, const char *what, const char **ret) {
        int r = enter_variant(g, m, "s", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, "s", ret);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

int gw_variant_bytes(struct rc_gateway *g, sd_bus_message *m, const char *what, const void **ret,
                     size_t *ret_len) {
        int r = enter_variant(g, m, "ay", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_read_array(m, 'y', ret, ret_len);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

/* Enter a variant holding "as" and call fn(ctx, s) for each string. 0: another
 * type (skipped, counted); negative: a broken message. */
int gw_variant_strings(struct rc_gateway *g, sd_bus_message *m, const char *what,
                       void (*fn)(void *ctx, const char *s), void *ctx) {
        const char *s;
        int r = enter_variant(g, m, "as", what);

        if (r <= 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &s)) > 0)
                fn(ctx, s);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : (sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 0);
}

int gw_each_entry(struct rc_gateway *g, sd_bus_message *m, const char *entry, gw_entry_fn fn,
                  void *ctx) {
        char array[24];
        int r;

        snprintf(array, sizeof(array), "{%s}", entry);
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, array);
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry)) > 0) {
                const char *key;

                r = sd_bus_message_read_basic(m, entry[0], &key);
                if (r < 0)
                        return r;
                r = fn(g, ctx, key, m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}
