// SPDX-License-Identifier: MIT
/*
 * core/server/httpc.c - see httpc.h. Loopback only, by construction: the
 * address is 127.0.0.1, never a name.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tetri/error.h>

#include "httpc.h"

#define REPLY_TIMEOUT_MS 120000

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return TS_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static char *read_all(int fd, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (buf) {
		ssize_t r;

		if (n + 4096 > cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b)
				break;
			buf = b;
		}
		if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0)
			break;
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0) {
			buf[n] = 0;
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

int ts_httpc(int port, const char *method, const char *path, const char *body,
	     struct ts_httpc_reply *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t blen = body ? strlen(body) : 0, n;
	char head[512], *all, *sep;
	int fd, err;

	memset(r, 0, sizeof(*r));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return TS_EIO;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return TS_EIO;
	}
	snprintf(head, sizeof(head), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: "
		 "application/json\r\nContent-Length: %zu\r\n\r\n", method, path, blen);
	err = write_all(fd, head, strlen(head));
	if (!err && blen)
		err = write_all(fd, body, blen);
	all = err ? NULL : read_all(fd, &n);
	close(fd);
	if (!all)
		return TS_EIO;
	sep = strstr(all, "\r\n\r\n");
	if (!sep || sscanf(all, "HTTP/%*d.%*d %d", &r->status) != 1) {
		free(all);
		return TS_EIO;
	}
	r->len = n - (size_t)(sep + 4 - all);
	memmove(all, sep + 4, r->len + 1);
	r->body = all;
	return 0;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int ts_base64_decode(const char *in, unsigned char **out, size_t *len)
{
	size_t n = strlen(in), o = 0;
	unsigned char *buf;
	uint32_t acc = 0;
	int bits = 0;

	buf = malloc(n / 4 * 3 + 3);
	if (!buf)
		return TS_ENOMEM;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0) {
			free(buf);
			return TS_EFORMAT;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
		}
	}
	*out = buf;
	*len = o;
	return 0;
}
