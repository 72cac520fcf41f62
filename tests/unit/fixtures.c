/*
 * fixtures.c: temporary directories, file helpers, a seeded PRNG and the synthetic segment
 * builder shared by the segfile and recover tests (see fixtures.h for the layout it writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <openssl/evp.h>

#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "common/fileio.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

int fx_tmpdir(char *out)
{
    snprintf(out, PATH_MAX, "%s/t-XXXXXX", unit_tmp_base());
    if (!mkdtemp(out)) {
        unit_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void fx_rmtree(const char *path)
{
    if (path && *path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int fx_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *p = data;

    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd);
}

long long fx_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

void fx_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int fx_root_open(char *root, struct idx **idx)
{
    struct cv_err err = {""};
    int rc;

    *idx = NULL;
    if (fx_tmpdir(root) < 0)
        return -1;
    rc = lay_root_create(root, &err);
    if (rc == 0)
        rc = idx_open(idx, root, IDX_CREATE, &err);
    if (rc < 0) {
        unit_fail(__FILE__, __LINE__, "cannot create an index in '%s': %s", root, err.msg);
        fx_rmtree(root);
        return -1;
    }
    return 0;
}

void fx_root_close(const char *root, struct idx *idx)
{
    idx_close(idx);
    fx_rmtree(root);
}

int fx_env_open(struct fx_env *e)
{
    memset(e, 0, sizeof(*e));
    return fx_root_open(e->root, &e->idx);
}

void fx_env_close(struct fx_env *e)
{
    fx_root_close(e->root, e->idx);
    e->idx = NULL;
}

int fx_setup_end(struct idx_txn *t, int rc, struct cv_err *err, const char *root,
                 struct idx *idx)
{
    if (rc == 0) {
        rc = idx_commit(t, err);
        t = NULL;
    }
    idx_abort(t);
    if (rc < 0) {
        unit_fail(__FILE__, __LINE__, "setup: %s", err->msg);
        fx_root_close(root, idx);
        return -1;
    }
    return 0;
}

void fx_camera(struct idx_camera *c, const char *id, const char *volume, double days)
{
    memset(c, 0, sizeof(*c));
    cv_strlcpy(c->id, id, sizeof(c->id));
    cv_strlcpy(c->url, "rtsp://10.0.0.7/live", sizeof(c->url));
    cv_strlcpy(c->volume, volume, sizeof(c->volume));
    c->enabled = true;
    c->retention_days = days;
}

void fx_segment_rec(struct idx_segment *s, struct lay_seg_frag *f, uint32_t cam, int64_t start_us,
                    int64_t dur_us, uint64_t bytes)
{
    memset(s, 0, sizeof(*s));
    memset(f, 0, sizeof(*f));
    s->cam = cam;
    s->start_us = start_us;
    s->end_us = start_us + dur_us;
    s->bytes = bytes;
    s->frames = 250;
    s->keyframes = 5;
    s->fragments = 1;
    f->size = bytes;
    f->wall_us = start_us;
    f->starts_with_key = true;
}

void fx_check_segment(const struct idx_segment *got, const struct idx_segment *want)
{
    CHECK_EQ_INT(got->start_us, want->start_us);
    CHECK_EQ_INT(got->end_us, want->end_us);
    CHECK_EQ_STR(got->path, want->path);
    CHECK_EQ_U64(got->bytes, want->bytes);
    CHECK_EQ_INT(got->frames, want->frames);
    CHECK_EQ_INT(got->keyframes, want->keyframes);
    CHECK_EQ_INT(got->audio_frames, want->audio_frames);
    CHECK_EQ_INT(got->fragments, want->fragments);
    CHECK_EQ_STR(got->video, want->video);
    CHECK_EQ_STR(got->audio, want->audio);
    CHECK_EQ_MEM(got->sha256, want->sha256, 32);
    CHECK_EQ_MEM(got->chain, want->chain, 32);
    CHECK_EQ_U64(got->run_id, want->run_id);
    CHECK_EQ_INT(got->run_seq, want->run_seq);
    CHECK_EQ_INT(got->flags, want->flags);
}

uint64_t fx_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

static void zeros(struct cv_buf *b, size_t n)
{
    static const uint8_t z[64];

    cv_buf_put(b, z, n);
}

static void matrix(struct cv_buf *b)
{
    static const uint32_t m[9] = {0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000};

    for (int i = 0; i < 9; i++)
        cv_buf_be32(b, m[i]);
}

static void ftyp(struct cv_buf *b)
{
    size_t m;

    lay_box_begin(b, "ftyp", &m);
    cv_buf_put(b, "isom", 4);
    cv_buf_be32(b, 0x200);
    cv_buf_put(b, "isomiso6avc1mp41", 16);
    lay_box_end(b, m);
}

static void avc1_entry(struct cv_buf *b)
{
    static const uint8_t sps[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50};
    static const uint8_t pps[] = {0x68, 0xeb, 0xe3, 0xcb};
    size_t m, c;

    lay_box_begin(b, "avc1", &m);
    zeros(b, 6);
    cv_buf_be32(b, 1 << 16); /* data_reference_index 1, pre_defined */
    zeros(b, 14);            /* reserved, pre_defined[3]: width lands at offset 32 */
    cv_buf_u8(b, FX_WIDTH >> 8);
    cv_buf_u8(b, FX_WIDTH & 0xff);
    cv_buf_u8(b, FX_HEIGHT >> 8);
    cv_buf_u8(b, FX_HEIGHT & 0xff);
    cv_buf_be32(b, 0x00480000);
    cv_buf_be32(b, 0x00480000);
    cv_buf_be32(b, 0);
    cv_buf_u8(b, 0);
    cv_buf_u8(b, 1); /* frame_count */
    zeros(b, 32);    /* compressorname */
    cv_buf_u8(b, 0);
    cv_buf_u8(b, 0x18); /* depth */
    cv_buf_u8(b, 0xff);
    cv_buf_u8(b, 0xff); /* pre_defined = -1 */
    lay_box_begin(b, "avcC", &c);
    cv_buf_u8(b, 1);
    cv_buf_put(b, sps + 1, 3);
    cv_buf_u8(b, 0xff);
    cv_buf_u8(b, 0xe1);
    cv_buf_u8(b, 0);
    cv_buf_u8(b, sizeof(sps));
    cv_buf_put(b, sps, sizeof(sps));
    cv_buf_u8(b, 1);
    cv_buf_u8(b, 0);
    cv_buf_u8(b, sizeof(pps));
    cv_buf_put(b, pps, sizeof(pps));
    lay_box_end(b, c);
    lay_box_end(b, m);
}

