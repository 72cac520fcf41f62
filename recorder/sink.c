/*
 * sink.c: the one thread of the recorder that writes the index.
 *
 * Camera threads queue closed segments, gaps and pending notes; the sink takes everything queued
 * and commits it in one LMDB write transaction (one fsync for many records), and writes camera
 * statuses at a fixed interval. If a commit fails (disk full, map full), the items stay queued
 * and are tried again a second later, with one log line per minute: nothing queued is dropped
 * while the process lives, and the segment files themselves are already durable on disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recorder/rec_int.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/banned.h"

#define QUEUE_MAX 100000 /* past this, camera threads wait: the index is far behind */

enum item_type { ITEM_SEGMENT, ITEM_GAP, ITEM_PENDING };

struct item {
    struct item *next;
    enum item_type type;
    char camera[LAY_ID_MAX + 1];
    struct idx_segment seg;
    struct lay_seg_frag *frags;
    size_t nfrags;
    struct idx_gap gap;
    uint32_t cam;
    char path[LAY_RELPATH_MAX];
};

struct status_slot {
    uint32_t cam;
    bool dirty;
    struct idx_status st;
};

struct rec_sink {
    struct idx *idx;
    const struct rec_config *cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, room;
    struct item *head, *tail;
    size_t queued;
    bool closing;
    struct status_slot *slots;
    size_t nslots, cslots;
    int64_t last_fail_log;
};

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->frags);
    free(it);
}

static void enqueue(struct rec_sink *s, struct item *it)
{
    pthread_mutex_lock(&s->lock);
    while (s->queued >= QUEUE_MAX && !s->closing)
        pthread_cond_wait(&s->room, &s->lock);
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->queued++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void rec_sink_segment(struct rec_sink *s, const char *camera, const struct idx_segment *seg,
                      struct lay_seg_frag *frags, size_t nfrags)
{
    struct item *it = calloc(1, sizeof(*it));

    if (!it) {
        cv_error("camera '%s': out of memory queueing segment '%s' (fsck will index it)", camera,
                 seg->path);
        free(frags);
        return;
    }
    it->type = ITEM_SEGMENT;
    cv_strlcpy(it->camera, camera, sizeof(it->camera));
    it->seg = *seg;
    it->frags = frags;
    it->nfrags = nfrags;
    enqueue(s, it);
}

void rec_sink_gap(struct rec_sink *s, const struct idx_gap *gap)
{
    struct item *it = calloc(1, sizeof(*it));

    if (!it)
        return;
    it->type = ITEM_GAP;
    it->gap = *gap;
    enqueue(s, it);
}

void rec_sink_pending(struct rec_sink *s, uint32_t cam, const char *relpath)
{
    struct item *it = calloc(1, sizeof(*it));

    if (!it)
        return;
    it->type = ITEM_PENDING;
    it->cam = cam;
    cv_strlcpy(it->path, relpath, sizeof(it->path));
    enqueue(s, it);
}

void rec_sink_status(struct rec_sink *s, uint32_t cam, const struct idx_status *st)
{
    size_t i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->nslots; i++)
        if (s->slots[i].cam == cam)
            break;
    if (i == s->nslots) {
        if (s->nslots == s->cslots) {
            size_t n = s->cslots ? s->cslots * 2 : 16;
            struct status_slot *ns = realloc(s->slots, n * sizeof(*ns));
            if (!ns) {
                pthread_mutex_unlock(&s->lock);
                return;
            }
            s->slots = ns;
            s->cslots = n;
        }
        s->slots[s->nslots++].cam = cam;
    }
    s->slots[i].st = *st;
    s->slots[i].dirty = true;
    pthread_mutex_unlock(&s->lock);
}

/* Apply one item inside the open transaction. Returns <0 only for errors that doom the txn. */
static int apply(struct idx_txn *t, struct item *it)
{
    struct cv_err err = {""};
    struct idx_segment seg;
    int rc = 0;

    switch (it->type) {
    case ITEM_SEGMENT:
        seg = it->seg; /* the put may move it; a failed commit puts the item again as it came */
        rc = idx_segment_put(t, it->camera, &seg, it->frags, it->nfrags, &err);
        if (rc == 0 && (seg.flags & IDX_SEG_SHIFTED)) {
            /* Indexed all the same; say once per segment why its time is not its receipt. */
            char at[48], recv[48];
            cv_time_format_utc(seg.start_us, at, sizeof(at), 3);
            cv_time_format_utc(seg.recv_start_us, recv, sizeof(recv), 3);
            cv_warn("camera '%s': segment '%s' was received at %s by the recorder's clock, "
                    "before the end of the camera's footage so far (the clock stepped back or "
                    "the camera's timestamps ran ahead): indexed from %s, flagged 'shifted'",
                    it->camera, seg.path, recv, at);
        }
        break;
    case ITEM_GAP:
        rc = idx_gap_put(t, &it->gap, &err);
        break;
    case ITEM_PENDING:
        rc = idx_pending_put(t, it->cam, it->path, &err);
        break;
    }
    if (rc == CV_EINVAL) {
        /* A record that can never be written: say so and keep going. */
        cv_error("%s (the file stays on disk; 'camvault fsck' will report it)", err.msg);
        return 0;
    }
    if (rc < 0)
        cv_debug("index write failed: %s", err.msg);
    return rc;
}

