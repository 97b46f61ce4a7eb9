// SPDX-License-Identifier: MIT
/*
 * core/server/video.c - a video model's decoded frames [1, 3, T, H, W] into
 * the MP4 a job hands back (core/video_mp4.h). The encoder writes files, so
 * the video goes through an unlinked temporary file in $TMPDIR and is read
 * back whole: a 17-frame 256x256 clip is tens of kilobytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/error.h>

#include "log.h"
#include "server_int.h"
#include "video_mp4.h"

/* The whole of @path (malloc'ed) into *buf, *len. */
static int slurp(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;
	int err = TS_EIO;

	*buf = NULL;
	if (!f)
		return TS_EIO;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET)) {
		*buf = malloc((size_t)n);
		if (!*buf)
			err = TS_ENOMEM;
		else if (fread(*buf, 1, (size_t)n, f) == (size_t)n)
			err = 0;
	}
	fclose(f);
	if (err) {
		free(*buf);
		*buf = NULL;
		return err;
	}
	*len = (size_t)n;
	return 0;
}

int ts_srv_video_mp4(const struct ts_tensor *img, double fps, unsigned char **mp4, size_t *len)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd, err, rate = fps >= 1 ? (int)(fps + 0.5) : TS_SRV_VIDEO_FPS;

	if (img->ndim != 5 || img->shape[0] != 1 || img->shape[1] != 3 || img->dtype != TS_F32)
		return TS_EINVAL;
	snprintf(path, sizeof(path), "%s/tetriserve-video-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		ts_err("server", "%s: %s", path, strerror(errno));
		return TS_EIO;
	}
	close(fd);
	err = ts_mp4_write(path, img->data, (int)img->shape[2], (int)img->shape[3],
			   (int)img->shape[4], rate, NULL);
	if (!err)
		err = slurp(path, mp4, len);
	unlink(path);
	return err;
}
