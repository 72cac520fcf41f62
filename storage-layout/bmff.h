/*
 * bmff.h: the one ISO BMFF (ISO/IEC 14496-12) box reader and writer of camvault.
 *
 * A box is a 32-bit big-endian size, a four-character type and a payload. The size counts the
 * whole box (header included); size 1 means a 64-bit "largesize" follows the type (a 16-byte
 * header); size 0 means "the box runs to the end of the enclosing space". Segment files, the
 * clips built from them and the recorder's own fragments are all walked or written here, so a
 * length check is written once.
 *
 * Readers trust nothing: every size is checked against the space that holds the box before it
 * is used, without overflow (a largesize near 2^64 is refused, not wrapped).
 *
 * - In memory: a cursor over a byte buffer yields one box after another (lay_box_next); a box's
 *   payload is walked by a cursor on it (lay_box_enter). Nothing is copied: a struct lay_box
 *   points into the caller's buffer and is valid as long as that buffer is.
 * - In a file: lay_box_read reads one box header with pread at a given offset, for walking the
 *   top level of a file without loading its mdat boxes; lay_box_load loads a bounded span.
 * - Writing: lay_box_begin / lay_box_end around the payload appended to a struct cv_buf.
 *
 * Thread rules: no state beyond the caller's structs; all functions are reentrant, and a cursor
 * belongs to one thread. The reader never writes to the buffers it walks.
 */
#ifndef LAY_BMFF_H
#define LAY_BMFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* The largest box lay_box_load loads (moov, moof, prft, ...; never mdat): 16 MiB. */
#define LAY_BOX_LOAD_MAX (16u << 20)

/* A box found in memory. All pointers point into the walked buffer. */
struct lay_box {
    char type[5];         /* the four type bytes and a NUL (the bytes may be anything) */
    const uint8_t *start; /* the first byte of the header */
    const uint8_t *body;  /* the payload: start + hsize */
    size_t hsize;         /* 8, or 16 with a largesize */
    size_t len;           /* payload bytes: size - hsize */
    size_t size;          /* the whole box */
};

/* A cursor over [base, end). Transparent so that it can live on the stack; use the functions. */
struct lay_box_cur {
    const uint8_t *base, *p, *end;
};

/* Start a cursor over the `len` bytes at `data` (not copied; must outlive the cursor). */
void lay_box_init(struct lay_box_cur *c, const void *data, size_t len);

/* Start a cursor over the payload of `box` (its child boxes). */
void lay_box_enter(struct lay_box_cur *c, const struct lay_box *box);

/*
 * The next box of the cursor into *out (output). Returns 1 with *out filled and the cursor moved
 * past the box; 0 when the cursor is exactly at its end; CV_ECORRUPT when what is left is not a
 * whole box: fewer than 8 (or 16 with a largesize) header bytes, a size smaller than its header,
 * or a size past the end. Size 0 takes the rest of the cursor's space. After an error the cursor
 * does not move, so every later call gives the same error. `err` may be NULL; the message names
 * the box type, its offset from the cursor's start and the cause.
 */
int lay_box_next(struct lay_box_cur *c, struct lay_box *out, struct cv_err *err);

/*
 * The first box of type `type` (four characters) among the boxes in [data, data + len) into
 * *out. 1 when found, 0 when the boxes end without it, CV_ECORRUPT when a malformed box comes
 * before it (no message).
 */
int lay_box_find(const void *data, size_t len, const char *type, struct lay_box *out);

/* Whether box type `type` (a struct lay_box's or lay_box_hdr's type) is `want`. */
bool lay_box_is(const char *type, const char *want);

/*
 * The 32-bit field of a full box that follows its version, flags, creation and modification
 * times (32-bit each in version 0, 64-bit in version 1): the timescale of mvhd and mdhd, the
 * track_ID of tkhd. 0 with *out set, or -1 when the box is too short for it.
 */
int lay_box_u32_after_times(const struct lay_box *box, uint32_t *out);

/* A box header read from a file. */
struct lay_box_hdr {
    char type[5];
    uint64_t off;   /* where the box starts in the file */
    uint64_t hsize; /* 8, or 16 with a largesize */
    uint64_t size;  /* the whole box, header included */
};

/*
 * Read the header of the box starting at byte `off` of the file open on `fd`, where the box must
 * end by byte `limit` (the file's size, or the end of an enclosing span). Reads at most 16 bytes
 * with pread; the file position is not used, so fds may be shared between threads.
 * Returns 1 with *out filled when a whole box fits in [off, limit); 0 when none does: fewer than
 * 8 (or 16) bytes left for the header, a size smaller than its header, a size past `limit`, or
 * size 0 (to the end), which a file walker cannot tell from a box a writer never finished (err
 * says which); a negative code from cv_pread_all (CV_EIO, or CV_ECORRUPT "file ends early" when
 * the file is shorter than `limit`) on read errors.
 */
int lay_box_read(int fd, uint64_t off, uint64_t limit, struct lay_box_hdr *out, struct cv_err *err);

/*
 * pread `len` bytes at `off` into *buf, growing it with realloc to at least len (*buf and *cap
 * are in/out: start with NULL and 0, free(*buf) when done). CV_ECORRUPT "box of N bytes at offset
 * O is too large" past LAY_BOX_LOAD_MAX, CV_ENOMEM, or the cv_pread_all error.
 */
int lay_box_load(int fd, uint64_t off, uint64_t len, uint8_t **buf, size_t *cap,
                 struct cv_err *err);

/*
 * Append a box header of type `type` (four characters) with size 0 to b and remember in *mark
 * where the box starts; lay_box_end(b, mark) sets its size once the payload is appended. Nested
 * boxes end in reverse order. Sizes are 32-bit: the writer never emits a largesize. Errors stay
 * in b (check cv_buf_ok once at the end).
 */
void lay_box_begin(struct cv_buf *b, const char *type, size_t *mark);
void lay_box_end(struct cv_buf *b, size_t mark);

/* Append the version (8 bits) and flags (24 bits) word that starts a full box's payload. */
void lay_box_full(struct cv_buf *b, uint8_t version, uint32_t flags);

#endif
