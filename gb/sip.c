/*
 * sip.c: the strict SIP message parser, Digest and the MANSCDP reader of sip.h. No state, no
 * sockets; every length is bounded by the message (GB_SIP_MAX) or the caller's buffer.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "gb/sip.h"
#include "common/banned.h"

/* ---- SIP ---- */

/* RFC 3261 section 7.3.3: the compact forms we map to long names. */
static const char *long_name(const char *name)
{
    static const char *const map[][2] = {
        {"v", "Via"},          {"f", "From"},         {"t", "To"},
        {"i", "Call-ID"},      {"m", "Contact"},      {"l", "Content-Length"},
        {"c", "Content-Type"}, {"k", "Supported"},    {"s", "Subject"},
        {"e", "Content-Encoding"},
    };
    if (name[0] && !name[1])
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (tolower((unsigned char)name[0]) == map[i][0][0])
                return map[i][1];
    return name;
}

/* A SIP token character (RFC 3261 section 25.1). */
static bool token_char(char ch)
{
    return isalnum((unsigned char)ch) || (ch && strchr("-.!%*_+`'~", ch));
}

static bool all_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!token_char(*s))
            return false;
    return true;
}

bool gb_digits(const char *s, size_t len)
{
    size_t i = 0;

    for (; s[i] && i <= len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return i == len;
}

/* Cut the next line from *p (up to end): NUL-terminates it in place (CRLF or LF), returns its
 * start, or NULL when no line end is left. */
static char *next_line(char **p, char *end)
{
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

    if (!nl)
        return NULL;
    *nl = 0;
    if (nl > s && nl[-1] == '\r')
        nl[-1] = 0;
    *p = nl + 1;
    return s;
}

static char *trim(char *s)
{
    char *e = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    return s;
}

static int first_line(struct gb_sip_msg *m, char *line, struct cv_err *err)
{
    char *sp1 = strchr(line, ' '), *sp2;

    if (!sp1)
        return cv_errf(err, CV_EINVAL, "SIP: the first line is neither a request nor a status");
    *sp1 = 0;
    sp2 = strchr(sp1 + 1, ' ');
    if (strcmp(line, "SIP/2.0") == 0) {
        char *code = sp1 + 1;
        if (!sp2 || sp2 - code != 3 || !isdigit((unsigned char)code[0]) ||
            !isdigit((unsigned char)code[1]) || !isdigit((unsigned char)code[2]) ||
            code[0] < '1' || code[0] > '6')
            return cv_errf(err, CV_EINVAL, "SIP: bad status line");
        m->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
        cv_strlcpy(m->reason, sp2 + 1, sizeof(m->reason));
        return 0;
    }
    if (!sp2 || strcmp(sp2 + 1, "SIP/2.0") != 0)
        return cv_errf(err, CV_EINVAL, "SIP: the request line does not end in SIP/2.0");
    *sp2 = 0;
    if (!all_token(line) || cv_strlcpy(m->method, line, sizeof(m->method)) < 0)
        return cv_errf(err, CV_EINVAL, "SIP: bad method");
    if (strncasecmp(sp1 + 1, "sip:", 4) != 0 || strchr(sp1 + 1, ' ') ||
        cv_strlcpy(m->uri, sp1 + 1, sizeof(m->uri)) < 0)
        return cv_errf(err, CV_EINVAL, "SIP: the request URI is not a sip: URI (or too long)");
    m->request = true;
    return 0;
}

static int header_line(struct gb_sip_msg *m, char *line, struct cv_err *err)
{
    char *colon = strchr(line, ':'), *name;

    if (line[0] == ' ' || line[0] == '\t')
        return cv_errf(err, CV_EINVAL, "SIP: folded header lines are not accepted");
    if (!colon)
        return cv_errf(err, CV_EINVAL, "SIP: a header line has no ':'");
    *colon = 0;
    name = trim(line);
    if (!all_token(name))
        return cv_errf(err, CV_EINVAL, "SIP: bad header name");
    if (m->nhdrs == GB_SIP_HDRS_MAX)
        return cv_errf(err, CV_ELIMIT, "SIP: more than %d header lines", GB_SIP_HDRS_MAX);
    m->hdrs[m->nhdrs].name = long_name(name);
    m->hdrs[m->nhdrs].value = trim(colon + 1);
    m->nhdrs++;
    return 0;
}

const char *gb_sip_header(const struct gb_sip_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nhdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            return m->hdrs[i].value;
    return NULL;
}

static int core_headers(struct gb_sip_msg *m, struct cv_err *err)
{
    static const char *const need[] = {"Via", "From", "To", "Call-ID", "CSeq"};
    const char *v[5];
    char num[16], meth[32];

    for (size_t i = 0; i < 5; i++)
        v[i] = gb_sip_header(m, need[i]);
    m->via = v[0];
    m->from = v[1];
    m->to = v[2];
    m->call_id = v[3];
    m->cseq_line = v[4];
    for (size_t i = 0; i < 5; i++)
        if (!v[i] || !v[i][0])
            return cv_errf(err, CV_EINVAL, "SIP: no %s header", need[i]);
    if (sscanf(m->cseq_line, "%15[0-9] %31s", num, meth) != 2 || strlen(num) > 10 ||
        strtoull(num, NULL, 10) > 0x7fffffffULL || !all_token(meth))
        return cv_errf(err, CV_EINVAL, "SIP: bad CSeq '%.40s'", m->cseq_line);
    m->cseq = (uint32_t)strtoul(num, NULL, 10);
    if (cv_strlcpy(m->cseq_method, meth, sizeof(m->cseq_method)) < 0)
        return cv_errf(err, CV_EINVAL, "SIP: bad CSeq method");
    if (m->request && strcmp(m->cseq_method, m->method) != 0 &&
        !(strcmp(m->method, "ACK") == 0 && strcmp(m->cseq_method, "INVITE") == 0))
        return cv_errf(err, CV_EINVAL, "SIP: CSeq method '%s' is not the request's '%s'",
                       m->cseq_method, m->method);
    return 0;
}

static int body_of(struct gb_sip_msg *m, char *p, char *end, struct cv_err *err)
{
    const char *cl = gb_sip_header(m, "Content-Length");
    size_t left = (size_t)(end - p);
    int64_t n = (int64_t)left;

    if (cl && cv_parse_i64(cl, 0, GB_SIP_MAX, &n) < 0)
        return cv_errf(err, CV_EINVAL, "SIP: bad Content-Length '%.20s'", cl);
    if ((size_t)n > left)
        return cv_errf(err, CV_EINVAL, "SIP: Content-Length %lld is more than the %zu bytes "
                       "received", (long long)n, left);
    m->body = p;
    m->body_len = (size_t)n;
    p[n] = 0; /* text has room for the NUL past every byte */
    return 0;
}

/* Bytes of the head (up to and without the empty line), or len when there is no empty line. */
static size_t head_len(const char *d, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (d[i] == '\n' && (d[i + 1] == '\n' || (d[i + 1] == '\r' && i + 2 < len &&
                                                  d[i + 2] == '\n')))
            return i;
    return len;
}

/* The value of header `name` (long form, or its compact letter) in head[0..n), a copy into
 * out (cap bytes) without surrounding blanks: 0, or -1 when there is none. */
static int raw_header(const char *head, size_t n, const char *name, char letter, char *out,
                      size_t cap)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < n;) {
        const char *line = head + i, *eol = memchr(line, '\n', n - i);
        size_t ll = eol ? (size_t)(eol - line) : n - i, k = 0, v;
        i += ll + 1;
        if (ll > nl && strncasecmp(line, name, nl) == 0)
            k = nl;
        else if (ll > 1 && (line[0] == letter || line[0] == letter - 32))
            k = 1;
        else
            continue;
        while (k < ll && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k >= ll || line[k] != ':')
            continue;
        for (k++; k < ll && (line[k] == ' ' || line[k] == '\t'); k++)
            ;
        for (v = ll; v > k && (line[v - 1] == '\r' || line[v - 1] == ' ' ||
                               line[v - 1] == '\t'); v--)
            ;
        if (v - k >= cap)
            v = k + cap - 1;
        memcpy(out, line + k, v - k);
        out[v - k] = 0;
        return 0;
    }
    return -1;
}

