/* SPDX-License-Identifier: MIT */
/*
 * core/server/httpc.h - the smallest HTTP/1.0 client, for `tetriserve demo`
 * to drive its own server through the API a user would use: one request per
 * connection to a loopback port, the whole reply read until the server
 * closes (HTTP/1.0: no chunking).
 */
#ifndef TS_SERVER_HTTPC_H
#define TS_SERVER_HTTPC_H

#include <stddef.h>

struct ts_httpc_reply {
	int status;
	char *body;      /* NUL-terminated; free() it */
	size_t len;
};

/* @method @path to 127.0.0.1:@port with @body (JSON, may be NULL). 0 or TS_EIO. */
int ts_httpc(int port, const char *method, const char *path, const char *body,
	     struct ts_httpc_reply *r);

/* Standard base64 (as b64_json carries PNGs) into *out (malloc'ed), *len bytes. 0 or TS_EFORMAT. */
int ts_base64_decode(const char *in, unsigned char **out, size_t *len);

#endif /* TS_SERVER_HTTPC_H */
