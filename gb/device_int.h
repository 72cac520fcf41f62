/*
 * device_int.h: what device.c (the agent thread's side: registrations, keepalives, Catalog,
 * dialog responses) and devstream.c (the camera thread's side: INVITE, RTP, PS) share.
 * Everything in struct gb_devices is guarded by its lock.
 */
#ifndef GB_DEVICE_INT_H
#define GB_DEVICE_INT_H

#include "gb/gb_int.h"
#include "storage-layout/layout.h"

#define GB_DEVICES_MAX 256
#define GB_DEV_STREAMS_MAX 64
#define GB_DEV_KEEPALIVES_LOST 3

struct gb_device {
    char id[GB_ID_LEN + 1];
    char camera[LAY_ID_MAX + 1];
    struct sockaddr_in addr; /* where its REGISTER came from (NAT: its public side) */
    bool online;
    char reason[160];        /* why it is offline ("" = never registered) */
    char nonce[33];          /* of our last 401 */
    int64_t expires_at, last_seen; /* cv_mono_us */
    char channel[GB_ID_LEN + 1];   /* the first Item of its Catalog; "" before */
};

enum gb_dlg_state { GB_DLG_INVITING, GB_DLG_PLAYING, GB_DLG_FAILED, GB_DLG_ENDED };

/* One INVITE dialog with a device, owned by the camera thread's stream. */
struct gb_dev_dialog {
    char device[GB_ID_LEN + 1], channel[GB_ID_LEN + 1];
    char call_id[40], from_tag[17], to_tag[64];
    struct sockaddr_in addr;
    uint32_t cseq;
    enum gb_dlg_state state;
    char why[200]; /* FAILED, ENDED: the cause */
};

struct gb_devices {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on every change of a device or dialog */
    struct gb_device dev[GB_DEVICES_MAX];
    size_t ndev;
    struct gb_dev_dialog *dlg[GB_DEV_STREAMS_MAX];
};

/* The device `id` (locked), or NULL. */
struct gb_device *gb_dev_find(struct gb_devices *d, const char *id);

/* Send a request to a device: request line to `user`@addr, Via, From us with from_tag, To
 * `user` (with to_tag when not ""), Call-ID, CSeq, `extra` header lines, a body of type ctype. */
void gb_dev_send(struct gb_agent *a, const struct sockaddr_in *to, const char *method,
                 const char *user, const char *call_id, const char *from_tag, const char *to_tag,
                 uint32_t cseq, const char *extra, const char *ctype, const char *body);

#endif
