/*
 * loop.c: the readers, the writers and the cameras' queues (see loop.h).
 *
 * Locks: a reader's lock guards its list of feeds (cameras) and is held while it reads them; a
 * feed's lock guards its queue and its state flags; the pool's lock guards the writers' run
 * list. A reader takes a feed's lock, then the pool's, never the other way round; a writer holds
 * no lock while it writes. A feed is in the run list, or being written, while `queued` is set;
 * only the writer that clears it under the feed's lock lets go of the feed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "recorder/loop.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/banned.h"

#define TICK_MS 25              /* how often a reader looks for connections to read by time */
#define IDLE_US (100 * 1000)    /* a connection not read for this long is read (rec_rtsp.h) */
#define BATCH 64                /* packets a writer writes for one camera before the next */
#define FQ_FIRST 64             /* ring slots to start with */
#define WAKE_FEEDS 8            /* a writer woken for every this many cameras made ready */
#define ROUND_US (10 * 1000)    /* a reader's rounds start at least this far apart */

/* ---- the queue ---- */

void rec_fq_init(struct rec_fq *q, size_t max_bytes, size_t max_items)
{
    memset(q, 0, sizeof(*q));
    q->max_bytes = max_bytes;
    q->max_items = max_items;
}

void rec_fq_release(struct rec_fq *q)
{
    struct rec_fq_item it;

    while (rec_fq_pop(q, &it))
        av_packet_free(&it.pkt);
    free(q->it);
    q->it = NULL;
    q->cap = 0;
}

/* Room for one more item: grow the ring (doubling) up to max_items. */
static bool fq_room(struct rec_fq *q)
{
    struct rec_fq_item *n;
    size_t cap;

    if (q->n < q->cap)
        return true;
    if (q->cap >= q->max_items)
        return false;
    cap = q->cap ? q->cap * 2 : FQ_FIRST;
    if (cap > q->max_items)
        cap = q->max_items;
    n = malloc(cap * sizeof(*n));
    if (!n)
        return false;
    for (size_t i = 0; i < q->n; i++)
        n[i] = q->it[(q->head + i) % q->cap];
    free(q->it);
    q->it = n;
    q->cap = cap;
    q->head = 0;
    return true;
}

int rec_fq_push(struct rec_fq *q, AVPacket *pkt, int64_t recv_us)
{
    bool key = pkt->stream_index == 0 && (pkt->flags & AV_PKT_FLAG_KEY);
    bool fits = q->n == 0 || (q->bytes + (size_t)pkt->size <= q->max_bytes && q->n < q->max_items);
    int rc = REC_FQ_DROPPED;

    if (q->dropping && key && fits) {
        q->dropping = false;
        q->gap = true;
    }
    if (!q->dropping && fits && fq_room(q)) {
        q->it[(q->head + q->n) % q->cap] = (struct rec_fq_item){pkt, recv_us, q->gap};
        q->n++;
        q->bytes += (size_t)pkt->size;
        q->gap = false;
        return REC_FQ_QUEUED;
    }
    if (!q->dropping)
        rc = REC_FQ_DROP_STARTED;
    q->dropping = true;
    if (pkt->stream_index == 0)
        q->dropped++;
    else
        q->dropped_other++;
    av_packet_free(&pkt);
    return rc;
}

bool rec_fq_pop(struct rec_fq *q, struct rec_fq_item *out)
{
    if (q->n == 0)
        return false;
    *out = q->it[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    q->bytes -= (size_t)out->pkt->size;
    return true;
}

/* ---- feeds, readers, writers ---- */

struct reader;

struct feed {
    struct rec_loop_cam cam;
    struct reader *rd;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the camera's thread waits here */
    struct rec_fq q;
    bool queued;          /* in the run list or being written */
    struct end {
        bool set;
        int rc;
        struct cv_err err;
    } rend, wend;         /* reading ended; writing failed (the rest is dropped) */
    bool want_out, out;   /* the camera asked the reader to let go; it did */
    int64_t last_read;    /* mono µs (the reader's own) */
    struct feed *next;    /* run list */
};

struct reader {
    struct rec_loop *l;
    pthread_t thread;
    int ep, wake; /* epoll set; eventfd in it, to wake for a feed leaving */
    pthread_mutex_t lock;
    struct feed **feeds;
    size_t n, cap;
    struct feed *ready, *ready_tail; /* made ready for the writers in this round */
    int nready;
};

struct rec_loop {
    struct reader rd[REC_LOOP_READERS_MAX];
    int nrd;
    pthread_t writers[REC_LOOP_WRITERS];
    int nwr;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct feed *run_head, *run_tail;
    int idle; /* writers waiting on cond */
    atomic_bool stop;
};

static void lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m);
}

