/*
 * livehub.c: live fan-out, one reader per watched camera (livehub.h).
 *
 * Locks: the set's mutex guards the camera -> hub list and hub creation; each hub's mutex its
 * ring, its waiting viewers and its reference count. Order: set, then hub, then the guard's
 * (srv_guard_resume_later / srv_guard_wake_open take it). The follow state (file, position,
 * decode-time shift, the chunk being assembled) belongs to the hub's thread alone.
 *
 * Chunks are immutable once in the ring and reference-counted: the ring holds one reference,
 * each viewer one to the chunk it is sending; the last release frees it (no lock needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "server/guard.h"
#include "server/livehub.h"
#include "server/srv_int.h"
#include "storage-layout/moofshift.h"
#include "common/banned.h"

#define LH_POLL_MS 20 /* how often a hub looks at its file (adds half of it to the latency) */
#define LH_RING_BYTES (4u << 20) /* ring bound (it keeps at least the newest keyframe's GOP) */
#define LH_RING_SLOTS 1024u      /* at most this many chunks in the ring */
#define LH_CHUNK_MAX (32u << 20) /* a chunk larger than this ends the stream */
#define LH_MOOF_MAX (1u << 20)   /* a moof or prft patched in memory (a few KB in practice) */
/* At most this much per call of the content reader: libmicrohttpd hands it the rest of the
 * connection's memory pool (up to ~128 KB); filling only the first 16 KB keeps the pages a viewer
 * touches, i.e. its resident memory, small. */
#define LH_COPY_MAX (16u * 1024)
#define LH_WAIT_US (2 * CV_US_PER_S) /* a waiting viewer's safety timer (the hub wakes it) */
#define LIVE_IDLE_US (INT64_C(15) * 1000000)     /* no new chunk this long: the hub ends */
#define LIVE_MAX_US (INT64_C(30) * 60 * 1000000) /* one live response at most this long */

struct chunk {
    atomic_uint refs;
    struct chunk *hdr; /* the header boxes of its file (a chunk itself, hdr NULL) */
    uint64_t seq;
    bool key; /* starts a fragment (has fraginfo): a viewer may start or resume here */
    size_t len;
    uint8_t data[];
};

struct hub {
    struct srv_livehubs *set;
    struct hub *next; /* on the set's list while running */
    uint32_t cam;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned refs;  /* viewers + the thread while it runs */
    bool quit;      /* the last viewer left */
    bool ended;     /* the stream is over: no chunk after end_seq - 1 */
    struct chunk *ring[LH_RING_SLOTS];
    uint64_t first_seq, end_seq; /* the ring holds [first_seq, end_seq) */
    uint64_t key_seq;            /* the newest keyframe chunk in the ring (valid if has_key) */
    uint64_t prev_key_seq;       /* the keyframe before it (valid if has_prev) */
    bool has_key, has_prev;
    size_t ring_bytes;
    LIST_HEAD(, srv_liveview) waiting; /* viewers suspended until the next chunk */
    struct chunk *hdr;            /* header of the file being read (the thread's) */
    char file[LAY_RELPATH_MAX];   /* the file being read, for the audit record (under mu) */
    /* follow state: the thread's alone */
    char rel[LAY_RELPATH_MAX];
    int fd;
    uint64_t run_id, pos, last_size;
    int64_t start_us, last_data_us, last_check_us, grew_us;
    uint32_t track[2], timescale[2];
    int64_t shift[2];
    uint8_t *acc; /* the chunk being assembled */
    size_t acc_len, acc_cap;
    bool acc_key;
};

struct srv_liveview {
    struct hub *hub;
    struct MHD_Connection *conn;
    struct chunk *cur; /* being sent (a reference), or NULL */
    size_t off;
    uint64_t next_seq;
    bool started, waiting;          /* waiting: on the hub's waiting list */
    LIST_ENTRY(srv_liveview) wlink; /* there */
    int64_t started_us;
};

struct srv_livehubs {
    struct srv *srv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hub *head;
    unsigned threads; /* hub threads running */
    atomic_uint_fast64_t viewers, skips, chunks, joins;
    atomic_uint_fast64_t ring_bytes;
};

static void chunk_put(struct chunk *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        chunk_put(c->hdr);
        free(c);
    }
}

