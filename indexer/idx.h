/*
 * idx.h: the LMDB index, camvault's authoritative record of cameras, segments and gaps.
 *
 * Databases (schema 3, see docs/storage-layout.md for the byte layouts):
 *   meta       name -> value                 schema, site_id, config_gen, next_camnum, next_hold
 *   cameras    camera id -> camera record    (each camera also gets a 32-bit number)
 *   segments   be32 camnum, be64 start µs -> record of footage present on disk
 *   fragments  same key -> compact fragment table (varints: a few bytes per fragment)
 *   tombstones same key -> record of deleted footage: the segment record, when and why
 *   chainhead  be32 camnum -> start and chain hash of the camera's newest segment
 *   gaps       be32 camnum, be64 start µs -> gap record (end, reason, detail)
 *   status     be32 camnum -> live status written by the recorder
 *   pending    be32 camnum -> the segment file being written (for crash recovery)
 *   deleting   segment key -> path of a tombstoned file not yet unlinked
 *   holds      be64 hold id -> hold record
 *   volumes    volume name -> path and limit; volstats: volume name -> bytes and segments
 *   checkpoints be64 sequence -> signed checkpoint (text and signature)
 *   users, sessions, requests, cases, jobs, audit   generic record stores (schema 3): the index
 *              keeps bytes under keys; their owners (server/) define the record formats
 * Schemas 1 and 2 are upgraded in place by a read-write idx_open (one transaction).
 * Big-endian keys make range scans run in time order, so finding a camera's segment at an
 * instant is one B-tree lookup whatever the archive size.
 *
 * Processes: the recorder, the server and the command line open the same environment; LMDB
 * allows many readers and one writer across processes.
 *
 * Threads (LMDB's rules, which this module inherits; the environment is opened MDB_NOTLS):
 *   - A struct idx may be shared by threads; idx_close only when no transaction is open.
 *   - A transaction belongs to one thread: only the thread that called idx_begin may use it,
 *     commit it or abort it. It must not be passed to another thread.
 *   - A thread holds one transaction at a time: end it (idx_commit or idx_abort) before
 *     beginning another, or a write transaction deadlocks against itself.
 *   - Values read die with the transaction: nothing read through a transaction is valid after
 *     its idx_commit or idx_abort. The functions here copy records out into caller storage or
 *     malloc'd memory the caller frees, so only the callback arguments of the *_iter functions
 *     are borrowed (valid during the callback only).
 * Source: idx_env.c (environment, transactions, meta, schema), idx_segments.c (segments,
 * fragments, chain heads, gaps, pending, tombstones), idx_holds.c (status, volumes, holds,
 * checkpoints), idx_records.c (cameras, generic record stores); idx_int.h is what they share.
 */
#ifndef IDX_IDX_H
#define IDX_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "storage-layout/layout.h"
#include "storage-layout/segfile.h"

#define IDX_SCHEMA_VERSION 3
#define IDX_URL_MAX 1024
#define IDX_TEXT_MAX 256

struct idx;
struct idx_txn;

/* idx_open flags */
#define IDX_CREATE 0x1 /* create the environment and schema if absent (camvault init) */
#define IDX_RDONLY 0x2 /* read-only: no write lock, no schema upgrade (fsck checks, queries) */

/*
 * Open the index of data root `root` (ROOT/index). Without IDX_CREATE a root without an index
 * is CV_ENOENT with "data root '...' is not initialized (run 'camvault init')". An index of a
 * newer schema is refused (CV_ESTATE); with IDX_RDONLY an older one is too (it cannot be
 * upgraded read-only). Clears reader slots left by killed processes. Write transactions on a
 * read-only handle fail.
 */
int idx_open(struct idx **out, const char *root, unsigned flags, struct cv_err *err);
void idx_close(struct idx *idx); /* NULL-safe; no transaction may be open */

