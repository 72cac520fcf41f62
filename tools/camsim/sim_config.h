/*
 * sim_config.h: camsim's command line.
 *
 * camsim simulates N RTSP cameras; this module turns argv into a validated struct sim_config and
 * nothing else (no I/O besides the usage text). Every value has a range; anything outside it is
 * reported as one line naming the flag, the expected form and what was given, which main()
 * prints as `camsim: <line>` before exiting with status 2.
 */
#ifndef CAMSIM_SIM_CONFIG_H
#define CAMSIM_SIM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sim_codec { SIM_CODEC_H264, SIM_CODEC_H265 };
enum sim_audio { SIM_AUDIO_NONE, SIM_AUDIO_AAC, SIM_AUDIO_PCMU, SIM_AUDIO_PCMA };

#define SIM_NAME_MAX 32
#define SIM_MAX_CAMERAS 100000

/* A plain value: the caller owns it, it holds no pointers. */
struct sim_config {
    char listen[64]; /* IPv4 address to bind, dotted quad */
    int port;        /* RTSP TCP port, 1..65535 (required) */
    int cameras;     /* number of paths /<name>1 ... /<name>N */
    char name[SIM_NAME_MAX + 1];
    enum sim_codec codec;
    int width, height; /* even, 16..7680 x 16..4320 */
    int fps;           /* integer frames per second, 1..120 */
    int gop;           /* frames per GOP (fixed, closed) */
    int64_t bitrate;   /* video bits per second */
    enum sim_audio audio;
    int audio_rate;           /* Hz: 8000 for G.711; 48000 or 16000 for AAC */
    int loop_seconds;         /* clip length before rounding to whole GOPs */
    char media_dir[PATH_MAX]; /* empty: $XDG_CACHE_HOME/camsim or ~/.cache/camsim */
    char stats[PATH_MAX];     /* empty: no stats file */
    double duration;          /* seconds to run; 0 means until a signal */
    long max_queue;           /* bytes queued per RTSP connection before it is dropped */
};

/* sim_config_parse return values besides 0 and -1. */
#define SIM_CONFIG_HELP 1

/*
 * Fills *cfg from argv (argv[0] is skipped). Flags take their value as the next argument or as
 * --flag=value. Returns 0 on success, SIM_CONFIG_HELP if --help/-h was given (nothing else is
 * checked), or -1 with one line in err (no "camsim:" prefix) for an unknown flag, a missing or
 * malformed value, a value out of range, or a missing --port.
 */
int sim_config_parse(struct sim_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Writes the usage text to out. */
void sim_config_usage(FILE *out);

/* Short names for log lines and file names: "h264", "aac", ... */
const char *sim_codec_name(enum sim_codec codec);
const char *sim_audio_name(enum sim_audio audio);

#endif
