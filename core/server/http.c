// SPDX-License-Identifier: MIT
/*
 * core/server/http.c - the libmicrohttpd daemon: bodies read up to
 * [server] max_body_bytes (413 past it, refused before reading when
 * Content-Length says so), then one route handler per request.
 *
 * One thread per connection: a synchronous generation or an SSE stream
 * blocks its own connection's thread only, and a submission never waits
 * behind another connection's work.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <tetri/error.h>

#include "http_int.h"
#include "log.h"

struct conn {
	char *body;
	size_t len, cap;
	int too_big;
};

double ts_srv_http_unix(struct ts_server *s, double t)
{
	return s->epoch0 + t;
}

enum MHD_Result ts_srv_http_json(struct http_req *r, unsigned status, json_t *obj)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!text) {
		static const char oom[] = "{\"error\":{\"message\":\"out of memory\"}}";

		resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						       MHD_RESPMEM_PERSISTENT);
		status = 500;
	} else {
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(r->c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const char *error_type(unsigned status)
{
	if (status == 429)
		return "rate_limit_error";
	if (status == 401 || status == 403)
		return "authentication_error";
	if (status >= 500)
		return "server_error";
	return "invalid_request_error";
}

static enum MHD_Result error_v(struct http_req *r, unsigned status, const char *field,
			       const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return ts_srv_http_json(r, status, json_pack("{s:{s:s,s:s,s:s?,s:i}}", "error", "message", msg,
					      "type", error_type(status), "param",
					      field && field[0] ? field : NULL, "code", status));
}

enum MHD_Result ts_srv_http_error(struct http_req *r, unsigned status, const char *field,
			   const char *fmt, ...)
{
	va_list ap;
	enum MHD_Result ret;

	va_start(ap, fmt);
	ret = error_v(r, status, field, fmt, ap);
	va_end(ap);
	return ret;
}

enum MHD_Result ts_srv_http_api_error(struct http_req *r, const struct ts_api_error *e)
{
	return ts_srv_http_error(r, e->status ? e->status : 400, e->field, "%s", e->message);
}

static enum MHD_Result text_reply(struct http_req *r, unsigned status, char *text, size_t len,
				  const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text,
								    MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(r->c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result api_metrics(struct http_req *r)
{
	size_t len = 0;
	char *text;

	pthread_mutex_lock(&r->s->mu);
	text = ts_srv_metrics_render(r->s, &len);
	pthread_mutex_unlock(&r->s->mu);
	if (!text)
		return ts_srv_http_error(r, 500, NULL, "out of memory");
	return text_reply(r, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result api_ready(struct http_req *r)
{
	struct ts_server *s = r->s;
	int ready, draining, n = 0;

	pthread_mutex_lock(&s->mu);
	ready = s->ready;
	draining = s->draining;
	for (int i = 0; i < s->cat.n; i++)
		n += s->model_loaded[i];
	pthread_mutex_unlock(&s->mu);
	if (draining)
		return ts_srv_http_error(r, 503, NULL, "draining: the server is shutting down");
	if (!ready || !n)
		return ts_srv_http_error(r, 503, NULL, "not ready: %s", n ? "warming up" : "no model loaded");
	return ts_srv_http_json(r, 200, json_pack("{s:s,s:i}", "status", "ready", "models", n));
}

static enum MHD_Result api_models(struct http_req *r)
{
	struct ts_server *s = r->s;
	json_t *data = json_array();

	pthread_mutex_lock(&s->mu);
	for (int i = 0; data && i < s->cat.n; i++) {
		const struct ts_api_model *m = &s->cat.m[i];
		json_t *sizes = json_array();
		char sz[32];

		if (!s->model_loaded[i])
			continue;
		for (int k = 0; sizes && k < m->n_sizes; k++) {
			snprintf(sz, sizeof(sz), "%dx%d", m->w[k], m->h[k]);
			json_array_append_new(sizes, json_string(sz));
		}
		json_array_append_new(data, json_pack("{s:s,s:s,s:s,s:o*,s:i,s:i,s:b,s:i}", "id",
						      m->name, "object", "model", "owned_by",
						      "tetriserve", "sizes", sizes, "default_steps",
						      m->default_steps, "max_steps", m->max_steps,
						      "class_conditional", m->n_classes > 0,
						      "max_frames", m->max_frames));
	}
	pthread_mutex_unlock(&s->mu);
	return ts_srv_http_json(r, 200, json_pack("{s:s,s:o*}", "object", "list", "data", data));
}

/* "/v1/jobs/ID[/what]" -> id and what ("" when none); 0 or -1 when malformed. */
static int split_job_url(const char *rest, char *id, size_t id_len, const char **what)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	if (!n || n >= id_len)
		return -1;
	memcpy(id, rest, n);
	id[n] = 0;
	*what = slash ? slash + 1 : "";
	return 0;
}

static int is(const struct http_req *r, const char *method)
{
	return !strcmp(r->method, method);
}

static enum MHD_Result route_jobs(struct http_req *r, const char *rest)
{
	const char *what;
	char id[64];

