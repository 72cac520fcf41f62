/*
 * url.h: the one camera-URL parser and the one redaction helper.
 *
 * Every place that shows or logs a camera URL (CLI, JSON, admin API, status reasons, logs, the
 * RTSP client's errors) passes it through cv_url_redact first; the recorder gets the user name
 * and password from cv_url_parse. Both split the URL the same way, so what one treats as a
 * password the other never prints.
 *
 * How a URL is split (scheme "://" [userinfo "@"] host [":" port] rest):
 *   - the userinfo ends at the LAST '@' in the URL after "//". RFC 3986 ends the authority at
 *     the first '/', '?' or '#', as FFmpeg's av_url_split and VLC's vlc_UrlParse do; both then
 *     misread a password holding a raw '/', '?' or '#' (rtsp://u:Pa/ss@h/x gives host "u").
 *     Camera passwords are typed by hand and do contain such characters, so camvault takes the
 *     last '@' instead: a raw '/', '?', '#', ':' or '@' in a password works. The price: a raw
 *     '@' in a path or query must be written %40 (cv_url_check refuses it where it would be
 *     ambiguous; the redaction then hides too much, never too little).
 *   - the user name is the userinfo up to its first ':', the password the rest. Both are
 *     percent-decoded (RFC 3986 2.1, the standard way to write '@' or ':' in them); a '%' not
 *     followed by two hex digits is kept as it is, as FFmpeg's ff_urldecode does.
 *   - the host ends at the first '/', '?', '#' or ':' after the userinfo ("[v6]" in brackets);
 *     the rest (path, query, fragment) is kept as written.
 * Redaction replaces the password with "***" (a userinfo without ':' entirely, it may be a
 * token), and the value of every query or path parameter whose name is a credential (password,
 * passwd, pwd, pass, token, key, secret, auth, or contains password/passwd/token/secret/apikey;
 * case-insensitive; parameters separated by '?', '&', ';', '/' or '#'); such a value ends only at
 * the next '&' or ';', so a raw '/' or '#' in it is hidden too.
 *
 * All functions are pure and thread-safe.
 */
#ifndef CV_URL_H
#define CV_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define CV_URL_MAX 1024

struct cv_url {
    char scheme[16];  /* lower case as written: "rtsp" */
    bool has_user;    /* a userinfo was given (user may still be "") */
    char user[256];   /* percent-decoded */
    char pass[256];   /* percent-decoded; "" when none */
    char host[256];   /* without the brackets of an IPv6 literal */
    char port[8];     /* digits, "" when none was given */
    char rest[CV_URL_MAX]; /* path, query and fragment as written; "" when none */
};

/*
 * Split url into *out (always fully written, zeroed first). Returns 0, or CV_EINVAL with a
 * message that never contains the user name or password: no "scheme://", an empty or bad host,
 * a bad port, a part too long, a percent-encoded NUL in the user or password.
 */
int cv_url_parse(const char *url, struct cv_url *out, struct cv_err *err);

/*
 * Whether url is acceptable as a camera URL: it parses, its scheme is rtsp or rtsps, and it has
 * no raw '@' after the host (ambiguous with the userinfo). Returns 0 or CV_EINVAL with a message
 * naming the cause, never the password.
 */
int cv_url_check(const char *url, struct cv_err *err);

/*
 * url without secrets into out[cap] (always NUL-terminated; cut short if it does not fit).
 * Works on any string, URL or not: without "://" the userinfo and parameters are still found.
 * "rtsp://admin:Pa%40ss@cam/x?token=1" -> "rtsp://admin:***@cam/x?token=***".
 */
void cv_url_redact(const char *url, char *out, size_t cap);

/*
 * The URL of u written back with the user name and password percent-encoded (everything but
 * RFC 3986's unreserved characters), so that any RFC 3986 parser (libavformat's) splits it
 * right; with_cred false leaves the userinfo out. Returns 0, or CV_ELIMIT if it does not fit.
 */
int cv_url_format(const struct cv_url *u, bool with_cred, char *out, size_t cap);

#endif
