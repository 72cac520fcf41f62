/*
 * test_checkpoint.c: signed checkpoints of the cameras' chain heads (exporter/checkpoint.h):
 * what the text says, that its signature verifies with the site's signing certificate, that
 * each one names the hash of the one before, that the ledger holds the same bytes, and that a
 * checkpoint changed in any way after signing is refused, naming it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "exporter/checkpoint.h"
#include "exporter/keys.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S CV_US_PER_S

struct cenv {
    char root[PATH_MAX];
    struct idx *idx;
    struct exp_signer *signer;
};

/* A data root with keys, two cameras and a few segments each (so each has a chain head). */
static int cenv_open(struct cenv *e)
{
    static const char *const cams[] = {"cam1", "gate-3"};
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    int created = 0;

    memset(e, 0, sizeof(*e));
    if (fx_tmpdir(e->root) < 0)
        return -1;
    CHECK_OK(lay_root_create(e->root, &err), &err);
    CHECK_OK(exp_keys_create(e->root, "unit-site", &created, &err), &err);
    CHECK_OK(idx_open(&e->idx, e->root, IDX_CREATE, &err), &err);
    if (e->idx)
        CHECK_OK(idx_begin(e->idx, true, &t, &err), &err);
    for (int c = 0; t && c < 2; c++) {
        struct idx_camera cam;
        fx_camera(&cam, cams[c], "main", 30);
        cam.enabled = false;
        CHECK_OK(idx_camera_add(t, &cam, &err), &err);
        for (int i = 0; i < 3; i++) {
            struct idx_segment s;
            struct lay_seg_frag f;
            fx_segment_rec(&s, &f, cam.num, FX_START_US + i * 10 * S, 10 * S, 1000);
            snprintf(s.path, sizeof(s.path), "volumes/main/%s/2026-11-22/0930%02d-0.mp4",
                     cams[c], i * 10);
            memset(s.sha256, 0x11 * (i + 1) + c, sizeof(s.sha256));
            CHECK_OK(idx_segment_put(t, cams[c], &s, &f, 1, &err), &err);
        }
    }
    if (t)
        CHECK_OK(idx_commit(t, &err), &err);
    CHECK_OK(exp_signer_open(&e->signer, e->root, &err), &err);
    return unit_failures() ? -1 : 0;
}

static void cenv_close(struct cenv *e)
{
    exp_signer_close(e->signer);
    fx_root_close(e->root, e->idx);
}

static void sha256_hex(const char *s, char out[65])
{
    uint8_t h[32];

    fx_sha256(s, strlen(s), h);
    cv_hex(h, 32, out);
}

/* The newest checkpoint of the index, and the audit line check over it. */
static int last(struct cenv *e, struct idx_checkpoint *cp, struct exp_cp_audit *a,
                struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(e->idx, false, &t, err);

    if (rc == 0 && cp)
        rc = idx_checkpoint_last(t, cp, err);
    if (rc == 0 && a)
        rc = exp_checkpoint_audit_last(t, e->root, a, err);
    idx_abort(t);
    return rc;
}

