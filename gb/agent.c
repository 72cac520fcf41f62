/*
 * agent.c: the GB/T 28181 agent's thread (gb.h): the SIP/UDP socket, REGISTER with Digest and
 * its timers (retransmission 0.5, 1, 2, 4 s; then a backoff from 1 s doubling to 60 s),
 * Keepalive, and the dispatch of the platform's requests to query.c and media.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "gb/gb_int.h"
#include "common/banned.h"

enum { REG_IDLE, REG_SENT, REG_OK };

#define REG_EXPIRES_ASK 3600
#define BACKOFF_MAX_US (60 * CV_US_PER_S)
#define KEEPALIVE_LOST 3

void gb_random_hex(char *out, size_t nbytes)
{
    uint8_t r[32];

    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    if (RAND_bytes(r, (int)nbytes) != 1)
        for (size_t i = 0; i < nbytes; i++)
            r[i] = (uint8_t)(cv_mono_us() >> (i % 8));
    cv_hex(r, nbytes, out);
}

/* "ID@HOST:PORT" of the platform, for log lines. */
static void up_name(const struct gb_agent *a, char *out, size_t n)
{
    snprintf(out, n, "%s@%s:%u", a->cfg.up_id, a->cfg.up_host, (unsigned)a->cfg.up_port);
}

/* The start of a request of ours to the platform: request line, Via, From, To, Call-ID, CSeq. */
static void request_head(struct gb_agent *a, struct cv_buf *b, const char *method,
                         const char *call_id, const char *tag, bool to_self)
{
    char branch[17];

    gb_random_hex(branch, 8);
    cv_buf_printf(b,
                  "%s sip:%s@%s:%u SIP/2.0\r\n"
                  "Via: SIP/2.0/%s %s:%u;rport;branch=z9hG4bK%s\r\n"
                  "From: <sip:%s@%s>;tag=%s\r\n"
                  "To: <sip:%s@%s>\r\n"
                  "Call-ID: %s\r\n"
                  "CSeq: %u %s\r\n"
                  "Max-Forwards: 70\r\n"
                  "User-Agent: camvault\r\n",
                  method, a->cfg.up_id, a->cfg.up_host, (unsigned)a->cfg.up_port,
                  a->cfg.up_tcp ? "TCP" : "UDP", a->local_ip,
                  (unsigned)a->cfg.listen_port, branch, a->cfg.id, a->cfg.realm, tag,
                  to_self ? a->cfg.id : a->cfg.up_id, a->cfg.realm, call_id,
                  atomic_fetch_add(&a->cseq, 1) + 1, method);
}

int gb_send_message(struct gb_agent *a, const char *body, size_t len)
{
    struct cv_buf b;
    char call_id[40], tag[17];

    gb_random_hex(call_id, 16);
    gb_random_hex(tag, 8);
    cv_buf_init(&b, GB_SIP_MAX);
    request_head(a, &b, "MESSAGE", call_id, tag, false);
    cv_buf_printf(&b, "Content-Type: Application/MANSCDP+xml\r\nContent-Length: %zu\r\n\r\n",
                  len);
    cv_buf_put(&b, body, len);
    if (cv_buf_ok(&b))
        gb_sip_send(a, &a->up, b.data, b.len);
    else
        cv_warn("gb: a MESSAGE of %zu bytes is too large to send", len);
    cv_buf_release(&b);
    return 0;
}

int gb_message_parse(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from,
                     const char *who, struct gb_manscdp *q)
{
    struct cv_err err = {""};

    if (gb_manscdp_parse(m->body, m->body_len, q, &err) == 0)
        return 0;
    cv_warn("gb: MESSAGE from %s: %s", who, err.msg);
    gb_respond(a, m, from, 400, "Bad Request", NULL, NULL, NULL, 0);
    return -1;
}

