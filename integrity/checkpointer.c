/*
 * checkpointer.c: the checkpoint signing thread of checkpointer.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "integrity/checkpointer.h"
#include "integrity/checkpoint.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/banned.h"

struct itg_checkpointer {
    struct idx *idx;
    const char *root;
    struct itg_signer *signer;
    int64_t interval_us;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC: kick and stop wake the thread */
    bool kicked, stopping, final;
    uint64_t count, failed;
};

/* Sign one checkpoint now (outside the mutex); log the outcome as the recorder always did. */
static void sign_one(struct itg_checkpointer *c)
{
    struct cv_err err = {""};
    uint64_t seq = 0;
    int rc = itg_checkpoint_make(c->idx, c->root, c->signer, cv_now_us(), &seq, &err);

    if (rc < 0)
        cv_error("checkpoint: %s", err.msg);
    else
        cv_debug("checkpoint %llu signed", (unsigned long long)seq);
    pthread_mutex_lock(&c->mu);
    if (rc < 0)
        c->failed++;
    else
        c->count++;
    pthread_mutex_unlock(&c->mu);
}

static void *run(void *arg)
{
    struct itg_checkpointer *c = arg;
    int64_t next = cv_mono_us() + c->interval_us;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct timespec ts = {.tv_sec = next / CV_US_PER_S,
                              .tv_nsec = (long)(next % CV_US_PER_S) * 1000};
        while (!c->stopping && !c->kicked && cv_mono_us() < next)
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stopping)
            break;
        c->kicked = false;
        pthread_mutex_unlock(&c->mu);
        sign_one(c);
        next = cv_mono_us() + c->interval_us;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    if (c->final)
        sign_one(c); /* the last segments, committed by the sink before stop */
    return NULL;
}

int itg_checkpointer_start(struct itg_checkpointer **out, struct idx *idx, const char *root,
                           struct itg_signer *signer, int64_t interval_us, struct cv_err *err)
{
    struct itg_checkpointer *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    int rc = 0;

    *out = NULL;
    if (!c)
        return cv_errf(err, CV_ENOMEM, "checkpoints: out of memory");
    c->idx = idx;
    c->root = root;
    c->signer = signer;
    c->interval_us = interval_us > ITG_CHECKPOINT_MIN_US ? interval_us : ITG_CHECKPOINT_MIN_US;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&c->cv, &ca) != 0) {
        free(c);
        return cv_errf(err, CV_ENOMEM, "checkpoints: cannot create a condition variable");
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        rc = cv_errf(err, CV_EIO, "checkpoints: cannot start the signing thread");
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void itg_checkpointer_kick(struct itg_checkpointer *c)
{
    cv_thread_raise(&c->mu, &c->cv, &c->kicked);
}

uint64_t itg_checkpointer_count(struct itg_checkpointer *c, uint64_t *failed)
{
    uint64_t n;

    pthread_mutex_lock(&c->mu);
    n = c->count;
    if (failed)
        *failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void itg_checkpointer_stop(struct itg_checkpointer *c, bool final)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    c->final = final;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
