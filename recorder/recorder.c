/*
 * recorder.c: rec_run, the recorder's main thread: start-up recovery, then one camera thread
 * per enabled camera, kept in step with the index (cameras added, disabled or edited while
 * recording are picked up within one poll interval, default 2 s). Checkpoints are signed in a
 * thread of their own (integrity/checkpointer.h), so a slow time-stamp authority never holds up
 * this loop.
 */
#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recorder/rec_int.h"
#include "recorder/loop.h"
#include "integrity/checkpointer.h"
#include "common/clock.h"
#include "recorder/sealer.h"
#include "indexer/recover.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/banned.h"

struct slot {
    struct rec_cam *cam;
};

void rec_config_defaults(struct rec_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg)); /* tsa_url "" and any later field off */
    cfg->segment_us = 60 * CV_US_PER_S;
    cfg->connect_timeout_us = 10 * CV_US_PER_S;
    cfg->stall_timeout_us = 10 * CV_US_PER_S;
    /* 5 s: a camera that comes back is recording again within ~8 s (wait + connect + GOP). */
    cfg->backoff_max_us = 5 * CV_US_PER_S;
    cfg->poll_us = 2 * CV_US_PER_S;
    cfg->status_us = 2 * CV_US_PER_S;
    cfg->retention_us = 10 * CV_US_PER_S;
    cfg->checkpoint_us = 60 * CV_US_PER_S;
    cfg->live_chunk_us = 200 * 1000; /* live.mp4 ~0.3 s behind; see docs/storage-layout.md */
    /* at least 5 s apart (a CPU budget may space them to 15 s): black or frozen shows within
     * 60 s, at most 1080p camsim within 14 and 26 s (picture.h) */
    cfg->picture_us = 5 * CV_US_PER_S;
    cfg->queue_bytes = REC_FQ_BYTES;
}

/* Say in the log when the clock's synchronisation changes, and at start when it is off. */
static void clock_log(int *last)
{
    struct cv_clock c;
    char w[160];

    cv_clock_read(&c);
    if (*last == (int)c.synced)
        return;
    if (cv_clock_warning(&c, w, sizeof(w)))
        cv_warn("%s: evidence times may be wrong; every checkpoint records it", w);
    else if (*last >= 0)
        cv_info("system clock synchronised again (estimated error %.3f s)",
                (double)c.esterror_us / 1e6);
    *last = c.synced;
}

/*
 * Recover the segment each camera was writing when the recorder last died. Returns, through
 * *recovered, how many segments were brought back.
 */
