/*
 * sim_media.h: the test clip's media file: its name, and generating it with the ffmpeg CLI.
 *
 * One file per parameter set (codec, size, fps, GOP, bitrate, audio, length), named from those
 * parameters so later runs reuse it. It is written under a temporary name and renamed into place,
 * so a run killed mid-generation never leaves a half file under the final name. The content is
 * testsrc2 with the media time (hh:mm:ss.mmm) and frame number burned in, encoded with a fixed,
 * closed GOP and no B-frames so that the clip loops seamlessly; audio, if any, is a sine tone of
 * the same length. Container: Matroska.
 */
#ifndef CAMSIM_SIM_MEDIA_H
#define CAMSIM_SIM_MEDIA_H

#include <stddef.h>

#include "tools/camsim/sim_config.h"

/* Frames in the clip: --loop-seconds rounded to whole GOPs, at least one GOP. */
int sim_media_frames(const struct sim_config *cfg);

/*
 * Writes the media file path for cfg into path (size bytes): --media-dir, else
 * $XDG_CACHE_HOME/camsim, else $HOME/.cache/camsim, plus a name built from the parameters.
 * Returns 0, or -1 with err filled if no directory can be determined or the path does not fit.
 */
int sim_media_path(const struct sim_config *cfg, char *path, size_t size, char *err, size_t errlen);

/*
 * Makes sure the media file for cfg exists, generating it if needed, and writes its path into
 * path. Runs `ffmpeg` from PATH in a child process (killed if camsim dies) and waits for it.
 * Returns 0, or -1 with err filled if the directory cannot be created or ffmpeg cannot run or
 * fails (its own error lines go to stderr first).
 */
int sim_media_ensure(const struct sim_config *cfg, char *path, size_t size, char *err,
                     size_t errlen);

#endif
