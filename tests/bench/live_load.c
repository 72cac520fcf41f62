/*
 * live_load.c: the load generator of tests/bench/live_viewers.py (issue 17) in C, so that the
 * generator, not the server, is no longer what limits 5,000 viewers on a 2-core machine.
 *
 * Usage: live-load --port P --cookie C --cameras K --first F --count N [--per-address A]
 *
 * Opens N connections to 127.0.0.1:P (at most 64 connects in flight; from 127.0.0.1, or with
 * --per-address A from 127.1.x.y, A viewers per address), viewer i (i = F ..
 * F+N-1) asking GET /api/v1/cameras/c{i % K + 1}/live.mp4 with the session cookie, and reads
 * every connection as fast as it delivers on one epoll loop, counting bytes (the bytes are not
 * kept). The driver speaks to it in lines, as to the asyncio generator it replaces:
 *
 *   stdout {"connected": N}         once every request is sent
 *   stdin  "mark"                   -> stdout {"marked": k}: each viewer's byte count noted
 *   after the second mark, "quit" or EOF on stdin:
 *   stdout {"cams": [...], "status": ["200", ...], "marks": [[...], [...]]}
 *
 * A connect refused or timed out is retried 20 times with a growing pause; a viewer that never
 * connects has status "" and counts 0 bytes. Errors on the command line: one line, exit 2.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define LOAD_INFLIGHT 64 /* connects in flight: do not flood the server's accept queue */
#define LOAD_RETRIES 20
#define LOAD_STDIN_TAG UINT64_MAX

enum load_state { LOAD_IDLE, LOAD_CONNECTING, LOAD_READING, LOAD_DONE };

struct load_viewer {
    int fd;
    enum load_state state;
    int cam;             /* 1-based camera number */
    int tries;           /* connect attempts so far */
    double retry_at;     /* monotonic seconds before which it is not retried */
    char status[4];      /* the answer's status code, "" before it */
    unsigned long long got;
};

struct load {
    int port, cameras, first, count, per_address;
    const char *cookie;
    struct load_viewer *v;
    unsigned long long *marks[2];
    int nmarks, inflight, next, sent, ep;
};

static double load_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int load_int(const char *flag, const char *s, int min)
{
    char *end;
    long x = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || x < min || x > 1000000) {
        fprintf(stderr, "live-load: %s '%s' is not a number >= %d\n", flag, s, min);
        exit(2);
    }
    return (int)x;
}

static int load_args(struct load *l, int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "live-load: %s needs a value\n", argv[i]);
            return -1;
        }
        if (strcmp(argv[i], "--port") == 0)
            l->port = load_int(argv[i], argv[i + 1], 1);
        else if (strcmp(argv[i], "--cookie") == 0)
            l->cookie = argv[i + 1];
        else if (strcmp(argv[i], "--cameras") == 0)
            l->cameras = load_int(argv[i], argv[i + 1], 1);
        else if (strcmp(argv[i], "--first") == 0)
            l->first = load_int(argv[i], argv[i + 1], 0);
        else if (strcmp(argv[i], "--count") == 0)
            l->count = load_int(argv[i], argv[i + 1], 1);
        else if (strcmp(argv[i], "--per-address") == 0)
            l->per_address = load_int(argv[i], argv[i + 1], 0);
        else {
            fprintf(stderr, "live-load: unknown option '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!l->port || !l->cookie || !l->cameras || !l->count) {
        fprintf(stderr, "live-load: --port, --cookie, --cameras and --count are needed\n");
        return -1;
    }
    return 0;
}

/* Viewer v's connection failed: close it; it is tried again a little later, LOAD_RETRIES times. */
static void load_retry(struct load_viewer *v)
{
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
    v->state = v->tries < LOAD_RETRIES ? LOAD_IDLE : LOAD_DONE;
    v->retry_at = load_now() + 0.2 * v->tries;
}

/* Viewer i's step so far went well (ok): wait for `events` on its socket (epoll_ctl op) in
 * state next and return true; or give the connection back for a retry and return false. */
static bool load_arm(struct load *l, int i, bool ok, int op, uint32_t events,
                     enum load_state next)
{
    struct load_viewer *v = &l->v[i];
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)i};

    if (!ok || epoll_ctl(l->ep, op, v->fd, &ev) < 0) {
        load_retry(v);
        return false;
    }
    v->state = next;
    return true;
}

/* Starts a non-blocking connect of viewer i; on an immediate failure it waits for a retry. */
/* With --per-address K, viewer n connects from 127.A.B.C, K viewers per address (as phones
 * would, each under the server's per-address limit); else from 127.0.0.1. */
static int load_bind(const struct load *l, int fd, int n)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    uint32_t j = (uint32_t)(n / (l->per_address ? l->per_address : 1));

    if (!l->per_address)
        return 0;
    src.sin_addr.s_addr = htonl(127u << 24 | (1 + j / 65024) << 16 | ((j / 254) % 256) << 8 |
                                (j % 254 + 1));
    return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

