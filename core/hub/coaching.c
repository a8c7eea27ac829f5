#include "hub/coaching.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/exit.h"
#include "util/log.h"

const char rc_session_options_help[] =
        "  -e, --events FILE    write core events to FILE ('-' = standard output) as\n"
        "                       JSON Lines\n"
        "  -a, --actions FILE   write the plugins' actions (say, led, step, session,\n"
        "                       plugin) to FILE ('-' = standard output)\n"
        "  -r, --routine NAME   run this routine (e.g. lower-back-relief); without it\n"
        "                       the session is free: safety and warnings still run\n"
        "  -s, --step STEP      start the routine at this step\n"
        "      --plugins DIR    load plugins from DIR (repeatable; replaces the\n"
        "                       configured list and the default one: the shipped\n"
        "                       plugins, /etc/rollcoach/plugins, ~/.config/rollcoach/plugins)\n"
        "      --no-plugins     the analysis alone\n"
        "      --state-dir DIR  keep the plugins' stores and the session history in DIR\n"
        "                       (default: the configuration's, else nothing is kept)\n"
        "      --now UNIX_TIME  wall-clock time of the session's start (default: now),\n"
        "                       for os.time() and the history\n"
        "  -q, --quiet          no summary on standard error\n"
        "  -h, --help           this text\n";

void rc_session_cli_init(struct rc_session_cli *cli) {
        memset(cli, 0, sizeof(*cli));
        cli->wall_start_s = (int64_t)time(NULL);
}

int rc_session_cli_option(struct rc_session_cli *cli, int c, const char *arg, const char *command) {
        switch (c) {
        case 'e':
                cli->events_path = arg;
                return 1;
        case 'a':
                cli->actions_path = arg;
                return 1;
        case 'r':
                cli->routine = arg;
                return 1;
        case 's':
                cli->step = arg;
                return 1;
        case 'q':
                cli->quiet = true;
                return 1;
        case RC_OPT_PLUGINS:
                if (cli->n_dirs == RC_ENGINE_MAX_DIRS) {
                        fprintf(stderr, "rollcoach %s: at most %d --plugins\n", command,
                                RC_ENGINE_MAX_DIRS);
                        return -EINVAL;
                }
                cli->dirs[cli->n_dirs++] = arg;
                return 1;
        case RC_OPT_NO_PLUGINS:
                cli->no_plugins = true;
                return 1;
        case RC_OPT_STATE_DIR:
                cli->state_dir = arg;
                return 1;
        case RC_OPT_NOW: {
                char *end;

                errno = 0;
                cli->wall_start_s = strtoll(arg, &end, 10);
                if (errno || end == arg || *end || cli->wall_start_s < 0) {
                        fprintf(stderr, "rollcoach %s: --now wants Unix seconds, got '%s'\n",
                                command, arg);
                        return -EINVAL;
                }
                return 1;
        }
        default:
                return 0;
        }
}

int rc_session_cli_check(const struct rc_session_cli *cli, const char *command) {
        if (cli->no_plugins && (cli->routine || cli->step || cli->actions_path)) {
                fprintf(stderr,
                        "rollcoach %s: --no-plugins cannot run a routine or write "
                        "actions\n",
                        command);
                return -EINVAL;
        }
        if (cli->step && !cli->routine) {
                fprintf(stderr, "rollcoach %s: --step needs --routine\n", command);
                return -EINVAL;
        }
        return 0;
}

int rc_load_config(struct rc_config *c, const char *path) {
        rc_config_defaults(c);
        return path && rc_config_load(c, path) < 0 ? RC_EXIT_INPUT : RC_EXIT_OK;
}

static const char *shipped_plugin_dir(void) {
        struct stat st;

        /* installed, or else the source tree this binary was built from */
        return stat(RC_PLUGIN_DIR, &st) == 0 ? RC_PLUGIN_DIR : RC_SOURCE_PLUGIN_DIR;
}

/* The command line's directories, else the configuration's, else the defaults
 * (docs/plugins.md, "Where plugins live"). */
