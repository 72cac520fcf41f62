/*
 * fsck.c: the index against the disk: check, repair, rebuild (what each does: see fsck.h);
 * rebuild itself is in fsck_rebuild.c.
 *
 * Memory stays bounded: the disk is walked once into a sorted array, one entry per file (its
 * path and two flags, found with bsearch); records are read BATCH at a time in short read
 * transactions (a long one would pin pages the recorder wants to reuse); files are hashed as a
 * stream (lay_sha256_fd).
 *
 * Races with a running recorder (CHECK only: the other modes refuse to run beside another
 * process). The disk is walked before records are read, so a file committed meanwhile is seen
 * with its record. A file that seems to have no record is looked up again in a fresh
 * transaction: committed since, tombstoned by retention, or being written (its camera's pending
 * file; and, while another process has the index open, any file newer than its camera's
 * records and modified in the last minute, since the recorder notes pending files through a
 * queue). A record whose file is missing is read again before it is reported.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

#define BATCH 256                     /* records per read transaction */
#define OVERLAP_US 100000             /* tolerated overlap (anchor corrections are <= 20 ms) */
#define NEAR_US (3600 * CV_US_PER_S)  /* a record starts this close to its file's name time */
#define WRITING_US (60 * CV_US_PER_S) /* a file being written is modified at least this often */
#define DELETING_MAX 65536            /* queued deletions looked at per run */
#define NOT_REPAIRABLE "; not repairable: evidence altered or damaged, left as it is"

void idx_fsck_say(struct idx_fsck_run *f, bool finding, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    f->n->findings += finding;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (f->report)
        f->report(f->ctx, line);
}

static const char *utc(int64_t us, char buf[40])
{
    cv_time_format_utc(us, buf, 40, 3);
    return buf;
}

static const char *unrepairable(const struct idx_fsck_run *f)
{
    return f->mode == IDX_FSCK_REPAIR ? NOT_REPAIRABLE : "";
}

/* ---- the disk ---- */

static int cmp_dfile(const void *a, const void *b)
{
    return strcmp(((const struct idx_fsck_file *)a)->path, ((const struct idx_fsck_file *)b)->path);
}

struct idx_fsck_file *idx_fsck_find_file(const struct idx_fsck_run *f, const char *rel)
{
    struct idx_fsck_file key = {.path = (char *)rel};

    return f->nfiles ? bsearch(&key, f->files, f->nfiles, sizeof(key), cmp_dfile) : NULL;
}

static int add_file(struct idx_fsck_run *f, const char *rel, struct cv_err *err)
{
    if (cv_grow((void **)&f->files, &f->cap, f->nfiles + 1, sizeof(*f->files), 1024) < 0)
        return cv_errf(err, CV_ENOMEM, "out of memory listing %zu files", f->nfiles);
    memset(&f->files[f->nfiles], 0, sizeof(f->files[0]));
    if (!(f->files[f->nfiles].path = strdup(rel)))
        return cv_errf(err, CV_ENOMEM, "out of memory listing %zu files", f->nfiles);
    f->nfiles++;
    return 0;
}

/*
 * Collect the entries of ROOT/<rel>, `depth` levels below ROOT/volumes (0: volumes, 1: cameras,
 * 2: days, 3: segment files): directories are entered down to the days, anything else is an
 * entry (so is a directory among segment files). Volumes may be symlinks to other disks; no
 * other symlink is followed. lost+found (a volume that is a mount point) is skipped.
 */
static int walk(struct idx_fsck_run *f, const char *rel, int depth, struct cv_err *err)
{
    char abs[PATH_MAX], sub[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int rc = lay_abs(f->root, rel, abs, sizeof(abs), err);

    if (rc < 0)
        return rc;
    if (!(d = opendir(abs)))
        return depth == 0 && errno == ENOENT
                   ? 0
                   : cv_errf(err, CV_EIO, "cannot read directory '%s': %s", abs, strerror(errno));
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "lost+found"))
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", rel, e->d_name) >= (int)sizeof(sub))
            idx_fsck_say(f, true, "%s/%.40s...: path too long to check", rel, e->d_name);
        else if (fstatat(dirfd(d), e->d_name, &st, depth ? AT_SYMLINK_NOFOLLOW : 0) < 0)
            rc = errno == ENOENT ? 0 /* deleted meanwhile */
                                 : cv_errf(err, CV_EIO, "cannot stat '%s/%s': %s", abs, e->d_name,
                                           strerror(errno));
        else
            rc = S_ISDIR(st.st_mode) && depth < 3 ? walk(f, sub, depth + 1, err)
                                                  : add_file(f, sub, err);
    }
    if (rc == 0 && errno)
        rc = cv_errf(err, CV_EIO, "cannot read directory '%s': %s", abs, strerror(errno));
    closedir(d);
    return rc;
}

