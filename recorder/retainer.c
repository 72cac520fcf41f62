/*
 * retainer.c: the recorder's retention thread, and the notes it leaves for camera threads.
 *
 * Every pass (indexer/retention.h) deletes what retention allows and reports volumes that stay
 * over their limit with only held footage left, and cameras that keep fewer days than promised.
 * Those become notes: each camera's status carries the note for its volume and itself, the log
 * repeats each note once a minute while it holds, and a camera whose volume is full writes to
 * another volume with room. Deleting runs in this thread only, so it never stalls recording.
 *
 * A full disk. At 100 % LMDB cannot commit even the deletions that would free space (it needs
 * fresh pages for the copy-on-write of each tree it touches), so retention would fail forever
 * and every camera stay offline. The thread therefore keeps a reserve file of zeros on the
 * index's filesystem (storage-layout/layout.h, lay_reserve_path). When that filesystem has less
 * free space than the reserve, or a pass fails, it deletes the reserve and runs the pass (again):
 * the freed blocks let the commit through, the pass tombstones the oldest unheld segments and
 * unlinks their files after the commit (the usual crash-safe order, retention.h), and once the
 * filesystem has room for two reserves the reserve is written again. Held footage is never
 * touched. Each such event is logged ("disk full: ...") and, for DISK_FULL_LOUD_US after it,
 * every camera's status carries a "disk full" note that /healthz and /metrics count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "recorder/rec_int.h"
#include "indexer/retention.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/banned.h"

#define NOTE_MAX 64
#define LOUD_EVERY_US (60 * INT64_C(1000000))
#define DISK_FULL_LOUD_US (10 * 60 * INT64_C(1000000))

struct note {
    char key[LAY_ID_MAX + 8]; /* "vol:<name>" or "cam:<id>" */
    char text[IDX_TEXT_MAX];
    bool full;          /* for volumes: new segments should go elsewhere */
    uint64_t free_bytes;
    int64_t last_logged;
};

struct rec_notes {
    pthread_mutex_t lock;
    struct note notes[NOTE_MAX];
    size_t n;
};

int rec_notes_open(struct rec_notes **out, struct cv_err *err)
{
    struct rec_notes *n = calloc(1, sizeof(*n));

    *out = NULL;
    if (!n)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    pthread_mutex_init(&n->lock, NULL);
    *out = n;
    return 0;
}

