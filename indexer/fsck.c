/*
 * fsck.c: the index against the disk: check, repair, rebuild (what each does: see fsck.h).
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
#include "indexer/idx.h"
#include "indexer/recover.h"
#include "common/banned.h"

#define BATCH 256                     /* records per read transaction */
#define COMMIT_EVERY 64               /* rebuild: changes per write transaction */
#define OVERLAP_US 100000             /* tolerated overlap (anchor corrections are <= 20 ms) */
#define NEAR_US (3600 * CV_US_PER_S)  /* a record starts this close to its file's name time */
#define WRITING_US (60 * CV_US_PER_S) /* a file being written is modified at least this often */
#define DELETING_MAX 65536            /* queued deletions looked at per run */
#define NOT_REPAIRABLE "; not repairable: evidence altered or damaged, left as it is"

struct dfile {
    char *path;  /* relative to ROOT, owned */
    bool seen;   /* a record names it */
    bool queued; /* its deletion is queued in `deleting` */
};

struct fsck {
    const char *root;
    enum idx_fsck_mode mode;
    idx_fsck_report report;
    void *ctx;
    struct idx_fsck_counts *n;
    bool live; /* CHECK: another process has the index open */
    int64_t now_us;
    struct idx *idx;            /* the index (REBUILD: the new one) */
    struct idx *old;            /* REBUILD: the old index; NULL when unreadable */
    struct idx_camera *oldcams; /* REBUILD: its cameras, id order */
    size_t noldcams;
    struct dfile *files; /* sorted by path */
    size_t nfiles, cap;
};

static void say(struct fsck *f, bool finding, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct fsck *f, bool finding, const char *fmt, ...)
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

static const char *unrepairable(const struct fsck *f)
{
    return f->mode == IDX_FSCK_REPAIR ? NOT_REPAIRABLE : "";
}

/*
 * Whether another process has ROOT/index open: each process with an LMDB environment open
 * holds a shared fcntl lock on the first byte of its lock.mdb (lmdb's mdb_env_excl_lock). Our
 * own process must not have it open: closing our descriptor would drop LMDB's lock.
 */
static bool index_in_use(const char *root, int *pid)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    char dir[PATH_MAX], path[PATH_MAX];
    bool used = false;
    int fd;

    if (lay_dir(root, "index", dir, sizeof(dir), NULL) < 0 ||
        cv_path_join(path, sizeof(path), dir, "lock.mdb", NULL) < 0 ||
        (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return false;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        used = true;
        *pid = (int)fl.l_pid;
    }
    close(fd);
    return used;
}

/* ---- the disk ---- */

static int cmp_dfile(const void *a, const void *b)
{
    return strcmp(((const struct dfile *)a)->path, ((const struct dfile *)b)->path);
}

static struct dfile *find_file(const struct fsck *f, const char *rel)
{
    struct dfile key = {.path = (char *)rel};

    return f->nfiles ? bsearch(&key, f->files, f->nfiles, sizeof(key), cmp_dfile) : NULL;
}

static int add_file(struct fsck *f, const char *rel, struct cv_err *err)
{
    if (f->nfiles == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 1024;
        struct dfile *nf = realloc(f->files, ncap * sizeof(*nf));
        if (!nf)
            return cv_errf(err, CV_ENOMEM, "out of memory listing %zu files", f->nfiles);
        f->files = nf;
        f->cap = ncap;
    }
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
static int walk(struct fsck *f, const char *rel, int depth, struct cv_err *err)
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
            say(f, true, "%s/%.40s...: path too long to check", rel, e->d_name);
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

static int walk_disk(struct fsck *f, struct cv_err *err)
{
    int rc = walk(f, "volumes", 0, err);

    if (f->nfiles)
        qsort(f->files, f->nfiles, sizeof(f->files[0]), cmp_dfile);
    f->n->files = f->nfiles;
    return rc;
}

/* Whether the walk found any file on the volume of segment path `rel` (else: not mounted?). */
static bool volume_has_files(const struct fsck *f, const char *rel)
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
static int open_segment(const char *root, const char *rel, int flags, struct lay_seg_info *info,
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
static void quarantine(struct fsck *f, const char *rel, const char *why)
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
        say(f, false, "%s: not repaired: cannot move it to quarantine/: %s", rel, e.msg);
        return;
    }
    cv_fsync_parent(dst, NULL);
    cv_fsync_parent(src, NULL);
    f->n->repaired++;
    say(f, false, "%s: moved to quarantine/%s (%s)", rel, strrchr(dst, '/') + 1, why);
}

/* ---- check and repair: records against files ---- */