int idx_fsck_walk_disk(struct idx_fsck_run *f, struct cv_err *err)
{
    int rc = walk(f, "volumes", 0, err);

    if (f->nfiles)
        qsort(f->files, f->nfiles, sizeof(f->files[0]), cmp_dfile);
    f->n->files = f->nfiles;
    return rc;
}

/* Whether the walk found any file on the volume of segment path `rel` (else: not mounted?). */
static bool volume_has_files(const struct idx_fsck_run *f, const char *rel)
{
    struct lay_segname nm;
    char prefix[LAY_ID_MAX + 16];
    size_t lo = 0, hi = f->nfiles;

    if (lay_segment_parse(rel, &nm) < 0)
        return false;
    snprintf(prefix, sizeof(prefix), "volumes/%s/", nm.volume);
    while (lo < hi) { /* the first path >= prefix */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->files[mid].path, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nfiles && strncmp(f->files[lo].path, prefix, strlen(prefix)) == 0;
}

/*
 * Open ROOT/<rel> (flags O_RDONLY or O_RDWR) and scan it. Returns the descriptor (the caller
 * closes it and releases *info) when the file holds at least one complete fragment with a
 * time; else -1 with the reason in *why and *info empty.
 */
int idx_fsck_open_segment(const char *root, const char *rel, int flags, struct lay_seg_info *info,
                          struct cv_err *why)
{
    char abs[PATH_MAX];
    int fd, rc;

    memset(info, 0, sizeof(*info));
    if (lay_abs(root, rel, abs, sizeof(abs), why) < 0)
        return -1;
    if ((fd = open(abs, flags | O_CLOEXEC)) < 0) {
        cv_errf(why, CV_EIO, "%s", strerror(errno));
        return -1;
    }
    rc = lay_seg_scan(fd, info, why);
    if (rc == 0 && info->nfrags > 0 && info->start_us != INT64_MIN)
        return fd;
    if (rc == 0)
        cv_errf(why, CV_ECORRUPT, "no complete fragment with a time");
    lay_seg_info_release(info);
    close(fd);
    return -1;
}

/*
 * REPAIR: move ROOT/<rel> to ROOT/quarantine/<rel with '/' as '_'>, adding ".1", ".2", ...
 * rather than replacing anything. A failed move is reported (the finding stays), not fatal.
 */
static void quarantine(struct idx_fsck_run *f, const char *rel, const char *why)
{
    char qdir[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], flat[PATH_MAX];
    struct cv_err e = {""};
    int rc;

    if (f->mode != IDX_FSCK_REPAIR)
        return;
    cv_strlcpy(flat, rel, sizeof(flat));
    for (char *p = flat; *p; p++)
        *p = *p == '/' ? '_' : *p;
    rc = lay_dir(f->root, "quarantine", qdir, sizeof(qdir), &e);
    if (rc == 0)
        rc = cv_mkdir_p(qdir, 0755, &e);
    if (rc == 0)
        rc = lay_abs(f->root, rel, src, sizeof(src), &e);
    for (unsigned i = 0; rc == 0; i++) {
        int len = i ? snprintf(dst, sizeof(dst), "%s/%s.%u", qdir, flat, i)
                    : snprintf(dst, sizeof(dst), "%s/%s", qdir, flat);
        if (len >= (int)sizeof(dst) || i == 1000)
            rc = cv_errf(&e, CV_ELIMIT, "no free name there");
        else if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
            break;
        else if (errno != EEXIST)
            rc = cv_errf(&e, cv_errno_code(errno), "%s", strerror(errno));
    }
    if (rc < 0) {
        idx_fsck_say(f, false, "%s: not repaired: cannot move it to quarantine/: %s", rel, e.msg);
        return;
    }
    cv_fsync_parent(dst, NULL);
    cv_fsync_parent(src, NULL);
    f->n->repaired++;
    idx_fsck_say(f, false, "%s: moved to quarantine/%s (%s)", rel, strrchr(dst, '/') + 1, why);
}

/* ---- check and repair: records against files ---- */

/*
 * A record whose file is missing, read again in a fresh transaction first (retention may have
 * tombstoned it). REPAIR turns it into a tombstone (IDX_GAP_MISSING; the chain link stays) and
 * drops the queued unlink that comes with it, so a file that comes back is never deleted; not
 * when the walk found no file at all on its volume (a disk not mounted is not lost footage).
 */
static int record_without_file(struct idx_fsck_run *f, const struct idx_segment *s, const char *abs,
                               struct cv_err *err)
{
    struct idx_segment cur;
    struct idx_txn *t = NULL;
    char when[40], detail[IDX_TEXT_MAX];
    int rc = idx_begin(f->idx, f->mode == IDX_FSCK_REPAIR, &t, err);

    if (rc < 0 || idx_segment_get(t, s->cam, s->start_us, &cur, NULL) != 0 ||
        strcmp(cur.path, s->path) != 0 || access(abs, F_OK) == 0)
        goto out; /* tombstoned, or the file is back */
    idx_fsck_say(f, true, "%s: record without file (%s, %llu bytes)", s->path,
                 utc(s->start_us, when), (unsigned long long)s->bytes);
    if (f->mode != IDX_FSCK_REPAIR)
        goto out;
    if (!volume_has_files(f, s->path)) {
        idx_fsck_say(f, false, "%s: not repaired: no file at all on its volume (not mounted?)",
                     s->path);
        goto out;
    }
    snprintf(detail, sizeof(detail), "file missing, found by fsck at %s", utc(f->now_us, when));
    rc = idx_segment_tombstone(t, s->cam, s->start_us, IDX_GAP_MISSING, detail, f->now_us, NULL,
                               err);
    if (rc == 0)
        rc = idx_deleting_del(t, s->cam, s->start_us, err);
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    if (rc == 0) {
        f->n->repaired++;
        idx_fsck_say(f, false, "%s: tombstoned as missing; its chain link stays in the index",
                     s->path);
    }
out:
    idx_abort(t);
    return rc;
}

/* The record's times are the file's, or (IDX_SEG_SHIFTED) the file's moved later, whole. */
static bool times_match(const struct idx_segment *s, const struct lay_seg_info *info)
{
    int64_t moved = s->flags & IDX_SEG_SHIFTED ? s->start_us - info->start_us : 0;

    return moved >= 0 && info->start_us + moved == s->start_us &&
           info->end_us + moved == s->end_us;
}

/*
 * Check one record against its file: present, same size, same SHA-256 (the whole file,
 * streamed), readable, and the scan's start, end and frames equal to the record's. At most one
 * finding per record; a file that cannot be read is a finding, not an error.
 */
static int check_record(struct idx_fsck_run *f, const struct idx_segment *s, struct cv_err *err)
{
    struct idx_fsck_file *df = idx_fsck_find_file(f, s->path);
    struct lay_seg_info info;
    struct cv_err e = {""};
    struct stat st;
    char abs[PATH_MAX], want[65], got[65], a[40], b[40], c[40], d[40];
    uint8_t sha[32];
    int fd = -1, rc;

    memset(&info, 0, sizeof(info));
    if (df)
        df->seen = true;
    if ((rc = lay_abs(f->root, s->path, abs, sizeof(abs), err)) < 0)
        return rc;
    if ((fd = open(abs, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT)
        return record_without_file(f, s, abs, err);
    if (fd < 0 || fstat(fd, &st) < 0) {
        idx_fsck_say(f, true, "%s: cannot read: %s", s->path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size != s->bytes) {
        idx_fsck_say(f, true, "%s: %s: index says %llu bytes, file has %llu%s", s->path,
                     (uint64_t)st.st_size < s->bytes ? "truncated" : "size mismatch",
                     (unsigned long long)s->bytes, (unsigned long long)st.st_size, unrepairable(f));
        goto out;
    }
    if (lay_sha256_fd(fd, s->bytes, sha, &e) < 0) {
        idx_fsck_say(f, true, "%s: cannot read: %s", s->path, e.msg);
        goto out;
    }
    cv_hex(s->sha256, 32, want);
    cv_hex(sha, 32, got);
    if (memcmp(sha, s->sha256, 32) != 0)
        idx_fsck_say(f, true, "%s: hash mismatch: index says %s, file is %s%s", s->path, want, got,
                     unrepairable(f));
    else if (lay_seg_scan(fd, &info, &e) < 0)
        idx_fsck_say(f, true, "%s: not a readable segment: %s%s", s->path, e.msg, unrepairable(f));
    else if (!times_match(s, &info) || info.video_samples != s->frames)
        idx_fsck_say(f, true,
                     "%s: record disagrees with the file: index says %s to %s, %u frames; file "
                     "has %s to %s, %llu frames%s",
                     s->path, utc(s->start_us, a), utc(s->end_us, b), s->frames,
                     utc(info.start_us, c), utc(info.end_us, d),
                     (unsigned long long)info.video_samples, unrepairable(f));
out:
    lay_seg_info_release(&info);
    if (fd >= 0)
        close(fd);
    return 0;
}

struct batch {
    struct idx_segment *s;
    size_t n;
    int64_t from;
};

static int batch_add(void *ctx, const struct idx_segment *seg)
{
    struct batch *b = ctx;

    if (seg->start_us >= b->from)
        b->s[b->n++] = *seg;
    return b->n == BATCH;
}

/* Check camera c's records in time order, BATCH per read transaction (buf holds BATCH). */
static int check_camera(struct idx_fsck_run *f, const struct idx_camera *c, struct idx_segment *buf,
                        struct cv_err *err)
{
    struct batch b = {buf, 0, INT64_MIN};
    char prev[LAY_RELPATH_MAX] = "";
    int64_t prev_end = INT64_MIN;
    int rc;

    do {
        struct idx_txn *t = NULL;
        b.n = 0;
        rc = idx_begin(f->idx, false, &t, err);
        if (rc == 0)
            rc = idx_segment_iter(t, c->num, b.from, INT64_MAX, batch_add, &b, err);
        idx_abort(t);
        for (size_t i = 0; rc >= 0 && i < b.n; i++) {
            const struct idx_segment *s = &b.s[i];
            f->n->records++;
            if (prev_end != INT64_MIN && s->start_us < prev_end - OVERLAP_US)
                idx_fsck_say(f, true, "%s: overlaps %s by %lld ms%s", s->path, prev,
                             (long long)(prev_end - s->start_us) / 1000,
                             f->mode == IDX_FSCK_REPAIR ? "; not repairable, left as it is" : "");
            prev_end = s->end_us;
            cv_strlcpy(prev, s->path, sizeof(prev));
            rc = check_record(f, s, err);
        }
        if (b.n)
            b.from = b.s[b.n - 1].start_us + 1;
    } while (rc >= 0 && b.n == BATCH);
    return rc < 0 ? rc : 0;
}

/* ---- check and repair: files against records ---- */

/* Mark the files whose deletion is queued in idx (tombstone committed, unlink not yet done). */
int idx_fsck_mark_queued(struct idx_fsck_run *f, struct idx *idx, struct cv_err *err)
{
    struct idx_deleting *d = NULL;
    struct idx_txn *t = NULL;
    size_t nd = 0;
    int rc = idx_begin(idx, false, &t, err);

    if (rc == 0)
        rc = idx_deleting_list(t, DELETING_MAX, &d, &nd, err);
    for (size_t i = 0; i < nd; i++) {
        struct idx_fsck_file *df = idx_fsck_find_file(f, d[i].path);
        if (df)
            df->queued = true;
    }
    idx_abort(t);
    free(d);
    return rc;
}

static int names_cb(void *ctx, const struct idx_segment *s)
{
    return strcmp(s->path, ctx) == 0;
}

/* REPAIR: index a file newer than its camera's records, as crash recovery does. */
static void index_file(struct idx_fsck_run *f, const struct idx_camera *cam, const char *rel,
                       const struct lay_seg_info *info)
{
    struct idx_segment seg;
    struct cv_err e = {""};

    if (f->mode != IDX_FSCK_REPAIR)
        return;
    if (idx_recover_segment(f->idx, f->root, cam, rel, &seg, &e) < 0) {
        idx_fsck_say(f, false, "%s: not repaired: %s", rel, e.msg);
        return;
    }
    f->n->repaired++;
    if (info->complete_bytes < info->file_bytes)
        idx_fsck_say(f, false,
                     "%s: indexed, after cutting %llu torn bytes after its last complete "
                     "fragment",
                     rel, (unsigned long long)(info->file_bytes - info->complete_bytes));
    else
        idx_fsck_say(f, false, "%s: indexed", rel);
}

/*
 * A file no record named during the record pass. Looked up again in a fresh transaction: a
 * record committed since, a file being written (see the top of this file) or a queued deletion
 * is not a finding. REPAIR indexes a readable file newer than every record of its camera (the
 * chain is in time order) and moves anything else to quarantine/.
 */
static int unknown_file(struct idx_fsck_run *f, const struct idx_fsck_file *df, struct cv_err *err)
{
    struct lay_segname nm;
    struct lay_seg_info info;
    struct idx_camera cam;
    struct idx_segment last;
    struct idx_txn *t = NULL;
    struct cv_err e = {""};
    struct stat st;
    char abs[PATH_MAX], pend[LAY_RELPATH_MAX], a[40], b[40];
    bool has_cam, has_last = false, pending = false, named = false, newest;
    int fd, rc = lay_abs(f->root, df->path, abs, sizeof(abs), err);

    if (rc < 0 || lstat(abs, &st) < 0)
        return rc; /* gone since the walk: retention, most likely */
    if (lay_segment_parse(df->path, &nm) < 0) {
        idx_fsck_say(f, true, "%s: not a segment file", df->path);
        quarantine(f, df->path, "not a segment file");
        return 0;
    }
    if (df->queued)
        return 0; /* tombstoned; retention unlinks it on its next pass */
    if ((rc = idx_begin(f->idx, false, &t, err)) < 0)
        return rc;
    if ((has_cam = idx_camera_get(t, nm.camera, &cam, NULL) == 0)) {
        int64_t at = nm.start_s * CV_US_PER_S;
        has_last = idx_segment_last(t, cam.num, &last, NULL) == 0;
        named = idx_segment_iter(t, cam.num, at - NEAR_US, at + NEAR_US, names_cb, (void *)df->path,
                                 NULL) == 1;
        pending = idx_pending_get(t, cam.num, pend, NULL) == 0 && strcmp(pend, df->path) == 0;
    }
    idx_abort(t);
    if (named)
        return 0;
    fd = idx_fsck_open_segment(f->root, df->path, O_RDONLY, &info, &e);
    if (fd >= 0)
        close(fd);
    newest = !has_last || fd < 0 || info.start_us > last.start_us;
    if (newest && has_cam &&
        (pending || (f->live && st.st_mtim.tv_sec * CV_US_PER_S > f->now_us - WRITING_US)))
        ; /* being written, or left for the recorder's start-up recovery */
    else if (!has_cam) {
        idx_fsck_say(f, true, "%s: file without record (camera '%s' is not in the index)", df->path,
                     nm.camera);
        quarantine(f, df->path, "its camera is not in the index");
    } else if (fd < 0) {
        idx_fsck_say(f, true, "%s: file without record, not a readable segment: %s", df->path,
                     e.msg);
        quarantine(f, df->path, "no playable footage");
    } else {
        idx_fsck_say(f, true, "%s: file without record (%s to %s, %llu frames)", df->path,
                     utc(info.start_us, a), utc(info.end_us, b),
                     (unsigned long long)info.video_samples);
        if (newest)
            index_file(f, &cam, df->path, &info);
        else
            quarantine(f, df->path,
                       "older than its camera's newest record: it cannot enter the "
                       "hash chain in order");
    }
    lay_seg_info_release(&info);
    return 0;
}

/* Chain order for indexing: by "<camera>/<day>/<time>-<seq>..." (past "volumes/<vol>/"). */
static int cmp_chain_order(const void *pa, const void *pb)
{
    const char *a = (*(const struct idx_fsck_file *const *)pa)->path + 8;
    const char *b = (*(const struct idx_fsck_file *const *)pb)->path + 8;
    const char *x = strchr(a, '/'), *y = strchr(b, '/');

    return x && y ? strcmp(x, y) : strcmp(a, b);
}

static int check_unknown(struct idx_fsck_run *f, struct cv_err *err)
{
    const struct idx_fsck_file **cand;
    size_t nc = 0;
    int rc;

    for (size_t i = 0; i < f->nfiles; i++)
        nc += !f->files[i].seen;
    if (nc == 0)
        return 0;
    if (!(cand = malloc(nc * sizeof(*cand))))
        return cv_errf(err, CV_ENOMEM, "out of memory");
    nc = 0;
    for (size_t i = 0; i < f->nfiles; i++)
        if (!f->files[i].seen)
            cand[nc++] = &f->files[i];
    rc = idx_fsck_mark_queued(f, f->idx, err);
    if (rc == 0)
        qsort(cand, nc, sizeof(*cand), cmp_chain_order);
    for (size_t i = 0; rc == 0 && i < nc; i++)
        rc = unknown_file(f, cand[i], err);
    free(cand);
    return rc;
}

/* REPAIR: unlink the files of committed tombstones, then forget them (a transaction each). */
static int finish_deletions(struct idx_fsck_run *f, struct cv_err *err)
{
    struct idx_deleting *d = NULL;
    struct idx_txn *t = NULL;
    size_t nd = 0;
    int rc = idx_begin(f->idx, false, &t, err);

    if (rc == 0)
        rc = idx_deleting_list(t, DELETING_MAX, &d, &nd, err);
    idx_abort(t);
    for (size_t i = 0; rc == 0 && i < nd; i++) {
        char abs[PATH_MAX];
        if ((rc = lay_abs(f->root, d[i].path, abs, sizeof(abs), err)) < 0)
            break;
        if (unlink(abs) == 0) {
            cv_fsync_parent(abs, NULL);
            idx_fsck_say(f, false, "%s: deleted: tombstoned, its queued deletion is finished",
                         d[i].path);
        } else if (errno != ENOENT) {
            idx_fsck_say(f, true, "%s: cannot finish its queued deletion: %s", d[i].path,
                         strerror(errno));
            continue;
        }
        if ((rc = idx_begin(f->idx, true, &t, err)) == 0 &&
            (rc = idx_deleting_del(t, d[i].cam, d[i].start_us, err)) < 0)
            idx_abort(t);
        else if (rc == 0)
            rc = idx_commit(t, err);
    }
    free(d);
    return rc;
}

static int check(struct idx_fsck_run *f, struct cv_err *err)
{
    struct idx_camera *cams = NULL;
    struct idx_segment *buf = NULL;
    struct idx_txn *t = NULL;
    size_t ncams = 0;
    /* A check never writes: read-only, so it cannot block or upgrade beside a recorder. */
    int rc = idx_open(&f->idx, f->root, f->mode == IDX_FSCK_CHECK ? IDX_RDONLY : 0, err);

    if (rc == 0 && f->mode == IDX_FSCK_REPAIR)
        rc = finish_deletions(f, err);
    if (rc == 0)
        rc = idx_fsck_walk_disk(f, err);
    if (rc == 0)
        rc = idx_begin(f->idx, false, &t, err);
    if (rc == 0)
        rc = idx_camera_list(t, &cams, &ncams, err);
    idx_abort(t);
    if (rc == 0 && !(buf = malloc(BATCH * sizeof(*buf))))
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < ncams; i++)
        rc = check_camera(f, &cams[i], buf, err);
    if (rc == 0)
        rc = check_unknown(f, err);
    free(buf);
    free(cams);
    return rc;
}

int idx_fsck(const char *root, enum idx_fsck_mode mode, idx_fsck_report report, void *ctx,
             struct idx_fsck_counts *out, struct cv_err *err)
{
    struct idx_fsck_run f = {.root = root, .mode = mode, .report = report, .ctx = ctx, .n = out};
    int pid = 0, rc;

    memset(out, 0, sizeof(*out));
    f.now_us = cv_now_us();
    f.live = idx_in_use(root, &pid);
    if (f.live && mode != IDX_FSCK_CHECK)
        return cv_errf(err, CV_ESTATE,
                       "the index of '%s' is open by process %d: stop 'camvault "
                       "record', 'serve' and 'run' before fsck --%s",
                       root, pid, mode == IDX_FSCK_REPAIR ? "repair" : "rebuild");
    rc = mode == IDX_FSCK_REBUILD ? idx_fsck_rebuild(&f, err) : check(&f, err);
    idx_close(f.idx);
    idx_close(f.old);
    free(f.oldcams);
    for (size_t i = 0; i < f.nfiles; i++)
        free(f.files[i].path);
    free(f.files);
    return rc;
}
