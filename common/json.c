/*
 * json.c: the strict JSON reader of json.h: a recursive-descent parser over a bounded input,
 * writing nodes and decoded strings into one preallocated block. The recursion is bounded by
 * max_depth, so the C stack is too.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/banned.h"

struct cv_json {
    struct cv_jv *nodes;
    size_t nnodes, maxnodes;
    char *strs; /* decoded strings, keys and number texts */
    size_t slen, scap;
    struct cv_jv *root;
};

struct parser {
    const char *p;
    size_t len, off;
    struct cv_json_limits lim;
    struct cv_json *doc;
    struct cv_err *err;
};

static int perr(struct parser *ps, int code, const char *what)
{
    return cv_errf(ps->err, code, "JSON: %s at byte %zu", what, ps->off);
}

static void skip_ws(struct parser *ps)
{
    while (ps->off < ps->len) {
        char c = ps->p[ps->off];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->off++;
    }
}

static struct cv_jv *new_node(struct parser *ps, enum cv_json_type type)
{
    struct cv_jv *n;

    if (ps->doc->nnodes >= ps->doc->maxnodes)
        return NULL;
    n = &ps->doc->nodes[ps->doc->nnodes++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

/* Append the UTF-8 encoding of code point cp to the string area. */
static void put_utf8(struct cv_json *d, uint32_t cp)
{
    char *o = d->strs + d->slen;

    if (cp < 0x80) {
        o[0] = (char)cp;
        d->slen += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        d->slen += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        d->slen += 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        d->slen += 4;
    }
}

static int hex4(struct parser *ps, uint32_t *out)
{
    uint32_t v = 0;

    if (ps->len - ps->off < 4)
        return perr(ps, CV_EINVAL, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = ps->p[ps->off++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return perr(ps, CV_EINVAL, "bad \\u escape");
    }
    *out = v;
    return 0;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A string at ps->off (which is '"'); decoded into the string area, *out points at it. */
static int parse_string(struct parser *ps, const char **out, size_t *outlen)
{
    struct cv_json *d = ps->doc;
    size_t start = d->slen;

    ps->off++; /* opening quote */
    for (;;) {
        unsigned char c;
        if (ps->off >= ps->len)
            return perr(ps, CV_EINVAL, "unterminated string");
        if (d->slen - start > ps->lim.max_string)
            return perr(ps, CV_ELIMIT, "string too long");
        c = (unsigned char)ps->p[ps->off];
        if (c == '"') {
            ps->off++;
            break;
        }
        if (c < 0x20)
            return perr(ps, CV_EINVAL, "control character in string");
        if (c == '\\') {
            char e;
            if (++ps->off >= ps->len)
                return perr(ps, CV_EINVAL, "unterminated string");
            e = ps->p[ps->off++];
            switch (e) {
            case '"': d->strs[d->slen++] = '"'; break;
            case '\\': d->strs[d->slen++] = '\\'; break;
            case '/': d->strs[d->slen++] = '/'; break;
            case 'b': d->strs[d->slen++] = '\b'; break;
            case 'f': d->strs[d->slen++] = '\f'; break;
            case 'n': d->strs[d->slen++] = '\n'; break;
            case 'r': d->strs[d->slen++] = '\r'; break;
            case 't': d->strs[d->slen++] = '\t'; break;
            case 'u': {
                uint32_t cp, lo;
                int rc = hex4(ps, &cp);
                if (rc < 0)
                    return rc;
                if (cp == 0)
                    return perr(ps, CV_EINVAL, "NUL character (\\u0000) in string");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return perr(ps, CV_EINVAL, "unpaired surrogate in string");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (ps->len - ps->off < 2 || ps->p[ps->off] != '\\' ||
                        ps->p[ps->off + 1] != 'u')
                        return perr(ps, CV_EINVAL, "unpaired surrogate in string");
                    ps->off += 2;
                    if ((rc = hex4(ps, &lo)) < 0)
                        return rc;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return perr(ps, CV_EINVAL, "unpaired surrogate in string");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                /* \uXXXX is 6 input bytes for at most 3 output bytes (a pair: 12 for 4). */
                put_utf8(d, cp);
                break;
            }
            default:
                ps->off--;
                return perr(ps, CV_EINVAL, "bad escape in string");
            }
            continue;
        }
        {
            size_t n = utf8_len((const unsigned char *)ps->p + ps->off, ps->len - ps->off);
            if (n == 0)
                return perr(ps, CV_EINVAL, "invalid UTF-8 in string");
            memcpy(d->strs + d->slen, ps->p + ps->off, n);
            d->slen += n;
            ps->off += n;
        }
    }
    if (d->slen - start > ps->lim.max_string)
        return perr(ps, CV_ELIMIT, "string too long");
    d->strs[d->slen++] = 0;
    *out = d->strs + start;
    *outlen = d->slen - start - 1;
    return 0;
}

/* RFC 8259 number grammar; the text is copied so that integers can be read exactly. */
static int parse_number(struct parser *ps, struct cv_jv *n)
{
    struct cv_json *d = ps->doc;
    size_t s = ps->off;
    const char *p = ps->p;
    char *end;

#define DIGIT(i) ((i) < ps->len && p[i] >= '0' && p[i] <= '9')
    if (ps->off < ps->len && p[ps->off] == '-')
        ps->off++;
    if (!DIGIT(ps->off))
        return perr(ps, CV_EINVAL, "bad number");
    if (p[ps->off] == '0') {
        ps->off++;
        if (DIGIT(ps->off))
            return perr(ps, CV_EINVAL, "number with a leading zero");
    } else {
        while (DIGIT(ps->off))
            ps->off++;
    }
    if (ps->off < ps->len && p[ps->off] == '.') {
        ps->off++;
        if (!DIGIT(ps->off))
            return perr(ps, CV_EINVAL, "bad number");
        while (DIGIT(ps->off))
            ps->off++;
    }
    if (ps->off < ps->len && (p[ps->off] == 'e' || p[ps->off] == 'E')) {
        ps->off++;
        if (ps->off < ps->len && (p[ps->off] == '+' || p[ps->off] == '-'))
            ps->off++;
        if (!DIGIT(ps->off))
            return perr(ps, CV_EINVAL, "bad number");
        while (DIGIT(ps->off))
            ps->off++;
    }
#undef DIGIT
    if (ps->off - s > 64)
        return perr(ps, CV_ELIMIT, "number too long");
    n->str = d->strs + d->slen;
    memcpy(d->strs + d->slen, p + s, ps->off - s);
    d->slen += ps->off - s;
    d->strs[d->slen++] = 0;
    errno = 0;
    n->num = strtod(n->str, &end);
    if (!isfinite(n->num))
        return perr(ps, CV_EINVAL, "number out of range");
    return 0;
}

static int parse_value(struct parser *ps, int depth, struct cv_jv **out);

static int parse_container(struct parser *ps, int depth, bool obj, struct cv_jv *n)
{
    struct cv_jv *last = NULL;
    char close = obj ? '}' : ']';
    int rc;

    if (depth >= ps->lim.max_depth)
        return perr(ps, CV_ELIMIT, "nested too deeply");
    ps->off++;
    skip_ws(ps);
    if (ps->off < ps->len && ps->p[ps->off] == close) {
        ps->off++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen;
        struct cv_jv *child;
        skip_ws(ps);
        if (obj) {
            if (ps->off >= ps->len || ps->p[ps->off] != '"')
                return perr(ps, CV_EINVAL, "expected a member name");
            if ((rc = parse_string(ps, &key, &klen)) < 0)
                return rc;
            for (struct cv_jv *c = n->child; c; c = c->next)
                if (strcmp(c->key, key) == 0)
                    return cv_errf(ps->err, CV_EINVAL, "JSON: duplicate key '%.64s' at byte %zu",
                                   key, ps->off);
            skip_ws(ps);
            if (ps->off >= ps->len || ps->p[ps->off] != ':')
                return perr(ps, CV_EINVAL, "expected ':'");
            ps->off++;
        }
        if (n->len >= ps->lim.max_items)
            return perr(ps, CV_ELIMIT, "too many items");
        if ((rc = parse_value(ps, depth + 1, &child)) < 0)
            return rc;
        child->key = key;
        if (last)
            last->next = child;
        else
            n->child = child;
        last = child;
        n->len++;
        skip_ws(ps);
        if (ps->off < ps->len && ps->p[ps->off] == ',') {
            ps->off++;
            continue;
        }
        if (ps->off < ps->len && ps->p[ps->off] == close) {
            ps->off++;
            return 0;
        }
        return perr(ps, CV_EINVAL, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);

    if (ps->len - ps->off < n || memcmp(ps->p + ps->off, word, n) != 0)
        return false;
    ps->off += n;
    return true;
}

static int parse_value(struct parser *ps, int depth, struct cv_jv **out)
{
    struct cv_jv *n;
    char c;

    skip_ws(ps);
    if (ps->off >= ps->len)
        return perr(ps, CV_EINVAL, "unexpected end of input");
    c = ps->p[ps->off];
    n = new_node(ps, CV_JSON_NULL);
    if (!n)
        return perr(ps, CV_ELIMIT, "too many values");
    *out = n;
    switch (c) {
    case '{':
        n->type = CV_JSON_OBJ;
        return parse_container(ps, depth, true, n);
    case '[':
        n->type = CV_JSON_ARR;
        return parse_container(ps, depth, false, n);
    case '"':
        n->type = CV_JSON_STR;
        return parse_string(ps, &n->str, &n->len);
    case 't':
    case 'f':
        n->type = CV_JSON_BOOL;
        n->b = c == 't';
        if (literal(ps, n->b ? "true" : "false"))
            return 0;
        return perr(ps, CV_EINVAL, "unexpected character");
    case 'n':
        if (literal(ps, "null"))
            return 0;
        return perr(ps, CV_EINVAL, "unexpected character");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            n->type = CV_JSON_NUM;
            return parse_number(ps, n);
        }
        return perr(ps, CV_EINVAL, "unexpected character");
    }
}

int cv_json_parse(const char *text, size_t len, const struct cv_json_limits *lim,
                  struct cv_json **out, struct cv_err *err)
{
    struct parser ps = {.p = text, .len = len, .err = err};
    struct cv_json *d = NULL;
    int rc;

    *out = NULL;
    if (lim)
        ps.lim = *lim;
    if (!ps.lim.max_bytes)
        ps.lim.max_bytes = 64u << 10;
    if (!ps.lim.max_depth)
        ps.lim.max_depth = 8;
    if (!ps.lim.max_string)
        ps.lim.max_string = 4096;
    if (!ps.lim.max_items)
        ps.lim.max_items = 64;
    if (!ps.lim.max_nodes)
        ps.lim.max_nodes = 4096;
    if (len > ps.lim.max_bytes)
        return cv_errf(err, CV_ELIMIT, "JSON: %zu bytes, more than %zu", len, ps.lim.max_bytes);
    d = calloc(1, sizeof(*d));
    if (!d)
        return cv_errf(err, CV_ENOMEM, "JSON: out of memory");
    /* Every value takes at least one input byte, and decoded text never outgrows its source
     * (plus one NUL per string or number, each of which needs at least one byte too). */
    d->maxnodes = len + 1 < ps.lim.max_nodes ? len + 1 : ps.lim.max_nodes;
    d->scap = 2 * len + 8;
    d->nodes = malloc(d->maxnodes * sizeof(*d->nodes));
    d->strs = malloc(d->scap);
    if (!d->nodes || !d->strs) {
        cv_json_free(d);
        return cv_errf(err, CV_ENOMEM, "JSON: out of memory");
    }
    ps.doc = d;
    rc = parse_value(&ps, 0, &d->root);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.off != ps.len)
            rc = perr(&ps, CV_EINVAL, "trailing characters after the value");
    }
    if (rc < 0) {
        cv_json_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void cv_json_free(struct cv_json *d)
{
    if (!d)
        return;
    free(d->nodes);
    free(d->strs);
    free(d);
}

const struct cv_jv *cv_json_root(const struct cv_json *d)
{
    return d ? d->root : NULL;
}

const struct cv_jv *cv_json_get(const struct cv_jv *obj, const char *key)
{
    if (!obj || obj->type != CV_JSON_OBJ)
        return NULL;
    for (const struct cv_jv *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

int cv_json_only(const struct cv_jv *obj, const char *const *allowed, struct cv_err *err)
{
    if (!obj || obj->type != CV_JSON_OBJ)
        return cv_errf(err, CV_EINVAL, "expected a JSON object");
    for (const struct cv_jv *c = obj->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(c->key, allowed[i]) == 0;
        if (!ok)
            return cv_errf(err, CV_EINVAL, "unknown field '%.64s'", c->key);
    }
    return 0;
}

/* Common part of the typed readers: 1 absent/null and optional, 0 present, <0 error. */
static int member(const struct cv_jv *obj, const char *key, bool required, enum cv_json_type type,
                  const char *what, const struct cv_jv **out, struct cv_err *err)
{
    const struct cv_jv *v = cv_json_get(obj, key);

    if (!v || v->type == CV_JSON_NULL) {
        if (required)
            return cv_errf(err, CV_EINVAL, "field '%s' is required (%s)", key, what);
        return 1;
    }
    if (v->type != type)
        return cv_errf(err, CV_EINVAL, "field '%s': expected %s", key, what);
    *out = v;
    return 0;
}

int cv_json_get_str(const struct cv_jv *obj, const char *key, bool required, const char **out,
                    struct cv_err *err)
{
    const struct cv_jv *v;
    int rc = member(obj, key, required, CV_JSON_STR, "a string", &v, err);

    if (rc == 0)
        *out = v->str;
    return rc;
}

int cv_json_get_bool(const struct cv_jv *obj, const char *key, bool required, bool *out,
                     struct cv_err *err)
{
    const struct cv_jv *v;
    int rc = member(obj, key, required, CV_JSON_BOOL, "true or false", &v, err);

    if (rc == 0)
        *out = v->b;
    return rc;
}

int cv_json_get_num(const struct cv_jv *obj, const char *key, bool required, double min,
                    double max, bool integer, double *out, struct cv_err *err)
{
    const struct cv_jv *v;
    int rc = member(obj, key, required, CV_JSON_NUM, "a number", &v, err);

    if (rc != 0)
        return rc;
    if (v->num < min || v->num > max || (integer && v->num != floor(v->num)))
        return cv_errf(err, CV_EINVAL, "field '%s': expected %s from %g to %g, got %s", key,
                       integer ? "an integer" : "a number", min, max, v->str);
    *out = v->num;
    return 0;
}

int cv_json_get_i64(const struct cv_jv *obj, const char *key, bool required, int64_t min,
                    int64_t max, int64_t *out, struct cv_err *err)
{
    const struct cv_jv *v;
    int rc = member(obj, key, required, CV_JSON_NUM, "an integer", &v, err);

    if (rc != 0)
        return rc;
    if (cv_parse_i64(v->str, min, max, out) < 0)
        return cv_errf(err, CV_EINVAL, "field '%s': expected an integer from %lld to %lld, got %s",
                       key, (long long)min, (long long)max, v->str);
    return 0;
}
