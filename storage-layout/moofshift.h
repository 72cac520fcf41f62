/*
 * moofshift.h: move a fragment's decode times (lay_moof_shift).
 *
 * Each segment file's decode times start at 0 (so that it plays by itself from 0); a reader
 * that streams a run's segments one after another as one file (live.mp4) adds to each track's
 * times where that track stood at the segment's start. This does it in place on one loaded box:
 * a moof (every traf's tfdt, matched to its track by the tfhd) or a prft (its media time, of its
 * reference track). Other boxes are left alone.
 *
 * Reentrant; touches only the caller's buffer.
 */
#ifndef LAY_MOOFSHIFT_H
#define LAY_MOOFSHIFT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Add shift[i] to the decode times of track track[i] (i < n) in the whole box at box[0..len).
 * 0, or CV_ECORRUPT when the box is malformed or a time would leave its field (below 0, or
 * past 32 bits in a version-0 box).
 */
int lay_moof_shift(uint8_t *box, size_t len, const uint32_t *track, const int64_t *shift, int n);

#endif
