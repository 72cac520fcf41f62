/*
 * cases.h: cases (the index's `cases` store) and a mediator's reach.
 *
 * A case groups what a dispute or an investigation needs: a title and description, its members
 * (mediators who may replay its footage), its clips (camera + time range), the holds that keep
 * its footage and the export jobs made for it. Its custody timeline is the audit records whose
 * case is this one (server/audit.h). A mediator's reach is the union of the clips of the open
 * cases they are a member of: srv_case_reach() is the check every footage endpoint makes for
 * mediators (through srv_scope_allows in server/scope.c).
 *
 * Record layout (key: the id, "C-<n>" with n from the meta counter "next_case"):
 *   u8 1, id, title, description, u8 status, be64 created µs, created_by, be32 next clip number,
 *   be16 nmembers, names, be16 nclips, (clip id, camera, be64 from, be64 to, note) each,
 *   be16 nholds, be64 each, be16 nexports, ids   (strings as cv_buf_str16)
 *
 * Threads: functions taking a txn follow idx.h's rules. struct srv_case is large (~150 KiB):
 * allocate it on the heap (srv_case_new).
 */
#ifndef SRV_CASES_H
#define SRV_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"

#define SRV_CASE_ID_MAX 24
#define SRV_CASE_TEXT_MAX 256  /* title, note (bytes with the NUL) */
#define SRV_CASE_DESC_MAX 2048 /* description */
#define SRV_CASE_MEMBERS 64
#define SRV_CASE_CLIPS 256
#define SRV_CASE_HOLDS 256
#define SRV_CASE_EXPORTS 256

enum srv_case_status { SRV_CASE_OPEN = 0, SRV_CASE_CLOSED = 1 };

struct srv_case_clip {
    char id[16]; /* "K<n>" */
    char camera[LAY_ID_MAX + 1];
    int64_t from_us, to_us;
    char note[SRV_CASE_TEXT_MAX];
};

struct srv_case {
    char id[SRV_CASE_ID_MAX];
    char title[SRV_CASE_TEXT_MAX];
    char description[SRV_CASE_DESC_MAX];
    uint8_t status;
    int64_t created_us;
    char created_by[33];
    uint32_t next_clip;
    char members[SRV_CASE_MEMBERS][33];
    uint32_t nmembers;
    struct srv_case_clip clips[SRV_CASE_CLIPS];
    uint32_t nclips;
    uint64_t holds[SRV_CASE_HOLDS];
    uint32_t nholds;
    char exports[SRV_CASE_EXPORTS][40];
    uint32_t nexports;
};

/* A zeroed case on the heap (NULL when out of memory); free() it. */
struct srv_case *srv_case_new(void);

/* Store a new case: assigns c->id. */
int srv_case_add(struct idx_txn *txn, struct srv_case *c, struct cv_err *err);
int srv_case_put(struct idx_txn *txn, const struct srv_case *c, struct cv_err *err);
/* CV_ENOENT "unknown case 'x'". */
int srv_case_get(struct idx_txn *txn, const char *id, struct srv_case *out, struct cv_err *err);

/* Called per case (oldest first by id number); nonzero stops and is returned. `c` is valid only
 * during the call. */
typedef int (*srv_case_cb)(void *ctx, const struct srv_case *c);
int srv_case_iter(struct idx_txn *txn, srv_case_cb cb, void *ctx, struct cv_err *err);

bool srv_case_has_member(const struct srv_case *c, const char *user);
/* Add to the lists; CV_ELIMIT when full. Adding a member or hold that is there is a no-op. */
int srv_case_add_member(struct srv_case *c, const char *user, struct cv_err *err);
int srv_case_add_clip(struct srv_case *c, const char *camera, int64_t from_us, int64_t to_us,
                      const char *note, struct srv_case_clip **out, struct cv_err *err);
int srv_case_add_hold(struct srv_case *c, uint64_t hold, struct cv_err *err);
int srv_case_add_export(struct srv_case *c, const char *export_id, struct cv_err *err);

/*
 * Whether [from_us, to_us) of `camera` lies within the union of the clips of `camera` in case c
 * (from = to = 0: whether c has any clip of the camera).
 */
bool srv_case_covers(const struct srv_case *c, const char *camera, int64_t from_us, int64_t to_us);
/*
 * A mediator's reach: whether [from_us, to_us) of `camera` lies within the union of the clips of
 * the open cases `user` is a member of (from = to = 0: any clip of the camera). Index errors
 * count as "no" (and are logged).
 */
bool srv_case_reach(struct idx_txn *txn, const char *user, const char *camera, int64_t from_us,
                    int64_t to_us);
/* CASE of docs/api.md appended to b. */
void srv_case_json(struct cv_buf *b, const struct srv_case *c);

#endif