void rec_notes_free(struct rec_notes *n)
{
    if (!n)
        return;
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static struct note *find(struct rec_notes *n, const char *key)
{
    for (size_t i = 0; i < n->n; i++)
        if (strcmp(n->notes[i].key, key) == 0)
            return &n->notes[i];
    return NULL;
}

void rec_notes_get(struct rec_notes *n, const char *camera, const char *vol, char *out, size_t len)
{
    char key[LAY_ID_MAX + 8];
    struct note *v, *c;

    out[0] = 0;
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    snprintf(key, sizeof(key), "vol:%s", vol);
    v = find(n, key);
    snprintf(key, sizeof(key), "cam:%s", camera);
    c = find(n, key);
    if (v && v->text[0] && c && c->text[0])
        snprintf(out, len, "%s; %s", v->text, c->text);
    else if (v && v->text[0])
        cv_strlcpy(out, v->text, len);
    else if (c && c->text[0])
        cv_strlcpy(out, c->text, len);
    pthread_mutex_unlock(&n->lock);
}

void rec_notes_pick_volume(struct rec_notes *n, const char *preferred, char *out, size_t len)
{
    char key[LAY_ID_MAX + 8];
    struct note *p, *best = NULL;

    cv_strlcpy(out, preferred, len);
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    snprintf(key, sizeof(key), "vol:%s", preferred);
    p = find(n, key);
    if (p && p->full) {
        for (size_t i = 0; i < n->n; i++) {
            struct note *o = &n->notes[i];
            if (strncmp(o->key, "vol:", 4) != 0 || o->full)
                continue;
            if (!best || o->free_bytes > best->free_bytes)
                best = o;
        }
        if (best)
            cv_strlcpy(out, best->key + 4, len);
    }
    pthread_mutex_unlock(&n->lock);
}

/* Replace all notes with the ones of this pass; log each (once a minute while it holds). */
static void publish(struct rec_notes *n, const struct idx_ret_report *rep, const char *disk_note)
{
    struct note fresh[NOTE_MAX];
    size_t nf = 0;
    int64_t now = cv_mono_us();

    for (size_t i = 0; i < rep->nvolumes && nf < NOTE_MAX; i++) {
        const struct idx_ret_volume *v = &rep->volumes[i];
        struct note *f = &fresh[nf++];
        memset(f, 0, sizeof(*f));
        snprintf(f->key, sizeof(f->key), "vol:%s", v->name);
        f->free_bytes = v->fs_free_bytes;
        if (v->only_held_left) {
            snprintf(f->text, sizeof(f->text),
                     "volume '%s' is over its limit (%.1f of %.1f MB used) and only held footage "
                     "is left to delete (%.1f MB held): recording is short of space",
                     v->name, (double)v->used_bytes / 1e6, (double)v->limit_bytes / 1e6,
                     (double)v->held_bytes / 1e6);
            /* Full for new segments when the filesystem itself is nearly out of room. */
            f->full = v->fs_free_bytes < (uint64_t)16 << 20;
        }
        if (disk_note[0]) {
            size_t len = strlen(f->text);
            snprintf(f->text + len, sizeof(f->text) - len, "%s%s", len ? "; " : "", disk_note);
        }
    }
    for (size_t i = 0; i < rep->nshort && nf < NOTE_MAX; i++) {
        const struct idx_ret_shortfall *s = &rep->short_[i];
        struct note *f = &fresh[nf++];
        memset(f, 0, sizeof(*f));
        snprintf(f->key, sizeof(f->key), "cam:%s", s->camera);
        snprintf(f->text, sizeof(f->text),
                 "retention shortfall: keeps %.3g of the promised %g days (not enough space)",
                 s->kept_days, s->promised_days);
    }
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < nf; i++) {
        struct note *old = find(n, fresh[i].key);
        fresh[i].last_logged = old && strcmp(old->text, fresh[i].text) == 0 ? old->last_logged : 0;
        if (old && old->text[0] && fresh[i].text[0])
            fresh[i].last_logged = old->last_logged;
        if (fresh[i].text[0] && now - fresh[i].last_logged >= LOUD_EVERY_US) {
            cv_warn("%s", fresh[i].text);
            fresh[i].last_logged = now;
        }
        if (!fresh[i].text[0] && old && old->text[0])
            cv_info("%s: back to normal", fresh[i].key + 4);
    }
    memcpy(n->notes, fresh, nf * sizeof(fresh[0]));
    n->n = nf;
    pthread_mutex_unlock(&n->lock);
}

struct rec_retainer {
    struct idx *idx;
    char root[PATH_MAX];
    const struct rec_config *cfg;
    struct rec_notes *notes;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    int64_t disk_full_us; /* wall time of the last disk-full event, 0: none */
    uint64_t used_after;  /* the index filesystem's used bytes after the last pass */
    uint64_t headroom;    /* what recording wrote there between passes, at most, lately */
};

/* Delete the reserve; true when there was one to delete (space was actually freed). */
static bool reserve_release(const char *root)
{
    char path[PATH_MAX];

    if (lay_reserve_path(root, path, sizeof(path), NULL) < 0)
        return false;
    return unlink(path) == 0;
}

/*
 * Write the reserve when it is missing and the filesystem has room for two: zeros, fsync, then
 * a rename, so a crash never leaves a half reserve that looks whole. Failing is harmless (the
 * next pass tries again).
 */
static void reserve_refill(const char *root, const struct lay_volume_space *sp)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    uint64_t size = lay_reserve_bytes(sp->fs_total);
    int fd;

    if (!size || lay_reserve_path(root, path, sizeof(path), NULL) < 0 || access(path, F_OK) == 0)
        return;
    if (sp->fs_free < 2 * size)
        return;
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (posix_fallocate(fd, 0, (off_t)size) != 0 || fsync(fd) < 0) {
        close(fd);
        unlink(tmp);
        return;
    }
    close(fd);
    if (rename(tmp, path) < 0)
        unlink(tmp);
    else
        cv_fsync_parent(path, NULL);
}

/* The index's filesystem right now (0s when it cannot be measured). */
static void index_space(const char *root, struct lay_volume_space *sp)
{
    char dir[PATH_MAX];

    memset(sp, 0, sizeof(*sp));
    if (lay_dir(root, "index", dir, sizeof(dir), NULL) == 0)
        lay_volume_space(dir, 0, sp);
}

/* A disk-full event: the reserve was deleted so that retention can commit. */
static void disk_full(struct rec_retainer *r, const struct lay_volume_space *sp, const char *why)
{
    r->disk_full_us = cv_now_us();
    cv_warn("disk full: %s (%.1f of %.1f MB free on the index's filesystem); released the "
            "space reserve so retention can delete the oldest unheld footage",
            why, (double)sp->fs_free / 1e6, (double)sp->fs_total / 1e6);
}

