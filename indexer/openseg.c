/*
 * openseg.c: the open segment read from its own file (openseg.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "indexer/openseg.h"
#include "indexer/recover.h"
#include "common/banned.h"

int idx_open_segment(struct idx_txn *txn, const char *root, uint32_t cam, struct idx_segment *out,
                     struct lay_seg_frag **frags, size_t *nfrags, struct cv_err *err)
{
    struct lay_seg_info info = {0};
    struct idx_segment last;
    char rel[LAY_RELPATH_MAX], abs[PATH_MAX];
    int fd, rc;

    if (frags) {
        *frags = NULL;
        *nfrags = 0;
    }
    rc = idx_pending_get(txn, cam, rel, err);
    if (rc < 0)
        return rc;
    rc = idx_segment_last(txn, cam, &last, NULL);
    if (rc == 0 && strcmp(last.path, rel) == 0)
        return cv_errf(err, CV_ENOENT, "segment '%s' is closed and indexed", rel);
    rc = lay_abs(root, rel, abs, sizeof(abs), err);
    if (rc < 0)
        return rc;
    fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cv_errf(err, errno == ENOENT ? CV_ENOENT : CV_EIO, "cannot open '%s': %s", rel,
                       strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    close(fd);
    if (rc < 0)
        return cv_errwrap(err, rc, "open segment '%s'", rel);
    if (info.nfrags == 0 || info.start_us == INT64_MIN || info.end_us <= info.start_us) {
        lay_seg_info_release(&info);
        return cv_errf(err, CV_ENOENT, "segment '%s' has no complete fragment yet", rel);
    }
    idx_segment_from_scan(&info, cam, rel, out);
    out->flags = IDX_SEG_OPEN;
    if (frags) {
        *frags = info.frags; /* handed over */
        *nfrags = info.nfrags;
        info.frags = NULL;
        info.nfrags = 0;
    }
    lay_seg_info_release(&info);
    return 0;
}

int idx_open_segment_in(struct idx_txn *txn, const char *root, uint32_t cam, int64_t from_us,
                        int64_t to_us, struct idx_segment *out, struct cv_err *err)
{
    struct idx_segment last;
    int rc = idx_open_segment(txn, root, cam, out, NULL, NULL, err);

    if (rc < 0)
        return rc;
    if (idx_segment_last(txn, cam, &last, NULL) == 0 && out->start_us <= last.start_us)
        return cv_errf(err, CV_ENOENT, "camera's pending note names '%s', before its newest "
                       "segment", out->path); /* stale (fsck's business): never footage twice */
    if (out->end_us <= from_us || out->start_us >= to_us)
        return cv_errf(err, CV_ENOENT, "the open segment is outside the range");
    return 0;
}

int idx_segment_iter_open(struct idx_txn *txn, const char *root, uint32_t cam, int64_t from_us,
                          int64_t to_us, idx_segment_cb cb, void *ctx, struct cv_err *err)
{
    struct idx_segment open;
    struct cv_err oerr = {""};
    int rc = idx_segment_iter(txn, cam, from_us, to_us, cb, ctx, err);

    if (rc != 0)
        return rc;
    rc = idx_open_segment_in(txn, root, cam, from_us, to_us, &open, &oerr);
    if (rc < 0) {
        if (rc != CV_ENOENT)
            cv_debug("open segment left out: %s", oerr.msg);
        return 0;
    }
    return cb(ctx, &open);
}

int idx_locate_open(struct idx_txn *txn, const char *root, uint32_t cam, int64_t at_us,
                    struct idx_segment *seg, uint64_t *offset, int64_t *frag_us,
                    struct cv_err *err)
{
    struct lay_seg_frag *f = NULL;
    size_t n = 0;
    int rc = idx_locate(txn, cam, at_us, seg, offset, frag_us, err);

    if (rc != CV_ENOENT)
        return rc;
    rc = idx_open_segment(txn, root, cam, seg, &f, &n, err);
    if (rc == 0 && (at_us < seg->start_us || at_us >= seg->end_us))
        rc = cv_errf(err, CV_ENOENT, "nothing recorded at this instant");
    if (rc == 0) {
        *offset = f[0].offset;
        *frag_us = seg->start_us;
        for (size_t i = 0; i < n && f[i].wall_us != INT64_MIN && f[i].wall_us <= at_us; i++) {
            *offset = f[i].offset;
            *frag_us = f[i].wall_us;
        }
    }
    free(f);
    return rc;
}
