/*
 * checkpoint.c: build, sign, store and publish checkpoints (format in checkpoint.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "integrity/checkpoint.h"
#include "integrity/audit_chain.h"
#include "integrity/tsa.h"
#include "storage-layout/layout.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/banned.h"

static void sha256_hex(const char *text, char out[65])
{
    uint8_t md[32];
    unsigned int len = 32;

    EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
    cv_hex(md, 32, out);
}

/*
 * Append the checkpoint to ROOT/ledger/checkpoints.log and fsync it: its text, the signature
 * line and, when the signer has a time-stamp authority, a "timestamp <base64 token>" line over
 * the bytes before it (a TSA that fails costs the stamp, not the checkpoint).
 */
static int ledger_append(const char *root, struct itg_signer *signer, const char *text,
                         const uint8_t *sig, size_t siglen, struct cv_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    unsigned char b64[256];
    struct cv_buf b, tok;
    int fd, w, rc = 0;

    if (lay_dir(root, "ledger", dir, sizeof(dir), err) < 0 ||
        cv_path_join(path, sizeof(path), dir, "checkpoints.log", err) < 0)
        return CV_ELIMIT;
    EVP_EncodeBlock(b64, sig, (int)siglen);
    cv_buf_init(&b, strlen(text) + (64u << 10));
    cv_buf_init(&tok, 16u << 10);
    cv_buf_printf(&b, "%ssignature %s\n", text, (const char *)b64);
    if (itg_signer_tsa(signer)) {
        struct cv_err terr = {""};
        if (itg_tsa_stamp(itg_signer_tsa(signer), b.data, b.len, &tok, &terr) == 0 &&
            cv_buf_ok(&tok)) {
            unsigned char *t64 = malloc(tok.len * 4 / 3 + 8);
            if (t64) {
                EVP_EncodeBlock(t64, tok.data, (int)tok.len);
                cv_buf_printf(&b, "timestamp %s\n", (const char *)t64);
                free(t64);
            }
        } else {
            cv_warn("checkpoint not time-stamped: %s", terr.msg[0] ? terr.msg : "token too large");
        }
    }
    cv_buf_u8(&b, '\n');
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    w = cv_write_all(fd, b.data, b.len);
    if (w < 0 || fsync(fd) < 0)
        rc = cv_errf(err, CV_EIO, "cannot append to '%s': %s", path,
                     strerror(w < 0 ? -w : errno));
    close(fd);
out:
    cv_buf_release(&b);
    cv_buf_release(&tok);
    return rc;
}

/*
 * The checkpoint's text (checkpoint.h) as of transaction t, after checkpoint `prev` (seq 0: none
 * yet), into *text: one block of lines per thing a checkpoint signs, in the order of the format.
 * A new signed line (for instance the site clock's state) is one more block here, between the
 * audit line and the head lines, plus its line in checkpoint.h's format; readers skip lines they
 * do not know (itg_checkpoint_audit, verify's head lookup), so older verifiers keep working.
 */
static int checkpoint_text(struct idx_txn *t, const struct idx_checkpoint *prev, int64_t now_us,
                           struct cv_buf *text, struct cv_err *err)
{
    struct idx_head *heads = NULL;
    size_t nheads = 0;
    char site[33], prevhash[65], when[40], ahex[65], clkline[CV_CLOCK_LINE_MAX];
    struct cv_clock clk;
    uint8_t ahash[32];
    uint64_t aseq = 0;
    int rc = idx_site_id(t, site, err);

    if (rc == 0)
        rc = idx_heads(t, &heads, &nheads, err);
    if (rc == 0) /* the server appends under the same write lock: this is the head as of now */
        rc = itg_audit_head(t, &aseq, ahash, err);
    if (rc < 0)
        goto out;
    /* header: format, site, sequence, time, link to the previous checkpoint */
    if (prev->seq == 0) {
        memset(prevhash, '0', 64);
        prevhash[64] = 0;
    } else {
        sha256_hex(prev->text, prevhash);
    }
    cv_time_format_utc(now_us, when, sizeof(when), 6);
    cv_buf_printf(text, "camvault checkpoint 1\nsite %s\nseq %llu\ntime %s\nprev %s\n", site,
                  (unsigned long long)(prev->seq + 1), when, prevhash);
    /* the audit log's head */
    cv_hex(ahash, 32, ahex);
    cv_buf_printf(text, "audit %llu %s\n", (unsigned long long)aseq, ahex);
    /* the system clock's state under this checkpoint's time (common/clock.h) */
    cv_clock_read(&clk);
    cv_clock_line(&clk, clkline, sizeof(clkline));
    cv_buf_printf(text, "%s\n", clkline);
    /* every camera's chain head, last */
    for (size_t i = 0; i < nheads; i++) {
        char hex[65];
        cv_hex(heads[i].chain, 32, hex);
        cv_buf_printf(text, "head %s %lld %s\n", heads[i].camera, (long long)heads[i].start_us,
                      hex);
    }
    if (!cv_buf_ok(text))
        rc = cv_errf(err, CV_ELIMIT, "checkpoint text too large");
out:
    free(heads);
    return rc;
}