void gb_respond(struct gb_agent *a, const struct gb_sip_msg *req, const struct sockaddr_in *to,
                int status, const char *reason, const char *extra, const char *ctype,
                const char *body, size_t blen)
{
    struct cv_buf b;
    char tag[17];

    cv_buf_init(&b, GB_SIP_MAX);
    cv_buf_printf(&b, "SIP/2.0 %d %s\r\n", status, reason);
    for (size_t i = 0; i < req->nhdrs; i++)
        if (strcasecmp(req->hdrs[i].name, "Via") == 0)
            cv_buf_printf(&b, "Via: %s\r\n", req->hdrs[i].value);
    if (req->from)
        cv_buf_printf(&b, "From: %s\r\n", req->from);
    if (req->to) {
        char t[64];
        gb_random_hex(tag, 8);
        if (gb_sip_param(req->to, "tag", t, sizeof(t)) == 0 || status == 100)
            cv_buf_printf(&b, "To: %s\r\n", req->to);
        else
            cv_buf_printf(&b, "To: %s;tag=%s\r\n", req->to, tag);
    }
    if (req->call_id)
        cv_buf_printf(&b, "Call-ID: %s\r\n", req->call_id);
    if (req->cseq_line)
        cv_buf_printf(&b, "CSeq: %s\r\n", req->cseq_line);
    cv_buf_printf(&b, "User-Agent: camvault\r\n%s", extra ? extra : "");
    if (ctype)
        cv_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    cv_buf_printf(&b, "Content-Length: %zu\r\n\r\n", body ? blen : 0);
    if (body)
        cv_buf_put(&b, body, blen);
    if (cv_buf_ok(&b))
        gb_sip_send(a, to, b.data, b.len);
    cv_buf_release(&b);
}

/* ---- REGISTER ---- */

/* Send a REGISTER (a new one: new CSeq, same Call-ID) with `auth` ("" for none). */
static void send_register(struct gb_agent *a, const char *auth, int expires)
{
    cv_buf_reset(&a->reg_msg);
    request_head(a, &a->reg_msg, "REGISTER", a->reg_call_id, a->reg_tag, true);
    cv_buf_printf(&a->reg_msg,
                  "Contact: <sip:%s@%s:%u%s>\r\nExpires: %d\r\n%s%sContent-Length: 0\r\n\r\n",
                  a->cfg.id, a->local_ip, (unsigned)a->cfg.listen_port,
                  a->cfg.up_tcp ? ";transport=tcp" : "", expires, auth,
                  auth[0] ? "\r\n" : "");
    a->reg_state = REG_SENT;
    a->reg_authed = auth[0] != 0;
    a->reg_sent_at = a->reg_retx_at = cv_mono_us();
    a->reg_retx = 0;
    if (cv_buf_ok(&a->reg_msg))
        gb_sip_send(a, &a->up, a->reg_msg.data, a->reg_msg.len);
}

static void register_fresh(struct gb_agent *a, int expires)
{
    gb_random_hex(a->reg_call_id, 16);
    gb_random_hex(a->reg_tag, 8);
    a->nc = 0;
    send_register(a, "", expires);
}

/* The platform is away or refused us: wait, doubling up to a minute; `verb` says what then. */
static void backoff(struct gb_agent *a, const char *why, const char *verb)
{
    char up[128];

    up_name(a, up, sizeof(up));
    a->backoff_us = a->backoff_us ? a->backoff_us * 2 : CV_US_PER_S;
    if (a->backoff_us > BACKOFF_MAX_US)
        a->backoff_us = BACKOFF_MAX_US;
    cv_error("gb: upstream '%s': %s; %s again in %lld s", up, why, verb,
             (long long)(a->backoff_us / CV_US_PER_S));
    a->reg_state = REG_IDLE;
    a->reg_next_at = cv_mono_us() + a->backoff_us;
}

static void register_later(struct gb_agent *a, const char *why)
{
    backoff(a, why, "registering");
}

void gb_up_lost(struct gb_agent *a, const char *why)
{
    a->registered_once = false; /* "registered" is logged again once it is back */
    backoff(a, why, "connecting");
}

void gb_up_connected(struct gb_agent *a)
{
    char up[128];

    up_name(a, up, sizeof(up));
    cv_debug("gb: connected to upstream '%s' over TCP", up);
    a->reg_state = REG_IDLE;
    a->reg_next_at = 0; /* register at once */
}

