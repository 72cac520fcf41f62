/*
 * cli/export.c: camvault export, verify, clip and snapshot.
 * Contracts in cli/cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/cvtime.h"
#include "exporter/clip.h"
#include "exporter/export.h"
#include "exporter/sealwait.h"
#include "exporter/verify.h"
#include "indexer/openseg.h"
#include "server/audit.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- export, verify ---- */

int cli_cmd_export(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "export"};
    const char *cams_s = NULL, *from_s = NULL, *to_s = NULL, *case_s = NULL, *out_s = NULL;
    const char *reason = NULL, *requester = NULL;
    const struct cli_opt opts[] = {
        {"--camera", true, &cams_s, NULL},
        {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},
        {"--case", true, &case_s, NULL},
        {"--out", true, &out_s, NULL},
        {"--reason", true, &reason, NULL},
        {"--requester", true, &requester, NULL},
        {NULL, false, NULL, NULL},
    };
    struct exp_request req = {0};
    struct exp_result res;
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    struct cv_buf custody;
    char root[PATH_MAX], list[1024], eid[32], target[1400], detail[1400];
    int rc;

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!cams_s || !from_s || !to_s || !case_s || !out_s)
        return cli_usage_error(cl.cmd, "expected --camera ID[,ID...] --from T --to T --case CASE "
                                       "--out FILE.zip");
    if (cli_parse_range(cl.cmd, from_s, to_s, &req.from_us, &req.to_us) < 0)
        return EXIT_USAGE;
    if (lay_id_check("case", case_s, &err) < 0)
        return cli_usage_error(cl.cmd, "%s", err.msg);
    if (cv_strlcpy(list, cams_s, sizeof(list)) < 0)
        return cli_usage_error(cl.cmd, "--camera list is too long");
    for (char *p = list, *comma; p; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (lay_id_check("camera", p, &err) < 0)
            return cli_usage_error(cl.cmd, "%s", err.msg);
        for (size_t i = 0; i < req.ncameras; i++)
            if (strcmp(req.cameras[i], p) == 0)
                return cli_usage_error(cl.cmd, "camera '%s' is named twice", p);
        if (req.ncameras == EXP_MAX_CAMERAS)
            return cli_usage_error(cl.cmd, "at most %d cameras", EXP_MAX_CAMERAS);
        req.cameras[req.ncameras++] = p;
    }
    req.case_id = case_s;
    req.reason = reason;
    req.requester = requester;
    req.operator_name = getenv("USER");
    req.out_path = out_s;
    req.progress = isatty(STDERR_FILENO);
    cv_buf_init(&custody, 16u << 20);
    rc = cli_open_index(&cl, root, &idx, &err);
    req.root = root;
    if (rc == 0)
        rc = exp_export_id(cv_now_us(), eid, &err);
    if (rc == 0) {
        /* The audit record comes first, so that the package's custody/ holds this export too. */
        char a[40], b[40];
        cv_time_format_utc(req.from_us, a, sizeof(a), 3);
        cv_time_format_utc(req.to_us, b, sizeof(b), 3);
        snprintf(target, sizeof(target), "export %s cameras %s %s..%s", eid, cams_s, a, b);
        snprintf(detail, sizeof(detail), "file %s; reason: %s; requester: %s", out_s,
                 reason ? reason : "", requester ? requester : "");
        rc = idx_begin(idx, true, &t, &err);
        if (rc == 0)
            rc = cli_audit(t, "export-start", target, case_s, detail, &err);
        if (rc == 0)
            rc = srv_audit_case_lines(t, case_s, &custody, &err);
        if (rc == 0 && !cv_buf_ok(&custody))
            rc = cv_errf(&err, CV_ELIMIT, "case '%s': audit history too long for custody/", case_s);
        if (rc == 0)
            rc = idx_commit(t, &err);
        else
            idx_abort(t);
        t = NULL;
    }
    if (rc == 0) {
        /* A range at the live edge: the recorder seals and signs it first (seconds). */
        int waited = 0;
        rc = exp_seal_wait(idx, root, req.cameras, req.ncameras, req.from_us, req.to_us,
                           EXP_SEAL_TIMEOUT_US, NULL, NULL, &waited, &err);
        if (rc == CV_ETIMEDOUT)
            fprintf(stderr, "camvault: warning: %s; exporting what is indexed\n", err.msg);
        else if (rc == 0 && waited && req.progress)
            fprintf(stderr, "live edge sealed and signed by the recorder\n");
        if (rc == CV_ETIMEDOUT)
            rc = 0;
    }
    if (rc == 0) {
        req.export_id = eid;
        req.custody = (const char *)custody.data;
        req.custody_len = custody.len;
        rc = exp_export(idx, &req, &res, &err);
        /* The outcome too: a failed export is part of the case's history. */
        if (idx_begin(idx, true, &t, NULL) == 0) {
            char done[CV_ERR_MAX + 64];
            if (rc == 0)
                snprintf(done, sizeof(done), "%zu segments, %llu bytes of footage, %zu files",
                         res.segments, (unsigned long long)res.bytes, res.files);
            else
                snprintf(done, sizeof(done), "%s", err.msg);
            if (cli_audit(t, rc == 0 ? "export-done" : "export-failed", target, case_s, done,
                          NULL) == 0)
                idx_commit(t, NULL);
            else
                idx_abort(t);
        }
    }
    idx_close(idx);
    cv_buf_release(&custody);
    if (rc < 0)
        return cli_fail(&err);
    printf("%s\n", out_s);
    printf("export %s: %zu cameras, %zu segments, %llu bytes of footage, %zu files\n", res.folder,
           req.ncameras, res.segments, (unsigned long long)res.bytes, res.files);
    return 0;
}

