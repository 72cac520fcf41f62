/*
 * livehub.h: live fan-out (issue 17). One hub per watched camera reads the growing segment file
 * once and hands every viewer of that camera the same chunks from memory.
 *
 * A hub follows the segment being written the way live.mp4 always has (server/api_live.c): box
 * by box as each box is complete in the file, on into the next segment of the same run with
 * decode times moved on, ending at a new run or after LIVE_IDLE of no new data. It groups the
 * boxes into chunks (prft [fraginfo] moof mdat: what the recorder writes every live_chunk_ms;
 * a chunk with fraginfo starts a fragment, i.e. a keyframe) and keeps the header boxes of the
 * current file and a ring of the newest chunks: the newest two GOPs (the one being written and
 * the one before), at most 4 MB unless the newest GOP alone is larger; a new viewer starts at
 * the newest keyframe.
 *
 * A viewer holds a reference to the chunk it is sending and the number of the next one; nothing
 * is copied per viewer except into libmicrohttpd's send buffer. With nothing new to send, its
 * connection is suspended (srv_guard_resume_later) and the hub resumes it when the next chunk
 * is in the ring: no thread and no timer per viewer. A viewer that fell behind the ring (a slow
 * reader) skips to the oldest keyframe still in it (counted: camvault_live_skips_total) instead
 * of buffering. The hub's thread looks at the file every LH_POLL_MS; the hub stops when its last
 * viewer leaves.
 *
 * Threads: every function may be called from any thread; srv_liveview_read only from the content
 * reader of the viewer's own connection.
 */
#ifndef SRV_LIVEHUB_H
#define SRV_LIVEHUB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/error.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"

struct srv;
struct srv_livehubs;  /* the server's hubs, one per camera being watched */
struct srv_liveview; /* one viewer of one hub */

/* Where a new hub starts: filled by the caller's start callback (api_live.c). */
struct srv_livehub_start {
    char rel[LAY_RELPATH_MAX]; /* the segment file */
    int fd;                    /* open read-only on it; the hub takes it over (-1: none) */
    uint64_t run_id;
    int64_t start_us;          /* wall time of the file's first fragment */
    uint32_t track[2], timescale[2]; /* video, audio (0: none) */
    uint8_t *hdr;              /* the file's header boxes (malloc'd; the hub takes them over) */
    size_t hdrlen;
    uint64_t pos;              /* offset of the newest fragment: where the hub starts reading */
};

/* Open segment rel (relative to the server's root) read-only and scan it: 0 with *info (at
 * least one fragment; release it) and *fd_out, or < 0 (CV_ENOENT: no complete chunk yet). */
int srv_live_scan_open(struct srv *srv, const char *rel, struct lay_seg_info *info, int *fd_out,
                       struct cv_err *err);

/* The segment after the one of camera cam (its number) that starts at after_us: the first indexed
 * one that starts later, else the pending one (segments of one GOP are never complete while
 * pending): 0 with rel, CV_ENOENT when there is neither, or the index's error. Used by the hubs and
 * by the H.264 rendition of live.mp4 (api_rendition.c); takes its own read transaction. */
int srv_live_next_segment(struct srv *srv, uint32_t cam, int64_t after_us,
                          char rel[LAY_RELPATH_MAX], struct cv_err *err);

/* The set of hubs of server srv (its root, index, guard and stopping flag are used). */
int srv_livehubs_open(struct srv_livehubs **out, struct srv *srv, struct cv_err *err);
/* Wait for every hub thread to end and free the set; after MHD_stop_daemon (no viewer left).
 * NULL-safe. */
void srv_livehubs_close(struct srv_livehubs *set);
/* camvault_live_* metrics in Prometheus text format: hubs, viewers, ring bytes, skips. */
void srv_livehubs_metrics(struct srv_livehubs *set, struct cv_buf *b);

/*
 * Join the hub of camera cam as a viewer on connection conn. When the camera has no running
 * hub, start(ctx, st) is called (with the set's lock held: at most one per camera at a time) to
 * find where to start; it returns 0 with *st filled, or -1 when it has answered the request
 * itself (an error). Returns the viewer, or NULL (start answered, or out of memory: *oom set).
 * The viewer starts at the newest keyframe in the ring with the header boxes of its file.
 */
struct srv_liveview *srv_liveview_join(struct srv_livehubs *set, uint32_t cam,
                                       struct MHD_Connection *conn,
                                       int (*start)(void *ctx, struct srv_livehub_start *st),
                                       void *ctx, bool *oom);
/* The content reader of the viewer's response (MHD_ContentReaderCallback contract). */
ssize_t srv_liveview_read(void *viewer, uint64_t pos, char *buf, size_t max);
/* The segment file the viewer's hub reads now (for the audit record), into rel[size]. */
void srv_liveview_file(struct srv_liveview *v, char *rel, size_t size);
/* Leave (the response's free callback): drops the viewer's chunk references; the last viewer
 * of a hub stops it. */
void srv_liveview_leave(void *viewer);

#endif
