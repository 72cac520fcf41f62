/*
 * test_segwriter.c: the recorder's segment writer (recorder/segwriter.c), read back by others.
 *
 * The writer builds every fragment itself (moof, trun, mdat) and lets libavformat write only
 * the init part, so the test that matters is that an independent reader gets back exactly what
 * was written: libavformat's MP4/MOV demuxer for every packet (stream, decode and presentation
 * time, keyframe flag, bytes; the exact decode times of every next sample pin the durations),
 * our own scanner (lay_seg_scan) for the fragment table,
 * and SHA-256 of the file for the hash the writer reports. Cases: H.264 + AAC in MP4 with
 * varying sizes, an Annex B input (libavformat's RTSP input) stored with 4-byte lengths, and
 * B-frame composition offsets.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "integrity/checkpoint.h"
#include "exporter/export.h"
#include "integrity/keys.h"
#include "exporter/verify.h"
#include "indexer/idx.h"
#include "recorder/rec_int.h"
#include "recorder/rtp.h"
#include "storage-layout/bmff.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define VDUR 3600 /* 25 fps in 1/90000 */
#define ADUR 1024 /* AAC frame in 1/48000 */
#define GOP 25
#define MAXPKT 400

struct sent {
    int stream;
    int64_t dts, pts, dur;
    bool key;
    size_t size;
    uint8_t data[3200];
};

static int64_t wall_of(void *ctx, int64_t dts)
{
    return *(int64_t *)ctx + av_rescale(dts, 1000000, 90000);
}

/* camsim's SPS and PPS (1280x720 High): enough for a valid avcC */
static AVCodecParameters *h264_params(void)
{
    static const char *sps = "6764001facb402802dd808800000030080000019078c1950",
                      *pps = "68ef3cb0";
    struct rec_ps v = {{0}, 0}, s = {{0}, 0}, p = {{0}, 0};
    AVCodecParameters *par;
    struct cv_buf cfg;

    s.len = (uint16_t)(strlen(sps) / 2);
    p.len = (uint16_t)(strlen(pps) / 2);
    cv_unhex(sps, s.data, s.len);
    cv_unhex(pps, p.data, p.len);
    cv_buf_init(&cfg, 1024);
    CHECK(rec_vconfig(REC_VC_H264, &v, &s, &p, &cfg) == 0);
    par = fx_video_params(AV_CODEC_ID_H264, 1280, 720, &cfg);
    cv_buf_release(&cfg);
    return par;
}

static AVCodecParameters *aac_params(void)
{
    AVCodecParameters *par = avcodec_parameters_alloc();

    par->codec_type = AVMEDIA_TYPE_AUDIO;
    par->codec_id = AV_CODEC_ID_AAC;
    par->sample_rate = 48000;
    av_channel_layout_default(&par->ch_layout, 1);
    par->extradata = av_mallocz(2 + AV_INPUT_BUFFER_PADDING_SIZE);
    par->extradata[0] = 0x11;
    par->extradata[1] = 0x88;
    par->extradata_size = 2;
    par->frame_size = 1024;
    return par;
}

/* A video access unit of `size` bytes made of 4-byte-length NAL units (or start codes). */
static size_t fill_au(uint8_t *out, size_t size, bool key, bool annexb, uint64_t *rnd)
{
    size_t o = 0;

    while (o + 8 <= size) {
        size_t len = size - o - 4 > 700 ? 300 + fx_rand(rnd) % 400 : size - o - 4;
        if (annexb)
            cv_put_be32(out + o, 1);
        else
            cv_put_be32(out + o, (uint32_t)len);
        out[o + 4] = o == 0 && key ? 0x65 : 0x41; /* IDR or non-IDR slice header byte */
        for (size_t i = 1; i < len; i++)
            out[o + 4 + i] = (uint8_t)(1 + fx_rand(rnd) % 255); /* no zero: no false start code */
        o += 4 + len;
    }
    return o;
}

struct run {
    struct sent *pk;
    size_t n;
    char rel[LAY_RELPATH_MAX];
    struct idx_segment rec;
    struct lay_seg_frag *frags;
    size_t nfrags;
};

