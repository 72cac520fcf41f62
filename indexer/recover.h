/*
 * recover.h: turn a segment file on disk into an index record.
 *
 * Used at recorder start for the file each camera was writing when the recorder died, and by
 * fsck for files the index does not know. The file is scanned (storage-layout/segfile.h), cut
 * back to its last complete fragment (ftruncate + fsync: a torn fragment cannot be played and is
 * the only thing a crash may lose), hashed, and committed in its own write transaction.
 */
#ifndef IDX_RECOVER_H
#define IDX_RECOVER_H

#include "indexer/idx.h"

/*
 * Recover ROOT/<relpath> as a segment of camera `cam`. On success *out holds the committed
 * record (flags has IDX_SEG_RECOVERED when the file was not closed cleanly). A file with no
 * complete fragment holds no playable footage: it is moved to ROOT/quarantine/ and CV_ENOENT is
 * returned with a message saying so. A file already indexed under its start time returns
 * CV_EEXIST and changes nothing. The caller must not hold a write transaction.
 */
int idx_recover_segment(struct idx *idx, const char *root, const struct idx_camera *cam,
                        const char *relpath, struct idx_segment *out, struct cv_err *err);

/* Fill a segment record from a scanned file (no I/O besides nothing: pure conversion). */
void idx_segment_from_scan(const struct lay_seg_info *info, uint32_t cam, const char *relpath,
                           struct idx_segment *out);

#endif
