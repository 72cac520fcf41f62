/*
 * srv.h: camvault's HTTP server (`camvault serve`) and the supervisor of `camvault run`.
 *
 * The server speaks the JSON API of docs/api.md under /api/v1 plus /healthz, /metrics and the
 * static web UI, on libmicrohttpd (a pool of threads polling all connections; hard limits on
 * connections in all and per address, on the time to send a request, on headers, bodies and
 * per-connection memory: server/guard.h), over HTTPS when given a certificate and key
 * (libmicrohttpd's GnuTLS). It opens the index read-write (LMDB allows the recorder to write at
 * the same time) and never touches recording: it can be stopped and restarted at any time.
 */
#ifndef SRV_SRV_H
#define SRV_SRV_H

#include <limits.h>
#include <stdbool.h>

#include "common/error.h"

#define SRV_DEFAULT_LISTEN "127.0.0.1:8080"

struct srv_config {
    char listen[128];   /* "ADDR:PORT" or "[V6ADDR]:PORT"; "" = SRV_DEFAULT_LISTEN */
    char cert[PATH_MAX]; /* PEM certificate (chain); "" = plain HTTP */
    char key[PATH_MAX];  /* PEM private key; given together with cert */
    char web[PATH_MAX];  /* static files; "" = server/web next to the binary's source tree */
    char exe[PATH_MAX];  /* the running binary (to find the default web directory) */
    unsigned exports_max_percent; /* camvault.conf: ROOT/exports' share of its disk; 0 = default */
    /* Connection limits (camvault.conf http_* keys, docs/operations.md); 0 = the default. */
    unsigned max_conns;         /* open connections in all (1024) */
    unsigned max_per_addr;      /* open connections from one client address (32) */
    unsigned threads;           /* threads serving requests (32) */
    unsigned request_timeout_s; /* to send a whole request, headers and body (10) */
    unsigned idle_timeout_s;    /* nothing moves on a connection this long: closed (30) */
    /* Footage requests per resident (camvault.conf request_open_max, request_cameras_max,
     * request_hours_max; 0 = the defaults of server/requests.h). */
    int request_open_max, request_cameras_max, request_hours_max;
    /* H.264 renditions (camvault.conf rendition_sessions_max, rendition_max_height; 0 = the
     * defaults: 2 sessions, 720 lines). */
    int rendition_sessions_max, rendition_max_height;
};

/*
 * A camvault.conf key of the footage-request limits into c (c NULL: only checked, for the
 * recorder, which reads the same file): 0 when it was one and is valid, 1 when the key is not
 * one of them, CV_EINVAL "request_open_max: expected a whole number from 1 to 100, not 'x'".
 */
int srv_request_conf(struct srv_config *c, const char *key, const char *value, struct cv_err *err);

/*
 * A camvault.conf key of the H.264 renditions into c (c NULL: only checked): 0 when it was one
 * and is valid, 1 when the key is not one of them, CV_EINVAL naming the key and the range.
 */
int srv_rendition_conf(struct srv_config *c, const char *key, const char *value,
                       struct cv_err *err);

/*
 * Apply camvault.conf setting key = value to c: 0 done; 1 not a server key (c unchanged);
 * CV_EINVAL for an unknown http_* key or a bad value (err names the key).
 */
int srv_config_set(struct srv_config *c, const char *key, const char *value, struct cv_err *err);

/*
 * Serve data root `root` until SIGTERM or SIGINT (the caller must not ignore them; this blocks
 * them in all threads and waits for them), then stop accepting, let running requests finish and
 * return 0. Errors before serving (bad listen address, port in use, unreadable certificate, TLS
 * not available, index not initialized) return their code with a one-line message.
 * Prints one line "camvault: serving http://ADDR:PORT/ ..." on stdout once listening.
 */
int srv_serve(const char *root, const struct srv_config *conf, struct cv_err *err);

/*
 * `camvault run`: run the two argument vectors (recorder and server, each argv[0] = the binary)
 * as child processes, restart whichever exits (after 1, 2, 4 ... up to 30 s; reset after 60 s of
 * running), and on SIGTERM/SIGINT stop both with SIGTERM (SIGKILL after 20 s) and return 0.
 */
int srv_supervise(char *const record_argv[], char *const serve_argv[], struct cv_err *err);

#endif
