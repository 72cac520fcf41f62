/*
 * fsck_rebuild.c: fsck --rebuild (IDX_FSCK_REBUILD, see fsck.h): recreate the index from the
 * segment files alone.
 *
 * Cameras (numbers kept where they were dense), volumes and holds are copied from the old index
 * when it can be read; otherwise each camera found on disk is created disabled, for the operator
 * to set. Each camera's files are then indexed in time order (prft start, then name), a torn
 * tail cut as crash recovery does, the old index's tombstones replayed in their places and its
 * gaps copied after, so every chain link is computed over the same sequence as before. Time
 * order is recording order: the recorder never times a camera's segment before the one before
 * it, also when its clock steps back; idx_segment_put flags (and places) such a segment from
 * the file's own times (IDX_SEG_SHIFTED), so the rebuilt record is the one the recorder made.
 *
 * Crash-safe: the new index is built in ROOT/tmp/rebuild-<stamp>/index, then ROOT/index is moved
 * to ROOT/index.old-<stamp> (kept, never deleted) and the new one into its place: until then
 * ROOT/index is untouched, so a crash or an error leaves the old index where it was.
 *
 * The run state, the disk walk and the report are shared with fsck.c through fsck_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/fsck.h"
#include "indexer/fsck_int.h"
#include "indexer/idx.h"
#include "indexer/recover.h"
#include "common/banned.h"

#define COMMIT_EVERY 64 /* rebuild: changes per write transaction */

/* ---- rebuild ---- */

struct rb_ent {
    const char *path; /* borrowed from f->files */
    const char *cam;  /* into path: the camera directory's name, camlen bytes */
    size_t camlen;
    int64_t start_us; /* of its first fragment */
};

/* Camera ids compare as LMDB orders its keys: bytes, then length. */
static int camcmp(const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);

    return c ? c : (la > lb) - (la < lb);
}

/* Camera, then time, then name: each camera's files in the order their links chain. */
static int cmp_ent(const void *pa, const void *pb)
{
    const struct rb_ent *a = pa, *b = pb;
    int c = camcmp(a->cam, a->camlen, b->cam, b->camlen);

    if (c || a->start_us == b->start_us)
        return c ? c : strcmp(a->path, b->path);
    return a->start_us < b->start_us ? -1 : 1;
}

static int cmp_camera_id(const void *key, const void *cam)
{
    return strcmp(key, ((const struct idx_camera *)cam)->id);
}

static int cmp_camera_num(const void *pa, const void *pb)
{
    const struct idx_camera *a = pa, *b = pb;

    return (a->num > b->num) - (a->num < b->num);
}

/* The readable segment files, sorted by cmp_ent (*out, caller frees); others are findings. */
static int collect(struct idx_fsck_run *f, struct rb_ent **out, size_t *n, struct cv_err *err)
{
    struct rb_ent *e = malloc((f->nfiles ? f->nfiles : 1) * sizeof(*e));

    *out = e;
    *n = 0;
    if (!e)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->nfiles; i++) {
        const char *p = f->files[i].path;
        struct lay_seg_info info;
        struct lay_segname nm;
        struct cv_err why = {""};
        int fd;
        if (lay_segment_parse(p, &nm) < 0) {
            idx_fsck_say(f, true, "%s: not a segment file: left in place", p);
            continue;
        }
        if ((fd = idx_fsck_open_segment(f->root, p, O_RDONLY, &info, &why)) < 0) {
            idx_fsck_say(f, true, "%s: not a readable segment: %s: not indexed, left in place", p,
                         why.msg);
            continue;
        }
        e[*n] = (struct rb_ent){p, p + 9 + strlen(nm.volume), strlen(nm.camera), info.start_us};
        (*n)++;
        lay_seg_info_release(&info);
        close(fd);
    }
    qsort(e, *n, sizeof(*e), cmp_ent);
    return 0;
}

/* One camera being rebuilt. */
struct rb {
    struct idx_fsck_run *f;
    const struct idx_camera *c; /* in the new index */
    const struct rb_ent *e;     /* its files, time order */
    size_t n, next;
    struct idx_txn *w;    /* on the new index, begun on first use */
    struct idx_txn *oldt; /* on the old index, NULL without one */
    uint32_t oldnum;      /* the camera's number there */
    size_t changes;
    struct cv_err *err;
};

