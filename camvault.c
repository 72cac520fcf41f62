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

static const char usage[] =
    "usage: camvault COMMAND [--root DIR] [options]\n"
    "\n"
    "  init                                   create the data root and index\n"
    "  camera add ID --url rtsp://... [--name T] [--location T] [--retention-days N]\n"
    "             [--public] [--transport tcp|udp] [--volume NAME] [--disabled]\n"
    "  camera list [--json] | show ID [--json] | enable ID | disable ID\n"
    "  camera edit ID [--url U] [--name T] [--location T] [--public|--private]\n"
    "             [--transport tcp|udp] [--volume NAME]\n"
    "  record [--segment-seconds N] [--retention-interval S] [--checkpoint-interval S]\n"
    "         [--log-level L]\n"
    "                                         run the recorder in the foreground\n"
    "  query CAMERA --from T --to T [--json]   segments, gaps and holds in a range\n"
    "  volume add NAME PATH [--max-bytes N] | list [--json]\n"
    "  retention show [--json] | set CAMERA DAYS | run\n"
    "  hold add --case C --camera ID[,ID...] --from T --to T [--until T] [--reason T] [--by W]\n"
    "  hold list [--json] | release HOLD [--by W]\n"
    "  fsck [--repair | --rebuild]            compare index and disk; fix what is safe\n"
    "  keys show [--json]                     the site's certificates and fingerprints\n"
    "  keys import --key K.pem --cert C.pem --chain CHAIN.pem   use an agency-issued identity\n"
    "  export --camera ID[,ID] --from T --to T --case C --out F.zip [--reason T] [--requester W]\n"
    "  verify FILE.zip [--json]               check a package: 0 valid, 1 not valid, 2 unreadable\n"
    "  clip CAMERA --from T --to T --out F.mp4 [--json]   playable copy of a range (no re-encoding)\n"
    "  snapshot CAMERA --at T --out F.jpg     one JPEG of the frame shown at T\n"
    "  serve [--listen ADDR:PORT] [--cert F --key F] [--web DIR]   run the HTTP server\n"
    "  run [--listen ADDR:PORT] [--cert F --key F] [--web DIR] [--segment-seconds N]\n"
    "                                         record and serve, each restarted if it dies\n"
    "  user add NAME --role admin|officer|mediator|resident [--password-stdin]\n"
    "  user list [--json] | token NAME [--days N]   (a bearer token for scripts)\n"
    "  audit [--case C] [--since T] [--json] [--verify]   the hash-chained audit log\n"
    "\n"
    "Times are RFC 3339 (2026-11-22T09:30:00Z, 2026-11-22T17:30:00+08:00) or @UNIXSECONDS.\n"
    "The data root is --root, else $CAMVAULT_ROOT, else ./camvault-data.\n";

int main(int argc, char **argv)
{
    const char *lvl = getenv("CAMVAULT_LOG");

    av_log_set_level(AV_LOG_QUIET);
    avformat_network_init();
    cv_log_init("camvault", lvl && cv_log_level_parse(lvl) >= 0
                                ? (enum cv_log_level)cv_log_level_parse(lvl)
                                : CV_LOG_INFO);
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "init") == 0)
        return cmd_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "camera") == 0)
        return cmd_camera(argc - 2, argv + 2);
    if (strcmp(argv[1], "record") == 0)
        return cmd_record(argc - 2, argv + 2);
    if (strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 2, argv + 2);
    if (strcmp(argv[1], "volume") == 0)
        return cmd_volume(argc - 2, argv + 2);
    if (strcmp(argv[1], "retention") == 0)
        return cmd_retention(argc - 2, argv + 2);
    if (strcmp(argv[1], "hold") == 0)
        return cmd_hold(argc - 2, argv + 2);
    if (strcmp(argv[1], "fsck") == 0)
        return cmd_fsck(argc - 2, argv + 2);
    if (strcmp(argv[1], "keys") == 0)
        return cmd_keys(argc - 2, argv + 2);
    if (strcmp(argv[1], "export") == 0)
        return cmd_export(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 2, argv + 2);
    if (strcmp(argv[1], "clip") == 0)
        return cmd_clip(argc - 2, argv + 2);
    if (strcmp(argv[1], "snapshot") == 0)
        return cmd_snapshot(argc - 2, argv + 2);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "user") == 0)
        return cmd_user(argc - 2, argv + 2);
    if (strcmp(argv[1], "audit") == 0)
        return cmd_audit(argc - 2, argv + 2);
    fprintf(stderr, "camvault: unknown command '%s' (see 'camvault help')\n", argv[1]);
    return EXIT_USAGE;
}
