/*
 * clip_int.h: what the two halves of the working-copy builder share (private to exporter/).
 *
 * clip.c plans a clip (which source bytes, which fields patched, the new header and trailer);
 * clip_read.c produces the clip's bytes from that plan on demand. The plan is struct exp_clip:
 * built once by exp_clip_open, then only read (one thread at a time, as clip.h says).
 */
#ifndef CAMVAULT_EXPORTER_CLIP_INT_H
#define CAMVAULT_EXPORTER_CLIP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "exporter/clip.h"

/* A field of a source fragment replaced in the output: `width` bytes big-endian at `at`. */
struct patch {
    uint32_t at; /* offset inside the fragment group */
    uint8_t width;
    uint64_t value;
};

/* One output fragment: source bytes [src_off, src_off + size) at out_off, then its patches. */
struct ofrag {
    uint32_t src;
    uint64_t src_off, size, out_off;
    uint32_t patch0, npatch;
};

/* The plan of one clip (clip.h: exp_clip_open, exp_clip_read, exp_clip_free). */
struct exp_clip {
    struct exp_clip_source *srcs;
    uint64_t *need; /* bytes each source must still have */
    size_t nsrcs;
    struct ofrag *frags;
    size_t nfrags;
    struct patch *patches;
    size_t npatches;
    struct cv_buf head, tail;
    uint64_t size, tail_off;
    int64_t first_us, end_us, origin_us;
    int fd;
    size_t fd_src;
};

/* Open `path` read-only (O_CLOEXEC) into *fd: 0, or an error naming the file. */
int exp_clip_open_ro(const char *path, int *fd, struct cv_err *err);

#endif