/* Whether a qop list ("auth,auth-int") offers "auth". */
static bool qop_has_auth(const char *qop)
{
    for (const char *p = qop; *p;) {
        size_t l = strcspn(p, ", ");
        if (l == 4 && strncasecmp(p, "auth", 4) == 0)
            return true;
        p += l;
        p += strspn(p, ", ");
    }
    return false;
}

/* Answer a 401/407 challenge with Digest (qop=auth when offered). */
static void register_auth(struct gb_agent *a, const struct gb_sip_msg *m)
{
    const char *ch = gb_sip_header(m, m->status == 407 ? "Proxy-Authenticate"
                                                        : "WWW-Authenticate");
    char realm[128], nonce[256], qop[64] = "", opaque[256] = "", algo[32] = "", uri[128],
        resp[33], cnonce[17], nc[9], auth[1400];
    bool use_qop;

    if (a->reg_authed) {
        register_later(a, "the password (gb_password) was refused: 401 after the Digest answer");
        return;
    }
    if (!ch || strncasecmp(ch, "Digest", 6) != 0 ||
        gb_auth_param(ch, "realm", realm, sizeof(realm)) < 0 ||
        gb_auth_param(ch, "nonce", nonce, sizeof(nonce)) < 0) {
        register_later(a, "a 401 without a Digest challenge (realm and nonce)");
        return;
    }
    gb_auth_param(ch, "qop", qop, sizeof(qop));
    gb_auth_param(ch, "opaque", opaque, sizeof(opaque));
    gb_auth_param(ch, "algorithm", algo, sizeof(algo));
    if (algo[0] && strcasecmp(algo, "MD5") != 0) {
        register_later(a, "the Digest challenge asks for an algorithm other than MD5");
        return;
    }
    use_qop = qop_has_auth(qop);
    if (qop[0] && !use_qop) {
        register_later(a, "the Digest challenge offers only qop=auth-int");
        return;
    }
    snprintf(uri, sizeof(uri), "sip:%s@%s:%u", a->cfg.up_id, a->cfg.up_host,
             (unsigned)a->cfg.up_port);
    gb_random_hex(cnonce, 8);
    snprintf(nc, sizeof(nc), "%08x", ++a->nc);
    gb_digest(a->cfg.id, realm, a->cfg.password, "REGISTER", uri, nonce,
              use_qop ? "auth" : NULL, nc, cnonce, resp);
    snprintf(auth, sizeof(auth),
             "%s: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=MD5%s%s%s%s%s%s%s%s",
             m->status == 407 ? "Proxy-Authorization" : "Authorization", a->cfg.id, realm,
             nonce, uri, resp, use_qop ? ", qop=auth, nc=" : "", use_qop ? nc : "",
             use_qop ? ", cnonce=\"" : "", use_qop ? cnonce : "", use_qop ? "\"" : "",
             opaque[0] ? ", opaque=\"" : "", opaque, opaque[0] ? "\"" : "");
    send_register(a, auth, a->unregistering ? 0 : REG_EXPIRES_ASK);
}

static void register_ok(struct gb_agent *a, const struct gb_sip_msg *m)
{
    const char *e = gb_sip_header(m, "Expires");
    int64_t exp = REG_EXPIRES_ASK;
    char up[128];

    if (a->unregistering) {
        a->reg_state = REG_IDLE;
        return;
    }
    if (e)
        cv_parse_i64(e, 0, 86400 * 7, &exp);
    if (exp < 2)
        exp = 2;
    a->expires_s = exp;
    a->reg_state = REG_OK;
    a->backoff_us = 0;
    /* again at half the granted time: a lost REGISTER still has time for its retries */
    a->reg_next_at = cv_mono_us() + exp * CV_US_PER_S / 2;
    up_name(a, up, sizeof(up));
    if (!a->registered_once)
        cv_info("gb: registered to upstream '%s' as %s (expires %lld s)", up, a->cfg.id,
                (long long)exp);
    else
        cv_debug("gb: registered again to '%s' (expires %lld s)", up, (long long)exp);
    a->registered_once = true;
    a->ka_unanswered = 0;
    a->ka_next = cv_mono_us();
}

