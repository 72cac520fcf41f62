/*
 * recover.c: crash recovery of a segment file into the index.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "indexer/recover.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

void idx_segment_from_scan(const struct lay_seg_info *info, uint32_t cam, const char *relpath,
                           struct idx_segment *out)
{
    memset(out, 0, sizeof(*out));
    out->cam = cam;
    out->start_us = info->start_us;
    out->end_us = info->end_us;
    cv_strlcpy(out->path, relpath, sizeof(out->path));
    out->bytes = info->complete_bytes;
    out->frames = (uint32_t)info->video_samples;
    out->keyframes = (uint32_t)info->keyframes;
    out->audio_frames = (uint32_t)info->audio_samples;
    out->fragments = (uint32_t)info->nfrags;
    cv_strlcpy(out->video, info->hdr.video, sizeof(out->video));
    cv_strlcpy(out->audio, info->hdr.audio, sizeof(out->audio));
    out->run_id = info->hdr.run_id;
    out->run_seq = info->hdr.run_seq;
    out->flags = info->closed ? 0 : IDX_SEG_RECOVERED;
}

static int quarantine(const char *root, const char *abs, const char *relpath, struct cv_err *err)
{
    char qdir[PATH_MAX], dst[PATH_MAX], flat[LAY_RELPATH_MAX];
    int rc;

    cv_strlcpy(flat, relpath, sizeof(flat));
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    rc = lay_dir(root, "quarantine", qdir, sizeof(qdir), err);
    if (rc == 0)
        rc = cv_mkdir_p(qdir, 0755, err);
    if (rc == 0)
        rc = cv_path_join(dst, sizeof(dst), qdir, flat, err);
    if (rc < 0)
        return rc;
    if (rename(abs, dst) < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot move '%s' to '%s': %s", abs, dst,
                       strerror(errno));
    cv_fsync_parent(dst, NULL);
    cv_fsync_parent(abs, NULL);
    return 0;
}

int idx_recover_segment(struct idx *idx, const char *root, const struct idx_camera *cam,
                        const char *relpath, struct idx_segment *out, struct cv_err *err)
{
    char abs[PATH_MAX];
    struct lay_seg_info info;
    struct idx_txn *t = NULL;
    struct idx_segment existing;
    int fd = -1, rc;
    bool scanned = false;

    memset(&info, 0, sizeof(info));
    rc = lay_abs(root, relpath, abs, sizeof(abs), err);
    if (rc < 0)
        return rc;
    fd = open(abs, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open segment '%s': %s", abs,
                       strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    if (rc == CV_ECORRUPT || (rc == 0 && (info.nfrags == 0 || info.start_us == INT64_MIN))) {
        /* Nothing playable: a header at most. Keep the bytes, out of the way. */
        close(fd);
        fd = -1;
        lay_seg_info_release(&info);
        rc = quarantine(root, abs, relpath, err);
        if (rc < 0)
            return rc;
        return cv_errf(err, CV_ENOENT,
                       "segment '%s' has no complete fragment; moved to quarantine/", relpath);
    }
    if (rc < 0)
        goto out;
    scanned = true;
    idx_segment_from_scan(&info, cam->num, relpath, out);
    /* Look before touching: a file the index already has is left exactly as it is. */
    rc = idx_begin(idx, true, &t, err);
    if (rc < 0)
        goto out;
    if (idx_segment_get(t, cam->num, out->start_us, &existing, NULL) == 0) {
        rc = cv_errf(err, CV_EEXIST, "segment '%s' is already indexed", relpath);
        goto out;
    }
    if (info.complete_bytes < info.file_bytes) {
        if (ftruncate(fd, (off_t)info.complete_bytes) < 0) {
            rc = cv_errf(err, CV_EIO, "cannot truncate '%s': %s", abs, strerror(errno));
            goto out;
        }
        cv_info("segment '%s': cut %llu torn bytes after its last complete fragment", relpath,
                (unsigned long long)(info.file_bytes - info.complete_bytes));
    }
    if (fsync(fd) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot fsync '%s': %s", abs, strerror(errno));
        goto out;
    }
    rc = cv_fsync_parent(abs, err);
    if (rc < 0)
        goto out;
    rc = lay_sha256_fd(fd, info.complete_bytes, out->sha256, err);
    if (rc < 0) {
        cv_errwrap(err, rc, "segment '%s'", relpath);
        goto out;
    }
    rc = idx_segment_put(t, cam->id, out, info.frags, info.nfrags, err);
    if (rc == 0)
        rc = idx_pending_del(t, cam->num, err);
    if (rc < 0)
        goto out;
    rc = idx_commit(t, err);
    t = NULL;
out:
    idx_abort(t);
    if (scanned)
        lay_seg_info_release(&info);
    if (fd >= 0)
        close(fd);
    return rc;
}
