/*
 * psdemux.h: an MPEG-2 program stream reader (ISO/IEC 13818-1 section 2.5, GB/T 28181-2016
 * annex C) for what GB/T 28181 devices send over RTP: pack headers, system headers, the
 * program stream map (PSM) and PES packets, turned into access units.
 *
 * Bytes are fed as they arrive (RTP payloads in order); whole units are read from the front
 * and the rest kept for the next feed. Units: pack header (MPEG-2, 14 bytes plus stuffing; an
 * MPEG-1 pack of 12 bytes is skipped), end code, and everything else a 16-bit length after
 * its start code. Bytes that are no unit (loss, garbage) are skipped up to the next start code
 * (counted in `skipped`). The PSM says what each stream is: video 0x1B H.264, 0x24 H.265;
 * audio 0x90 G.711 A-law, 0x91 G.711 mu-law, 0x0F AAC (ADTS). A video PES with a PTS starts a
 * new access unit (so a unit is handed out when the next one starts); PES packets without a
 * PTS continue it. An audio PES is one frame. Streams before the first PSM, and streams the
 * PSM does not name with a type above, are dropped.
 *
 * Limits: GB_PSD_IN_MAX bytes waiting for a unit to complete, GB_PSD_AU_MAX per access unit,
 * GB_PSD_QUEUE frames waiting to be taken; past them the data is dropped and counted, never a
 * crash. No sockets, no state beyond the struct; one thread per struct.
 */
#ifndef GB_PSDEMUX_H
#define GB_PSDEMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define GB_PSD_IN_MAX (1u << 20)
#define GB_PSD_AU_MAX (4u << 20)
#define GB_PSD_QUEUE 64

struct gb_psd_frame {
    bool video;
    uint8_t type;      /* the PSM's stream type (0x1B, 0x24, 0x90, 0x91, 0x0F) */
    uint8_t *data;     /* malloc'd; the taker frees it */
    size_t len;
    uint64_t pts, dts; /* 33-bit, 90 kHz, as in the stream (dts = pts when absent) */
};

struct gb_psd {
    struct cv_buf in;        /* bytes not yet read as units */
    uint8_t type[256];       /* stream_id -> stream type from the PSM; 0 unknown */
    bool have_psm;
    struct cv_buf au;        /* the video access unit being gathered */
    bool au_open;
    uint8_t au_type;
    uint64_t au_pts, au_dts;
    struct gb_psd_frame q[GB_PSD_QUEUE];
    size_t qhead, qn;
    uint64_t units, skipped, dropped; /* units read; bytes skipped; frames dropped */
};

void gb_psd_init(struct gb_psd *d);
void gb_psd_release(struct gb_psd *d); /* frees what is queued */

/* Feed n bytes of the stream; complete frames are queued. */
void gb_psd_feed(struct gb_psd *d, const uint8_t *p, size_t n);

/* Data was lost (an RTP sequence gap): the open access unit is dropped, what waits is kept
 * and resynchronized on the next start code. */
void gb_psd_lost(struct gb_psd *d);

/* Take the oldest queued frame into *f (the caller frees f->data). false when none. */
bool gb_psd_next(struct gb_psd *d, struct gb_psd_frame *f);

#endif
