/*
 * test_workflow.c: the server's workflow records (server/requests.h, cases.h, jobs.h): round
 * trips through the index, a mediator's reach (union of clips of open cases they belong to),
 * place matching, and the export worker marking jobs of a killed server as failed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "server/cases.h"
#include "server/jobs.h"
#include "server/requests.h"
#include "storage-layout/layout.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define S (INT64_C(1000000))
#define T0 (INT64_C(1767225600) * S)

void test_workflow_reach(void)
{
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct srv_case *c = srv_case_new();
    struct cv_err err = {""};
    static const struct {
        const char *user, *camera;
        int64_t from, to;
        int want;
    } cases[] = {
        {"mia", "gate", T0 + 10 * S, T0 + 20 * S, 1},   /* inside clip 1 */
        {"mia", "gate", T0 + 50 * S, T0 + 150 * S, 1},  /* across clips 1 and 2 (adjacent) */
        {"mia", "gate", T0 + 150 * S, T0 + 250 * S, 0}, /* past clip 2 */
        {"mia", "gate", T0 - S, T0 + S, 0},             /* before clip 1 */
        {"mia", "square", T0 + 10 * S, T0 + 20 * S, 0}, /* a camera of a closed case */
        {"mia", "gate", 0, 0, 1},                       /* any time of gate */
        {"mia", "square", 0, 0, 0},
        {"max", "gate", T0 + 10 * S, T0 + 20 * S, 0}, /* not a member */
        {"mia", "gate", T0 + 20 * S, T0 + 10 * S, 0}, /* empty range */
    };

    if (!c || fx_env_open(&e) < 0) {
        free(c);
        return;
    }
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    /* C-1 (open): mia; gate [T0, T0+100s) and [T0+100s, T0+200s). */
    cv_strlcpy(c->title, "one", sizeof(c->title));
    CHECK_OK(srv_case_add_member(c, "mia", &err), &err);
    CHECK_OK(srv_case_add_clip(c, "gate", T0, T0 + 100 * S, NULL, NULL, &err), &err);
    CHECK_OK(srv_case_add_clip(c, "gate", T0 + 100 * S, T0 + 200 * S, "b", NULL, &err), &err);
    CHECK_OK(srv_case_add(t, c, &err), &err);
    CHECK(strcmp(c->id, "C-1") == 0);
    CHECK(strcmp(c->clips[1].id, "K2") == 0);
    /* C-2 (closed): mia; square. */
    memset(c, 0, sizeof(*c));
    c->status = SRV_CASE_CLOSED;
    CHECK_OK(srv_case_add_member(c, "mia", &err), &err);
    CHECK_OK(srv_case_add_clip(c, "square", T0, T0 + 100 * S, NULL, NULL, &err), &err);
    CHECK_OK(srv_case_add(t, c, &err), &err);
    CHECK_OK(idx_commit(t, &err), &err);

    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(srv_case_reach(t, cases[i].user, cases[i].camera, cases[i].from, cases[i].to) ==
                      (cases[i].want != 0),
                  "case %zu: %s %s", i, cases[i].user, cases[i].camera);
    CHECK_OK(srv_case_get(t, "C-1", c, &err), &err);
    CHECK_EQ_INT(c->nclips, 2);
    CHECK_EQ_INT(c->clips[1].to_us, T0 + 200 * S);
    CHECK(strcmp(c->clips[1].note, "b") == 0);
    CHECK(srv_case_get(t, "C-9", c, &err) == CV_ENOENT);
    idx_abort(t);
    fx_env_close(&e);
    free(c);
}