static int rb_txn(struct rb *r, struct idx_txn **w)
{
    int rc = r->w ? 0 : idx_begin(r->f->idx, true, &r->w, r->err);

    *w = r->w;
    return rc;
}

/* Count a change; commit every COMMIT_EVERY (the new index is not in use yet). */
static int rb_done(struct rb *r)
{
    int rc = 0;

    if (++r->changes % COMMIT_EVERY == 0) {
        rc = idx_commit(r->w, r->err);
        r->w = NULL;
    }
    return rc;
}

/* Index one file: scan, cut a torn tail (as crash recovery does), hash the rest, put. */
static int rb_file(struct rb *r, const struct rb_ent *e)
{
    struct idx_fsck_run *f = r->f;
    struct lay_seg_info info;
    struct idx_segment seg, was;
    struct idx_txn *w;
    struct cv_err why = {""};
    int rc = 0, fd = idx_fsck_open_segment(f->root, e->path, O_RDWR, &info, &why);

    if (fd < 0) {
        idx_fsck_say(f, true, "%s: not a readable segment: %s: not indexed", e->path, why.msg);
        return 0;
    }
    if (info.complete_bytes < info.file_bytes) {
        if (ftruncate(fd, (off_t)info.complete_bytes) < 0 || fsync(fd) < 0) {
            idx_fsck_say(f, true, "%s: cannot cut its torn tail: %s: not indexed", e->path,
                         strerror(errno));
            goto out;
        }
        f->n->repaired++;
        idx_fsck_say(f, true, "%s: torn tail: cut %llu bytes after its last complete fragment",
                     e->path, (unsigned long long)(info.file_bytes - info.complete_bytes));
        lay_seg_info_release(&info); /* again: a file cut back to its mfra is a closed one */
        if (lay_seg_scan(fd, &info, &why) < 0) {
            idx_fsck_say(f, true, "%s: not a readable segment: %s: not indexed", e->path, why.msg);
            goto out;
        }
    }
    idx_segment_from_scan(&info, r->c->num, e->path, &seg);
    if (lay_sha256_fd(fd, info.complete_bytes, seg.sha256, &why) < 0) {
        idx_fsck_say(f, true, "%s: cannot read: %s: not indexed", e->path, why.msg);
        goto out;
    }
    rc = rb_txn(r, &w);
    if (rc == 0)
        rc = idx_segment_put(w, r->c->id, &seg, info.frags, info.nfrags, r->err);
    if (rc == 0) {
        f->n->records++;
        if (r->oldt && idx_segment_get(r->oldt, r->oldnum, seg.start_us, &was, NULL) == 0 &&
            (was.bytes != seg.bytes || memcmp(was.sha256, seg.sha256, 32) != 0))
            idx_fsck_say(f, true,
                         "%s: differs from the old index's record (bytes or sha256): indexed "
                         "as it is now; the old record is in the old index",
                         e->path);
        rc = rb_done(r);
    }
out:
    lay_seg_info_release(&info);
    close(fd);
    return rc;
}

static int rb_flush(struct rb *r, int64_t before_us)
{
    int rc = 0;

    while (rc == 0 && r->next < r->n && r->e[r->next].start_us < before_us)
        rc = rb_file(r, &r->e[r->next++]);
    return rc;
}

/*
 * Replay a tombstone of the old index in its place among the files: put its record, then
 * tombstone it again (same reason, detail, time), so its chain link and every later one are
 * computed over the same sequence as before. The unlink queued with it stays queued only when
 * the old index had queued it; its file, if still there, is not indexed again.
 */