int gb_sip_frame(const void *data, size_t len, size_t *skip, size_t *msg_len,
                 struct cv_err *err)
{
    const unsigned char *p = data;
    size_t s = 0, head, body_at;
    char cl[32];
    int64_t n;

    while (s < len && (p[s] == '\r' || p[s] == '\n'))
        s++;
    *skip = s;
    *msg_len = 0;
    p += s;
    len -= s;
    head = head_len((const char *)p, len);
    for (size_t i = 0; i < head; i++)
        if (p[i] < 0x20 && p[i] != '\r' && p[i] != '\n' && p[i] != '\t')
            return cv_errf(err, CV_EINVAL, "SIP/TCP: not SIP: byte 0x%02x in the header lines",
                           p[i]);
    if (head == len) {
        if (len >= GB_SIP_MAX)
            return cv_errf(err, CV_ELIMIT, "SIP/TCP: no end of the header lines within %d "
                           "bytes", GB_SIP_MAX);
        return 0;
    }
    body_at = head + (p[head + 1] == '\n' ? 2 : 3);
    if (raw_header((const char *)p, head, "Content-Length", 'l', cl, sizeof(cl)) < 0)
        return cv_errf(err, CV_EINVAL, "SIP/TCP: a message without Content-Length (RFC 3261 "
                       "18.3 requires it on a stream)");
    if (cv_parse_i64(cl, 0, INT32_MAX, &n) < 0)
        return cv_errf(err, CV_EINVAL, "SIP/TCP: bad Content-Length '%.20s'", cl);
    if ((uint64_t)n > GB_SIP_MAX - body_at)
        return cv_errf(err, CV_ELIMIT, "SIP/TCP: Content-Length %lld too large (a message of "
                       "at most %d bytes)", (long long)n, GB_SIP_MAX);
    if (len < body_at + (size_t)n)
        return 0;
    *msg_len = body_at + (size_t)n;
    return 1;
}

