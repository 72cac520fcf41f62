/*
 * rtp.c: RTP payloads to access units and AAC frames (see rtp.h).
 *
 * Video: NAL units are copied once, from the packet into the access unit being built, each
 * behind a 4-byte length reserved when the unit starts and filled when it ends, so a unit split
 * over many FU packets is never moved. An access
 * unit ends when the timestamp changes (see rec_vdepay_push); a lost packet in the
 * middle of a fragmented unit drops that unit only and marks the access unit damaged.
 */
#include <string.h>

#include "recorder/rtp.h"
#include "common/banned.h"

#define AU_PREFIX 4
#define AAC_FRAG_MAX (64 * 1024)

int rec_rtp_parse(const uint8_t *p, size_t n, struct rec_rtp_hdr *out)
{
    size_t off = 12, pad = 0;
    unsigned cc;

    if (n < 12 || (p[0] >> 6) != 2)
        return -1;
    cc = p[0] & 0x0f;
    off += 4u * cc;
    if (p[0] & 0x10) { /* header extension: 16-bit profile, 16-bit length in words */
        if (n < off + 4)
            return -1;
        off += 4 + 4u * (((unsigned)p[off + 2] << 8) | p[off + 3]);
    }
    if (p[0] & 0x20) { /* padding: the last byte counts the padding bytes */
        pad = p[n - 1];
        if (pad == 0)
            return -1;
    }
    if (n < off + pad)
        return -1;
    out->marker = p[1] & 0x80;
    out->pt = p[1] & 0x7f;
    out->seq = (uint16_t)((p[2] << 8) | p[3]);
    out->ts = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    out->ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    out->payload = p + off;
    out->len = n - off - pad;
    return 0;
}

int64_t rec_rtp_unwrap(struct rec_rtp_clock *c, uint32_t ts)
{
    if (!c->started) {
        c->started = true;
        c->ext = ts;
    } else {
        c->ext += (int32_t)(ts - c->last);
    }
    c->last = ts;
    return c->ext;
}

int64_t rec_rtp_extend(const struct rec_rtp_clock *c, uint32_t ts)
{
    return c->started ? c->ext + (int32_t)(ts - c->last) : (int64_t)ts;
}

/* ---- video ---- */

void rec_vdepay_init(struct rec_vdepay *d, enum rec_vcodec codec)
{
    memset(d, 0, sizeof(*d));
    d->codec = codec;
    cv_buf_init(&d->au, REC_AU_MAX);
}

void rec_vdepay_release(struct rec_vdepay *d)
{
    cv_buf_release(&d->au);
}

static unsigned nal_type(enum rec_vcodec codec, const uint8_t *nal)
{
    return codec == REC_VC_H264 ? nal[0] & 0x1fu : (nal[0] >> 1) & 0x3fu;
}

static void keep_ps(struct rec_ps *ps, const uint8_t *nal, size_t len)
{
    if (len > sizeof(ps->data))
        return; /* not a parameter set any muxer could store either */
    memcpy(ps->data, nal, len);
    ps->len = (uint16_t)len;
}

/* Look at a complete NAL unit: keyframe? parameter set? */
static void inspect(struct rec_vdepay *d, const uint8_t *nal, size_t len)
{
    unsigned t;

    if (len < (d->codec == REC_VC_H264 ? 1u : 2u))
        return;
    t = nal_type(d->codec, nal);
    if (d->codec == REC_VC_H264) {
        if (t == 5 || (t == 6 && len > 1 && nal[1] == 6))
            d->key = true; /* an IDR, or a recovery point (SEI 6): an open GOP's keyframe */
        else if (t == 7)
            keep_ps(&d->sps, nal, len);
        else if (t == 8)
            keep_ps(&d->pps, nal, len);
    } else {
        if (t >= 16 && t <= 21)
            d->key = true;
        else if (t == 32)
            keep_ps(&d->vps, nal, len);
        else if (t == 33)
            keep_ps(&d->sps, nal, len);
        else if (t == 34)
            keep_ps(&d->pps, nal, len);
    }
}

void rec_vdepay_note_ps(struct rec_vdepay *d, const uint8_t *nal, size_t len)
{
    bool key = d->key;

    inspect(d, nal, len);
    d->key = key;
}

static void nal_begin(struct rec_vdepay *d)
{
    static const uint8_t zero[AU_PREFIX];

    d->nal_start = d->au.len;
    cv_buf_put(&d->au, zero, sizeof(zero));
}

static void nal_end(struct rec_vdepay *d)
{
    uint8_t *pfx;
    size_t len;

    if (!cv_buf_ok(&d->au))
        return;
    pfx = d->au.data + d->nal_start;
    len = d->au.len - d->nal_start - AU_PREFIX;
    if (len == 0) {
        d->au.len = d->nal_start;
        return;
    }
    cv_put_be32(pfx, (uint32_t)len);
    inspect(d, pfx + AU_PREFIX, len);
}