/*
 * Begin a read or write transaction; the write lock is held until commit/abort. The transaction
 * belongs to the calling thread, which must not hold another one (see "Threads" above); every
 * value read through it dies at idx_commit/idx_abort.
 */
int idx_begin(struct idx *idx, bool write, struct idx_txn **out, struct cv_err *err);
int idx_commit(struct idx_txn *txn, struct cv_err *err); /* always frees txn */
void idx_abort(struct idx_txn *txn);                      /* NULL-safe, frees txn */

/* ---- meta ---- */
int idx_site_id(struct idx_txn *txn, char out[33], struct cv_err *err);
/* A counter bumped by every camera change, so the recorder notices them cheaply. */
uint64_t idx_config_gen(struct idx_txn *txn);

/* ---- cameras ---- */
enum idx_transport { IDX_TRANSPORT_TCP = 0, IDX_TRANSPORT_UDP = 1 };

struct idx_camera {
    char id[LAY_ID_MAX + 1];
    uint32_t num; /* assigned by idx_camera_add */
    char url[IDX_URL_MAX];
    char name[IDX_TEXT_MAX];
    char location[IDX_TEXT_MAX];
    bool enabled;
    bool is_public;
    uint8_t transport;
    double retention_days;
    char volume[LAY_ID_MAX + 1];
    int64_t created_us;
    char area[LAY_ID_MAX + 1]; /* "" when in no area (server/areas.h); a newer trailing field */
    char gb_id[24]; /* GB/T 28181 channel ID (20 digits), "" = derived (gb/gb.h); a trailing
                     * field of the record, absent in records written before it */
};

/* Add a new camera (c->num is set). CV_EEXIST when the id is taken. */
int idx_camera_add(struct idx_txn *txn, struct idx_camera *c, struct cv_err *err);
/* Replace an existing camera's record (same id and num). */
int idx_camera_update(struct idx_txn *txn, const struct idx_camera *c, struct cv_err *err);
/* CV_ENOENT "unknown camera 'x'" when absent. */
int idx_camera_get(struct idx_txn *txn, const char *id, struct idx_camera *out,
                   struct cv_err *err);
/* All cameras in id order, as a malloc'd array (*out, caller frees). */
int idx_camera_list(struct idx_txn *txn, struct idx_camera **out, size_t *n, struct cv_err *err);

/* ---- segments ---- */
#define IDX_SEG_RECOVERED 0x1 /* closed by crash recovery, cut at its last complete fragment */
/* An fsync of the file or its directory failed when it was closed: the bytes were readable and
 * hashed then, but the disk may not hold them. Kept, indexed and chained; `fsck` checks it. */
#define IDX_SEG_NOT_DURABLE 0x2
/*
 * Times adjusted: the recorder received this footage at recv_start_us, but it is indexed after
 * the camera's previous segment (the recorder's clock stepped back, or the camera's timestamps
 * ran ahead of it). Set by idx_segment_put, from the segment alone (see there).
 */
#define IDX_SEG_SHIFTED 0x4
#define IDX_SHIFT_MIN_US 1000000 /* a first fragment timed this much after its receipt */
#define IDX_OVERLAP_US 100000    /* overlap with the previous segment left as it is (fsck's) */

struct idx_segment {
    uint32_t cam;
    int64_t start_us, end_us;
    char path[LAY_RELPATH_MAX]; /* relative to ROOT */
    uint64_t bytes;
    uint32_t frames, keyframes, audio_frames, fragments;
    char video[LAY_SEG_CODEC_MAX], audio[LAY_SEG_CODEC_MAX];
    uint8_t sha256[32]; /* of the whole file */
    uint8_t chain[32];  /* filled by idx_segment_put */
    uint64_t run_id;
    uint32_t run_seq;
    uint32_t flags;
    int64_t recv_start_us; /* IDX_SEG_SHIFTED: when its first fragment was received; else 0 */
};

