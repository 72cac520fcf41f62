/*
 * test_hvc1.c: an H.265 segment's sample entry is hvc1 (issue 18): the parameter sets are in
 * the sample entry, which Safari and hardware-HEVC Chrome require; they refuse hev1.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "common/buf.h"
#include "recorder/rec_int.h"
#include "recorder/rtp.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

static int64_t wall_of(void *ctx, int64_t dts)
{
    return *(int64_t *)ctx + av_rescale(dts, 1000000, 90000);
}

/* libx265's VPS, SPS and PPS of a 320x240 Main stream. */
static AVCodecParameters *hevc_params(void)
{
    static const char *hex[3] = {
        "40010c01ffff01600000030090000003000003003c959409",
        "42010101600000030090000003000003003ca00a080f16595952930bc05a020000030002000003003210",
        "4401c073c189"};
    struct rec_ps ps[3];
    AVCodecParameters *par;
    struct cv_buf cfg;

    memset(ps, 0, sizeof(ps));
    for (int i = 0; i < 3; i++) {
        ps[i].len = (uint16_t)(strlen(hex[i]) / 2);
        cv_unhex(hex[i], ps[i].data, ps[i].len);
    }
    cv_buf_init(&cfg, 1024);
    CHECK(rec_vconfig(REC_VC_H265, &ps[0], &ps[1], &ps[2], &cfg) == 0);
    par = fx_video_params(AV_CODEC_ID_HEVC, 320, 240, &cfg);
    cv_buf_release(&cfg);
    return par;
}

void test_segwriter_hevc_is_hvc1(void)
{
    AVCodecParameters *vpar = hevc_params();
    int64_t base = INT64_C(1795000000000000);
    struct rec_seg_params p;
    struct rec_seg *s = NULL;
    struct idx_segment rec;
    struct lay_seg_frag *frags = NULL;
    struct lay_seg_info info;
    struct cv_err err = {""};
    char root[PATH_MAX], rel[LAY_RELPATH_MAX], path[PATH_MAX + LAY_RELPATH_MAX];
    size_t nfrags = 0;
    int fd;

    CHECK(fx_tmpdir(root) == 0);
    memset(&p, 0, sizeof(p));
    p.root = root;
    p.volume = LAY_DEFAULT_VOLUME;
    p.camera = "c1";
    p.vpar = vpar;
    p.vtb = (AVRational){1, 90000};
    p.run_id = 7;
    p.start_wall_us = base;
    p.video_desc = "hevc 320x240";
    p.audio_desc = "none";
    p.wall_of = wall_of;
    p.wall_ctx = &base;
    CHECK_MSG(rec_seg_open(&s, &p, rel, &err) == 0, "open: %s", err.msg);
    for (int f = 0; s && f < 50; f++) {
        /* one IDR_W_RADL or TRAIL_R NAL unit of filler, length-prefixed (not decoded here) */
        AVPacket *pkt = av_packet_alloc();
        av_new_packet(pkt, 64);
        memset(pkt->data, 0x5a, 64);
        pkt->data[0] = pkt->data[1] = pkt->data[2] = 0;
        pkt->data[3] = 60;
        pkt->data[4] = f % 25 == 0 ? 19 << 1 : 1 << 1;
        pkt->data[5] = 1;
        pkt->dts = pkt->pts = (int64_t)f * 3600;
        pkt->duration = 3600;
        pkt->flags = f % 25 == 0 ? AV_PKT_FLAG_KEY : 0;
        CHECK_MSG(rec_seg_write(s, pkt, base + f * 40000, &err) == 0, "%s", err.msg);
        av_packet_free(&pkt);
    }
    if (s)
        CHECK_MSG(rec_seg_close(s, &rec, &frags, &nfrags, &err) == 0, "close: %s", err.msg);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_MSG(fd >= 0 && lay_seg_scan(fd, &info, &err) == 0, "scan: %s", err.msg);
    if (fd >= 0) {
        CHECK_MSG(strcmp(info.video_fourcc, "hvc1") == 0, "sample entry '%s', not hvc1",
                  info.video_fourcc);
        CHECK(info.nfrags >= 1);
        lay_seg_info_release(&info);
        close(fd);
    }
    free(frags);
    avcodec_parameters_free(&vpar);
    fx_rmtree(root);
}