/* Two checkpoints: their text, their signatures, their link, and the ledger. */
void test_checkpoint_sign_verify(void)
{
    struct cenv e;
    struct cv_err err = {""};
    struct idx_checkpoint cp1, cp2;
    struct idx_head *heads = NULL;
    struct idx_txn *t = NULL;
    struct exp_cp_audit a;
    size_t nheads = 0;
    uint64_t seq = 0;
    char cert[PATH_MAX], ledger[PATH_MAX], want[512], hex[65], site[33];
    char *log = NULL;
    size_t loglen = 0;

    memset(&cp1, 0, sizeof(cp1));
    memset(&cp2, 0, sizeof(cp2));
    if (cenv_open(&e) < 0)
        goto out;
    snprintf(cert, sizeof(cert), "%s/keys/signing.pem", e.root);

    CHECK_OK(exp_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 60 * S, &seq, &err),
             &err);
    CHECK_EQ_U64(seq, 1);
    CHECK_OK(last(&e, &cp1, NULL, &err), &err);
    CHECK_OK(exp_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 120 * S, &seq, &err),
             &err);
    CHECK_EQ_U64(seq, 2);
    CHECK_OK(last(&e, &cp2, NULL, &err), &err);
    if (!cp1.text || !cp2.text)
        goto out;

    /* The text: header, the previous checkpoint's hash, the audit head, one head per camera. */
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(idx_site_id(t, site, &err), &err);
    CHECK_OK(idx_heads(t, &heads, &nheads, &err), &err);
    idx_abort(t);
    t = NULL;
    CHECK_EQ_INT(nheads, 2);
    snprintf(want, sizeof(want), "camvault checkpoint 1\nsite %s\nseq 1\ntime "
             "2026-11-22T09:31:00.000000Z\nprev %064d\naudit 0 %064d\n", site, 0, 0);
    CHECK_MSG(strncmp(cp1.text, want, strlen(want)) == 0, "checkpoint 1 text:\n%s", cp1.text);
    sha256_hex(cp1.text, hex);
    snprintf(want, sizeof(want), "seq 2\ntime 2026-11-22T09:32:00.000000Z\nprev %s\n", hex);
    CHECK_CONTAINS(cp2.text, want);
    for (size_t i = 0; i < nheads; i++) {
        cv_hex(heads[i].chain, 32, hex);
        snprintf(want, sizeof(want), "\nhead %s %lld %s\n", heads[i].camera,
                 (long long)heads[i].start_us, hex);
        CHECK_CONTAINS(cp2.text, want);
        CHECK_EQ_INT(heads[i].start_us, FX_START_US + 20 * S); /* the newest segment */
    }

    /* Each signature verifies with the site's signing certificate over exactly the text. */
    CHECK_OK(exp_verify_file(cert, cp1.text, strlen(cp1.text), cp1.sig, cp1.siglen, &err), &err);
    CHECK_OK(exp_verify_file(cert, cp2.text, strlen(cp2.text), cp2.sig, cp2.siglen, &err), &err);
    CHECK_OK(last(&e, NULL, &a, &err), &err);
    CHECK_EQ_U64(a.cp_seq, 2);
    CHECK(a.has_audit);
    CHECK_EQ_U64(a.seq, 0);

    /* The ledger holds both, in order, each followed by its signature in base64. */
    snprintf(ledger, sizeof(ledger), "%s/ledger/checkpoints.log", e.root);
    CHECK_OK(cv_read_file(ledger, 1 << 20, &log, &loglen, &err), &err);
    if (log) {
        struct idx_checkpoint *cps[2] = {&cp1, &cp2};
        const char *at = log;
        for (int i = 0; i < 2; i++) {
            unsigned char b64[256];
            char block[8192];
            EVP_EncodeBlock(b64, cps[i]->sig, (int)cps[i]->siglen);
            snprintf(block, sizeof(block), "%ssignature %s\n\n", cps[i]->text, b64);
            const char *found = strstr(at, block);
            CHECK_MSG(found != NULL, "checkpoint %d not in the ledger after offset %td", i + 1,
                      at - log);
            if (found)
                at = found + strlen(block);
        }
        CHECK_MSG((size_t)(at - log) == loglen, "ledger has %zu bytes after the checkpoints",
                  loglen - (size_t)(at - log));
    }
out:
    free(log);
    free(heads);
    idx_checkpoint_release(&cp1);
    idx_checkpoint_release(&cp2);
    cenv_close(&e);
}

/* Replace the first occurrence of `from` in cp->text by `to` (same or other length). */
static void text_replace(struct idx_checkpoint *cp, const char *from, const char *to)
{
    char *at = strstr(cp->text, from);
    size_t n = strlen(cp->text) + strlen(to) + 1;
    char *nt = malloc(n);

    CHECK_MSG(at != NULL, "'%s' not in the checkpoint", from);
    if (!at || !nt) {
        free(nt);
        return;
    }
    snprintf(nt, n, "%.*s%s%s", (int)(at - cp->text), cp->text, to, at + strlen(from));
    free(cp->text);
    cp->text = nt;
}

