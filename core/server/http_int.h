/* SPDX-License-Identifier: MIT */
/*
 * core/server/http_int.h - what the route handlers share: one call per
 * request with the whole (bounded) body, and JSON/error replies.
 */
#ifndef TS_SERVER_HTTP_INT_H
#define TS_SERVER_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>

#include "server_int.h"

/* An HTTP request with its body read: what a route handler gets. */
struct http_req {
	struct ts_server *s;
	struct MHD_Connection *c;
	const char *method, *url;
	const char *body;
	size_t len;
};

enum MHD_Result ts_srv_http_json(struct http_req *r, unsigned status, json_t *obj);
/* {"error":{"message","type","param","code"}} in OpenAI's shape. */
enum MHD_Result ts_srv_http_error(struct http_req *r, unsigned status, const char *field,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
enum MHD_Result ts_srv_http_api_error(struct http_req *r, const struct ts_api_error *e);
double ts_srv_http_unix(struct ts_server *s, double t);

/* api_jobs.c */
enum MHD_Result ts_srv_api_generate(struct http_req *r, int async);
enum MHD_Result ts_srv_api_job_get(struct http_req *r, const char *id, const char *what);
enum MHD_Result ts_srv_api_job_cancel(struct http_req *r, const char *id);
enum MHD_Result ts_srv_api_job_list(struct http_req *r);
/* Under mu: the job as JSON. */
json_t *ts_srv_job_json(struct ts_server *s, const struct ts_job *j);

/* sse.c */
enum MHD_Result ts_srv_api_job_events(struct http_req *r, const char *id);

/* admin.c */
enum MHD_Result ts_srv_api_admin(struct http_req *r, const char *what);

#endif /* TS_SERVER_HTTP_INT_H */
