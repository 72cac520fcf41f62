/*
 * sealwait.c: seal the live edge before an export (sealwait.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "exporter/sealwait.h"
#include "indexer/openseg.h"
#include "storage-layout/seal.h"
#include "common/banned.h"

#define STATUS_STALE_US (INT64_C(8) * 1000000) /* the recorder writes one every 2 s */
#define FILE_STALE_US (INT64_C(12) * 1000000)  /* a fragment is flushed at least every 10 s */
#define LEDGER_TAIL 65536 /* the newest checkpoint is at the end of the ledger */

struct need {
    const char *camera;
    int64_t start_us; /* a checkpoint head at or after this covers the range; -1: nothing */
};

/* The start µs of `camera`'s head in checkpoint text, or -1 when it names none. */
static int64_t text_head(const char *text, const char *camera)
{
    size_t cl = strlen(camera);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        long long v;
        if (strncmp(p, "head ", 5) == 0 && strncmp(p + 5, camera, cl) == 0 && p[5 + cl] == ' ' &&
            sscanf(p + 6 + cl, "%lld", &v) == 1)
            return v;
    }
    return -1;
}

/* The newest checkpoint of the index: its text (malloc'd, or NULL when none) and seq. */
static int newest_cp(struct idx_txn *t, char **text, uint64_t *seq, struct cv_err *err)
{
    struct idx_checkpoint cp = {0};
    int rc = idx_checkpoint_last(t, &cp, err);

    *text = NULL;
    *seq = 0;
    if (rc == CV_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    *text = cp.text;
    *seq = cp.seq;
    cp.text = NULL;
    idx_checkpoint_release(&cp);
    return 0;
}

static int keep_last(void *ctx, const struct idx_segment *s)
{
    *(struct idx_segment *)ctx = *s;
    return 0;
}

/* Whether ROOT/<rel> was written to within FILE_STALE_US. */
static bool growing(const char *root, const char *rel)
{
    char abs[PATH_MAX];
    struct stat st;

    return lay_abs(root, rel, abs, sizeof(abs), NULL) == 0 && stat(abs, &st) == 0 &&
           cv_now_us() - ((int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000) <
               FILE_STALE_US;
}

/* What camera `c` needs for [from, to); asks the recorder for a seal when something is. A
 * camera whose recorder wrote no status for STATUS_STALE_US, or whose open file stopped growing,
 * is not being recorded now: nothing can be sealed, so nothing is waited for (exp_export says
 * what is not covered). */
static int plan(struct idx_txn *t, const char *root, const char *cp_text, int64_t from,
                int64_t to, struct need *c, struct cv_err *err)
{
    struct idx_camera cam;
    struct idx_status st;
    struct idx_segment open, last = {0};
    int64_t head = cp_text ? text_head(cp_text, c->camera) : -1;
    int rc = idx_camera_get(t, c->camera, &cam, err);

    c->start_us = -1;
    if (rc < 0)
        return rc;
    if (idx_status_get(t, cam.num, &st, NULL) < 0 || cv_now_us() - st.updated_us > STATUS_STALE_US)
        return 0;
    if (idx_open_segment_in(t, root, cam.num, from, to, &open, NULL) == 0) {
        if (!growing(root, open.path))
            return 0; /* left by a recorder that died: recovered at its next start */
        c->start_us = open.start_us;
        return lay_seal_request(root, cam.id, open.path, err);
    }
    rc = idx_segment_iter(t, cam.num, from, to, keep_last, &last, err);
    if (rc < 0 || !last.path[0] || head >= last.start_us)
        return rc; /* nothing in range, or covered already */
    c->start_us = last.start_us;
    return lay_seal_request(root, cam.id, last.path, err);
}

/* Whether the ledger's tail holds checkpoint `seq` (exp_export reads the ledger). */
static bool ledger_has(const char *root, uint64_t seq)
{
    char dir[PATH_MAX], path[PATH_MAX], want[40], *buf;
    off_t size;
    ssize_t got;
    bool found;
    int fd;

    if (lay_dir(root, "ledger", dir, sizeof(dir), NULL) < 0 ||
        cv_path_join(path, sizeof(path), dir, "checkpoints.log", NULL) < 0)
        return false;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size = lseek(fd, 0, SEEK_END);
    buf = malloc(LEDGER_TAIL + 1);
    got = buf && size > 0 ? pread(fd, buf, LEDGER_TAIL, size > LEDGER_TAIL ? size - LEDGER_TAIL : 0)
                          : -1;
    close(fd);
    snprintf(want, sizeof(want), "\nseq %llu\n", (unsigned long long)seq);
    if (got > 0)
        buf[got] = 0;
    found = got > 0 && strstr(buf, want) != NULL;
    free(buf);
    return found;
}

int exp_seal_wait(struct idx *idx, const char *root, const char *const *cameras, size_t n,
                  int64_t from_us, int64_t to_us, int64_t timeout_us,
                  int (*tick)(void *ctx, int64_t waited_us), void *ctx, int *waited,
                  struct cv_err *err)
{
    struct need *need = calloc(n ? n : 1, sizeof(*need));
    struct idx_txn *t = NULL;
    char *text = NULL;
    uint64_t seq = 0;
    int64_t t0 = cv_mono_us();
    bool any = false;
    int rc;

    if (waited)
        *waited = 0;
    if (!need)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    rc = idx_begin(idx, false, &t, err);
    if (rc == 0)
        rc = newest_cp(t, &text, &seq, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        need[i].camera = cameras[i];
        rc = plan(t, root, text, from_us, to_us, &need[i], err);
        any |= need[i].start_us >= 0;
    }
    idx_abort(t);
    t = NULL;
    if (rc == 0 && any && waited)
        *waited = 1;
    while (rc == 0 && any) {
        const struct timespec d = {0, EXP_SEAL_POLL_US * 1000};
        int64_t now = cv_mono_us();
        size_t late = n;

        free(text);
        text = NULL;
        rc = idx_begin(idx, false, &t, err);
        if (rc == 0)
            rc = newest_cp(t, &text, &seq, err);
        idx_abort(t);
        t = NULL;
        for (size_t i = 0; rc == 0 && i < n && late == n; i++)
            if (need[i].start_us >= 0 && (!text || text_head(text, need[i].camera) < need[i].start_us))
                late = i;
        if (rc < 0 || (late == n && ledger_has(root, seq)))
            break;
        if (tick && tick(ctx, now - t0)) {
            rc = cv_errf(err, CV_ECANCELED, "export canceled");
            break;
        }
        if (now - t0 > timeout_us) {
            rc = cv_errf(err, CV_ETIMEDOUT,
                         "camera '%s': the recorder did not seal and sign the live edge within "
                         "%lld s (is it running?)", late < n ? need[late].camera : "?",
                         (long long)(timeout_us / 1000000));
            break;
        }
        nanosleep(&d, NULL);
    }
    free(text);
    free(need);
    return rc;
}
