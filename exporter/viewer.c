/*
 * viewer.c: index.html of an evidence package, an offline viewer for the working copies and the
 * manifest. The page itself is exporter/viewer.html; the build turns it into the string
 * exp_viewer_template (build/exporter/viewer_html.c), and this file only fills in the manifest.
 */
#include <string.h>

#include "exporter/exp_int.h"
#include "common/banned.h"

extern const char exp_viewer_template[];

#define MARK "@MANIFEST@"

void exp_viewer_html(struct cv_buf *b, const char *manifest, size_t len)
{
    const char *at = strstr(exp_viewer_template, MARK);
    size_t head = at ? (size_t)(at - exp_viewer_template) : strlen(exp_viewer_template);

    cv_buf_put(b, exp_viewer_template, head);
    for (size_t i = 0; at && i < len; i++) {
        char c = manifest[i];
        if (c == '<' || c == '>' || c == '&')
            cv_buf_printf(b, "\\u%04x", (unsigned)c);
        else
            cv_buf_u8(b, (uint8_t)c);
    }
    if (at)
        cv_buf_put(b, at + strlen(MARK), strlen(at + strlen(MARK)));
}
