/*
 * idr.c: does an access unit hold an IDR picture (rec_au_has_idr, rec_int.h)? camera.c cuts
 * segments of streams with B-frames only there (an open GOP's other keyframes are followed by
 * frames that refer to the GOP before).
 */
#include "recorder/rec_int.h"
#include "common/buf.h"
#include "common/banned.h"

bool rec_au_has_idr(const uint8_t *data, size_t size, bool hevc, bool annexb)
{
    const uint8_t *p = data, *end = data + size;

    while (p < end) {
        const uint8_t *nal;
        size_t len;
        if (annexb) { /* 00 00 01 starts a unit */
            while (p + 3 <= end && !(p[0] == 0 && p[1] == 0 && p[2] == 1))
                p++;
            if (p + 3 > end)
                break;
            nal = p + 3;
            len = (size_t)(end - nal);
            p = nal;
        } else { /* 4-byte lengths */
            if (end - p < 4)
                break;
            len = cv_get_be32(p);
            nal = p + 4;
            if (len > (size_t)(end - nal))
                break;
            p = nal + len;
        }
        if (len > 0) {
            int t = hevc ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f;
            if (hevc ? t == 19 || t == 20 : t == 5)
                return true;
        }
    }
    return false;
}
