/*
 * segedit.c: the edit lists of a segment's init part (rec_seg_edit_lists, rec_int.h).
 *
 * A segment's decode times start at 0 (camera.c's seg_write), but with B-frames its first
 * frame is shown a few frames later (composition offset), and players would show the segment
 * starting there. One edit per track, media_time = where the presentation starts, duration 0
 * (for fragmented files: to the end of the media), makes every player start it at 0. The
 * muxer writes no edit list for an empty moov, so the edts boxes are put in here, after each
 * trak's tkhd, growing the trak and moov sizes.
 */
#include <string.h>

#include "recorder/rec_int.h"
#include "storage-layout/bmff.h"
#include "common/banned.h"

/* edts { elst v1: one entry, segment_duration 0, media_time, rate 1.0 } */
static void put_edts(struct cv_buf *o, int64_t media_time)
{
    size_t edts, elst;

    lay_box_begin(o, "edts", &edts);
    lay_box_begin(o, "elst", &elst);
    lay_box_full(o, 1, 0);
    cv_buf_be32(o, 1);
    cv_buf_be64(o, 0);
    cv_buf_be64(o, (uint64_t)media_time);
    cv_buf_be32(o, 0x00010000);
    lay_box_end(o, elst);
    lay_box_end(o, edts);
}

int rec_seg_edit_lists(const uint8_t *init, size_t len, const int64_t *media_time, int ntracks,
                       struct cv_buf *out)
{
    struct lay_box_cur top, mv, tk;
    struct lay_box b, c, d;
    size_t moov, trak;
    int t = 0;

    lay_box_init(&top, init, len);
    while (lay_box_next(&top, &b, NULL) == 1) {
        if (!lay_box_is(b.type, "moov")) {
            cv_buf_put(out, b.start, b.size);
            continue;
        }
        lay_box_begin(out, "moov", &moov);
        lay_box_enter(&mv, &b);
        while (lay_box_next(&mv, &c, NULL) == 1) {
            if (!lay_box_is(c.type, "trak") || t >= ntracks) {
                cv_buf_put(out, c.start, c.size);
                continue;
            }
            lay_box_begin(out, "trak", &trak);
            lay_box_enter(&tk, &c);
            while (lay_box_next(&tk, &d, NULL) == 1) {
                if (lay_box_is(d.type, "edts"))
                    continue; /* ours replaces any */
                cv_buf_put(out, d.start, d.size);
                if (lay_box_is(d.type, "tkhd"))
                    put_edts(out, media_time[t]);
            }
            lay_box_end(out, trak);
            t++;
        }
        lay_box_end(out, moov);
    }
    if (top.p != top.end || t != ntracks)
        return CV_ECORRUPT;
    return cv_buf_ok(out) ? 0 : CV_ENOMEM;
}