static void recover_pending(struct idx *idx, const char *root, const struct idx_camera *cams,
                            size_t n, int *recovered)
{
    *recovered = 0;
    for (size_t i = 0; i < n; i++) {
        char rel[LAY_RELPATH_MAX];
        struct idx_txn *t = NULL;
        struct idx_segment seg;
        struct cv_err err = {""};
        int rc;

        if (idx_begin(idx, false, &t, &err) < 0) {
            cv_error("%s", err.msg);
            return;
        }
        rc = idx_pending_get(t, cams[i].num, rel, &err);
        idx_abort(t);
        if (rc == CV_ENOENT)
            continue;
        if (rc < 0) {
            cv_error("camera '%s': %s", cams[i].id, err.msg);
            continue;
        }
        rc = idx_recover_segment(idx, root, &cams[i], rel, &seg, &err);
        if (rc == 0) {
            (*recovered)++;
            cv_info("camera '%s': recovered segment '%s' after a crash (%u frames)", cams[i].id,
                    rel, seg.frames);
        } else if (rc == CV_EEXIST) {
            cv_debug("camera '%s': %s", cams[i].id, err.msg);
        } else {
            cv_warn("camera '%s': %s", cams[i].id, err.msg);
            if (rc == CV_ENOENT && idx_begin(idx, true, &t, NULL) == 0) {
                idx_pending_del(t, cams[i].num, NULL);
                idx_commit(t, NULL);
            }
        }
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir that pass keep(); malloc'd array of malloc'd strings. */
static size_t list_dir(const char *dir, bool (*keep)(const char *), char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !keep(e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (!nn)
                break;
            names = nn;
            cap = nc;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    *out = names;
    return n;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool is_day(const char *name)
{
    return strlen(name) == 10 && name[4] == '-' && name[7] == '-';
}

static bool is_segment_name(const char *name)
{
    size_t l = strlen(name);
    return l > 4 && (strcmp(name + l - 4, ".mp4") == 0 || strcmp(name + l - 4, ".mov") == 0);
}

/*
 * A segment file is created (O_EXCL) a moment before the index hears of it, so a crash in that
 * moment leaves a file that neither a record nor the pending note names. Look for such files
 * after each camera's newest record, in its newest day directories on every volume, and recover
 * them like the pending one. Only files after the chain head are candidates, so this reads a
 * handful of names per camera, whatever the archive size.
 */
static void recover_orphans(struct idx *idx, const char *root, const struct idx_camera *cams,
                            size_t ncams, int *recovered)
{
    struct idx_volume *vols = NULL;
    struct idx_txn *t = NULL;
    size_t nvols = 0;

    if (idx_begin(idx, false, &t, NULL) < 0)
        return;
    if (idx_volume_list(t, &vols, &nvols, NULL) < 0)
        nvols = 0;
    for (size_t c = 0; c < ncams; c++) {
        struct idx_segment last;
        int64_t after = INT64_MIN;
        char last_path[LAY_RELPATH_MAX] = "";
        if (idx_segment_last(t, cams[c].num, &last, NULL) == 0) {
            after = last.start_us / CV_US_PER_S - 1;
            cv_strlcpy(last_path, last.path, sizeof(last_path));
        }
        for (size_t v = 0; v < nvols; v++) {
            char rel[LAY_RELPATH_MAX], dir[PATH_MAX], **days = NULL;
            size_t ndays;
            if (lay_camera_dir(vols[v].name, cams[c].id, rel, sizeof(rel), NULL) < 0 ||
                lay_abs(root, rel, dir, sizeof(dir), NULL) < 0)
                continue;
            ndays = list_dir(dir, is_day, &days);
            for (size_t d = ndays > 2 ? ndays - 2 : 0; d < ndays; d++) {
                char daydir[PATH_MAX], **files = NULL;
                size_t nfiles;
                if (snprintf(daydir, sizeof(daydir), "%s/%s", dir, days[d]) >= (int)sizeof(daydir))
                    continue;
                nfiles = list_dir(daydir, is_segment_name, &files);
                for (size_t f = 0; f < nfiles; f++) {
                    char frel[LAY_RELPATH_MAX];
                    struct lay_segname nm;
                    struct idx_segment seg;
                    struct cv_err err = {""};
                    int rc;
                    if (snprintf(frel, sizeof(frel), "%s/%s/%s", rel, days[d], files[f]) >=
                            (int)sizeof(frel) ||
                        lay_segment_parse(frel, &nm) < 0 || nm.start_s < after ||
                        strcmp(frel, last_path) == 0)
                        continue;
                    idx_abort(t);
                    t = NULL;
                    rc = idx_recover_segment(idx, root, &cams[c], frel, &seg, &err);
                    if (rc == 0) {
                        (*recovered)++;
                        cv_info("camera '%s': recovered unindexed segment '%s' (%u frames)",
                                cams[c].id, frel, seg.frames);
                    } else if (rc != CV_EEXIST) {
                        cv_warn("camera '%s': %s", cams[c].id, err.msg);
                    }
                    if (idx_begin(idx, false, &t, NULL) < 0) {
                        free_list(files, nfiles);
                        free_list(days, ndays);
                        goto out;
                    }
                }
                free_list(files, nfiles);
            }
            free_list(days, ndays);
        }
    }
out:
    idx_abort(t);
    free(vols);
}

static bool same_source(const struct idx_camera *a, const struct idx_camera *b)
{
    return strcmp(a->url, b->url) == 0 && a->transport == b->transport &&
           strcmp(a->volume, b->volume) == 0;
}

/* Start, retire or restart camera threads so that they match the index. */
static void sync_cameras(struct idx *idx, const char *root, const struct rec_cam_params *base,
                         struct slot **slots, size_t *nslots, const char *note)
{
    struct idx_camera *cams = NULL;
    size_t n = 0;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};

    if (idx_begin(idx, false, &t, &err) < 0 || idx_camera_list(t, &cams, &n, &err) < 0) {
        idx_abort(t);
        cv_error("cannot read the camera list: %s", err.msg);
        return;
    }
    /* Retire threads whose camera is gone, disabled or changed. */
    for (size_t i = 0; i < *nslots; i++) {
        const struct idx_camera *run = rec_cam_config((*slots)[i].cam);
        bool keep = false;
        for (size_t j = 0; j < n; j++)
            if (strcmp(cams[j].id, run->id) == 0 && cams[j].enabled && same_source(&cams[j], run))
                keep = true;
        if (!keep) {
            cv_info("camera '%s': stopping (disabled, removed or changed)", run->id);
            rec_cam_retire((*slots)[i].cam);
        }
    }
    /* Start threads for enabled cameras that have none (a retiring one still counts). */
    for (size_t j = 0; j < n; j++) {
        struct rec_cam_params p = *base;
        struct idx_segment last;
        struct rec_cam *cam = NULL;
        bool running = false;

        if (!cams[j].enabled)
            continue;
        for (size_t i = 0; i < *nslots; i++)
            if (strcmp(rec_cam_config((*slots)[i].cam)->id, cams[j].id) == 0)
                running = true;
        if (running)
            continue;
        p.last_end_us = idx_segment_last(t, cams[j].num, &last, NULL) == 0 ? last.end_us : 0;
        p.resume_note = note;
        if (rec_cam_start(&cam, &cams[j], &p, &err) < 0) {
            cv_error("%s", err.msg);
            continue;
        }
        {
            struct slot *ns = realloc(*slots, (*nslots + 1) * sizeof(*ns));
            if (!ns) {
                rec_cam_free(cam);
                continue;
            }
            *slots = ns;
            (*slots)[(*nslots)++].cam = cam;
        }
    }
    idx_abort(t);
    free(cams);
    (void)root;
}

/* Join camera threads that have finished; returns how many. */
static size_t reap(struct slot *slots, size_t *nslots)
{
    size_t n = 0;

    for (size_t i = 0; i < *nslots;) {
        if (rec_cam_done(slots[i].cam)) {
            rec_cam_free(slots[i].cam);
            slots[i] = slots[--*nslots];
            n++;
        } else {
            i++;
        }
    }
    return n;
}

int rec_run(const char *root, const struct rec_config *cfg, volatile sig_atomic_t *stop,
            struct cv_err *err)
{
    struct idx *idx = NULL;
    struct rec_sink *sink = NULL;
    struct rec_notes *notes = NULL;
    struct rec_retainer *retainer = NULL;
    struct rec_pic *pic = NULL;
    struct rec_loop *loop = NULL;
    struct itg_signer *signer = NULL;
    struct itg_checkpointer *checkpoints = NULL;
    struct idx_camera *cams = NULL;
    struct idx_txn *t = NULL;
    struct slot *slots = NULL;
    size_t ncams = 0, nslots = 0;
    struct rec_cam_params base;
    uint64_t gen = 0;
    int64_t next_poll = 0, next_clock;
    int recovered = 0, rc, clock_synced = -1;
    const char *note;

    /*
     * Fixed malloc thresholds (glibc). Packets are allocated on the reader threads and freed on
     * the writers' (loop.h); with that churn glibc's sliding mmap threshold stayed at 128 KB, so
     * every picture check's 1080p decode buffers (picture.c, ~3 MB) were mmapped and faulted in
     * afresh: +0.3 % of a core per camera at N = 50 (docs/performance.md). Below 8 MB they now
     * come from the heap, which is trimmed past 8 MB free (more kept RSS up: 1.65 MB/camera).
     */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    rc = idx_open(&idx, root, 0, err);
    if (rc < 0)
        return rc;
    rc = idx_begin(idx, false, &t, err);
    if (rc == 0)
        rc = idx_camera_list(t, &cams, &ncams, err);
    idx_abort(t);
    t = NULL;
    if (rc < 0)
        goto out;
    recover_pending(idx, root, cams, ncams, &recovered);
    {
        int orphans = 0;
        recover_orphans(idx, root, cams, ncams, &orphans);
        recovered += orphans;
    }
    note = recovered ? "recorder was killed or crashed" : "recorder was not running";
    rc = rec_sink_open(&sink, idx, cfg, err);
    if (rc == 0)
        rc = rec_notes_open(&notes, err);
    if (rc == 0)
        rc = rec_retainer_start(&retainer, idx, root, cfg, notes, err);
    if (rc == 0)
        rc = rec_pic_open(&pic, cfg->picture_us, err);
    if (rc == 0)
        rc = rec_loop_start(&loop, err);
    if (rc < 0)
        goto out;
    {
        struct cv_err kerr = {""};
        if (itg_signer_open(&signer, root, &kerr) < 0)
            cv_warn("checkpoints are not signed: %s", kerr.msg);
        else if (cfg->tsa_url[0] && itg_signer_set_tsa(signer, cfg->tsa_url, &kerr) < 0)
            cv_warn("checkpoints are not time-stamped: %s", kerr.msg);
        else if (cfg->tsa_url[0])
            cv_info("checkpoints are time-stamped by %s", cfg->tsa_url);
        if (signer && itg_checkpointer_start(&checkpoints, idx, root, signer, cfg->checkpoint_us,
                                             &kerr) < 0)
            cv_error("checkpoints are not signed: %s", kerr.msg);
    }
    clock_log(&clock_synced);
    next_clock = cv_mono_us() + cfg->checkpoint_us;
    memset(&base, 0, sizeof(base));
    base.root = root;
    base.cfg = cfg;
    base.sink = sink;
    base.stop = stop;
    base.notes = notes;
    base.pic = pic;
    base.loop = loop;
    cv_info("recorder started on '%s' (%zu cameras, segments of %lld s)", root, ncams,
            (long long)(cfg->segment_us / CV_US_PER_S));
    if (cfg->index_hook)
        cfg->index_hook(cfg->index_hook_ctx, idx);
    while (!*stop) {
        int64_t now = cv_mono_us();
        struct timespec d = {0, 100 * 1000 * 1000};

        if (now >= next_poll) {
            uint64_t g = 0;
            if (idx_begin(idx, false, &t, NULL) == 0) {
                g = idx_config_gen(t);
                idx_abort(t);
                t = NULL;
            }
            if (g != gen) {
                gen = g;
                sync_cameras(idx, root, &base, &slots, &nslots, note);
            }
            next_poll = now + cfg->poll_us;
        }
        if (now >= next_clock) {
            clock_log(&clock_synced);
            next_clock = now + cfg->checkpoint_us;
        }
        {   /* Segments sealed early for an export: sign them now (recorder/sealer.h). */
            struct rec_sealed sealed[REC_SEAL_BATCH];
            size_t ns = rec_seal_ready(idx, root, sealed, REC_SEAL_BATCH);
            if (ns) { /* the exporter waits for the checkpoint itself, not for the request */
                if (checkpoints)
                    itg_checkpointer_kick(checkpoints);
                rec_seal_finish(root, sealed, ns);
            }
        }
        /* A camera retired for a change (or re-enabled meanwhile) starts again at once. */
        if (reap(slots, &nslots) > 0)
            sync_cameras(idx, root, &base, &slots, &nslots, note);
        nanosleep(&d, NULL);
    }
    cv_info("recorder stopping: closing %zu cameras' segments", nslots);
    for (size_t i = 0; i < nslots; i++)
        rec_cam_retire(slots[i].cam);
    for (size_t i = 0; i < nslots; i++)
        rec_cam_free(slots[i].cam);
    nslots = 0;
    /* after the cameras: a camera may read from the hook's agent (rec_config.source) */
    if (cfg->index_hook)
        cfg->index_hook(cfg->index_hook_ctx, NULL);
    /* Let the sink commit the last segments, then sign them. */
    rec_sink_close(sink);
    sink = NULL;
    itg_checkpointer_stop(checkpoints, true);
    checkpoints = NULL;
    rc = 0;
out:
    itg_checkpointer_stop(checkpoints, false);
    rec_retainer_stop(retainer);
    rec_sink_close(sink);
    rec_notes_free(notes);
    rec_loop_stop(loop); /* after the cameras: they hand it their connections */
    rec_pic_close(pic);  /* after the cameras: they hold its slots */
    itg_signer_close(signer);
    free(slots);
    free(cams);
    idx_close(idx);
    return rc;
}
