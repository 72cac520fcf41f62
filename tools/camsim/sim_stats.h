/*
 * sim_stats.h: camsim's counters and the JSON file tests read them from.
 *
 * The file (--stats FILE) is rewritten every second and at exit, atomically (a temporary file in
 * the same directory, then rename), so a reader never sees a partial document:
 *
 *   {"sessions_total": N, "sessions_active": N, "sessions_dropped": N,
 *    "cameras": {"cam1": {"video_frames_sent": N, "audio_frames_sent": N, "sessions": N,
 *                         "sessions_active": N}, ...}}
 *
 * sessions_total: sessions that started playing. sessions_active: playing now. sessions_dropped:
 * playing sessions the server ended (output queue overflow, keep-alive timeout), not those the
 * client ended. Per camera, video_frames_sent / audio_frames_sent count access units whose last
 * RTP packet was handed to the kernel (TCP: written to the socket; UDP: accepted by sendmmsg),
 * summed over all sessions of that camera; sessions counts sessions that started playing on it.
 */
#ifndef CAMSIM_SIM_STATS_H
#define CAMSIM_SIM_STATS_H

#include <stddef.h>
#include <stdint.h>

struct sim_cam_stats {
    uint64_t video_frames_sent;
    uint64_t audio_frames_sent;
    uint64_t sessions;
    uint64_t sessions_active;
};

/* Plain counters; the server owns and updates them. */
struct sim_stats {
    uint64_t sessions_total;
    uint64_t sessions_active;
    uint64_t sessions_dropped;
    struct sim_cam_stats *cams; /* n_cams entries; camera i is named <name><i+1> */
    int n_cams;
};

/* Allocates zeroed counters for n_cams cameras. Returns 0, or -1 if out of memory. */
int sim_stats_init(struct sim_stats *s, int n_cams);
void sim_stats_release(struct sim_stats *s);

/*
 * Writes the JSON document to path atomically (path.tmp.<pid>, then rename). Not fsynced: the
 * file is a live view for tests, not a durable record. Returns 0, or -1 with err filled.
 */
int sim_stats_write(const struct sim_stats *s, const char *name, const char *path, char *err,
                    size_t errlen);

#endif
