/*
 * segwriter.c: one segment file, written straight to the O_EXCL file with SHA-256 fed on the way,
 * so the hash is ready the moment the file is.
 *
 * The init part (ftyp, moov with the codec configurations) comes from libavformat's MP4/MOV
 * muxer (empty_moov, use_editlist 0), through our own AVIOContext. The fragments we write
 * ourselves: the muxer would copy every packet into a growing in-memory buffer (reallocated
 * as it grows) and then once more into the file, which was a third of the recorder's CPU. Here
 * a fragment holds references to the packets the camera thread already owns; when the fragment
 * ends (at the next keyframe) our prft + fraginfo boxes, the moof and the mdat header are
 * built in one small buffer and written, with the packets' data, in one writev().
 *
 * Fragment layout (what libavformat's frag_custom + default_base_moof + frag_discont wrote
 * before, and what storage-layout.md describes): moof = mfhd (sequence from 1) and one traf per
 * track that has samples, video first: tfhd (default-base-is-moof, default duration, size and
 * flags from the first sample), tfdt (version 1: the run-relative decode time, so decode times
 * continue across a run's segments), trun (data offset; first-sample flags when a keyframe
 * leads; per-sample durations, sizes, flags and composition offsets only when they vary). Then
 * one mdat: the video samples, then the audio. The file ends with an mfra (a tfra per track,
 * one entry per fragment, pointing at its first moof) and an mfro.
 *
 * CMAF chunks (rec_seg_params.chunk_us > 0): a fragment (keyframe to keyframe) is written as
 * several prft + moof + mdat groups, a new one once the open one holds chunk_us of video, so
 * that a live reader of the growing file gets the frames within a chunk of their arrival. Only
 * the fragment's first chunk has the camvault.fraginf box (that is how readers tell a fragment's
 * start from a continuation, see segfile.h); every chunk has its own prft. The writer holds
 * only the open chunk's packets, so a crash loses at most a chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libavutil/opt.h>
#include <openssl/evp.h>

#include "recorder/rec_int.h"
#include "indexer/recover.h"
#include "common/buf.h"
#include "storage-layout/bmff.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

#define IO_BUF 4096 /* only the init part goes through libavformat's I/O */
#define SAMPLE_DEPENDS_NO 0x02000000u  /* trun sample flags: a sync sample */
#define SAMPLE_NON_SYNC 0x01010000u    /* depends on others, not a sync sample */
#define IOV_BATCH 512
#define FRAG_MAX_US (10 * INT64_C(1000000)) /* cut a fragment without a keyframe after 10 s */
#define INIT_MAX (1u << 20) /* ftyp + moov + camvault header: a few KB; codec configs are small */

struct rec_seg {
    char root[PATH_MAX];
    char rel[LAY_RELPATH_MAX];
    char abs[PATH_MAX];
    char camera[LAY_ID_MAX + 1];
    int fd;
    AVFormatContext *oc;
    AVRational in_tb[2], out_tb[2];
    EVP_MD_CTX *sha;
    uint64_t bytes;
    int io_errno; /* first write error */
    bool hash_failed; /* an EVP_DigestUpdate failed: the running SHA-256 is worthless */
    bool sync_failed; /* an fsync of the file or its directory failed: not durable */
    char sync_why[CV_ERR_MAX];
    struct lay_seg_header hdr;
    int64_t (*wall_of)(void *ctx, int64_t video_dts);
    void *wall_ctx;
    int64_t wall_floor; /* the next fragment starts no earlier (see rec_seg_params) */
    int64_t chunk_us;   /* cut fragments into chunks of this much video; 0: whole fragments */

    /* the open fragment */
    bool frag_open;
    uint64_t frag_offset;
    int64_t frag_in_dts, frag_recv; /* first video dts in the input time base */
    int64_t frag_dts;  /* video, out time base */
    int64_t frag_end;  /* video dts + duration of the last video packet, out time base */
    uint32_t frag_vsamples, frag_keys, frag_asamples;
    bool frag_key;
    int64_t frag_wall;   /* the prft time of its first chunk */
    uint32_t frag_chunks; /* chunks of it written so far */
    bool tfra_done[2];    /* the track's tfra entry for this fragment is made */

    /* the open chunk: its first video dts (input and out time base) */
    int64_t chunk_in_dts, chunk_dts;

    struct lay_seg_frag *frags;
    size_t nfrags, fcap;
    uint64_t vsamples, keys, asamples;