/* One pass, with the reserve released and the pass retried when the disk is full. */
static int pass_with_reserve(struct rec_retainer *r, struct idx_ret_report *rep,
                             struct cv_err *err)
{
    struct idx_ret_opts o = {.max_delete = 5000};
    struct lay_volume_space sp;
    int rc;

    index_space(r->root, &sp);
    /* Recording outrunning the room left between passes is what fills a disk: keep 1.5 times
     * the most it wrote between two passes free (decaying slowly when the rate drops). */
    if (r->used_after && sp.fs_used > r->used_after) {
        uint64_t grew = (sp.fs_used - r->used_after) / 2 * 3;
        r->headroom = grew > r->headroom ? grew : r->headroom - r->headroom / 16;
    }
    o.headroom_bytes = r->headroom;
    if (sp.fs_total && sp.fs_free < lay_reserve_bytes(sp.fs_total) && reserve_release(r->root))
        disk_full(r, &sp, "less free space than the reserve");
    rc = idx_retention_run(r->idx, r->root, cv_now_us(), &o, rep, err);
    /* A failed commit on a nearly full filesystem (LMDB reports ENOSPC, or EIO for a short
     * write): the reserve is what lets the retry through. Other failures keep the reserve. */
    if (rc < 0)
        index_space(r->root, &sp);
    if (rc < 0 && sp.fs_total && sp.fs_free < 2 * lay_reserve_bytes(sp.fs_total) &&
        reserve_release(r->root)) {
        char why[IDX_TEXT_MAX + 32];
        snprintf(why, sizeof(why), "retention failed: %s", err->msg);
        disk_full(r, &sp, why);
        idx_ret_report_release(rep);
        err->msg[0] = 0;
        rc = idx_retention_run(r->idx, r->root, cv_now_us(), &o, rep, err);
    }
    if (rc == 0) {
        index_space(r->root, &sp);
        reserve_refill(r->root, &sp);
        index_space(r->root, &sp);
    }
    r->used_after = sp.fs_used;
    return rc;
}

static void *retainer_main(void *arg)
{
    struct rec_retainer *r = arg;
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        struct idx_ret_report rep;
        struct cv_err err = {""};
        struct timespec ts;
        int64_t until;

        char disk_note[IDX_TEXT_MAX] = "";

        if (pass_with_reserve(r, &rep, &err) < 0) {
            cv_error("retention: %s", err.msg);
        } else {
            if (r->disk_full_us && cv_now_us() - r->disk_full_us < DISK_FULL_LOUD_US) {
                char when[40];
                cv_time_format_utc(r->disk_full_us, when, sizeof(when), 0);
                snprintf(disk_note, sizeof(disk_note),
                         "disk full at %s: recording was short of space", when);
            }
            if (rep.deleted)
                cv_info("retention: deleted %llu segments (%.1f MB); %llu held segments kept",
                        (unsigned long long)rep.deleted, (double)rep.deleted_bytes / 1e6,
                        (unsigned long long)rep.held_skipped);
            publish(r->notes, &rep, disk_note);
        }
        idx_ret_report_release(&rep);
        pthread_mutex_lock(&r->lock);
        until = cv_now_us() + r->cfg->retention_us;
        ts.tv_sec = until / CV_US_PER_S;
        ts.tv_nsec = (long)(until % CV_US_PER_S) * 1000;
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &ts) != ETIMEDOUT)
            ;
        if (r->stop) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

int rec_retainer_start(struct rec_retainer **out, struct idx *idx, const char *root,
                       const struct rec_config *cfg, struct rec_notes *notes, struct cv_err *err)
{
    struct rec_retainer *r = calloc(1, sizeof(*r));
    int e;

    *out = NULL;
    if (!r)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    r->idx = idx;
    cv_strlcpy(r->root, root, sizeof(r->root));
    r->cfg = cfg;
    r->notes = notes;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    e = pthread_create(&r->thread, NULL, retainer_main, r);
    if (e) {
        free(r);
        return cv_errf(err, CV_ENOMEM, "cannot start the retention thread: %s", strerror(e));
    }
    *out = r;
    return 0;
}

void rec_retainer_stop(struct rec_retainer *r)
{
    if (!r)
        return;
    cv_thread_stop(&r->lock, &r->wake, &r->stop, r->thread);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}
