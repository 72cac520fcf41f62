/*
 * retention.c: the retention pass (see retention.h for the rules and the crash argument).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer/retention.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

#define BATCH 512

int idx_volume_dir(const char *root, const char *name, char *out, size_t n, struct cv_err *err)
{
    char rel[LAY_RELPATH_MAX];

    if (snprintf(rel, sizeof(rel), "volumes/%s", name) >= (int)sizeof(rel))
        return cv_errf(err, CV_ELIMIT, "volume name too long");
    return lay_abs(root, rel, out, n, err);
}

int idx_volume_add(struct idx_txn *t, const char *root, const char *name, const char *path,
                   uint64_t max_bytes, struct idx_volume *out, struct cv_err *err)
{
    char link[PATH_MAX], real[PATH_MAX], here[PATH_MAX];
    struct idx_volume old;
    struct stat st;
    int rc = lay_id_check("volume", name, err);

    if (rc < 0)
        return rc;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode) || !realpath(path, real) ||
        access(real, W_OK) < 0)
        return cv_errf(err, CV_EINVAL, "volume path '%.200s' is not a writable directory", path);
    memset(out, 0, sizeof(*out));
    cv_strlcpy(out->name, name, sizeof(out->name));
    cv_strlcpy(out->path, real, sizeof(out->path));
    out->max_bytes = max_bytes;
    rc = idx_volume_get(t, name, &old, err);
    if (rc == 0 && (old.path[0] || strcmp(name, LAY_DEFAULT_VOLUME) == 0))
        return cv_errf(err, CV_EEXIST, "volume '%s' exists already", name);
    if (rc < 0 && rc != CV_ENOENT)
        return rc;
    rc = idx_volume_dir(root, name, link, sizeof(link), err);
    if (rc == 0 && !(realpath(link, here) && strcmp(here, real) == 0)) {
        if (lstat(link, &st) == 0)
            rc = cv_errf(err, CV_EEXIST, "'%s' already exists", link);
        else if (symlink(real, link) < 0)
            rc = cv_errf(err, CV_EIO, "cannot link '%s' to '%s': %s", link, real,
                         strerror(errno));
        else
            cv_fsync_parent(link, NULL);
    }
    if (rc == 0)
        rc = idx_volume_put(t, out, err);
    return rc;
}

/* Unlink queued files, then forget them; directories are fsynced once each. */
static int drain_deleting(struct idx *idx, const char *root, struct idx_ret_report *rep,
                          struct cv_err *err)
{
    for (;;) {
        struct idx_deleting *d = NULL;
        struct idx_txn *t = NULL;
        char lastdir[PATH_MAX] = "";
        size_t n = 0;
        int rc;

        rc = idx_begin(idx, false, &t, err);
        if (rc == 0)
            rc = idx_deleting_list(t, BATCH, &d, &n, err);
        idx_abort(t);
        t = NULL;
        if (rc < 0)
            return rc;
        if (n == 0) {
            free(d);
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            char abs[PATH_MAX], dir[PATH_MAX];
            char *slash;
            if (lay_abs(root, d[i].path, abs, sizeof(abs), NULL) < 0)
                continue;
            if (unlink(abs) < 0 && errno != ENOENT) {
                rep->unlink_failed++;
                cv_warn("retention: cannot delete '%s': %s", abs, strerror(errno));
                continue;
            }
            cv_strlcpy(dir, abs, sizeof(dir));
            slash = strrchr(dir, '/');
            if (slash)
                *slash = 0;
            if (strcmp(dir, lastdir) != 0) {
                if (lastdir[0])
                    cv_fsync_dir(lastdir, NULL);
                cv_strlcpy(lastdir, dir, sizeof(lastdir));
            }
            rmdir(dir); /* an emptied day directory goes too; fails harmlessly otherwise */
        }
        if (lastdir[0])
            cv_fsync_dir(lastdir, NULL);
        rc = idx_begin(idx, true, &t, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = idx_deleting_del(t, d[i].cam, d[i].start_us, err);
        if (rc == 0)
            rc = idx_commit(t, err);
        else
            idx_abort(t);
        free(d);
        if (rc < 0)
            return rc;
        if (n < BATCH)
            return 0;
    }
}

struct cand {
    uint32_t cam;
    int64_t start_us, end_us;
    uint64_t bytes;
    char camera[LAY_ID_MAX + 1];
};

struct collect {
    const struct idx_camera *cam;
    const struct idx_hold *holds;
    size_t nholds;
    int64_t now_us;
    const char *volume; /* NULL: any volume */
    struct cand *out;
    size_t n, max;
    uint64_t held, held_bytes;
};

static bool held(const struct collect *c, const struct idx_segment *s)
{
    for (size_t i = 0; i < c->nholds; i++)
        if (idx_hold_covers(&c->holds[i], c->cam->id, s->start_us, s->end_us, c->now_us))
            return true;
    return false;
}

static int collect_cb(void *ctx, const struct idx_segment *s)
{
    struct collect *c = ctx;
    struct lay_segname name;

    if (c->volume && (lay_segment_parse(s->path, &name) < 0 || strcmp(name.volume, c->volume)))
        return 0;
    if (held(c, s)) {
        c->held++;
        c->held_bytes += s->bytes;
        return 0;
    }
    if (c->n >= c->max)
        return 1; /* enough for this pass */
    c->out[c->n].cam = s->cam;
    c->out[c->n].start_us = s->start_us;
    c->out[c->n].end_us = s->end_us;
    c->out[c->n].bytes = s->bytes;
    cv_strlcpy(c->out[c->n].camera, c->cam->id, sizeof(c->out[c->n].camera));
    c->n++;
    return 0;
}

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->start_us < y->start_us ? -1 : x->start_us > y->start_us;
}

