/*
 * gb.h: the GB/T 28181-2016 agent: camvault as a lower platform (an NVR) of an upper platform.
 *
 * When camvault.conf sets gb_id, `camvault record` (and so `run`) starts one agent thread on the
 * recorder's open index (rec_config.index_hook): it registers to gb_upstream over SIP/UDP with
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

#include "common/error.h"
#include "gb/sip.h"
#include "indexer/idx.h"

struct gb_config {
    char id[GB_ID_LEN + 1];      /* gb_id; "" = the agent is off */
    char realm[11];              /* gb_realm: 10 digits */
    char listen[64];             /* gb_listen: ADDR:PORT (UDP) */
    char up_id[GB_ID_LEN + 1];   /* gb_upstream: PLATFORM_ID@HOST:PORT */
    char up_host[64];
    uint16_t up_port;
    uint16_t listen_port;
    char listen_addr[48];
    char password[128];          /* gb_password: never printed or logged */
    int64_t keepalive_us;        /* gb_keepalive, default 60 s */
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

#endif
