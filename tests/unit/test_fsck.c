/*
 * test_fsck.c: index versus disk (indexer/fsck.h).
 *
 * Each test builds a data root with camera cam1 and a few synthetic segments of 3 fragments
 * (2 s each) starting 6 s apart, indexed the way the recorder indexes them (scan, hash, put),
 * then damages the disk or the index the way the world does and checks what fsck says about
 * it, what --repair does, and that --rebuild gives back the same records.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/fsck.h"
#include "indexer/recover.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define NSEG 4
#define SEG_US (6 * CV_US_PER_S)
#define DAY "volumes/main/cam1/2026-11-22/"

/* What fsck reported: every line, newline-separated. */
struct lines {
    char text[16384];
    size_t len;
    int n;
};

struct fenv {
    char root[PATH_MAX];
    struct idx_camera cam;
    struct idx_segment seg[NSEG + 2];
    size_t nseg;
    struct lines l;           /* what the last run() reported */
    struct idx_fsck_counts n; /* and its counts */
    struct idx *idx;          /* the index while fenv_begin's transaction is open, else NULL */
    struct idx_txn *t;        /* the test's one transaction at a time */
    struct cv_err err;        /* for the test's calls */
};

static void collect_line(void *ctx, const char *line)
{
    struct lines *l = ctx;
    int w = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);

    if (w > 0 && (size_t)w < sizeof(l->text) - l->len)
        l->len += (size_t)w;
    l->n++;
}

/* A segment of 3 fragments of 50 frames (2 s each) whose first frame is at start_us. */
static void make_segment(struct fx_segment *s, int64_t start_us)
{
    fx_segment_build(s, 0, true);
    for (int i = 0; i < 3; i++)
        fx_fragment(&s->buf, start_us + i * 2 * CV_US_PER_S, (uint64_t)i * 50 * FX_SAMPLE_DUR, 50);
    if (!cv_buf_ok(&s->buf))
        unit_fail(__FILE__, __LINE__, "segment does not fit its buffer");
}

