/*
 * test_rtsp_recv.c: the own RTSP client's receive times (recorder/rtsp.h, rtsp_recv.c).
 *
 * A run's wall clock is the least delay between a frame's media time and its receive time, so a
 * receive time must be when the bytes came, not when a thread got round to reading them: data
 * left in a TCP socket on the loopback for a while is stamped with its arrival. The window in
 * which the kernel's stamp is believed is checked at its edges.
 */
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "recorder/rtsp.h"
#include "tests/unit/unit.h"
#include "common/cvtime.h"
#include "common/banned.h"

/* A connected loopback TCP pair: fds[0] reads, fds[1] writes. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) < 0)
        abort();
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)) < 0)
        abort();
    fds[1] = accept(l, NULL, NULL);
    if (fds[1] < 0)
        abort();
    close(l);
}

/*
 * Write a few bytes, wait until they are readable (they have come: *came is a time after that),
 * let them lie 20 ms, read them: their receive time into *when. The pause only makes the time of
 * the read differ from the arrival; nothing here depends on how long anything takes.
 */
static void send_wait_read(bool stamped, int64_t *sent, int64_t *came, int64_t *read_at,
                           int64_t *when)
{
    struct timespec lie = {0, 20 * 1000 * 1000};
    struct pollfd p = {.events = POLLIN};
    int64_t untouched = 42;
    char b[16];
    int fds[2];
    ssize_t n;

    tcp_pair(fds);
    p.fd = fds[0];
    if (stamped)
        rec_recv_stamp_on(fds[0]);
    *sent = cv_now_us();
    CHECK_EQ_INT(write(fds[1], "frame", 5), 5);
    CHECK_EQ_INT(poll(&p, 1, 10 * 1000), 1);
    *came = cv_now_us();
    nanosleep(&lie, NULL);
    *read_at = cv_now_us();
    *when = -1;
    n = rec_recv_stamped(fds[0], b, sizeof(b), 0, when);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_MEM(b, "frame", 5);
    /* nothing more there: no result, the time untouched */
    CHECK_EQ_INT(rec_recv_stamped(fds[0], b, sizeof(b), MSG_DONTWAIT, &untouched), -1);
    CHECK_EQ_INT(untouched, 42);
    close(fds[0]);
    close(fds[1]);
}

void test_rtsp_recv_stamped(void)
{
    int64_t sent, came, read_at, when;

    /* stamped: when the bytes came, before the read. The kernel stamps arriving packets only
     * while some socket wants stamps, and turns that on and off through deferred work, so with
     * each try's socket the only one, a packet could come between one socket's close and the
     * next one's wish and be unstamped (seen in 1 of 7 runs). A socket kept open asking for
     * stamps holds it on, as a recorder's many cameras do; a try may still come unstamped
     * before the kernel has turned it on, and is then dated as an unstamped read is. */
    int keeper = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(keeper >= 0);
    rec_recv_stamp_on(keeper);
    for (int tries = 1;; tries++) {
        send_wait_read(true, &sent, &came, &read_at, &when);
        if (when >= sent && when <= came)
            break; /* stamped */
        CHECK_MSG(when >= read_at,
                  "received %lld us after sending, %lld us before the read (came by %lld us)",
                  (long long)(when - sent), (long long)(read_at - when), (long long)(came - sent));
        CHECK_MSG(tries < 10, "%d reads of a stamped socket, none stamped by the kernel", tries);
        if (when < read_at || tries >= 10)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    close(keeper);
    /* a socket the kernel does not stamp: the time the read returned */
    send_wait_read(false, &sent, &came, &read_at, &when);
    CHECK_MSG(when >= read_at, "unstamped read dated %lld us before it was made",
              (long long)(read_at - when));
}

void test_rtsp_recv_time(void)
{
    const int64_t now = INT64_C(1796400000000000);
    static const struct {
        int64_t kernel_back; /* now - kernel stamp; INT64_MIN: no stamp */
        bool believed;
    } cases[] = {
        {INT64_MIN, false},               /* no stamp */
        {0, true},                        /* read as it came */
        {95 * 1000, true},                /* lay in the socket a read interval */
        {REC_RECV_AGE_MAX_US, true},      /* the oldest believed */
        {REC_RECV_AGE_MAX_US + 1, false}, /* older: a clock step between, taken for one */
        {-1, false},                      /* after now: the clock stepped back */
        {-120 * INT64_C(1000000), false}, /* a faked process clock 120 s behind */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t k = cases[i].kernel_back == INT64_MIN ? -1 : now - cases[i].kernel_back;
        int64_t want = cases[i].believed ? k : now;
        CHECK_MSG(rec_recv_time(now, k) == want, "case %zu: %lld, want %lld", i,
                  (long long)rec_recv_time(now, k), (long long)want);
    }
}