static void plugin_dirs(struct rc_engine_opts *o, const struct rc_session_cli *cli,
                        const struct rc_plugins_config *pc, char *user_dir, size_t len) {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

        for (unsigned i = 0; i < cli->n_dirs; i++)
                o->dirs[o->n_dirs++] = cli->dirs[i];
        if (o->n_dirs == 0)
                for (unsigned i = 0; i < pc->n_directories; i++)
                        o->dirs[o->n_dirs++] = pc->directories[i];
        if (o->n_dirs)
                return;
        o->dirs[o->n_dirs++] = shipped_plugin_dir();
        o->dirs[o->n_dirs++] = "/etc/rollcoach/plugins";
        if (xdg && xdg[0])
                snprintf(user_dir, len, "%s/rollcoach/plugins", xdg);
        else if (home && home[0])
                snprintf(user_dir, len, "%s/.config/rollcoach/plugins", home);
        else
                return;
        o->dirs[o->n_dirs++] = user_dir;
}

unsigned rc_plugin_dirs(const struct rc_session_cli *cli, const struct rc_config *config,
                        const char *dirs[RC_ENGINE_MAX_DIRS], char *user_dir, size_t len) {
        struct rc_engine_opts o = {0};

        plugin_dirs(&o, cli, &config->plugins, user_dir, len);
        memcpy(dirs, o.dirs, sizeof(o.dirs));
        return o.n_dirs;
}

static FILE *open_output(const char *path, bool line_buffered) {
        FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

        if (f && line_buffered)
                setvbuf(f, NULL, _IOLBF, 0);
        return f;
}

int rc_outputs_open(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                    bool events_default_stdout, bool line_buffered) {
        const char *events = cli->events_path;

        if (!events && !cli->actions_path && events_default_stdout)
                events = "-";
        if (events && !(o->events.f = open_output(events, line_buffered))) {
                rc_log_error("%s: %s", events, strerror(errno));
                return RC_EXIT_FAILURE;
        }
        if (cli->actions_path && !(o->actions.f = open_output(cli->actions_path, line_buffered))) {
                rc_log_error("%s: %s", cli->actions_path, strerror(errno));
                return RC_EXIT_FAILURE;
        }
        return RC_EXIT_OK;
}