static void unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
}

/* Put the nf feeds of list (linked by next, ending at tail) at the end of the writers' run
 * list and wake as few writers as can take them: one per WAKE_FEEDS feeds, at most the idle
 * ones (a busy writer takes the next feed without sleeping). */
static void run_append(struct rec_loop *l, struct feed *list, struct feed *tail, int nf)
{
    int wake = (nf + WAKE_FEEDS - 1) / WAKE_FEEDS;

    lock(&l->lock);
    if (l->run_tail)
        l->run_tail->next = list;
    else
        l->run_head = list;
    l->run_tail = tail;
    tail->next = NULL;
    for (int i = 0; i < wake && i < l->idle; i++)
        pthread_cond_signal(&l->cond);
    unlock(&l->lock);
}

/* A packet from the reader into f's queue. */
static void feed_push(struct feed *f, AVPacket *pkt, int64_t recv_us)
{
    bool start = false;
    uint64_t dropped;
    int rc;

    lock(&f->lock);
    dropped = f->q.dropped;
    rc = rec_fq_push(&f->q, pkt, recv_us);
    dropped = f->q.dropped - dropped;
    if (rc == REC_FQ_QUEUED && !f->queued)
        f->queued = start = true;
    unlock(&f->lock);
    if (dropped)
        atomic_fetch_add(f->cam.dropped, dropped);
    if (rc == REC_FQ_DROP_STARTED)
        cv_warn("camera '%s': writing fell behind (%zu MB of its frames waiting for the disk): "
                "dropping its frames until the next keyframe", f->cam.name,
                f->q.max_bytes >> 20);
    if (start) { /* to the writers at the end of the reader's round (reader_flush) */
        struct reader *rd = f->rd;
        f->next = NULL;
        if (rd->ready_tail)
            rd->ready_tail->next = f;
        else
            rd->ready = f;
        rd->ready_tail = f;
        rd->nready++;
    }
}

static void reader_flush(struct reader *rd)
{
    if (rd->ready)
        run_append(rd->l, rd->ready, rd->ready_tail, rd->nready);
    rd->ready = rd->ready_tail = NULL;
    rd->nready = 0;
}

/* Note how reading or writing ended, and wake the camera's thread. */
static void feed_end(struct feed *f, struct end *e, int rc, const struct cv_err *err)
{
    lock(&f->lock);
    e->set = true;
    e->rc = rc;
    e->err = *err;
    pthread_cond_broadcast(&f->cond);
    unlock(&f->lock);
}

/* Read what f's connection has and queue the packets; at its end, note why and wake the camera. */
static void feed_read(struct feed *f, int64_t now)
{
    struct cv_err err = {""};
    AVPacket *pkt;
    int64_t recv_us;
    int rc = 0;

    f->last_read = now;
    if (f->rend.set)
        return;
    for (int i = 0; i < 4 * BATCH; i++) {
        rc = rec_rtsp_pump(f->cam.rtsp, &pkt, &recv_us, &err);
        if (rc != 0)
            break;
        feed_push(f, pkt, recv_us);
    }
    if (rc == 0)
        f->last_read = 0; /* more may be buffered: read it again at the next tick */
    if (rc >= 0)
        return;
    epoll_ctl(f->rd->ep, EPOLL_CTL_DEL, rec_rtsp_fd(f->cam.rtsp), NULL); /* no more wake-ups */
    feed_end(f, &f->rend, rc, &err);
}

