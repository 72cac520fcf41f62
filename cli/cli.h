/*
 * cli/cli.h: the command line of camvault. camvault.c holds main() and the command table; each
 * command family lives in one file of cli/ (cli/camera.c, cli/record.c, ...) and exports only its
 * cli_cmd_* entry points; the helpers every command shares are in cli/common.c. Nothing outside the
 * camvault program includes this header (cli/ is the top of the dependency graph).
 *
 * Every command returns the process's exit status: 0 success, 1 failure, 2 bad usage
 * (EXIT_USAGE). Errors are one line on stderr: "camvault: <what>: <cause>" for failures,
 * "camvault <command>: <what> (see 'camvault help')" for bad usage.
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "indexer/idx.h"

#define EXIT_USAGE 2
#define CLI_MAX_POS 8

/* One option a command accepts. */
struct cli_opt {
    const char *name;  /* "--url" */
    bool takes_value;
    const char **value; /* for options with a value */
    bool *flag;         /* for flags */
};

/* One parsed command line. */
struct cli_cmdline {
    const char *cmd; /* "camera add", for messages */
    char name[48];   /* storage for cmd when it is built from a subcommand */
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *root;
    bool json;
};

/* Work done inside one write transaction of the index. */
typedef int (*cli_txn_fn)(struct idx_txn *t, void *ctx, struct cv_err *err);

/* ---- shared helpers (cli/common.c) ---- */

/* Print "camvault CMD: <fmt...> (see 'camvault help')" on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether url cannot be a camera's URL; if so, says why on stderr (the URL without secrets). */
bool cli_bad_url(const char *cmd, const char *url);

/* Print err as "camvault: <msg>" on stderr; returns 1. */
int cli_fail(const struct cv_err *err);

/*
 * Parse argv against `opts` (a {NULL} terminated table, plus --root and, when json_ok, --json).
 * Positional arguments go to cl->pos, at most `maxpos`. Returns 0 or EXIT_USAGE after printing
 * one line.
 */
int cli_parse(struct cli_cmdline *cl, int argc, char **argv, const struct cli_opt *opts, int maxpos,
              bool json_ok);

/*
 * cli_parse for a command of exactly one operand: with none or more, prints the usage line
 * `expected` ("expected one camera id: ...") and returns EXIT_USAGE; else as cli_parse.
 */
int cli_parse_one(struct cli_cmdline *cl, int argc, char **argv, const struct cli_opt *opts,
                  bool json_ok, const char *expected);

/* The data root (--root, else $CAMVAULT_ROOT, else ./camvault-data) into root[PATH_MAX]. */
int cli_resolve_root(struct cli_cmdline *cl, char *root, struct cv_err *err);

/* Open the index of an initialized root into root[PATH_MAX] (read-only work still uses this). */
int cli_open_index(struct cli_cmdline *cl, char *root, struct idx **idx, struct cv_err *err);

/* cli_open_index, then a read transaction into *t (*t stays NULL when either fails). */
int cli_read_begin(struct cli_cmdline *cl, char *root, struct idx **idx, struct idx_txn **t,
                   struct cv_err *err);
/* cli_read_begin, then the camera the first operand names into *cam (CV_ENOENT: "unknown
 * camera"); close with cli_close_index whether it failed or not. */
int cli_read_camera(struct cli_cmdline *cl, char *root, struct idx **idx, struct idx_txn **t,
                    struct idx_camera *cam, struct cv_err *err);
/* Abort t (NULL-safe: done when it was committed) and close idx (NULL-safe). */
void cli_close_index(struct idx *idx, struct idx_txn *t);

/* Open the index of the command's data root, run fn in a write transaction, commit it (abort
 * it when fn fails), close. Every command that changes the index goes through here. */
int cli_with_index(struct cli_cmdline *cl, cli_txn_fn fn, void *ctx, struct cv_err *err);

/* The OS user running this command: the `user` of the command line's audit records. */
const char *cli_os_user(void);

/* --from and --to of a command: both times parse (RFC 3339 or @UNIXSECONDS) and to is after
 * from; else one usage line (printed) and -1. */
int cli_parse_range(const char *cmd, const char *from_s, const char *to_s, int64_t *from,
                    int64_t *to);

/* Record a configuration or hold change made from the command line, in the change's own write
 * transaction (so both commit or neither does). */
int cli_audit(struct idx_txn *t, const char *action, const char *target, const char *case_id,
              const char *detail, struct cv_err *err);

/*
 * Find and remove the subcommand word of "COMMAND [--root R] SUB ...": global options may come
 * before it. On success cl->cmd becomes "COMMAND SUB" (kept in cl's name buffer) and the word is
 * returned; *argc shrinks by one. Without one, prints "expected <subs>" and returns NULL.
 */
const char *cli_take_sub(struct cli_cmdline *cl, const char *command, const char *subs, int *argc,
                         char **argv);

/* A listing command's read of the index: the data root, the open index, its read transaction. */
struct cli_reader {
    char root[PATH_MAX];
    struct idx *idx;
    struct idx_txn *t;
    struct cv_err err;
};

/*
 * The start of a listing command that takes no operand and no option but --root and --json:
 * parse argv, open the index of the root and begin a read transaction, into *r. Returns 0 (end
 * with cli_reader_close), or the exit status to return: EXIT_USAGE, or 1 after printing the
 * failure (r is closed then).
 */
int cli_list_begin(struct cli_reader *r, struct cli_cmdline *cl, int argc, char **argv);

