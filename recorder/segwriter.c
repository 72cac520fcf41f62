/*
 * segwriter.c: one segment file, written by libavformat's MP4/MOV muxer in "custom fragment"
 * mode through our own AVIOContext, which writes straight to the O_EXCL file and feeds SHA-256
 * on the way, so the hash is ready the moment the file is.
 *
 * Before each fragment flush we write our prft + fraginfo boxes into the same AVIO stream, so
 * they land right before that fragment's moof. The muxer keeps one fragment (one GOP) in memory.
 * Muxer options: empty_moov (moov first, no samples), frag_custom (we decide the fragment
 * boundaries), default_base_moof, frag_discont (tfdt = the run-relative decode time of the
 * first packet, so decode times continue across the segments of a run), use_editlist 0, and
 * avoid_negative_ts disabled (else the first timestamp of each file is shifted to zero).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/opt.h>
#include <openssl/evp.h>

#include "recorder/rec_int.h"
#include "indexer/recover.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/banned.h"

#define IO_BUF 65536
#define FRAG_MAX_US (10 * INT64_C(1000000)) /* cut a fragment without a keyframe after 10 s */

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
    struct lay_seg_header hdr;
    int64_t (*wall_of)(void *ctx, int64_t video_dts);
    void *wall_ctx;
    int64_t wall_floor; /* the next fragment starts no earlier (see rec_seg_params) */

    /* the open fragment */
    bool frag_open;
    uint64_t frag_offset;
    int64_t frag_in_dts, frag_recv; /* first video dts in the input time base */
    int64_t frag_dts;  /* video, out time base */
    int64_t frag_end;  /* video dts + duration of the last video packet, out time base */
    uint32_t frag_vsamples, frag_keys, frag_asamples;
    bool frag_key;

    struct lay_seg_frag *frags;
    size_t nfrags, fcap;
    uint64_t vsamples, keys, asamples;
};

static int io_write(void *opaque, uint8_t *buf, int size)
{
    struct rec_seg *s = opaque;
    int rc;

    if (s->io_errno)
        return AVERROR(s->io_errno);
    rc = cv_write_all(s->fd, buf, (size_t)size);
    if (rc < 0) {
        s->io_errno = -rc;
        return AVERROR(-rc);
    }
    EVP_DigestUpdate(s->sha, buf, (size_t)size);
    s->bytes += (uint64_t)size;
    return size;
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
    free(s);
}

static int io_error(struct rec_seg *s, struct cv_err *err, const char *what)
{
    return cv_errf(err, cv_errno_code(s->io_errno), "cannot write segment '%s' (%s): %s", s->abs,
                   what, strerror(s->io_errno));
}

int rec_seg_open(struct rec_seg **out, const struct rec_seg_params *p, char *relpath,
                 struct cv_err *err)
{
    struct rec_seg *s = calloc(1, sizeof(*s));
    AVDictionary *opts = NULL;
    const AVOutputFormat *fmt;
    unsigned char *iobuf = NULL;
    struct cv_buf hb;
    int rc = 0, r;

    *out = NULL;
    if (!s)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->fd = -1;
    cv_buf_init(&hb, 4096);
    cv_strlcpy(s->root, p->root, sizeof(s->root));
    cv_strlcpy(s->camera, p->camera, sizeof(s->camera));
    s->wall_of = p->wall_of;
    s->wall_ctx = p->wall_ctx;
    s->wall_floor = p->min_wall_us;
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
        st->codecpar->codec_tag = 0;
        st->time_base = i == 0 ? p->vtb : p->atb;
        s->in_tb[i] = st->time_base;
    }
    av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof+frag_discont", 0);
    av_dict_set(&opts, "use_editlist", "0", 0);
    /* Without this the muxer shifts each file's first timestamp to zero (make_zero), which
     * would restart decode times in every segment instead of continuing the run. */
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    av_dict_set(&opts, "fflags", "+bitexact", 0);
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
    if (s->io_errno) {
        rc = io_error(s, err, "header");
        goto out;
    }
    cv_strlcpy(relpath, s->rel, LAY_RELPATH_MAX);
