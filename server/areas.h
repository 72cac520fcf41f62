/*
 * areas.h: the areas of a site (issue 13): a tree of places (county > town > community >
 * village) that cameras and users belong to. An admin, officer or mediator with an area sees and
 * acts only on the cameras of that area and the areas under it; a resident's area is the one of
 * their household (server/scope.c applies this to every request).
 *
 * Areas live in the index's `areas` store (key: the id), one record each through the table-driven
 * record store of records.h:
 *   u8 1, id, name, parent ("" for a top area), be64 created µs
 * An area's parent must exist when it is added and never changes, so the tree has no cycles; an
 * area is removed only while no camera, user or child area names it.
 *
 * Threads: as idx_txn (idx.h). Records are copied out of the index.
 */
#ifndef SRV_AREAS_H
#define SRV_AREAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"
#include "storage-layout/layout.h"

#define SRV_AREA_DEPTH_MAX 8 /* levels of the tree: four are used, the rest is room */

struct srv_area {
    char id[LAY_ID_MAX + 1];     /* [A-Za-z0-9][A-Za-z0-9._-]{0,63}, like camera ids */
    char name[IDX_TEXT_MAX];     /* "Town of Qiaotou" */
    char parent[LAY_ID_MAX + 1]; /* "" for a top area */
    int64_t created_us;
};

/*
 * Add area a (a->created_us 0: now). CV_EINVAL for a bad id or an empty name, CV_ENOENT
 * "unknown area 'p'" for a missing parent, CV_ELIMIT when the tree would be deeper than
 * SRV_AREA_DEPTH_MAX, CV_EEXIST "area 'x' already exists". Write txn.
 */
int srv_area_add(struct idx_txn *txn, struct srv_area *a, struct cv_err *err);
/* CV_ENOENT "unknown area 'x'". */
int srv_area_get(struct idx_txn *txn, const char *id, struct srv_area *out, struct cv_err *err);
/* Every area in id order: *out malloc'd (free it), *n of them. */
int srv_area_list(struct idx_txn *txn, struct srv_area **out, size_t *n, struct cv_err *err);
/*
 * Remove area `id`: CV_ENOENT when there is none, CV_ESTATE "area 'x' is in use by camera 'c'"
 * (or "by user 'u'", "by area 'a'") while anything names it. Write txn.
 */
int srv_area_remove(struct idx_txn *txn, const char *id, struct cv_err *err);

/*
 * Whether `area` is `scope` or lies under it. scope "" (no area: the whole site) holds every
 * area, and things in no area; a non-empty scope holds no thing in no area (area ""). Unknown
 * areas and index errors are outside any non-empty scope.
 */
bool srv_area_within(struct idx_txn *txn, const char *area, const char *scope);

/* 0 when `id` names an existing area (or is "" and empty is allowed), else CV_ENOENT
 * "unknown area 'x'" / CV_EINVAL "an area is required". For --area and "area" fields. */
int srv_area_check(struct idx_txn *txn, const char *id, bool empty_ok, struct cv_err *err);

/* AREA of docs/api.md: {"id", "name", "parent" (null for a top area), "created"}; the one
 * writer for the API and `area list --json`. */
void srv_area_json(struct cv_buf *b, const struct srv_area *a);

#endif
