/*
 * cli/help.h: the help of camvault and of every command, from one source per page:
 * docs/man/camvault.txt and docs/man/camvault-COMMAND.txt. The Makefile embeds each file as it is
 * into build/cli/help_text.c (tools/help2c.sh); `camvault COMMAND --help` prints the text, and the
 * man pages camvault(1) and camvault-COMMAND(1) are made from that very output
 * (tools/help2man.awk), so --help and the man page cannot disagree.
 *
 * The text's layout is what help2man.awk reads: the first line is "NAME - SUMMARY"; a line in
 * capitals at column 0 starts a section; in SYNOPSIS every line is kept as it is; elsewhere a line
 * indented 2 is running text, a line indented 2 followed by one indented 6 is a term (an option)
 * whose description is indented 6, and a line indented 4 is kept as it is (an example).
 */
#ifndef CV_CLI_HELP_H
#define CV_CLI_HELP_H

#include <stdbool.h>
#include <stdio.h>

/* One page: name is the command ("camera"), "" for camvault's own page. */
struct cli_help {
    const char *name;
    const char *text;
};

/* Generated (build/cli/help_text.c): every page, ending with {NULL, NULL}; the version from
 * debian/changelog. */
extern const struct cli_help cli_helps[];
extern const char cli_version[];

/* The text of command name's page ("" for camvault's own), NULL if it has none. */
const char *cli_help_text(const char *name);

/* The SUMMARY of a page's first line ("NAME - SUMMARY"), into out[cap]; "" if it has none. */
void cli_help_summary(const char *text, char *out, size_t cap);

/* Whether the words after a command ask for its help: "--help" or "-h" before any "--". */
bool cli_help_asked(int argc, char **argv);

/*
 * Print camvault's own page and then a COMMANDS section: each of the n commands of names with its
 * summary (from its page) and where its page is. A command without a page is named with
 * "(no help page)" so that the test of the pages catches it. The list goes where camvault's page
 * has its line "COMMANDS" (at the end if it has none).
 */
void cli_help_overview(FILE *f, const char *const *names, size_t n);

#endif