static int rb_tombstone(void *ctx, const struct idx_tombstone *ts)
{
    struct rb *r = ctx;
    struct idx_segment seg = ts->seg;
    struct idx_fsck_file *df = idx_fsck_find_file(r->f, seg.path);
    struct idx_txn *w;
    int rc = rb_flush(r, seg.start_us);

    seg.cam = r->c->num;
    if (rc == 0)
        rc = rb_txn(r, &w);
    if (rc == 0)
        rc = idx_segment_put(w, r->c->id, &seg, NULL, 0, r->err);
    if (rc == 0)
        rc = idx_segment_tombstone(w, seg.cam, seg.start_us, ts->reason, ts->detail, ts->deleted_us,
                                   NULL, r->err);
    if (rc == 0 && !(df && df->queued))
        rc = idx_deleting_del(w, seg.cam, seg.start_us, r->err);
    while (r->next < r->n && r->e[r->next].start_us == seg.start_us &&
           strcmp(r->e[r->next].path, seg.path) == 0)
        r->next++;
    if (rc == 0 && df && !df->queued)
        idx_fsck_say(r->f, true,
                     "%s: tombstoned (%s) but still on disk: not indexed, left in place", seg.path,
                     idx_gap_reason_name(ts->reason));
    return rc == 0 ? rb_done(r) : rc;
}

/* An old record whose file is gone cannot be rebuilt: say so (--repair keeps it as a tombstone). */
static int rb_gone(void *ctx, const struct idx_segment *s)
{
    struct rb *r = ctx;

    if (!idx_fsck_find_file(r->f, s->path))
        idx_fsck_say(r->f, true,
                     "%s: record without file in the old index: not carried over (run fsck "
                     "--repair before --rebuild to keep it as a tombstone)",
                     s->path);
    return 0;
}

static int rb_gap(void *ctx, const struct idx_gap *g)
{
    struct rb *r = ctx;
    struct idx_gap copy = *g;
    struct idx_txn *w;
    int rc = rb_txn(r, &w);

    copy.cam = r->c->num;
    if (rc == 0)
        rc = idx_gap_put(w, &copy, r->err);
    return rc == 0 ? rb_done(r) : rc;
}

/*
 * Rebuild camera c of the new index from its files e[0..n) (time order), replaying in place
 * the tombstones of the old index's camera oc (NULL: none), then copying oc's gaps (after the
 * replay, so each gap ends as the old index had it). oc's records whose file is gone are
 * reported; a file that differs from oc's record for it too.
 */
static int rebuild_camera(struct idx_fsck_run *f, const struct idx_camera *c,
                          const struct idx_camera *oc, const struct rb_ent *e, size_t n,
                          struct cv_err *err)
{
    struct rb r = {.f = f, .c = c, .e = e, .n = n, .err = err, .oldnum = oc ? oc->num : 0};
    int rc = 0;

    if (oc && (rc = idx_begin(f->old, false, &r.oldt, err)) == 0)
        rc = idx_segment_iter(r.oldt, oc->num, INT64_MIN, INT64_MAX, rb_gone, &r, err);
    if (rc == 0 && oc)
        rc = idx_tombstone_iter(r.oldt, oc->num, INT64_MIN, INT64_MAX, rb_tombstone, &r, err);
    if (rc == 0)
        rc = rb_flush(&r, INT64_MAX);
    if (rc == 0 && oc)
        rc = idx_gap_iter(r.oldt, oc->num, INT64_MIN, INT64_MAX, rb_gap, &r, err);
    if (rc == 0 && r.w) {
        rc = idx_commit(r.w, err);
        r.w = NULL;
    }
    idx_abort(r.w);
    idx_abort(r.oldt);
    return rc < 0 ? cv_errwrap(err, rc, "camera '%s'", c->id) : 0;
}

/*
 * Copy cameras (in number order, so numbers stay the same where they were dense), volumes,
 * holds and the server's records (users, sessions, requests, cases, jobs, audit log) from the
 * old index in one write transaction, and note its queued deletions. An old
 * index that cannot be read is dropped (reported): the cameras then come from the files.
 */
