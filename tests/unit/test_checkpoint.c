/*
 * test_checkpoint.c: signed checkpoints of the cameras' chain heads (integrity/checkpoint.h):
 * what the text says, that its signature verifies with the site's signing certificate, that
 * each one names the hash of the one before, that the ledger holds the same bytes, and that a
 * checkpoint changed in any way after signing is refused, naming it; and that the signing
 * thread (integrity/checkpointer.h) keeps a slow time-stamp authority off its caller.
 */
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "integrity/checkpoint.h"
#include "integrity/checkpointer.h"
#include "integrity/keys.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S CV_US_PER_S

struct cenv {
    char root[PATH_MAX];
    struct idx *idx;
    struct itg_signer *signer;
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
    CHECK_OK(itg_keys_create(e->root, "unit-site", &created, &err), &err);
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
    CHECK_OK(itg_signer_open(&e->signer, e->root, &err), &err);
    return unit_failures() ? -1 : 0;
}

static void cenv_close(struct cenv *e)
{
    itg_signer_close(e->signer);
    fx_root_close(e->root, e->idx);
}

static void sha256_hex(const char *s, char out[65])
{
    uint8_t h[32];

    fx_sha256(s, strlen(s), h);
    cv_hex(h, 32, out);
}

/* The newest checkpoint of the index, and the audit line check over it. */
static int last(struct cenv *e, struct idx_checkpoint *cp, struct itg_cp_audit *a,
                struct cv_err *err)
{
    struct idx_txn *t = NULL;
    int rc = idx_begin(e->idx, false, &t, err);

    if (rc == 0 && cp)
        rc = idx_checkpoint_last(t, cp, err);
    if (rc == 0 && a)
        rc = itg_checkpoint_audit_last(t, e->root, a, err);
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
    struct itg_cp_audit a;
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

    CHECK_OK(itg_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 60 * S, &seq, &err),
             &err);
    CHECK_EQ_U64(seq, 1);
    CHECK_OK(last(&e, &cp1, NULL, &err), &err);
    CHECK_OK(itg_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 120 * S, &seq, &err),
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
    CHECK_OK(itg_verify_file(cert, cp1.text, strlen(cp1.text), cp1.sig, cp1.siglen, &err), &err);
    CHECK_OK(itg_verify_file(cert, cp2.text, strlen(cp2.text), cp2.sig, cp2.siglen, &err), &err);
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
        struct itg_cp_audit a;
        struct idx_txn *t = NULL;
        uint64_t seq = 0;
        char name[32];
        bool control = !cases[i].from && cases[i].sig_byte < 0 && !cases[i].sig_cut;
        int rc;

        memset(&cp, 0, sizeof(cp));
        CHECK_OK(itg_checkpoint_make(e.idx, e.root, e.signer, FX_START_US + 60 * S, &seq, &err),
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
        rc = itg_checkpoint_audit(cases[i].text, strlen(cases[i].text), &seq, hash);
        CHECK_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d", i, rc, cases[i].rc);
        if (cases[i].rc == 0) {
            CHECK_EQ_U64(seq, cases[i].seq);
            CHECK_EQ_INT(hash[0], 0x00);
            CHECK_EQ_INT(hash[1], 0x11);
            CHECK_EQ_INT(hash[31], 0xff);
        }
    }
}

/* ---- the signing thread ---- */

/*
 * A time-stamp authority that answers nothing until released: it accepts each connection and
 * holds it open (the signer's TSA request waits, as on a slow or stuck TSA) until the test sets
 * `released`, then closes it (the stamp fails, the checkpoint is kept without it).
 */
struct stuck_tsa {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int accepted;
    bool released, quit;
};

static void *stuck_tsa_run(void *arg)
{
    struct stuck_tsa *t = arg;

    for (;;) {
        int conn = accept(t->fd, NULL, NULL);
        if (conn < 0)
            break; /* shutdown() by stuck_tsa_stop */
        pthread_mutex_lock(&t->mu);
        t->accepted++;
        pthread_cond_broadcast(&t->cv);
        while (!t->released && !t->quit)
            pthread_cond_wait(&t->cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
        close(conn);
    }
    return NULL;
}

static int stuck_tsa_start(struct stuck_tsa *t)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(t->fd, 8) < 0 ||
        getsockname(t->fd, (struct sockaddr *)&a, &alen) < 0 ||
        pthread_create(&t->thread, NULL, stuck_tsa_run, t) != 0)
        return -1;
    t->port = ntohs(a.sin_port);
    return 0;
}

