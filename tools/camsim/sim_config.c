/*
 * sim_config.c: parse and validate camsim's flags.
 *
 * The flags live in one table; each row names a flag and the function that parses its value.
 * Adding a flag is one row plus, if it needs a new kind of value, one small function. Cross-flag
 * rules (the AAC sample rate, G.711's fixed 8 kHz) are checked once after the loop.
 */
#include "tools/camsim/sim_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/camsim/sim_util.h"

#include "common/banned.h"

static int parse_int(const char *flag, const char *val, long min, long max, long *out, char *err,
                     size_t errlen)
{
    char *end = NULL;
    long v = 0;

    errno = 0;
    v = strtol(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || v < min || v > max)
        return sim_errf(err, errlen, "%s: expected an integer from %ld to %ld, got '%s'", flag, min,
                        max, val);
    *out = v;
    return 0;
}

static int set_int(int *dst, const char *flag, const char *val, long min, long max, char *err,
                   size_t errlen)
{
    long v = 0;

    if (parse_int(flag, val, min, max, &v, err, errlen) != 0)
        return -1;
    *dst = (int)v;
    return 0;
}

static int set_string(char *dst, size_t size, const char *flag, const char *val, char *err,
                      size_t errlen)
{
    size_t len = strlen(val);

    if (len == 0 || len >= size)
        return sim_errf(err, errlen, "%s: expected 1 to %zu characters, got %zu", flag, size - 1,
                        len);
    memcpy(dst, val, len + 1);
    return 0;
}

static int opt_listen(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    struct in_addr addr;

    if (inet_pton(AF_INET, v, &addr) != 1)
        return sim_errf(err, n, "%s: expected an IPv4 address like 127.0.0.1, got '%s'", f, v);
    return set_string(c->listen, sizeof(c->listen), f, v, err, n);
}

static int opt_port(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->port, f, v, 1, 65535, err, n);
}

static int opt_cameras(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->cameras, f, v, 1, SIM_MAX_CAMERAS, err, n);
}

static int opt_name(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    /* The name becomes a URL path segment and a JSON key: keep it to safe characters. */
    for (const char *p = v; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return sim_errf(err, n, "%s: expected letters, digits, '-' or '_', got '%s'", f, v);
    }
    return set_string(c->name, sizeof(c->name), f, v, err, n);
}

static int opt_codec(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    if (strcmp(v, "h264") == 0)
        c->codec = SIM_CODEC_H264;
    else if (strcmp(v, "h265") == 0)
        c->codec = SIM_CODEC_H265;
    else
        return sim_errf(err, n, "%s: expected h264 or h265, got '%s'", f, v);
    return 0;
}

/* set_int for a picture size, which must also be even. */
static int set_even(int *dst, const char *f, const char *v, int max, char *err, size_t n)
{
    if (set_int(dst, f, v, 16, max, err, n) != 0)
        return -1;
    if (*dst % 2)
        return sim_errf(err, n, "%s: expected an even number, got '%s'", f, v);
    return 0;
}

static int opt_width(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_even(&c->width, f, v, 7680, err, n);
}

static int opt_height(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_even(&c->height, f, v, 4320, err, n);
}

static int opt_fps(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->fps, f, v, 1, 120, err, n);
}

static int opt_gop(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->gop, f, v, 1, 1000, err, n);
}

/* A number with an optional k or M suffix (times `unit` and unit squared); -1 if malformed. */
static long long parse_scaled(const char *v, long long unit)
{
    char *end = NULL;
    long long b;

    errno = 0;
    b = strtoll(v, &end, 10);
    if (errno != 0 || end == v || b < 0 || b > 1000000000)
        return -1;
    if ((*end == 'k' || *end == 'K') && end[1] == '\0')
        return b * unit;
    if ((*end == 'm' || *end == 'M') && end[1] == '\0')
        return b * unit * unit;
    return *end == '\0' ? b : -1;
}

static int opt_bitrate(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    long long b = parse_scaled(v, 1000);

    if (b < 10000 || b > 100000000)
        return sim_errf(err, n, "%s: expected bits per second from 10k to 100M, got '%s'", f, v);
    c->bitrate = b;
    return 0;
}

static int opt_max_queue(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    long long b = parse_scaled(v, 1024);

    if (b < 16384 || b > (256ll << 20))
        return sim_errf(err, n, "%s: expected bytes from 16k to 256M, got '%s'", f, v);
    c->max_queue = (long)b;
    return 0;
}

/* The --audio names, indexed by enum sim_audio (sim_audio_name and opt_audio). */
static const char *const audio_names[] = {
    [SIM_AUDIO_NONE] = "none", [SIM_AUDIO_AAC] = "aac", [SIM_AUDIO_PCMU] = "pcmu",
    [SIM_AUDIO_PCMA] = "pcma"};

static int opt_audio(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    for (size_t i = 0; i < sizeof(audio_names) / sizeof(audio_names[0]); i++) {
        if (strcmp(v, audio_names[i]) == 0) {
            c->audio = (enum sim_audio)i;
            return 0;
        }
    }
    return sim_errf(err, n, "%s: expected none, aac, pcmu or pcma, got '%s'", f, v);
}

