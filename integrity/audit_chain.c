/*
 * audit_chain.c: the audit log's hash chain of audit_chain.h: decoding stored records, the head,
 * the custody chain of a package, and the checks (whole chain, signed head).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integrity/audit_chain.h"
#include "integrity/chain.h"
#include "integrity/checkpoint.h"
#include "common/banned.h"

int itg_audit_decode(const void *k, size_t klen, const void *v, size_t vlen,
                     struct itg_audit_rec *r, struct cv_err *err)
{
    static const struct cv_json_limits lim = {.max_bytes = ITG_AUDIT_LINE_MAX,
                                              .max_string = ITG_AUDIT_LINE_MAX,
                                              .max_items = 16,
                                              .max_depth = 2};
    const uint8_t *p = v;
    const struct cv_jv *root;
    int64_t seq, tus;
    const char **fields[] = {&r->user, &r->role, &r->action, &r->target, &r->case_id, &r->detail};
    const char *names[] = {"user", "role", "action", "target", "case", "detail"};

    memset(r, 0, sizeof(*r));
    if (klen != 8)
        return cv_errf(err, CV_ECORRUPT, "audit: a key of %zu bytes", klen);
    r->seq = cv_get_be64(k);
    if (vlen < 34 || p[0] != ITG_AUDIT_REC_VERSION)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: malformed value",
                       (unsigned long long)r->seq);
    memcpy(r->hash, p + 1, 32);
    r->buf_ = malloc(vlen - 33 + 1);
    if (!r->buf_)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    memcpy(r->buf_, p + 33, vlen - 33);
    r->buf_[vlen - 33] = 0;
    r->line = r->buf_;
    if (strlen(r->line) != vlen - 33 || cv_json_parse(r->line, vlen - 33, &lim, &r->doc_, err) < 0)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line is not valid JSON",
                       (unsigned long long)r->seq);
    root = cv_json_root(r->doc_);
    if (cv_json_get_i64(root, "seq", true, 1, INT64_MAX, &seq, err) != 0 ||
        cv_json_get_i64(root, "time_us", true, INT64_MIN, INT64_MAX, &tus, err) != 0)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line lacks seq or time_us",
                       (unsigned long long)r->seq);
    if ((uint64_t)seq != r->seq)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line says it is record %lld",
                       (unsigned long long)r->seq, (long long)seq);
    r->time_us = tus;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (cv_json_get_str(root, names[i], true, fields[i], err) != 0)
            return cv_errf(err, CV_ECORRUPT, "audit record %llu: the line lacks '%s'",
                           (unsigned long long)r->seq, names[i]);
    if (cv_json_get_str(root, "area", false, &r->area, err) < 0)
        return cv_errf(err, CV_ECORRUPT, "audit record %llu: 'area' is not a string",
                       (unsigned long long)r->seq);
    if (!r->area)
        r->area = "";
    return 0;
}

void itg_audit_rec_release(struct itg_audit_rec *r)
{
    if (!r)
        return;
    cv_json_free(r->doc_);
    free(r->buf_);
    r->doc_ = NULL;
    r->buf_ = NULL;
}

int itg_audit_head(struct idx_txn *t, uint64_t *seq, uint8_t hash[32], struct cv_err *err)
{
    struct cv_buf key, val;
    struct cv_err why = {""};
    int rc;

    *seq = 0;
    memset(hash, 0, 32);
    cv_buf_init(&key, 16);
    cv_buf_init(&val, IDX_REC_VAL_MAX);
    rc = idx_rec_last(t, IDX_AUDIT, &key, &val, &why);
    if (rc == CV_ENOENT) {
        rc = 0;
    } else if (rc < 0) {
        rc = cv_errf(err, rc, "audit head: %s", why.msg);
    } else if (key.len != 8 || val.len < 33 || val.data[0] != ITG_AUDIT_REC_VERSION) {
        rc = cv_errf(err, CV_ECORRUPT, "audit head: the newest record is malformed (run "
                     "'camvault audit --verify')");
    } else {
        *seq = cv_get_be64(key.data);
        memcpy(hash, val.data + 1, 32);
    }
    cv_buf_release(&key);
    cv_buf_release(&val);
    return rc;
}

struct chain_ctx {
    uint64_t expect, to;
    uint8_t prev[32];
    bool have_prev; /* prev holds the hash of record expect - 1 */
    struct cv_buf *out;
};

static int chain_one(void *vctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct chain_ctx *c = vctx;
    const uint8_t *p = v;
    uint64_t seq = klen == 8 ? cv_get_be64(k) : 0;
    uint8_t md[32];
    char hex[65];

    if (klen != 8 || vlen < 33 || p[0] != ITG_AUDIT_REC_VERSION) {
        cv_buf_printf(c->out, "broken %llu\n", (unsigned long long)c->expect);
        return 1;
    }
    if (seq < c->expect) { /* the record before `from`: only its hash is needed */
        memcpy(c->prev, p + 1, 32);
        c->have_prev = true;
        return 0;
    }
    if (seq != c->expect || !c->have_prev) {
        cv_buf_printf(c->out, "broken %llu\n", (unsigned long long)c->expect);
        return 1;
    }
    if (itg_audit_link(c->prev, p + 33, vlen - 33, md) < 0 || memcmp(md, p + 1, 32) != 0) {
        cv_buf_printf(c->out, "broken %llu\n", (unsigned long long)seq);
        return 1;
    }
    cv_hex(md, 32, hex);
    cv_buf_printf(c->out, "%llu %s\n", (unsigned long long)seq, hex);
    memcpy(c->prev, md, 32);
    c->expect++;
    return c->expect > c->to;
}

