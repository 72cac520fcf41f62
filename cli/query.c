/*
 * cli/query.c: camvault query.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cvtime.h"
#include "indexer/openseg.h"

#include "cli/cli.h"
#include "server/views.h"
#include "common/banned.h"

/* ---- query ---- */

struct query_item {
    bool is_gap;
    struct idx_segment seg;
    struct idx_gap gap;
};

struct query_acc {
    struct query_item *items;
    size_t n, cap;
    bool oom;
};

static struct query_item *acc_add(struct query_acc *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct query_item *p = realloc(a->items, cap * sizeof(*p));
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->items = p;
        a->cap = cap;
    }
    memset(&a->items[a->n], 0, sizeof(a->items[0]));
    return &a->items[a->n++];
}

static int acc_seg(void *ctx, const struct idx_segment *s)
{
    struct query_item *it = acc_add(ctx);

    if (!it)
        return CV_ENOMEM;
    it->seg = *s;
    return 0;
}

static int acc_gap(void *ctx, const struct idx_gap *g)
{
    struct query_item *it = acc_add(ctx);

    if (!it)
        return CV_ENOMEM;
    it->is_gap = true;
    it->gap = *g;
    return 0;
}

static int64_t item_start(const struct query_item *it)
{
    return it->is_gap ? it->gap.start_us : it->seg.start_us;
}

static int item_cmp(const void *a, const void *b)
{
    int64_t x = item_start(a), y = item_start(b);
    return x < y ? -1 : x > y;
}

/* The open segment in --json: what a reader can use now; no hash or chain link yet. */
static void open_json(struct cv_buf *out, const struct idx_segment *s)
{
    cv_buf_u8(out, '{');
    cv_json_time(out, "start", s->start_us);
    cv_buf_u8(out, ',');
    cv_json_time(out, "end", s->end_us);
    cv_buf_printf(out, ",\"path\":");
    cv_json_str(out, s->path);
    cv_buf_printf(out, ",\"bytes\":%llu,\"frames\":%u,\"keyframes\":%u,\"fragments\":%u,"
                  "\"video\":", (unsigned long long)s->bytes, s->frames, s->keyframes,
                  s->fragments);
    cv_json_str(out, s->video);
    cv_buf_printf(out, ",\"audio\":");
    cv_json_str(out, s->audio);
    cv_buf_printf(out, ",\"run_id\":%llu,\"run_seq\":%u}", (unsigned long long)s->run_id,
                  s->run_seq);
}

