/*
 * test_loop.c: a camera's queue between the readers and the writers (recorder/loop.h).
 *
 * What a camera loses when the disk falls behind is decided here: packets come out in the order
 * they went in; a full queue drops what comes until the next video keyframe that fits (so what
 * is lost ends at a keyframe and whole GOPs go, never a GOP's middle with its tail kept), counts
 * the frames, reports an episode's start once, and marks the keyframe after the hole.
 */
#include <stdlib.h>

#include "recorder/loop.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* A packet of `size` bytes whose first byte is `id`: stream 0 video (key) or 1 audio. */
static AVPacket *pkt_new(int stream, bool key, int size, uint8_t id)
{
    AVPacket *p = av_packet_alloc();

    if (!p || av_new_packet(p, size) < 0)
        abort();
    memset(p->data, 0, (size_t)size);
    p->data[0] = id;
    p->stream_index = stream;
    if (key)
        p->flags |= AV_PKT_FLAG_KEY;
    return p;
}

/* Pop one packet and check its id and mark; frees it. */
static void pop_check(struct rec_fq *q, uint8_t id, bool after_drop, int line)
{
    struct rec_fq_item it;

    if (!rec_fq_pop(q, &it)) {
        unit_fail(__FILE__, line, "queue empty, want packet %u", id);
        return;
    }
    if (it.pkt->data[0] != id || it.after_drop != after_drop || it.recv_us != 1000 * id)
        unit_fail(__FILE__, line, "got packet %u (after_drop %d, recv %lld), want %u (%d)",
                  it.pkt->data[0], it.after_drop, (long long)it.recv_us, id, after_drop);
    av_packet_free(&it.pkt);
}

void test_loop_queue_order(void)
{
    struct rec_fq q;
    struct rec_fq_item it;

    rec_fq_init(&q, 1u << 20, 4096);
    /* more than the ring's first size, so it grows while holding packets out of its start */
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(rec_fq_push(&q, pkt_new(i % 3 == 2, i % 10 == 0, 100, (uint8_t)i), 1000 * i),
                     REC_FQ_QUEUED);
    for (int i = 0; i < 30; i++)
        pop_check(&q, (uint8_t)i, false, __LINE__);
    for (int i = 50; i < 200; i++)
        CHECK_EQ_INT(rec_fq_push(&q, pkt_new(i % 3 == 2, i % 10 == 0, 100, (uint8_t)i), 1000 * i),
                     REC_FQ_QUEUED);
    CHECK_EQ_U64(q.bytes, 170 * 100);
    for (int i = 30; i < 200; i++)
        pop_check(&q, (uint8_t)i, false, __LINE__);
    CHECK(!rec_fq_pop(&q, &it));
    CHECK_EQ_U64(q.bytes, 0);
    CHECK_EQ_U64(q.dropped + q.dropped_other, 0);
    rec_fq_release(&q);
}

/* GOPs of a keyframe and 4 frames of 100 bytes; room for 10 frames. */
void test_loop_queue_overflow_whole_gops(void)
{
    struct rec_fq q;
    uint8_t id = 0;

    rec_fq_init(&q, 1000, 4096);
    for (int g = 0; g < 2; g++) /* GOPs 1 and 2 fill it */
        for (int f = 0; f < 5; f++, id++)
            CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, f == 0, 100, id), 1000 * id), REC_FQ_QUEUED);
    /* GOP 3's keyframe does not fit: the episode starts, once */
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 100, id), 1000 * id), REC_FQ_DROP_STARTED);
    id++;
    pop_check(&q, 0, false, __LINE__); /* the writer catches up on GOP 1 */
    pop_check(&q, 1, false, __LINE__);
    pop_check(&q, 2, false, __LINE__);
    /* there is room again, but GOP 3's frames and audio are dropped: no GOP without its head */
    for (int f = 1; f < 5; f++, id++)
        CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, false, 100, id), 1000 * id), REC_FQ_DROPPED);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(1, false, 10, id), 1000 * id), REC_FQ_DROPPED);
    id++;
    CHECK_EQ_U64(q.dropped, 5);
    CHECK_EQ_U64(q.dropped_other, 1);
    /* GOP 4's keyframe fits: queued, marked as the first after the hole */
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 100, id), 1000 * id), REC_FQ_QUEUED);
    id++;
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(1, false, 10, id), 1000 * id), REC_FQ_QUEUED);
    for (uint8_t i = 3; i < 10; i++) /* what was queued before the hole, in order */
        pop_check(&q, i, false, __LINE__);
    pop_check(&q, 16, true, __LINE__);
    pop_check(&q, 17, false, __LINE__);
    /* a second episode is reported again and counted on top */
    rec_fq_release(&q); /* (empty: nothing to free but the ring) */
    rec_fq_init(&q, 200, 4096);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 150, 40), 40000), REC_FQ_QUEUED);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, false, 100, 41), 41000), REC_FQ_DROP_STARTED);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 100, 42), 42000), REC_FQ_DROPPED);
    pop_check(&q, 40, false, __LINE__);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 100, 43), 43000), REC_FQ_QUEUED);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, false, 150, 44), 44000), REC_FQ_DROP_STARTED);
    CHECK_EQ_U64(q.dropped, 3);
    /* an empty queue takes a keyframe larger than its bound rather than stall for ever */
    pop_check(&q, 43, true, __LINE__);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 500, 45), 45000), REC_FQ_QUEUED);
    pop_check(&q, 45, true, __LINE__);
    rec_fq_release(&q);
}

/* The item bound holds as the byte bound does (many small audio frames). */
void test_loop_queue_item_bound(void)
{
    struct rec_fq q;

    rec_fq_init(&q, 1u << 20, 100);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(0, true, 10, 0), 0), REC_FQ_QUEUED);
    for (int i = 1; i < 100; i++)
        CHECK_EQ_INT(rec_fq_push(&q, pkt_new(1, false, 10, (uint8_t)i), 1000 * i), REC_FQ_QUEUED);
    CHECK_EQ_INT(rec_fq_push(&q, pkt_new(1, false, 10, 100), 100000), REC_FQ_DROP_STARTED);
    CHECK_EQ_U64(q.dropped_other, 1);
    CHECK_EQ_U64(q.n, 100);
    rec_fq_release(&q); /* frees the 100 queued packets (ASan/valgrind would see a leak) */
}