/* An empty sample table box (fragmented files keep their samples in moofs). */
static void empty_table(struct cv_buf *b, const char *type, int words)
{
    size_t m;

    lay_box_begin(b, type, &m);
    lay_box_full(b, 0, 0);
    for (int i = 0; i < words; i++)
        cv_buf_be32(b, 0);
    lay_box_end(b, m);
}

static void video_trak(struct cv_buf *b)
{
    size_t trak, tkhd, mdia, mdhd, hdlr, minf, vmhd, dinf, dref, url, stbl, stsd;

    lay_box_begin(b, "trak", &trak);
    lay_box_begin(b, "tkhd", &tkhd);
    lay_box_full(b, 0, 3);
    cv_buf_be32(b, 0); /* creation */
    cv_buf_be32(b, 0); /* modification */
    cv_buf_be32(b, 1); /* track_ID */
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 0); /* duration */
    zeros(b, 8 + 2 + 2 + 2 + 2);
    matrix(b);
    cv_buf_be32(b, (uint32_t)FX_WIDTH << 16);
    cv_buf_be32(b, (uint32_t)FX_HEIGHT << 16);
    lay_box_end(b, tkhd);

    lay_box_begin(b, "mdia", &mdia);
    lay_box_begin(b, "mdhd", &mdhd);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, FX_TIMESCALE);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 0x55c40000); /* language "und", pre_defined */
    lay_box_end(b, mdhd);
    lay_box_begin(b, "hdlr", &hdlr);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 0);
    cv_buf_put(b, "vide", 4);
    zeros(b, 12);
    cv_buf_put(b, "VideoHandler", 13);
    lay_box_end(b, hdlr);
    lay_box_begin(b, "minf", &minf);
    lay_box_begin(b, "vmhd", &vmhd);
    lay_box_full(b, 0, 1);
    zeros(b, 8);
    lay_box_end(b, vmhd);
    lay_box_begin(b, "dinf", &dinf);
    lay_box_begin(b, "dref", &dref);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 1);
    lay_box_begin(b, "url ", &url);
    lay_box_full(b, 0, 1);
    lay_box_end(b, url);
    lay_box_end(b, dref);
    lay_box_end(b, dinf);
    lay_box_begin(b, "stbl", &stbl);
    lay_box_begin(b, "stsd", &stsd);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 1);
    avc1_entry(b);
    lay_box_end(b, stsd);
    empty_table(b, "stts", 1);
    empty_table(b, "stsc", 1);
    empty_table(b, "stsz", 2);
    empty_table(b, "stco", 1);
    lay_box_end(b, stbl);
    lay_box_end(b, minf);
    lay_box_end(b, mdia);
    lay_box_end(b, trak);
}