	if (!*rest) {
		if (is(r, "POST"))
			return ts_srv_api_generate(r, 1);
		if (is(r, "GET"))
			return ts_srv_api_job_list(r);
		return ts_srv_http_error(r, 405, NULL, "%s /v1/jobs: use POST or GET", r->method);
	}
	if (split_job_url(rest, id, sizeof(id), &what))
		return ts_srv_http_error(r, 404, NULL, "no such job");
	if (!*what && is(r, "GET"))
		return ts_srv_api_job_get(r, id, "");
	if (!*what && is(r, "DELETE"))
		return ts_srv_api_job_cancel(r, id);
	if (!strcmp(what, "cancel") && is(r, "POST"))
		return ts_srv_api_job_cancel(r, id);
	if (!strcmp(what, "content") && is(r, "GET"))
		return ts_srv_api_job_get(r, id, "content");
	if (!strcmp(what, "events") && is(r, "GET"))
		return ts_srv_api_job_events(r, id);
	return ts_srv_http_error(r, 404, NULL, "%s %s: no such route", r->method, r->url);
}

static enum MHD_Result route(struct http_req *r)
{
	const char *u = r->url;

	if (!strncmp(u, "/v1/jobs", 8) && (u[8] == 0 || u[8] == '/'))
		return route_jobs(r, u[8] ? u + 9 : "");
	if (!strcmp(u, "/v1/images/generations")) {
		if (!is(r, "POST"))
			return ts_srv_http_error(r, 405, NULL, "use POST");
		return ts_srv_api_generate(r, 0);
	}
	if (!strncmp(u, "/admin/", 7)) {
		if (!is(r, "POST"))
			return ts_srv_http_error(r, 405, NULL, "use POST");
		return ts_srv_api_admin(r, u + 7);
	}
	if (!is(r, "GET") && !is(r, "HEAD"))
		return ts_srv_http_error(r, 405, NULL, "%s %s: no such route", r->method, u);
	if (!strcmp(u, "/health"))
		return ts_srv_http_json(r, 200, json_pack("{s:s}", "status", "ok"));
	if (!strcmp(u, "/ready"))
		return api_ready(r);
	if (!strcmp(u, "/v1/models"))
		return api_models(r);
	if (!strcmp(u, "/metrics"))
		return api_metrics(r);
	return ts_srv_http_error(r, 404, NULL, "%s: no such route", u);
}

static enum MHD_Result body_append(struct ts_server *s, struct conn *cn, const char *data,
				   size_t n)
{
	if (cn->too_big || cn->len + n > s->max_body) {
		cn->too_big = 1;
		return MHD_YES; /* read and drop the rest, then answer 413 */
	}
	if (cn->len + n + 1 > cn->cap) {
		size_t cap = cn->cap ? cn->cap : 1024;
		char *b;

		while (cap < cn->len + n + 1)
			cap *= 2;
		b = realloc(cn->body, cap);
		if (!b)
			return MHD_NO;
		cn->body = b;
		cn->cap = cap;
	}
	memcpy(cn->body + cn->len, data, n);
	cn->len += n;
	cn->body[cn->len] = 0;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct ts_server *s = cls;
	struct conn *cn = *con_cls;
	struct http_req r = { .s = s, .c = c, .method = method, .url = url };
	const char *cl;

	if (!cn) {
		cn = calloc(1, sizeof(*cn));
		if (!cn)
			return MHD_NO;
		*con_cls = cn;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > s->max_body) {
			cn->too_big = 1;
			return ts_srv_http_error(&r, 413, NULL, "body over %zu bytes", s->max_body);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		enum MHD_Result ret = body_append(s, cn, upload, *upload_size);

		*upload_size = 0;
		return ret;
	}
	if (cn->too_big)
		return ts_srv_http_error(&r, 413, NULL, "body over %zu bytes", s->max_body);
	r.body = cn->body ? cn->body : "";
	r.len = cn->len;
	return route(&r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	if (cn) {
		free(cn->body);
		free(cn);
	}
	*con_cls = NULL;
}

/* "HOST:PORT", "[V6]:PORT" -> a numeric socket address (no name lookups). */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	char *end;
	long port;
	size_t n;

	if (!colon || colon == listen)
		return TS_EINVAL;
	/* getaddrinfo takes 99999 and wraps it: a port is 0..65535, digits only. */
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return TS_EINVAL;
	n = colon - listen;
	if (listen[0] == '[') {
		if (listen[n - 1] != ']')
			return TS_EINVAL;
		listen++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return TS_EINVAL;
	memcpy(host, listen, n);
	host[n] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return TS_EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int ts_srv_http_start(struct ts_server *s, const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;

	if (parse_listen(listen, &ss, &sl)) {
		ts_err("server", "listen '%s': want HOST:PORT, a numeric host and a port 0..65535 "
		       "(127.0.0.1:8080, [::1]:8080)", listen);
		return TS_EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
				  MHD_OPTION_END);
	if (!s->mhd) {
		ts_err("server", "cannot listen on %s (in use, or not an address of this host)",
		       listen);
		return TS_EIO;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	ts_info("server", "listening on %s (port %u)", listen, (unsigned)s->port);
	return 0;
}

void ts_srv_http_stop(struct ts_server *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
}