/*
 * Commit a closed segment: computes seg->chain from the camera's previous segment (the chain
 * step, itg_chain_next in integrity/chain.h), stores the record and its fragment table (from the
 * scan of the file or the writer's own list), and drops the camera's pending entry if it names this file. Every segment is indexed, in the order it is
 * put: one whose first fragment is timed more than IDX_SHIFT_MIN_US after its receipt (frags'
 * wall_us vs recv_us: the recorder placed it after its previous segment) is flagged
 * IDX_SEG_SHIFTED with recv_start_us = that receipt; one that starts more than IDX_OVERLAP_US
 * before the end of the camera's previous segment (present or tombstoned), or not after its
 * start, is moved, whole, to start at that end (seg->start_us and end_us change, the fragment
 * table keeps its real spacing) and flagged the same way (recv_start_us: its receipt, else its
 * own start). Both depend only on the
 * segment and the one before it, so fsck --rebuild, putting the same files in the same order,
 * makes the same records.
 */
int idx_segment_put(struct idx_txn *txn, const char *camera, struct idx_segment *seg,
                    const struct lay_seg_frag *frags, size_t nfrags, struct cv_err *err);

/* Called for each record; return nonzero to stop the iteration (that value is returned). */
typedef int (*idx_segment_cb)(void *ctx, const struct idx_segment *seg);

/* Segments of camera `cam` overlapping [from_us, to_us), in time order. */
int idx_segment_iter(struct idx_txn *txn, uint32_t cam, int64_t from_us, int64_t to_us,
                     idx_segment_cb cb, void *ctx, struct cv_err *err);
/* The camera's newest segment; CV_ENOENT when it has none. */
int idx_segment_last(struct idx_txn *txn, uint32_t cam, struct idx_segment *out,
                     struct cv_err *err);
/* Exact lookup by (cam, start). */
int idx_segment_get(struct idx_txn *txn, uint32_t cam, int64_t start_us, struct idx_segment *out,
                    struct cv_err *err);

/* Segments present on disk, oldest first, across all cameras; for fsck. */
int idx_segment_iter_all(struct idx_txn *txn, idx_segment_cb cb, void *ctx, struct cv_err *err);

/* The fragment table of a segment (malloc'd array in *out, caller frees). */
int idx_fragments_get(struct idx_txn *txn, uint32_t cam, int64_t start_us,
                      struct lay_seg_frag **out, size_t *n, struct cv_err *err);

/*
 * Where instant `at_us` of camera `cam` is: the segment that holds it (*seg) and the byte offset
 * and wall time of the fragment (GOP) that contains it (*offset, *frag_us). One B-tree lookup for
 * the segment, one for its fragment table. CV_ENOENT when nothing recorded covers the instant.
 */
int idx_locate(struct idx_txn *txn, uint32_t cam, int64_t at_us, struct idx_segment *seg,
               uint64_t *offset, int64_t *frag_us, struct cv_err *err);

/* Replace a present segment's record (same key), e.g. after fsck re-hashed a damaged file. The
 * chain is not recomputed: links are facts of the time they were made. */
int idx_segment_update(struct idx_txn *txn, const struct idx_segment *seg, struct cv_err *err);

/* ---- deletion: tombstones ---- */
struct idx_tombstone {
    struct idx_segment seg; /* the record as it was, chain link included */
    int64_t deleted_us;
    uint8_t reason; /* an idx_gap_reason: IDX_GAP_RETENTION */
    char detail[IDX_TEXT_MAX];
};

/*
 * Turn a present segment into a tombstone: the record moves to tombstones (keeping its chain
 * link), its fragment table goes, the volume's byte count drops, the file is queued in
 * `deleting` for unlinking after commit, and a gap with `reason` and `detail` covers its time
 * (merged with a directly preceding gap of the same reason and detail). CV_ENOENT if absent.
 */
int idx_segment_tombstone(struct idx_txn *txn, uint32_t cam, int64_t start_us, uint8_t reason,
                          const char *detail, int64_t now_us, struct idx_segment *out,
                          struct cv_err *err);
