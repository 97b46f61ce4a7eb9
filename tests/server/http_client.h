/* SPDX-License-Identifier: MIT */
/*
 * tests/server/http_client.h - the smallest HTTP/1.0 client the server
 * tests need: one request per connection to 127.0.0.1, the whole reply read
 * until the server closes (HTTP/1.0, so no chunking). Header-only.
 */
#ifndef TS_TESTS_HTTP_CLIENT_H
#define TS_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_reply {
	int status;
	char *head;   /* status line and headers */
	char *body;
	size_t body_len;
};

static inline void http_reply_free(struct http_reply *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static inline int http_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int http_send(int fd, const char *method, const char *path, const char *extra,
			    const char *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n"
			 "Content-Type: application/json\r\n\r\n",
			 method, path, extra ? extra : "", len);

	if (write(fd, head, n) != n)
		return -1;
	while (len) {
		ssize_t w = write(fd, body, len);

		if (w <= 0)
			return -1;
		body += w;
		len -= w;
	}
	return 0;
}

/* Read until EOF or @timeout_ms of silence; returns the bytes (NUL-terminated). */
static inline char *http_read_all(int fd, size_t *len, int timeout_ms)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (buf) {
		ssize_t r;

		if (n + 1024 > cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += r;
	}
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

static inline int http_parse(char *all, size_t n, struct http_reply *r)
{
	char *sep = strstr(all, "\r\n\r\n");

	if (!sep || sscanf(all, "HTTP/%*d.%*d %d", &r->status) != 1) {
		free(all);
		return -1;
	}
	*sep = 0;
	r->body_len = n - (size_t)(sep + 4 - all);
	r->body = malloc(r->body_len + 1);
	if (!r->body) {
		free(all);
		return -1;
	}
	memcpy(r->body, sep + 4, r->body_len);
	r->body[r->body_len] = 0;
	r->head = all;
	return 0;
}

/* One request; 0 and *r filled, or -1. @extra: more header lines, each ending "\r\n". */
static inline int http_do(int port, const char *method, const char *path, const char *extra,
			  const char *body, struct http_reply *r)
{
	int fd = http_connect(port);
	size_t n;
	char *all;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return -1;
	if (http_send(fd, method, path, extra, body ? body : "", body ? strlen(body) : 0)) {
		close(fd);
		return -1;
	}
	all = http_read_all(fd, &n, 20000);
	close(fd);
	return all ? http_parse(all, n, r) : -1;
}

/* The value of header @name in @r->head (case-sensitive name), copied into @out. */
static inline int http_header(const struct http_reply *r, const char *name, char *out,
			      size_t len)
{
	const char *p = r->head;
	size_t nl = strlen(name);

	while (p && (p = strstr(p, "\r\n"))) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
			return 0;
		}
	}
	return -1;
}

#endif /* TS_TESTS_HTTP_CLIENT_H */
