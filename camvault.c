/*
 * camvault.c: main() and the command table. Each command family lives in cli/ (contracts in
 * cli/cli.h); main() finds the command by name in the table and calls it. `camvault help`,
 * `camvault help COMMAND`, `camvault COMMAND --help` (or -h, anywhere before "--") and
 * `camvault --version` are answered here, from the pages of docs/man/ (cli/help.h). Exit status: 0 success, 1 failure, 2 bad usage.
 * Errors are one line on stderr: "camvault: <what>: <cause>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "cli/cli.h"
#include "cli/help.h"
#include "common/log.h"
#include "common/banned.h"

/* ---- main ---- */

/* One command: its name and its entry point. Its help is docs/man/camvault-NAME.txt (cli/help.h):
 * adding a command is one line here and that one page. */
struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
    {"init", cli_cmd_init},       {"camera", cli_cmd_camera},   {"record", cli_cmd_record},
    {"query", cli_cmd_query},     {"volume", cli_cmd_volume},   {"retention", cli_cmd_retention},
    {"hold", cli_cmd_hold},       {"fsck", cli_cmd_fsck},       {"keys", cli_cmd_keys},
    {"export", cli_cmd_export},   {"verify", cli_cmd_verify},   {"clip", cli_cmd_clip},
    {"snapshot", cli_cmd_snapshot}, {"serve", cli_cmd_serve},   {"run", cli_cmd_run},
    {"user", cli_cmd_user},       {"audit", cli_cmd_audit},
    {"backup", cli_cmd_backup},   {"restore", cli_cmd_restore}, {"area", cli_cmd_area},
    {"report", cli_cmd_report},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* camvault's own help: its page and the list of commands. */
static void print_usage(FILE *f)
{
    const char *names[NCOMMANDS];

    for (size_t i = 0; i < NCOMMANDS; i++)
        names[i] = commands[i].name;
    cli_help_overview(f, names, NCOMMANDS);
}

/* `camvault help COMMAND` and `camvault COMMAND --help`: the command's page on stdout. */
static int print_command_help(const char *name)
{
    const char *text = cli_help_text(name);

    if (!text) {
        fprintf(stderr, "camvault: no help for '%s' (see 'camvault help')\n", name);
        return EXIT_USAGE;
    }
    fputs(text, stdout);
    return 0;
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
    if (strcmp(argv[1], "--version") == 0) {
        printf("camvault %s\n", cli_version);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 && argc > 2)
        return print_command_help(argv[2]);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        /* Before the command parses its options, so every command has --help and -h. */
        if (cli_help_asked(argc - 2, argv + 2))
            return print_command_help(commands[i].name);
        return commands[i].fn(argc - 2, argv + 2);
    }
    fprintf(stderr, "camvault: unknown command '%s' (see 'camvault help')\n", argv[1]);
    return EXIT_USAGE;
}