static void on_response(struct gb_agent *a, const struct gb_sip_msg *m)
{
    if (gb_dev_response(a, m))
        return;
    if (strcmp(m->call_id, a->reg_call_id) == 0 && strcmp(m->cseq_method, "REGISTER") == 0) {
        char why[160];
        if (a->reg_state != REG_SENT || m->status < 200)
            return;
        if (m->status == 401 || m->status == 407)
            register_auth(a, m);
        else if (m->status >= 200 && m->status < 300)
            register_ok(a, m);
        else if (a->unregistering)
            a->reg_state = REG_IDLE;
        else
            register_later(a, (snprintf(why, sizeof(why), "REGISTER answered %d %.60s",
                                        m->status, m->reason), why));
        return;
    }
    if (strcmp(m->call_id, a->ka_call_id) == 0 && m->status >= 200 && m->status < 300)
        a->ka_unanswered = 0;
}

static void keepalive(struct gb_agent *a)
{
    char body[512], tag[17];
    struct cv_buf b;
    int n;

    if (a->ka_unanswered >= KEEPALIVE_LOST) {
        char up[128];
        up_name(a, up, sizeof(up));
        cv_warn("gb: upstream '%s': %d keepalives unanswered; registering again (its streams "
                "end)", up, KEEPALIVE_LOST);
        gb_sessions_close(a); /* a platform that is gone sends no BYE */
        a->reg_state = REG_IDLE;
        a->reg_next_at = 0;
        a->registered_once = false;
        return;
    }
    n = snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n"
                 "<CmdType>Keepalive</CmdType>\r\n<SN>%u</SN>\r\n<DeviceID>%s</DeviceID>\r\n"
                 "<Status>OK</Status>\r\n</Notify>\r\n",
                 ++a->sn, a->cfg.id);
    gb_random_hex(a->ka_call_id, 16);
    gb_random_hex(tag, 8);
    cv_buf_init(&b, GB_SIP_MAX);
    request_head(a, &b, "MESSAGE", a->ka_call_id, tag, false);
    cv_buf_printf(&b, "Content-Type: Application/MANSCDP+xml\r\nContent-Length: %d\r\n\r\n%s",
                  n, body);
    if (cv_buf_ok(&b))
        gb_sip_send(a, &a->up, b.data, b.len);
    cv_buf_release(&b);
    a->ka_unanswered++;
    a->ka_next = cv_mono_us() + a->cfg.keepalive_us;
}

/* Registration and keepalive timers. */
static void timers(struct gb_agent *a)
{
    int64_t now = cv_mono_us();

    gb_dev_timers(a);
    gb_tcp_timers(a);
    if (!a->cfg.up_id[0])
        return; /* no upstream: only GB devices register to us */
    if (a->cfg.up_tcp && gb_tcp_up_state(a) != 2) {
        if (gb_tcp_up_state(a) == 0 && now >= a->reg_next_at)
            gb_tcp_up_connect(a);
        return;
    }
    if (a->reg_state == REG_SENT) {
        static const int64_t retx_ms[] = {500, 1000, 2000, 4000};
        if (a->reg_retx < 4 && now >= a->reg_retx_at + retx_ms[a->reg_retx] * 1000) {
            a->reg_retx_at = now;
            a->reg_retx++;
            /* TCP is reliable: no retransmission (RFC 3261 17.1.2.2), the same timeout */
            if (cv_buf_ok(&a->reg_msg) && !a->cfg.up_tcp)
                gb_sip_send(a, &a->up, a->reg_msg.data, a->reg_msg.len);
        } else if (a->reg_retx == 4 && now >= a->reg_retx_at + 4 * CV_US_PER_S) {
            a->registered_once = false;
            register_later(a, "no answer to REGISTER");
        }
        return;
    }
    if (now >= a->reg_next_at) {
        if (a->reg_state == REG_OK)
            send_register(a, "", REG_EXPIRES_ASK); /* same Call-ID: a refresh */
        else
            register_fresh(a, REG_EXPIRES_ASK);
        return;
    }
    if (a->reg_state == REG_OK && now >= a->ka_next)
        keepalive(a);
}

/* ---- requests of the platform ---- */

