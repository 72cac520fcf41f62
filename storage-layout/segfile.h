/*
 * segfile.h: what camvault puts inside a segment file besides the muxer's own boxes, and a
 * hardened reader that tells what a (possibly truncated, possibly hostile) segment file holds.
 *
 * A segment is a fragmented ISO BMFF file, playable by itself:
 *
 *   ftyp  moov  uuid[camvault.segment]              header, written once after moov
 *   ( prft  uuid[camvault.fraginf]  moof  mdat       a fragment (one GOP): its first chunk,
 *     ( prft  moof  mdat )* )*                        then its other CMAF chunks, if any
 *   mfra                                             only when the segment was closed cleanly
 *
 * - uuid "camvault.segment" (the 16 usertype bytes are that ASCII text) holds "key=value\n" lines:
 *   version, camera, run, run_seq, container, video, audio. With the path it makes the file
 *   self-describing, so the index can be rebuilt from segment files alone.
 * - prft (ISO/IEC 14496-12 ProducerReferenceTimeBox, version 1, flags 0) before each moof: the
 *   wall-clock UTC time (NTP format) of the fragment's first video sample, whose decode time in
 *   the video track is media_time. The index takes segment times from these boxes.
 * - uuid "camvault.fraginf": two big-endian int64: the µs UTC at which the recorder received that
 *   first sample, and the camera's own clock for it from RTCP (0 when unknown). Only in the
 *   first chunk of a fragment: a group (prft .. mdat) without it whose video does not start with
 *   a keyframe continues the fragment before it (a CMAF chunk, written so that live viewers get
 *   frames before the GOP ends). Files written before chunking have one group per fragment.
 * - Each chunk's prft holds the wall clock of that chunk's first video sample.
 *
 * Thread rules: all functions are reentrant; a struct lay_seg_info belongs to one thread.
 */
#ifndef LAY_SEGFILE_H
#define LAY_SEGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "storage-layout/layout.h"

#define LAY_SEG_UUID_HEADER "camvault.segment"
#define LAY_SEG_UUID_FRAGINFO "camvault.fraginf"
#define LAY_SEG_CODEC_MAX 48

/* The fields of the camvault.segment header box. */
struct lay_seg_header {
    char camera[LAY_ID_MAX + 1];
    uint64_t run_id;   /* the µs UTC start of the run: unique per camera */
    uint32_t run_seq;  /* 0 for the first segment of a run */
    char container[4]; /* "mp4" or "mov" */
    char video[LAY_SEG_CODEC_MAX]; /* e.g. "h264 1920x1080" */
    char audio[LAY_SEG_CODEC_MAX]; /* e.g. "aac 48000Hz 1ch", "none" */
};

/* Append the boxes to b (check cv_buf_ok afterwards). */
void lay_seg_header_box(struct cv_buf *b, const struct lay_seg_header *h);
void lay_seg_prft_box(struct cv_buf *b, uint32_t track_id, int64_t wall_us, uint64_t media_time);
void lay_seg_fraginfo_box(struct cv_buf *b, int64_t recv_us, int64_t camera_us);

/* µs UTC <-> 64-bit NTP timestamp; exact round trip for every µs from 1970 to 2104 (the
 * seconds field wraps in 2036: a value with its top bit clear is read as the next era). */
uint64_t lay_ntp_from_us(int64_t us);
int64_t lay_us_from_ntp(uint64_t ntp);

/*
 * One fragment as found in a file: its chunks (prft .. mdat groups; one in files written before
 * chunking) grouped. Only complete chunks count; the last fragment of a file that is not closed
 * (no mfra) may be one whose later chunks are not written yet.
 */
struct lay_seg_frag {
    uint64_t offset;     /* of the first box of its first group (prft, or moof if none) */
    uint64_t size;       /* up to the end of its last complete chunk's mdat */
    int64_t wall_us;     /* from prft; INT64_MIN when the fragment has none */
    int64_t recv_us;     /* from camvault.fraginf; 0 when absent */
    uint64_t video_dts;  /* tfdt of the video track */
    uint64_t video_dur;  /* sum of video sample durations, video timescale */
    uint32_t video_samples;
    uint32_t keyframes;
    uint32_t audio_samples;
    bool starts_with_key;
    uint32_t chunks;     /* CMAF chunks (lay_seg_scan, the writer); 0: not known (the index) */
};

/* What a segment file holds. Embedded struct: lay_seg_info_release frees frags. */
struct lay_seg_info {
    struct lay_seg_header hdr;
    bool has_header;
    uint32_t video_track, audio_track; /* track ids, 0 if absent */
    uint32_t video_timescale, audio_timescale;
    char video_fourcc[5], audio_fourcc[5];
    uint32_t width, height;
    struct lay_seg_frag *frags;
    size_t nfrags;
    uint64_t file_bytes;
    uint64_t complete_bytes; /* end of the last complete fragment (or of the header boxes) */
    bool closed;             /* ends with an mfra box: the recorder closed it cleanly */
    int64_t start_us, end_us; /* first fragment's wall time; last one's plus its duration */
    uint64_t video_samples, keyframes, audio_samples;
};

void lay_seg_info_release(struct lay_seg_info *info);

/*
 * Read the segment file open on `fd` (read-only is enough). Fills *info with every fragment
 * made of complete chunks (see struct lay_seg_frag), one entry per fragment however many chunks
 * it has; a torn last chunk or trailing garbage is not an error (complete_bytes says where the
 * good part ends: a cut there loses at most that chunk). Errors: CV_ECORRUPT when the file does not start with ftyp+moov or a box
 * is malformed before the first fragment, CV_EIO on read errors. Bounded: boxes other than mdat
 * larger than 16 MiB are treated as corrupt.
 */
int lay_seg_scan(int fd, struct lay_seg_info *info, struct cv_err *err);

/* SHA-256 of the first `len` bytes of fd into out[32]. */
int lay_sha256_fd(int fd, uint64_t len, uint8_t out[32], struct cv_err *err);

#endif
