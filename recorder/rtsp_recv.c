/*
 * rtsp_recv.c: when the bytes the own client reads came (see rtsp.h, "Receive times").
 *
 * The client reads its socket in large blocks (SO_RCVLOWAT, a 100-ms timeout, or an event
 * loop's timer tick), so the time a block is read is up to a read interval, plus however long
 * the reading thread waited for a core, after its bytes came. Frames were stamped with that
 * time, and the run's wall clock (camera.c: the least receive delay) then followed the phase
 * between our reads and the camera's frames: when the reads fell into step with the frames (an
 * event loop's reads 120 ms apart under load, three frames at 25 fps), a whole segment's least
 * delay rose by tens of ms, the run was re-anchored and a hole opened between two segments.
 * The kernel stamps each packet as it arrives (SO_TIMESTAMPNS; over TCP, recvmsg passes on the
 * stamp of the newest data it read, Linux 4.13 and later): that is the time used, whatever the
 * scheduling of the thread that reads. A block's last frame is thus stamped when it came; the
 * frames before it in the block, with that time too (later than they came), which the least
 * delay does not mind.
 */
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "recorder/rtsp.h"
#include "common/cvtime.h"
#include "common/banned.h"

void rec_recv_stamp_on(int fd)
{
    int one = 1;

    /* Without it (an old kernel) every read is stamped with the time it returned. */
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
}

int64_t rec_recv_time(int64_t now_us, int64_t kernel_us)
{
    if (kernel_us < 0 || kernel_us > now_us || now_us - kernel_us > REC_RECV_AGE_MAX_US)
        return now_us;
    return kernel_us;
}

ssize_t rec_recv_stamped(int fd, void *buf, size_t len, int flags, int64_t *when_us)
{
    union {
        char b[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, len};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
    int64_t kernel_us = -1;
    ssize_t n = recvmsg(fd, &m, flags);

    if (n <= 0)
        return n;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_TIMESTAMPNS &&
            h->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(h), sizeof(ts));
            kernel_us = (int64_t)ts.tv_sec * CV_US_PER_S + ts.tv_nsec / 1000;
        }
    }
    *when_us = rec_recv_time(cv_now_us(), kernel_us);
    return n;
}