static int opt_audio_rate(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->audio_rate, f, v, 8000, 48000, err, n);
}

static int opt_loop(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_int(&c->loop_seconds, f, v, 1, 3600, err, n);
}

static int opt_media_dir(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_string(c->media_dir, sizeof(c->media_dir), f, v, err, n);
}

static int opt_stats(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    return set_string(c->stats, sizeof(c->stats), f, v, err, n);
}

static int opt_duration(struct sim_config *c, const char *f, const char *v, char *err, size_t n)
{
    char *end = NULL;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d <= 0 || d > 1e7)
        return sim_errf(err, n, "%s: expected a positive number of seconds, got '%s'", f, v);
    c->duration = d;
    return 0;
}

struct sim_flag {
    const char *name;
    int (*parse)(struct sim_config *c, const char *flag, const char *val, char *err, size_t n);
};

static const struct sim_flag flags[] = {
    {"--listen", opt_listen},
    {"--port", opt_port},
    {"--cameras", opt_cameras},
    {"--name", opt_name},
    {"--codec", opt_codec},
    {"--width", opt_width},
    {"--height", opt_height},
    {"--fps", opt_fps},
    {"--gop", opt_gop},
    {"--bitrate", opt_bitrate},
    {"--audio", opt_audio},
    {"--audio-rate", opt_audio_rate},
    {"--loop-seconds", opt_loop},
    {"--media-dir", opt_media_dir},
    {"--stats", opt_stats},
    {"--duration", opt_duration},
    {"--max-queue", opt_max_queue},
};

static void set_defaults(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    memcpy(cfg->listen, "127.0.0.1", sizeof("127.0.0.1"));
    memcpy(cfg->name, "cam", sizeof("cam"));
    cfg->cameras = 1;
    cfg->codec = SIM_CODEC_H264;
    cfg->width = 1280;
    cfg->height = 720;
    cfg->fps = 25;
    cfg->gop = 50;
    cfg->bitrate = 2000000;
    cfg->audio = SIM_AUDIO_NONE;
    cfg->loop_seconds = 10;
    cfg->max_queue = 2l << 20;
}

/* Rules that involve more than one flag. */
static int check_combination(struct sim_config *cfg, char *err, size_t errlen)
{
    if (cfg->port == 0)
        return sim_errf(err, errlen, "--port is required");
    if (cfg->audio == SIM_AUDIO_PCMU || cfg->audio == SIM_AUDIO_PCMA) {
        if (cfg->audio_rate != 0 && cfg->audio_rate != 8000)
            return sim_errf(err, errlen, "--audio-rate: G.711 is 8000 Hz only, got %d",
                            cfg->audio_rate);
        cfg->audio_rate = 8000;
    } else if (cfg->audio == SIM_AUDIO_AAC) {
        if (cfg->audio_rate == 0)
            cfg->audio_rate = 48000;
        if (cfg->audio_rate != 48000 && cfg->audio_rate != 16000)
            return sim_errf(err, errlen, "--audio-rate: AAC is 48000 or 16000 Hz, got %d",
                            cfg->audio_rate);
    } else {
        cfg->audio_rate = 0;
    }
    return 0;
}

int sim_config_parse(struct sim_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    set_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct sim_flag *flag = NULL;
        const char *val;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return SIM_CONFIG_HELP;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
            if (strlen(flags[k].name) == name_len && strncmp(flags[k].name, arg, name_len) == 0)
                flag = &flags[k];
        }
        if (flag == NULL)
            return sim_errf(err, errlen, "unknown argument '%s' (see --help)", arg);
        if (eq != NULL) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return sim_errf(err, errlen, "%s: missing value", flag->name);
            val = argv[++i];
        }
        if (flag->parse(cfg, flag->name, val, err, errlen) != 0)
            return -1;
    }
    return check_combination(cfg, err, errlen);
}

void sim_config_usage(FILE *out)
{
    fputs("usage: camsim [--listen 127.0.0.1] --port N [--cameras N] [--name cam]\n"
          "              [--codec h264|h265] [--width 1280] [--height 720] [--fps 25]\n"
          "              [--gop 50] [--bitrate 2000k] [--audio none|aac|pcmu|pcma]\n"
          "              [--audio-rate HZ] [--loop-seconds 10] [--media-dir DIR]\n"
          "              [--stats FILE] [--duration SECONDS] [--max-queue 2M]\n"
          "Serves rtsp://HOST:PORT/<name>1 ... /<name>N, each a simulated camera playing the\n"
          "same looping test clip in real time. SIGTERM or SIGINT stops it (exit 0).\n"
          "--max-queue: bytes queued for one RTSP connection before camsim drops it as too\n"
          "slow (k = 1024, M = 1024k).\n",
          out);
}

const char *sim_codec_name(enum sim_codec codec)
{
    return codec == SIM_CODEC_H265 ? "h265" : "h264";
}

const char *sim_audio_name(enum sim_audio audio)
{
    if ((size_t)audio < sizeof(audio_names) / sizeof(audio_names[0]))
        return audio_names[audio];
    return "none";
}
