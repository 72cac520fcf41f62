/*
 * test_holds.c: evidence holds in the index (indexer/idx.h, "holds"): add, get, list, release,
 * and idx_hold_covers, the one rule retention asks before it deletes anything.
 *
 * A hold is released by storing it again with released_us and released_by set (what
 * server/api_holds.c does); it stays listed, so the custody record keeps it, but covers nothing.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cvtime.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S CV_US_PER_S
#define T0 FX_START_US

static struct idx_hold make_hold(const char *case_id, const char *cam1, const char *cam2,
                                 int64_t from_us, int64_t to_us, int64_t until_us)
{
    struct idx_hold h;

    memset(&h, 0, sizeof(h));
    cv_strlcpy(h.case_id, case_id, sizeof(h.case_id));
    cv_strlcpy(h.cameras[h.ncameras++], cam1, sizeof(h.cameras[0]));
    if (cam2)
        cv_strlcpy(h.cameras[h.ncameras++], cam2, sizeof(h.cameras[0]));
    h.from_us = from_us;
    h.to_us = to_us;
    h.until_us = until_us;
    cv_strlcpy(h.who, "officer1", sizeof(h.who));
    cv_strlcpy(h.why, "burglary at gate 3", sizeof(h.why));
    h.created_us = T0;
    return h;
}

static void check_same(const struct idx_hold *got, const struct idx_hold *want)
{
    CHECK_EQ_U64(got->id, want->id);
    CHECK_EQ_STR(got->case_id, want->case_id);
    CHECK_EQ_INT(got->ncameras, want->ncameras);
    for (uint32_t i = 0; i < want->ncameras && i < got->ncameras; i++)
        CHECK_EQ_STR(got->cameras[i], want->cameras[i]);
    CHECK_EQ_INT(got->from_us, want->from_us);
    CHECK_EQ_INT(got->to_us, want->to_us);
    CHECK_EQ_INT(got->until_us, want->until_us);
    CHECK_EQ_STR(got->who, want->who);
    CHECK_EQ_STR(got->why, want->why);
    CHECK_EQ_INT(got->created_us, want->created_us);
    CHECK_EQ_INT(got->released_us, want->released_us);
    CHECK_EQ_STR(got->released_by, want->released_by);
}

/* Add three holds, read them back, release one, list them all; the index keeps it all. */
void test_holds_add_list_release(void)
{
    char root[PATH_MAX];
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct idx_hold h[3], got, *list = NULL;
    size_t n = 0;

    if (fx_root_open(root, &idx) < 0)
        return;
    h[0] = make_hold("case-1", "cam1", NULL, T0, T0 + 60 * S, 0);
    h[1] = make_hold("case-2", "cam1", "cam2", T0 + 30 * S, T0 + 90 * S, T0 + 86400 * S);
    h[2] = make_hold("", "cam3", NULL, T0 - 10 * S, T0, 0);

    CHECK_OK(idx_begin(idx, true, &t, &err), &err);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(idx_hold_add(t, &h[i], &err), &err);
        CHECK_EQ_U64(h[i].id, (uint64_t)i + 1); /* ids count from 1 */
    }
    CHECK_OK(idx_commit(t, &err), &err);

    /* Release hold 2: stored again with who and when. */
    CHECK_OK(idx_begin(idx, true, &t, &err), &err);
    CHECK_OK(idx_hold_get(t, 2, &got, &err), &err);
    check_same(&got, &h[1]);
    got.released_us = T0 + 120 * S;
    cv_strlcpy(got.released_by, "officer2", sizeof(got.released_by));
    CHECK_OK(idx_hold_put(t, &got, &err), &err);
    h[1] = got;
    CHECK_OK(idx_commit(t, &err), &err);

    /* Everything survives a reopen. */
    idx_close(idx);
    idx = NULL;
    CHECK_OK(idx_open(&idx, root, 0, &err), &err);
    if (!idx)
        goto out;
    CHECK_OK(idx_begin(idx, false, &t, &err), &err);
    CHECK_OK(idx_hold_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 3); /* released holds stay listed */
    for (size_t i = 0; i < n && i < 3; i++)
        check_same(&list[i], &h[i]);
    CHECK_EQ_INT(idx_hold_covers(&list[1], "cam1", T0 + 40 * S, T0 + 50 * S, T0), false);
    CHECK_EQ_INT(idx_hold_covers(&list[0], "cam1", T0 + 40 * S, T0 + 50 * S, T0), true);

    /* An unknown id is an error naming it. */
    err.msg[0] = '\0';
    CHECK_EQ_INT(idx_hold_get(t, 99, &got, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "unknown hold 99");
    idx_abort(t);
    t = NULL;
    free(list);
    list = NULL;

    /* A hold stored under an id (fsck --rebuild copies them) is never handed out again. */
    CHECK_OK(idx_begin(idx, true, &t, &err), &err);
    got = make_hold("case-9", "cam9", NULL, T0, T0 + S, 0);
    got.id = 10;
    CHECK_OK(idx_hold_put(t, &got, &err), &err);
    got = make_hold("case-10", "cam9", NULL, T0, T0 + S, 0);
    CHECK_OK(idx_hold_add(t, &got, &err), &err);
    CHECK_EQ_U64(got.id, 11);
    CHECK_OK(idx_hold_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 5);
    for (size_t i = 1; i < n; i++)
        CHECK_MSG(list[i - 1].id < list[i].id, "holds listed out of id order at %zu", i);
    CHECK_OK(idx_commit(t, &err), &err);
    t = NULL;
out:
    free(list);
    idx_abort(t);
    idx_close(idx);
    fx_rmtree(root);
}