/* The parameters of a test segment of camera c1 on the main volume; apar NULL: no audio. */
static void seg_params(struct rec_seg_params *p, const char *root, const AVCodecParameters *vpar,
                       const AVCodecParameters *apar, int64_t *base)
{
    memset(p, 0, sizeof(*p));
    p->root = root;
    p->volume = LAY_DEFAULT_VOLUME;
    p->camera = "c1";
    p->vpar = vpar;
    p->apar = apar;
    p->vtb = (AVRational){1, 90000};
    p->atb = (AVRational){1, 48000};
    p->run_id = 7;
    p->start_wall_us = *base;
    p->video_desc = "h264 1280x720";
    p->audio_desc = apar ? "aac 48000Hz 1ch" : "none";
    p->wall_of = wall_of;
    p->wall_ctx = base;
}

/* One audio frame at adts, sent and noted. */
static void write_audio(struct rec_seg *s, struct run *r, int64_t adts, uint64_t *rnd)
{
    struct sent *a = &r->pk[r->n++];
    AVPacket *pkt = av_packet_alloc();
    struct cv_err err = {""};

    a->stream = 1;
    a->dts = a->pts = adts;
    a->dur = ADUR;
    a->key = true;
    a->size = 6 + fx_rand(rnd) % 300;
    for (size_t i = 0; i < a->size; i++)
        a->data[i] = (uint8_t)fx_rand(rnd);
    av_new_packet(pkt, (int)a->size);
    memcpy(pkt->data, a->data, a->size);
    pkt->stream_index = 1;
    pkt->dts = pkt->pts = adts;
    pkt->duration = ADUR;
    CHECK_MSG(rec_seg_write(s, pkt, 0, &err) == 0, "%s", err.msg);
    av_packet_free(&pkt);
}

/*
 * Write `gops` GOPs of video (+ audio) through the writer; reorder: B-frame-like pts. The first
 * two audio frames come before the first video frame, as at a segment's start when audio waited
 * for the keyframe: they belong to the first fragment and must be counted in it.
 */
static void write_segment(const char *root, struct run *r, int gops, bool annexb, bool reorder,
                          int64_t chunk_us)
{
    AVCodecParameters *vpar = h264_params(), *apar = aac_params();
    int64_t base = INT64_C(1795000000000000);
    struct rec_seg_params p;
    struct rec_seg *s = NULL;
    struct cv_err err = {""};
    uint64_t rnd = 42;
    int64_t adts = 0;

    seg_params(&p, root, vpar, apar, &base);
    p.annexb = annexb;
    p.chunk_us = chunk_us;
    CHECK_MSG(rec_seg_open(&s, &p, r->rel, &err) == 0, "open: %s", err.msg);
    r->pk = calloc(MAXPKT, sizeof(*r->pk));
    for (int k = 0; s && k < 2; k++, adts += ADUR)
        write_audio(s, r, adts, &rnd);
    for (int f = 0; s && f < gops * GOP; f++) {
        struct sent *v = &r->pk[r->n++];
        AVPacket *pkt = av_packet_alloc();
        /* I P B B in decode order, decode times a frame ahead: presentation offsets >= 0 */
        static const int shift[4] = {1, 3, 0, 0};
        v->stream = 0;
        v->key = f % GOP == 0;
        v->dts = (int64_t)f * VDUR;
        v->pts = v->dts + (reorder ? shift[f % 4] * VDUR : 0);
        v->dur = VDUR;
        v->size = fill_au(v->data, v->key ? 3000 : 200 + fx_rand(&rnd) % 1800, v->key, annexb,
                          &rnd);
        av_new_packet(pkt, (int)v->size);
        memcpy(pkt->data, v->data, v->size);
        pkt->stream_index = 0;
        pkt->dts = v->dts;
        pkt->pts = v->pts;
        pkt->duration = v->dur;
        pkt->flags = v->key ? AV_PKT_FLAG_KEY : 0;
        CHECK_MSG(rec_seg_write(s, pkt, base + v->dts / 90 * 1000 / 1000, &err) == 0, "%s",
                  err.msg);
        av_packet_free(&pkt);
        /* the audio of this frame's 40 ms */
        for (; av_rescale(adts, 90000, 48000) < v->dts + VDUR; adts += ADUR)
            write_audio(s, r, adts, &rnd);
    }
    memset(&r->rec, 0, sizeof(r->rec));
    if (s)
        CHECK_MSG(rec_seg_close(s, &r->rec, &r->frags, &r->nfrags, &err) == 0, "close: %s",
                  err.msg);
    avcodec_parameters_free(&vpar);
    avcodec_parameters_free(&apar);
}