/*
 * A record whose file is missing, read again in a fresh transaction first (retention may have
 * tombstoned it). REPAIR turns it into a tombstone (IDX_GAP_MISSING; the chain link stays) and
 * drops the queued unlink that comes with it, so a file that comes back is never deleted; not
 * when the walk found no file at all on its volume (a disk not mounted is not lost footage).
 */
static int record_without_file(struct fsck *f, const struct idx_segment *s, const char *abs,
                               struct cv_err *err)
{
    struct idx_segment cur;
    struct idx_txn *t = NULL;
    char when[40], detail[IDX_TEXT_MAX];
    int rc = idx_begin(f->idx, f->mode == IDX_FSCK_REPAIR, &t, err);

    if (rc < 0 || idx_segment_get(t, s->cam, s->start_us, &cur, NULL) != 0 ||
        strcmp(cur.path, s->path) != 0 || access(abs, F_OK) == 0)
        goto out; /* tombstoned, or the file is back */
    say(f, true, "%s: record without file (%s, %llu bytes)", s->path, utc(s->start_us, when),
        (unsigned long long)s->bytes);
    if (f->mode != IDX_FSCK_REPAIR)
        goto out;
    if (!volume_has_files(f, s->path)) {
        say(f, false, "%s: not repaired: no file at all on its volume (not mounted?)", s->path);
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
        say(f, false, "%s: tombstoned as missing; its chain link stays in the index", s->path);
    }
out:
    idx_abort(t);
    return rc;
}

/*
 * Check one record against its file: present, same size, same SHA-256 (the whole file,
 * streamed), readable, and the scan's start, end and frames equal to the record's. At most one
 * finding per record; a file that cannot be read is a finding, not an error.
 */