int gb_sip_parse(struct gb_sip_msg *m, const void *data, size_t len, struct cv_err *err)
{
    char *p, *end, *line;
    int rc;

    memset(m, 0, offsetof(struct gb_sip_msg, text));
    m->text[0] = 0;
    if (len > GB_SIP_MAX)
        return cv_errf(err, CV_ELIMIT, "SIP: message of %zu bytes (at most %d)", len,
                       GB_SIP_MAX);
    if (memchr(data, 0, head_len(data, len)))
        return cv_errf(err, CV_EINVAL, "SIP: NUL byte in the message head");
    memcpy(m->text, data, len);
    m->text[len] = 0;
    p = m->text;
    end = m->text + len;
    line = next_line(&p, end);
    if (!line)
        return cv_errf(err, CV_EINVAL, "SIP: no complete first line");
    /* after a bad first line the headers are still read, for the 400 answer's Via, From... */
    rc = first_line(m, line, err);
    for (;;) {
        int hrc;
        line = next_line(&p, end);
        if (!line)
            return rc < 0 ? rc : cv_errf(err, CV_EINVAL, "SIP: the header ends without an "
                                         "empty line");
        if (!line[0])
            break;
        hrc = header_line(m, line, rc < 0 ? NULL : err);
        if (hrc < 0 && rc == 0)
            rc = hrc;
        if (hrc < 0)
            break;
    }
    {
        int crc = core_headers(m, rc < 0 ? NULL : err);
        if (rc == 0)
            rc = crc;
    }
    if (rc == 0)
        rc = body_of(m, p, end, err);
    return rc;
}