int itg_audit_chain(struct idx_txn *t, uint64_t from, uint64_t to, struct cv_buf *out,
                    struct cv_err *err)
{
    struct chain_ctx c = {.expect = from, .to = to, .out = out};
    uint8_t key[8];
    int rc;

    if (from == 0 || from > to)
        return 0;
    c.have_prev = from == 1; /* record 1 follows 32 zero bytes */
    cv_put_be64(key, from - 1);
    rc = idx_rec_iter(t, IDX_AUDIT, key, 8, false, chain_one, &c, err);
    return rc < 0 ? rc : 0;
}

struct verify_ctx {
    uint64_t expect;
    uint8_t prev[32];
    uint64_t *first_bad;
    struct cv_err *err;
    int rc;
};

static int verify_one(void *vctx, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct verify_ctx *c = vctx;
    struct itg_audit_rec r;
    uint8_t h[32];
    int rc = itg_audit_decode(k, klen, v, vlen, &r, c->err);

    if (rc < 0) {
        *c->first_bad = klen == 8 ? cv_get_be64(k) : c->expect;
    } else if (r.seq != c->expect) {
        *c->first_bad = c->expect;
        rc = cv_errf(c->err, CV_ECORRUPT, "audit record %llu is missing (next stored: %llu)",
                     (unsigned long long)c->expect, (unsigned long long)r.seq);
    } else {
        itg_audit_link(c->prev, r.line, strlen(r.line), h); /* a failure gives zeros: no match */
        if (memcmp(h, r.hash, 32) != 0) {
            *c->first_bad = r.seq;
            rc = cv_errf(c->err, CV_ECORRUPT, "audit record %llu: its hash does not match its "
                         "line and the previous record's hash", (unsigned long long)r.seq);
        }
        memcpy(c->prev, r.hash, 32);
    }
    if (rc < 0)
        c->rc = CV_ECORRUPT;
    else
        c->expect++;
    itg_audit_rec_release(&r);
    return rc < 0 ? 1 : 0;
}

int itg_audit_verify(struct idx_txn *t, uint64_t *records, uint64_t *first_bad,
                     struct cv_err *err)
{
    struct verify_ctx c = {.expect = 1, .first_bad = first_bad, .err = err};
    int rc;

    *records = 0;
    *first_bad = 0;
    rc = idx_rec_iter(t, IDX_AUDIT, NULL, 0, false, verify_one, &c, err);
    *records = c.expect - 1;
    if (rc < 0)
        return rc;
    return c.rc;
}

int itg_audit_check_head(struct idx_txn *t, uint64_t cp_seq, uint64_t seq,
                         const uint8_t hash[32], struct cv_err *err)
{
    struct cv_buf key, val;
    struct cv_err why = {""};
    uint64_t last = 0;
    uint8_t k[8];
    int rc;

    if (seq == 0)
        return 0;
    cv_buf_init(&key, 16);
    cv_buf_init(&val, ITG_AUDIT_LINE_MAX + 64);
    rc = idx_rec_last(t, IDX_AUDIT, &key, &val, &why);
    if (rc == 0 && key.len == 8)
        last = cv_get_be64(key.data);
    else if (rc < 0 && rc != CV_ENOENT) {
        rc = cv_errf(err, rc, "audit: %s", why.msg);
        goto out;
    }
    if (last < seq) {
        rc = cv_errf(err, CV_ECORRUPT, "audit log ends at record %llu but checkpoint %llu signed "
                     "record %llu: records were deleted from its end",
                     (unsigned long long)last, (unsigned long long)cp_seq,
                     (unsigned long long)seq);
        goto out;
    }
    cv_put_be64(k, seq);
    rc = idx_rec_get(t, IDX_AUDIT, k, 8, &val, &why);
    if (rc == CV_ENOENT) {
        rc = cv_errf(err, CV_ECORRUPT, "audit record %llu is missing but checkpoint %llu signed "
                     "it", (unsigned long long)seq, (unsigned long long)cp_seq);
    } else if (rc < 0) {
        rc = cv_errf(err, rc, "audit: %s", why.msg);
    } else if (val.len < 33 || memcmp(val.data + 1, hash, 32) != 0) {
        rc = cv_errf(err, CV_ECORRUPT, "audit record %llu: hash differs from the one checkpoint "
                     "%llu signed (the log was rewritten at or below record %llu)",
                     (unsigned long long)seq, (unsigned long long)cp_seq,
                     (unsigned long long)seq);
    }
out:
    cv_buf_release(&key);
    cv_buf_release(&val);
    return rc;
}

int itg_audit_verify_signed(struct idx_txn *t, const char *root, uint64_t *records,
                            uint64_t *first_bad, struct itg_cp_audit *cp, struct cv_err *err)
{
    int rc = itg_audit_verify(t, records, first_bad, err);

    memset(cp, 0, sizeof(*cp));
    if (rc < 0)
        return rc;
    rc = itg_checkpoint_audit_last(t, root, cp, err);
    if (rc == CV_ENOENT)
        return 0;
    if (rc < 0 || !cp->has_audit)
        return rc;
    return itg_audit_check_head(t, cp->cp_seq, cp->seq, cp->hash, err);
}

