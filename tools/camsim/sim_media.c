/*
 * sim_media.c: name and generate camsim's media file with the ffmpeg command-line tool.
 *
 * The encoder settings are what makes the clip loop without a visible or decodable seam: every
 * GOP is exactly --gop frames (keyint = min-keyint, no scene-cut keyframes), GOPs are closed and
 * there are no B-frames, and the clip is a whole number of GOPs. So the frame after the last one
 * is an IDR frame that depends on nothing before it, and decode order equals display order.
 */
#include "tools/camsim/sim_media.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/camsim/sim_util.h"

#include "common/banned.h"

#define SIM_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
/* Bump when the generated content changes so that old cached files are not reused. */
#define SIM_MEDIA_VERSION 2

int sim_media_frames(const struct sim_config *cfg)
{
    long frames = (long)cfg->loop_seconds * cfg->fps;
    long gops = (frames + cfg->gop / 2) / cfg->gop;

    if (gops < 1)
        gops = 1;
    return (int)(gops * cfg->gop);
}

static int media_dir(const struct sim_config *cfg, char *dir, size_t size, char *err, size_t errlen)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;

    if (cfg->media_dir[0])
        n = snprintf(dir, size, "%s", cfg->media_dir);
    else if (xdg && xdg[0] == '/')
        n = snprintf(dir, size, "%s/camsim", xdg);
    else if (home && home[0])
        n = snprintf(dir, size, "%s/.cache/camsim", home);
    else
        return sim_errf(err, errlen, "no media directory: give --media-dir or set HOME");
    if (n < 0 || (size_t)n >= size)
        return sim_errf(err, errlen, "media directory path is too long");
    return 0;
}

int sim_media_path(const struct sim_config *cfg, char *path, size_t size, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    char audio[32] = "noaudio";
    int n;

    if (media_dir(cfg, dir, sizeof(dir), err, errlen) != 0)
        return -1;
    if (cfg->audio != SIM_AUDIO_NONE)
        snprintf(audio, sizeof(audio), "%s%d", sim_audio_name(cfg->audio), cfg->audio_rate);
    n = snprintf(path, size, "%s/camsim%d-%s-%dx%d-%dfps-gop%d-%lldbps-%s-%df.mkv", dir,
                 SIM_MEDIA_VERSION, sim_codec_name(cfg->codec), cfg->width, cfg->height, cfg->fps,
                 cfg->gop, (long long)cfg->bitrate, audio, sim_media_frames(cfg));
    if (n < 0 || (size_t)n >= size)
        return sim_errf(err, errlen, "media file path in '%s' is too long", dir);
    return 0;
}

/* Runs argv[0] from PATH and waits. The child dies with us (PDEATHSIG) and gets a clean signal
 * mask, since a blocked SIGTERM would otherwise be inherited across exec. */
static int run_child(char *const argv[], char *err, size_t errlen)
{
    pid_t pid;
    int status = 0;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return sim_errf(err, errlen, "cannot start %s: %s", argv[0], strerror(errno));
    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], argv);
        fprintf(stderr, "camsim: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return sim_errf(err, errlen, "waiting for %s: %s", argv[0], strerror(errno));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return sim_errf(err, errlen, "%s exited with status %d", argv[0], WEXITSTATUS(status));
    return sim_errf(err, errlen, "%s was killed by signal %d", argv[0], WTERMSIG(status));
}

/* All the strings the ffmpeg argument vector points into; sized for the largest value. */
struct gen_args {
    char video_src[128], audio_src[128], drawtext[512], duration[32];
    char bitrate[32], gop[16], x265[160], audio_rate[16];
    char *argv[64];
    int argc;
};

/* Append the arguments up to a NULL to a->argv. */
static void add(struct gen_args *a, ...)
{
    va_list ap;
    const char *s;

    va_start(ap, a);
    while ((s = va_arg(ap, const char *))) {
        /* build_args adds at most ~50 entries; the assert guards edits to it. */
        assert(a->argc < (int)(sizeof(a->argv) / sizeof(a->argv[0])) - 1);
        a->argv[a->argc++] = (char *)s;
    }
    a->argv[a->argc] = NULL;
    va_end(ap);
}

