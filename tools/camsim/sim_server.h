/*
 * sim_server.h: camsim's RTSP server: one thread, one epoll loop, many simulated cameras.
 *
 * The server accepts RTSP 1.0 connections on one TCP port and serves /<name>1 .. /<name>N, each
 * playing the same pre-packetized clip (sim_clip.h) in real time from the session's PLAY, over
 * TCP (interleaved) or UDP. It is built to carry 1,000+ sessions in one process: non-blocking
 * sockets, a 5 ms timerfd for pacing, per-packet work limited to copying a packet and rewriting
 * three header fields, one send() per connection per tick for TCP and sendmmsg() batches for
 * UDP. A client that cannot keep up fills its bounded output queue and is dropped; nobody else
 * waits for it.
 *
 * Thread rules: everything runs on the thread that calls sim_server_run.
 */
#ifndef CAMSIM_SIM_SERVER_H
#define CAMSIM_SIM_SERVER_H

#include <stddef.h>

#include "tools/camsim/sim_clip.h"
#include "tools/camsim/sim_config.h"

struct sim_server;

/*
 * Creates the server and binds its sockets: the RTSP listener on cfg->listen:cfg->port and an
 * even/odd UDP port pair for RTP/RTCP on the same address. cfg is copied. Returns 0 with *out
 * set, or -1 with err filled (e.g. "cannot listen on 127.0.0.1:8554: Address already in use").
 */
int sim_server_open(struct sim_server **out, const struct sim_config *cfg, char *err,
                    size_t errlen);

/*
 * Serves clip until SIGINT or SIGTERM arrives or cfg->duration seconds have passed, then closes
 * all sessions and writes the stats file one last time. The clip must outlive the call. Blocks
 * SIGINT and SIGTERM (delivered through a signalfd) and ignores SIGPIPE for the calling thread.
 * Returns 0 on a normal stop, -1 with err filled if the loop itself fails.
 */
int sim_server_run(struct sim_server *srv, const struct sim_clip *clip, char *err, size_t errlen);

/* Closes all sockets and frees the server. NULL-safe. */
void sim_server_close(struct sim_server *srv);

#endif