/* Let go of the feeds whose cameras asked (under rd->lock, between two rounds of reading). */
static void reader_release(struct reader *rd)
{
    for (size_t i = 0; i < rd->n;) {
        struct feed *f = rd->feeds[i];
        if (!f->want_out) {
            i++;
            continue;
        }
        epoll_ctl(rd->ep, EPOLL_CTL_DEL, rec_rtsp_fd(f->cam.rtsp), NULL);
        rd->feeds[i] = rd->feeds[--rd->n];
        lock(&f->lock);
        f->out = true;
        pthread_cond_broadcast(&f->cond);
        unlock(&f->lock);
    }
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct epoll_event ev[256];
    int64_t last_tick = 0, last_round = 0;

    while (!atomic_load(&rd->l->stop)) {
        int64_t now = cv_mono_us(), rest = last_round + ROUND_US - now;
        int n;
        /* Rounds at least ROUND_US apart: the socket buffers hold what comes meanwhile, and each
         * round (and each writer woken for it) takes many cameras at once instead of one. */
        if (rest > 0) {
            struct timespec d = {0, rest * 1000};
            nanosleep(&d, NULL);
        }
        n = epoll_wait(rd->ep, ev, 256, TICK_MS);
        now = last_round = cv_mono_us();
        lock(&rd->lock);
        reader_release(rd);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL) {
                uint64_t v;
                (void)!read(rd->wake, &v, sizeof(v));
                continue;
            }
            feed_read(ev[i].data.ptr, now);
        }
        if (now - last_tick >= TICK_MS * 1000) {
            last_tick = now;
            for (size_t i = 0; i < rd->n; i++)
                if (now - rd->feeds[i]->last_read >= IDLE_US)
                    feed_read(rd->feeds[i], now);
        }
        reader_flush(rd);
        reader_release(rd);
        unlock(&rd->lock);
    }
    return NULL;
}

/* Write up to BATCH of f's packets; put f back in the run list if more are left. */
static void feed_write(struct rec_loop *l, struct feed *f)
{
    struct rec_fq_item it;

    for (int i = 0; i < BATCH; i++) {
        lock(&f->lock);
        if (!rec_fq_pop(&f->q, &it)) {
            f->queued = false;
            if (f->out) /* the camera's thread waits for the queue to be written */
                pthread_cond_broadcast(&f->cond);
            unlock(&f->lock);
            return;
        }
        unlock(&f->lock);
        if (!f->wend.set) {
            struct cv_err err = {""};
            int rc = f->cam.write(f->cam.ctx, it.pkt, it.recv_us, it.after_drop, &err);
            if (rc < 0)
                feed_end(f, &f->wend, rc, &err);
        }
        av_packet_free(&it.pkt);
    }
    run_append(l, f, f, 1);
}

static void *writer_main(void *arg)
{
    struct rec_loop *l = arg;

    lock(&l->lock);
    for (;;) {
        struct feed *f = l->run_head;
        if (!f) {
            if (atomic_load(&l->stop))
                break;
            l->idle++;
            pthread_cond_wait(&l->cond, &l->lock);
            l->idle--;
            continue;
        }
        l->run_head = f->next;
        if (!l->run_head)
            l->run_tail = NULL;
        unlock(&l->lock);
        feed_write(l, f);
        lock(&l->lock);
    }
    unlock(&l->lock);
    return NULL;
}

/* ---- the camera's side ---- */

static struct reader *least_loaded(struct rec_loop *l)
{
    struct reader *best = &l->rd[0];

    size_t least = SIZE_MAX;

    for (int i = 0; i < l->nrd; i++) {
        lock(&l->rd[i].lock);
        if (l->rd[i].n < least) {
            least = l->rd[i].n;
            best = &l->rd[i];
        }
        unlock(&l->rd[i].lock);
    }
    return best;
}

static int feed_add(struct reader *rd, struct feed *f, struct cv_err *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = f};
    int rc = 0;

    lock(&rd->lock);
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 64;
        struct feed **n = realloc(rd->feeds, cap * sizeof(*n));
        if (!n) {
            rc = cv_errf(err, CV_ENOMEM, "out of memory");
            goto out;
        }
        rd->feeds = n;
        rd->cap = cap;
    }
    if (epoll_ctl(rd->ep, EPOLL_CTL_ADD, rec_rtsp_fd(f->cam.rtsp), &ev) < 0) {
        rc = cv_errf(err, CV_EIO, "camera '%s': cannot watch its connection (epoll): %s",
                     f->cam.name, strerror(errno));
        goto out;
    }
    f->rd = rd;
    rd->feeds[rd->n++] = f;
out:
    unlock(&rd->lock);
    return rc;
}

/* Wait on f's condition for up to ms (every change is signalled; this is a safety net). */
static void feed_wait(struct feed *f, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += ms % 1000 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&f->cond, &f->lock, &ts);
}