static int lua_file(const struct dirent *d) {
        size_t n = strlen(d->d_name);

        return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

/* The files rc_engine_load_all tries to load: *.lua, not hidden, in each directory. */
static unsigned count_plugin_files(const struct rc_engine_opts *eo) {
        unsigned n = 0;

        for (unsigned d = 0; d < eo->n_dirs; d++) {
                struct dirent **list;
                int k = scandir(eo->dirs[d], &list, lua_file, NULL);

                for (int i = 0; i < k; i++)
                        free(list[i]);
                if (k > 0) {
                        n += (unsigned)k;
                        free(list);
                } else if (k == 0) {
                        free(list);
                }
        }
        return n;
}

int rc_outputs_engine(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                      const struct rc_config *config, struct rc_session *s, const char *routine,
                      const char *step) {
        const struct rc_plugins_config *pc = &config->plugins;
        struct rc_engine_opts eo = {.wall_start_s = cli->wall_start_s};
        int r;

        if (o->events.f)
                rc_session_subscribe(s, rc_jsonl_write_event, &o->events);
        if (cli->no_plugins)
                return RC_EXIT_OK;
        plugin_dirs(&eo, cli, pc, o->user_dir, sizeof(o->user_dir));
        eo.state_dir = cli->state_dir ? cli->state_dir : pc->state_dir[0] ? pc->state_dir : NULL;
        eo.instructions = (uint64_t)pc->instructions;
        eo.memory = (size_t)pc->memory_mb << 20;
        eo.timers = (unsigned)pc->timers;
        eo.max_failures = (unsigned)pc->failures;
        /* one repeat window, [voice] repeat_seconds, for the engine and the voice
         * (0: none; the engine takes 0 for its default, so 1 ms) */
        eo.say_dedupe_ms = (int64_t)(config->voice.repeat_seconds * 1000);
        if (eo.say_dedupe_ms < 1)
                eo.say_dedupe_ms = 1;
        eo.profile = config->profile;
        if (rc_engine_new(&eo, &o->engine) < 0 || (r = rc_engine_load_all(o->engine)) < 0) {
                rc_log_error("out of memory");
                return RC_EXIT_FAILURE;
        }
        o->plugins_loaded = (unsigned)r;
        o->plugin_files = count_plugin_files(&eo);
        if (o->actions.f)
                rc_engine_add_sink(o->engine, rc_jsonl_write_action, &o->actions);
        if (rc_engine_attach(o->engine, s, routine, step) < 0)
                return RC_EXIT_USAGE; /* an unknown routine or step, reported */
        return RC_EXIT_OK;
}

int rc_session_outputs_open(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                            const struct rc_config *config, struct rc_session *s,
                            bool events_default_stdout, bool line_buffered) {
        int r = rc_outputs_open(o, cli, events_default_stdout, line_buffered);

        if (r != RC_EXIT_OK)
                return r;
        /* a directory named on the command line must be one: a typo would load
         * nothing and pass, --strict or not (the default directories may be
         * missing; the hub checks nothing here: a directory may come and go
         * while it runs) */
        for (unsigned i = 0; !cli->no_plugins && i < cli->n_dirs; i++) {
                struct stat st;

                if (stat(cli->dirs[i], &st) < 0) {
                        rc_log_error("--plugins %s: %s", cli->dirs[i], strerror(errno));
                        return RC_EXIT_USAGE;
                }
                if (!S_ISDIR(st.st_mode)) {
                        rc_log_error("--plugins %s: not a directory", cli->dirs[i]);
                        return RC_EXIT_USAGE;
                }
        }
        return rc_outputs_engine(o, cli, config, s, cli->routine, cli->step);
}

/* Flush and close an output (standard output is only flushed). */
static int close_output(struct rc_jsonl_writer *w, const char *path) {
        int r = 0;

        if (!w->f)
                return 0;
        if (w->f == stdout ? fflush(stdout) != 0 : fclose(w->f) != 0) {
                rc_log_error("%s: %s", path ? path : "<stdout>", strerror(errno));
                r = -EIO;
        }
        w->f = NULL;
        return r;
}

int rc_session_outputs_close(struct rc_session_outputs *o, const struct rc_session_cli *cli,
                             int ret) {
        bool failed = o->events.error || o->actions.error;

        rc_engine_free(o->engine);
        o->engine = NULL;
        if (close_output(&o->events, cli->events_path) < 0)
                failed = true;
        if (close_output(&o->actions, cli->actions_path) < 0)
                failed = true;
        return failed && ret == RC_EXIT_OK ? RC_EXIT_FAILURE : ret;
}

unsigned rc_session_outputs_plugin_failures(const struct rc_session_outputs *o) {
        struct rc_engine_plugin_info info;
        unsigned n = 0;

        if (!o->engine)
                return 0;
        if (o->plugin_files > o->plugins_loaded)
                n += o->plugin_files - o->plugins_loaded;
        for (unsigned i = 0; rc_engine_plugin_info(o->engine, i, &info) == 0; i++)
                n += !info.enabled || info.failures > 0;
        return n;
}

void rc_session_outputs_report(const struct rc_session_outputs *o) {
        struct rc_engine_stats st;
        struct rc_engine_plugin_info info;

        if (!o->engine)
                return;
        rc_engine_stats(o->engine, &st);
        fprintf(stderr, "plugins:");
        for (unsigned i = 0; rc_engine_plugin_info(o->engine, i, &info) == 0; i++)
                fprintf(stderr, " %s%s", info.name, info.enabled ? "" : " (disabled)");
        fprintf(stderr,
                "\nactions: %llu said, %llu not repeated or muted, %llu LED changes; "
                "%llu plugin errors, %llu timer calls, %llu over the plugins' rate limits\n",
                (unsigned long long)st.says, (unsigned long long)st.suppressed_says,
                (unsigned long long)st.leds, (unsigned long long)st.errors,
                (unsigned long long)st.timer_fires, (unsigned long long)st.rate_limited);
}