static struct chunk *chunk_get(struct chunk *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

/* A chunk of len bytes copied from data (NULL: for the caller to fill), one reference. */
static struct chunk *chunk_new(const uint8_t *data, size_t len, struct chunk *hdr)
{
    struct chunk *c = malloc(sizeof(*c) + len);

    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->hdr = hdr ? chunk_get(hdr) : NULL;
    c->seq = 0;
    c->key = false;
    c->len = len;
    if (data)
        memcpy(c->data, data, len);
    return c;
}

int srv_live_scan_open(struct srv *srv, const char *rel, struct lay_seg_info *info, int *fd_out,
                       struct cv_err *err)
{
    char abs[PATH_MAX];
    int fd, rc = lay_abs(srv->root, rel, abs, sizeof(abs), err);

    if (rc < 0)
        return rc;
    fd = open(abs, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cv_errf(err, cv_errno_code(errno), "cannot open '%s': %s", rel, strerror(errno));
    rc = lay_seg_scan(fd, info, err);
    if (rc == 0 && info->nfrags == 0) {
        lay_seg_info_release(info);
        rc = cv_errf(err, CV_ENOENT, "segment '%s' has no complete fragment yet", rel);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* ---- following the file (the hub's thread) ---- */

struct next_ctx {
    int64_t after_us;
    char rel[LAY_RELPATH_MAX];
};

/* idx_segment_iter's callback: stop at the first segment that starts after n->after_us. */
static int next_seg(void *ctx, const struct idx_segment *seg)
{
    struct next_ctx *n = ctx;

    if (seg->start_us <= n->after_us)
        return 0;
    cv_strlcpy(n->rel, seg->path, sizeof(n->rel));
    return 1;
}

int srv_live_next_segment(struct srv *srv, uint32_t cam, int64_t after_us,
                          char rel[LAY_RELPATH_MAX], struct cv_err *err)
{
    struct next_ctx n = {.after_us = after_us};
    struct idx_txn *t = NULL;
    int rc = idx_begin(srv->idx, false, &t, err);

    if (rc == 0) {
        rc = idx_segment_iter(t, cam, after_us + 1, INT64_MAX, next_seg, &n, err);
        if (rc == 1)
            rc = 0;
        if (rc == 0 && n.rel[0])
            cv_strlcpy(rel, n.rel, LAY_RELPATH_MAX);
        else if (rc == 0)
            rc = idx_pending_get(t, cam, rel, err);
    }
    idx_abort(t);
    return rc;
}

/*
 * Before moving from the current segment to `next`: the decode times of the next go on where
 * the current one's video ends (its last fragment's time plus duration, from a scan of it);
 * audio by the same time in its own timescale. -1 when the current file cannot be read.
 */
static int hub_shift_on(struct hub *h, const struct lay_seg_info *next)
{
    struct lay_seg_info cur = {0};
    struct cv_err err = {""};
    int64_t end;

    if (lay_seg_scan(h->fd, &cur, &err) < 0 || cur.nfrags == 0 || !h->timescale[0]) {
        lay_seg_info_release(&cur);
        return -1;
    }
    end = (int64_t)(cur.frags[cur.nfrags - 1].video_dts + cur.frags[cur.nfrags - 1].video_dur) -
          (int64_t)next->frags[0].video_dts;
    lay_seg_info_release(&cur);
    h->shift[0] += end;
    if (h->timescale[1])
        h->shift[1] = (int64_t)((__int128)h->shift[0] * h->timescale[1] / h->timescale[0]);
    return 0;
}

/* Move to the next segment of the same run: 1 moved, 0 not yet, -1 the stream ends. */
static int hub_next(struct hub *h)
{
    char rel[LAY_RELPATH_MAX];
    struct lay_seg_info info = {0};
    struct cv_err err = {""};
    struct chunk *hdr = NULL;
    int fd, rc = srv_live_next_segment(h->set->srv, h->cam, h->start_us, rel, &err);
    size_t hdrlen;

    if (rc < 0 || strcmp(rel, h->rel) == 0)
        return 0; /* between segments, or stopped: the idle limit decides */
    rc = srv_live_scan_open(h->set->srv, rel, &info, &fd, &err);
    if (rc == CV_ENOENT)
        return 0; /* its first fragment is not complete yet */
    if (rc < 0)
        return -1;
    hdrlen = (size_t)info.frags[0].offset;
    if (info.hdr.run_id != h->run_id || hdrlen > LH_MOOF_MAX * 4 ||
        !(hdr = chunk_new(NULL, hdrlen, NULL)) || cv_pread_all(fd, hdr->data, hdrlen, 0, &err) < 0 ||
        hub_shift_on(h, &info) < 0) {
        chunk_put(hdr);
        lay_seg_info_release(&info);
        close(fd);
        return -1; /* a new run (reconnect, new codec parameters): a new stream */
    }
    chunk_put(h->hdr); /* chunks of the old file keep theirs */
    h->hdr = hdr;
    close(h->fd);
    h->fd = fd;
    cv_strlcpy(h->rel, rel, sizeof(h->rel));
    pthread_mutex_lock(&h->mu);
    cv_strlcpy(h->file, rel, sizeof(h->file));
    pthread_mutex_unlock(&h->mu);
    h->pos = info.frags[0].offset;
    h->start_us = info.start_us;
    h->last_size = 0;
    h->acc_len = 0; /* a torn group at the old file's end is not sent */
    h->acc_key = false;
    lay_seg_info_release(&info);
    return 1;
}

static bool send_box(const char type[4])
{
    return memcmp(type, "prft", 4) == 0 || memcmp(type, "uuid", 4) == 0 ||
           memcmp(type, "moof", 4) == 0 || memcmp(type, "mdat", 4) == 0 ||
           memcmp(type, "styp", 4) == 0 || memcmp(type, "emsg", 4) == 0;
}

/* Append the complete box at h->pos (size bytes) to the chunk being assembled, its decode times
 * moved on when it is a moof or prft of a later file. 0 or -1. */
static int hub_take_box(struct hub *h, const uint8_t type[4], uint64_t size)
{
    struct cv_err err = {""};
    uint8_t *p;

    if (size > LH_CHUNK_MAX || h->acc_len + size > LH_CHUNK_MAX)
        return -1;
    if (h->acc_len + size > h->acc_cap) {
        size_t cap = h->acc_cap ? h->acc_cap : 64 * 1024;
        while (cap < h->acc_len + size)
            cap *= 2;
        if (!(p = realloc(h->acc, cap)))
            return -1;
        h->acc = p;
        h->acc_cap = cap;
    }
    p = h->acc + h->acc_len;
    if (cv_pread_all(h->fd, p, (size_t)size, (off_t)h->pos, &err) < 0)
        return -1;
    if ((h->shift[0] || h->shift[1]) &&
        (memcmp(type, "moof", 4) == 0 || memcmp(type, "prft", 4) == 0) &&
        (size > LH_MOOF_MAX || lay_moof_shift(p, (size_t)size, h->track, h->shift, 2) < 0))
        return -1;
    if (memcmp(type, "uuid", 4) == 0)
        h->acc_key = true; /* fraginfo: the first chunk of a fragment */
    h->acc_len += (size_t)size;
    h->pos += size;
    return 0;
}

static void wake_waiting_locked(struct hub *h)
{
    struct srv_liveview *v;

    while ((v = LIST_FIRST(&h->waiting))) {
        LIST_REMOVE(v, wlink);
        v->waiting = false;
        srv_guard_wake_open(h->set->srv->guard, v->conn);
    }
}

/* Put the assembled chunk in the ring (dropping the oldest beyond the bounds). 0 or -1. */
static int hub_publish(struct hub *h)
{
    struct chunk *c = chunk_new(h->acc, h->acc_len, h->hdr);

    if (!c)
        return -1;
    c->key = h->acc_key;
    h->acc_len = 0;
    h->acc_key = false;
    pthread_mutex_lock(&h->mu);
    c->seq = h->end_seq;
    if (c->key && h->has_key) {
        h->prev_key_seq = h->key_seq;
        h->has_prev = true;
    }
    /* Keep the newest two GOPs (the one being written and the one before it), and no more than
     * LH_RING_BYTES unless the newest GOP alone is larger. */
    while (h->end_seq > h->first_seq &&
           (h->end_seq - h->first_seq >= LH_RING_SLOTS ||
            (h->has_prev && h->first_seq < h->prev_key_seq) ||
            (h->ring_bytes + c->len > LH_RING_BYTES && (!h->has_key || h->first_seq < h->key_seq)))) {
        struct chunk *old = h->ring[h->first_seq % LH_RING_SLOTS];
        h->ring[h->first_seq % LH_RING_SLOTS] = NULL;
        h->ring_bytes -= old->len;
        atomic_fetch_sub(&h->set->ring_bytes, old->len);
        if (h->has_key && h->key_seq == h->first_seq)
            h->has_key = false;
        if (h->has_prev && h->prev_key_seq == h->first_seq)
            h->has_prev = false;
        h->first_seq++;
        chunk_put(old);
    }
    h->ring[c->seq % LH_RING_SLOTS] = c;
    h->ring_bytes += c->len;
    atomic_fetch_add(&h->set->ring_bytes, c->len);
    if (c->key) {
        h->key_seq = c->seq;
        h->has_key = true;
    }
    h->end_seq++;
    wake_waiting_locked(h);
    pthread_mutex_unlock(&h->mu);
    atomic_fetch_add(&h->set->chunks, 1);
    return 0;
}

/* Take in what is complete in the file now: 0 (go on) or -1 (the stream ends). */
static int hub_step(struct hub *h)
{
    int64_t now = cv_mono_us();

    for (;;) {
        struct stat st;
        uint8_t b[16];
        uint64_t size;

        if (fstat(h->fd, &st) == 0 && (uint64_t)st.st_size != h->last_size) {
            h->last_size = (uint64_t)st.st_size;
            h->grew_us = now;
        }
        if (h->last_size < h->pos + 8 || pread(h->fd, b, 16, (off_t)h->pos) < 8)
            break;
        size = cv_get_be32(b);
        if (size == 1 && h->last_size >= h->pos + 16)
            size = cv_get_be64(b + 8);
        else if (size == 1)
            size = UINT64_MAX;
        if (size < 8 && size != 0)
            return -1; /* not a box: stop, never send junk */
        if (size == 0 || size == UINT64_MAX || h->pos + size > h->last_size)
            break; /* not complete yet */
        if (send_box((const char *)b + 4)) {
            if (hub_take_box(h, b + 4, size) < 0)
                return -1;
            h->last_data_us = now;
            if (memcmp(b + 4, "mdat", 4) == 0 && hub_publish(h) < 0)
                return -1;
            continue;
        }
        /* mfra (or anything else): the segment is closed; go on with the next. */
        int m = hub_next(h);
        if (m < 0)
            return -1;
        if (m == 0)
            break;
    }
    if (now - h->last_data_us > LIVE_IDLE_US)
        return -1;
    if (now - h->last_check_us > CV_US_PER_S && now - h->grew_us > 3 * CV_US_PER_S) {
        /* A file that stopped growing without mfra (the recorder was killed and the file
         * recovered): go on with whatever follows it. */
        h->last_check_us = now;
        if (hub_next(h) < 0)
            return -1;
    }
    return 0;
}

static void hub_free(struct hub *h)
{
    for (uint64_t s = h->first_seq; s < h->end_seq; s++) {
        struct chunk *c = h->ring[s % LH_RING_SLOTS];
        atomic_fetch_sub(&h->set->ring_bytes, c->len);
        chunk_put(c);
    }
    chunk_put(h->hdr);
    if (h->fd >= 0)
        close(h->fd);
    free(h->acc);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Take h off the set's list (set->mu held): new viewers start a new hub. */
static void unlist_locked(struct hub *h)
{
    for (struct hub **p = &h->set->head; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    h->next = NULL;
}

/* Drop one reference (set->mu held); the last frees the hub. */
static void hub_put_locked(struct hub *h)
{
    bool last;

    pthread_mutex_lock(&h->mu);
    last = --h->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        hub_free(h);
}

static void *hub_main(void *arg)
{
    struct hub *h = arg;
    struct srv_livehubs *set = h->set;
    bool go = true;

    while (go) {
        struct timespec ts;
        bool end = atomic_load(&set->srv->stopping) || hub_step(h) < 0;
        if (end) { /* new viewers start a new hub from now on */
            pthread_mutex_lock(&set->mu);
            unlist_locked(h);
            pthread_mutex_unlock(&set->mu);
        }
        pthread_mutex_lock(&h->mu);
        if (end) {
            h->ended = true;
            wake_waiting_locked(h);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += LH_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!h->quit && !end)
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        go = !h->quit && !end;
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_lock(&set->mu);
    unlist_locked(h);
    hub_put_locked(h);
    set->threads--;
    pthread_cond_broadcast(&set->cv);
    pthread_mutex_unlock(&set->mu);
    return NULL;
}

/* A new hub for camera cam from *st (set->mu held); NULL when out of memory or threads. */
static struct hub *hub_start_locked(struct srv_livehubs *set, uint32_t cam,
                                    struct srv_livehub_start *st)
{
    struct hub *h = calloc(1, sizeof(*h));
    pthread_attr_t attr;
    pthread_t th;
    int rc;

    if (!h)
        return NULL;
    h->hdr = chunk_new(st->hdr, st->hdrlen, NULL);
    if (!h->hdr) {
        free(h);
        return NULL;
    }
    h->set = set;
    h->cam = cam;
    pthread_mutex_init(&h->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    cv_strlcpy(h->rel, st->rel, sizeof(h->rel));
    cv_strlcpy(h->file, st->rel, sizeof(h->file));
    h->fd = st->fd;
    st->fd = -1;
    h->run_id = st->run_id;
    h->start_us = st->start_us;
    memcpy(h->track, st->track, sizeof(h->track));
    memcpy(h->timescale, st->timescale, sizeof(h->timescale));
    h->pos = st->pos;
    h->last_data_us = h->last_check_us = h->grew_us = cv_mono_us();
    h->refs = 1; /* the thread */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&th, &attr, hub_main, h);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        hub_free(h);
        return NULL;
    }
    set->threads++;
    h->next = set->head;
    set->head = h;
    return h;
}

struct srv_liveview *srv_liveview_join(struct srv_livehubs *set, uint32_t cam,
                                       struct MHD_Connection *conn,
                                       int (*start)(void *ctx, struct srv_livehub_start *st),
                                       void *ctx, bool *oom)
{
    struct srv_liveview *v = calloc(1, sizeof(*v));
    struct hub *h;

    *oom = false;
    if (!v) {
        *oom = true;
        return NULL;
    }
    pthread_mutex_lock(&set->mu);
    for (h = set->head; h && h->cam != cam; h = h->next)
        ;
    if (!h) {
        struct srv_livehub_start st;
        memset(&st, 0, sizeof(st));
        st.fd = -1;
        if (start(ctx, &st) == 0) {
            h = hub_start_locked(set, cam, &st);
            *oom = !h;
        }
        if (st.fd >= 0)
            close(st.fd);
        free(st.hdr);
    }
    if (h) {
        pthread_mutex_lock(&h->mu);
        h->refs++;
        pthread_mutex_unlock(&h->mu);
        v->hub = h;
        v->conn = conn;
        v->started_us = cv_mono_us();
        atomic_fetch_add(&set->viewers, 1);
        atomic_fetch_add(&set->joins, 1);
    }
    pthread_mutex_unlock(&set->mu);
    if (!h) {
        free(v);
        return NULL;
    }
    return v;
}

/* Wait for the next chunk (h->mu held): 0 (suspended) or END_OF_STREAM. */
static ssize_t wait_locked(struct hub *h, struct srv_liveview *v)
{
    if (!srv_guard_resume_later(h->set->srv->guard, v->conn, LH_WAIT_US))
        return MHD_CONTENT_READER_END_OF_STREAM; /* the server is stopping */
    v->waiting = true;
    LIST_INSERT_HEAD(&h->waiting, v, wlink);
    return 0;
}

/* Take v off its hub's waiting list, if it is on it (the hub's mu held). */
static void unwait_locked(struct srv_liveview *v)
{
    if (!v->waiting)
        return;
    LIST_REMOVE(v, wlink);
    v->waiting = false;
}

/* The viewer's next chunk (h->mu held): a new reference, or NULL (none yet). */
static struct chunk *next_locked(struct hub *h, struct srv_liveview *v)
{
    if (!v->started) { /* join at the newest keyframe, with its file's header boxes */
        if (!h->has_key)
            return NULL;
        v->started = true;
        v->next_seq = h->key_seq;
        return chunk_get(h->ring[h->key_seq % LH_RING_SLOTS]->hdr);
    }
    if (v->next_seq < h->first_seq) {
        /* Fell behind the ring: on at the oldest keyframe still in it. */
        uint64_t s = h->first_seq;
        while (s < h->end_seq && !h->ring[s % LH_RING_SLOTS]->key)
            s++;
        if (s == h->end_seq)
            return NULL;
        v->next_seq = s;
        atomic_fetch_add(&h->set->skips, 1);
    }
    if (v->next_seq >= h->end_seq)
        return NULL;
    return chunk_get(h->ring[v->next_seq++ % LH_RING_SLOTS]);
}

ssize_t srv_liveview_read(void *viewer, uint64_t pos, char *buf, size_t max)
{
    struct srv_liveview *v = viewer;
    struct hub *h = v->hub;
    ssize_t rc;

    (void)pos;
    if (max > LH_COPY_MAX)
        max = LH_COPY_MAX;
    for (;;) {
        if (v->cur && v->off < v->cur->len) {
            size_t n = v->cur->len - v->off < max ? v->cur->len - v->off : max;
            memcpy(buf, v->cur->data + v->off, n);
            v->off += n;
            return (ssize_t)n;
        }
        chunk_put(v->cur);
        v->cur = NULL;
        v->off = 0;
        if (atomic_load(&h->set->srv->stopping) || cv_mono_us() - v->started_us > LIVE_MAX_US)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&h->mu);
        unwait_locked(v);
        v->cur = next_locked(h, v);
        if (v->cur)
            rc = 1;
        else if (h->ended)
            rc = MHD_CONTENT_READER_END_OF_STREAM;
        else
            rc = wait_locked(h, v);
        pthread_mutex_unlock(&h->mu);
        if (rc != 1)
            return rc;
    }
}

void srv_liveview_file(struct srv_liveview *v, char *rel, size_t size)
{
    pthread_mutex_lock(&v->hub->mu);
    cv_strlcpy(rel, v->hub->file, size);
    pthread_mutex_unlock(&v->hub->mu);
}

void srv_liveview_leave(void *viewer)
{
    struct srv_liveview *v = viewer;
    struct hub *h;
    struct srv_livehubs *set;

    if (!v)
        return;
    h = v->hub;
    set = h->set;
    chunk_put(v->cur);
    pthread_mutex_lock(&set->mu);
    pthread_mutex_lock(&h->mu);
    unwait_locked(v);
    if (h->refs == 2 && !h->ended) { /* the last viewer (and the thread): stop the hub */
        h->quit = true;
        pthread_cond_signal(&h->cv);
        unlist_locked(h);
    }
    pthread_mutex_unlock(&h->mu);
    hub_put_locked(h);
    pthread_mutex_unlock(&set->mu);
    atomic_fetch_sub(&set->viewers, 1);
    free(v);
}

int srv_livehubs_open(struct srv_livehubs **out, struct srv *srv, struct cv_err *err)
{
    struct srv_livehubs *set = calloc(1, sizeof(*set));

    *out = NULL;
    if (!set)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    set->srv = srv;
    pthread_mutex_init(&set->mu, NULL);
    pthread_cond_init(&set->cv, NULL);
    *out = set;
    return 0;
}

void srv_livehubs_close(struct srv_livehubs *set)
{
    if (!set)
        return;
    pthread_mutex_lock(&set->mu);
    for (struct hub *h = set->head; h; h = h->next) {
        pthread_mutex_lock(&h->mu);
        h->quit = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
    }
    while (set->threads > 0)
        pthread_cond_wait(&set->cv, &set->mu);
    pthread_mutex_unlock(&set->mu);
    pthread_cond_destroy(&set->cv);
    pthread_mutex_destroy(&set->mu);
    free(set);
}

void srv_livehubs_metrics(struct srv_livehubs *set, struct cv_buf *b)
{
    unsigned hubs = 0;

    pthread_mutex_lock(&set->mu);
    for (struct hub *h = set->head; h; h = h->next)
        hubs++;
    pthread_mutex_unlock(&set->mu);
    cv_buf_printf(b,
                  "# HELP camvault_live_hubs Cameras being watched live (one file reader each).\n"
                  "# TYPE camvault_live_hubs gauge\ncamvault_live_hubs %u\n"
                  "# HELP camvault_live_viewers Open live.mp4 streams.\n"
                  "# TYPE camvault_live_viewers gauge\ncamvault_live_viewers %llu\n"
                  "# HELP camvault_live_ring_bytes Recent chunks held in memory for viewers.\n"
                  "# TYPE camvault_live_ring_bytes gauge\ncamvault_live_ring_bytes %llu\n"
                  "# HELP camvault_live_chunks_total Chunks read from segment files by hubs.\n"
                  "# TYPE camvault_live_chunks_total counter\ncamvault_live_chunks_total %llu\n"
                  "# HELP camvault_live_skips_total Slow live viewers moved on to a later "
                  "keyframe.\n"
                  "# TYPE camvault_live_skips_total counter\ncamvault_live_skips_total %llu\n",
                  hubs, (unsigned long long)atomic_load(&set->viewers),
                  (unsigned long long)atomic_load(&set->ring_bytes),
                  (unsigned long long)atomic_load(&set->chunks),
                  (unsigned long long)atomic_load(&set->skips));
}
