/* rollcoach — coach.store (a JSON object per plugin) and the session history (JSON
 * Lines), both under the engine's state directory. Files are small and bounded;
 * they are read at load and written at the end of a session (a store) or of each
 * session (history). Anything malformed is reported and ignored, never trusted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_internal.h"
#include "util/log.h"

#define HISTORY_LINE_MAX 512

static int store_path(const struct rc_engine *e, const struct rc__plugin *p, char *buf,
                      size_t len) {
        int n = snprintf(buf, len, "%s/store/%s.json", e->state_dir, p->name);

        return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* The store's size as it counts against the cap: keys plus values. */
static size_t store_bytes(const cJSON *store, int *ret_keys) {
        size_t bytes = 0;
        int keys = 0;
        const cJSON *it;

        cJSON_ArrayForEach(it, store) {
                keys++;
                bytes += strlen(it->string) + (cJSON_IsString(it) ? strlen(it->valuestring) : 16);
        }
        *ret_keys = keys;
        return bytes;
}

static bool store_valid(const cJSON *store) {
        const cJSON *it;
        int keys;

        if (!cJSON_IsObject(store))
                return false;
        cJSON_ArrayForEach(it, store) if (!(cJSON_IsString(it) || cJSON_IsNumber(it) ||
                                            cJSON_IsBool(it))) return false;
        return store_bytes(store, &keys) <= RC__STORE_MAX_BYTES && keys <= RC__STORE_MAX_KEYS;
}

void rc__store_load(struct rc_engine *e, struct rc__plugin *p) {
        char path[4096], buf[RC__STORE_MAX_BYTES * 2 + 256];
        size_t n;
        FILE *f;

        p->store = cJSON_CreateObject();
        if (!e->state_dir || store_path(e, p, path, sizeof(path)) < 0)
                return;
        f = fopen(path, "re");
        if (!f)
                return; /* nothing stored yet */
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        {
                cJSON *loaded = cJSON_ParseWithLength(buf, n);

                if (!loaded || !store_valid(loaded) || n == sizeof(buf) - 1) {
                        rc_log_warning("plugin %s: %s is not a valid store (an object of at most "
                                       "%d keys of strings, numbers or booleans); starting empty",
                                       p->name, path, RC__STORE_MAX_KEYS);
                        cJSON_Delete(loaded);
                        return;
                }
                cJSON_Delete(p->store);
                p->store = loaded;
        }
}

int rc__store_set(struct rc__plugin *p, const char *key, cJSON *value) {
        int keys;

        if (!p->store && !(p->store = cJSON_CreateObject())) {
                cJSON_Delete(value);
                return -ENOMEM;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(p->store, key);
        p->store_dirty = true;
        if (!value)
                return 0;
        if (store_bytes(p->store, &keys) + strlen(key) +
                            (cJSON_IsString(value) ? strlen(value->valuestring) : 16) >
                    RC__STORE_MAX_BYTES ||
            keys + 1 > RC__STORE_MAX_KEYS) {
                cJSON_Delete(value);
                return -ENOSPC;
        }
        cJSON_AddItemToObject(p->store, key, value);
        return 0;
}

void rc__store_flush(struct rc_engine *e, struct rc__plugin *p) {
        char path[4096], tmp[4200], dir[4096];
        char *text;
        FILE *f;
        int ok;

        if (!p->store_dirty || !e->state_dir || store_path(e, p, path, sizeof(path)) < 0)
                return;
        snprintf(dir, sizeof(dir), "%s/store", e->state_dir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                rc_log_warning("plugin %s: cannot create %s: %s", p->name, dir, strerror(errno));
                return;
        }
        text = cJSON_PrintUnformatted(p->store);
        if (!text)
                return;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        f = fopen(tmp, "we");
        ok = f && fputs(text, f) != EOF;
        if (f && fclose(f) != 0)
                ok = 0;
        if (ok && rename(tmp, path) == 0)
                p->store_dirty = false;
        else
                rc_log_warning("plugin %s: cannot save its store to %s: %s", p->name, path,
                               strerror(errno));
        cJSON_free(text);
}

void rc__history_load(struct rc_engine *e) {
        char path[4096], line[HISTORY_LINE_MAX + 2];
        unsigned line_no = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/history.jsonl", e->state_dir);
        f = fopen(path, "re");
        if (!f)
                return;
        e->history = calloc(RC__HISTORY_MAX, sizeof(*e->history));
        if (!e->history) {
                fclose(f);
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                struct rc__history_entry h = {0};
                const cJSON *t, *d, *r;
                cJSON *o;

                line_no++;
                if (!strchr(line, '\n') && !feof(f)) {
                        int c;

                        while ((c = getc(f)) != EOF && c != '\n')
                                ;
                        rc_log_warning("%s:%u: line too long; skipped", path, line_no);
                        continue;
                }
                o = cJSON_Parse(line);
                t = cJSON_GetObjectItemCaseSensitive(o, "started_at");
                d = cJSON_GetObjectItemCaseSensitive(o, "duration_s");
                r = cJSON_GetObjectItemCaseSensitive(o, "routine");
                if (!cJSON_IsNumber(t) || !cJSON_IsNumber(d) ||
                    (r && !cJSON_IsString(r) && !cJSON_IsNull(r))) {
                        rc_log_warning("%s:%u: not a session record; skipped", path, line_no);
                        cJSON_Delete(o);
                        continue;
                }
                h.started_at = (int64_t)t->valuedouble;
                h.duration_s = d->valuedouble;
                if (cJSON_IsString(r))
                        snprintf(h.routine, sizeof(h.routine), "%s", r->valuestring);
                cJSON_Delete(o);
                /* keep the newest RC__HISTORY_MAX */
                if (e->n_history == RC__HISTORY_MAX) {
                        memmove(e->history, e->history + 1,
                                (RC__HISTORY_MAX - 1) * sizeof(*e->history));
                        e->n_history--;
                }
                e->history[e->n_history++] = h;
        }
        fclose(f);
}

void rc__history_append(struct rc_engine *e, double duration_s) {
        char path[4096];
        FILE *f;

        if (!e->state_dir)
                return;
        snprintf(path, sizeof(path), "%s/history.jsonl", e->state_dir);
        f = fopen(path, "ae");
        if (!f) {
                rc_log_warning("cannot record the session in %s: %s", path, strerror(errno));
                return;
        }
        fprintf(f, "{\"started_at\":%lld,\"duration_s\":%.1f",
                (long long)(e->opts.wall_start_s + e->start_ms / 1000), duration_s);
        if (e->routine)
                fprintf(f, ",\"routine\":\"%s\"", e->routine->name);
        fputs("}\n", f);
        if (fclose(f) != 0)
                rc_log_warning("cannot record the session in %s: %s", path, strerror(errno));
}