static void load_connect(struct load *l, int i)
{
    struct load_viewer *v = &l->v[i];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    bool ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v->tries++;
    v->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ok = v->fd >= 0 && load_bind(l, v->fd, l->first + i) == 0 &&
         (connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
    if (load_arm(l, i, ok, EPOLL_CTL_ADD, EPOLLOUT, LOAD_CONNECTING))
        l->inflight++;
}

/* The connect of viewer i finished: send the request, or give the connect back for a retry. */
static void load_connected(struct load *l, int i)
{
    struct load_viewer *v = &l->v[i];
    char req[512];
    int soerr = 0, n;
    socklen_t len = sizeof(soerr);
    bool ok;

    l->inflight--;
    n = snprintf(req, sizeof(req),
                 "GET /api/v1/cameras/c%d/live.mp4 HTTP/1.1\r\nHost: camvault\r\n"
                 "Cookie: cv_session=%s\r\n\r\n", v->cam, l->cookie);
    ok = getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0 &&
         n < (int)sizeof(req) && send(v->fd, req, (size_t)n, MSG_NOSIGNAL) == n;
    if (load_arm(l, i, ok, EPOLL_CTL_MOD, EPOLLIN, LOAD_READING))
        l->sent++;
}

static void load_read(struct load *l, int i)
{
    static char buf[256 * 1024];
    struct load_viewer *v = &l->v[i];
    ssize_t n = recv(v->fd, buf, sizeof(buf), 0);

    if (n > 0) {
        if (v->got == 0 && n >= 12)
            memcpy(v->status, buf + 9, 3);
        v->got += (unsigned long long)n;
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close(v->fd);
    v->fd = -1;
    v->state = LOAD_DONE;
}

/* Starts the connects that are due, at most LOAD_INFLIGHT at once. */
static void load_start_due(struct load *l)
{
    double now = load_now();

    for (int i = 0; i < l->count && l->inflight < LOAD_INFLIGHT; i++) {
        if (l->v[i].state == LOAD_IDLE && l->v[i].retry_at <= now)
            load_connect(l, i);
    }
}

static int load_pending(const struct load *l)
{
    for (int i = 0; i < l->count; i++) {
        if (l->v[i].state == LOAD_IDLE || l->v[i].state == LOAD_CONNECTING)
            return 1;
    }
    return 0;
}

static void load_report(const struct load *l)
{
    printf("{\"cams\": [");
    for (int i = 0; i < l->count; i++)
        printf("%s\"c%d\"", i ? ", " : "", l->v[i].cam);
    printf("], \"status\": [");
    for (int i = 0; i < l->count; i++)
        printf("%s\"%s\"", i ? ", " : "", l->v[i].status);
    printf("], \"marks\": [");
    for (int k = 0; k < l->nmarks; k++) {
        printf("%s[", k ? ", " : "");
        for (int i = 0; i < l->count; i++)
            printf("%s%llu", i ? ", " : "", l->marks[k][i]);
        printf("]");
    }
    printf("]}\n");
    fflush(stdout);
}

/* One line from the driver: returns 1 when the generator is to stop. */
static int load_command(struct load *l)
{
    char line[64];

    if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
        return 1;
    if (strncmp(line, "mark", 4) == 0 && l->nmarks < 2) {
        for (int i = 0; i < l->count; i++)
            l->marks[l->nmarks][i] = l->v[i].got;
        l->nmarks++;
        printf("{\"marked\": %d}\n", l->nmarks);
        fflush(stdout);
    }
    return l->nmarks == 2;
}

static int load_run(struct load *l)
{
    struct epoll_event evs[256], sev = {.events = EPOLLIN, .data.u64 = LOAD_STDIN_TAG};
    int said_connected = 0;

    setvbuf(stdin, NULL, _IONBF, 0); /* fgets must not read past the line epoll saw */
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, STDIN_FILENO, &sev) < 0) {
        fprintf(stderr, "live-load: epoll on stdin: %s\n", strerror(errno));
        return -1;
    }
    for (;;) {
        int n;

        load_start_due(l);
        if (!said_connected && !load_pending(l)) {
            printf("{\"connected\": %d}\n", l->sent);
            fflush(stdout);
            said_connected = 1;
        }
        n = epoll_wait(l->ep, evs, 256, 50);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "live-load: epoll_wait: %s\n", strerror(errno));
            return -1;
        }
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;

            if (tag == LOAD_STDIN_TAG) {
                if (load_command(l))
                    return 0;
            } else if (l->v[tag].state == LOAD_CONNECTING) {
                load_connected(l, (int)tag);
            } else if (l->v[tag].state == LOAD_READING) {
                load_read(l, (int)tag);
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct load l = {0};
    struct rlimit rl;
    int rc = 2;

    if (load_args(&l, argc, argv) < 0)
        return 2;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    l.v = calloc((size_t)l.count, sizeof(*l.v));
    l.marks[0] = calloc((size_t)l.count, sizeof(**l.marks));
    l.marks[1] = calloc((size_t)l.count, sizeof(**l.marks));
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!l.v || !l.marks[0] || !l.marks[1] || l.ep < 0) {
        fprintf(stderr, "live-load: %d viewers: out of memory or no epoll\n", l.count);
        goto out;
    }
    for (int i = 0; i < l.count; i++) {
        l.v[i].fd = -1;
        l.v[i].cam = (l.first + i) % l.cameras + 1;
    }
    if (load_run(&l) == 0) {
        load_report(&l);
        rc = 0;
    }
out:
    for (int i = 0; l.v && i < l.count; i++) {
        if (l.v[i].fd >= 0)
            close(l.v[i].fd);
    }
    if (l.ep >= 0)
        close(l.ep);
    free(l.marks[0]);
    free(l.marks[1]);
    free(l.v);
    return rc;
}
