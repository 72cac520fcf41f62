/*
 * sim_clip.h: the looping test clip, generated once and pre-packetized into RTP packets.
 *
 * camsim serves every session from one immutable clip. sim_clip_open() makes sure a media file
 * for the configured parameters exists (running the ffmpeg CLI to create it on first use), reads
 * it back, pushes every frame through libavformat's "rtp" muxer and keeps the resulting RTP
 * packets in one array sorted by media time, plus the SDP that describes them. Serving a session
 * afterwards is copying these packets and rewriting the SSRC, sequence number and timestamp
 * (sim_server.c); nothing here is touched again after open.
 *
 * Tracks: 0 is video (H.264 or H.265, payload type 96); 1, if present, is audio (AAC as
 * mpeg4-generic payload type 97, PCMU 0, PCMA 8). The SDP names them a=control:streamid=0/1.
 */
#ifndef CAMSIM_SIM_CLIP_H
#define CAMSIM_SIM_CLIP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/camsim/sim_config.h"

#define SIM_CLIP_MAX_TRACKS 2
/* RTP payload limit handed to the muxer; a packet is at most this plus the 12-byte header. */
#define SIM_RTP_PAYLOAD_MAX 1400
#define SIM_RTP_HEADER 12
#define SIM_RTP_PACKET_MAX (SIM_RTP_PAYLOAD_MAX + SIM_RTP_HEADER)

/* One RTP packet as the muxer produced it. */
struct sim_clip_packet {
    uint32_t offset; /* of the whole packet (header included) in sim_clip.data */
    uint16_t size;   /* bytes, SIM_RTP_HEADER..SIM_RTP_PACKET_MAX */
    uint8_t track;   /* index into sim_clip.tracks */
    uint8_t frames;  /* access units whose last packet this is (0 for most video packets) */
    uint32_t rtp_ts; /* timestamp relative to the clip start, in the track's clock */
    int64_t time_us; /* media time at which it is due, from the clip start */
};

struct sim_clip_track {
    int is_video;
    int clock_rate; /* RTP clock, Hz */
    int payload_type;
    uint32_t loop_ts; /* clip length in clock units: added to timestamps on each loop */
};

/* Read-only after sim_clip_open; may be shared by any number of sessions. */
struct sim_clip {
    uint8_t *data; /* all packets back to back */
    size_t data_size;
    struct sim_clip_packet *packets; /* sorted by time_us, then video before audio */
    size_t n_packets;
    struct sim_clip_track tracks[SIM_CLIP_MAX_TRACKS];
    int n_tracks;
    int64_t duration_us; /* clip length; the schedule repeats with this period */
    int video_frames;    /* access units per loop */
    int audio_frames;
    char *sdp; /* NUL-terminated, CRLF lines */
    size_t sdp_len;
    char path[PATH_MAX]; /* the media file it came from */
};

/*
 * Generates (if missing) and loads the clip for cfg. On success *out owns the clip; free it with
 * sim_clip_close. Returns -1 with err filled if the media directory cannot be created, ffmpeg is
 * missing or fails, the file cannot be read, or the RTP muxer rejects the streams.
 * Blocks while ffmpeg runs (well under a second for small test sizes; longer for 1080p).
 */
int sim_clip_open(struct sim_clip **out, const struct sim_config *cfg, char *err, size_t errlen);

/* Frees everything the clip owns. NULL-safe. */
void sim_clip_close(struct sim_clip *clip);

#endif
