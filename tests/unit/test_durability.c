/*
 * test_durability.c: the chain step and the segment commit when OpenSSL cannot hash (issue 11,
 * finding 6). OpenSSL is made to fail for real, not mocked: a default property query that no
 * provider satisfies makes every implicit SHA-256 fetch fail, as a broken or FIPS-restricted
 * OpenSSL configuration would.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "integrity/chain.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S INT64_C(1000000)

static void hashing_off(bool off)
{
    EVP_set_default_properties(NULL, off ? "provider=camvault-none" : "");
}

void test_idx_chain_crypto_failure(void)
{
    static const uint8_t zeros[32];
    uint8_t sha[32], out[32];
    char root[PATH_MAX];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_camera cam;
    struct idx_segment seg, last;
    int rc;

    memset(sha, 0xab, sizeof(sha));
    hashing_off(true);
    memset(out, 0x55, sizeof(out));
    rc = itg_chain_next(zeros, "gate-3", FX_START_US, FX_START_US + 60 * S, sha, out, &err);
    hashing_off(false);
    CHECK_EQ_INT(rc, CV_ECRYPTO);
    CHECK_MSG(strstr(err.msg, "camera 'gate-3': cannot compute the chain link") != NULL, "%s",
              err.msg);
    CHECK_EQ_MEM(out, zeros, 32);

    /* idx_segment_put must fail and write nothing; the same put works once hashing does. */
    if (fx_tmpdir(root) < 0)
        return;
    rc = lay_root_create(root, &err);
    if (rc == 0)
        rc = idx_open(&idx, root, IDX_CREATE, &err);
    if (rc == 0)
        rc = idx_begin(idx, true, &t, &err);
    memset(&cam, 0, sizeof(cam));
    cv_strlcpy(cam.id, "gate-3", sizeof(cam.id));
    cv_strlcpy(cam.url, "rtsp://127.0.0.1/x", sizeof(cam.url));
    cam.enabled = true;
    if (rc == 0)
        rc = idx_camera_add(t, &cam, &err);
    CHECK_MSG(rc == 0, "setup: %s", err.msg);
    if (rc < 0)
        goto out;
    memset(&seg, 0, sizeof(seg));
    seg.cam = cam.num;
    seg.start_us = FX_START_US;
    seg.end_us = FX_START_US + 60 * S;
    cv_strlcpy(seg.path, "volumes/main/gate-3/2026-11-22/093000-0.mp4", sizeof(seg.path));
    memcpy(seg.sha256, sha, 32);
    hashing_off(true);
    rc = idx_segment_put(t, "gate-3", &seg, NULL, 0, &err);
    hashing_off(false);
    CHECK_EQ_INT(rc, CV_ECRYPTO);
    CHECK_EQ_INT(idx_segment_last(t, cam.num, &last, NULL), CV_ENOENT);
    rc = idx_segment_put(t, "gate-3", &seg, NULL, 0, &err);
    CHECK_MSG(rc == 0, "put after hashing is back: %s", err.msg);
    CHECK_EQ_INT(idx_segment_last(t, cam.num, &last, NULL), 0);
    CHECK(memcmp(last.chain, zeros, 32) != 0);

    /* The status carries the count of segments that are not durable (a trailing field). */
    {
        struct idx_status st, got;
        memset(&st, 0, sizeof(st));
        st.online = true;
        st.segments = 9;
        st.not_durable = 3;
        cv_strlcpy(st.codec, "h264", sizeof(st.codec));
        rc = idx_status_put(t, cam.num, &st, &err);
        CHECK_MSG(rc == 0, "status put: %s", err.msg);
        CHECK_EQ_INT(idx_status_get(t, cam.num, &got, &err), 0);
        CHECK_EQ_U64(got.not_durable, 3);
        CHECK_EQ_U64(got.segments, 9);
        CHECK(strcmp(got.codec, "h264") == 0);
    }
out:
    hashing_off(false);
    idx_abort(t);
    idx_close(idx);
    fx_rmtree(root);
}