typedef int (*idx_tombstone_cb)(void *ctx, const struct idx_tombstone *t);
int idx_tombstone_iter(struct idx_txn *txn, uint32_t cam, int64_t from_us, int64_t to_us,
                       idx_tombstone_cb cb, void *ctx, struct cv_err *err);

/* Files whose tombstone is committed but which may still exist: unlink, then forget. */
struct idx_deleting {
    uint32_t cam;
    int64_t start_us;
    char path[LAY_RELPATH_MAX];
};
int idx_deleting_list(struct idx_txn *txn, size_t max, struct idx_deleting **out, size_t *n,
                      struct cv_err *err);
int idx_deleting_del(struct idx_txn *txn, uint32_t cam, int64_t start_us, struct cv_err *err);

/* ---- volumes ---- */
struct idx_volume {
    char name[LAY_ID_MAX + 1];
    char path[PATH_MAX]; /* where its files live ("" for ROOT/volumes/<name> itself) */
    uint64_t max_bytes;  /* 0: the high-water mark is 95 % of the filesystem */
    uint64_t used_bytes, segments; /* of indexed footage (volstats), read-only here */
};
int idx_volume_put(struct idx_txn *txn, const struct idx_volume *v, struct cv_err *err);
int idx_volume_get(struct idx_txn *txn, const char *name, struct idx_volume *out,
                   struct cv_err *err);
/* Every volume named in `volumes` or holding footage (the default "main" always), name order. */
int idx_volume_list(struct idx_txn *txn, struct idx_volume **out, size_t *n, struct cv_err *err);

/* ---- holds ---- */
#define IDX_HOLD_CAMERAS 16
struct idx_hold {
    uint64_t id;
    char case_id[IDX_TEXT_MAX];
    char cameras[IDX_HOLD_CAMERAS][LAY_ID_MAX + 1];
    uint32_t ncameras;
    int64_t from_us, to_us;
    int64_t until_us; /* 0: until released */
    char who[IDX_TEXT_MAX];
    char why[IDX_TEXT_MAX];
    int64_t created_us;
    int64_t released_us; /* 0: not released */
    char released_by[IDX_TEXT_MAX];
};
/* Store a new hold; sets h->id. */
int idx_hold_add(struct idx_txn *txn, struct idx_hold *h, struct cv_err *err);
int idx_hold_get(struct idx_txn *txn, uint64_t id, struct idx_hold *out, struct cv_err *err);
int idx_hold_put(struct idx_txn *txn, const struct idx_hold *h, struct cv_err *err);
/* All holds (released ones too), id order; malloc'd array. */
int idx_hold_list(struct idx_txn *txn, struct idx_hold **out, size_t *n, struct cv_err *err);
/* Whether hold h names `camera` and its range meets [from, to), whatever its state (released,
 * expired: listings show those too). */
bool idx_hold_touches(const struct idx_hold *h, const char *camera, int64_t from_us,
                      int64_t to_us);
/* Whether hold h, at time now, protects footage of `camera` in [from, to). */
bool idx_hold_covers(const struct idx_hold *h, const char *camera, int64_t from_us, int64_t to_us,
                     int64_t now_us);

/* ---- checkpoints ---- */
/* Every camera's chain head (camera id, start µs, chain hash), in camera id order. */
struct idx_head {
    char camera[LAY_ID_MAX + 1];
    int64_t start_us;
    uint8_t chain[32];
};
int idx_heads(struct idx_txn *txn, struct idx_head **out, size_t *n, struct cv_err *err);

/* A signed checkpoint: its canonical text (see integrity/checkpoint.h) and DER signature. */
struct idx_checkpoint {
    uint64_t seq;
    char *text; /* malloc'd, NUL-terminated */
    uint8_t sig[128];
    size_t siglen;
};
void idx_checkpoint_release(struct idx_checkpoint *c);
int idx_checkpoint_put(struct idx_txn *txn, const struct idx_checkpoint *c, struct cv_err *err);
/* The newest checkpoint; CV_ENOENT when there is none. c->text is malloc'd. */
int idx_checkpoint_last(struct idx_txn *txn, struct idx_checkpoint *c, struct cv_err *err);