static int check_record(struct fsck *f, const struct idx_segment *s, struct cv_err *err)
{
    struct dfile *df = find_file(f, s->path);
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
        say(f, true, "%s: cannot read: %s", s->path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size != s->bytes) {
        say(f, true, "%s: %s: index says %llu bytes, file has %llu%s", s->path,
            (uint64_t)st.st_size < s->bytes ? "truncated" : "size mismatch",
            (unsigned long long)s->bytes, (unsigned long long)st.st_size, unrepairable(f));
        goto out;
    }
    if (lay_sha256_fd(fd, s->bytes, sha, &e) < 0) {
        say(f, true, "%s: cannot read: %s", s->path, e.msg);
        goto out;
    }
    cv_hex(s->sha256, 32, want);
    cv_hex(sha, 32, got);
    if (memcmp(sha, s->sha256, 32) != 0)
        say(f, true, "%s: hash mismatch: index says %s, file is %s%s", s->path, want, got,
            unrepairable(f));
    else if (lay_seg_scan(fd, &info, &e) < 0)
        say(f, true, "%s: not a readable segment: %s%s", s->path, e.msg, unrepairable(f));
    else if (info.start_us != s->start_us || info.end_us != s->end_us ||
             info.video_samples != s->frames)
        say(f, true,
            "%s: record disagrees with the file: index says %s to %s, %u frames; file "
            "has %s to %s, %llu frames%s",
            s->path, utc(s->start_us, a), utc(s->end_us, b), s->frames, utc(info.start_us, c),
            utc(info.end_us, d), (unsigned long long)info.video_samples, unrepairable(f));
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
static int check_camera(struct fsck *f, const struct idx_camera *c, struct idx_segment *buf,
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
                say(f, true, "%s: overlaps %s by %lld ms%s", s->path, prev,
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
static int mark_queued(struct fsck *f, struct idx *idx, struct cv_err *err)
{
    struct idx_deleting *d = NULL;
    struct idx_txn *t = NULL;
    size_t nd = 0;
    int rc = idx_begin(idx, false, &t, err);

    if (rc == 0)
        rc = idx_deleting_list(t, DELETING_MAX, &d, &nd, err);
    for (size_t i = 0; i < nd; i++) {
        struct dfile *df = find_file(f, d[i].path);
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
static void index_file(struct fsck *f, const struct idx_camera *cam, const char *rel,
                       const struct lay_seg_info *info)
{
    struct idx_segment seg;
    struct cv_err e = {""};

    if (f->mode != IDX_FSCK_REPAIR)
        return;
    if (idx_recover_segment(f->idx, f->root, cam, rel, &seg, &e) < 0) {
        say(f, false, "%s: not repaired: %s", rel, e.msg);
        return;
    }
    f->n->repaired++;
    if (info->complete_bytes < info->file_bytes)
        say(f, false,
            "%s: indexed, after cutting %llu torn bytes after its last complete "
            "fragment",
            rel, (unsigned long long)(info->file_bytes - info->complete_bytes));
    else
        say(f, false, "%s: indexed", rel);
}

/*
 * A file no record named during the record pass. Looked up again in a fresh transaction: a
 * record committed since, a file being written (see the top of this file) or a queued deletion
 * is not a finding. REPAIR indexes a readable file newer than every record of its camera (the
 * chain is in time order) and moves anything else to quarantine/.
 */
static int unknown_file(struct fsck *f, const struct dfile *df, struct cv_err *err)
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
        say(f, true, "%s: not a segment file", df->path);
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
    fd = open_segment(f->root, df->path, O_RDONLY, &info, &e);
    if (fd >= 0)
        close(fd);
    newest = !has_last || fd < 0 || info.start_us > last.start_us;
    if (newest && has_cam &&
        (pending || (f->live && st.st_mtim.tv_sec * CV_US_PER_S > f->now_us - WRITING_US)))
        ; /* being written, or left for the recorder's start-up recovery */
    else if (!has_cam) {
        say(f, true, "%s: file without record (camera '%s' is not in the index)", df->path,
            nm.camera);
        quarantine(f, df->path, "its camera is not in the index");
    } else if (fd < 0) {
        say(f, true, "%s: file without record, not a readable segment: %s", df->path, e.msg);
        quarantine(f, df->path, "no playable footage");
    } else {
        say(f, true, "%s: file without record (%s to %s, %llu frames)", df->path,
            utc(info.start_us, a), utc(info.end_us, b), (unsigned long long)info.video_samples);
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
    const char *a = (*(const struct dfile *const *)pa)->path + 8;
    const char *b = (*(const struct dfile *const *)pb)->path + 8;
    const char *x = strchr(a, '/'), *y = strchr(b, '/');

    return x && y ? strcmp(x, y) : strcmp(a, b);
}

static int check_unknown(struct fsck *f, struct cv_err *err)
{
    const struct dfile **cand;
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
    rc = mark_queued(f, f->idx, err);
    if (rc == 0)
        qsort(cand, nc, sizeof(*cand), cmp_chain_order);
    for (size_t i = 0; rc == 0 && i < nc; i++)
        rc = unknown_file(f, cand[i], err);
    free(cand);
    return rc;
}

/* REPAIR: unlink the files of committed tombstones, then forget them (a transaction each). */
static int finish_deletions(struct fsck *f, struct cv_err *err)
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
            say(f, false, "%s: deleted: tombstoned, its queued deletion is finished", d[i].path);
        } else if (errno != ENOENT) {
            say(f, true, "%s: cannot finish its queued deletion: %s", d[i].path, strerror(errno));
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

static int check(struct fsck *f, struct cv_err *err)
{
    struct idx_camera *cams = NULL;
    struct idx_segment *buf = NULL;
    struct idx_txn *t = NULL;
    size_t ncams = 0;
    int rc = idx_open(&f->idx, f->root, 0, err);

    if (rc == 0 && f->mode == IDX_FSCK_REPAIR)
        rc = finish_deletions(f, err);
    if (rc == 0)
        rc = walk_disk(f, err);
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
static int collect(struct fsck *f, struct rb_ent **out, size_t *n, struct cv_err *err)
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
            say(f, true, "%s: not a segment file: left in place", p);
            continue;
        }
        if ((fd = open_segment(f->root, p, O_RDONLY, &info, &why)) < 0) {
            say(f, true, "%s: not a readable segment: %s: not indexed, left in place", p, why.msg);
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
    struct fsck *f;
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
    struct fsck *f = r->f;
    struct lay_seg_info info;
    struct idx_segment seg, was;
    struct idx_txn *w;
    struct cv_err why = {""};
    int rc = 0, fd = open_segment(f->root, e->path, O_RDWR, &info, &why);

    if (fd < 0) {
        say(f, true, "%s: not a readable segment: %s: not indexed", e->path, why.msg);
        return 0;
    }
    if (info.complete_bytes < info.file_bytes) {
        if (ftruncate(fd, (off_t)info.complete_bytes) < 0 || fsync(fd) < 0) {
            say(f, true, "%s: cannot cut its torn tail: %s: not indexed", e->path, strerror(errno));
            goto out;
        }
        f->n->repaired++;
        say(f, true, "%s: torn tail: cut %llu bytes after its last complete fragment", e->path,
            (unsigned long long)(info.file_bytes - info.complete_bytes));
        lay_seg_info_release(&info); /* again: a file cut back to its mfra is a closed one */
        if (lay_seg_scan(fd, &info, &why) < 0) {
            say(f, true, "%s: not a readable segment: %s: not indexed", e->path, why.msg);
            goto out;
        }
    }
    idx_segment_from_scan(&info, r->c->num, e->path, &seg);
    if (lay_sha256_fd(fd, info.complete_bytes, seg.sha256, &why) < 0) {
        say(f, true, "%s: cannot read: %s: not indexed", e->path, why.msg);
        goto out;
    }
    rc = rb_txn(r, &w);
    if (rc == 0)
        rc = idx_segment_put(w, r->c->id, &seg, info.frags, info.nfrags, r->err);
    if (rc == CV_EINVAL) { /* out of order; nothing was written */
        say(f, true, "%s: not indexed: %s", e->path, r->err->msg);
        rc = 0;
    } else if (rc == 0) {
        f->n->records++;
        if (r->oldt && idx_segment_get(r->oldt, r->oldnum, seg.start_us, &was, NULL) == 0 &&
            (was.bytes != seg.bytes || memcmp(was.sha256, seg.sha256, 32) != 0))
            say(f, true,
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
    struct dfile *df = find_file(r->f, seg.path);
    struct idx_txn *w;
    int rc = rb_flush(r, seg.start_us);

    seg.cam = r->c->num;
    if (rc == 0)
        rc = rb_txn(r, &w);
    if (rc == 0)
        rc = idx_segment_put(w, r->c->id, &seg, NULL, 0, r->err);
    if (rc == CV_EINVAL) {
        say(r->f, true, "%s: tombstone not kept: %s", seg.path, r->err->msg);
        return 0;
    }
    if (rc == 0)
        rc = idx_segment_tombstone(w, seg.cam, seg.start_us, ts->reason, ts->detail, ts->deleted_us,
                                   NULL, r->err);
    if (rc == 0 && !(df && df->queued))
        rc = idx_deleting_del(w, seg.cam, seg.start_us, r->err);
    while (r->next < r->n && r->e[r->next].start_us == seg.start_us &&
           strcmp(r->e[r->next].path, seg.path) == 0)
        r->next++;
    if (rc == 0 && df && !df->queued)
        say(r->f, true, "%s: tombstoned (%s) but still on disk: not indexed, left in place",
            seg.path, idx_gap_reason_name(ts->reason));
    return rc == 0 ? rb_done(r) : rc;
}

/* An old record whose file is gone cannot be rebuilt: say so (--repair keeps it as a tombstone). */
static int rb_gone(void *ctx, const struct idx_segment *s)
{
    struct rb *r = ctx;

    if (!find_file(r->f, s->path))
        say(r->f, true,
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
static int rebuild_camera(struct fsck *f, const struct idx_camera *c, const struct idx_camera *oc,
                          const struct rb_ent *e, size_t n, struct cv_err *err)
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
 * Copy cameras (in number order, so numbers stay the same where they were dense), volumes and
 * holds from the old index in one write transaction, and note its queued deletions. An old
 * index that cannot be read is dropped (reported): the cameras then come from the files.
 */
static int copy_settings(struct fsck *f, struct cv_err *err)
{
    struct idx_camera *bynum = NULL;
    struct idx_volume *v = NULL;
    struct idx_hold *h = NULL;
    struct idx_txn *t = NULL;
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
        rc = mark_queued(f, f->old, &why);
    if (rc < 0) {
        say(f, false, "index: cannot be read (%s): cameras are recreated from the files", why.msg);
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
            say(f, false, "hold %llu: copied as hold %llu", (unsigned long long)id,
                (unsigned long long)h[i].id);
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
static int add_disk_cameras(struct fsck *f, const struct rb_ent *e, size_t n, struct cv_err *err)
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
            say(f, false,
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
static int rebuild_all(struct fsck *f, const struct rb_ent *e, size_t n, struct cv_err *err)
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
static int rebuild(struct fsck *f, struct cv_err *err)
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
    rc = walk_disk(f, err);
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
        say(f, false, "index: cannot be read (%s): cameras are recreated from the files", why.msg);
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
        say(f, false, "index: rebuilt with %zu records; the old index is kept as index.old-%s",
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

int idx_fsck(const char *root, enum idx_fsck_mode mode, idx_fsck_report report, void *ctx,
             struct idx_fsck_counts *out, struct cv_err *err)
{
    struct fsck f = {.root = root, .mode = mode, .report = report, .ctx = ctx, .n = out};
    int pid = 0, rc;

    memset(out, 0, sizeof(*out));
    f.now_us = cv_now_us();
    f.live = index_in_use(root, &pid);
    if (f.live && mode != IDX_FSCK_CHECK)
        return cv_errf(err, CV_ESTATE,
                       "the index of '%s' is open by process %d: stop 'camvault "
                       "record', 'serve' and 'run' before fsck --%s",
                       root, pid, mode == IDX_FSCK_REPAIR ? "repair" : "rebuild");
    rc = mode == IDX_FSCK_REBUILD ? rebuild(&f, err) : check(&f, err);
    idx_close(f.idx);
    idx_close(f.old);
    free(f.oldcams);
    for (size_t i = 0; i < f.nfiles; i++)
        free(f.files[i].path);
    free(f.files);
    return rc;
}