static void add_nal(struct rec_vdepay *d, const uint8_t *nal, size_t len)
{
    if (len == 0)
        return;
    nal_begin(d);
    cv_buf_put(&d->au, nal, len);
    nal_end(d);
}

/* Drop a fragmented NAL unit that will not be completed. */
static void abandon_fu(struct rec_vdepay *d)
{
    if (!d->in_fu)
        return;
    d->au.len = d->nal_start;
    d->in_fu = false;
    d->damaged = true;
}

static void emit(struct rec_vdepay *d, rec_au_fn fn, void *ctx)
{
    if (!d->have)
        return;
    abandon_fu(d);
    if (!cv_buf_ok(&d->au)) {
        d->oversize++;
    } else if (d->au.len > 0) {
        struct rec_au au = {d->au.data, d->au.len, d->ts, d->key, d->damaged};
        fn(ctx, &au);
    }
    cv_buf_reset(&d->au);
    d->have = d->key = d->damaged = false;
}

/* Single NAL units and aggregation packets (STAP-A / AP: 16-bit size, unit, ...). */
static void push_aggregate(struct rec_vdepay *d, const uint8_t *p, size_t n, size_t skip)
{
    size_t off = skip;

    while (off + 2 <= n) {
        size_t sz = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        if (sz == 0 || off + sz > n) {
            d->malformed++;
            d->damaged = true;
            return;
        }
        add_nal(d, p + off, sz);
        off += sz;
    }
}

/* FU-A (H.264) and FU (H.265): hdr is the reconstructed NAL header, data the fragment. */
static void push_fu(struct rec_vdepay *d, bool start, bool end, const uint8_t *hdr, size_t hlen,
                    const uint8_t *data, size_t len)
{
    if (start) {
        abandon_fu(d);
        nal_begin(d);
        cv_buf_put(&d->au, hdr, hlen);
        d->in_fu = true;
    } else if (!d->in_fu) {
        d->damaged = true; /* the start of this unit was lost */
        return;
    }
    cv_buf_put(&d->au, data, len);
    if (end) {
        d->in_fu = false;
        nal_end(d);
    }
}

static void push_h264(struct rec_vdepay *d, const uint8_t *p, size_t n)
{
    unsigned t = p[0] & 0x1f;

    if (t >= 1 && t <= 23) {
        add_nal(d, p, n);
    } else if (t == 24) {
        push_aggregate(d, p, n, 1);
    } else if (t == 28 && n >= 2) {
        uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (p[1] & 0x1f));
        push_fu(d, p[1] & 0x80, p[1] & 0x40, &hdr, 1, p + 2, n - 2);
    } else {
        d->malformed++; /* STAP-B, MTAP, FU-B: only in interleaved mode, which we do not ask */
        d->damaged = true;
    }
}

static void push_h265(struct rec_vdepay *d, const uint8_t *p, size_t n)
{
    unsigned t;

    if (n < 2) {
        d->malformed++;
        d->damaged = true;
        return;
    }
    t = (p[0] >> 1) & 0x3f;
    if (t == 48) {
        push_aggregate(d, p, n, 2);
    } else if (t == 49 && n >= 3) {
        uint8_t hdr[2] = {(uint8_t)((p[0] & 0x81) | ((p[2] & 0x3f) << 1)), p[1]};
        push_fu(d, p[2] & 0x80, p[2] & 0x40, hdr, 2, p + 3, n - 3);
    } else if (t == 50) {
        /* PACI (a unit behind extra header fields): not taken apart here, so lost */
        d->malformed++;
        d->damaged = true;
    } else if (t < 48) {
        add_nal(d, p, n);
    } else {
        d->malformed++;
        d->damaged = true;
    }
}

void rec_vdepay_push(struct rec_vdepay *d, const struct rec_rtp_hdr *h, rec_au_fn fn, void *ctx)
{
    bool lost = false;

    if (d->seq_started && h->seq != d->next_seq) {
        uint16_t gap = (uint16_t)(h->seq - d->next_seq);
        if (gap >= 0x8000)
            return; /* older than the last one: a duplicate or a late packet */
        d->lost += gap;
        abandon_fu(d);
        d->damaged = lost = true;
    }
    d->seq_started = true;
    d->next_seq = (uint16_t)(h->seq + 1);
    if (d->have && h->ts != d->ts)
        emit(d, fn, ctx);
    if (!d->have) {
        d->have = true;
        d->ts = h->ts;
        d->damaged = lost; /* the lost packet may have begun this unit as well */
    }
    if (h->len > 0) {
        if (d->codec == REC_VC_H264)
            push_h264(d, h->payload, h->len);
        else
            push_h265(d, h->payload, h->len);
    }
    /* The marker bit is not trusted to end the access unit: some cameras set it on every slice.
     * The next timestamp ends it for certain, one frame later, which a recorder can afford. */
}

