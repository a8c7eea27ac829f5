/* The BlueZ stand-in — the trace model: one pass over the trace finds every
 * device, what it sends, its name and its sessions (connect .. disconnect);
 * then the device objects are made from it, decoys added. */
#include "standin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *sti_kind_name(enum sti_kind k) {
        switch (k) {
        case STI_KIND_ROLLER:
                return "roller";
        case STI_KIND_BODY:
                return "body";
        case STI_KIND_HR:
                return "hr";
        case STI_KIND_OTHER:
                return "other";
        case STI_KIND_KEYBOARD:
                return "keyboard";
        case STI_KIND_THERMOMETER:
                return "thermometer";
        case STI_KIND_PHONE:
                return "phone";
        case STI_KIND_BEACON:
                return "beacon";
        }
        return "?";
}

enum sti_kind sti_model_kind(const struct sti_trace_dev *td) {
        const bool *c = td->seen_char;

        if (c[RC_CHAR_ROLLER_IMU] || c[RC_CHAR_ROLLER_BUTTON] || c[RC_CHAR_ROLLER_INFO])
                return STI_KIND_ROLLER;
        if (c[RC_CHAR_BODY_IMU] || c[RC_CHAR_BODY_PLACEMENT])
                return STI_KIND_BODY;
        if (c[RC_CHAR_HR_MEASUREMENT])
                return STI_KIND_HR;
        return STI_KIND_OTHER;
}

static struct sti_trace_dev *find_tdev(struct sti *si, const rc_addr *a) {
        for (size_t i = 0; i < si->n_tdevs; i++)
                if (rc_addr_equal(&si->tdevs[i].addr, a))
                        return &si->tdevs[i];
        return NULL;
}

static int add_session(struct sti_trace_dev *td, uint64_t t, long pos, uint64_t line_no) {
        struct sti_session *s;

        if (td->n_sessions >= STI_MAX_SESSIONS)
                return -E2BIG;
        s = realloc(td->sessions, (td->n_sessions + 1) * sizeof(*s));
        if (!s)
                return -ENOMEM;
        td->sessions = s;
        s[td->n_sessions++] = (struct sti_session){
                .t_connect = t, .t_disconnect = UINT64_MAX, .pos = pos, .line_no = line_no};
        return 0;
}

int sti_model_scan(struct sti *si) {
        const char *path = si->opt.trace_path;
        bool in_session[STI_MAX_DEVICES] = {0};
        struct rc_trace_reader r;
        FILE *f;
        int k = 0;

        f = fopen(path, "re");
        if (!f) {
                k = -errno;
                rc_log_error("%s: %s", path, strerror(errno));
                return k;
        }
        rc_trace_reader_init(&r, f, path);
        for (;;) {
                struct rc_notification n;
                struct sti_trace_dev *td;
                long pos = ftell(f);
                uint64_t line_no = r.line_no;
                size_t idx;

                k = rc_trace_next(&r, &n);
                if (k <= 0)
                        break;
                td = find_tdev(si, &n.addr);
                if (!td) {
                        if (si->n_tdevs >= STI_MAX_DEVICES) {
                                rc_log_error("%s:%" PRIu64 ": more than %d devices", path, n.line,
                                             STI_MAX_DEVICES);
                                k = -E2BIG;
                                break;
                        }
                        td = &si->tdevs[si->n_tdevs++];
                        memset(td, 0, sizeof(*td));
                        td->addr = n.addr;
                }
                idx = (size_t)(td - si->tdevs);
                if (n.what == RC_WHAT_CONNECT) {
                        if (in_session[idx])
                                continue; /* already on: a repeated connect changes nothing */
                        k = add_session(td, n.t_us, pos, line_no);
                        in_session[idx] = true;
                } else if (n.what == RC_WHAT_DISCONNECT) {
                        if (in_session[idx])
                                td->sessions[td->n_sessions - 1].t_disconnect = n.t_us;
                        in_session[idx] = false;
                } else {
                        enum rc_char c = rc_gatt_char_from_uuid(&n.uuid);

                        if (!in_session[idx]) {
                                /* A value with no connect before it: the link was up. */
                                k = add_session(td, n.t_us, pos, line_no);
                                in_session[idx] = true;
                        }
                        if (c == RC_CHAR_UNKNOWN) {
                                td->n_unknown++;
                        } else {
                                if (!td->seen_char[c]) {
                                        memcpy(td->first_value[c], n.data, n.len);
                                        td->first_len[c] = (uint16_t)n.len;
                                }
                                td->seen_char[c] = true;
                                if (c == RC_CHAR_DEVICE_NAME && !td->name[0]) {
                                        enum rc_decode_reason why;

                                        if (rc_decode_string(n.data, n.len, td->name, &why) < 0)
                                                td->name[0] = '\0';
                                }
                        }
                }
                if (k < 0) {
                        rc_log_error("%s:%" PRIu64 ": %s", path, n.line,
                                     k == -E2BIG ? "too many sessions for one device"
                                                 : strerror(-k));
                        break;
                }
        }
        si->st_trace_malformed = r.n_malformed;
        fclose(f);
        if (k < 0)
                return k;
        /* The end of the trace: a device whose last line is a disconnect stays
         * connected and quiet (the trace only ended). */
        for (size_t i = 0; i < si->n_tdevs; i++) {
                struct sti_trace_dev *td = &si->tdevs[i];

                if (td->n_sessions > 0)
                        td->sessions[td->n_sessions - 1].t_disconnect = UINT64_MAX;
        }
        if (si->n_tdevs == 0)
                rc_log_warning("%s: no device in the trace", path);
        return 0;
}