/* What the stored form of a sent video packet is: start codes become 4-byte lengths. */
static size_t stored_form(const struct sent *v, bool annexb, uint8_t *out)
{
    size_t o = 0;

    if (!annexb || v->stream != 0) {
        memcpy(out, v->data, v->size);
        return v->size;
    }
    /* fill_au wrote 4-byte start codes; NAL lengths run to the next one */
    for (size_t i = 0; i < v->size;) {
        size_t j = i + 4;
        while (j + 4 <= v->size && cv_get_be32(v->data + j) != 1)
            j++;
        if (j + 4 > v->size)
            j = v->size;
        cv_put_be32(out + o, (uint32_t)(j - i - 4));
        memcpy(out + o + 4, v->data + i + 4, j - i - 4);
        o += j - i;
        i = j;
    }
    return o;
}

/* Read the file back with libavformat and compare, packet by packet, per stream in order. */
static void check_read_back(const char *path, const struct run *r, bool annexb)
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    size_t next[2] = {0, 0}, got = 0;
    static uint8_t want[4096];

    /* the container's word only: no parser may re-derive keyframes or durations from the
     * (random) payloads */
    ic = avformat_alloc_context();
    ic->flags |= AVFMT_FLAG_NOPARSE | AVFMT_FLAG_NOFILLIN;
    CHECK_MSG(avformat_open_input(&ic, path, NULL, NULL) == 0, "libavformat cannot open %s",
              path);
    if (!ic)
        goto out;
    CHECK_EQ_INT(ic->nb_streams, 2);
    while (av_read_frame(ic, pkt) >= 0) {
        int si = pkt->stream_index;
        const struct sent *e = NULL;
        AVRational tb = ic->streams[si]->time_base, in = si == 0 ? (AVRational){1, 90000}
                                                                 : (AVRational){1, 48000};
        while (next[si] < r->n && r->pk[next[si]].stream != si)
            next[si]++;
        if (next[si] < r->n)
            e = &r->pk[next[si]++];
        got++;
        CHECK_MSG(e != NULL, "an extra packet in stream %d", si);
        if (e) {
            size_t wl = stored_form(e, annexb, want);
            CHECK_EQ_INT(av_rescale_q(pkt->dts, tb, in), e->dts);
            CHECK_EQ_INT(av_rescale_q(pkt->pts, tb, in), e->pts);
            CHECK_EQ_INT(!!(pkt->flags & AV_PKT_FLAG_KEY), e->key);
            CHECK_EQ_INT(pkt->size, wl);
            CHECK_MSG(pkt->size == (int)wl && memcmp(pkt->data, want, wl) == 0,
                      "stream %d packet at dts %lld: bytes differ", si, (long long)e->dts);
        }
        av_packet_unref(pkt);
        if (unit_failures() > 10)
            break;
    }
    CHECK_EQ_INT(got, r->n);
out:
    avformat_close_input(&ic);
    av_packet_free(&pkt);
}

/* How many boxes of `type` are at the top level of the file. */
static int count_boxes(int fd, const char *type)
{
    struct lay_box_hdr h;
    struct cv_err err = {""};
    uint64_t off = 0, end = (uint64_t)lseek(fd, 0, SEEK_END);
    int n = 0;

    while (lay_box_read(fd, off, end, &h, &err) == 1) {
        n += strcmp(h.type, type) == 0;
        off += h.size;
    }
    return n;
}

static void check_scan(const char *path, const struct run *r, int gops, int chunks)
{
    struct lay_seg_info info;
    struct cv_err err = {""};
    uint8_t sha[32];
    int fd = open(path, O_RDONLY);

    CHECK(fd >= 0);
    CHECK_MSG(lay_seg_scan(fd, &info, &err) == 0, "scan: %s", err.msg);
    CHECK(info.closed);
    CHECK_EQ_U64(info.complete_bytes, info.file_bytes);
    CHECK_EQ_INT(info.nfrags, gops);
    CHECK_EQ_INT(r->nfrags, gops);
    for (size_t i = 0; i < info.nfrags && i < r->nfrags; i++) {
        CHECK_EQ_INT(info.frags[i].video_samples, GOP);
        CHECK_EQ_INT(info.frags[i].keyframes, 1);
        CHECK(info.frags[i].starts_with_key);
        CHECK_EQ_U64(info.frags[i].video_dur, (uint64_t)GOP * VDUR);
        CHECK_EQ_U64(info.frags[i].video_dts, (uint64_t)i * GOP * VDUR);
        CHECK_EQ_U64(info.frags[i].offset, r->frags[i].offset);
        CHECK_EQ_U64(info.frags[i].size, r->frags[i].size);
        CHECK_EQ_INT(info.frags[i].audio_samples, r->frags[i].audio_samples);
        CHECK(info.frags[i].audio_samples > 0);
        CHECK_EQ_INT(info.frags[i].chunks, chunks);
        CHECK_EQ_INT(r->frags[i].chunks, chunks);
    }
    /* every chunk has its prft and moof; a fragment's first one alone has the fraginfo */
    CHECK_EQ_INT(count_boxes(fd, "prft"), gops * chunks);
    CHECK_EQ_INT(count_boxes(fd, "moof"), gops * chunks);
    CHECK_EQ_INT(count_boxes(fd, "uuid"), 1 + gops);
    CHECK_EQ_INT(r->rec.frames, gops * GOP);
    CHECK_EQ_INT(r->rec.keyframes, gops);
    CHECK_EQ_U64(r->rec.bytes, info.file_bytes);
    CHECK(lay_sha256_fd(fd, info.file_bytes, sha, &err) == 0);
    CHECK_MSG(memcmp(sha, r->rec.sha256, 32) == 0, "the reported hash is not the file's");
    lay_seg_info_release(&info);
    close(fd);
}

