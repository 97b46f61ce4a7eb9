// SPDX-License-Identifier: MIT
/*
 * tests/fuzz/replay.c - main() for a fuzz target without libFuzzer: feed it
 * every file of the corpus folders given (default: the committed request
 * corpus), one TAP line per folder. A crash or a sanitizer report fails it.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? n : 1);
	if (!buf || (n > 0 && fread(buf, 1, n, f) != (size_t)n)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static void replay_dir(const char *dir)
{
	char path[4096];
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0, bad = 0;

	if (!dp) {
		ok(0, "corpus %s: cannot open it", dir);
		return;
	}
	while ((d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (replay_file(path))
			bad++;
		else
			n++;
	}
	closedir(dp);
	ok(n > 0 && !bad, "corpus %s: %d inputs replayed, %d unreadable", dir, n, bad);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		replay_dir("tests/fuzz/corpus/request");
	for (int i = 1; i < argc; i++)
		replay_dir(argv[i]);
	return tap_done();
}
