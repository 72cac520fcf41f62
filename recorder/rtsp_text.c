/*
 * rtsp_text.c: the text side of the RTSP client (see rtsp.h, rtsp_int.h): base64, SDP and fmtp
 * parsing, Digest authentication, RTSP header lines, control URLs and recognising a message's
 * start, and taking one RTSP message off a connection's receive buffer. No sockets and no other
 * state: every function reads its arguments and writes into caller buffers, so each can be
 * tested and fuzzed on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "recorder/rtsp.h"
#include "recorder/rtsp_int.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/banned.h"

#define HEAD_MAX (16 * 1024) /* an RTSP message's head */
#define BODY_MAX (64 * 1024) /* and its body (an SDP) */

/* ---- small text helpers ---- */

/* The base64 alphabet (RFC 4648 section 4), for checking before OpenSSL decodes. */
static bool b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* Checked here (OpenSSL's EVP_DecodeBlock skips white space and ignores the padding), decoded
 * by OpenSSL one group of four at a time; reads in[0..inlen) and nothing past it. */
int rec_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    size_t data = 0, pad = 0, n = 0;

    while (data < inlen && b64_char(in[data]))
        data++;
    while (data + pad < inlen && in[data + pad] == '=')
        pad++;
    if (data + pad != inlen || data % 4 == 1 || (pad && (pad > 2 || (data + pad) % 4 != 0)))
        return -1;
    if (data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0) > cap)
        return -1;
    for (size_t i = 0; i < data; i += 4) {
        size_t k = data - i < 4 ? data - i : 4; /* characters of this group */
        unsigned char quad[4] = {'=', '=', '=', '='}, tri[4];
        memcpy(quad, in + i, k);
        if (EVP_DecodeBlock(tri, quad, 4) != 3)
            return -1;
        memcpy(out + n, tri, k - 1);
        n += k - 1;
    }
    return (int)n;
}

int rec_fmtp_get(const char *fmtp, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = fmtp;

    while (*p) {
        const char *end;
        while (*p == ' ' || *p == ';')
            p++;
        end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) > kl && strncasecmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t vl = (size_t)(end - v);
            while (vl && v[vl - 1] == ' ')
                vl--;
            if (vl >= n)
                return -1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 0;
        }
        p = end;
    }
    return -1;
}

int rec_sdp_parse(const char *sdp, size_t len, struct rec_sdp *out)
{
    const char *p = sdp, *end = sdp + len;
    struct rec_sdp_media *m = NULL;
    bool in_media = false; /* past the first m= line: attributes belong to a medium */

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *start = p;
        size_t ll = (size_t)((nl ? nl : end) - p);
        char line[1200];

        p = nl ? nl + 1 : end;
        if (ll && start[ll - 1] == '\r')
            ll--;
        if (ll >= sizeof(line))
            continue; /* cut short it could read as a wrong value (a parameter set): skip it */
        memcpy(line, start, ll);
        line[ll] = 0;
        if (strncmp(line, "m=", 2) == 0) {
            char type[16] = "";
            int pt = -1;
            in_media = true;
            if (out->nmedia == REC_SDP_MEDIA_MAX) {
                m = NULL;
                continue;
            }
            m = &out->m[out->nmedia++];
            if (sscanf(line + 2, "%15s %*s %*s %d", type, &pt) < 1)
                continue;
            cv_strlcpy(m->type, type, sizeof(m->type));
            m->pt = pt;
            if (pt == 0 || pt == 8) { /* static types (RFC 3551) need no rtpmap */
                cv_strlcpy(m->encoding, pt == 0 ? "PCMU" : "PCMA", sizeof(m->encoding));
                m->clock = 8000;
                m->channels = 1;
            }
        } else if (strncmp(line, "a=control:", 10) == 0 && (m || !in_media)) {
            cv_strlcpy(m ? m->control : out->control, line + 10,
                       m ? sizeof(m->control) : sizeof(out->control));
        } else if (m && strncmp(line, "a=rtpmap:", 9) == 0) {
            int pt = -1, clock = 0, ch = 0;
            char enc[32] = "";
            if (sscanf(line + 9, "%d %31[^/]/%d/%d", &pt, enc, &clock, &ch) >= 3 && pt == m->pt) {
                cv_strlcpy(m->encoding, enc, sizeof(m->encoding));
                m->clock = clock;
                m->channels = ch > 0 ? ch : 1;
            }
        } else if (m && strncmp(line, "a=fmtp:", 7) == 0) {
            char *sp = strchr(line + 7, ' ');
            if (sp && strtol(line + 7, NULL, 10) == m->pt)
                cv_strlcpy(m->fmtp, sp + 1, sizeof(m->fmtp));
        } else if (m && strncmp(line, "a=framerate:", 12) == 0) {
            m->framerate = strtod(line + 12, NULL);
        }
    }
    return out->nmedia > 0 ? 0 : -1;
}