/* The part of a header value after its <...> (or from the start when there is none). */
static const char *after_uri(const char *value)
{
    const char *gt = strchr(value, '<') ? strchr(value, '>') : NULL;

    return gt ? gt + 1 : value;
}

int gb_sip_param(const char *value, const char *param, char *out, size_t n)
{
    size_t pl = strlen(param);
    const char *p = after_uri(value);

    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ')
            p++;
        if (strncasecmp(p, param, pl) == 0 && (p[pl] == '=' || p[pl] == ';' || !p[pl] ||
                                               p[pl] == ' ' || p[pl] == ',')) {
            size_t l;
            p += pl;
            if (*p == '=')
                p++;
            l = strcspn(p, ";, \t");
            if (l >= n)
                return -1;
            memcpy(out, p, l);
            out[l] = 0;
            return 0;
        }
    }
    return -1;
}

int gb_sip_uri_user(const char *value, char *out, size_t n)
{
    const char *s = strcasestr(value, "sip:"), *at;
    size_t l;

    if (!s)
        return -1;
    s += 4;
    l = strcspn(s, "@;>: ");
    at = s + l;
    if (*at != '@' || l == 0 || l >= n)
        return -1;
    memcpy(out, s, l);
    out[l] = 0;
    return 0;
}

int gb_auth_param(const char *value, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = value;

    if (strncasecmp(p, "Digest", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
        p += 7;
    for (;;) {
        const char *key, *v;
        size_t kl, l;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return -1;
        key = p;
        while (token_char(*p))
            p++;
        kl = (size_t)(p - key);
        while (*p == ' ')
            p++;
        if (kl == 0 || *p != '=')
            return -1;
        p++;
        while (*p == ' ')
            p++;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            if (!q)
                return -1;
            v = p + 1;
            l = (size_t)(q - v);
            p = q + 1;
        } else {
            v = p;
            l = strcspn(p, ", \t");
            p += l;
        }
        if (kl == nl && strncasecmp(key, name, nl) == 0) {
            if (l >= n)
                return -1;
            memcpy(out, v, l);
            out[l] = 0;
            return 0;
        }
    }
}

/* MD5 over the parts joined by ':' (what every step of Digest hashes), as hex into out. */
static void md5_join(const char *const *parts, size_t n, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t md[16] = {0};
    unsigned len = 0;

    if (ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1) {
        for (size_t i = 0; i < n; i++) {
            if (i)
                EVP_DigestUpdate(ctx, ":", 1);
            EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
        }
        EVP_DigestFinal_ex(ctx, md, &len);
    }
    EVP_MD_CTX_free(ctx);
    cv_hex(md, 16, out);
}

void gb_digest(const char *user, const char *realm, const char *password, const char *method,
               const char *uri, const char *nonce, const char *qop, const char *nc,
               const char *cnonce, char out[33])
{
    char ha1[33], ha2[33];
    const char *a1[] = {user, realm, password}, *a2[] = {method, uri};

    md5_join(a1, 3, ha1);
    md5_join(a2, 2, ha2);
    if (qop) {
        const char *r[] = {ha1, nonce, nc, cnonce, qop, ha2};
        md5_join(r, 6, out);
    } else {
        const char *r[] = {ha1, nonce, ha2};
        md5_join(r, 3, out);
    }
}

/* ---- MANSCDP XML ---- */

struct xml_rd {
    const char *p, *end;
    struct cv_err *err;
};

static bool name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == ':' || ch == '-' || ch == '.';
}