void sti_model_free(struct sti *si) {
        for (size_t i = 0; i < si->n_tdevs; i++) {
                free(si->tdevs[i].sessions);
                si->tdevs[i].sessions = NULL;
        }
}

static void set_path(struct sti_dev *d) {
        rc_addr_format(&d->addr, d->addr_str);
        snprintf(d->path, sizeof(d->path), STI_ADAPTER_PATH "/dev_%s", d->addr_str);
        for (char *p = d->path + strlen(STI_ADAPTER_PATH "/dev_"); *p; p++)
                if (*p == ':')
                        *p = '_';
        /* Random static addresses have the two top bits set (Core, Vol 6, Part B, 1.3). */
        d->random_address = (d->addr.b[0] & 0xc0) == 0xc0;
}

static struct sti_dev *new_dev(struct sti *si) {
        struct sti_dev *d = calloc(1, sizeof(*d));

        if (!d)
                return NULL;
        d->si = si;
        d->index = si->n_devs;
        d->link = STI_LINK_DOWN;
        si->devs[si->n_devs++] = d;
        return d;
}

static bool addr_taken(struct sti *si, const rc_addr *a) {
        for (size_t i = 0; i < si->n_devs; i++)
                if (rc_addr_equal(&si->devs[i]->addr, a))
                        return true;
        return false;
}

static void build_trace_dev(struct sti_dev *d, const struct sti_trace_dev *td) {
        static const char *const default_names[] = {
                [STI_KIND_ROLLER] = "Foam Roller",
                [STI_KIND_BODY] = "Body Sensor",
                [STI_KIND_HR] = "Heart Rate Strap",
        };

        d->td = td;
        d->addr = td->addr;
        set_path(d);
        d->kind = sti_model_kind(td);
        if (td->name[0]) {
                snprintf(d->name, sizeof(d->name), "%s", td->name);
                d->has_name = true;
        } else if (d->kind <= STI_KIND_HR) {
                snprintf(d->name, sizeof(d->name), "%s", default_names[d->kind]);
                d->has_name = true;
        }
        switch (d->kind) {
        case STI_KIND_ROLLER:
                d->adv_uuids[d->n_adv_uuids++] = RC_SERVICE_ROLLER;
                d->mfr_id = 0xffff; /* reserved for tests (Assigned Numbers, Company IDs) */
                memcpy(d->mfr_data, "rc\x01", 3);
                d->mfr_len = 3;
                break;
        case STI_KIND_BODY:
                d->adv_uuids[d->n_adv_uuids++] = RC_SERVICE_BODY;
                d->mfr_id = 0xffff;
                memcpy(d->mfr_data, "rc\x02", 3);
                d->mfr_len = 3;
                break;
        case STI_KIND_HR:
                d->adv_uuids[d->n_adv_uuids++] = RC_SERVICE_HR;
                d->appearance = 0x0341; /* Heart Rate Sensor: Heart Rate Belt */
                d->has_appearance = true;
                break;
        default:
                break;
        }
        if (td->seen_char[RC_CHAR_BATTERY_LEVEL])
                d->adv_uuids[d->n_adv_uuids++] = RC_SERVICE_BATTERY;
        sti_gatt_build(d, td->seen_char);
}

