/*
 * camsim.c: main() of the RTSP camera simulator used by camvault's tests, demo and benchmarks.
 *
 * Order matters for the callers: flags are checked first (exit 2 on a bad one), then the RTSP
 * port is bound (exit 1 if taken, before any slow work), then the media is generated or loaded,
 * and only then the ready line is printed and flushed, so a test that waits for it can connect
 * at once. Exit status 0 after SIGINT, SIGTERM or --duration.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "tools/camsim/sim_clip.h"
#include "tools/camsim/sim_config.h"
#include "tools/camsim/sim_server.h"

#include "common/banned.h"

int main(int argc, char **argv)
{
    struct sim_config cfg;
    struct sim_server *srv = NULL;
    struct sim_clip *clip = NULL;
    char err[1024];
    int rc;
    sigset_t stop_signals;

    /* Block SIGINT/SIGTERM before anything else runs, so that every thread any library starts
     * inherits the block and the signals are only ever taken from the server's signalfd: a
     * SIGTERM landing in an unblocked thread killed camsim (exit -15) about once in 30 starts. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    rc = sim_config_parse(&cfg, argc, argv, err, sizeof(err));
    if (rc == SIM_CONFIG_HELP) {
        sim_config_usage(stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "camsim: %s\n", err);
        return 2;
    }
    rc = 1;
    if (sim_server_open(&srv, &cfg, err, sizeof(err)) != 0 ||
        sim_clip_open(&clip, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "camsim: %s\n", err);
        goto out;
    }
    printf("camsim: serving %d cameras on rtsp://%s:%d/%s1..%s%d\n", cfg.cameras, cfg.listen,
           cfg.port, cfg.name, cfg.name, cfg.cameras);
    fflush(stdout);
    if (sim_server_run(srv, clip, err, sizeof(err)) != 0) {
        fprintf(stderr, "camsim: %s\n", err);
        goto out;
    }
    rc = 0;
out:
    sim_server_close(srv);
    sim_clip_close(clip);
    return rc;
}