static void skip_ws(struct xml_rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

/* A name at r->p into out (n bytes); -1 when there is none or it is too long. */
static int xml_name(struct xml_rd *r, char *out, size_t n)
{
    const char *s = r->p;

    while (r->p < r->end && name_char(*r->p))
        r->p++;
    if (r->p == s || (size_t)(r->p - s) >= n)
        return -1;
    memcpy(out, s, (size_t)(r->p - s));
    out[r->p - s] = 0;
    return 0;
}

/* Attributes up to '>' or '/>' (or '?>' in the declaration); *empty set for '/>'.
 * The declaration's encoding must be GB2312 or UTF-8 (case-insensitive) when given. */
static int xml_attrs(struct xml_rd *r, bool decl, bool *empty)
{
    for (;;) {
        char name[32], q;
        const char *v;
        skip_ws(r);
        if (r->p >= r->end)
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: a tag is not closed");
        if (decl && r->end - r->p >= 2 && r->p[0] == '?' && r->p[1] == '>') {
            r->p += 2;
            return 0;
        }
        if (!decl && *r->p == '>') {
            r->p++;
            *empty = false;
            return 0;
        }
        if (!decl && r->end - r->p >= 2 && r->p[0] == '/' && r->p[1] == '>') {
            r->p += 2;
            *empty = true;
            return 0;
        }
        if (xml_name(r, name, sizeof(name)) < 0)
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: bad attribute name");
        skip_ws(r);
        if (r->p >= r->end || *r->p != '=')
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: attribute '%s' has no value", name);
        r->p++;
        skip_ws(r);
        if (r->p >= r->end || (*r->p != '"' && *r->p != '\''))
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: attribute '%s' is not quoted", name);
        q = *r->p++;
        v = r->p;
        while (r->p < r->end && *r->p != q && *r->p != '<')
            r->p++;
        if (r->p >= r->end || *r->p != q)
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: attribute '%s' is not closed", name);
        if (decl && strcmp(name, "encoding") == 0 &&
            !((r->p - v == 6 && strncasecmp(v, "GB2312", 6) == 0) ||
              (r->p - v == 5 && strncasecmp(v, "UTF-8", 5) == 0)))
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: encoding '%.*s' (GB2312 or UTF-8)",
                           (int)(r->p - v > 20 ? 20 : r->p - v), v);
        r->p++;
    }
}

/* Text up to the next '<', entities decoded, into out (n bytes, cut when longer). */
static int xml_text(struct xml_rd *r, char *out, size_t n)
{
    static const char *const ent[][2] = {
        {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}, {"&apos;", "'"}};
    size_t k = 0;

    while (r->p < r->end && *r->p != '<') {
        char ch = *r->p;
        if (ch == '&') {
            size_t i = 0;
            for (; i < 5; i++) {
                size_t el = strlen(ent[i][0]);
                if ((size_t)(r->end - r->p) >= el && memcmp(r->p, ent[i][0], el) == 0) {
                    ch = ent[i][1][0];
                    r->p += el - 1;
                    break;
                }
            }
            if (i == 5)
                return cv_errf(r->err, CV_EINVAL, "MANSCDP: unknown entity in text");
        }
        r->p++;
        if (out && k + 1 < n)
            out[k++] = ch;
    }
    if (out && n)
        out[k] = 0;
    return 0;
}

/* Where the text of a root child `name` goes, or NULL for children we do not read. */
static char *field_of(struct gb_manscdp *o, const char *name, size_t *n, char *sn, size_t snn)
{
    static const struct {
        const char *name;
        size_t off, size;
    } f[] = {
        {"CmdType", offsetof(struct gb_manscdp, cmd_type), sizeof(((struct gb_manscdp *)0)->cmd_type)},
        {"DeviceID", offsetof(struct gb_manscdp, device_id), sizeof(((struct gb_manscdp *)0)->device_id)},
        {"StartTime", offsetof(struct gb_manscdp, start_time), sizeof(((struct gb_manscdp *)0)->start_time)},
        {"EndTime", offsetof(struct gb_manscdp, end_time), sizeof(((struct gb_manscdp *)0)->end_time)},
        {"Type", offsetof(struct gb_manscdp, type), sizeof(((struct gb_manscdp *)0)->type)},
        {"Result", offsetof(struct gb_manscdp, result), sizeof(((struct gb_manscdp *)0)->result)},
    };
    if (strcmp(name, "SN") == 0) {
        *n = snn;
        return sn;
    }
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strcmp(name, f[i].name) == 0) {
            *n = f[i].size;
            return (char *)o + f[i].off;
        }
    return NULL;
}

