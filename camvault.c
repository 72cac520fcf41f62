/*
 * camvault.c: main() and the command table. Each command family lives in cli/ (contracts in
 * cli/cli.h); main() finds the command by name in the table and calls it, and `camvault help`
 * prints the table's help lines. Exit status: 0 success, 1 failure, 2 bad usage.
 * Errors are one line on stderr: "camvault: <what>: <cause>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/banned.h"

/* ---- main ---- */

/* One command: its name, its entry point, and its lines of `camvault help`. */
struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const char usage_head[] = "usage: camvault COMMAND [--root DIR] [options]\n"
                                 "\n";

static const struct command commands[] = {
    {"init", cli_cmd_init,
     "  init                                   create the data root and index\n"},
    {"camera", cli_cmd_camera,
     "  camera add ID --url rtsp://... [--name T] [--location T] [--retention-days N]\n"
     "             [--public] [--transport tcp|udp] [--volume NAME] [--disabled]\n"
     "  camera list [--json] | show ID [--json] | enable ID | disable ID\n"
     "  camera edit ID [--url U] [--name T] [--location T] [--public|--private]\n"
     "             [--transport tcp|udp] [--volume NAME]\n"},
    {"record", cli_cmd_record,
     "  record [--segment-seconds N] [--retention-interval S] [--checkpoint-interval S]\n"
     "         [--log-level L]\n"
     "                                         run the recorder in the foreground\n"},
    {"query", cli_cmd_query,
     "  query CAMERA --from T --to T [--json]   segments, gaps and holds in a range\n"},
    {"volume", cli_cmd_volume, "  volume add NAME PATH [--max-bytes N] | list [--json]\n"},
    {"retention", cli_cmd_retention, "  retention show [--json] | set CAMERA DAYS | run\n"},
    {"hold", cli_cmd_hold,
     "  hold add --case C --camera ID[,ID...] --from T --to T [--until T] [--reason T] [--by W]\n"
     "  hold list [--json] | release HOLD [--by W]\n"},
    {"fsck", cli_cmd_fsck,
     "  fsck [--repair | --rebuild]            compare index and disk; fix what is safe\n"},
    {"keys", cli_cmd_keys,
     "  keys show [--json]                     the site's certificates and fingerprints\n"
     "  keys import --key K.pem --cert C.pem --chain CHAIN.pem   use an agency-issued identity\n"},
    {"export", cli_cmd_export,
     "  export --camera ID[,ID] --from T --to T --case C --out F.zip [--reason T]"
     " [--requester W]\n"},
    {"verify", cli_cmd_verify,
     "  verify FILE.zip [--json]               check a package: 0 valid, 1 not valid,"
     " 2 unreadable\n"},
    {"clip", cli_cmd_clip,
     "  clip CAMERA --from T --to T --out F.mp4 [--json]   playable copy of a range"
     " (no re-encoding)\n"},
    {"snapshot", cli_cmd_snapshot,
     "  snapshot CAMERA --at T --out F.jpg     one JPEG of the frame shown at T\n"},
    {"serve", cli_cmd_serve,
     "  serve [--listen ADDR:PORT] [--cert F --key F] [--web DIR]   run the HTTP server\n"},
    {"run", cli_cmd_run,
     "  run [--listen ADDR:PORT] [--cert F --key F] [--web DIR] [--segment-seconds N]\n"
     "                                         record and serve, each restarted if it dies\n"},
    {"user", cli_cmd_user,
     "  user add NAME --role admin|officer|mediator|resident [--password-stdin]\n"
     "  user list [--json] | token NAME [--days N]   (a bearer token for scripts)\n"},
    {"audit", cli_cmd_audit,
     "  audit [--case C] [--since T] [--json] [--verify]   the hash-chained audit log\n"},
    {"backup", cli_cmd_backup,
     "  backup --out DIR                       copy index, keys, conf and ledger (not footage)\n"},
    {"restore", cli_cmd_restore,
     "  restore DIR [--volumes DIR]            a backup into a new root; then fsck --repair\n"},
};

static const char usage_tail[] =
    "\n"
    "Times are RFC 3339 (2026-11-22T09:30:00Z, 2026-11-22T17:30:00+08:00) or @UNIXSECONDS.\n"
    "The data root is --root, else $CAMVAULT_ROOT, else ./camvault-data.\n";

/* The usage text, built from the command table. */
static void print_usage(FILE *f)
{
    fputs(usage_head, f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fputs(commands[i].help, f);
    fputs(usage_tail, f);
}

int main(int argc, char **argv)
{
    const char *lvl = getenv("CAMVAULT_LOG");

    av_log_set_level(AV_LOG_QUIET);
    avformat_network_init();
    cv_log_init("camvault", lvl && cv_log_level_parse(lvl) >= 0
                                ? (enum cv_log_level)cv_log_level_parse(lvl)
                                : CV_LOG_INFO);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "camvault: unknown command '%s' (see 'camvault help')\n", argv[1]);
    return EXIT_USAGE;
}