int rec_loop_record(struct rec_loop *l, const struct rec_loop_cam *cam, struct cv_err *err)
{
    struct feed *f = calloc(1, sizeof(*f));
    struct reader *rd;
    uint64_t one = 1;
    int rc;

    if (!f)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    f->cam = *cam;
    rec_fq_init(&f->q, cam->queue_bytes ? cam->queue_bytes : REC_FQ_BYTES, REC_FQ_ITEMS);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    rd = least_loaded(l);
    rc = feed_add(rd, f, err);
    if (rc < 0)
        goto out;
    /* Record until the stream ends, a write fails or the camera stops: the reader sees a stop
     * within a tick (rec_rtsp_pump asks cam->rtsp's stop callback), so the camera's thread
     * sleeps here without waking for each packet or each tick. */
    lock(&f->lock);
    while (!f->rend.set && !f->wend.set && !cam->stop(cam->stop_ctx))
        feed_wait(f, 1000);
    unlock(&f->lock);
    /* The reader lets go of the connection, */
    lock(&rd->lock);
    f->want_out = true;
    unlock(&rd->lock);
    (void)!write(rd->wake, &one, sizeof(one));
    lock(&f->lock);
    while (!f->out)
        feed_wait(f, 100);
    /* and the writers write what is queued. */
    while (f->queued)
        feed_wait(f, 100);
    if (f->wend.set)
        rc = cv_errf(err, f->wend.rc, "%s", f->wend.err.msg);
    else if (f->rend.set)
        rc = cv_errf(err, f->rend.rc, "%s", f->rend.err.msg);
    else
        rc = cv_errf(err, CV_ECANCELED, "stopped");
    unlock(&f->lock);
out:
    rec_fq_release(&f->q);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return rc;
}

/* ---- start and stop ---- */

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg, struct cv_err *err)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int r;

    /* signals stay with the caller's thread (rec.h) */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    r = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return cv_errf(err, CV_ENOMEM, "recorder: cannot start a reader or writer thread: %s",
                       strerror(r));
    return 0;
}

int rec_loop_start(struct rec_loop **out, struct cv_err *err)
{
    struct rec_loop *l = calloc(1, sizeof(*l));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want, rc = 0;

    *out = NULL;
    if (!l)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    atomic_init(&l->stop, false);
    want = cpus < 1 ? 1 : cpus > REC_LOOP_READERS_MAX ? REC_LOOP_READERS_MAX : (int)cpus;
    for (; l->nrd < want; l->nrd++) {
        struct reader *rd = &l->rd[l->nrd];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        rd->l = l;
        pthread_mutex_init(&rd->lock, NULL);
        rd->ep = epoll_create1(EPOLL_CLOEXEC);
        rd->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (rd->ep < 0 || rd->wake < 0 || epoll_ctl(rd->ep, EPOLL_CTL_ADD, rd->wake, &ev) < 0) {
            rc = cv_errf(err, CV_EIO, "recorder: cannot set up a reader (epoll, eventfd): %s",
                         strerror(errno));
            l->nrd++; /* closed below */
            goto out;
        }
        rc = start_thread(&rd->thread, reader_main, rd, err);
        if (rc < 0) {
            rd->thread = 0;
            l->nrd++;
            goto out;
        }
    }
    for (; l->nwr < REC_LOOP_WRITERS; l->nwr++) {
        rc = start_thread(&l->writers[l->nwr], writer_main, l, err);
        if (rc < 0)
            goto out;
    }
    cv_info("recorder: %d reader thread(s), %d writer thread(s) for the cameras on the own RTSP "
            "client", l->nrd, l->nwr);
out:
    if (rc < 0) {
        rec_loop_stop(l);
        return rc;
    }
    *out = l;
    return 0;
}

void rec_loop_stop(struct rec_loop *l)
{
    uint64_t one = 1;

    if (!l)
        return;
    atomic_store(&l->stop, true);
    lock(&l->lock);
    pthread_cond_broadcast(&l->cond);
    unlock(&l->lock);
    for (int i = 0; i < l->nwr; i++)
        pthread_join(l->writers[i], NULL);
    for (int i = 0; i < l->nrd; i++) {
        struct reader *rd = &l->rd[i];
        if (rd->wake >= 0)
            (void)!write(rd->wake, &one, sizeof(one));
        if (rd->thread)
            pthread_join(rd->thread, NULL);
        if (rd->ep >= 0)
            close(rd->ep);
        if (rd->wake >= 0)
            close(rd->wake);
        free(rd->feeds);
        pthread_mutex_destroy(&rd->lock);
    }
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