/*
 * A listing command whose items come from one read (area list, user list, hold list):
 * cli_list_begin, list() (out is a T ** passed as void *: a malloc'd array of n items), the
 * reader closed, then to stdout, with --json, a JSON array of json(b, item) and a newline; else
 * the heading line (none when NULL) and row(b, item) for each item. Returns the exit status
 * (1 and "camvault: <cl->cmd>: output too large" past 64 MiB of output).
 */
struct cli_listing {
    int (*list)(struct idx_txn *t, void *out, size_t *n, struct cv_err *err);
    size_t size; /* of an item */
    void (*json)(struct cv_buf *b, const void *item);
    const char *heading;
    void (*row)(struct cv_buf *b, const void *item);
};
int cli_run_listing(struct cli_cmdline *cl, int argc, char **argv, const struct cli_listing *l);
/* A listing's list and json made from a kind's typed functions, as static functions `name`:
 *   CLI_LIST_OF(name, fn): fn is int fn(struct idx_txn *, T **, size_t *, struct cv_err *);
 *   CLI_JSON_OF(name, fn): fn is void fn(struct cv_buf *, const T *). */
#define CLI_LIST_OF(name, fn)                                                                      \
    static int name(struct idx_txn *t, void *out, size_t *n, struct cv_err *err)                   \
    {                                                                                              \
        return fn(t, out, n, err);                                                                 \
    }
#define CLI_JSON_OF(name, fn)                                                                      \
    static void name(struct cv_buf *b, const void *item)                                           \
    {                                                                                              \
        fn(b, item);                                                                               \
    }

/* cli_read_camera into *r: the root, its index, a read transaction and the camera the first
 * operand names (CV_ENOENT "unknown camera"), or the error in r->err; close r with
 * cli_reader_close whether it failed or not. */
int cli_reader_camera(struct cli_reader *r, struct cli_cmdline *cl, struct idx_camera *cam);

/* Abort r's transaction and close its index (NULL-safe: closing twice is harmless). */
void cli_reader_close(struct cli_reader *r);

/* Close r after its one read, whose result is rc (0 or a CV_E* code with r->err filled): the
 * exit status, 0, or 1 after printing r->err. */
int cli_reader_end(struct cli_reader *r, int rc);

/* One subcommand of a command family: its word, and what runs it (cl->cmd is "COMMAND SUB"). */
struct cli_sub {
    const char *name;
    int (*run)(struct cli_cmdline *cl, int argc, char **argv);
};

/*
 * Run the subcommand of "COMMAND [--root R] SUB ...": take its word (cli_take_sub; without one,
 * "expected a, b or c") and run its entry of `subs` (a {NULL} terminated table, in the order the
 * messages list them); an unknown word is one usage line "unknown subcommand 'X' (a, b, c)".
 * Returns the subcommand's exit status.
 */
int cli_run_sub(const char *command, const struct cli_sub *subs, int argc, char **argv);

/* Write `out` to stdout and release it; returns 0. When out overflowed its limit, prints
 * "camvault: <too_large>" instead and returns 1. */
int cli_write_out(struct cv_buf *out, const char *too_large);

/* A change to one camera's record: `apply` edits the record read from the index. */
struct cli_camera_change {
    const char *id;
    void (*apply)(struct idx_camera *c, const void *arg);
    const void *arg;
    const char *volume; /* must exist when set */
    const char *area;   /* must exist when set and not "" (issue 13; "" clears it) */
    const char *action; /* for the audit record: "camera-edit", "retention-set", ... */
    char detail[128];
    struct idx_camera result;
};

/* with_index work (ctx: struct cli_camera_change): read camera ch->id, check ch->volume exists,
 * apply the change, write it back into ch->result, and audit it as ch->action (cli/camera.c;
 * `camera edit|enable|disable` and `retention set` use it). */
int cli_camera_change_txn(struct idx_txn *t, void *ctx, struct cv_err *err);

/* ---- the commands: argc/argv are the words after the command's name ---- */

/* ROOT/camvault.conf's gb_ keys (cli/record.c): the camera commands show derived channel IDs. */
struct gb_config;
int cli_gb_config(const char *root, struct gb_config *out, struct cv_err *err);

int cli_cmd_init(int argc, char **argv);      /* cli/init.c */
int cli_cmd_camera(int argc, char **argv);    /* cli/camera.c */
int cli_cmd_record(int argc, char **argv);    /* cli/record.c */
int cli_cmd_serve(int argc, char **argv);     /* cli/record.c */
int cli_cmd_run(int argc, char **argv);       /* cli/record.c */
int cli_cmd_query(int argc, char **argv);     /* cli/query.c */
int cli_cmd_volume(int argc, char **argv);    /* cli/retention.c */
int cli_cmd_retention(int argc, char **argv); /* cli/retention.c */
int cli_cmd_hold(int argc, char **argv);      /* cli/hold.c */
int cli_cmd_fsck(int argc, char **argv);      /* cli/fsck.c */
int cli_cmd_keys(int argc, char **argv);      /* cli/keys.c */
int cli_cmd_area(int argc, char **argv);      /* cli/area.c */
int cli_cmd_report(int argc, char **argv);    /* cli/report.c */
int cli_cmd_export(int argc, char **argv);    /* cli/export.c */
int cli_cmd_verify(int argc, char **argv);    /* cli/export.c */
int cli_cmd_clip(int argc, char **argv);      /* cli/export.c */
int cli_cmd_snapshot(int argc, char **argv);  /* cli/export.c */
int cli_cmd_user(int argc, char **argv);      /* cli/user.c */
int cli_cmd_audit(int argc, char **argv);     /* cli/audit.c */
int cli_cmd_backup(int argc, char **argv);    /* cli/backup.c */
int cli_cmd_restore(int argc, char **argv);   /* cli/backup.c */

#endif