    /* the open fragment's samples per track (0 video, 1 audio), holding packet references */
    struct ftrack {
        struct fsample {
            AVBufferRef *buf;
            const uint8_t *data;
            uint32_t size, dur, flags;
            int32_t cto; /* composition offset: pts - dts */
        } *smp;
        size_t n, cap;
        int64_t first_dts; /* out time base */
        /* for the mfra: each fragment's start time and moof offset */
        struct tfra_entry {
            int64_t time;
            uint64_t moof;
            uint8_t traf;
        } *tfra;
        size_t ntfra, tfra_cap;
    } ft[2];
    uint32_t frag_seq;
    bool annexb; /* video packets come with start codes */
    struct cv_buf *capture; /* while set, io_write collects the init part here (edit lists) */
};

/* Write iov[0..n) in order, hashing it; the first error sticks in io_errno. */
static int out_writev(struct rec_seg *s, struct iovec *iov, int n)
{
    int i = 0;

    if (s->io_errno)
        return -1;
    for (int k = 0; k < n && !s->hash_failed; k++)
        if (EVP_DigestUpdate(s->sha, iov[k].iov_base, iov[k].iov_len) != 1)
            s->hash_failed = true; /* rec_seg_close hashes the file instead */
    while (i < n) {
        ssize_t w = writev(s->fd, iov + i, n - i > IOV_MAX ? IOV_MAX : n - i);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->io_errno = w < 0 ? errno : EIO;
            return -1;
        }
        s->bytes += (uint64_t)w;
        while (i < n && (size_t)w >= iov[i].iov_len) { /* skip what is written */
            w -= (ssize_t)iov[i].iov_len;
            i++;
        }
        if (i < n) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int io_write(void *opaque, uint8_t *buf, int size)
{
    struct rec_seg *s = opaque;
    struct iovec iov = {buf, (size_t)size};

    if (s->capture) {
        cv_buf_put(s->capture, buf, (size_t)size);
        return size;
    }
    if (out_writev(s, &iov, 1) < 0)
        return AVERROR(s->io_errno);
    return size;
}

/* Where the next 00 00 01 starts in p[from..n), or n. */
static size_t next_start_code(const uint8_t *p, size_t n, size_t from)
{
    for (size_t i = from; i + 3 <= n; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)
            return i;
    return n;
}

/*
 * Annex B (start codes) to 4-byte NAL lengths, as MP4 stores video: libavformat's RTSP input
 * hands over H.264 and H.265 that way. NULL when out of memory; a packet without any start
 * code is taken as already length-prefixed and copied.
 */
static AVBufferRef *annexb_to_mp4(const uint8_t *p, size_t n, size_t *out_len)
{
    AVBufferRef *b = av_buffer_alloc(n + n / 3 + 4);
    size_t o = 0, sc = next_start_code(p, n, 0);

    if (!b)
        return NULL;
    if (sc == n) {
        memcpy(b->data, p, n);
        *out_len = n;
        return b;
    }
    while (sc < n) {
        size_t start = sc + 3, end = next_start_code(p, n, start), len;
        sc = end;
        while (end > start && p[end - 1] == 0) /* a 4-byte start code's zero, or trailing zeros */
            end--;
        len = end - start;
        if (len == 0)
            continue;
        cv_put_be32(b->data + o, (uint32_t)len);
        memcpy(b->data + o + 4, p + start, len);
        o += 4 + len;
    }
    *out_len = o;
    return b;
}

static void ftrack_clear(struct ftrack *t)
{
    for (size_t i = 0; i < t->n; i++)
        av_buffer_unref(&t->smp[i].buf);
    t->n = 0;
}

uint64_t rec_seg_bytes(const struct rec_seg *s)
{
    return s->bytes;
}

static void seg_free(struct rec_seg *s)
{
    if (!s)
        return;
    if (s->oc) {
        if (s->oc->pb) {
            av_freep(&s->oc->pb->buffer);
            avio_context_free(&s->oc->pb);
        }
        avformat_free_context(s->oc);
    }
    if (s->fd >= 0)
        close(s->fd);
    EVP_MD_CTX_free(s->sha);
    free(s->frags);
    for (int i = 0; i < 2; i++) {
        ftrack_clear(&s->ft[i]);
        free(s->ft[i].smp);
        free(s->ft[i].tfra);
    }
    free(s);
}

static int io_error(struct rec_seg *s, struct cv_err *err, const char *what)
{
    return cv_errf(err, cv_errno_code(s->io_errno), "cannot write segment '%s' (%s): %s", s->abs,
                   what, strerror(s->io_errno));
}

/*
 * The init part the muxer wrote (captured), with an edit list per track so that the segment
 * presents from its first keyframe's presentation time (segedit.c), written to the file.
 */
static int write_init(struct rec_seg *s, const struct cv_buf *init,
                      const struct rec_seg_params *p, struct cv_err *err)
{
    int64_t mt[2] = {0, 0};
    struct cv_buf ed;
    struct iovec iov;
    int rc;

    if (!cv_buf_ok(init))
        return cv_errf(err, CV_ELIMIT, "segment '%s': init part too large", s->rel);
    mt[0] = av_rescale_q(p->video_start, p->vtb, s->out_tb[0]);
    cv_buf_init(&ed, INIT_MAX);
    rc = rec_seg_edit_lists(init->data, init->len, mt, (int)s->oc->nb_streams, &ed);
    if (rc == 0) {
        iov = (struct iovec){ed.data, ed.len};
        out_writev(s, &iov, 1);
    }
    cv_buf_release(&ed);
    if (rc < 0)
        return cv_errf(err, rc, "segment '%s': cannot add its edit lists: %s", s->rel,
                       cv_strerror(rc));
    return 0;
}

int rec_seg_open(struct rec_seg **out, const struct rec_seg_params *p, char *relpath,
                 struct cv_err *err)
{
    struct rec_seg *s = calloc(1, sizeof(*s));
    AVDictionary *opts = NULL;
    const AVOutputFormat *fmt;
    unsigned char *iobuf = NULL;
    struct cv_buf hb, init;
    int rc = 0, r;

    *out = NULL;
    if (!s)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->fd = -1;
    cv_buf_init(&hb, 4096);
    cv_buf_init(&init, INIT_MAX);
    cv_strlcpy(s->root, p->root, sizeof(s->root));
    cv_strlcpy(s->camera, p->camera, sizeof(s->camera));
    s->wall_of = p->wall_of;
    s->wall_ctx = p->wall_ctx;
    s->wall_floor = p->min_wall_us;
    s->chunk_us = p->chunk_us > 0 ? p->chunk_us : 0;
    s->annexb = p->annexb;
    s->sha = EVP_MD_CTX_new();
    if (!s->sha || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) {
        rc = cv_errf(err, CV_ENOMEM, "cannot start SHA-256");
        goto out;
    }
    rc = lay_segment_create(p->root, p->volume, p->camera, p->start_wall_us, p->mov ? "mov" : "mp4",
                            &s->fd, s->rel, err);
    if (rc < 0)
        goto out;
    lay_abs(p->root, s->rel, s->abs, sizeof(s->abs), NULL);

    fmt = av_guess_format(p->mov ? "mov" : "mp4", NULL, NULL);
    r = avformat_alloc_output_context2(&s->oc, fmt, NULL, NULL);
    if (r < 0 || !s->oc) {
        rc = cv_errf(err, CV_ENOMEM, "cannot create muxer: %s", av_err2str(r));
        goto out;
    }
    iobuf = av_malloc(IO_BUF);
    if (!iobuf) {
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    s->oc->pb = avio_alloc_context(iobuf, IO_BUF, 1, s, NULL, io_write, NULL);
    if (!s->oc->pb) {
        av_free(iobuf);
        rc = cv_errf(err, CV_ENOMEM, "out of memory");
        goto out;
    }
    s->oc->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
    for (int i = 0; i < (p->apar ? 2 : 1); i++) {
        AVStream *st = avformat_new_stream(s->oc, NULL);
        if (!st) {
            rc = cv_errf(err, CV_ENOMEM, "out of memory");
            goto out;
        }
        r = avcodec_parameters_copy(st->codecpar, i == 0 ? p->vpar : p->apar);
        if (r < 0) {
            rc = cv_errf(err, CV_ENOMEM, "cannot copy codec parameters: %s", av_err2str(r));
            goto out;
        }
        /* H.265 as hvc1 (parameter sets in the sample entry), which Safari and hardware-HEVC
         * Chrome require; the muxer's default, hev1, they refuse. Other codecs: the default. */
        st->codecpar->codec_tag =
            st->codecpar->codec_id == AV_CODEC_ID_HEVC ? MKTAG('h', 'v', 'c', '1') : 0;
        st->time_base = i == 0 ? p->vtb : p->atb;
        s->in_tb[i] = st->time_base;
    }
    /* the muxer writes the init part only; the flags make its moov the one for fragments */
    av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof+frag_discont", 0);
    av_dict_set(&opts, "use_editlist", "0", 0);
    /* Without this the muxer shifts each file's first timestamp to zero (make_zero), which
     * would restart decode times in every segment instead of continuing the run. */
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    av_dict_set(&opts, "fflags", "+bitexact", 0);
    s->capture = &init;
    r = avformat_write_header(s->oc, &opts);
    if (r < 0) {
        rc = s->io_errno ? io_error(s, err, "header")
                         : cv_errf(err, CV_EMEDIA, "cannot start segment '%s': %s", s->rel,
                                   av_err2str(r));
        goto out;
    }
    for (unsigned i = 0; i < s->oc->nb_streams; i++)
        s->out_tb[i] = s->oc->streams[i]->time_base;

    cv_strlcpy(s->hdr.camera, p->camera, sizeof(s->hdr.camera));
    s->hdr.run_id = p->run_id;
    s->hdr.run_seq = p->run_seq;
    cv_strlcpy(s->hdr.container, p->mov ? "mov" : "mp4", sizeof(s->hdr.container));
    cv_strlcpy(s->hdr.video, p->video_desc, sizeof(s->hdr.video));
    cv_strlcpy(s->hdr.audio, p->audio_desc, sizeof(s->hdr.audio));
    lay_seg_header_box(&hb, &s->hdr);
    if (!cv_buf_ok(&hb)) {
        rc = cv_errf(err, CV_ELIMIT, "segment header too large");
        goto out;
    }
    avio_write(s->oc->pb, hb.data, (int)hb.len);
    avio_flush(s->oc->pb);
    s->capture = NULL;
    rc = write_init(s, &init, p, err);
    if (rc < 0)
        goto out;
    if (s->io_errno) {
        rc = io_error(s, err, "header");
        goto out;
    }
    cv_strlcpy(relpath, s->rel, LAY_RELPATH_MAX);
out:
    av_dict_free(&opts);
    cv_buf_release(&hb);
    cv_buf_release(&init);
    if (rc < 0) {
        if (s->fd >= 0 && s->abs[0])
            unlink(s->abs);
        seg_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* One traf; *data_offset_at receives where the trun's data offset goes. */
static void write_traf(struct cv_buf *b, const struct ftrack *t, uint32_t track_id,
                       size_t *data_offset_at)
{
    const struct fsample *f = t->smp;
    uint32_t def_dur = f[0].dur, def_size = f[0].size,
             def_flags = t->n > 1 ? f[1].flags : f[0].flags, vf = 0x000001;
    bool first_flags = f[0].flags != def_flags, cto = false;
    size_t traf, box;

    for (size_t i = 0; i < t->n; i++) {
        if (f[i].dur != def_dur)
            vf |= 0x000100;
        if (f[i].size != def_size)
            vf |= 0x000200;
        if (i > 0 && f[i].flags != def_flags)
            vf |= 0x000400;
        if (f[i].cto)
            cto = true;
    }
    if (cto)
        vf |= 0x000800;
    if (first_flags && !(vf & 0x000400))
        vf |= 0x000004;
    lay_box_begin(b, "traf", &traf);
    lay_box_begin(b, "tfhd", &box);
    lay_box_full(b, 0, 0x020038); /* base is moof; default duration/size/flags */
    cv_buf_be32(b, track_id);
    cv_buf_be32(b, def_dur);
    cv_buf_be32(b, def_size);
    cv_buf_be32(b, def_flags);
    lay_box_end(b, box);
    lay_box_begin(b, "tfdt", &box);
    lay_box_full(b, 1, 0);
    cv_buf_be64(b, (uint64_t)t->first_dts);
    lay_box_end(b, box);
    lay_box_begin(b, "trun", &box);
    lay_box_full(b, cto ? 1 : 0, vf); /* v1: signed offsets */
    cv_buf_be32(b, (uint32_t)t->n);
    *data_offset_at = b->len;
    cv_buf_be32(b, 0);
    if (vf & 0x000004)
        cv_buf_be32(b, f[0].flags);
    for (size_t i = 0; i < t->n; i++) {
        if (vf & 0x000100)
            cv_buf_be32(b, f[i].dur);
        if (vf & 0x000200)
            cv_buf_be32(b, f[i].size);
        if (vf & 0x000400)
            cv_buf_be32(b, f[i].flags);
        if (vf & 0x000800)
            cv_buf_be32(b, (uint32_t)f[i].cto);
    }
    lay_box_end(b, box);
    lay_box_end(b, traf);
}

static int tfra_add(struct ftrack *t, uint64_t moof, uint8_t traf)
{
    if (t->ntfra == t->tfra_cap) {
        size_t ncap = t->tfra_cap ? t->tfra_cap * 2 : 64;
        struct tfra_entry *ne = realloc(t->tfra, ncap * sizeof(*ne));
        if (!ne)
            return CV_ENOMEM;
        t->tfra = ne;
        t->tfra_cap = ncap;
    }
    t->tfra[t->ntfra++] = (struct tfra_entry){t->first_dts, moof, traf};
    return 0;
}

/*
 * After the boxes already in *b (prft, fraginfo): the moof and mdat header of the open fragment,
 * then every sample's data, in one writev (a few, past IOV_BATCH samples). Releases the samples.
 */
static int write_moof_mdat(struct rec_seg *s, struct cv_buf *b)
{
    size_t moof, dofs_at[2] = {0, 0}, iovn = 0;
    uint64_t moof_off = s->bytes + b->len, data = 0;
    uint32_t at;
    uint8_t traf = 0;
    struct iovec iov[IOV_BATCH];
    int rc = 0;

    lay_box_begin(b, "moof", &moof);
    {
        size_t mfhd;
        lay_box_begin(b, "mfhd", &mfhd);
        lay_box_full(b, 0, 0);
        cv_buf_be32(b, ++s->frag_seq);
        lay_box_end(b, mfhd);
    }
    for (int i = 0; i < 2; i++)
        if (s->ft[i].n > 0) {
            write_traf(b, &s->ft[i], (uint32_t)i + 1, &dofs_at[i]);
            ++traf;
            if (s->tfra_done[i]) /* one entry per fragment: at its first chunk with the track */
                continue;
            s->tfra_done[i] = true;
            if (tfra_add(&s->ft[i], moof_off, traf) < 0)
                rc = CV_ENOMEM;
        }
    lay_box_end(b, moof);
    /* data offsets count from the moof's first byte; the mdat header is 8 bytes */
    at = (uint32_t)(b->len - moof) + 8;
    for (int i = 0; i < 2; i++) {
        if (s->ft[i].n == 0)
            continue;
        if (cv_buf_ok(b))
            cv_put_be32(b->data + dofs_at[i], at + (uint32_t)data);
        for (size_t k = 0; k < s->ft[i].n; k++)
            data += s->ft[i].smp[k].size;
    }
    cv_buf_be32(b, (uint32_t)(8 + data));
    cv_buf_put(b, "mdat", 4);
    if (!cv_buf_ok(b) || data + 8 > UINT32_MAX)
        rc = CV_ENOMEM;
    if (rc == 0) {
        iov[iovn++] = (struct iovec){b->data, b->len};
        for (int i = 0; i < 2 && !s->io_errno; i++)
            for (size_t k = 0; k < s->ft[i].n && !s->io_errno; k++) {
                iov[iovn++] = (struct iovec){(void *)s->ft[i].smp[k].data, s->ft[i].smp[k].size};
                if (iovn == IOV_BATCH) {
                    out_writev(s, iov, (int)iovn);
                    iovn = 0;
                }
            }
        if (iovn > 0)
            out_writev(s, iov, (int)iovn);
    }
    ftrack_clear(&s->ft[0]);
    ftrack_clear(&s->ft[1]);
    return rc;
}

/* The closing index: a tfra per track (one entry per fragment, at its moof), then the mfro. */
static void write_mfra(struct rec_seg *s)
{
    struct cv_buf b;
    size_t mfra, box;
    struct iovec iov;

    cv_buf_init(&b, 64 * 1024 * 1024);
    lay_box_begin(&b, "mfra", &mfra);
    for (int i = 0; i < 2; i++) {
        const struct ftrack *t = &s->ft[i];
        if (t->ntfra == 0)
            continue;
        lay_box_begin(&b, "tfra", &box);
        lay_box_full(&b, 1, 0);
        cv_buf_be32(&b, (uint32_t)i + 1);
        cv_buf_be32(&b, 0); /* 1-byte traf, trun and sample numbers */
        cv_buf_be32(&b, (uint32_t)t->ntfra);
        for (size_t k = 0; k < t->ntfra; k++) {
            cv_buf_be64(&b, (uint64_t)t->tfra[k].time);
            cv_buf_be64(&b, t->tfra[k].moof);
            cv_buf_u8(&b, t->tfra[k].traf);
            cv_buf_u8(&b, 1);
            cv_buf_u8(&b, 1);
        }
        lay_box_end(&b, box);
    }
    lay_box_begin(&b, "mfro", &box);
    lay_box_full(&b, 0, 0);
    cv_buf_be32(&b, (uint32_t)(b.len - mfra + 4));
    lay_box_end(&b, box);
    lay_box_end(&b, mfra);
    if (cv_buf_ok(&b)) {
        iov = (struct iovec){b.data, b.len};
        out_writev(s, &iov, 1);
    } else if (!s->io_errno) {
        s->io_errno = ENOMEM;
    }
    cv_buf_release(&b);
}

/*
 * Write the open chunk: its prft (the wall clock of its first video sample, never before the
 * end of the chunk before it), for a fragment's first chunk the fraginfo box, then its moof and
 * mdat. Releases its samples.
 */
static int write_chunk(struct rec_seg *s, struct cv_err *err)
{
    struct cv_buf b;
    int64_t wall = s->wall_of(s->wall_ctx, s->chunk_in_dts);
    int r;

    /* The clock estimate can drop by a few µs between chunks: never go back in time. */
    if (wall < s->wall_floor)
        wall = s->wall_floor;
    cv_buf_init(&b, 64 * 1024);
    lay_seg_prft_box(&b, 1, wall, (uint64_t)s->chunk_dts);
    if (s->frag_chunks == 0)
        lay_seg_fraginfo_box(&b, s->frag_recv, 0);
    r = write_moof_mdat(s, &b);
    cv_buf_release(&b);
    if (r == CV_ENOMEM)
        return cv_errf(err, CV_ENOMEM, "segment '%s': fragment header too large", s->rel);
    if (s->io_errno)
        return io_error(s, err, "fragment");
    if (s->frag_chunks++ == 0)
        s->frag_wall = wall;
    s->wall_floor = wall + (int64_t)((uint64_t)(s->frag_end - s->chunk_dts) * 1000000 /
                                     (uint64_t)s->out_tb[0].den);
    return 0;
}

/* Write the open fragment's last chunk and note the fragment. */
static int flush_fragment(struct rec_seg *s, struct cv_err *err)
{
    struct lay_seg_frag *f;
    int r;

    if (!s->frag_open)
        return 0;
    r = write_chunk(s, err);
    if (r < 0)
        return r;
    if (cv_grow((void **)&s->frags, &s->fcap, s->nfrags + 1, sizeof(*s->frags), 64) < 0)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    f = &s->frags[s->nfrags++];
    memset(f, 0, sizeof(*f));
    f->offset = s->frag_offset;
    f->size = s->bytes - s->frag_offset;
    f->wall_us = s->frag_wall;
    f->recv_us = s->frag_recv;
    f->video_dts = (uint64_t)s->frag_dts;
    f->video_dur = (uint64_t)(s->frag_end - s->frag_dts);
    f->video_samples = s->frag_vsamples;
    f->keyframes = s->frag_keys;
    f->audio_samples = s->frag_asamples;
    f->starts_with_key = s->frag_key;
    f->chunks = s->frag_chunks;
    s->frag_open = false;
    return 0;
}

int rec_seg_write(struct rec_seg *s, AVPacket *pkt, int64_t recv_us, struct cv_err *err)
{
    int idx = pkt->stream_index, rc;
    bool video = idx == 0, key = pkt->flags & AV_PKT_FLAG_KEY;
    int64_t dts;

    if (s->io_errno)
        return io_error(s, err, "packet");
    if (idx < 0 || (unsigned)idx >= s->oc->nb_streams)
        return cv_errf(err, CV_EINVAL, "segment '%s': bad stream index %d", s->rel, idx);
    dts = av_rescale_q(pkt->dts, s->in_tb[idx], s->out_tb[idx]);
    if (video && s->frag_open &&
        (key || av_rescale_q(dts - s->frag_dts, s->out_tb[0], AV_TIME_BASE_Q) >= FRAG_MAX_US)) {
        rc = flush_fragment(s, err);
        if (rc < 0)
            return rc;
    } else if (video && s->frag_open && s->chunk_us > 0 &&
               av_rescale_q(dts - s->chunk_dts, s->out_tb[0], AV_TIME_BASE_Q) >= s->chunk_us) {
        rc = write_chunk(s, err);
        if (rc < 0)
            return rc;
        s->chunk_in_dts = pkt->dts;
        s->chunk_dts = dts;
    }
    if (video && !s->frag_open) {
        s->frag_open = true;
        s->frag_offset = s->bytes;
        s->frag_in_dts = pkt->dts;
        s->frag_recv = recv_us;
        s->frag_dts = dts;
        s->frag_key = key;
        s->frag_vsamples = s->frag_keys = 0;
        s->frag_chunks = 0;
        s->tfra_done[0] = s->tfra_done[1] = false;
        s->chunk_in_dts = pkt->dts;
        s->chunk_dts = dts;
        /* audio already waiting goes out with this fragment: count it in */
        s->frag_asamples = (uint32_t)s->ft[1].n;
    }
    {
        struct ftrack *t = &s->ft[idx];
        struct fsample *f;
        int64_t end = av_rescale_q(pkt->dts + pkt->duration, s->in_tb[idx], s->out_tb[idx]);
        int64_t pts = pkt->pts == AV_NOPTS_VALUE
                          ? dts
                          : av_rescale_q(pkt->pts, s->in_tb[idx], s->out_tb[idx]);
        if (cv_grow((void **)&t->smp, &t->cap, t->n + 1, sizeof(*t->smp), 64) < 0)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        if (t->n == 0)
            t->first_dts = dts;
        f = &t->smp[t->n];
        /* hold the camera's buffer itself; a packet without one is copied once */
        if (video && s->annexb) {
            size_t len = 0;
            f->buf = annexb_to_mp4(pkt->data, (size_t)pkt->size, &len);
            f->size = (uint32_t)len;
            if (f->buf)
                f->data = f->buf->data;
        } else {
            f->buf = pkt->buf ? av_buffer_ref(pkt->buf) : av_buffer_alloc((size_t)pkt->size);
            f->size = (uint32_t)pkt->size;
            if (f->buf && pkt->buf) {
                f->data = pkt->data;
            } else if (f->buf) {
                memcpy(f->buf->data, pkt->data, (size_t)pkt->size);
                f->data = f->buf->data;
            }
        }
        if (!f->buf)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        f->dur = (uint32_t)(end - dts);
        f->flags = !video || key ? SAMPLE_DEPENDS_NO : SAMPLE_NON_SYNC;
        f->cto = (int32_t)(pts - dts);
        t->n++;
        if (video)
            s->frag_end = end;
    }
    if (video) {
        s->frag_vsamples++;
        s->vsamples++;
        if (key) {
            s->frag_keys++;
            s->keys++;
        }
    } else {
        s->frag_asamples++;
        s->asamples++;
    }
    return 0;
}

/* Note a failed fsync of the file or its directory: the first reason is the one kept. */
static void sync_failed(struct rec_seg *s, const char *what, int e)
{
    if (!s->sync_failed)
        snprintf(s->sync_why, sizeof(s->sync_why), "cannot fsync %s '%s': %s", what, s->abs,
                 strerror(e));
    s->sync_failed = true;
}

/* fsync the directory the segment is in; a failure is noted, not returned. */
static void sync_parent(struct rec_seg *s)
{
    struct cv_err e = {""};

    if (cv_fsync_parent(s->abs, &e) < 0 && !s->sync_failed) {
        cv_strlcpy(s->sync_why, e.msg, sizeof(s->sync_why));
        s->sync_failed = true;
    }
}

/*
 * After a write, hash or fsync error: cut the file back to what is complete and describe that
 * part, hashed from the file. Never deletes a file with a complete fragment, or one that cannot
 * be read back (left for the next start's recovery; the scan's error is returned). A failed
 * ftruncate or fsync here is noted in s->sync_failed (the caller marks the record).
 */
static int close_damaged(struct rec_seg *s, struct idx_segment *rec, struct lay_seg_frag **frags,
                         size_t *nfrags, struct cv_err *err)
{
    struct lay_seg_info info;
    int rc, fd = open(s->abs, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return cv_errf(err, CV_EIO, "cannot reopen '%s': %s", s->abs, strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    if (rc < 0) { /* cannot even read it back: leave it for the next start's recovery */
        close(fd);
        return cv_errwrap(err, rc, "segment '%s' kept unindexed", s->rel);
    }
    if (info.nfrags == 0) {
        close(fd);
        lay_seg_info_release(&info);
        unlink(s->abs);
        cv_fsync_parent(s->abs, NULL);
        return cv_errf(err, CV_ENOENT, "segment '%s' had no complete fragment when writing failed",
                       s->rel);
    }
    if (ftruncate(fd, (off_t)info.complete_bytes) < 0)
        sync_failed(s, "(truncate)", errno);
    else if (fsync(fd) < 0)
        sync_failed(s, "segment", errno);
    sync_parent(s);
    idx_segment_from_scan(&info, rec->cam, s->rel, rec);
    rc = lay_sha256_fd(fd, info.complete_bytes, rec->sha256, err);
    close(fd);
    *frags = info.frags;
    *nfrags = info.nfrags;
    info.frags = NULL;
    lay_seg_info_release(&info);
    return rc;
}

int rec_seg_close(struct rec_seg *s, struct idx_segment *rec, struct lay_seg_frag **frags,
                  size_t *nfrags, struct cv_err *err)
{
    unsigned int len = 32;
    uint8_t digest[32];
    uint32_t cam = rec->cam;
    int rc = 0;

    *frags = NULL;
    *nfrags = 0;
    if (!s->io_errno) {
        rc = flush_fragment(s, err);
        if (rc == 0 && s->nfrags > 0) {
            write_mfra(s);
            if (s->io_errno)
                rc = io_error(s, err, "trailer");
        }
    }
    if (rc == 0 && s->nfrags == 0) {
        unlink(s->abs);
        cv_fsync_parent(s->abs, NULL);
        rc = cv_errf(err, CV_ENOENT, "segment '%s' ended before its first fragment", s->rel);
        goto out;
    }
    /*
     * A failed fsync is never retried into a "durable" segment: Linux may already have dropped
     * the dirty pages it could not write (and reports that once), so a later fsync that
     * succeeds proves nothing. The file is kept and indexed, marked IDX_SEG_NOT_DURABLE.
     */
    if (rc == 0 && fsync(s->fd) < 0)
        sync_failed(s, "segment", errno);
    if (rc == 0 && !s->sync_failed)
        sync_parent(s);
    if (rc == 0 && !s->hash_failed && (EVP_DigestFinal_ex(s->sha, digest, &len) != 1 || len != 32))
        s->hash_failed = true;
    if (rc < 0 || s->io_errno || s->hash_failed || s->sync_failed) {
        /* Keep what is complete: the recorder must not lose fragments already on disk. */
        char why[CV_ERR_MAX];
        cv_strlcpy(why,
                   rc < 0 && err    ? err->msg
                   : s->sync_failed ? s->sync_why
                   : s->hash_failed ? "SHA-256 failed while writing"
                                    : "write failed",
                   sizeof(why));
        memset(rec, 0, sizeof(*rec));
        rec->cam = cam;
        rc = close_damaged(s, rec, frags, nfrags, err);
        if (rc == 0 && s->sync_failed) {
            rec->flags |= IDX_SEG_NOT_DURABLE;
            cv_error("camera '%s': segment '%s' is not durable (kept and indexed as such): %s",
                     s->camera, s->rel, s->sync_why);
            cv_errf(err, CV_EIO, "segment '%s' not durable: %s", s->rel, s->sync_why);
        } else if (rc == 0) {
            cv_warn("camera '%s': segment '%s' kept up to its last complete fragment after: %s",
                    s->camera, s->rel, why);
        }
        goto out;
    }
    memset(rec, 0, sizeof(*rec));
    rec->cam = cam;
    {
        const struct lay_seg_frag *last = &s->frags[s->nfrags - 1];
        rec->start_us = s->frags[0].wall_us;
        rec->end_us = last->wall_us +
                      (int64_t)(last->video_dur * 1000000 / (uint64_t)s->out_tb[0].den);
    }
    cv_strlcpy(rec->path, s->rel, sizeof(rec->path));
    rec->bytes = s->bytes;
    rec->frames = (uint32_t)s->vsamples;
    rec->keyframes = (uint32_t)s->keys;
    rec->audio_frames = (uint32_t)s->asamples;
    rec->fragments = (uint32_t)s->nfrags;
    cv_strlcpy(rec->video, s->hdr.video, sizeof(rec->video));
    cv_strlcpy(rec->audio, s->hdr.audio, sizeof(rec->audio));
    memcpy(rec->sha256, digest, 32);
    rec->run_id = s->hdr.run_id;
    rec->run_seq = s->hdr.run_seq;
    *frags = s->frags;
    *nfrags = s->nfrags;
    s->frags = NULL;
out:
    seg_free(s);
    return rc;
}

bool rec_seg_audio_storable(enum AVCodecID id, bool *mov)
{
    switch (id) {
    case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_MP3:
        *mov = false;
        return true;
    case AV_CODEC_ID_PCM_MULAW:
    case AV_CODEC_ID_PCM_ALAW:
    case AV_CODEC_ID_PCM_S16BE:
    case AV_CODEC_ID_PCM_S16LE:
        *mov = true;
        return true;
    default:
        return false;
    }
}
