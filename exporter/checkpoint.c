/*
 * checkpoint.c: build, sign, store and publish checkpoints (format in checkpoint.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exporter/checkpoint.h"
#include "exporter/tsa.h"
#include "common/log.h"
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
static int ledger_append(const char *root, struct exp_signer *signer, const char *text,
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
    if (exp_signer_tsa(signer)) {
        struct cv_err terr = {""};
        if (exp_tsa_stamp(exp_signer_tsa(signer), b.data, b.len, &tok, &terr) == 0 &&
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

int exp_checkpoint_make(struct idx *idx, const char *root, struct exp_signer *signer,
                        int64_t now_us, uint64_t *seq, struct cv_err *err)
{
    struct idx_txn *t = NULL;
    struct idx_checkpoint prev, cp;
    struct idx_head *heads = NULL;
    size_t nheads = 0;
    char site[33], prevhash[65], when[40];
    struct cv_buf text, sig;
    int rc;

    memset(&cp, 0, sizeof(cp));
    memset(&prev, 0, sizeof(prev));
    cv_buf_init(&text, 4u << 20);
    cv_buf_init(&sig, 256);
    rc = idx_begin(idx, true, &t, err);
    if (rc == 0)
        rc = idx_site_id(t, site, err);
    if (rc == 0)
        rc = idx_heads(t, &heads, &nheads, err);
    if (rc < 0)
        goto out;
    rc = idx_checkpoint_last(t, &prev, err);
    if (rc == CV_ENOENT) {
        memset(prevhash, '0', 64);
        prevhash[64] = 0;
        prev.seq = 0;
    } else if (rc < 0) {
        goto out;
    } else {
        sha256_hex(prev.text, prevhash);
    }
    cv_time_format_utc(now_us, when, sizeof(when), 6);
    cv_buf_printf(&text, "camvault checkpoint 1\nsite %s\nseq %llu\ntime %s\nprev %s\n", site,
                  (unsigned long long)(prev.seq + 1), when, prevhash);
    for (size_t i = 0; i < nheads; i++) {
        char hex[65];
        cv_hex(heads[i].chain, 32, hex);
        cv_buf_printf(&text, "head %s %lld %s\n", heads[i].camera, (long long)heads[i].start_us,
                      hex);
    }
    if (!cv_buf_ok(&text)) {
        rc = cv_errf(err, CV_ELIMIT, "checkpoint text too large");
        goto out;
    }
    rc = exp_sign(signer, text.data, text.len, &sig, err);
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
    free(heads);
    cv_buf_release(&text);
    cv_buf_release(&sig);
    return rc;
}