/* idx_hold_covers: the hold's cameras, its range [from, to), its expiry and its release. */
void test_holds_covers(void)
{
    static const struct {
        const char *what;
        const char *camera;
        int64_t from_s, to_s; /* footage, seconds after T0 */
        int64_t now_s;
        int64_t until_s;    /* hold expiry after T0, 0: none */
        int64_t released_s; /* release after T0, 0: not released */
        bool want;
    } cases[] = {
        /* The hold: cam1 and cam2, [T0+100, T0+200). */
        {"inside", "cam1", 120, 130, 0, 0, 0, true},
        {"second camera", "cam2", 120, 130, 0, 0, 0, true},
        {"other camera", "cam3", 120, 130, 0, 0, 0, false},
        {"prefix of a camera id", "cam", 120, 130, 0, 0, 0, false},
        {"overlaps the start", "cam1", 90, 101, 0, 0, 0, true},
        {"overlaps the end", "cam1", 199, 250, 0, 0, 0, true},
        {"spans the hold", "cam1", 0, 500, 0, 0, 0, true},
        {"ends where the hold starts", "cam1", 90, 100, 0, 0, 0, false},
        {"starts where the hold ends", "cam1", 200, 210, 0, 0, 0, false},
        {"long before", "cam1", 0, 50, 0, 0, 0, false},
        {"before expiry", "cam1", 120, 130, 999, 1000, 0, true},
        {"at expiry", "cam1", 120, 130, 1000, 1000, 0, false},
        {"after expiry", "cam1", 120, 130, 5000, 1000, 0, false},
        {"released", "cam1", 120, 130, 0, 0, 300, false},
        {"released, not expired", "cam1", 120, 130, 10, 1000, 5, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct idx_hold h = make_hold("case-1", "cam1", "cam2", T0 + 100 * S, T0 + 200 * S,
                                      cases[i].until_s ? T0 + cases[i].until_s * S : 0);
        bool got;

        if (cases[i].released_s) {
            h.released_us = T0 + cases[i].released_s * S;
            cv_strlcpy(h.released_by, "officer2", sizeof(h.released_by));
        }
        got = idx_hold_covers(&h, cases[i].camera, T0 + cases[i].from_s * S,
                              T0 + cases[i].to_s * S, T0 + cases[i].now_s * S);
        CHECK_MSG(got == cases[i].want, "%s: covers %d, want %d", cases[i].what, got,
                  cases[i].want);
    }
}