static int copy_settings(struct idx_fsck_run *f, struct cv_err *err)
{
    struct idx_camera *bynum = NULL;
    struct idx_volume *v = NULL;
    struct idx_hold *h = NULL;
    struct idx_txn *t = NULL, *ot = NULL;
    struct cv_err why = {""};
    size_t nv = 0, nh = 0;
    int rc = idx_begin(f->old, false, &t, &why);

    if (rc == 0)
        rc = idx_camera_list(t, &f->oldcams, &f->noldcams, &why);
    if (rc == 0)
        rc = idx_volume_list(t, &v, &nv, &why);
    if (rc == 0)
        rc = idx_hold_list(t, &h, &nh, &why);
    idx_abort(t);
    t = NULL;
    if (rc == 0)
        rc = idx_fsck_mark_queued(f, f->old, &why);
    if (rc < 0) {
        idx_fsck_say(f, false, "index: cannot be read (%s): cameras are recreated from the files",
                     why.msg);
        idx_close(f->old);
        f->old = NULL;
        f->noldcams = 0;
        rc = 0;
        goto out;
    }
    if (!(bynum = malloc((f->noldcams + 1) * sizeof(*bynum))))
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
    if (rc == 0)
        rc = idx_begin(f->idx, true, &t, err);
    if (rc == 0 && f->noldcams) {
        memcpy(bynum, f->oldcams, f->noldcams * sizeof(*bynum));
        qsort(bynum, f->noldcams, sizeof(*bynum), cmp_camera_num);
    }
    for (size_t i = 0; rc == 0 && i < f->noldcams; i++)
        rc = idx_camera_add(t, &bynum[i], err);
    for (size_t i = 0; rc == 0 && i < nv; i++)
        if (strcmp(v[i].name, LAY_DEFAULT_VOLUME) != 0 || v[i].path[0] || v[i].max_bytes)
            rc = idx_volume_put(t, &v[i], err);
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        uint64_t id = h[i].id;
        if ((rc = idx_hold_add(t, &h[i], err)) == 0 && h[i].id != id)
            idx_fsck_say(f, false, "hold %llu: copied as hold %llu", (unsigned long long)id,
                         (unsigned long long)h[i].id);
    }
    if (rc == 0 && (rc = idx_begin(f->old, false, &ot, err)) == 0) {
        rc = idx_rec_copy_all(ot, t, err);
        idx_abort(ot);
    }
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
out:
    idx_abort(t);
    free(bynum);
    free(v);
    free(h);
    return rc;
}

/*
 * Create each camera that has files but no record: disabled, url "rtsp://unknown/", and a
 * retention of 36500 days so that nothing is deleted before the operator has looked.
 */
static int add_disk_cameras(struct idx_fsck_run *f, const struct rb_ent *e, size_t n,
                            struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(f->idx, true, &t, err);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct idx_camera c;
        struct lay_segname nm;
        if ((i > 0 && camcmp(e[i].cam, e[i].camlen, e[i - 1].cam, e[i - 1].camlen) == 0) ||
            lay_segment_parse(e[i].path, &nm) < 0 || idx_camera_get(t, nm.camera, &c, NULL) == 0)
            continue;
        memset(&c, 0, sizeof(c));
        cv_strlcpy(c.id, nm.camera, sizeof(c.id));
        cv_strlcpy(c.url, "rtsp://unknown/", sizeof(c.url));
        cv_strlcpy(c.volume, nm.volume, sizeof(c.volume));
        c.retention_days = 36500;
        c.created_us = f->now_us;
        if ((rc = idx_camera_add(t, &c, err)) == 0)
            idx_fsck_say(f, false,
                         "camera '%s': found only on disk: added disabled, url rtsp://unknown/, "
                         "retention 36500 days (set them, then enable it)",
                         c.id);
    }
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    idx_abort(t);
    return rc;
}

/* Index every camera of the new index from its files (e, sorted by cmp_ent). */
static int rebuild_all(struct idx_fsck_run *f, const struct rb_ent *e, size_t n, struct cv_err *err)
{
    struct idx_camera *cams = NULL;
    struct idx_txn *t = NULL;
    size_t ncams = 0, at = 0;
    int rc = idx_begin(f->idx, false, &t, err);

    if (rc == 0)
        rc = idx_camera_list(t, &cams, &ncams, err);
    idx_abort(t);
    for (size_t i = 0; rc == 0 && i < ncams; i++) {
        const char *id = cams[i].id;
        const struct idx_camera *oc =
            f->old ? bsearch(id, f->oldcams, f->noldcams, sizeof(*oc), cmp_camera_id) : NULL;
        size_t first;
        while (at < n && camcmp(e[at].cam, e[at].camlen, id, strlen(id)) < 0)
            at++;
        for (first = at; at < n && camcmp(e[at].cam, e[at].camlen, id, strlen(id)) == 0; at++)
            ;
        rc = rebuild_camera(f, &cams[i], oc, e + first, at - first, err);
    }
    free(cams);
    return rc;
}