static void build_args(struct gen_args *a, const struct sim_config *cfg, const char *out)
{
    int frames = sim_media_frames(cfg);
    int font_size = cfg->height / 14 < 10 ? 10 : cfg->height / 14;

    /* Both sources end by themselves: "-frames:v" would end the whole output at the last video
     * frame, cutting off audio that the muxer had not interleaved yet. */
    snprintf(a->duration, sizeof(a->duration), "%.6f", (double)frames / cfg->fps);
    snprintf(a->video_src, sizeof(a->video_src), "testsrc2=size=%dx%d:rate=%d:duration=%s",
             cfg->width, cfg->height, cfg->fps, a->duration);
    snprintf(a->audio_src, sizeof(a->audio_src), "sine=frequency=440:sample_rate=%d:duration=%s",
             cfg->audio_rate, a->duration);
    /* %{pts\:hms} prints the media time as hh:mm:ss.mmm; the font is optional (fontconfig
     * picks one if DejaVu is missing). */
    snprintf(a->drawtext, sizeof(a->drawtext),
             "drawtext=%s%s%sfontsize=%d:fontcolor=white:box=1:boxcolor=black@0.6:x=8:y=8:"
             "text='%%{pts\\:hms}  frame %%{frame_num}'",
             access(SIM_FONT, R_OK) == 0 ? "fontfile=" : "",
             access(SIM_FONT, R_OK) == 0 ? SIM_FONT : "", access(SIM_FONT, R_OK) == 0 ? ":" : "",
             font_size);
    snprintf(a->bitrate, sizeof(a->bitrate), "%lld", (long long)cfg->bitrate);
    snprintf(a->gop, sizeof(a->gop), "%d", cfg->gop);
    snprintf(a->x265, sizeof(a->x265),
             "keyint=%d:min-keyint=%d:scenecut=0:bframes=0:open-gop=0:log-level=error", cfg->gop,
             cfg->gop);
    snprintf(a->audio_rate, sizeof(a->audio_rate), "%d", cfg->audio_rate);

    a->argc = 0;
    add(a, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
        a->video_src, NULL);
    if (cfg->audio != SIM_AUDIO_NONE) {
        add(a, "-f", "lavfi", "-i", a->audio_src, NULL);
    }
    add(a, "-vf", a->drawtext, "-t", a->duration, "-pix_fmt", "yuv420p", "-b:v", a->bitrate, "-g",
        a->gop, "-bf", "0", NULL);
    if (cfg->codec == SIM_CODEC_H264) {
        add(a, "-c:v", "libx264", "-preset", "veryfast", "-keyint_min", a->gop, "-sc_threshold",
            "0", "-x264-params", "open-gop=0", NULL);
    } else {
        add(a, "-c:v", "libx265", "-preset", "veryfast", "-x265-params", a->x265, NULL);
    }
    if (cfg->audio != SIM_AUDIO_NONE) {
        add(a, "-c:a", NULL);
        add(a, cfg->audio == SIM_AUDIO_AAC    ? "aac"
               : cfg->audio == SIM_AUDIO_PCMU ? "pcm_mulaw"
                                              : "pcm_alaw",
            NULL);
        if (cfg->audio == SIM_AUDIO_AAC) {
            add(a, "-b:a", "64k", NULL);
        }
        add(a, "-ac", "1", "-ar", a->audio_rate, NULL);
    }
    add(a, "-f", "matroska", out, NULL);
}

int sim_media_ensure(const struct sim_config *cfg, char *path, size_t size, char *err,
                     size_t errlen)
{
    char dir[PATH_MAX];
    char tmp[PATH_MAX + 32];
    struct gen_args args;
    struct stat st;
    int rc = -1;
    int n;

    if (sim_media_path(cfg, path, size, err, errlen) != 0)
        return -1;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        return 0;
    if (media_dir(cfg, dir, sizeof(dir), err, errlen) != 0 || sim_mkdir_p(dir, err, errlen) != 0)
        return -1;
    /* A per-process temporary name: concurrent camsims generating the same file each write
     * their own and the last rename wins, with identical content. */
    n = snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return sim_errf(err, errlen, "media file path '%s' is too long", path);
    build_args(&args, cfg, tmp);
    if (run_child(args.argv, err, errlen) != 0) {
        size_t len = strlen(err);
        snprintf(err + len, errlen - len, " while generating '%s'", path);
        goto out;
    }
    if (sim_rename(tmp, path, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        unlink(tmp);
    return rc;
}