/* ROOT/<rel> holding a segment starting at start_us; 0 or -1. */
static int write_segment(const char *root, const char *rel, int64_t start_us)
{
    struct fx_segment s;
    char path[PATH_MAX], dir[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    make_segment(&s, start_us);
    rc = cv_mkdir_p(dir, 0755, NULL) == 0 ? fx_write_file(path, s.buf.data, s.buf.len) : -1;
    fx_segment_release(&s);
    return rc;
}

static void seg_name(size_t i, char *rel)
{
    snprintf(rel, LAY_RELPATH_MAX, DAY "0930%02u-0.mp4", (unsigned)(i * 6));
}

/* Index ROOT/<rel> as the recorder does: scan, hash the whole file, put. */
static int index_segment(struct idx_txn *t, const char *root, const struct idx_camera *cam,
                         const char *rel, struct idx_segment *out, struct cv_err *err)
{
    struct lay_seg_info info;
    char path[PATH_MAX];
    int fd, rc;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if ((fd = open(path, O_RDONLY)) < 0)
        return cv_errf(err, CV_EIO, "open '%s': %s", path, strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    if (rc == 0) {
        idx_segment_from_scan(&info, cam->num, rel, out);
        rc = lay_sha256_fd(fd, info.file_bytes, out->sha256, err);
        if (rc == 0)
            rc = idx_segment_put(t, cam->id, out, info.frags, info.nfrags, err);
        lay_seg_info_release(&info);
    }
    close(fd);
    return rc;
}

/* A data root with cam1 and nseg indexed segments 6 s apart; the index is closed after. */
static int fenv_open(struct fenv *e, size_t nseg)
{
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    int rc;

    memset(e, 0, sizeof(*e));
    if (fx_root_open(e->root, &idx) < 0)
        return -1;
    fx_camera(&e->cam, FX_CAMERA, "main", 30);
    rc = idx_begin(idx, true, &t, &err);
    if (rc == 0)
        rc = idx_camera_add(t, &e->cam, &err);
    for (size_t i = 0; rc == 0 && i < nseg; i++) {
        char rel[LAY_RELPATH_MAX];
        seg_name(i, rel);
        if (write_segment(e->root, rel, FX_START_US + (int64_t)i * SEG_US) < 0)
            rc = cv_errf(&err, CV_EIO, "cannot write '%s'", rel);
        else
            rc = index_segment(t, e->root, &e->cam, rel, &e->seg[i], &err);
    }
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    idx_abort(t);
    idx_close(idx);
    e->nseg = nseg;
    if (rc < 0) {
        unit_fail(__FILE__, __LINE__, "setup: %s", err.msg);
        fx_rmtree(e->root);
        return -1;
    }
    return 0;
}

static void fenv_close(struct fenv *e)
{
    fx_rmtree(e->root);
}

static void abs_of(const struct fenv *e, const char *rel, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", e->root, rel);
}

/* Run fsck; the run itself must succeed. */
/* fsck the root in `mode`: its lines into e->l, its counts into e->n. */
static void run(struct fenv *e, enum idx_fsck_mode mode)
{
    struct cv_err err = {""};

    memset(&e->l, 0, sizeof(e->l));
    CHECK_OK(idx_fsck(e->root, mode, collect_line, &e->l, &e->n, &err), &err);
}

/* Flip one byte in the middle of ROOT/<rel> (inside an mdat: the file still scans). */
static void flip_byte(const struct fenv *e, const char *rel)
{
    char path[PATH_MAX];
    uint8_t c;
    off_t at;
    int fd;

    abs_of(e, rel, path);
    fd = open(path, O_RDWR);
    at = (off_t)fx_file_size(path) - 20;
    CHECK(fd >= 0 && pread(fd, &c, 1, at) == 1);
    c ^= 0x55;
    CHECK(fd >= 0 && pwrite(fd, &c, 1, at) == 1);
    if (fd >= 0)
        close(fd);
}

void test_fsck_clean(void)
{
    struct fenv e;

    if (fenv_open(&e, NSEG) < 0)
        return;
    run(&e, IDX_FSCK_CHECK);
    CHECK_EQ_INT(e.n.files, NSEG);
    CHECK_EQ_INT(e.n.records, NSEG);
    CHECK_EQ_INT(e.n.findings, 0);
    CHECK_EQ_INT(e.n.repaired, 0);
    CHECK_MSG(e.l.n == 0, "a clean root printed: %s", e.l.text);
    /* An empty volume directory and an empty day are not findings either. */
    {
        char dir[PATH_MAX];
        abs_of(&e, "volumes/spare/cam9/2026-11-23", dir);
        CHECK_EQ_INT(cv_mkdir_p(dir, 0755, NULL), 0);
    }
    run(&e, IDX_FSCK_CHECK);
    CHECK_EQ_INT(e.n.findings, 0);
    fenv_close(&e);
}

/* One kind of damage, applied to a root of 3 segments (the middle one is DAY 093006-0.mp4). */
struct damage {
    const char *name;
    const char *path; /* the file the finding must name */
    const char *says; /* what it must say */
    void (*apply)(const struct fenv *e);
};

static void d_flip(const struct fenv *e)
{
    flip_byte(e, DAY "093006-0.mp4");
}

static void d_truncate(const struct fenv *e)
{
    char p[PATH_MAX];

    abs_of(e, DAY "093006-0.mp4", p);
    CHECK_EQ_INT(truncate(p, fx_file_size(p) - 100), 0);
}

static void d_append(const struct fenv *e)
{
    char p[PATH_MAX];
    int fd;

    abs_of(e, DAY "093006-0.mp4", p);
    fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "junk", 4) == 4);
    if (fd >= 0)
        close(fd);
}

static void d_delete(const struct fenv *e)
{
    char p[PATH_MAX];

    abs_of(e, DAY "093006-0.mp4", p);
    CHECK_EQ_INT(unlink(p), 0);
}

static void d_stray(const struct fenv *e)
{
    char p[PATH_MAX];

    abs_of(e, DAY "notes.txt", p);
    CHECK_EQ_INT(fx_write_file(p, "hello", 5), 0);
}

static void d_unknown_old(const struct fenv *e)
{
    CHECK_EQ_INT(write_segment(e->root, DAY "092900-0.mp4", FX_START_US - 60 * CV_US_PER_S), 0);
}

