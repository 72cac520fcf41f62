/*
 * retainer.c: the recorder's retention thread, and the notes it leaves for camera threads.
 *
 * Every pass (indexer/retention.h) deletes what retention allows and reports volumes that stay
 * over their limit with only held footage left, and cameras that keep fewer days than promised.
 * Those become notes: each camera's status carries the note for its volume and itself, the log
 * repeats each note once a minute while it holds, and a camera whose volume is full writes to
 * another volume with room. Deleting runs in this thread only, so it never stalls recording.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "recorder/rec_int.h"
#include "indexer/retention.h"
#include "common/buf.h"
#include "common/cvtime.h"
#include "common/log.h"
#include "common/banned.h"

#define NOTE_MAX 64
#define LOUD_EVERY_US (60 * INT64_C(1000000))

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
static void publish(struct rec_notes *n, const struct idx_ret_report *rep)
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
};

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

        if (idx_retention_pass(r->idx, r->root, cv_now_us(), 5000, &rep, &err) < 0) {
            cv_error("retention: %s", err.msg);
        } else {
            if (rep.deleted)
                cv_info("retention: deleted %llu segments (%.1f MB); %llu held segments kept",
                        (unsigned long long)rep.deleted, (double)rep.deleted_bytes / 1e6,
                        (unsigned long long)rep.held_skipped);
            publish(r->notes, &rep);
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
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}