static void round_trip(bool annexb, bool reorder, int64_t chunk_us, int chunks)
{
    char root[PATH_MAX], path[PATH_MAX + LAY_RELPATH_MAX];
    struct run r;
    int gops = 3;

    memset(&r, 0, sizeof(r));
    CHECK(fx_tmpdir(root) == 0);
    write_segment(root, &r, gops, annexb, reorder, chunk_us);
    snprintf(path, sizeof(path), "%s/%s", root, r.rel);
    check_read_back(path, &r, annexb);
    check_scan(path, &r, gops, chunks);
    free(r.frags);
    free(r.pk);
    fx_rmtree(root);
}

void test_segwriter_round_trip(void)
{
    round_trip(false, false, 0, 1);
}

void test_segwriter_annexb_input(void)
{
    round_trip(true, false, 0, 1);
}

void test_segwriter_composition_offsets(void)
{
    round_trip(false, true, 0, 1);
}

/* CMAF chunks of 200 ms (5 frames of a 25-frame GOP): the same packets read back, one
 * fragment per GOP in the scan and in the writer's table, 5 chunks each. */
void test_segwriter_chunks(void)
{
    round_trip(false, true, 200000, 5);
}

/*
 * A chunked segment cut anywhere (a crash) loses at most the chunk that was being written: the
 * scan reports every complete chunk, grouped into its fragment, and complete_bytes ends at the
 * last complete chunk (what recovery keeps).
 */
void test_segwriter_chunks_torn(void)
{
    char root[PATH_MAX], path[PATH_MAX + LAY_RELPATH_MAX];
    struct run r;
    struct lay_seg_info info;
    struct cv_err err = {""};
    uint64_t full;
    int fd;

    memset(&r, 0, sizeof(r));
    CHECK(fx_tmpdir(root) == 0);
    write_segment(root, &r, 2, false, false, 200000);
    snprintf(path, sizeof(path), "%s/%s", root, r.rel);
    fd = open(path, O_RDWR);
    CHECK(fd >= 0 && r.nfrags == 2);
    if (fd < 0 || r.nfrags != 2)
        goto out;
    full = r.frags[1].offset + r.frags[1].size;
    /* cut in the second fragment's third chunk: its first two chunks (10 frames) remain */
    for (uint64_t cut = full - 1; cut > r.frags[1].offset; cut -= 997) {
        int complete = 0;
        CHECK(ftruncate(fd, (off_t)cut) == 0);
        CHECK_MSG(lay_seg_scan(fd, &info, &err) == 0, "scan: %s", err.msg);
        CHECK(!info.closed);
        CHECK(info.complete_bytes <= cut);
        CHECK(info.nfrags >= 1 && info.nfrags <= 2);
        CHECK_EQ_U64(info.frags[0].size, r.frags[0].size);
        CHECK_EQ_INT(info.frags[0].chunks, 5);
        if (info.nfrags == 2) {
            complete = (int)info.frags[1].chunks;
            CHECK_EQ_INT(info.frags[1].video_samples, complete * 5);
            CHECK_EQ_U64(info.frags[1].offset + info.frags[1].size, info.complete_bytes);
            CHECK(info.frags[1].starts_with_key);
        }
        /* what is lost is less than a chunk (5 frames and their audio, < 16 kB; a GOP > 27 kB) */
        CHECK_MSG(cut - info.complete_bytes < 16000, "cut at %llu kept %llu",
                  (unsigned long long)cut, (unsigned long long)info.complete_bytes);
        lay_seg_info_release(&info);
        if (unit_failures() > 5)
            break;
    }
    close(fd);
out:
    free(r.frags);
    free(r.pk);
    fx_rmtree(root);
}