static void stuck_tsa_set(struct stuck_tsa *t, bool released, bool quit)
{
    pthread_mutex_lock(&t->mu);
    t->released = released;
    t->quit = quit;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void stuck_tsa_stop(struct stuck_tsa *t)
{
    stuck_tsa_set(t, true, true);
    shutdown(t->fd, SHUT_RDWR);
    pthread_join(t->thread, NULL);
    close(t->fd);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* Whether ROOT/ledger/checkpoints.log holds checkpoint `seq`. */
static bool ledger_has(const struct cenv *e, unsigned seq)
{
    char path[PATH_MAX], want[32];
    char *log = NULL;
    size_t len = 0;
    bool has;

    snprintf(path, sizeof(path), "%s/ledger/checkpoints.log", e->root);
    snprintf(want, sizeof(want), "\nseq %u\n", seq);
    if (cv_read_file(path, 1u << 20, &log, &len, NULL) < 0)
        return false;
    has = strstr(log, want) != NULL;
    free(log);
    return has;
}

/*
 * The recorder's supervision loop only starts and stops the checkpointer; here the test thread
 * plays that loop. It asks for a checkpoint while the TSA answers nothing: the request returns
 * at once, and while the signing thread waits for the TSA the caller goes on, the index is
 * free to write (the checkpoint is committed there before the TSA is asked) and the ledger does
 * not have the block yet. Released, the TSA costs the stamp, not the checkpoint; stop signs one
 * last checkpoint and joins. Signing in the caller's thread would fail this: the block would be
 * in the ledger (stamp timed out) by the time the request returned.
 */
void test_checkpoint_signer_thread(void)
{
    struct cenv e;
    struct stuck_tsa tsa;
    struct cv_err err = {""};
    struct itg_checkpointer *c = NULL;
    struct idx_checkpoint cp;
    struct idx_txn *t = NULL;
    char url[64];
    uint64_t failed = 0;

    memset(&cp, 0, sizeof(cp));
    signal(SIGPIPE, SIG_IGN); /* as `camvault record` does: a TSA that hangs up is an error */
    if (cenv_open(&e) < 0)
        return;
    CHECK(stuck_tsa_start(&tsa) == 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", tsa.port);
    CHECK_OK(itg_signer_set_tsa(e.signer, url, &err), &err);
    CHECK_OK(itg_checkpointer_start(&c, e.idx, e.root, e.signer, 3600 * S, &err), &err);
    if (!c)
        goto out;

    itg_checkpointer_kick(c);
    /* The caller is back; the signing thread reaches the TSA, which holds it there. */
    pthread_mutex_lock(&tsa.mu);
    while (tsa.accepted == 0)
        pthread_cond_wait(&tsa.cv, &tsa.mu);
    pthread_mutex_unlock(&tsa.mu);
    CHECK_MSG(!ledger_has(&e, 1), "the ledger has checkpoint 1 before the TSA answered");
    CHECK_EQ_U64(itg_checkpointer_count(c, NULL), 0);
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err); /* the write lock is not held meanwhile */
    if (t) {
        CHECK_OK(idx_checkpoint_last(t, &cp, &err), &err);
        CHECK_EQ_U64(cp.seq, 1); /* in the index already */
        CHECK_OK(idx_commit(t, &err), &err);
    }
    itg_checkpointer_kick(c); /* a second request while busy returns at once too */

    stuck_tsa_set(&tsa, true, false);
    while (itg_checkpointer_count(c, &failed) < 2 && failed == 0) {
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    CHECK_EQ_U64(failed, 0);
    CHECK(ledger_has(&e, 1) && ledger_has(&e, 2));
    itg_checkpointer_stop(c, true); /* one last checkpoint */
    c = NULL;
    CHECK(ledger_has(&e, 3));
out:
    itg_checkpointer_stop(c, false);
    idx_checkpoint_release(&cp);
    stuck_tsa_stop(&tsa);
    cenv_close(&e);
}