static void moov(struct cv_buf *b)
{
    size_t moov, mvhd, mvex, trex;

    lay_box_begin(b, "moov", &moov);
    lay_box_begin(b, "mvhd", &mvhd);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 1000);
    cv_buf_be32(b, 0);
    cv_buf_be32(b, 0x10000);    /* rate 1.0 */
    cv_buf_be32(b, 0x01000000); /* volume 1.0, reserved */
    zeros(b, 8);
    matrix(b);
    zeros(b, 24);
    cv_buf_be32(b, 2); /* next_track_ID */
    lay_box_end(b, mvhd);
    video_trak(b);
    lay_box_begin(b, "mvex", &mvex);
    lay_box_begin(b, "trex", &trex);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, 1);       /* track_ID */
    cv_buf_be32(b, 1);       /* default_sample_description_index */
    cv_buf_be32(b, 0);       /* default_sample_duration */
    cv_buf_be32(b, 0);       /* default_sample_size */
    cv_buf_be32(b, 0x10000); /* default_sample_flags: non-sync */
    lay_box_end(b, trex);
    lay_box_end(b, mvex);
    lay_box_end(b, moov);
}

#define FX_SAMPLE_BYTES 12u

void fx_moof_begin(struct cv_buf *b, uint32_t seq, size_t *moof, size_t *traf)
{
    size_t mfhd, tfhd;

    lay_box_begin(b, "moof", moof);
    lay_box_begin(b, "mfhd", &mfhd);
    lay_box_full(b, 0, 0);
    cv_buf_be32(b, seq);
    lay_box_end(b, mfhd);
    lay_box_begin(b, "traf", traf);
    lay_box_begin(b, "tfhd", &tfhd);
    lay_box_full(b, 0, 0x020000); /* default-base-is-moof */
    cv_buf_be32(b, 1);
    lay_box_end(b, tfhd);
}

void fx_fragment(struct cv_buf *b, int64_t wall_us, uint64_t dts, uint32_t samples)
{
    size_t moof, traf, tfdt, trun, mdat, data_off;

    lay_seg_prft_box(b, 1, wall_us, dts);
    lay_seg_fraginfo_box(b, wall_us + 50000, wall_us - 1000);
    fx_moof_begin(b, (uint32_t)(dts / FX_SAMPLE_DUR) + 1, &moof, &traf);
    lay_box_begin(b, "tfdt", &tfdt);
    lay_box_full(b, 1, 0);
    cv_buf_be64(b, dts);
    lay_box_end(b, tfdt);
    lay_box_begin(b, "trun", &trun);
    lay_box_full(b, 0, 0x000001 | 0x000100 | 0x000200 | 0x000400);
    cv_buf_be32(b, samples);
    data_off = b->len;
    cv_buf_be32(b, 0); /* data_offset, patched below */
    for (uint32_t i = 0; i < samples; i++) {
        cv_buf_be32(b, FX_SAMPLE_DUR);
        cv_buf_be32(b, FX_SAMPLE_BYTES);
        cv_buf_be32(b, i == 0 ? 0x02000000 : 0x01010000); /* sync / depends, non-sync */
    }
    lay_box_end(b, trun);
    lay_box_end(b, traf);
    lay_box_end(b, moof);
    if (cv_buf_ok(b))
        cv_put_be32(b->data + data_off, (uint32_t)(b->len - moof + 8));
    lay_box_begin(b, "mdat", &mdat);
    for (uint32_t i = 0; i < samples; i++) {
        uint8_t s[FX_SAMPLE_BYTES];
        cv_put_be32(s, FX_SAMPLE_BYTES - 4);
        memset(s + 4, (int)(0x41 + i % 26), FX_SAMPLE_BYTES - 4);
        cv_buf_put(b, s, sizeof(s));
    }
    lay_box_end(b, mdat);
}