/*
 * A recorded run larger than verify's limit for text entries (16 MiB), written in CMAF chunks,
 * exports to a package whose working copy (the same 20 MB, rebuilt by verify from the native file) verifies: footage
 * is streamed and hashed, never loaded whole, whichever folder of the package it is in.
 */
void test_segwriter_large_export_verifies(void)
{
    char root[PATH_MAX], out[PATH_MAX + 16], *text = NULL;
    AVCodecParameters *vpar = h264_params();
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera cam = {.enabled = true};
    struct itg_signer *signer = NULL;
    struct rec_seg_params p;
    struct rec_seg *s = NULL;
    struct idx_segment rec;
    struct lay_seg_frag *frags = NULL;
    struct exp_request req;
    struct exp_result res;
    struct cv_err err = {""};
    int64_t base = INT64_C(1795000000000000);
    uint64_t rnd = 7, seq = 0;
    size_t nfrags = 0, len = 0, au = 400 * 1000;
    uint8_t *buf = malloc(au);
    unsigned failed = 99;
    int created = 0;
    FILE *f;

    CHECK(fx_tmpdir(root) == 0);
    CHECK_OK(lay_root_create(root, &err), &err);
    CHECK_OK(idx_open(&idx, root, IDX_CREATE, &err), &err);
    CHECK_OK(itg_keys_create(root, "unit-site", &created, &err), &err);
    cv_strlcpy(cam.id, "c1", sizeof(cam.id));
    cv_strlcpy(cam.volume, LAY_DEFAULT_VOLUME, sizeof(cam.volume));
    CHECK_OK(idx_begin(idx, true, &t, &err), &err);
    CHECK_OK(idx_camera_add(t, &cam, &err), &err);
    seg_params(&p, root, vpar, NULL, &base);
    p.chunk_us = 200000; /* as recorded by default: the working copy is cut from chunks */
    CHECK_OK(rec_seg_open(&s, &p, rec.path, &err), &err);
    for (int i = 0; s && i < 2 * GOP; i++) { /* 50 frames of 400 kB: 20 MB */
        AVPacket *pkt = av_packet_alloc();
        fill_au(buf, au, i % GOP == 0, false, &rnd);
        av_new_packet(pkt, (int)au);
        memcpy(pkt->data, buf, au);
        pkt->dts = pkt->pts = (int64_t)i * VDUR;
        pkt->duration = VDUR;
        pkt->flags = i % GOP == 0 ? AV_PKT_FLAG_KEY : 0;
        CHECK_OK(rec_seg_write(s, pkt, base + i * 40000, &err), &err);
        av_packet_free(&pkt);
    }
    memset(&rec, 0, sizeof(rec));
    rec.cam = cam.num;
    if (s)
        CHECK_OK(rec_seg_close(s, &rec, &frags, &nfrags, &err), &err);
    rec.cam = cam.num;
    CHECK(rec.bytes > (UINT64_C(16) << 20) + (UINT64_C(2) << 20));
    CHECK_OK(idx_segment_put(t, "c1", &rec, frags, nfrags, &err), &err);
    CHECK_OK(idx_commit(t, &err), &err);
    CHECK_OK(itg_signer_open(&signer, root, &err), &err);
    CHECK_OK(itg_checkpoint_make(idx, root, signer, base + 60 * CV_US_PER_S, &seq, &err), &err);
    itg_signer_close(signer);

    snprintf(out, sizeof(out), "%s/p.zip", root);
    memset(&req, 0, sizeof(req));
    req.root = root;
    req.cameras[0] = "c1";
    req.ncameras = 1;
    req.from_us = rec.start_us;
    req.to_us = rec.end_us;
    req.case_id = "CASE-9";
    req.reason = "unit test";
    req.out_path = out;
    CHECK_OK(exp_export(idx, &req, &res, &err), &err);
    f = open_memstream(&text, &len);
    CHECK_OK(exp_verify(out, false, f, &failed, &err), &err);
    fclose(f);
    CHECK_EQ_INT(failed, 0);
    CHECK_MSG(text && strstr(text, "working/"), "no working copy was checked:\n%s", text);
    free(text);
    free(frags);
    free(buf);
    avcodec_parameters_free(&vpar);
    idx_close(idx);
    fx_rmtree(root);
}