/*
 * Build the new index in ROOT/tmp/rebuild-<stamp>/index, then move ROOT/index to
 * ROOT/index.old-<stamp> and the new one into its place: until then ROOT/index is untouched,
 * so a crash or an error leaves the old index where it was.
 */
int idx_fsck_rebuild(struct idx_fsck_run *f, struct cv_err *err)
{
    char stamp[40], tmp[PATH_MAX], fresh[PATH_MAX], index[PATH_MAX], cur[PATH_MAX], kept[PATH_MAX];
    struct rb_ent *e = NULL;
    struct cv_err why = {""};
    size_t n = 0, k = 0;
    bool made = false;
    int rc;

    cv_time_format_utc(f->now_us, stamp, sizeof(stamp), 0);
    for (size_t i = 0; stamp[i]; i++) /* 2026-11-22T09:30:00Z -> 20261122T093000Z */
        if (stamp[i] != '-' && stamp[i] != ':')
            stamp[k++] = stamp[i];
    stamp[k] = 0;
    rc = idx_fsck_walk_disk(f, err);
    if (rc == 0)
        rc = lay_dir(f->root, "tmp", tmp, sizeof(tmp), err);
    if (rc == 0)
        rc = lay_dir(f->root, "index", cur, sizeof(cur), err);
    snprintf(fresh, sizeof(fresh), "%s/rebuild-%s", tmp, stamp);
    snprintf(index, sizeof(index), "%s/index", fresh);
    snprintf(kept, sizeof(kept), "%s.old-%s", cur, stamp);
    if (rc == 0)
        rc = cv_mkdir_p(tmp, 0755, err);
    if (rc == 0 && (mkdir(fresh, 0755) < 0 || mkdir(index, 0755) < 0))
        rc = cv_errf(err, cv_errno_code(errno), "cannot create '%s': %s", index, strerror(errno));
    made = rc == 0;
    if (rc == 0)
        rc = idx_open(&f->idx, fresh, IDX_CREATE, err);
    if (rc == 0 && idx_open(&f->old, f->root, 0, &why) < 0)
        idx_fsck_say(f, false, "index: cannot be read (%s): cameras are recreated from the files",
                     why.msg);
    else if (rc == 0)
        rc = copy_settings(f, err);
    if (rc == 0)
        rc = collect(f, &e, &n, err);
    if (rc == 0)
        rc = add_disk_cameras(f, e, n, err);
    if (rc == 0)
        rc = rebuild_all(f, e, n, err);
    idx_close(f->idx);
    idx_close(f->old);
    f->idx = f->old = NULL;
    if (rc == 0 && rename(cur, kept) < 0 && errno != ENOENT)
        rc = cv_errf(err, cv_errno_code(errno), "cannot move '%s' to '%s': %s", cur, kept,
                     strerror(errno));
    if (rc == 0 && rename(index, cur) < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot move the new index '%s' to '%s': %s", index,
                     cur, strerror(errno));
        rename(kept, cur);
    }
    if (rc == 0) {
        cv_fsync_parent(cur, NULL);
        idx_fsck_say(f, false,
                     "index: rebuilt with %zu records; the old index is kept as index.old-%s",
                     f->n->records, stamp);
    } else if (made) { /* our own half-built index: nothing else is in there */
        char p[PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s/data.mdb", index);
        unlink(p);
        snprintf(p, sizeof(p), "%s/lock.mdb", index);
        unlink(p);
        rmdir(index);
    }
    if (made)
        rmdir(fresh);
    free(e);
    return rc;
}