static void build_decoy(struct sti *si, struct sti_dev *d, unsigned i) {
        static const enum sti_kind kinds[] = {STI_KIND_KEYBOARD, STI_KIND_THERMOMETER,
                                              STI_KIND_PHONE, STI_KIND_BEACON};
        bool none[RC_CHAR__COUNT] = {0};
        rc_addr a = {{0xde, 0xc0, 0x00, 0x00, 0x00, (uint8_t)(i + 1)}};

        while (addr_taken(si, &a))
                a.b[4]++;
        d->addr = a;
        set_path(d);
        d->kind = kinds[i % 4];
        switch (d->kind) {
        case STI_KIND_KEYBOARD:
                snprintf(d->name, sizeof(d->name), "BT Keyboard K%u", i + 1);
                d->has_name = true;
                d->appearance = 0x03c1; /* HID: Keyboard */
                d->has_appearance = true;
                d->icon = "input-keyboard";
                d->adv_uuids[d->n_adv_uuids++] = rc_uuid_from16(0x1812);
                break;
        case STI_KIND_THERMOMETER:
                snprintf(d->name, sizeof(d->name), "Thermo %u", i + 1);
                d->has_name = true;
                d->appearance = 0x0300; /* Generic Thermometer */
                d->has_appearance = true;
                d->adv_uuids[d->n_adv_uuids++] = rc_uuid_from16(0x1809);
                break;
        case STI_KIND_PHONE:
                snprintf(d->name, sizeof(d->name), "Phone %u", i + 1);
                d->has_name = true;
                d->appearance = 0x0040; /* Generic Phone */
                d->has_appearance = true;
                d->icon = "phone";
                d->mfr_id = 0x004c;
                memcpy(d->mfr_data, "\x10\x05\x01\x18\x00\x00", 6);
                d->mfr_len = 6;
                break;
        default: /* a beacon: no name, a service UUID only */
                d->adv_uuids[d->n_adv_uuids++] = rc_uuid_from16(0xfeaa);
                break;
        }
        none[RC_CHAR_BATTERY_LEVEL] = d->kind == STI_KIND_KEYBOARD;
        sti_gatt_build(d, none);
}

int sti_model_build_devices(struct sti *si) {
        for (size_t i = 0; i < si->n_tdevs; i++) {
                struct sti_dev *d = new_dev(si);

                if (!d)
                        return -ENOMEM;
                build_trace_dev(d, &si->tdevs[i]);
                rc_log_info(
                        "device %s: %s \"%s\", %zu session(s)%s", d->addr_str,
                        sti_kind_name(d->kind), d->has_name ? d->name : "", si->tdevs[i].n_sessions,
                        si->tdevs[i].n_unknown ? ", some lines for unknown characteristics" : "");
        }
        for (unsigned i = 0; i < si->opt.decoys; i++) {
                struct sti_dev *d = new_dev(si);

                if (!d)
                        return -ENOMEM;
                build_decoy(si, d, i);
                rc_log_info("decoy %s: %s", d->addr_str, sti_kind_name(d->kind));
        }
        return 0;
}

void sti_devices_free(struct sti *si) {
        for (size_t i = 0; i < si->n_devs; i++) {
                struct sti_dev *d = si->devs[i];

                sti_playback_free(d);
                sti_device_free_runtime(d);
                sti_gatt_free(d);
                free(d);
                si->devs[i] = NULL;
        }
        si->n_devs = 0;
}

struct sti_dev *sti_find_device_by_addr(struct sti *si, const char *addr) {
        rc_addr a;

        if (!addr || rc_addr_parse(addr, strlen(addr), &a) < 0)
                return NULL;
        for (size_t i = 0; i < si->n_devs; i++)
                if (rc_addr_equal(&si->devs[i]->addr, &a))
                        return si->devs[i];
        return NULL;
}

struct sti_dev *sti_find_device_by_path(struct sti *si, const char *path) {
        for (size_t i = 0; i < si->n_devs; i++)
                if (strcmp(si->devs[i]->path, path) == 0)
                        return si->devs[i];
        return NULL;
}