/* A checkpoint changed after signing, in its text or its signature, is refused by name. */
void test_checkpoint_tampered(void)
{
    static const struct {
        const char *what;
        const char *from, *to; /* text change, or NULL */
        int sig_byte;          /* signature byte to flip (from the end), or -1 */
        size_t sig_cut;        /* bytes cut off the signature */
    } cases[] = {
        {"untouched (control)", NULL, NULL, -1, 0},
        {"a chain head changed", "\nhead cam1 ", "\nhead cam1 0", -1, 0},
        {"a camera renamed", "\nhead gate-3 ", "\nhead gate-4 ", -1, 0},
        {"the sequence changed", "\nseq ", "\nseq 9", -1, 0},
        {"the time moved", "time 2026-11-22T09:31", "time 2026-11-22T09:21", -1, 0},
        {"the audit head changed", "\naudit 0 ", "\naudit 1 ", -1, 0},
        {"a head dropped", "camvault checkpoint 1\n", "camvault checkpoint 1\n", -1, 0},
        {"a line added", "\nprev ", "\nnote hello\nprev ", -1, 0},
        {"a signature byte flipped", NULL, NULL, 5, 0},
        {"the signature cut short", NULL, NULL, -1, 4},
    };
    struct cenv e;

    if (cenv_open(&e) < 0) {
        cenv_close(&e);
        return;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        struct idx_checkpoint cp;
        struct exp_cp_audit a;
        struct idx_txn *t = NULL;
        uint64_t seq = 0;
        char name[32];
        bool control = !cases[i].from && cases[i].sig_byte < 0 && !cases[i].sig_cut;
        int rc;

        memset(&cp, 0, sizeof(cp));
        CHECK_OK(exp_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 60 * S, &seq, &err),
                 &err);
        CHECK_OK(last(&e, &cp, NULL, &err), &err);
        if (!cp.text)
            break;
        if (cases[i].from && strcmp(cases[i].what, "a head dropped") == 0) {
            char *h = strstr(cp.text, "\nhead gate-3 ");
            if (h)
                h[1] = '\0'; /* the last line goes */
        } else if (cases[i].from) {
            text_replace(&cp, cases[i].from, cases[i].to);
        }
        if (cases[i].sig_byte >= 0)
            cp.sig[cp.siglen - 1 - (size_t)cases[i].sig_byte] ^= 0x01;
        cp.siglen -= cases[i].sig_cut;
        CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
        CHECK_OK(idx_checkpoint_put(t, &cp, &err), &err);
        CHECK_OK(idx_commit(t, &err), &err);

        err.msg[0] = '\0';
        rc = last(&e, NULL, &a, &err);
        snprintf(name, sizeof(name), "checkpoint %llu:", (unsigned long long)seq);
        if (control) {
            CHECK_MSG(rc == 0, "%s: rc %d: %s", cases[i].what, rc, err.msg);
        } else {
            CHECK_MSG(rc == CV_ECRYPTO, "%s: rc %d, want CV_ECRYPTO (%s)", cases[i].what, rc,
                      err.msg);
            CHECK_MSG(strstr(err.msg, name) != NULL, "%s: message does not name it: %s",
                      cases[i].what, err.msg);
        }
        idx_checkpoint_release(&cp);
    }
    cenv_close(&e);
}

/* The "audit <n> <hash>" line: found, absent (older checkpoints) or malformed. */
void test_checkpoint_audit_line(void)
{
    static const char h64[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char good[256], shorth[256], extra[256], after_sig[256];
    uint8_t hash[32];
    uint64_t seq;

    snprintf(good, sizeof(good), "camvault checkpoint 1\nseq 3\naudit 42 %s\nhead a 1 x\n", h64);
    snprintf(shorth, sizeof(shorth), "camvault checkpoint 1\naudit 42 %.63s\n", h64);
    snprintf(extra, sizeof(extra), "camvault checkpoint 1\naudit 42 %s x\n", h64);
    snprintf(after_sig, sizeof(after_sig), "camvault checkpoint 1\nsignature AAAA\naudit 42 %s\n",
             h64);
    const struct {
        const char *text;
        int rc;
        uint64_t seq;
    } cases[] = {
        {good, 0, 42},
        {"camvault checkpoint 1\nseq 3\nhead a 1 x\n", CV_ENOENT, 0},
        {shorth, CV_ECORRUPT, 0},
        {extra, CV_ECORRUPT, 0},
        {"camvault checkpoint 1\naudit x 0011\n", CV_ECORRUPT, 0},
        {after_sig, CV_ENOENT, 0}, /* lines after the signature are not signed */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        seq = 0;
        memset(hash, 0, sizeof(hash));
        rc = exp_checkpoint_audit(cases[i].text, strlen(cases[i].text), &seq, hash);
        CHECK_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d", i, rc, cases[i].rc);
        if (cases[i].rc == 0) {
            CHECK_EQ_U64(seq, cases[i].seq);
            CHECK_EQ_INT(hash[0], 0x00);
            CHECK_EQ_INT(hash[1], 0x11);
            CHECK_EQ_INT(hash[31], 0xff);
        }
    }
}
