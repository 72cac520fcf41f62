/*
 * conf.h: ROOT/camvault.conf, "key = value" lines; '#' starts a comment.
 *
 * Unknown keys are errors (a typo must not silently fall back to a default): the callback
 * returns CV_EINVAL "unknown key 'x'" for a key it does not know, and cv_conf_load prefixes the
 * file and line. camvault's commands that read the file (`record`, `serve`, `run`) share one
 * callback that knows every key (cli/record.c). The file is optional: a missing file is not an
 * error.
 */
#ifndef CV_CONF_H
#define CV_CONF_H

#include "common/error.h"

/* Called per setting; return 0, or a CV_E* code with *err filled to reject the value. */
typedef int (*cv_conf_cb)(void *ctx, const char *key, const char *value, struct cv_err *err);

/* Parse `path`; errors name the file and line ("camvault.conf:3: unknown key 'x'"). */
int cv_conf_load(const char *path, cv_conf_cb cb, void *ctx, struct cv_err *err);

#endif
