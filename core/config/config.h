/* rollcoach — the configuration file (INI, read with inih).
 *
 * One file, config/rollcoach.conf by default, also used as the replay profile
 * (spec/coaching.md). Every error — unknown section or key, bad value,
 * duplicate key, a line inih cannot parse — is reported as "FILE:LINE: what"
 * and the whole file is rejected; all errors are counted, the first
 * RC_CONFIG_MAX_REPORTED are reported and the rest summarised in one line.
 *
 * Comments: a line starting with ';' or '#', and an inline comment: ';' or '#'
 * after white space ("backend = sysfs   # or gpiod"); a value cannot hold " #"
 * or " ;". Lines may be RC_CONFIG_LINE_MAX characters long; a file of more than
 * RC_CONFIG_MAX_BYTES, or with NUL bytes, is not a configuration.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum rc_level { RC_LEVEL_BEGINNER = 0, RC_LEVEL_REGULAR = 1 };

/* Contraindications (spec/coaching.md), a bit set. */
enum rc_condition {
        RC_COND_OSTEOPOROSIS = 1u << 0,
        RC_COND_PREGNANCY = 1u << 1,
        RC_COND_SPONDYLOLISTHESIS = 1u << 2,
        RC_COND_SPINAL_STENOSIS = 1u << 3,
        RC_COND_DISC_HERNIATION = 1u << 4,
        RC_COND_RECENT_BACK_INJURY = 1u << 5,
        RC_COND_RECENT_BACK_SURGERY = 1u << 6,
};
#define RC_COND__COUNT 7

struct rc_profile {
        double height_cm;       /* 100..250, default 170 */
        double weight_kg;       /* 25..300, default 70 */
        enum rc_level level;    /* default beginner */
        unsigned conditions;    /* enum rc_condition bits, default none */
        double session_minutes; /* 1..120; 0 (default): by level, see below */
};

/* The session length the coaching holds to: session_minutes if set, else 10 for
 * a beginner (the guidance's 5-10 minutes) and 20 for a regular. */
double rc_profile_session_minutes(const struct rc_profile *p);

#define RC_CONFIG_MAX_DIRS 8
#define RC_CONFIG_PATH_MAX 256
#define RC_CONFIG_LINE_MAX 4096       /* a [plugins] directories list of 8 paths fits */
#define RC_CONFIG_MAX_BYTES (1 << 20) /* larger: not a configuration */
#define RC_CONFIG_MAX_REPORTED 20     /* errors printed; the rest counted */

/* [plugins]: where the coaching plugins come from and their limits. Zero (or
 * empty) means the built-in default (docs/plugins.md). */
struct rc_plugins_config {
        char directories[RC_CONFIG_MAX_DIRS][RC_CONFIG_PATH_MAX]; /* absolute paths */
        unsigned n_directories;             /* 0: the shipped, /etc and user directories */
        char state_dir[RC_CONFIG_PATH_MAX]; /* coach.store and history; "" = none */
        double instructions;                /* per callback, 100000..100000000 */
        double memory_mb;                   /* per plugin, 1..256 */
        double timers;                      /* per plugin, 1..64 */
        double failures;                    /* before a plugin is disabled, 1..1000 */
};

/* [devices]: which roller, body clip and strap are the user's; unset: the first of
 * each kind the hub finds. Indexed by enum rc_device_kind (1 roller, 2 body, 3 hr). */
struct rc_devices_config {
        uint8_t addr[4][6];
        bool has[4];
};

#define RC_CONFIG_NAME_MAX 63

/* [voice]: speech (core/outputs/voice.h). */
enum rc_voice_output { RC_VOICE_ALSA = 0, RC_VOICE_WAV = 1, RC_VOICE_OFF = 2 };
struct rc_voice_config {
        int output;                               /* enum rc_voice_output; default alsa */
        char wav_dir[RC_CONFIG_PATH_MAX];         /* for wav: one file an utterance */
        char alsa_device[RC_CONFIG_NAME_MAX + 1]; /* aplay -D; default "default" */
        char voice[RC_CONFIG_NAME_MAX + 1];       /* espeak-ng -v; default en-us */
        double rate;           /* words a minute, 80..450; default 145 (calm, clear) */
        double pitch;          /* 0..99; default 45 */
        double volume;         /* amplitude 0..200; default 100 */
        double repeat_seconds; /* the same message is not said again within; default 10 */
        double stale_seconds;  /* a cue not begun within this is dropped; default 6 */
        double queue;          /* messages waiting at most; default 8 */
};

/* [leds]: the patterns ok, hold, warn, stop on LEDs (core/outputs/leds.h). */
enum rc_leds_backend { RC_LEDS_OFF = 0, RC_LEDS_SYSFS = 1, RC_LEDS_GPIOD = 2 };
enum rc_led_slot { RC_LED_SLOT_OK, RC_LED_SLOT_HOLD, RC_LED_SLOT_WARN, RC_LED_SLOT_STOP };
#define RC_LED_SLOTS 4
struct rc_leds_config {
        int backend;                                     /* enum rc_leds_backend; default off */
        char sysfs_root[RC_CONFIG_PATH_MAX];             /* default /sys/class/leds */
        char name[RC_LED_SLOTS][RC_CONFIG_NAME_MAX + 1]; /* sysfs LED per pattern; "" none */
        char gpio_chip[RC_CONFIG_NAME_MAX + 1];          /* gpiod; default gpiochip0 */
        double line[RC_LED_SLOTS];                       /* gpiod line per pattern; -1 none */
};

/* [button]: a push button on a GPIO line (core/outputs/button.h). */
struct rc_button_config {
        bool enabled; /* default no */
        char gpio_chip[RC_CONFIG_NAME_MAX + 1];
        double line;     /* -1: none */
        bool active_low; /* pressed pulls the line low (a button to ground); default yes */
        double debounce_ms, long_ms, double_ms; /* 30, 1500, 400 */
};

/* [session]: sessions on a hub without a screen (docs/headless.md). */
struct rc_session_config {
        bool auto_start;                      /* default yes */
        char routine[RC_CONFIG_NAME_MAX + 1]; /* default lower-back-relief; "none": free */
        double idle_minutes;                  /* default 5 */
        double roller_grace_seconds;          /* default 20 */
};

struct rc_config {
        struct rc_profile profile;
        struct rc_plugins_config plugins;
        struct rc_devices_config devices;
        struct rc_voice_config voice;
        struct rc_leds_config leds;
        struct rc_button_config button;
        struct rc_session_config session;
};

/* Fill with the documented defaults. */
void rc_config_defaults(struct rc_config *c);

/* Read `path` over the current contents of *c (call rc_config_defaults first).
 * Returns 0; -EINVAL if the file has errors (each logged, *c then holds the
 * defaults plus whatever valid lines were read, and must not be used); or a
 * negative errno if it cannot be opened. */
int rc_config_load(struct rc_config *c, const char *path);

const char *rc_level_name(enum rc_level l);
/* The name of a single condition bit, e.g. "spinal_stenosis"; NULL if not one bit. */
const char *rc_condition_name(unsigned bit);
/* Parse a condition name; -EINVAL if unknown. */
int rc_condition_from_name(const char *name, unsigned *ret_bit);
/* [voice] output's names: "alsa", "wav", "off" → enum rc_voice_output; -EINVAL. */
int rc_voice_output_from_name(const char *name);
