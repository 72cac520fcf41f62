/*
 * static.c: the web UI's static files, served read-only from the web directory: no dot-files,
 * no separators smuggled in, no symlinks out of the directory (see srv_int.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "common/log.h"
#include "server/audit.h"
#include "server/guard.h"
#include "server/jobs.h"
#include "server/srv_int.h"
#include "common/banned.h"

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".ico", "image/x-icon"},
        {".woff2", "font/woff2"}, {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"}, {".map", "application/json"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

int srv_serve_static(struct srv_req *r)
{
    char path[PATH_MAX], real[PATH_MAX];
    const char *last = "index.html";
    size_t o, wl = strlen(r->srv->webdir);
    struct stat st;
    struct MHD_Response *resp;
    int fd;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        srv_header(r, "Allow", "GET, HEAD");
        return srv_error(r, 405, "static files are read-only (GET)");
    }
    if (!r->srv->webdir[0])
        return srv_error(r, 404, "not found (no web directory)");
    o = (size_t)snprintf(path, sizeof(path), "%s", r->srv->webdir);
    for (int i = 0; i < r->uri.nseg; i++) {
        const char *s = r->uri.seg[i];
        /* No dot-files (., .., .git), no separators smuggled in by %2F or backslashes. */
        if (s[0] == '.' || strchr(s, '/') || strchr(s, '\\'))
            return srv_error(r, 404, "not found");
        if (o + 1 + strlen(s) >= sizeof(path))
            return srv_error(r, 404, "not found");
        o += (size_t)snprintf(path + o, sizeof(path) - o, "/%s", s);
        last = s;
    }
    if (r->uri.nseg == 0)
        snprintf(path + o, sizeof(path) - o, "/index.html");
    /* Symlinks may not lead out of the web directory. */
    if (!realpath(path, real) || strncmp(real, r->srv->webdir, wl) != 0 || real[wl] != '/')
        return srv_error(r, 404, "not found");
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return srv_error(r, 404, "not found");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return srv_error(r, 404, "not found");
    }
    resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd from here */
    if (!resp) {
        close(fd);
        return srv_error(r, 500, "cannot serve '%s'", last);
    }
    MHD_add_response_header(resp, "Content-Type", content_type(real));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    r->resp = resp;
    r->status = 200;
    return 0;
}
