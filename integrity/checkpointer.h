/*
 * checkpointer.h: the thread that signs checkpoints (integrity/checkpoint.h) while recording.
 *
 * Signing a checkpoint takes the index's write lock for a moment, and then, when the signer has
 * a time-stamp authority, waits for the TSA's answer (up to 5 s, integrity/tsa.h) before the
 * block reaches the ledger. None of that may hold up the recorder's camera supervision (cameras
 * added, edited or disabled are picked up within one poll interval), so checkpoints are signed
 * in a thread of their own: one checkpoint every `interval_us` (the first one interval_us after
 * the start), one more on request (itg_checkpointer_kick), and, when asked, a last one at stop
 * (after the recorder's sink has committed the last segments, so the last checkpoint covers
 * them). A checkpoint that fails is logged ("checkpoint: <why>") and the next one is tried at
 * the next interval; a failed time stamp costs only the stamp (itg_checkpoint_make).
 *
 * Threads: start and stop from one thread (the recorder's main thread); kick and
 * itg_checkpointer_count from any thread. The signer is used only by the checkpointer's thread
 * while it runs; the caller keeps it (and idx and root) alive until itg_checkpointer_stop has
 * returned.
 */
#ifndef ITG_CHECKPOINTER_H
#define ITG_CHECKPOINTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "indexer/idx.h"
#include "integrity/keys.h"

struct itg_checkpointer;

#define ITG_CHECKPOINT_MIN_US 100000 /* a shorter interval_us is taken as this (0.1 s) */

/* Start the thread. CV_ENOMEM or CV_EIO (no thread) with *out NULL. */
int itg_checkpointer_start(struct itg_checkpointer **out, struct idx *idx, const char *root,
                           struct itg_signer *signer, int64_t interval_us, struct cv_err *err);

/* Ask for a checkpoint now; returns at once (the thread signs it as soon as it is free). */
void itg_checkpointer_kick(struct itg_checkpointer *c);

/* How many checkpoints the thread has signed and stored so far (failed ones not counted), and,
 * through *failed (may be NULL), how many failed. */
uint64_t itg_checkpointer_count(struct itg_checkpointer *c, uint64_t *failed);

/*
 * Stop the thread: a checkpoint under way is finished first (a TSA wait included); then, when
 * `final`, one last checkpoint is signed; then the thread is joined and c freed. NULL-safe.
 */
void itg_checkpointer_stop(struct itg_checkpointer *c, bool final);

#endif