int cli_cmd_query(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "query"};
    const char *from_s = NULL, *to_s = NULL;
    const struct cli_opt opts[] = {
        {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cli_reader r = {.err = {""}};
    struct idx_camera cam;
    struct query_acc acc = {0};
    struct idx_hold *holds = NULL;
    struct idx_segment open;
    bool has_open = false;
    size_t nholds = 0;
    int64_t from, to;
    struct cv_buf out;
    int rc;

    if (cli_parse_one(&cl, argc, argv, opts, true,
                      "expected one camera id: query CAMERA --from T --to T"))
        return EXIT_USAGE;
    if (!from_s || !to_s)
        return cli_usage_error(cl.cmd, "missing --from or --to (RFC 3339 or @UNIXSECONDS)");
    if (cli_parse_range(cl.cmd, from_s, to_s, &from, &to) < 0)
        return EXIT_USAGE;
    rc = cli_reader_camera(&r, &cl, &cam);
    if (rc == 0)
        rc = idx_segment_iter(r.t, cam.num, from, to, acc_seg, &acc, &r.err);
    if (rc == 0) /* the segment being written, up to its newest complete fragment */
        has_open = idx_open_segment_in(r.t, r.root, cam.num, from, to, &open, NULL) == 0;
    if (rc == 0)
        rc = idx_gap_iter(r.t, cam.num, from, to, acc_gap, &acc, &r.err);
    if (rc == 0)
        rc = idx_hold_list(r.t, &holds, &nholds, &r.err);
    cli_reader_close(&r);
    if (rc == 0 && acc.oom)
        rc = cv_errf(&r.err, CV_ENOMEM, "out of memory listing camera '%s'", cam.id);
    if (rc < 0) {
        free(acc.items);
        free(holds);
        return cli_fail(&r.err);
    }
    if (acc.n > 1) /* acc.items is NULL when empty: qsort(NULL, 0) is undefined */
        qsort(acc.items, acc.n, sizeof(acc.items[0]), item_cmp);
    cv_buf_init(&out, 1u << 30);
    if (cl.json) {
        size_t nseg = 0;
        cv_buf_printf(&out, "{\"camera\":");
        cv_json_str(&out, cam.id);
        cv_buf_u8(&out, ',');
        cv_json_time(&out, "from", from);
        cv_buf_u8(&out, ',');
        cv_json_time(&out, "to", to);
        cv_buf_printf(&out, ",\"segments\":[");
        for (size_t i = 0; i < acc.n; i++) {
            const struct idx_segment *s = &acc.items[i].seg;
            char sha[65], chain[65];
            if (acc.items[i].is_gap)
                continue;
            cv_hex(s->sha256, 32, sha);
            cv_hex(s->chain, 32, chain);
            cv_buf_printf(&out, "%s{", nseg++ ? "," : "");
            cv_json_time(&out, "start", s->start_us);
            cv_buf_u8(&out, ',');
            cv_json_time(&out, "end", s->end_us);
            cv_buf_printf(&out, ",\"path\":");
            cv_json_str(&out, s->path);
            cv_buf_printf(&out,
                          ",\"bytes\":%llu,\"frames\":%u,\"keyframes\":%u,\"audio_frames\":%u,"
                          "\"fragments\":%u,\"video\":",
                          (unsigned long long)s->bytes, s->frames, s->keyframes, s->audio_frames,
                          s->fragments);
            cv_json_str(&out, s->video);
            cv_buf_printf(&out, ",\"audio\":");
            cv_json_str(&out, s->audio);
            cv_buf_printf(&out,
                          ",\"sha256\":\"%s\",\"chain\":\"%s\",\"run_id\":%llu,\"run_seq\":%u,"
                          "\"recovered\":%s,\"durable\":%s,\"shifted\":%s",
                          sha, chain, (unsigned long long)s->run_id, s->run_seq,
                          s->flags & IDX_SEG_RECOVERED ? "true" : "false",
                          s->flags & IDX_SEG_NOT_DURABLE ? "false" : "true",
                          s->flags & IDX_SEG_SHIFTED ? "true" : "false");
            if (s->flags & IDX_SEG_SHIFTED) {
                cv_buf_u8(&out, ',');
                cv_json_time(&out, "received_start", s->recv_start_us);
            }
            cv_buf_u8(&out, '}');
        }
        cv_buf_printf(&out, "],\"open\":");
        if (has_open)
            open_json(&out, &open);
        else
            cv_buf_printf(&out, "null");
        cv_buf_printf(&out, ",\"gaps\":[");
        nseg = 0;
        for (size_t i = 0; i < acc.n; i++) {
            const struct idx_gap *g = &acc.items[i].gap;
            if (!acc.items[i].is_gap)
                continue;
            cv_buf_printf(&out, "%s{", nseg++ ? "," : "");
            cv_json_time(&out, "start", g->start_us);
            cv_buf_u8(&out, ',');
            cv_json_time(&out, "end", g->end_us);
            cv_buf_printf(&out, ",\"reason\":\"%s\",\"detail\":", idx_gap_reason_name(g->reason));
            cv_json_str(&out, g->detail);
            cv_buf_u8(&out, '}');
        }
        cv_buf_printf(&out, "],\"holds\":[");
        nseg = 0;
        for (size_t i = 0; i < nholds; i++) {
            if (!idx_hold_touches(&holds[i], cam.id, from, to))
                continue;
            cv_buf_printf(&out, "%s", nseg++ ? "," : "");
            srv_hold_json(&out, &holds[i]);
        }
        cv_buf_printf(&out, "]}\n");
    } else {
        char a[48], b[48], l[48];
        cv_time_format_utc(from, a, sizeof(a), 0);
        cv_time_format_utc(to, b, sizeof(b), 0);
        cv_time_format_local(from, l, sizeof(l), 0);
        cv_buf_printf(&out, "camera %s from %s to %s (local %s)\n", cam.id, a, b, l);
        for (size_t i = 0; i < acc.n; i++) {
            const struct query_item *it = &acc.items[i];
            int64_t s = item_start(it), e = it->is_gap ? it->gap.end_us : it->seg.end_us;
            cv_time_format_utc(s, a, sizeof(a), 3);
            cv_time_format_utc(e, b, sizeof(b), 3);
            cv_time_format_local(s, l, sizeof(l), 3);
            if (it->is_gap)
                cv_buf_printf(&out, "gap      %s  %s  %9.3fs  local %s  %s: %s\n", a, b,
                              (double)(e - s) / 1e6, l, idx_gap_reason_name(it->gap.reason),
                              it->gap.detail);
            else
                cv_buf_printf(&out, "segment  %s  %s  %9.3fs  local %s  %6u frames %8.1f kB  %s%s\n",
                              a, b, (double)(e - s) / 1e6, l, it->seg.frames,
                              (double)it->seg.bytes / 1e3, it->seg.path,
                              it->seg.flags & IDX_SEG_RECOVERED ? "  (recovered)" : "");
            if (!it->is_gap && (it->seg.flags & IDX_SEG_SHIFTED)) {
                cv_time_format_utc(it->seg.recv_start_us, a, sizeof(a), 3);
                cv_buf_printf(&out, "         shifted: received at %s by the recorder's clock\n",
                              a);
            }
        }
        for (size_t i = 0; i < nholds; i++) {
            if (!idx_hold_touches(&holds[i], cam.id, from, to))
                continue;
            cv_time_format_utc(holds[i].from_us, a, sizeof(a), 3);
            cv_time_format_utc(holds[i].to_us, b, sizeof(b), 3);
            cv_time_format_local(holds[i].from_us, l, sizeof(l), 3);
            cv_buf_printf(&out, "hold     %s  %s  %9.3fs  local %s  hold %llu case %s (%s)%s\n", a,
                          b, (double)(holds[i].to_us - holds[i].from_us) / 1e6, l,
                          (unsigned long long)holds[i].id, holds[i].case_id,
                          holds[i].released_us ? "released" : "active",
                          holds[i].why[0] ? "" : "");
        }
        if (has_open) {
            cv_time_format_utc(open.start_us, a, sizeof(a), 3);
            cv_time_format_utc(open.end_us, b, sizeof(b), 3);
            cv_time_format_local(open.start_us, l, sizeof(l), 3);
            cv_buf_printf(&out, "open     %s  %s  %9.3fs  local %s  %6u frames %8.1f kB  %s  "
                          "(recording now: up to its newest complete fragment)\n",
                          a, b, (double)(open.end_us - open.start_us) / 1e6, l, open.frames,
                          (double)open.bytes / 1e3, open.path);
        }
        if (acc.n == 0 && !has_open)
            cv_buf_printf(&out, "nothing recorded in this range\n");
    }
    free(acc.items);
    free(holds);
    return cli_write_out(&out, "query: output too large; ask for a shorter range");
}