int cli_cmd_verify(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "verify"};
    struct cv_err err = {""};
    unsigned failed = 0;

    if (cli_parse_one(&cl, argc, argv, NULL, true,
                      "expected one package: verify FILE.zip [--json]"))
        return EXIT_USAGE;
    if (exp_verify(cl.pos[0], cl.json, stdout, &failed, &err) < 0) {
        fprintf(stderr, "camvault: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return failed ? 1 : 0;
}

/* ---- clip, snapshot ---- */

/* camvault clip CAMERA --from T --to T --out FILE.mp4: one working copy of every segment
 * overlapping the range, across runs (gaps between runs stay gaps in its timeline). */
int cli_cmd_clip(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "clip"};
    const char *from_s = NULL, *to_s = NULL, *out_s = NULL;
    const struct cli_opt opts[] = {
        {"--from", true, &from_s, NULL},
        {"--to", true, &to_s, NULL},
        {"--out", true, &out_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cli_reader r = {.err = {""}};
    struct idx_camera cam;
    struct exp_clip_sources src = {0};
    struct exp_clip *clip = NULL;
    char sha[65], a[48], b[48];
    uint8_t digest[32];
    int64_t from, to, first = 0, end = 0;
    int rc, fd = -1;

    if (cli_parse(&cl, argc, argv, opts, 1, true))
        return EXIT_USAGE;
    if (cl.npos != 1 || !from_s || !to_s || !out_s)
        return cli_usage_error(cl.cmd, "expected CAMERA --from T --to T --out FILE.mp4");
    if (cli_parse_range(cl.cmd, from_s, to_s, &from, &to) < 0)
        return EXIT_USAGE;
    rc = cli_reader_camera(&r, &cl, &cam);
    if (rc == 0)
        rc = exp_clip_sources_collect(r.t, r.root, &cam, from, to, &src, &r.err);
    cli_reader_close(&r);
    if (rc == 0 && src.truncated)
        rc = cv_errf(&r.err, CV_ELIMIT, "more than %d segments in the range; ask for a shorter one",
                     EXP_CLIP_SOURCES_MAX);
    if (rc == 0)
        rc = exp_clip_open(&clip, (const char *const *)src.paths, src.n, from, to, &r.err);
    if (rc == 0) {
        fd = open(out_s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            rc = cv_errf(&r.err, cv_errno_code(errno), "cannot create '%s': %s", out_s,
                         strerror(errno));
    }
    if (rc == 0)
        rc = exp_clip_write(clip, fd, digest, &r.err);
    if (rc == 0 && fsync(fd) < 0)
        rc = cv_errf(&r.err, CV_EIO, "cannot fsync '%s': %s", out_s, strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = cv_errf(&r.err, CV_EIO, "cannot write '%s': %s", out_s, strerror(errno));
    if (rc < 0 && fd >= 0)
        unlink(out_s);
    if (rc == 0) {
        exp_clip_times(clip, &first, &end);
        cv_hex(digest, 32, sha);
        if (cl.json) {
            struct cv_buf j;
            cv_buf_init(&j, 16u << 20);
            cv_buf_printf(&j, "{\"path\":");
            cv_json_str(&j, out_s);
            cv_buf_printf(&j, ",\"bytes\":%llu,\"sha256\":\"%s\",\"first_us\":%lld,"
                          "\"end_us\":%lld,\"origin_us\":%lld,\"sources\":[",
                          (unsigned long long)exp_clip_size(clip), sha, (long long)first,
                          (long long)end, (long long)exp_clip_origin_us(clip));
            for (size_t i = 0; i < exp_clip_source_count(clip); i++) {
                const struct exp_clip_source *s = exp_clip_source_at(clip, i);
                cv_buf_printf(&j, "%s{\"path\":", i ? "," : "");
                cv_json_str(&j, s->path);
                cv_buf_printf(&j, ",\"run_id\":%llu,\"offset\":%llu,\"bytes\":%llu,"
                              "\"fragments\":%u,\"first_us\":%lld,\"end_us\":%lld}",
                              (unsigned long long)s->run_id, (unsigned long long)s->offset,
                              (unsigned long long)s->bytes, s->fragments, (long long)s->first_us,
                              (long long)s->end_us);
            }
            cv_buf_printf(&j, "]}\n");
            fwrite(j.data, 1, j.len, stdout);
            cv_buf_release(&j);
        } else {
            cv_time_format_utc(first, a, sizeof(a), 3);
            cv_time_format_utc(end, b, sizeof(b), 3);
            printf("%s\nclip %s from %s to %s: %llu bytes from %zu segments, sha256 %s\n", out_s,
                   cam.id, a, b, (unsigned long long)exp_clip_size(clip),
                   exp_clip_source_count(clip), sha);
        }
    }
    exp_clip_free(clip);
    exp_clip_sources_release(&src);
    return rc < 0 ? cli_fail(&r.err) : 0;
}

/* camvault snapshot CAMERA --at T --out FILE.jpg */
int cli_cmd_snapshot(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "snapshot"};
    const char *at_s = NULL, *out_s = NULL;
    const struct cli_opt opts[] = {
        {"--at", true, &at_s, NULL},
        {"--out", true, &out_s, NULL},
        {NULL, false, NULL, NULL},
    };
    struct cli_reader r = {.err = {""}};
    struct idx_camera cam;
    struct idx_segment seg;
    struct cv_buf jpeg;
    char abs[PATH_MAX];
    uint64_t frag_off;
    int64_t at, frag_us;
    int rc;

    if (cli_parse(&cl, argc, argv, opts, 1, false))
        return EXIT_USAGE;
    if (cl.npos != 1 || !at_s || !out_s)
        return cli_usage_error(cl.cmd, "expected CAMERA --at T --out FILE.jpg");
    if (cv_time_parse(at_s, &at, &r.err) < 0)
        return cli_usage_error(cl.cmd, "%s", r.err.msg);
    cv_buf_init(&jpeg, 64u << 20);
    rc = cli_reader_camera(&r, &cl, &cam);
    if (rc == 0)
        rc = idx_locate_open(r.t, r.root, cam.num, at, &seg, &frag_off, &frag_us, &r.err);
    if (rc == CV_ENOENT)
        rc = cv_errf(&r.err, rc, "camera '%s': nothing recorded at %s", cam.id, at_s);
    cli_reader_close(&r);
    if (rc == 0)
        rc = lay_abs(r.root, seg.path, abs, sizeof(abs), &r.err);
    if (rc == 0)
        rc = exp_snapshot_jpeg(abs, at, &jpeg, &r.err);
    if (rc == 0)
        rc = cv_write_atomic(out_s, jpeg.data, jpeg.len, 0644, &r.err);
    if (rc == 0)
        printf("%s\n", out_s);
    cv_buf_release(&jpeg);
    return rc < 0 ? cli_fail(&r.err) : 0;
}