static bool held_now(const struct idx_hold *holds, size_t nholds, const struct cand *c,
                     int64_t now_us)
{
    for (size_t i = 0; i < nholds; i++)
        if (idx_hold_covers(&holds[i], c->camera, c->start_us, c->end_us, now_us))
            return true;
    return false;
}

/*
 * Tombstone candidates in batches. The candidates were chosen in an earlier read transaction, so
 * each write transaction reads the holds again and skips any candidate a hold now covers: a hold
 * committed before this transaction is seen here, and one committed after it finds the segment
 * already tombstoned (it was deleted before the hold existed). The file is unlinked only later,
 * by drain_deleting, after the tombstone is committed: a crash in between leaves a queued unlink
 * of a segment that no hold can cover any more, never a held record without its file.
 */
static int tombstone_all(struct idx *idx, const struct cand *c, size_t n, const char *what,
                         int64_t now_us, const struct idx_ret_opts *o, struct idx_ret_report *rep,
                         struct cv_err *err)
{
    for (size_t i = 0; i < n; i += BATCH) {
        struct idx_txn *t = NULL;
        struct idx_hold *holds = NULL;
        size_t nholds = 0, end = i + BATCH < n ? i + BATCH : n;
        int rc;

        if (o->before_batch)
            o->before_batch(o->ctx);
        if (o->delay_ms) {
            cv_info("retention: test delay %u ms before a deletion batch", o->delay_ms);
            usleep(o->delay_ms * 1000u);
        }
        rc = idx_begin(idx, true, &t, err);
        if (rc == 0)
            rc = idx_hold_list(t, &holds, &nholds, err);
        for (size_t j = i; rc == 0 && j < end; j++) {
            char detail[IDX_TEXT_MAX], when[40];
            if (held_now(holds, nholds, &c[j], now_us)) {
                rep->held_skipped++;
                continue;
            }
            cv_time_format_utc(now_us, when, sizeof(when), 0);
            snprintf(detail, sizeof(detail), "deleted by retention (%s) at %s", what, when);
            rc = idx_segment_tombstone(t, c[j].cam, c[j].start_us, IDX_GAP_RETENTION, detail,
                                       now_us, NULL, err);
            if (rc == CV_ENOENT) { /* deleted meanwhile by another pass */
                rc = 0;
                continue;
            }
            if (rc == 0) {
                rep->deleted++;
                rep->deleted_bytes += c[j].bytes;
            }
        }
        free(holds);
        if (rc == 0)
            rc = idx_commit(t, err);
        else
            idx_abort(t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * One deletion step of the pass: end its read transaction *t, tombstone the n candidates with
 * the reason printf(fmt, ...) (tombstone_all), take n from *budget, and begin the next read
 * transaction into *t.
 */
static int delete_step(struct idx *idx, struct idx_txn **t, const struct cand *c, size_t n,
                       size_t *budget, int64_t now_us, const struct idx_ret_opts *o,
                       struct idx_ret_report *rep, struct cv_err *err, const char *fmt, ...)
    __attribute__((format(printf, 10, 11)));

static int delete_step(struct idx *idx, struct idx_txn **t, const struct cand *c, size_t n,
                       size_t *budget, int64_t now_us, const struct idx_ret_opts *o,
                       struct idx_ret_report *rep, struct cv_err *err, const char *fmt, ...)
{
    char what[128];
    va_list ap;
    int rc;

    idx_abort(*t);
    *t = NULL;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    rc = tombstone_all(idx, c, n, what, now_us, o, rep, err);
    if (rc < 0)
        return rc;
    *budget -= n < *budget ? n : *budget;
    return idx_begin(idx, false, t, err);
}

/* Whether directory `dir` is on the same filesystem as the index (headroom is measured there). */
static bool on_index_fs(const char *root, const char *dir)
{
    char idir[PATH_MAX];
    struct stat a, b;

    if (lay_dir(root, "index", idir, sizeof(idir), NULL) < 0)
        return false;
    return stat(idir, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev;
}

void idx_ret_report_release(struct idx_ret_report *rep)
{
    if (!rep)
        return;
    free(rep->volumes);
    rep->volumes = NULL;
    rep->nvolumes = 0;
}

int idx_retention_pass(struct idx *idx, const char *root, int64_t now_us, size_t max_delete,
                       struct idx_ret_report *rep, struct cv_err *err)
{
    struct idx_ret_opts o = {.max_delete = max_delete};
    const char *delay = getenv("CAMVAULT_TEST_RETENTION_DELAY_MS");
    int64_t ms;

    if (delay && cv_parse_i64(delay, 0, 600000, &ms) == 0)
        o.delay_ms = (unsigned)ms;
    return idx_retention_run(idx, root, now_us, &o, rep, err);
}

int idx_retention_run(struct idx *idx, const char *root, int64_t now_us,
                      const struct idx_ret_opts *opts, struct idx_ret_report *rep,
                      struct cv_err *err)
{
    size_t max_delete = opts->max_delete;
    struct idx_txn *t = NULL;
    struct idx_camera *cams = NULL;
    struct idx_hold *holds = NULL;
    struct idx_volume *vols = NULL;
    struct cand *cand = NULL;
    size_t ncams = 0, nholds = 0, nvols = 0, budget = max_delete, nspace = 0;
    uint32_t space_lost[IDX_RET_MAX_SHORT];
    int rc;

    memset(rep, 0, sizeof(*rep));
    rc = drain_deleting(idx, root, rep, err);
    if (rc < 0)
        return rc;
    rc = idx_begin(idx, false, &t, err);
    if (rc == 0)
        rc = idx_camera_list(t, &cams, &ncams, err);
    if (rc == 0)
        rc = idx_hold_list(t, &holds, &nholds, err);
    if (rc < 0)
        goto out;
    cand = calloc(max_delete ? max_delete : 1, sizeof(*cand));
    if (!cand) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }

    /* Age: per camera, segments that ended before now - retention. */
    for (size_t i = 0; i < ncams && budget > 0; i++) {
        int64_t cutoff = now_us - (int64_t)(cams[i].retention_days * 86400.0 * 1e6);
        struct collect c = {&cams[i], holds, nholds, now_us, NULL, cand, 0, budget, 0, 0};
        rc = idx_segment_iter(t, cams[i].num, INT64_MIN, cutoff, collect_cb, &c, err);
        if (rc < 0)
            goto out;
        /* iter gives segments overlapping [.., cutoff): keep only those that ended before. */
        size_t keep = 0;
        for (size_t j = 0; j < c.n; j++)
            if (cand[j].end_us <= cutoff)
                cand[keep++] = cand[j];
        rep->held_skipped += c.held;
        rc = delete_step(idx, &t, cand, keep, &budget, now_us, opts, rep, err,
                         "older than %g days", cams[i].retention_days);
        if (rc < 0)
            goto out;
    }

    /* Space: per volume over its high-water mark, the oldest unheld segments on it. */
    rc = idx_volume_list(t, &vols, &nvols, err);
    if (rc < 0)
        goto out;
    rep->volumes = calloc(nvols ? nvols : 1, sizeof(*rep->volumes));
    if (!rep->volumes) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t v = 0; v < nvols; v++) {
        struct idx_ret_volume *rv = &rep->volumes[rep->nvolumes++];
        struct lay_volume_space sp;
        char dir[PATH_MAX];
        uint64_t need, freed = 0, heldb = 0;
        size_t n = 0;

        cv_strlcpy(rv->name, vols[v].name, sizeof(rv->name));
        idx_volume_dir(root, vols[v].name, dir, sizeof(dir), NULL);
        lay_volume_space(dir, vols[v].max_bytes, &sp);
        rv->limit_bytes = sp.limit;
        rv->fs_free_bytes = sp.fs_free;
        rv->used_bytes = vols[v].used_bytes;
        /* Without --max-bytes, against the filesystem's own fill level: other data counts too,
         * and the room recording needs until the next pass is kept free as well. */
        if (!vols[v].max_bytes) {
            if (sp.fs_used > rv->used_bytes)
                rv->used_bytes = sp.fs_used;
            /* Never below half the mark: a burst must not empty the volume. */
            if (on_index_fs(root, dir))
                rv->limit_bytes -= opts->headroom_bytes < rv->limit_bytes / 2
                                       ? opts->headroom_bytes
                                       : rv->limit_bytes / 2;
        }
        if (rv->limit_bytes == 0 || rv->used_bytes <= rv->limit_bytes)
            continue;
        need = rv->used_bytes - rv->limit_bytes;
        /* Gather each camera's oldest unheld segments on this volume, oldest first overall. */
        for (size_t i = 0; i < ncams && n < budget; i++) {
            struct collect c = {&cams[i], holds, nholds, now_us, vols[v].name, cand + n, 0,
                                budget - n, 0, 0};
            rc = idx_segment_iter(t, cams[i].num, INT64_MIN, INT64_MAX, collect_cb, &c, err);
            if (rc < 0)
                goto out;
            n += c.n;
            heldb += c.held_bytes;
            rep->held_skipped += c.held;
        }
        qsort(cand, n, sizeof(*cand), cand_cmp);
        {
            size_t take = 0;
            while (take < n && freed < need) {
                const struct idx_camera *cam = NULL;
                for (size_t i = 0; i < ncams; i++)
                    if (cams[i].num == cand[take].cam)
                        cam = &cams[i];
                if (cam && nspace < IDX_RET_MAX_SHORT &&
                    cand[take].end_us > now_us - (int64_t)(cam->retention_days * 86400e6))
                    space_lost[nspace++] = cam->num;
                freed += cand[take].bytes;
                take++;
            }
            rc = delete_step(idx, &t, cand, take, &budget, now_us, opts, rep, err,
                             "volume '%s' over its limit", vols[v].name);
            if (rc < 0)
                goto out;
            rv->used_bytes -= freed < rv->used_bytes ? freed : rv->used_bytes;
            rv->held_bytes = heldb;
            rv->over_limit = freed < need;
            rv->only_held_left = rv->over_limit && take == n && n < budget + take;
        }
    }

    /* Shortfall: a camera that lost footage to space pressure before its promised age keeps
     * fewer days than promised; report how many it keeps. */
    for (size_t i = 0; i < ncams && rep->nshort < IDX_RET_MAX_SHORT; i++) {
        struct collect c = {&cams[i], NULL, 0, now_us, NULL, cand, 0, 1, 0, 0};
        struct idx_ret_shortfall *sf;
        bool lost = false;
        for (size_t k = 0; k < nspace; k++)
            if (space_lost[k] == cams[i].num)
                lost = true;
        if (!lost)
            continue;
        rc = idx_segment_iter(t, cams[i].num, INT64_MIN, INT64_MAX, collect_cb, &c, err);
        if (rc < 0)
            goto out;
        sf = &rep->short_[rep->nshort++];
        cv_strlcpy(sf->camera, cams[i].id, sizeof(sf->camera));
        sf->promised_days = cams[i].retention_days;
        sf->kept_days = c.n ? (double)(now_us - cand[0].start_us) / 86400e6 : 0;
    }
    idx_abort(t);
    t = NULL;
    rc = drain_deleting(idx, root, rep, err);
out:
    idx_abort(t);
    free(cand);
    free(vols);
    free(holds);
    free(cams);
    return rc;
}
