/*
 * sim_rtsp.h: RTSP 1.0 request parsing for camsim, with no I/O.
 *
 * The server hands in the bytes it has received; these functions find one complete request,
 * pull out the few headers camsim acts on (CSeq, Session, Transport, Content-Length) and decode
 * the request URL and the Transport header. Every field has a fixed size: a request whose line
 * or header values do not fit is malformed, and the caller answers 400 or closes.
 */
#ifndef CAMSIM_SIM_RTSP_H
#define CAMSIM_SIM_RTSP_H

#include <stddef.h>

/* Bytes of one request head (request line plus headers) and body together, at most. */
#define SIM_RTSP_REQUEST_MAX 8192

struct sim_rtsp_req {
    char method[32];
    char url[1024];
    char version[16];
    long cseq;            /* -1 if absent */
    char session[128];    /* Session header up to ';', empty if absent */
    char transport[1024]; /* raw Transport header, empty if absent */
    size_t content_length;
};

/*
 * Parses the request at the start of buf[0..len). Returns the number of bytes it occupies
 * (head and body) if complete, 0 if more bytes are needed, -1 if it is malformed or larger than
 * SIM_RTSP_REQUEST_MAX. *req is filled only when the return value is positive.
 */
long sim_rtsp_parse(const char *buf, size_t len, struct sim_rtsp_req *req);

/* One transport choice from a Transport header. */
struct sim_transport {
    int tcp;            /* RTP/AVP/TCP (interleaved) rather than RTP/AVP[/UDP] */
    int interleaved[2]; /* channels; -1 if not given */
    int client_port[2]; /* UDP ports; -1 if not given */
};

/*
 * Picks the first unicast alternative camsim supports from a Transport header value (a
 * comma-separated list): RTP/AVP/TCP with optional interleaved=a-b, or RTP/AVP (or RTP/AVP/UDP)
 * with client_port=a[-b]. Returns 0 and fills *out, or -1 if none is usable.
 */
int sim_rtsp_parse_transport(const char *value, struct sim_transport *out);

/*
 * Resolves a request URL (rtsp://host[:port]/path or /path) against camsim's camera names
 * "<name>1".."<name><cameras>". Accepts /<cam>, /<cam>/, and /<cam>/streamid=N or trackID=N;
 * a query string is ignored. Returns 0 with *cam (0-based) and *stream (-1 if the URL names no
 * stream) set, or -1 if the URL names no camera.
 */
int sim_rtsp_parse_target(const char *url, const char *name, int cameras, int *cam, int *stream);

#endif