out:
    av_dict_free(&opts);
    cv_buf_release(&hb);
    if (rc < 0) {
        if (s->fd >= 0 && s->abs[0])
            unlink(s->abs);
        seg_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Write our boxes for the open fragment, let the muxer write moof+mdat, note the fragment. */
static int flush_fragment(struct rec_seg *s, struct cv_err *err)
{
    struct cv_buf b;
    struct lay_seg_frag *f;
    int64_t wall;
    int r;

    if (!s->frag_open)
        return 0;
    wall = s->wall_of(s->wall_ctx, s->frag_in_dts);
    /* The clock estimate can drop by a few µs between fragments: never go back in time. */
    if (wall < s->wall_floor)
        wall = s->wall_floor;
    cv_buf_init(&b, 256);
    lay_seg_prft_box(&b, 1, wall, (uint64_t)s->frag_dts);
    lay_seg_fraginfo_box(&b, s->frag_recv, 0);
    avio_write(s->oc->pb, b.data, (int)b.len);
    cv_buf_release(&b);
    r = av_write_frame(s->oc, NULL);
    avio_flush(s->oc->pb);
    if (s->io_errno)
        return io_error(s, err, "fragment");
    if (r < 0)
        return cv_errf(err, CV_EMEDIA, "segment '%s': cannot write fragment: %s", s->rel,
                       av_err2str(r));
    if (s->nfrags == s->fcap) {
        size_t ncap = s->fcap ? s->fcap * 2 : 64;
        struct lay_seg_frag *nf = realloc(s->frags, ncap * sizeof(*nf));
        if (!nf)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        s->frags = nf;
        s->fcap = ncap;
    }
    f = &s->frags[s->nfrags++];
    memset(f, 0, sizeof(*f));
    f->offset = s->frag_offset;
    f->size = s->bytes - s->frag_offset;
    f->wall_us = wall;
    f->recv_us = s->frag_recv;
    f->video_dts = (uint64_t)s->frag_dts;
    f->video_dur = (uint64_t)(s->frag_end - s->frag_dts);
    f->video_samples = s->frag_vsamples;
    f->keyframes = s->frag_keys;
    f->audio_samples = s->frag_asamples;
    f->starts_with_key = s->frag_key;
    s->wall_floor = wall + (int64_t)(f->video_dur * 1000000 / (uint64_t)s->out_tb[0].den);
    s->frag_open = false;
    return 0;
}

int rec_seg_write(struct rec_seg *s, AVPacket *pkt, int64_t recv_us, struct cv_err *err)
{
    int idx = pkt->stream_index, r, rc;
    bool video = idx == 0, key = pkt->flags & AV_PKT_FLAG_KEY;
    AVPacket *op;
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
    }
    if (video && !s->frag_open) {
        s->frag_open = true;
        s->frag_offset = s->bytes;
        s->frag_in_dts = pkt->dts;
        s->frag_recv = recv_us;
        s->frag_dts = dts;
        s->frag_key = key;
        s->frag_vsamples = s->frag_keys = s->frag_asamples = 0;
    }
    op = av_packet_clone(pkt);
    if (!op)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    av_packet_rescale_ts(op, s->in_tb[idx], s->out_tb[idx]);
    if (video) {
        s->frag_end = op->dts + op->duration;
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
    r = av_write_frame(s->oc, op);
    av_packet_free(&op);
    if (s->io_errno)
        return io_error(s, err, "packet");
    if (r < 0)
        return cv_errf(err, CV_EMEDIA, "segment '%s': muxer refused a packet: %s", s->rel,
                       av_err2str(r));
    return 0;
}

/* After a write error: cut the file back to what is complete and describe that part. */
static int close_damaged(struct rec_seg *s, struct idx_segment *rec, struct lay_seg_frag **frags,
                         size_t *nfrags, struct cv_err *err)
{
    struct lay_seg_info info;
    int rc, fd = open(s->abs, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return cv_errf(err, CV_EIO, "cannot reopen '%s': %s", s->abs, strerror(errno));
    rc = lay_seg_scan(fd, &info, err);
    if (rc < 0 || info.nfrags == 0) {
        close(fd);
        if (rc == 0)
            lay_seg_info_release(&info);
        unlink(s->abs);
        cv_fsync_parent(s->abs, NULL);
        return cv_errf(err, CV_ENOENT, "segment '%s' had no complete fragment when writing failed",
                       s->rel);
    }
    if (ftruncate(fd, (off_t)info.complete_bytes) == 0)
        fsync(fd);
    cv_fsync_parent(s->abs, NULL);
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
    uint32_t cam = rec->cam;
    int rc = 0, r;

    *frags = NULL;
    *nfrags = 0;
    if (!s->io_errno) {
        rc = flush_fragment(s, err);
        if (rc == 0) {
            r = av_write_trailer(s->oc);
            avio_flush(s->oc->pb);
            if (s->io_errno)
                rc = io_error(s, err, "trailer");
            else if (r < 0)
                rc = cv_errf(err, CV_EMEDIA, "segment '%s': cannot write trailer: %s", s->rel,
                             av_err2str(r));
        }
    }
    if (rc == 0 && s->nfrags == 0) {
        unlink(s->abs);
        cv_fsync_parent(s->abs, NULL);
        rc = cv_errf(err, CV_ENOENT, "segment '%s' ended before its first fragment", s->rel);
        goto out;
    }
    if (rc == 0 && fsync(s->fd) < 0)
        rc = cv_errf(err, CV_EIO, "cannot fsync '%s': %s", s->abs, strerror(errno));
    if (rc == 0)
        rc = cv_fsync_parent(s->abs, err);
    if (rc < 0 || s->io_errno) {
        /* Keep what is complete: the recorder must not lose fragments already on disk. */
        char why[CV_ERR_MAX];
        cv_strlcpy(why, err ? err->msg : "write failed", sizeof(why));
        memset(rec, 0, sizeof(*rec));
        rec->cam = cam;
        rc = close_damaged(s, rec, frags, nfrags, err);
        if (rc == 0)
            cv_warn("camera '%s': segment '%s' kept up to its last complete fragment after: %s",
                    s->camera, s->rel, why);
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
    EVP_DigestFinal_ex(s->sha, rec->sha256, &len);
    rec->run_id = s->hdr.run_id;
    rec->run_seq = s->hdr.run_seq;
    *frags = s->frags;
    *nfrags = s->nfrags;
    s->frags = NULL;
out:
    seg_free(s);
    return rc;
}