/* The element tree after the declaration: open and close tags matched on a stack. */
static int xml_tree(struct xml_rd *r, struct gb_manscdp *o, char *sn, size_t snn)
{
    char stack[GB_XML_DEPTH][32];
    int depth = 0;
    bool done = false;

    for (;;) {
        char *dst = NULL;
        size_t dn = 0;
        if (depth == 2)
            dst = field_of(o, stack[1], &dn, sn, snn);
        if (xml_text(r, dst, dn) < 0)
            return CV_EINVAL;
        if (r->p >= r->end)
            break;
        r->p++; /* '<' */
        if (r->p < r->end && *r->p == '/') {
            char name[32];
            r->p++;
            if (xml_name(r, name, sizeof(name)) < 0 || (skip_ws(r), r->p >= r->end) ||
                *r->p != '>')
                return cv_errf(r->err, CV_EINVAL, "MANSCDP: bad closing tag");
            r->p++;
            if (depth == 0 || strcmp(name, stack[depth - 1]) != 0)
                return cv_errf(r->err, CV_EINVAL, "MANSCDP: element '%s' closed by '%s'",
                               depth ? stack[depth - 1] : "(none)", name);
            if (--depth == 0)
                done = true;
            continue;
        }
        if (done)
            return cv_errf(r->err, CV_EINVAL, "MANSCDP: content after the root element");
        {
            char name[32];
            bool empty = false;
            if (xml_name(r, name, sizeof(name)) < 0)
                return cv_errf(r->err, CV_EINVAL, "MANSCDP: bad element name (or a comment, "
                               "CDATA or DTD, which are not accepted)");
            if (depth == GB_XML_DEPTH)
                return cv_errf(r->err, CV_EINVAL, "MANSCDP: elements nested deeper than %d",
                               GB_XML_DEPTH);
            if (xml_attrs(r, false, &empty) < 0)
                return CV_EINVAL;
            if (depth == 0)
                cv_strlcpy(o->root, name, sizeof(o->root));
            if (!empty)
                memcpy(stack[depth++], name, sizeof(name));
            else if (depth == 0)
                done = true;
        }
    }
    if (depth)
        return cv_errf(r->err, CV_EINVAL, "MANSCDP: element '%s' is not closed",
                       stack[depth - 1]);
    if (!done)
        return cv_errf(r->err, CV_EINVAL, "MANSCDP: no root element");
    return 0;
}

int gb_manscdp_parse(const char *xml, size_t len, struct gb_manscdp *out, struct cv_err *err)
{
    struct xml_rd r = {xml, xml + len, err};
    char sn[16] = "";
    int64_t v = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len > GB_SIP_MAX)
        return cv_errf(err, CV_ELIMIT, "MANSCDP: document of %zu bytes", len);
    if (memchr(xml, 0, len))
        return cv_errf(err, CV_EINVAL, "MANSCDP: NUL byte in the document");
    skip_ws(&r);
    if (r.end - r.p >= 5 && memcmp(r.p, "<?xml", 5) == 0) {
        bool empty;
        r.p += 5;
        if (xml_attrs(&r, true, &empty) < 0)
            return CV_EINVAL;
    }
    rc = xml_tree(&r, out, sn, sizeof(sn));
    if (rc < 0)
        return rc;
    if (sn[0] && cv_parse_i64(sn, 0, 0xffffffffLL, &v) < 0)
        return cv_errf(err, CV_EINVAL, "MANSCDP: SN '%s' is not a number", sn);
    out->sn = (uint32_t)v;
    return 0;
}
