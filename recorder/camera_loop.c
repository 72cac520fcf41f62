/*
 * camera_loop.c: a camera recorded through the readers and writers of loop.h, and the camera's
 * small accessors and its end (rec_int.h).
 *
 * The camera's thread opens the connection with the own client (camera.c, session_open), then
 * hands it to a reader and sleeps in rec_loop_record while a writer runs each packet through
 * rec_cam_packet, exactly as the thread itself would: the same cuts, hashing, fsync at close and
 * index records, one packet at a time in the order they came. When rec_loop_record returns, the
 * queue is written and no other thread touches the camera or its session any more: the camera's
 * thread ends the run (segment sealed and fsynced), naps and reconnects as before.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "recorder/camera_int.h"
#include "recorder/loop.h"
#include "common/banned.h"

struct cam_run {
    struct rec_cam *c;
    struct session *s;
};

static int run_write(void *ctx, AVPacket *pkt, int64_t recv_us, bool after_drop,
                     struct cv_err *err)
{
    struct cam_run *r = ctx;

    return rec_cam_packet(r->c, r->s, pkt, recv_us, after_drop, err);
}

static bool run_stop(void *ctx)
{
    struct rec_cam *c = ctx;

    return *c->gstop || atomic_load(&c->retire);
}

int rec_cam_loop(struct rec_cam *c, struct session *s, struct cv_err *err)
{
    struct cam_run r = {c, s};
    struct rec_loop_cam lc = {.name = c->cfg.id, .rtsp = s->rtsp, .write = run_write, .ctx = &r,
                              .stop = run_stop, .stop_ctx = c, .dropped = &c->dropped_queue,
                              .queue_bytes = c->rc->queue_bytes};

    return rec_loop_record(c->loop, &lc, err);
}

void rec_cam_retire(struct rec_cam *c)
{
    if (c)
        atomic_store(&c->retire, true);
}

bool rec_cam_done(const struct rec_cam *c)
{
    return atomic_load(&c->done);
}

const struct idx_camera *rec_cam_config(const struct rec_cam *c)
{
    return &c->cfg;
}

void rec_cam_free(struct rec_cam *c)
{
    if (!c)
        return;
    rec_cam_retire(c);
    pthread_join(c->thread, NULL);
    rec_pic_cam_free(c->pic);
    free(c);
}
