/*
 * sip.h: the SIP and MANSCDP text of GB/T 28181: a strict parser for one SIP message (one UDP
 * datagram, or one cut from a TCP stream by gb_sip_frame), MD5 Digest (RFC 2617 / RFC 3261
 * section 22) and a reader for the few MANSCDP XML elements camvault answers.
 *
 * Why not libosip2 (docs/gb28181.md): GB/T 28181 uses a small subset of SIP (REGISTER, MESSAGE,
 * INVITE/ACK/BYE, INFO, over UDP or TCP; no proxies, no forking); a parser of exactly that
 * subset is a few hundred lines that refuse everything else, has hard limits on every length,
 * needs no new dependency and is fuzzed on its own (tests/fuzz/fuzz_sip.c).
 *
 * The subset: a request line "METHOD SP sip:URI SP SIP/2.0" or a status line
 * "SIP/2.0 SP 3DIGIT SP reason", CRLF (or bare LF) separated header lines, no folded (multi-line)
 * headers, compact header names (RFC 3261 section 7.3.3: v f t i m l c k s e) read as their
 * long forms, a Content-Length that must not exceed the bytes received (extra bytes are
 * ignored, as RFC 3261 section 18.3 says), and the headers every message must carry: Via,
 * From, To, Call-ID and CSeq (whose method must be the request's).
 *
 * No sockets and no state: every function reads its arguments and writes caller buffers.
 * Reentrant.
 */
#ifndef GB_SIP_H
#define GB_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define GB_SIP_MAX 8192    /* one message (a UDP datagram, or one framed on TCP) */
#define GB_SIP_HDRS_MAX 48 /* header lines per message */
#define GB_ID_LEN 20       /* a GB/T 28181 device or platform ID: 20 digits */

struct gb_sip_hdr {
    const char *name;  /* long form ("Via" for "v"), points into a static table or the message */
    const char *value; /* trimmed, NUL-terminated, inside gb_sip_msg.text */
};

/* One parsed message. Embedded or on the heap; holds its own copy of the text (no pointers
 * into the caller's buffer), so it lives as long as the struct. */
struct gb_sip_msg {
    bool request;
    char method[16];  /* request: "REGISTER", ... */
    char uri[256];    /* request: "sip:34020000001320000001@3402000000" */
    int status;       /* response: 100..699 */
    char reason[64];  /* response */
    struct gb_sip_hdr hdrs[GB_SIP_HDRS_MAX];
    size_t nhdrs;
    const char *body; /* inside text; body_len bytes (not NUL-terminated when truncated) */
    size_t body_len;
    /* the core fields, read from the headers */
    const char *via, *from, *to, *call_id, *cseq_line;
    uint32_t cseq;
    char cseq_method[16];
    char text[GB_SIP_MAX + 1];
};

/*
 * Parse one message of len bytes. Returns 0, or CV_EINVAL (CV_ELIMIT past GB_SIP_MAX or
 * GB_SIP_HDRS_MAX) with one line naming what is wrong ("SIP: no Call-ID header"). m is
 * overwritten either way.
 */
int gb_sip_parse(struct gb_sip_msg *m, const void *data, size_t len, struct cv_err *err);

/*
 * Framing of SIP over a stream (TCP; RFC 3261 section 18.3): in the len bytes received so far
 * (data), *skip CR/LF bytes come first (keep-alives, RFC 5626 section 4.4.1: drop them), then,
 * when the function returns 1, one whole message of *msg_len bytes (its head up to the empty
 * line and Content-Length bytes of body) for gb_sip_parse. 0: the message is not complete yet
 * (read more; its bytes stay). CV_EINVAL or CV_ELIMIT with one line: a control byte in the
 * header lines (not SIP), no Content-Length (mandatory on a stream), a bad one, a message of
 * more than GB_SIP_MAX bytes, or GB_SIP_MAX bytes without the end of the header lines; the
 * stream cannot be resynchronised, close it. Reads at most len bytes (no NUL needed).
 */
int gb_sip_frame(const void *data, size_t len, size_t *skip, size_t *msg_len,
                 struct cv_err *err);

/* The first header of long name `name` (case-insensitive; compact forms were mapped), or NULL. */
const char *gb_sip_header(const struct gb_sip_msg *m, const char *name);

/*
 * A ";param=value" of a header value outside its <...> part ("tag" of From, "branch" of Via,
 * "expires" of Contact) into out (n bytes). Returns 0, or -1 when absent or too long.
 */
int gb_sip_param(const char *value, const char *param, char *out, size_t n);

/* The user part of the SIP URI in a From/To/Contact value or request URI ("sip:USER@host"),
 * into out (n bytes). Returns 0, or -1 when there is none or it does not fit. */
int gb_sip_uri_user(const char *value, char *out, size_t n);

/*
 * An auth-param of a Digest challenge or response ('Digest realm="x", nonce="y", qop="auth"'):
 * quoted or token value into out (n bytes). Returns 0, or -1 when absent, unterminated or too
 * long. Matches whole parameter names only (nonce, not cnonce).
 */
int gb_auth_param(const char *value, const char *name, char *out, size_t n);

/*
 * The Digest response (RFC 2617) for user/realm/password, method and uri, nonce, and with
 * qop = "auth" the nonce count nc ("00000001") and cnonce; qop NULL for the RFC 2069 form.
 * MD5 through OpenSSL's EVP; out is 32 lower-case hex digits and a NUL.
 */
void gb_digest(const char *user, const char *realm, const char *password, const char *method,
               const char *uri, const char *nonce, const char *qop, const char *nc,
               const char *cnonce, char out[33]);

/* Whether s is exactly `len` ASCII digits. */
bool gb_digits(const char *s, size_t len);

/* ---- MANSCDP (GB/T 28181 annex A: XML bodies of MESSAGE) ---- */

#define GB_XML_DEPTH 8

/* The elements camvault reads from a query: the root's direct children. */
struct gb_manscdp {
    char root[16];        /* "Query", "Control", "Notify", "Response" */
    char cmd_type[32];    /* "Catalog", "DeviceInfo", "DeviceStatus", "RecordInfo", "Keepalive" */
    uint32_t sn;          /* SN */
    char device_id[32];   /* DeviceID */
    char start_time[32];  /* StartTime (RecordInfo) */
    char end_time[32];    /* EndTime */
    char type[16];        /* Type (RecordInfo: all, time, alarm, manual) */
    char result[16];      /* Result (a Response: OK, ERROR) */
};

/*
 * Read a MANSCDP document (Content-Type Application/MANSCDP+xml): an optional
 * <?xml version="1.0" encoding="GB2312|UTF-8"?> declaration, one root element, elements
 * nested at most GB_XML_DEPTH deep, attributes with quoted values, text with the five
 * predefined entities, no DTD, CDATA, comments or processing instructions after the
 * declaration. The whole document is checked (every element closed by its own name); the
 * root's direct children CmdType, SN, DeviceID, StartTime, EndTime, Type and Result are
 * copied out (ASCII; other bytes are kept as they are). Returns 0, or CV_EINVAL with one
 * line naming the problem ("MANSCDP: element 'SN' closed by 'DeviceID'").
 */
int gb_manscdp_parse(const char *xml, size_t len, struct gb_manscdp *out, struct cv_err *err);

#endif
