/*
 * sealer.h: the recorder's side of seal requests (storage-layout/seal.h), run by its main
 * thread a few times a second.
 *
 * A request is ready once the file it names is no longer its camera's pending one: the camera
 * thread ended it at a keyframe (or the camera stopped) and the sink committed it, with its hash
 * and chain link. The main thread then signs one checkpoint for all ready requests and removes
 * them (rec_seal_finish), so an exporter waiting for that checkpoint waits about one GOP.
 */
#ifndef REC_SEALER_H
#define REC_SEALER_H

#include <stddef.h>

#include "indexer/idx.h"

#define REC_SEAL_BATCH 64

struct rec_sealed {
    char camera[LAY_ID_MAX + 1];
    char rel[LAY_RELPATH_MAX];
};

/* The ready requests, at most `max`, into out[]; returns how many. Errors are logged. */
size_t rec_seal_ready(struct idx *idx, const char *root, struct rec_sealed *out, size_t max);

/* Remove requests out[0..n) (after their checkpoint is signed). */
void rec_seal_finish(const char *root, const struct rec_sealed *out, size_t n);

#endif
