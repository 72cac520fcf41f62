/*
 * fsck_int.h: what fsck.c (check, repair, idx_fsck) and fsck_rebuild.c (rebuild) share: the
 * state of one run, the disk walk, the report, and the rebuild itself. Internal to fsck; its
 * API is fsck.h.
 *
 * Thread rules: a run and everything it holds belong to the thread that called idx_fsck.
 */
#ifndef IDX_FSCK_INT_H
#define IDX_FSCK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "indexer/fsck.h"
#include "indexer/idx.h"

struct idx_fsck_file {
    char *path;  /* relative to ROOT, owned */
    bool seen;   /* a record names it */
    bool queued; /* its deletion is queued in `deleting` */
};

struct idx_fsck_run {
    const char *root;
    enum idx_fsck_mode mode;
    idx_fsck_report report;
    void *ctx;
    struct idx_fsck_counts *n;
    bool live; /* CHECK: another process has the index open */
    int64_t now_us;
    struct idx *idx;            /* the index (REBUILD: the new one) */
    struct idx *old;            /* REBUILD: the old index; NULL when unreadable */
    struct idx_camera *oldcams; /* REBUILD: its cameras, id order */
    size_t noldcams;
    struct idx_fsck_file *files; /* sorted by path */
    size_t nfiles, cap;
};

/* Report one line (printf format) to f->report; a finding also counts in f->n->findings. */
void idx_fsck_say(struct idx_fsck_run *f, bool finding, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The walked file ROOT/<rel>, or NULL (the walk did not find it). Valid until f is released. */
struct idx_fsck_file *idx_fsck_find_file(const struct idx_fsck_run *f, const char *rel);

/* Walk ROOT/volumes/ once into f->files (sorted by path; f owns them) and f->n->files. */
int idx_fsck_walk_disk(struct idx_fsck_run *f, struct cv_err *err);

/* Open and scan segment file ROOT/<rel>: a descriptor and *info (output), or -1 and *why. */
int idx_fsck_open_segment(const char *root, const char *rel, int flags, struct lay_seg_info *info,
                          struct cv_err *why);

/* Mark the walked files whose deletion is queued in idx. */
int idx_fsck_mark_queued(struct idx_fsck_run *f, struct idx *idx, struct cv_err *err);

/*
 * IDX_FSCK_REBUILD (fsck_rebuild.c), on a run whose root, mode, report, ctx, n and now_us are
 * set and whose index no other process has open. Whatever it leaves in f (files, indexes, old
 * cameras) the caller releases, also on error.
 */
int idx_fsck_rebuild(struct idx_fsck_run *f, struct cv_err *err);

#endif
