/*
 * conf.c: a minimal, strict "key = value" configuration reader.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/fileio.h"
#include "common/banned.h"

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

int cv_conf_load(const char *path, cv_conf_cb cb, void *ctx, struct cv_err *err)
{
    char *text = NULL, *save = NULL;
    size_t len = 0;
    int rc, line = 0;

    rc = cv_read_file(path, 1 << 20, &text, &len, err);
    if (rc == CV_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n'), *eq, *key, *val, *hash;
        if (nl)
            *nl = 0;
        line++;
        hash = strchr(p, '#');
        if (hash)
            *hash = 0;
        key = trim(p);
        if (*key) {
            eq = strchr(key, '=');
            if (!eq) {
                rc = cv_errf(err, CV_EINVAL, "%s:%d: expected 'key = value'", path, line);
                break;
            }
            *eq = 0;
            val = trim(eq + 1);
            key = trim(key);
            rc = cb(ctx, key, val, err);
            if (rc < 0) {
                cv_errwrap(err, rc, "%s:%d", path, line);
                break;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    (void)save;
    free(text);
    return rc;
}