void fx_segment_build(struct fx_segment *s, size_t nfrags, bool with_header)
{
    struct cv_buf *b = &s->buf;
    uint64_t dts = 0;

    memset(s, 0, sizeof(*s));
    cv_buf_init(b, 1u << 20);
    ftyp(b);
    moov(b);
    s->moov_end = b->len;
    if (with_header) {
        struct lay_seg_header h;
        memset(&h, 0, sizeof(h));
        cv_strlcpy(h.camera, FX_CAMERA, sizeof(h.camera));
        h.run_id = FX_RUN_ID;
        h.run_seq = 7;
        cv_strlcpy(h.container, "mp4", sizeof(h.container));
        cv_strlcpy(h.video, "h264 1280x720", sizeof(h.video));
        cv_strlcpy(h.audio, "none", sizeof(h.audio));
        lay_seg_header_box(b, &h);
    }
    s->header_end = b->len;
    for (size_t i = 0; i < nfrags && i < FX_MAX_FRAGS; i++) {
        struct fx_frag *f = &s->frags[i];
        f->offset = b->len;
        f->dts = dts;
        f->samples = FX_SAMPLES(i);
        f->dur = (uint64_t)f->samples * FX_SAMPLE_DUR;
        f->wall_us = FX_START_US + (int64_t)(dts * 1000000 / FX_TIMESCALE) + (int64_t)i;
        f->recv_us = f->wall_us + 50000;
        fx_fragment(b, f->wall_us, dts, f->samples);
        f->size = b->len - f->offset;
        dts += f->dur;
        s->nfrags++;
    }
    if (!cv_buf_ok(b))
        unit_fail(__FILE__, __LINE__, "synthetic segment does not fit its buffer");
}

void fx_segment_release(struct fx_segment *s)
{
    cv_buf_release(&s->buf);
}

/* ---- a data root whose camera is writing a file ---- */


int fx_pending_root_open(struct fx_pending_root *e, const char *rel, const void *data, size_t len)
{
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    char path[PATH_MAX], dir[PATH_MAX];
    int rc;

    memset(e, 0, sizeof(*e));
    if (fx_tmpdir(e->root) < 0)
        return -1;
    memset(&e->cam, 0, sizeof(e->cam));
    cv_strlcpy(e->cam.id, FX_CAMERA, sizeof(e->cam.id));
    cv_strlcpy(e->cam.url, "rtsp://10.0.0.7/live", sizeof(e->cam.url));
    cv_strlcpy(e->cam.volume, "main", sizeof(e->cam.volume));
    e->cam.enabled = true;
    snprintf(path, sizeof(path), "%s/%s", e->root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    rc = lay_root_create(e->root, &err);
    if (rc == 0)
        rc = idx_open(&e->idx, e->root, IDX_CREATE, &err);
    if (rc == 0)
        rc = idx_begin(e->idx, true, &t, &err);
    if (rc == 0)
        rc = idx_camera_add(t, &e->cam, &err);
    if (rc == 0)
        rc = idx_pending_put(t, e->cam.num, rel, &err);
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    if (rc == 0)
        rc = cv_mkdir_p(dir, 0755, &err);
    if (rc == 0 && fx_write_file(path, data, len) < 0)
        rc = cv_errf(&err, CV_EIO, "cannot write '%s'", path);
    idx_abort(t);
    if (rc < 0) {
        unit_fail(__FILE__, __LINE__, "setup: %s", err.msg);
        idx_close(e->idx);
        fx_rmtree(e->root);
        return -1;
    }
    return 0;
}

void fx_pending_root_close(struct fx_pending_root *e)
{
    idx_close(e->idx);
    fx_rmtree(e->root);
}

struct AVCodecParameters *fx_video_params(int codec_id, int width, int height,
                                          const struct cv_buf *cfg)
{
    AVCodecParameters *par = avcodec_parameters_alloc();

    if (!par)
        return NULL;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = codec_id;
    par->width = width;
    par->height = height;
    par->extradata = av_mallocz(cfg->len + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(par->extradata, cfg->data, cfg->len);
    par->extradata_size = (int)cfg->len;
    return par;
}
