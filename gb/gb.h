/*
 * gb.h: the GB/T 28181-2016 agent: camvault as a lower platform (an NVR) of an upper platform.
 *
 * When camvault.conf sets gb_id, `camvault record` (and so `run`) starts one agent thread on the
 * recorder's open index (rec_config.index_hook): it listens on gb_listen (SIP over UDP and
 * TCP, gb/tcp.c) and registers to gb_upstream over SIP/UDP (or TCP: gb_transport) with
 * Digest (MD5, with or without qop=auth), registers again before the granted Expires runs out
 * and with a backoff (1 s doubling to 60 s) while the platform does not answer or refuses the
 * password, sends a Keepalive MESSAGE every gb_keepalive seconds (three unanswered: register
 * again), and answers the platform's Catalog (a few cameras per MESSAGE, SumNum and
 * DeviceList Num), DeviceInfo, DeviceStatus and RecordInfo queries, and INVITE s=Play
 * (the camera's live edge) and s=Playback (an archived range) with MPEG-PS over RTP, over UDP
 * or TCP (RFC 4571), until BYE (gb/session.c, gb/media.c). On stop it
 * unregisters (Expires: 0). docs/gb28181.md says what is and is not implemented.
 *
 * Channel IDs: a camera's --gb-id (idx_camera.gb_id) or, without one, derived from gb_id:
 * its first 10 digits (centre and industry codes), type 131 (camera), gb_id's 14th digit
 * (network), then the camera's index number as 6 digits (gb_channel_id).
 *
 * Threads: gb_agent_start/stop from one thread (the recorder's hook); the agent runs its own
 * thread and one per media session; it reads the index with read transactions only.
 */
#ifndef GB_GB_H
#define GB_GB_H

#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "common/error.h"
#include "gb/sip.h"
#include "indexer/idx.h"

struct gb_config {
    char id[GB_ID_LEN + 1];      /* gb_id; "" = the agent is off */
    char realm[11];              /* gb_realm: 10 digits */
    char listen[64];             /* gb_listen: ADDR:PORT (UDP and TCP) */
    char up_id[GB_ID_LEN + 1];   /* gb_upstream: PLATFORM_ID@HOST:PORT */
    char up_host[64];
    uint16_t up_port;
    uint16_t listen_port;
    char listen_addr[48];
    char password[128];          /* gb_password: never printed or logged */
    int64_t keepalive_us;        /* gb_keepalive, default 60 s */
    bool up_tcp;                 /* gb_transport = tcp: SIP to gb_upstream over TCP */
    /* Write one audit record (who: the platform's ID) for a view; NULL: logged only. Called on
     * the agent's threads with no transaction open; set by the command that starts the agent
     * (the audit log is written by server/, which gb/ may not include). */
    void (*audit)(void *ctx, const char *action, const char *who, const char *camera,
                  const char *detail);
    void *audit_ctx;
};

void gb_config_defaults(struct gb_config *c);

/* One camvault.conf key: 0 when taken (or CV_EINVAL naming the key, the value and the rule;
 * the password is never repeated), 1 when `key` is not a gb_ key. */
int gb_conf_key(struct gb_config *c, const char *key, const char *value, struct cv_err *err);

/* After the file is read: with gb_id set, gb_realm, gb_listen and gb_upstream are needed. */
int gb_config_check(const struct gb_config *c, struct cv_err *err);

/* A camera's channel ID into out (21 bytes): its own gb_id, else derived (see above). */
void gb_channel_id(const struct gb_config *c, const struct idx_camera *cam, char out[21]);

struct gb_agent;

/* Bind gb_listen and start the agent thread on `idx` (the caller's; it must stay open until
 * gb_agent_stop). CV_ENET naming the address when it cannot be bound. */
int gb_agent_start(struct gb_agent **out, const char *root, struct idx *idx,
                   const struct gb_config *c, struct cv_err *err);

/* Stop media sessions, unregister (Expires: 0, waits up to 2 s for the answer), join, free.
 * NULL-safe. */
void gb_agent_stop(struct gb_agent *a);

/* ---- GB devices: camvault as their platform (device.c, devstream.c) ----
 *
 * A camera whose source is a GB/T 28181 device has the URL "gb28181://DEVICE_ID:PASSWORD@device"
 * (the password percent-encoded): it is stored, redacted (common/url.h) and never printed like
 * any camera URL's password. The device REGISTERs to gb_listen; the recorder's camera thread
 * opens a stream with gb_dev_open: camvault INVITEs the device's channel (the camera's --gb-id,
 * else the first of the device's Catalog, else the device ID) with recvonly PS/90000 and a y=
 * SSRC to an RTP/UDP port of its own, and reads the PS (gb/psdemux.h) as access units. */

#define GB_DEVICE_SCHEME "gb28181://"

/* The camera URL of device `id` (20 digits) with `password` into out (n bytes): 0, or
 * CV_ELIMIT when it does not fit. */
int gb_device_url(const char *id, const char *password, char *out, size_t n);

/* Whether `url` is a GB device's; its ID (21 bytes) and password (pn bytes) into the outputs
 * that are not NULL. */
bool gb_device_of(const char *url, char id[GB_ID_LEN + 1], char *password, size_t pn);

/* What a device stream delivers (as recorder/rtsp.h's media): valid until gb_dev_close. */
struct gb_dev_media {
    const AVCodecParameters *par[2]; /* [0] video; [1] audio or NULL */
    AVRational tb[2];
    int64_t frame_dur;        /* in tb[0] */
    char audio_skipped[64];   /* an audio stream the PSM declares but camvault cannot keep */
};

struct gb_dev_stream;

/*
 * Open a stream of camera `cam` (a GB device's URL) on agent `a`: wait up to timeout_us for
 * the device to be registered, INVITE, and read up to the first keyframe. stop(stop_ctx) true
 * ends any wait (CV_ECANCELED). stall_us: no RTP for this long ends the stream. Errors name the
 * device and the cause (CV_ENET: not registered, offline, refused, silent; CV_EMEDIA: no PSM
 * or no H.264/H.265). Called on the camera's thread; a stream belongs to one thread.
 */
int gb_dev_open(struct gb_dev_stream **out, struct gb_agent *a, const struct idx_camera *cam,
                int64_t timeout_us, int64_t stall_us, bool (*stop)(void *), void *stop_ctx,
                struct cv_err *err);
const struct gb_dev_media *gb_dev_media(const struct gb_dev_stream *s);
/*
 * The next packet into *pkt (unreferenced first), as rec_rtsp_read delivers them: stream_index
 * 0 video (an access unit, Annex B, AV_PKT_FLAG_KEY on IDR) or 1 audio, pts = dts in the media's
 * time base from the first keyframe, duration 0; *recv_us the wall-clock time it was complete.
 * 0, CV_ENET (the device went offline, sent BYE, stopped sending: err says which),
 * CV_ECANCELED, CV_ENOMEM.
 */
int gb_dev_read(struct gb_dev_stream *s, AVPacket *pkt, int64_t *recv_us, struct cv_err *err);
/* BYE (when the dialog is up), close, free. NULL-safe. */
void gb_dev_close(struct gb_dev_stream *s);

#endif
