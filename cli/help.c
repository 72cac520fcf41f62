/*
 * cli/help.c: `camvault --help`, `camvault help [COMMAND]` and `camvault COMMAND --help`, from
 * the pages embedded by tools/help2c.sh. Contracts in cli/help.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/help.h"
#include "common/banned.h"

const char *cli_help_text(const char *name)
{
    for (const struct cli_help *h = cli_helps; h->name; h++)
        if (strcmp(h->name, name) == 0)
            return h->text;
    return NULL;
}

void cli_help_summary(const char *text, char *out, size_t cap)
{
    const char *s = text ? strstr(text, " - ") : NULL;
    const char *nl = text ? strchr(text, '\n') : NULL;

    out[0] = 0;
    if (!s || !nl || s > nl || cap == 0)
        return;
    s += 3;
    snprintf(out, cap, "%.*s", (int)(nl - s), s);
}

bool cli_help_asked(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

void cli_help_overview(FILE *f, const char *const *names, size_t n)
{
    const char *own = cli_help_text(""), *at;
    char sum[256];

    if (!own)
        own = "camvault - record cameras and export evidence\n\nCOMMANDS\n";
    at = strstr(own, "\nCOMMANDS\n");
    if (at) {
        at += strlen("\nCOMMANDS\n");
        fwrite(own, 1, (size_t)(at - own), f);
    } else {
        fputs(own, f);
        fputs("\nCOMMANDS\n", f);
    }
    for (size_t i = 0; i < n; i++) {
        const char *text = cli_help_text(names[i]);
        cli_help_summary(text, sum, sizeof(sum));
        if (text)
            fprintf(f, "  camvault %s\n      %s (camvault-%s(1))\n",
                    names[i], sum, names[i]);
        else
            fprintf(f, "  camvault %s\n      (no help page)\n", names[i]);
    }
    if (at)
        fputs(at, f);
}