static void d_unknown_garbage(const struct fenv *e)
{
    char p[PATH_MAX];

    abs_of(e, DAY "093100-0.mp4", p);
    CHECK_EQ_INT(fx_write_file(p, "not an mp4 at all", 17), 0);
}

static void d_other_camera(const struct fenv *e)
{
    CHECK_EQ_INT(write_segment(e->root, "volumes/main/cam2/2026-11-22/093000-0.mp4", FX_START_US),
                 0);
}

void test_fsck_each_damage(void)
{
    static const struct damage table[] = {
        {"flip", DAY "093006-0.mp4", "hash mismatch: index says ", d_flip},
        {"truncate", DAY "093006-0.mp4", "truncated: index says ", d_truncate},
        {"append", DAY "093006-0.mp4", "size mismatch", d_append},
        {"delete", DAY "093006-0.mp4", "record without file", d_delete},
        {"stray", DAY "notes.txt", "not a segment file", d_stray},
        {"unknown", DAY "092900-0.mp4", "file without record (2026-11-22T09:29:00", d_unknown_old},
        {"garbage", DAY "093100-0.mp4", "not a readable segment", d_unknown_garbage},
        {"camera", "volumes/main/cam2/2026-11-22/093000-0.mp4", "camera 'cam2' is not in the index",
         d_other_camera},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct damage *d = &table[i];
        char want[LAY_RELPATH_MAX + 8];
        struct fenv e;
        if (fenv_open(&e, 3) < 0)
            return;
        d->apply(&e);
        run(&e, IDX_FSCK_CHECK);
        snprintf(want, sizeof(want), "%s: ", d->path);
        CHECK_MSG(e.n.findings == 1 && e.l.n == 1, "%s: %zu findings, %d lines: %s", d->name,
                  e.n.findings, e.l.n, e.l.text);
        CHECK_MSG(strncmp(e.l.text, want, strlen(want)) == 0 && strstr(e.l.text, d->says),
                  "%s: want \"%s...%s\", got: %s", d->name, want, d->says, e.l.text);
        CHECK_EQ_INT(e.n.records, 3);
        fenv_close(&e);
    }
}

/* What the index holds for cam1 after a run. */
struct seen {
    struct idx_segment seg[16];
    size_t n;
    struct idx_tombstone tomb[4];
    size_t ntomb;
};

static int seen_seg(void *ctx, const struct idx_segment *s)
{
    struct seen *v = ctx;

    if (v->n < 16)
        v->seg[v->n++] = *s;
    return 0;
}

static int seen_tomb(void *ctx, const struct idx_tombstone *t)
{
    struct seen *v = ctx;

    if (v->ntomb < 4)
        v->tomb[v->ntomb++] = *t;
    return 0;
}

/*
 * Open e's index (as e->idx) and begin a transaction on it: the transaction, or NULL (the failure
 * recorded, the index closed) when either fails. End it with fenv_end.
 */
static struct idx_txn *fenv_begin(struct fenv *e, bool write)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;

    e->idx = NULL;
    CHECK_OK(idx_open(&e->idx, e->root, 0, &err), &err);
    if (e->idx && idx_begin(e->idx, write, &t, &err) == 0)
        return t;
    if (e->idx)
        unit_fail(__FILE__, __LINE__, "idx_begin: %s", err.msg);
    idx_close(e->idx);
    e->idx = NULL;
    return NULL;
}

/* End fenv_begin's transaction t (NULL-safe): commit it (write), else abort it; close e->idx. */
static void fenv_end(struct fenv *e, struct idx_txn *t, bool write)
{
    struct cv_err err = {""};

    if (t && write)
        CHECK_OK(idx_commit(t, &err), &err);
    else
        idx_abort(t);
    idx_close(e->idx);
    e->idx = NULL;
}

static void read_index(struct fenv *e, struct seen *v, struct idx_deleting **del, size_t *ndel)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;

    memset(v, 0, sizeof(*v));
    t = fenv_begin(e, false);
    if (t) {
        CHECK_OK(idx_segment_iter(t, e->seg[0].cam, INT64_MIN, INT64_MAX, seen_seg, v, &err), &err);
        CHECK_OK(idx_tombstone_iter(t, e->seg[0].cam, INT64_MIN, INT64_MAX, seen_tomb, v, &err),
                 &err);
        CHECK_OK(idx_deleting_list(t, 16, del, ndel, &err), &err);
    }
    fenv_end(e, t, false);
}