/* ---- Digest authentication ---- */

static void md5_hex(const char *s, char out[33])
{
    uint8_t md[16];
    unsigned len = 0;

    EVP_Digest(s, strlen(s), md, &len, EVP_md5(), NULL);
    cv_hex(md, 16, out);
}

void rec_digest_response(const char *user, const char *realm, const char *pass,
                         const char *method, const char *uri, const char *nonce, const char *qop,
                         const char *nc, const char *cnonce, char out[33])
{
    char ha1[33], ha2[33], buf[2048];

    snprintf(buf, sizeof(buf), "%s:%s:%s", user, realm, pass);
    md5_hex(buf, ha1);
    snprintf(buf, sizeof(buf), "%s:%s", method, uri);
    md5_hex(buf, ha2);
    if (qop)
        snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
    else
        snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, ha2);
    md5_hex(buf, out);
}

/* The value of param `key` in a Digest challenge ('realm="x", nonce="y"'). */
void rec_auth_param(const char *ch, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = ch;

    out[0] = 0;
    while ((p = strcasestr(p, key)) != NULL) {
        bool at_start = p == ch || p[-1] == ' ' || p[-1] == ',';
        const char *v = p + kl;
        p += kl;
        while (*v == ' ')
            v++;
        if (!at_start || *v != '=')
            continue;
        v++;
        while (*v == ' ')
            v++;
        if (*v == '"') {
            const char *e = strchr(v + 1, '"');
            size_t l = e ? (size_t)(e - v - 1) : strlen(v + 1);
            snprintf(out, n, "%.*s", (int)l, v + 1);
        } else {
            size_t l = strcspn(v, ", ");
            snprintf(out, n, "%.*s", (int)l, v);
        }
        return;
    }
}

/* ---- RTSP message heads ---- */

void rec_header_value(const char *line, size_t nl, char *out, size_t n)
{
    const char *v = memchr(line, ':', nl);
    size_t l;

    if (!v)
        return;
    v++;
    while (*v == ' ' || *v == '\t')
        v++;
    l = (size_t)(line + nl - v);
    if (l >= n)
        l = n - 1;
    memcpy(out, v, l);
    out[l] = 0;
}