void test_workflow_records(void)
{
    struct fx_env e;
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct srv_request rq = {0}, back;
    struct srv_job j = {0}, jb;
    struct srv_job *list = NULL;
    size_t n = 0;
    uint64_t counts[SRV_JOB_NSTATUS];

    if (fx_env_open(&e) < 0)
        return;
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    cv_strlcpy(rq.by, "carol", sizeof(rq.by));
    cv_strlcpy(rq.place, "alley \"12\"", sizeof(rq.place));
    cv_strlcpy(rq.description, "bike gone", sizeof(rq.description));
    rq.from_us = T0;
    rq.to_us = T0 + 3600 * S;
    rq.ncameras = 2;
    cv_strlcpy(rq.cameras[0], "a", sizeof(rq.cameras[0]));
    cv_strlcpy(rq.cameras[1], "b", sizeof(rq.cameras[1]));
    CHECK_OK(srv_request_add(t, &rq, &err), &err);
    CHECK(strcmp(rq.id, "R-1") == 0);
    CHECK_OK(srv_request_get(t, "R-1", &back, &err), &err);
    CHECK(memcmp(&rq, &back, sizeof(rq)) == 0 ||
          (strcmp(back.place, rq.place) == 0 && back.ncameras == 2 && back.to_us == rq.to_us));
    CHECK(srv_request_get(t, "R-2", &back, &err) == CV_ENOENT);
    CHECK(srv_request_get(t, "", &back, &err) == CV_ENOENT);

    CHECK_OK(srv_job_new_id(j.id, &err), &err);
    cv_strlcpy(j.case_id, "C-1", sizeof(j.case_id));
    j.ncameras = 1;
    cv_strlcpy(j.cameras[0], "a", sizeof(j.cameras[0]));
    j.status = SRV_JOB_RUNNING;
    j.created_us = cv_now_us();
    CHECK_OK(srv_job_add(t, &j, &err), &err);
    CHECK(srv_job_add(t, &j, &err) == CV_EEXIST);
    CHECK_OK(idx_commit(t, &err), &err);

    /* A server that starts finds the job "running": it was interrupted. */
    {
        struct srv_jobs *w = NULL;
        CHECK_OK(srv_jobs_open(&w, e.idx, e.root, &err), &err);
        srv_jobs_close(w);
    }
    CHECK_OK(idx_begin(e.idx, false, &t, &err), &err);
    CHECK_OK(srv_job_get(t, j.id, &jb, &err), &err);
    CHECK_EQ_INT(jb.status, SRV_JOB_FAILED);
    CHECK(strcmp(jb.error, "server stopped") == 0);
    CHECK_OK(srv_job_list(t, &list, &n, &err), &err);
    CHECK_EQ_INT(n, 1);
    CHECK_OK(srv_job_counts(t, counts, &err), &err);
    CHECK_EQ_INT(counts[SRV_JOB_FAILED], 1);
    CHECK_EQ_INT(counts[SRV_JOB_DONE], 0);
    idx_abort(t);
    free(list);
    fx_env_close(&e);
}

