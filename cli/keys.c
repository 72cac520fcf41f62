/*
 * cli/keys.c: camvault keys show|import.
 * Contracts in cli/cli.h.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/audit.h"

#include "cli/cli.h"
#include "common/banned.h"

/* ---- keys ---- */

/* camvault keys import --key KEY.pem --cert CERT.pem --chain CHAIN.pem */
static int keys_import(struct cli_cmdline *cl, int argc, char **argv)
{
    const char *key = NULL, *cert = NULL, *chain = NULL;
    const struct cli_opt opts[] = {{"--key", true, &key, NULL},
                                   {"--cert", true, &cert, NULL},
                                   {"--chain", true, &chain, NULL},
                                   {NULL, false, NULL, NULL}};
    struct itg_key_info r, sgn;
    struct cv_err err = {""};
    struct idx *idx = NULL;
    struct idx_txn *t = NULL;
    char root[PATH_MAX], detail[600];
    int rc;

    if (cli_parse(cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!key || !cert || !chain)
        return cli_usage_error("keys import", "expected --key KEY.pem --cert CERT.pem --chain "
                                              "CHAIN.pem (intermediates, then the root)");
    rc = cli_open_index(cl, root, &idx, &err);
    if (rc == 0)
        rc = itg_keys_import(root, key, cert, chain, &err);
    if (rc == 0)
        rc = itg_keys_info(root, &r, &sgn, &err);
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "signing %s (%s), root %s (%s)", sgn.subject,
                 sgn.fingerprint, r.subject, r.fingerprint);
        rc = idx_begin(idx, true, &t, &err);
        if (rc == 0 && (rc = cli_audit(t, "keys-import", "site identity", NULL, detail, &err)) == 0)
            rc = idx_commit(t, &err);
        else
            idx_abort(t);
    }
    idx_close(idx);
    if (rc < 0)
        return cli_fail(&err);
    printf("imported: signing certificate %s\n  root %s\n  root SHA-256 fingerprint %s\n"
           "Restart the recorder so that it signs checkpoints with the new key; the old "
           "certificates are kept in keys/retired/.\n", sgn.subject, r.subject, r.fingerprint);
    return 0;
}

int cli_cmd_keys(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "keys"};
    const char *sub = cli_take_sub(&cl, "keys", "'show' or 'import'", &argc, argv);
    struct itg_key_info r, sgn;
    struct cv_err err = {""};
    char root[PATH_MAX];

    if (!sub)
        return EXIT_USAGE;
    if (strcmp(sub, "import") == 0)
        return keys_import(&cl, argc, argv);
    if (strcmp(sub, "show") != 0)
        return cli_usage_error("keys", "unknown subcommand '%s' (show, import)", sub);
    if (cli_parse(&cl, argc, argv, NULL, 0, true))
        return EXIT_USAGE;
    if (cli_resolve_root(&cl, root, &err) < 0 || lay_root_check(root, &err) < 0 ||
        itg_keys_info(root, &r, &sgn, &err) < 0)
        return cli_fail(&err);
    if (cl.json) {
        const struct itg_key_info *ki[2] = {&r, &sgn};
        struct cv_buf j;
        cv_buf_init(&j, 8192);
        for (int i = 0; i < 2; i++) {
            cv_buf_printf(&j, "%s\"subject\":", i ? "},\"signing\":{" : "{\"root\":{");
            cv_json_str(&j, ki[i]->subject);
            cv_buf_printf(&j, ",\"fingerprint_sha256\":");
            cv_json_str(&j, ki[i]->fingerprint);
            cv_buf_printf(&j, ",\"not_after\":");
            cv_json_str(&j, ki[i]->not_after);
        }
        cv_buf_printf(&j, "}}\n");
        fwrite(j.data, 1, j.len, stdout);
        cv_buf_release(&j);
        return 0;
    }
    printf("root certificate:    %s\n  SHA-256 fingerprint %s\n  valid %s to %s\n"
           "signing certificate: %s\n  SHA-256 fingerprint %s\n  valid %s to %s\n"
           "Publish the root fingerprint: anyone can then check signed checkpoints and exports.\n",
           r.subject, r.fingerprint, r.not_before, r.not_after, sgn.subject, sgn.fingerprint,
           sgn.not_before, sgn.not_after);
    return 0;
}
