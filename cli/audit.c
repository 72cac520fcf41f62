/*
 * cli/audit.c: camvault audit.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/cvtime.h"
#include "server/audit.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- audit ---- */

struct audit_print {
    bool json;
    size_t n;
};

static int audit_print(void *ctx, const struct itg_audit_rec *r)
{
    struct audit_print *ap = ctx;
    struct cv_buf b;
    char ts[48];

    cv_buf_init(&b, 64 * 1024);
    if (ap->json) {
        cv_buf_printf(&b, "%s", ap->n ? "," : "");
        srv_audit_json(&b, r);
    } else {
        cv_time_format_utc(r->time_us, ts, sizeof(ts), 3);
        cv_buf_printf(&b, "%6llu %s %s (%s) %s %s", (unsigned long long)r->seq, ts,
                      r->user[0] ? r->user : "-", r->role, r->action, r->target);
        if (r->case_id[0])
            cv_buf_printf(&b, " case %s", r->case_id);
        if (r->detail[0])
            cv_buf_printf(&b, ": %s", r->detail);
        cv_buf_u8(&b, '\n');
    }
    fwrite(b.data, 1, b.len, stdout);
    cv_buf_release(&b);
    ap->n++;
    return 0;
}

/*
 * `camvault audit --verify`: the hash chain, then the log against the head the newest signed
 * checkpoint holds (integrity/checkpoint.h), so that records deleted from the end are caught.
 * A checkpoint from an older camvault (no audit line), or none yet, is said, not failed.
 */
static int audit_verify(struct idx_txn *t, const char *root, bool json, struct cv_err *err)
{
    struct itg_cp_audit cp = {0};
    struct cv_buf b;
    char note[160] = "";
    uint64_t n = 0, bad = 0;
    int rc = itg_audit_verify_signed(t, root, &n, &bad, &cp, err);

    if (rc == 0 && !cp.cp_seq)
        snprintf(note, sizeof(note), "no signed checkpoint yet: the log's end is not signed");
    else if (rc == 0 && !cp.has_audit)
        snprintf(note, sizeof(note), "checkpoint %llu has no audit head (written by an older "
                 "camvault): the log's end is not signed yet", (unsigned long long)cp.cp_seq);
    cv_buf_init(&b, 4096);
    if (rc == 0 && json) {
        cv_buf_printf(&b, "{\"ok\":true,\"records\":%llu", (unsigned long long)n);
        if (cp.cp_seq && cp.has_audit)
            cv_buf_printf(&b, ",\"checkpoint\":%llu,\"signed_seq\":%llu",
                          (unsigned long long)cp.cp_seq, (unsigned long long)cp.seq);
        if (note[0]) {
            cv_buf_printf(&b, ",\"note\":");
            cv_json_str(&b, note);
        }
        cv_buf_printf(&b, "}\n");
    } else if (rc == 0) {
        cv_buf_printf(&b, "audit log: %llu records, hash chain intact", (unsigned long long)n);
        if (cp.cp_seq && cp.has_audit)
            cv_buf_printf(&b, "; checkpoint %llu signs record %llu", (unsigned long long)cp.cp_seq,
                          (unsigned long long)cp.seq);
        if (note[0])
            cv_buf_printf(&b, "; %s", note);
        cv_buf_u8(&b, '\n');
    } else if (rc == CV_ECORRUPT && json) {
        /* the chain broke at first_bad_seq, or it holds but not up to the signed head */
        cv_buf_printf(&b, "{\"ok\":false,\"records\":%llu", (unsigned long long)n);
        if (bad)
            cv_buf_printf(&b, ",\"first_bad_seq\":%llu}\n", (unsigned long long)bad);
        else
            cv_buf_printf(&b, ",\"checkpoint\":%llu,\"signed_seq\":%llu}\n",
                          (unsigned long long)cp.cp_seq, (unsigned long long)cp.seq);
    }
    fwrite(b.data, 1, b.len, stdout);
    cv_buf_release(&b);
    return rc;
}

int cli_cmd_audit(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "audit"};
    const char *cs = NULL, *since = NULL;
    bool verify = false;
    const struct cli_opt opts[] = {{"--case", true, &cs, NULL},
                                   {"--since", true, &since, NULL},
                                   {"--verify", false, NULL, &verify},
                                   {NULL, false, NULL, NULL}};
    struct srv_audit_filter f = {0};
    struct audit_print ap = {0};
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX];
    int rc;

    if (cli_parse(&cl, argc, argv, opts, 0, true))
        return EXIT_USAGE;
    if (since && cv_time_parse(since, &f.since_us, &err) < 0)
        return cli_usage_error(cl.cmd, "--since: %s", err.msg);
    if (verify && (cs || since))
        return cli_usage_error(cl.cmd, "--verify checks the whole chain: no --case or --since");
    f.case_id = cs;
    rc = cli_read_begin(&cl, root, &idx, &t, &err);
    if (rc == 0 && verify) {
        rc = audit_verify(t, root, cl.json, &err);
    } else if (rc == 0) {
        ap.json = cl.json;
        if (cl.json)
            printf("[");
        rc = srv_audit_iter(t, &f, audit_print, &ap, &err);
        if (cl.json)
            printf("]\n");
    }
    cli_close_index(idx, t);
    return rc < 0 ? cli_fail(&err) : 0;
}