bool rec_is_header(const char *line, size_t nl, const char *name)
{
    size_t k = strlen(name);

    return nl > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

/* ---- URLs and message fronts ---- */

/* A control attribute made absolute against base. */
void rec_join_url(const char *base, const char *control, char *out, size_t n)
{
    size_t bl = strlen(base);

    if (!control[0] || strcmp(control, "*") == 0)
        cv_strlcpy(out, base, n);
    else if (strncmp(control, "rtsp://", 7) == 0)
        cv_strlcpy(out, control, n);
    else
        snprintf(out, n, "%s%s%s", base, bl && base[bl - 1] == '/' ? "" : "/", control);
}

/* Does the buffer's front look like the start of an RTSP message? 1 yes, 0 no, -1 can't tell */
int rec_looks_rtsp(const uint8_t *p, size_t n)
{
    size_t i;

    if (n >= 5 && memcmp(p, "RTSP/", 5) == 0)
        return 1;
    if (n < 5 && memcmp(p, "RTSP/", n) == 0)
        return -1;
    for (i = 0; i < n && i < 20; i++) { /* a request from the server: "METHOD uri RTSP/1.0" */
        if (p[i] == ' ')
            return i >= 3 ? 1 : 0;
        if (!((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'))
            return 0;
    }
    return i < 20 ? -1 : 0;
}

/* A printable copy of up to 40 bytes, for messages about what a server said. */
void rec_printable(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && i < 40 && p[i] != '\r' && p[i] != '\n' && o + 1 < cap; i++)
        out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[o] = 0;
}

/* ---- RTSP messages ---- */

void rec_resp_release(struct resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/*
 * Take one RTSP message from the buffer's front into *r: 1 taken, 0 incomplete, <0 error (the
 * head is not RTSP or is too long).
 */
int rec_take_message(struct rec_rtsp *c, struct resp *r, struct cv_err *err)
{
    const char *p = (const char *)c->rbuf + c->rpos, *end, *line;
    size_t avail = c->rlen - c->rpos, hl, clen = 0;

    end = memmem(p, avail < HEAD_MAX ? avail : HEAD_MAX, "\r\n\r\n", 4);
    if (!end) {
        if (avail >= HEAD_MAX)
            return cv_errf(err, CV_ENET, "%s: the server's answer is not valid RTSP/RTP (a "
                           "message head over %d bytes)", c->url_safe, HEAD_MAX);
        return 0;
    }
    hl = (size_t)(end - p) + 4;
    memset(r, 0, sizeof(*r));
    r->cseq = -1;
    rec_printable((const uint8_t *)p, hl, r->first, sizeof(r->first));
    r->request = strncmp(p, "RTSP/", 5) != 0;
    if (!r->request) {
        const char *sp = memchr(p, ' ', hl);
        if (!sp || sscanf(sp + 1, "%3d", &r->status) != 1 || r->status < 100)
            return cv_errf(err, CV_ENET, "%s: the server's answer is not valid RTSP/RTP (it "
                           "began '%s')", c->url_safe, r->first);
    }
    line = memchr(p, '\n', hl) + 1;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end + 2 - line));
        size_t ll = (size_t)(nl - line);
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (rec_is_header(line, ll, "CSeq")) {
            char v[16] = "";
            rec_header_value(line, ll, v, sizeof(v));
            r->cseq = (int)strtol(v, NULL, 10);
        } else if (rec_is_header(line, ll, "Content-Length")) {
            char v[16] = "";
            rec_header_value(line, ll, v, sizeof(v));
            long cl = strtol(v, NULL, 10);
            if (cl < 0 || cl > BODY_MAX)
                return cv_errf(err, CV_ENET, "%s: the server's answer is not valid RTSP/RTP "
                               "(Content-Length %s)", c->url_safe, v);
            clen = (size_t)cl;
        } else if (rec_is_header(line, ll, "Session")) {
            rec_header_value(line, ll, r->session, sizeof(r->session));
        } else if (rec_is_header(line, ll, "Content-Base")) {
            rec_header_value(line, ll, r->content_base, sizeof(r->content_base));
        } else if (rec_is_header(line, ll, "Content-Location") && !r->content_base[0]) {
            rec_header_value(line, ll, r->content_base, sizeof(r->content_base));
        } else if (rec_is_header(line, ll, "WWW-Authenticate")) {
            char v[1024] = "";
            rec_header_value(line, ll, v, sizeof(v));
            if (strncasecmp(v, "Digest", 6) == 0)
                cv_strlcpy(r->auth_digest, v + 6, sizeof(r->auth_digest));
            else if (strncasecmp(v, "Basic", 5) == 0)
                cv_strlcpy(r->auth_basic, v, sizeof(r->auth_basic));
        } else if (rec_is_header(line, ll, "Public")) {
            rec_header_value(line, ll, r->public_, sizeof(r->public_));
        } else if (rec_is_header(line, ll, "Transport")) {
            rec_header_value(line, ll, r->transport, sizeof(r->transport));
        }
        line = nl + 1;
    }
    if (avail < hl + clen)
        return 0;
    if (clen > 0) {
        r->body = malloc(clen + 1);
        if (!r->body)
            return cv_errf(err, CV_ENOMEM, "out of memory");
        memcpy(r->body, p + hl, clen);
        r->body[clen] = 0;
        r->body_len = clen;
    }
    c->rpos += hl + clen;
    return 1;
}