/* Commit a batch of items plus dirty statuses. On failure the batch is put back in front. */
static void commit_batch(struct rec_sink *s, struct item *batch, bool statuses)
{
    struct idx_txn *t = NULL;
    struct cv_err err = {""};
    struct status_slot *snap = NULL;
    size_t nsnap = 0;
    int rc;

    if (statuses) {
        pthread_mutex_lock(&s->lock);
        snap = malloc((s->nslots ? s->nslots : 1) * sizeof(*snap));
        if (snap)
            for (size_t i = 0; i < s->nslots; i++)
                if (s->slots[i].dirty) {
                    snap[nsnap++] = s->slots[i];
                    s->slots[i].dirty = false;
                }
        pthread_mutex_unlock(&s->lock);
    }
    if (!batch && nsnap == 0) {
        free(snap);
        return;
    }
    rc = idx_begin(s->idx, true, &t, &err);
    for (struct item *it = batch; rc == 0 && it; it = it->next)
        rc = apply(t, it);
    for (size_t i = 0; rc == 0 && i < nsnap; i++)
        rc = idx_status_put(t, snap[i].cam, &snap[i].st, &err);
    if (rc == 0) {
        rc = idx_commit(t, &err);
        t = NULL;
    }
    idx_abort(t);
    if (rc == 0) {
        while (batch) {
            struct item *next = batch->next;
            item_free(batch);
            batch = next;
        }
        free(snap);
        return;
    }
    if (cv_mono_us() - s->last_fail_log > 60 * CV_US_PER_S) {
        cv_error("cannot write the index, will retry every second: %s", err.msg);
        s->last_fail_log = cv_mono_us();
    }
    pthread_mutex_lock(&s->lock);
    if (batch) {
        struct item *last = batch;
        size_t n = 1;
        while (last->next) {
            last = last->next;
            n++;
        }
        last->next = s->head;
        if (!s->head)
            s->tail = last;
        s->head = batch;
        s->queued += n;
    }
    for (size_t i = 0; i < nsnap; i++)
        for (size_t j = 0; j < s->nslots; j++)
            if (s->slots[j].cam == snap[i].cam && !s->slots[j].dirty)
                s->slots[j].dirty = true;
    pthread_mutex_unlock(&s->lock);
    free(snap);
}

static void *sink_main(void *arg)
{
    struct rec_sink *s = arg;
    int64_t next_status = cv_mono_us() + s->cfg->status_us;
    bool failed_before = false;

    for (;;) {
        struct item *batch;
        bool closing, statuses;
        int64_t now;

        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->closing) {
            struct timespec ts;
            int64_t wait_until = cv_now_us() + (next_status - cv_mono_us());
            if (wait_until <= cv_now_us())
                break;
            ts.tv_sec = wait_until / CV_US_PER_S;
            ts.tv_nsec = (long)(wait_until % CV_US_PER_S) * 1000;
            if (pthread_cond_timedwait(&s->wake, &s->lock, &ts) == ETIMEDOUT)
                break;
        }
        batch = s->head;
        s->head = s->tail = NULL;
        s->queued = 0;
        closing = s->closing;
        pthread_cond_broadcast(&s->room);
        pthread_mutex_unlock(&s->lock);

        now = cv_mono_us();
        statuses = closing || now >= next_status;
        if (statuses)
            next_status = now + s->cfg->status_us;
        commit_batch(s, batch, statuses);

        pthread_mutex_lock(&s->lock);
        failed_before = s->head != NULL;
        pthread_mutex_unlock(&s->lock);
        if (closing && !failed_before)
            break;
        if (failed_before) {
            struct timespec d = {1, 0};
            if (closing) {
                cv_error("index unwritable at shutdown; the unindexed segment files stay on "
                         "disk for 'camvault fsck'");
                break;
            }
            nanosleep(&d, NULL);
        }
    }
    return NULL;
}

int rec_sink_open(struct rec_sink **out, struct idx *idx, const struct rec_config *cfg,
                  struct cv_err *err)
{
    struct rec_sink *s = calloc(1, sizeof(*s));
    int r;

    *out = NULL;
    if (!s)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    s->idx = idx;
    s->cfg = cfg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->room, NULL);
    r = pthread_create(&s->thread, NULL, sink_main, s);
    if (r) {
        free(s);
        return cv_errf(err, CV_ENOMEM, "cannot start the index thread: %s", strerror(r));
    }
    *out = s;
    return 0;
}

void rec_sink_close(struct rec_sink *s)
{
    if (!s)
        return;
    cv_thread_raise(&s->lock, &s->wake, &s->closing);
    pthread_cond_broadcast(&s->room); /* writers waiting for room see closing */
    pthread_join(s->thread, NULL);
    while (s->head) {
        struct item *next = s->head->next;
        item_free(s->head);
        s->head = next;
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->room);
    free(s->slots);
    free(s);
}