void test_fsck_repair(void)
{
    static const char *q_stray = "quarantine/volumes_main_cam1_2026-11-22_notes.txt";
    static const char *q_old = "quarantine/volumes_main_cam1_2026-11-22_092900-0.mp4";
    struct idx_deleting *del = NULL;
    struct seen v;
    struct fenv e;
    size_t ndel = 0;
    char p[PATH_MAX];

    if (fenv_open(&e, NSEG) < 0)
        return;
    flip_byte(&e, e.seg[1].path);
    abs_of(&e, e.seg[2].path, p);
    CHECK_EQ_INT(unlink(p), 0);
    d_stray(&e);
    d_unknown_old(&e);
    /* Newer than every record: the recorder died before committing it (a torn tail too). */
    CHECK_EQ_INT(write_segment(e.root, DAY "093100-0.mp4", FX_START_US + 60 * CV_US_PER_S), 0);
    abs_of(&e, DAY "093100-0.mp4", p);
    {
        int fd = open(p, O_WRONLY | O_APPEND);
        CHECK(fd >= 0 && write(fd, "\0\0\0\x40moof", 8) == 8);
        if (fd >= 0)
            close(fd);
    }

    run(&e, IDX_FSCK_CHECK);
    CHECK_EQ_INT(e.n.findings, 5);
    CHECK_EQ_INT(e.n.repaired, 0);
    CHECK_CONTAINS(e.l.text, DAY "093006-0.mp4: hash mismatch");
    CHECK_CONTAINS(e.l.text, DAY "093012-0.mp4: record without file");
    CHECK_CONTAINS(e.l.text, DAY "notes.txt: not a segment file");
    CHECK_CONTAINS(e.l.text, DAY "092900-0.mp4: file without record");
    CHECK_CONTAINS(e.l.text, DAY "093100-0.mp4: file without record");

    run(&e, IDX_FSCK_REPAIR);
    CHECK_EQ_INT(e.n.findings, 5);
    CHECK_EQ_INT(e.n.repaired, 4);
    CHECK_CONTAINS(e.l.text, DAY "093006-0.mp4: hash mismatch");
    CHECK_CONTAINS(e.l.text, "not repairable: evidence altered or damaged");
    CHECK_CONTAINS(e.l.text, DAY "093012-0.mp4: tombstoned as missing");
    CHECK_CONTAINS(e.l.text, DAY "notes.txt: moved to quarantine/");
    CHECK_CONTAINS(e.l.text, DAY "092900-0.mp4: moved to quarantine/");
    CHECK_CONTAINS(e.l.text, DAY "093100-0.mp4: indexed, after cutting 8 torn bytes");
    /* Nothing deleted: moved, indexed, or left as it was. */
    abs_of(&e, q_stray, p);
    CHECK_EQ_INT(fx_file_size(p), 5);
    abs_of(&e, q_old, p);
    CHECK(fx_file_size(p) > 0);
    abs_of(&e, e.seg[1].path, p);
    CHECK(fx_file_size(p) > 0);

    read_index(&e, &v, &del, &ndel);
    CHECK_EQ_INT(v.n, NSEG); /* 3 left + the one indexed */
    CHECK_EQ_INT(v.ntomb, 1);
    if (v.ntomb == 1) {
        CHECK_EQ_STR(v.tomb[0].seg.path, e.seg[2].path);
        CHECK_EQ_INT(v.tomb[0].reason, IDX_GAP_MISSING);
        CHECK_CONTAINS(v.tomb[0].detail, "file missing, found by fsck at ");
        CHECK_EQ_MEM(v.tomb[0].seg.chain, e.seg[2].chain, 32);
    }
    CHECK_EQ_INT(ndel, 0); /* a missing file is never queued for unlinking */
    free(del);
    if (v.n == NSEG) {
        CHECK_EQ_STR(v.seg[3].path, DAY "093100-0.mp4");
        CHECK(v.seg[3].flags & IDX_SEG_RECOVERED);
        CHECK_EQ_MEM(v.seg[1].sha256, e.seg[1].sha256, 32); /* the record was not "fixed" */
    }

    run(&e, IDX_FSCK_CHECK);
    CHECK_EQ_INT(e.n.findings, 1);
    CHECK_MSG(e.l.n == 1 && strncmp(e.l.text, DAY "093006-0.mp4: hash mismatch", 41) == 0,
              "second check: %s", e.l.text);
    fenv_close(&e);
}