void test_workflow_place(void)
{
    static const struct {
        const char *location, *place;
        int want;
    } cases[] = {
        {"Building 12 alley", "the alley by building 12", 1},
        {"Building 12 alley", "alley", 1},
        {"Building 12 alley", "building 13", 0},
        {"Market square", "the square", 0}, /* "the" is not a word of the location */
        {"Market square", "market", 1},
        {"12号楼小巷", "12号楼小巷东口", 1}, /* no spaces: containment */
        {"", "alley", 0},
        {"alley", "", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_MSG(srv_place_matches(cases[i].location, cases[i].place) == (cases[i].want != 0),
                  "'%s' vs '%s'", cases[i].location, cases[i].place);
}

/* The hex of record `id` of store s as stored, into out (NUL-terminated). */
static void stored_hex(struct idx_txn *t, enum idx_store s, const char *id, char *out, size_t cap)
{
    struct cv_err err = {""};
    struct cv_buf b;

    cv_buf_init(&b, 4096);
    CHECK_OK(idx_rec_get(t, s, id, strlen(id), &b, &err), &err);
    if (2 * b.len + 1 <= cap)
        cv_hex(b.data, b.len, out);
    else
        snprintf(out, cap, "too long");
    cv_buf_release(&b);
}

/* A job stored before `stage` (its bytes end with the `by` string): it reads, stage empty. */
static void old_job_reads(struct idx_txn *t, const char *id, const uint8_t *tail, size_t n)
{
    struct cv_err err = {""};
    struct cv_buf b;
    struct srv_job j;

    cv_buf_init(&b, 4096);
    CHECK_OK(idx_rec_get(t, IDX_JOBS, id, strlen(id), &b, &err), &err);
    CHECK(b.len > n + 2 && memcmp(b.data + b.len - n - 2, tail, n) == 0);
    if (b.len > n + 2) {
        CHECK_OK(idx_rec_put(t, IDX_JOBS, id, strlen(id), b.data, b.len - 2, &err), &err);
        CHECK_OK(srv_job_get(t, id, &j, &err), &err);
        CHECK_EQ_STR(j.by, "olga");
        CHECK_EQ_STR(j.stage, "");
    }
    cv_buf_release(&b);
}

/* The stored bytes of a request and an export job are those of schema 3 (records.c writes
 * the version byte, each kind's codec its fields), an export job's with the `stage` string
 * added at its end since (empty: "0000"); a job stored before, without it, still reads. */
void test_workflow_record_bytes(void)
{
    static const char want_rq[] =
        "010003522d3100056361726f6c000467617465000000064748462040000006474849b3c700000462696b65"
        "01000000000000000000070003432d3100000006474846204001000647484620400200046f6c676101000467"
        "617465";
    static const char want_job[] =
        "0100193230323630313031543030303030305a2d30313032303330340003432d310100046761746500064748"
        "462040000006474849b3c700000000000000026400000000000004d200000000000647484620400300000000"
        "0000000000046f6c67610000";
    static const uint8_t old_job_tail[] = {0x00, 0x04, 'o', 'l', 'g', 'a'};
    struct srv_request rq;
    struct srv_job j;
    struct cv_err err = {""};
    struct idx_txn *t = NULL;
    struct fx_env e;
    char got[4096];

    if (fx_env_open(&e) < 0)
        return;
    memset(&rq, 0, sizeof(rq));
    cv_strlcpy(rq.by, "carol", sizeof(rq.by));
    cv_strlcpy(rq.camera, "gate", sizeof(rq.camera));
    rq.from_us = T0;
    rq.to_us = T0 + 60 * S;
    cv_strlcpy(rq.description, "bike", sizeof(rq.description));
    rq.status = SRV_RQ_APPROVED;
    rq.hold = 7;
    cv_strlcpy(rq.case_id, "C-1", sizeof(rq.case_id));
    rq.created_us = T0 + 1;
    rq.decided_us = T0 + 2;
    cv_strlcpy(rq.decided_by, "olga", sizeof(rq.decided_by));
    cv_strlcpy(rq.cameras[0], "gate", sizeof(rq.cameras[0]));
    rq.ncameras = 1;
    memset(&j, 0, sizeof(j));
    cv_strlcpy(j.id, "20260101T000000Z-01020304", sizeof(j.id));
    cv_strlcpy(j.case_id, "C-1", sizeof(j.case_id));
    cv_strlcpy(j.cameras[0], "gate", sizeof(j.cameras[0]));
    j.ncameras = 1;
    j.from_us = T0;
    j.to_us = T0 + 60 * S;
    j.status = SRV_JOB_DONE;
    j.progress = 100;
    j.bytes = 1234;
    j.created_us = T0 + 3;
    cv_strlcpy(j.by, "olga", sizeof(j.by));
    CHECK_OK(idx_begin(e.idx, true, &t, &err), &err);
    if (t) {
        CHECK_OK(srv_request_add(t, &rq, &err), &err);
        CHECK_OK(srv_job_add(t, &j, &err), &err);
        stored_hex(t, IDX_REQUESTS, rq.id, got, sizeof(got));
        CHECK_EQ_STR(got, want_rq);
        stored_hex(t, IDX_JOBS, j.id, got, sizeof(got));
        CHECK_EQ_STR(got, want_job);
        old_job_reads(t, j.id, old_job_tail, sizeof(old_job_tail));
        idx_abort(t);
    }
    fx_env_close(&e);
}