void rec_vdepay_flush(struct rec_vdepay *d, rec_au_fn fn, void *ctx)
{
    emit(d, fn, ctx);
}

int rec_vconfig(enum rec_vcodec codec, const struct rec_ps *vps, const struct rec_ps *sps,
                const struct rec_ps *pps, struct cv_buf *out)
{
    if (!sps->len || !pps->len || (codec == REC_VC_H265 && !vps->len))
        return -1;
    if (codec == REC_VC_H264) {
        if (sps->len < 4)
            return -1;
        cv_buf_u8(out, 1);            /* configurationVersion */
        cv_buf_put(out, sps->data + 1, 3); /* profile, compatibility, level */
        cv_buf_u8(out, 0xff);         /* 4-byte NAL lengths */
        cv_buf_u8(out, 0xe1);         /* one SPS */
        cv_buf_u8(out, (uint8_t)(sps->len >> 8));
        cv_buf_u8(out, (uint8_t)sps->len);
        cv_buf_put(out, sps->data, sps->len);
        cv_buf_u8(out, 1); /* one PPS */
        cv_buf_u8(out, (uint8_t)(pps->len >> 8));
        cv_buf_u8(out, (uint8_t)pps->len);
        cv_buf_put(out, pps->data, pps->len);
    } else {
        const struct rec_ps *all[3] = {vps, sps, pps};
        for (int i = 0; i < 3; i++) {
            cv_buf_be32(out, 1);
            cv_buf_put(out, all[i]->data, all[i]->len);
        }
    }
    return cv_buf_ok(out) ? 0 : -1;
}

/* ---- audio ---- */

void rec_aac_init(struct rec_aac_depay *d, const struct rec_aac_params *p)
{
    memset(d, 0, sizeof(*d));
    d->p = *p;
    if (d->p.frame_samples <= 0)
        d->p.frame_samples = 1024;
    cv_buf_init(&d->frag, AAC_FRAG_MAX);
}

void rec_aac_release(struct rec_aac_depay *d)
{
    cv_buf_release(&d->frag);
}

/* `bits` bits at bit offset *pos of p (MSB first); the caller checks the bounds. */
static uint32_t get_bits(const uint8_t *p, size_t *pos, int bits)
{
    uint32_t v = 0;

    for (int i = 0; i < bits; i++, (*pos)++)
        v = (v << 1) | ((p[*pos >> 3] >> (7 - (*pos & 7))) & 1u);
    return v;
}

void rec_aac_push(struct rec_aac_depay *d, const struct rec_rtp_hdr *h, rec_aframe_fn fn,
                  void *ctx)
{
    const uint8_t *p = h->payload;
    size_t n = h->len, hbits, hbytes, pos = 0, data;
    uint32_t sizes[64];
    int count = 0;

    if (n < 2 || d->p.sizelength <= 0 || d->p.sizelength > 16)
        goto bad;
    hbits = ((size_t)p[0] << 8) | p[1];
    hbytes = (hbits + 7) / 8;
    if (2 + hbytes > n)
        goto bad;
    {
        const uint8_t *hp = p + 2;
        while (pos < hbits) {
            if (count == 64)
                goto bad; /* more frames in one packet than any sender packs */
            int idx = count == 0 ? d->p.indexlength : d->p.indexdeltalength;
            if (pos + (size_t)d->p.sizelength + (size_t)idx > hbits)
                goto bad;
            sizes[count++] = get_bits(hp, &pos, d->p.sizelength);
            (void)get_bits(hp, &pos, idx);
        }
    }
    if (count == 0)
        goto bad;
    data = 2 + hbytes;
    if (count == 1 && data + sizes[0] > n) {
        /* one frame over several packets: collect until it is whole (the marker ends it) */
        if (d->frag.len == 0 || d->frag_ts != h->ts || d->frag_size != sizes[0]) {
            cv_buf_reset(&d->frag);
            d->frag_ts = h->ts;
            d->frag_size = sizes[0];
        }
        cv_buf_put(&d->frag, p + data, n - data);
        if (d->frag.len >= d->frag_size || h->marker) {
            if (cv_buf_ok(&d->frag) && d->frag.len == d->frag_size) {
                struct rec_aframe f = {d->frag.data, d->frag.len, d->frag_ts};
                fn(ctx, &f);
            } else {
                d->malformed++;
            }
            cv_buf_reset(&d->frag);
        }
        return;
    }
    cv_buf_reset(&d->frag);
    for (int i = 0; i < count; i++) {
        struct rec_aframe f;
        if (data + sizes[i] > n)
            goto bad;
        f.data = p + data;
        f.len = sizes[i];
        f.ts = h->ts + (uint32_t)(i * d->p.frame_samples);
        if (f.len > 0)
            fn(ctx, &f);
        data += sizes[i];
    }
    return;
bad:
    d->malformed++;
}