static void on_request(struct gb_agent *a, const struct gb_sip_msg *m,
                       const struct sockaddr_in *from)
{
    char user[64] = "";

    if (gb_dev_request(a, m, from))
        return; /* a device's (device.c) */
    if (gb_sip_uri_user(m->from, user, sizeof(user)) < 0 || strcmp(user, a->cfg.up_id) != 0) {
        cv_warn("gb: %s from '%.40s' refused: only the upstream platform %s is served",
                m->method, user, a->cfg.up_id);
        gb_respond(a, m, from, 403, "Forbidden", NULL, NULL, NULL, 0);
        return;
    }
    if (strcmp(m->method, "MESSAGE") == 0) {
        struct gb_manscdp q;
        if (gb_message_parse(a, m, from, user, &q) < 0)
            return;
        gb_respond(a, m, from, 200, "OK", NULL, NULL, NULL, 0);
        if (strcmp(q.root, "Query") == 0)
            gb_query_answer(a, &q);
        return;
    }
    if (strcmp(m->method, "INVITE") == 0)
        gb_on_invite(a, m, from);
    else if (strcmp(m->method, "ACK") == 0)
        gb_on_ack(a, m);
    else if (strcmp(m->method, "BYE") == 0)
        gb_on_bye(a, m, from);
    else if (strcmp(m->method, "INFO") == 0)
        gb_on_info(a, m, from);
    else if (strcmp(m->method, "OPTIONS") == 0)
        gb_respond(a, m, from, 200, "OK", NULL, NULL, NULL, 0);
    else
        gb_respond(a, m, from, 405, "Method Not Allowed",
                   "Allow: INVITE, ACK, BYE, INFO, MESSAGE, OPTIONS\r\n", NULL, NULL, 0);
}

void gb_sip_dispatch(struct gb_agent *a, const uint8_t *p, size_t n,
                     const struct sockaddr_in *from)
{
    struct gb_sip_msg *m = malloc(sizeof(*m));
    struct cv_err err = {""};
    char ip[INET_ADDRSTRLEN] = "?";

    if (!m)
        return;
    if (n <= 4 && (n == 0 || p[0] == '\r' || p[0] == '\n')) { /* CRLF keep-alive (RFC 5626) */
        free(m);
        return;
    }
    if (gb_sip_parse(m, p, n, &err) < 0) {
        inet_ntop(AF_INET, &from->sin_addr, ip, sizeof(ip));
        cv_warn("gb: malformed SIP from %s:%u: %s", ip, (unsigned)ntohs(from->sin_port),
                err.msg);
        if (n < 8 || memcmp(p, "SIP/2.0 ", 8) != 0)
            gb_respond(a, m, from, 400, "Bad Request", NULL, NULL, NULL, 0);
    } else if (m->request) {
        on_request(a, m, from);
    } else {
        on_response(a, m);
    }
    free(m);
}

/* Wait up to 100 ms for a datagram, a connection or bytes on one, and handle them. */
static void poll_once(struct gb_agent *a, uint8_t *buf)
{
    struct pollfd pfd[1 + GB_TCP_POLLFDS];
    size_t n = 1 + gb_tcp_pollfds(a, pfd + 1);

    pfd[0] = (struct pollfd){a->sock, POLLIN, 0};
    if (poll(pfd, (nfds_t)n, 100) <= 0)
        return;
    if (pfd[0].revents & POLLIN) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t r = recvfrom(a->sock, buf, GB_SIP_MAX + 1, 0, (struct sockaddr *)&from, &fl);
        if (r > GB_SIP_MAX)
            cv_warn("gb: a datagram of more than %d bytes was dropped", GB_SIP_MAX);
        else if (r >= 0)
            gb_sip_dispatch(a, buf, (size_t)r, &from);
    }
    gb_tcp_events(a, pfd + 1, n - 1);
}