/* A tombstoned file not yet unlinked is no finding; --repair finishes the deletion. */
void test_fsck_queued_deletion(void)
{
    struct idx_deleting *del = NULL;
    struct seen v;
    struct fenv e;
    size_t ndel = 0;
    char p[PATH_MAX];

    if (fenv_open(&e, 3) < 0)
        return;
    e.t = fenv_begin(&e, true);
    if (e.t) {
        CHECK_OK(idx_segment_tombstone(e.t, e.seg[0].cam, e.seg[0].start_us, IDX_GAP_RETENTION,
                                       "older than 30 days", FX_START_US, NULL, &e.err),
                 &e.err);
    }
    fenv_end(&e, e.t, true);
    run(&e, IDX_FSCK_CHECK);
    CHECK_MSG(e.n.findings == 0 && e.l.n == 0, "queued deletion reported: %s", e.l.text);
    CHECK_EQ_INT(e.n.records, 2);

    run(&e, IDX_FSCK_REPAIR);
    CHECK_EQ_INT(e.n.findings, 0);
    CHECK_CONTAINS(e.l.text, DAY "093000-0.mp4: deleted: tombstoned");
    abs_of(&e, e.seg[0].path, p);
    CHECK_EQ_INT(fx_file_size(p), -1);
    read_index(&e, &v, &del, &ndel);
    CHECK_EQ_INT(ndel, 0);
    CHECK_EQ_INT(v.ntomb, 1);
    free(del);
    fenv_close(&e);
}

/*
 * A file that overlaps the one before it is indexed moved after it (IDX_SEG_SHIFTED, see
 * idx_segment_put): no overlap in the index, and fsck accepts the moved record.
 */
void test_fsck_overlap(void)
{
    struct idx_segment s;
    struct fenv e;
    const char *rel = DAY "093003-0.mp4";

    if (fenv_open(&e, 1) < 0)
        return;
    CHECK_EQ_INT(write_segment(e.root, rel, FX_START_US + 3 * CV_US_PER_S), 0);
    e.t = fenv_begin(&e, true);
    if (e.t) {
        CHECK_OK(index_segment(e.t, e.root, &e.cam, rel, &s, &e.err), &e.err);
    }
    fenv_end(&e, e.t, true);
    CHECK_EQ_INT(s.flags & IDX_SEG_SHIFTED, IDX_SEG_SHIFTED);
    CHECK_EQ_INT(s.start_us, e.seg[0].end_us);
    CHECK_MSG(s.recv_start_us >= FX_START_US + 3 * CV_US_PER_S &&
                  s.recv_start_us < FX_START_US + 4 * CV_US_PER_S,
              "recv_start_us %lld is not the file's receipt", (long long)s.recv_start_us);
    run(&e, IDX_FSCK_CHECK);
    CHECK_MSG(e.n.findings == 0, "findings: %s", e.l.text);
    CHECK_EQ_INT(e.n.records, 2);
    fenv_close(&e);
}

