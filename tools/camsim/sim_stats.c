/*
 * sim_stats.c: write camsim's counters as JSON, atomically; see sim_stats.h for the format.
 *
 * Camera names are validated by sim_config (letters, digits, '-', '_'), so they need no JSON
 * escaping.
 */
#include "tools/camsim/sim_stats.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/camsim/sim_util.h"

#include "common/banned.h"

int sim_stats_init(struct sim_stats *s, int n_cams)
{
    memset(s, 0, sizeof(*s));
    s->cams = calloc((size_t)n_cams, sizeof(*s->cams));
    if (s->cams == NULL)
        return -1;
    s->n_cams = n_cams;
    return 0;
}

void sim_stats_release(struct sim_stats *s)
{
    free(s->cams);
    memset(s, 0, sizeof(*s));
}

int sim_stats_write(const struct sim_stats *s, const char *name, const char *path, char *err,
                    size_t errlen)
{
    char tmp[PATH_MAX + 32];
    FILE *f = NULL;
    int rc = -1;
    int n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return sim_errf(err, errlen, "stats path '%s' is too long", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        sim_errf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    fprintf(f,
            "{\"sessions_total\": %llu, \"sessions_active\": %llu, \"sessions_dropped\": %llu, "
            "\"cameras\": {",
            (unsigned long long)s->sessions_total, (unsigned long long)s->sessions_active,
            (unsigned long long)s->sessions_dropped);
    for (int i = 0; i < s->n_cams; i++) {
        const struct sim_cam_stats *c = &s->cams[i];
        fprintf(f,
                "%s\n  \"%s%d\": {\"video_frames_sent\": %llu, \"audio_frames_sent\": %llu, "
                "\"sessions\": %llu, \"sessions_active\": %llu}",
                i ? "," : "", name, i + 1, (unsigned long long)c->video_frames_sent,
                (unsigned long long)c->audio_frames_sent, (unsigned long long)c->sessions,
                (unsigned long long)c->sessions_active);
    }
    fputs("}}\n", f);
    if (ferror(f)) {
        sim_errf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    n = fclose(f);
    f = NULL;
    if (n != 0) {
        sim_errf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (sim_rename(tmp, path, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    if (rc != 0)
        unlink(tmp);
    return rc;
}