static void *agent_main(void *arg)
{
    struct gb_agent *a = arg;
    uint8_t *buf = malloc(GB_SIP_MAX + 1);

    if (!buf)
        return NULL;
    a->reg_next_at = 0;
    while (!atomic_load(&a->stop)) {
        timers(a);
        gb_sessions_reap(a);
        poll_once(a, buf);
    }
    gb_sessions_close(a);
    if (a->reg_state == REG_OK) { /* unregister: Expires 0, answered within 2 s or not at all */
        int64_t until = cv_mono_us() + 2 * CV_US_PER_S;
        a->unregistering = true;
        send_register(a, "", 0);
        while (a->reg_state == REG_SENT && cv_mono_us() < until)
            poll_once(a, buf);
        cv_info("gb: unregistered from upstream %s", a->cfg.up_id);
    }
    free(buf);
    return NULL;
}

/* Our address toward the platform (for Via and Contact): the source a connected UDP socket
 * gets, or the listen address when it is not 0.0.0.0. */
static void local_address(struct gb_agent *a)
{
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    int s;

    cv_strlcpy(a->local_ip, a->cfg.listen_addr, sizeof(a->local_ip));
    if (strcmp(a->cfg.listen_addr, "0.0.0.0") != 0)
        return;
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && connect(s, (const struct sockaddr *)&a->up, sizeof(a->up)) == 0 &&
        getsockname(s, (struct sockaddr *)&me, &ml) == 0)
        inet_ntop(AF_INET, &me.sin_addr, a->local_ip, sizeof(a->local_ip));
    if (s >= 0)
        close(s);
}

int gb_agent_start(struct gb_agent **out, const char *root, struct idx *idx,
                   const struct gb_config *c, struct cv_err *err)
{
    struct gb_agent *a = calloc(1, sizeof(*a));
    struct sockaddr_in me = {0};
    int one = 1;

    *out = NULL;
    if (!a)
        return cv_errf(err, CV_ENOMEM, "out of memory");
    a->cfg = *c;
    a->idx = idx;
    cv_strlcpy(a->root, root, sizeof(a->root));
    cv_buf_init(&a->reg_msg, GB_SIP_MAX);
    a->up.sin_family = AF_INET;
    a->up.sin_port = htons(c->up_port);
    me.sin_family = AF_INET;
    me.sin_port = htons(c->listen_port);
    if ((c->up_id[0] && inet_pton(AF_INET, c->up_host, &a->up.sin_addr) != 1) ||
        inet_pton(AF_INET, c->listen_addr, &me.sin_addr) != 1) {
        cv_buf_release(&a->reg_msg);
        free(a);
        return cv_errf(err, CV_EINVAL, "gb_upstream host '%s' and gb_listen address '%s' must "
                       "be IPv4 addresses", c->up_host, c->listen_addr);
    }
    a->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (a->sock < 0 || setsockopt(a->sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(a->sock, (const struct sockaddr *)&me, sizeof(me)) < 0) {
        int e = errno;
        if (a->sock >= 0)
            close(a->sock);
        cv_buf_release(&a->reg_msg);
        free(a);
        return cv_errf(err, CV_ENET, "gb_listen '%s': cannot bind UDP: %s", c->listen,
                       strerror(e));
    }
    local_address(a);
    if (gb_tcp_open(a, &me, err) < 0) {
        close(a->sock);
        cv_buf_release(&a->reg_msg);
        free(a);
        return CV_ENET;
    }
    if (gb_devices_open(a, err) < 0 || pthread_create(&a->thread, NULL, agent_main, a) != 0) {
        close(a->sock);
        gb_tcp_close(a);
        cv_buf_release(&a->reg_msg);
        gb_devices_free(a);
        free(a);
        return cv_errf(err, CV_ENOMEM, "gb: cannot start the agent thread");
    }
    a->started = true;
    cv_info("gb: GB/T 28181 agent %s listening on %s (UDP and TCP), upstream %s@%s:%u%s", c->id,
            c->listen, c->up_id[0] ? c->up_id : "(none)", c->up_host, (unsigned)c->up_port,
            c->up_id[0] && c->up_tcp ? " over TCP" : "");
    *out = a;
    return 0;
}

void gb_agent_stop(struct gb_agent *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, 1);
    if (a->started)
        pthread_join(a->thread, NULL);
    close(a->sock);
    gb_tcp_close(a);
    cv_buf_release(&a->reg_msg);
    gb_devices_free(a);
    free(a);
}