/* REPAIR and REBUILD refuse while another process has the index open; CHECK runs. */
void test_fsck_refuses_while_open(void)
{
    struct fenv e;
    int go[2], ready[2], status;
    char c;
    pid_t pid;

    if (fenv_open(&e, 1) < 0)
        return;
    CHECK_EQ_INT(pipe(go), 0);
    CHECK_EQ_INT(pipe(ready), 0);
    pid = fork();
    if (pid == 0) {
        struct idx *idx = NULL;
        close(go[1]);
        if (idx_open(&idx, e.root, 0, NULL) == 0 && write(ready[1], "r", 1) == 1)
            (void)!read(go[0], &c, 1); /* until the parent is done */
        idx_close(idx);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    CHECK(read(ready[0], &c, 1) == 1);
    CHECK_EQ_INT(idx_fsck(e.root, IDX_FSCK_REPAIR, NULL, NULL, &e.n, &e.err), CV_ESTATE);
    CHECK_CONTAINS(e.err.msg, "is open by process");
    CHECK_EQ_INT(idx_fsck(e.root, IDX_FSCK_REBUILD, NULL, NULL, &e.n, &e.err), CV_ESTATE);
    CHECK_OK(idx_fsck(e.root, IDX_FSCK_CHECK, NULL, NULL, &e.n, &e.err), &e.err);
    CHECK_EQ_INT(e.n.findings, 0);
    close(go[1]);
    waitpid(pid, &status, 0);
    close(ready[0]);
    CHECK_OK(idx_fsck(e.root, IDX_FSCK_REPAIR, NULL, NULL, &e.n, &e.err), &e.err);
    fenv_close(&e);
}

static void check_same_record(const struct idx_segment *got, const struct idx_segment *want)
{
    fx_check_segment(got, want);
}

/* The name of ROOT/index.old-*, or "" (into out[256]). */
static void find_old_index(const struct fenv *e, char *out)
{
    struct dirent *d;
    DIR *dir = opendir(e->root);

    out[0] = '\0';
    while (dir && (d = readdir(dir)) != NULL)
        if (strncmp(d->d_name, "index.old-", 10) == 0)
            cv_strlcpy(out, d->d_name, 256);
    if (dir)
        closedir(dir);
}

/*
 * --rebuild of a root whose oldest segment was deleted by retention: the same records, field by
 * field (the chain too, thanks to the replayed tombstone), the same fragment tables, the
 * tombstone kept, the old index kept, and a clean check afterwards.
 */
void test_fsck_rebuild_same_records(void)
{
    struct idx_deleting *del = NULL;
    struct lay_seg_frag *fa = NULL, *fb = NULL;
    struct idx_camera cam;
    struct seen v;
    struct fenv e;
    size_t ndel = 0, na = 0, nb = 0;
    char p[PATH_MAX], old[256];

    if (fenv_open(&e, NSEG) < 0)
        return;
    e.t = fenv_begin(&e, true);
    if (e.t) {
        CHECK_OK(idx_fragments_get(e.t, e.seg[2].cam, e.seg[2].start_us, &fa, &na, &e.err), &e.err);
        CHECK_OK(idx_segment_tombstone(e.t, e.seg[0].cam, e.seg[0].start_us, IDX_GAP_RETENTION,
                                       "older than 30 days", FX_START_US, NULL, &e.err),
                 &e.err);
        CHECK_OK(idx_deleting_del(e.t, e.seg[0].cam, e.seg[0].start_us, &e.err), &e.err);
    }
    fenv_end(&e, e.t, true);
    abs_of(&e, e.seg[0].path, p);
    CHECK_EQ_INT(unlink(p), 0);

    run(&e, IDX_FSCK_REBUILD);
    CHECK_EQ_INT(e.n.findings, 0);
    CHECK_EQ_INT(e.n.files, NSEG - 1);
    CHECK_EQ_INT(e.n.records, NSEG - 1);
    CHECK_CONTAINS(e.l.text, "index: rebuilt with 3 records; the old index is kept as index.old-");
    find_old_index(&e, old);
    CHECK_MSG(old[0] != '\0', "no index.old-* in the root");

    read_index(&e, &v, &del, &ndel);
    free(del);
    CHECK_EQ_INT(v.n, NSEG - 1);
    for (size_t i = 0; i < v.n && i + 1 < NSEG; i++)
        check_same_record(&v.seg[i], &e.seg[i + 1]);
    CHECK_EQ_INT(v.ntomb, 1);
    if (v.ntomb == 1) {
        check_same_record(&v.tomb[0].seg, &e.seg[0]);
        CHECK_EQ_INT(v.tomb[0].reason, IDX_GAP_RETENTION);
        CHECK_EQ_STR(v.tomb[0].detail, "older than 30 days");
    }
    CHECK_EQ_INT(ndel, 0);
    e.t = fenv_begin(&e, false);
    if (e.t) {
        CHECK_OK(idx_camera_get(e.t, FX_CAMERA, &cam, &e.err), &e.err);
        CHECK_EQ_STR(cam.url, e.cam.url);
        CHECK(cam.enabled);
        CHECK_OK(idx_fragments_get(e.t, e.seg[2].cam, e.seg[2].start_us, &fb, &nb, &e.err), &e.err);
        CHECK(na == nb && na == 3 && fa && fb);
        for (size_t i = 0; fa && fb && i < na && i < nb; i++) {
            CHECK_EQ_U64(fb[i].offset, fa[i].offset);
            CHECK_EQ_U64(fb[i].size, fa[i].size);
            CHECK_EQ_INT(fb[i].wall_us, fa[i].wall_us);
            CHECK_EQ_INT(fb[i].starts_with_key, fa[i].starts_with_key);
        }
    }
    fenv_end(&e, e.t, false);
    free(fa);
    free(fb);
    run(&e, IDX_FSCK_CHECK);
    CHECK_MSG(e.n.findings == 0 && e.l.n == 0, "check after rebuild: %s", e.l.text);
    fenv_close(&e);
}

/* An unreadable index: cameras come back from the disk (disabled), records from the files. */
void test_fsck_rebuild_without_index(void)
{
    struct idx_camera cam;
    struct seen v;
    struct fenv e;
    struct idx_deleting *del = NULL;
    size_t ndel = 0;
    char p[PATH_MAX];

    if (fenv_open(&e, 3) < 0)
        return;
    abs_of(&e, "index/data.mdb", p);
    CHECK_EQ_INT(fx_write_file(p, "garbage, not an LMDB file", 25), 0);
    run(&e, IDX_FSCK_REBUILD);
    CHECK_EQ_INT(e.n.findings, 0);
    CHECK_CONTAINS(e.l.text, "index: cannot be read");
    CHECK_CONTAINS(e.l.text, "camera 'cam1': found only on disk: added disabled");
    read_index(&e, &v, &del, &ndel);
    free(del);
    CHECK_EQ_INT(v.n, 3);
    for (size_t i = 0; i < v.n && i < 3; i++)
        check_same_record(&v.seg[i], &e.seg[i]);
    e.t = fenv_begin(&e, false);
    if (e.t) {
        CHECK_OK(idx_camera_get(e.t, FX_CAMERA, &cam, &e.err), &e.err);
        CHECK(!cam.enabled);
        CHECK_EQ_STR(cam.url, "rtsp://unknown/");
    }
    fenv_end(&e, e.t, false);
    /* The unreadable old index is kept, byte for byte. */
    {
        char old[256], q[PATH_MAX + 300];
        find_old_index(&e, old);
        snprintf(q, sizeof(q), "%s/%s/data.mdb", e.root, old);
        CHECK_EQ_INT(fx_file_size(q), 25);
    }
    fenv_close(&e);
}

/*
 * --rebuild trusts the files but says where they disagree with the old index: an altered file,
 * a record whose file is gone; a torn tail is cut (and counted as repaired).
 */
void test_fsck_rebuild_reports(void)
{
    struct seen v;
    struct fenv e;
    struct idx_deleting *del = NULL;
    size_t ndel = 0;
    char p[PATH_MAX];
    int fd;

    if (fenv_open(&e, NSEG) < 0)
        return;
    abs_of(&e, e.seg[0].path, p);
    fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "\0\0\0\x40moof", 8) == 8);
    if (fd >= 0)
        close(fd);
    flip_byte(&e, e.seg[1].path);
    abs_of(&e, e.seg[2].path, p);
    CHECK_EQ_INT(unlink(p), 0);
    run(&e, IDX_FSCK_REBUILD);
    CHECK_EQ_INT(e.n.findings, 3);
    CHECK_EQ_INT(e.n.repaired, 1);
    CHECK_EQ_INT(e.n.records, NSEG - 1);
    CHECK_CONTAINS(e.l.text, DAY "093000-0.mp4: torn tail: cut 8 bytes");
    CHECK_CONTAINS(e.l.text, DAY "093006-0.mp4: differs from the old index's record");
    CHECK_CONTAINS(e.l.text, DAY "093012-0.mp4: record without file in the old index");
    abs_of(&e, e.seg[0].path, p);
    CHECK_EQ_U64(fx_file_size(p), e.seg[0].bytes);
    read_index(&e, &v, &del, &ndel);
    free(del);
    CHECK_EQ_INT(v.n, NSEG - 1);
    if (v.n == NSEG - 1)
        check_same_record(&v.seg[0], &e.seg[0]);
    fenv_close(&e);
}