/* ---- gaps ---- */
enum idx_gap_reason {
    IDX_GAP_OFFLINE = 1,          /* camera unreachable or stream broke */
    IDX_GAP_RECORDER_STOPPED = 2, /* recorder not running (stopped or crashed) */
    IDX_GAP_RETENTION = 3,        /* footage deleted by retention */
    IDX_GAP_DISK = 4,             /* could not write (disk full or failing) */
    IDX_GAP_MISSING = 5,          /* the file disappeared (found by fsck); tombstone kept */
};
const char *idx_gap_reason_name(int reason); /* "camera-offline", "recorder-stopped", ... */

struct idx_gap {
    uint32_t cam;
    int64_t start_us, end_us;
    uint8_t reason;
    char detail[IDX_TEXT_MAX];
};
int idx_gap_put(struct idx_txn *txn, const struct idx_gap *gap, struct cv_err *err);
typedef int (*idx_gap_cb)(void *ctx, const struct idx_gap *gap);
int idx_gap_iter(struct idx_txn *txn, uint32_t cam, int64_t from_us, int64_t to_us, idx_gap_cb cb,
                 void *ctx, struct cv_err *err);

/* ---- live status (written by the recorder every few seconds) ---- */
struct idx_status {
    bool online;
    char reason[IDX_TEXT_MAX]; /* why offline (or a warning while online) */
    int64_t since_us;          /* when it went online/offline */
    int64_t last_frame_us;
    uint64_t bitrate_bps;
    uint64_t frames, segments, reconnects;
    int64_t updated_us;
    char codec[2 * LAY_SEG_CODEC_MAX];
    uint64_t not_durable; /* segments closed with a failed fsync since the recorder started */
    uint64_t ts_repaired; /* video decode times repaired within a run since the recorder started */
    char transport[8];    /* RTP transport in use: "tcp", "udp" or "" (not connected yet) */
    /* Picture health (recorder/picture.h): "ok", "black", "frozen", "unknown"; "" in records
     * of older recorders (read as unknown). Since when, wall-clock µs (0: never looked). */
    char picture[8];
    int64_t picture_since_us;
    /* Video frames dropped because writing fell behind reading (recorder/loop.h: a camera's
     * queue was full), since the recorder started; whole GOPs, each episode logged. */
    uint64_t frames_dropped;
};
int idx_status_put(struct idx_txn *txn, uint32_t cam, const struct idx_status *st,
                   struct cv_err *err);
int idx_status_get(struct idx_txn *txn, uint32_t cam, struct idx_status *out, struct cv_err *err);

/* ---- pending: the segment file a camera is writing, for crash recovery ---- */
int idx_pending_put(struct idx_txn *txn, uint32_t cam, const char *relpath, struct cv_err *err);
int idx_pending_del(struct idx_txn *txn, uint32_t cam, struct cv_err *err);
/* relpath[LAY_RELPATH_MAX]; CV_ENOENT when the camera has none. */
int idx_pending_get(struct idx_txn *txn, uint32_t cam, char *relpath, struct cv_err *err);

/* ---- generic record stores (schema 3) ----
 *
 * Byte records under byte keys, for modules that own their record formats (server/: users,
 * sessions, footage requests, cases, export jobs, the audit log). Keys sort bytewise (use
 * big-endian numbers for numeric order). Writes need a write transaction. Values are copied out
 * (idx_rec_get, idx_rec_last) except in idx_rec_iter's callback, whose pointers die when it
 * returns.
 */