int itg_checkpoint_make(struct idx *idx, const char *root, struct itg_signer *signer,
                        int64_t now_us, uint64_t *seq, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    struct idx_checkpoint prev, cp;
    struct cv_buf text, sig;
    int rc;

    memset(&cp, 0, sizeof(cp));
    memset(&prev, 0, sizeof(prev));
    cv_buf_init(&text, 4u << 20);
    cv_buf_init(&sig, 256);
    rc = idx_begin(idx, true, &t, err);
    if (rc == 0)
        rc = idx_checkpoint_last(t, &prev, err);
    if (rc == CV_ENOENT) {
        idx_checkpoint_release(&prev);
        memset(&prev, 0, sizeof(prev)); /* seq 0: the first checkpoint */
        rc = 0;
    }
    if (rc == 0)
        rc = checkpoint_text(t, &prev, now_us, &text, err);
    if (rc == 0)
        rc = itg_sign(signer, text.data, text.len, &sig, err);
    if (rc < 0)
        goto out;
    cp.seq = prev.seq + 1;
    cp.text = (char *)text.data;
    memcpy(cp.sig, sig.data, sig.len);
    cp.siglen = sig.len;
    rc = idx_checkpoint_put(t, &cp, err);
    if (rc < 0)
        goto out;
    rc = idx_commit(t, err);
    t = NULL;
    if (rc == 0)
        rc = ledger_append(root, signer, (const char *)text.data, sig.data, sig.len, err);
    if (rc == 0)
        *seq = cp.seq;
out:
    idx_abort(t);
    idx_checkpoint_release(&prev);
    cv_buf_release(&text);
    cv_buf_release(&sig);
    return rc;
}

/* ---- the audit head ---- */

int itg_checkpoint_audit(const char *text, size_t len, uint64_t *seq, uint8_t hash[32])
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > 6 && strncmp(p, "audit ", 6) == 0) {
            char line[128], hex[65];
            unsigned long long n;
            int used = 0;
            if (l >= sizeof(line))
                return CV_ECORRUPT;
            memcpy(line, p, l);
            line[l] = 0;
            if (sscanf(line, "audit %llu %64s%n", &n, hex, &used) != 2 || (size_t)used != l ||
                strlen(hex) != 64 || cv_unhex(hex, hash, 32) < 0)
                return CV_ECORRUPT;
            *seq = n;
            return 0;
        }
        if (l > 10 && strncmp(p, "signature ", 10) == 0)
            break;
        if (!nl)
            break;
        p = nl + 1;
    }
    return CV_ENOENT;
}

/* Whether a certificate ROOT/keys/retired/<stamp>-signing.pem verifies checkpoint cp. */
static bool signed_by_retired(const char *keys, const struct idx_checkpoint *cp)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct cv_err ignore = {""};
    struct dirent *de;
    bool ok = false;
    DIR *d;

    if (cv_path_join(dir, sizeof(dir), keys, "retired", &ignore) < 0 || !(d = opendir(dir)))
        return false;
    while (!ok && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 12 && strcmp(de->d_name + l - 12, "-signing.pem") == 0 &&
            cv_path_join(path, sizeof(path), dir, de->d_name, &ignore) == 0)
            ok = itg_verify_file(path, cp->text, strlen(cp->text), cp->sig, cp->siglen,
                                 &ignore) == 0;
    }
    closedir(d);
    return ok;
}

int itg_checkpoint_audit_last(struct idx_txn *t, const char *root, struct itg_cp_audit *out,
                              struct cv_err *err)
{
    struct idx_checkpoint cp;
    char dir[PATH_MAX], cert[PATH_MAX];
    struct cv_err why = {""};
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&cp, 0, sizeof(cp));
    rc = idx_checkpoint_last(t, &cp, err);
    if (rc < 0)
        goto out;
    out->cp_seq = cp.seq;
    rc = lay_dir(root, "keys", dir, sizeof(dir), err);
    if (rc == 0)
        rc = cv_path_join(cert, sizeof(cert), dir, "signing.pem", err);
    if (rc < 0)
        goto out;
    rc = itg_verify_file(cert, cp.text, strlen(cp.text), cp.sig, cp.siglen, &why);
    if (rc == CV_ECRYPTO && signed_by_retired(dir, &cp))
        rc = 0; /* signed before `camvault keys import`, by a recorder not yet restarted */
    if (rc < 0) {
        rc = cv_errf(err, rc == CV_ECRYPTO ? CV_ECRYPTO : rc, "checkpoint %llu: %s",
                     (unsigned long long)cp.seq, why.msg);
        goto out;
    }
    rc = itg_checkpoint_audit(cp.text, strlen(cp.text), &out->seq, out->hash);
    if (rc == CV_ECORRUPT) {
        rc = cv_errf(err, CV_ECORRUPT, "checkpoint %llu: malformed audit line",
                     (unsigned long long)cp.seq);
        goto out;
    }
    out->has_audit = rc == 0;
    rc = 0;
out:
    idx_checkpoint_release(&cp);
    return rc;
}