enum idx_store {
    IDX_USERS,    /* user name -> account */
    IDX_SESSIONS, /* SHA-256 of a session or bearer token -> session */
    IDX_REQUESTS, /* request id -> footage request */
    IDX_CASES,    /* case id -> case */
    IDX_JOBS,     /* export job id -> job */
    IDX_AUDIT,    /* be64 sequence -> audit record */
    IDX_AREAS,    /* area id -> area (server/areas.h); added after schema 3, see idx_open */
    IDX_REPORTS,  /* residents' report id -> report (server/reports.h) */
    IDX_ALERTS,   /* alert id -> duty-room alert (server/alerts.h) */
    IDX_PHOTOS,   /* report id -> its photo's bytes (server/reports.h) */
    IDX_STORE_COUNT
};
#define IDX_REC_KEY_MAX 255
#define IDX_REC_VAL_MAX (256 * 1024)

const char *idx_store_name(enum idx_store s); /* "users", ... */

/* Insert or replace. CV_ELIMIT for a value over IDX_REC_VAL_MAX. */
int idx_rec_put(struct idx_txn *txn, enum idx_store s, const void *key, size_t klen,
                const void *val, size_t vlen, struct cv_err *err);
/* Insert only: CV_EEXIST when the key is taken. */
int idx_rec_add(struct idx_txn *txn, enum idx_store s, const void *key, size_t klen,
                const void *val, size_t vlen, struct cv_err *err);
/* Copy the value into *out (reset first; its limit applies: CV_ELIMIT). CV_ENOENT if absent. */
int idx_rec_get(struct idx_txn *txn, enum idx_store s, const void *key, size_t klen,
                struct cv_buf *out, struct cv_err *err);
/* CV_ENOENT if absent. */
int idx_rec_del(struct idx_txn *txn, enum idx_store s, const void *key, size_t klen,
                struct cv_err *err);

/* Called per record; return nonzero to stop (that value is returned by idx_rec_iter). The
 * pointers are valid only during the call; do not write to the store from inside it. */
typedef int (*idx_rec_cb)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
/*
 * Records in key order starting at the first key >= `from` (reverse: descending from the last
 * key <= `from`); from = NULL starts at the first (reverse: last) record.
 */
int idx_rec_iter(struct idx_txn *txn, enum idx_store s, const void *from, size_t flen, bool reverse,
                 idx_rec_cb cb, void *ctx, struct cv_err *err);
/* The record with the greatest key, copied into *key and *val; CV_ENOENT when empty. */
int idx_rec_last(struct idx_txn *txn, enum idx_store s, struct cv_buf *key, struct cv_buf *val,
                 struct cv_err *err);
/* Number of records in the store. */
int idx_rec_count(struct idx_txn *txn, enum idx_store s, uint64_t *out, struct cv_err *err);

/* Copy every record of every store, and the counters, from one index into another (fsck
 * --rebuild keeps accounts, cases and the audit log this way). `to` must be a write txn. */
int idx_rec_copy_all(struct idx_txn *from, struct idx_txn *to, struct cv_err *err);

/* A named counter in meta: returns 1, 2, 3, ... (the stored value plus one, stored). Write txn. */
int idx_counter_next(struct idx_txn *txn, const char *name, uint64_t *out, struct cv_err *err);

/* ---- backup (idx_backup.c) ---- */

/*
 * Write a consistent, compacted copy of the open index into the existing, empty directory `dir`
 * (dir/data.mdb, fsynced, then the directory): LMDB's mdb_env_copy2 with MDB_CP_COMPACT, which
 * reads through one read transaction, so it may run beside the recorder and server writing (it
 * copies the index as of its start; free pages are left out). Any thread; no transaction of
 * the calling thread may be open.
 */
int idx_copy(struct idx *idx, const char *dir, struct cv_err *err);

/*
 * Whether another process has ROOT/index open (recorder, server, a command): each process with
 * the LMDB environment open holds a shared fcntl lock on the first byte of its lock.mdb
 * (lmdb's mdb_env_excl_lock). *pid (output) names one of them. The calling process must not
 * have the index open itself (closing our descriptor would drop LMDB's lock).
 */
bool idx_in_use(const char *root, int *pid);

#endif
