// SPDX-License-Identifier: MIT
/*
 * core/server/admin.c - POST /admin/{policy,drain,models/load,models/unload}
 * behind a bearer token read from [server] admin_token_file at start (never
 * from the command line, where ps would show it). Without a token file the
 * admin endpoints answer 403. The work runs on the engine thread, between
 * two engine ticks, and the reply says what was done.
 *
 *   policy        {"policy": "fixed", "params": {"k": 2}}: swapped at the
 *                 next round boundary; requests in flight keep running
 *   drain         {"device": 3}: planned no more; its run in flight ends
 *   models/load   {"model": "x"}: [model x] of the config file (read again)
 *   models/unload {"model": "x"}: new requests refused; accepted ones run
 */
#include <stdio.h>
#include <string.h>

#include "http_int.h"

/* Same time whatever the first differing byte, so the token cannot be guessed byte by byte. */
static int token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return !d;
}

static int authorised(struct http_req *r)
{
	const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization");

	if (!h || strncmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	return token_equal(h, strlen(h), r->s->admin_token, strlen(r->s->admin_token));
}

static int param_kv(const char *key, json_t *v, char *out, size_t n)
{
	if (json_is_string(v))
		return snprintf(out, n, "%s=%s", key, json_string_value(v)) < (int)n ? 0 : -1;
	if (json_is_integer(v))
		return snprintf(out, n, "%s=%lld", key, (long long)json_integer_value(v)) < (int)n
			       ? 0 : -1;
	if (json_is_real(v))
		return snprintf(out, n, "%s=%.17g", key, json_real_value(v)) < (int)n ? 0 : -1;
	return -1;
}

/* The body into @op; NULL when fine, else the field at fault (*why says why). */
static const char *parse_op(json_t *root, const char *what, struct link_op *op, const char **why)
{
	json_t *v, *pv;
	const char *key;

	*why = "missing or of the wrong type";
	if (!strcmp(what, "policy")) {
		op->kind = OP_POLICY;
		v = json_object_get(root, "policy");
		if (!json_is_string(v) || json_string_length(v) >= sizeof(op->name))
			return "policy";
		snprintf(op->name, sizeof(op->name), "%s", json_string_value(v));
		v = json_object_get(root, "params");
		if (v && !json_is_object(v))
			return "params";
		json_object_foreach(v, key, pv) {
			*why = "values must be strings or numbers, at most 16 of them";
			if (op->n_params == OP_MAX_PARAMS ||
			    param_kv(key, pv, op->params[op->n_params], sizeof(op->params[0])))
				return "params";
			op->n_params++;
		}
		return NULL;
	}
	if (!strcmp(what, "drain")) {
		op->kind = OP_DRAIN;
		v = json_object_get(root, "device");
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1 << 20)
			return "device";
		op->dev = (int)json_integer_value(v);
		return NULL;
	}
	if (!strcmp(what, "models/load") || !strcmp(what, "models/unload")) {
		op->kind = what[7] == 'l' ? OP_LOAD : OP_UNLOAD;
		v = json_object_get(root, "model");
		if (!json_is_string(v) || !json_string_length(v) ||
		    json_string_length(v) >= TS_API_NAME_MAX)
			return "model";
		snprintf(op->name, sizeof(op->name), "%s", json_string_value(v));
		return NULL;
	}
	*why = NULL;
	return "";
}

enum MHD_Result ts_srv_api_admin(struct http_req *r, const char *what)
{
	struct ts_server *s = r->s;
	struct link_op op = { 0 };
	const char *field, *why;
	json_error_t jerr;
	json_t *root;

	if (!s->has_admin_token)
		return ts_srv_http_error(r, 403, NULL, "admin endpoints are off: set [server] "
				  "admin_token_file");
	if (!authorised(r))
		return ts_srv_http_error(r, 401, NULL, "admin: want the header Authorization: Bearer TOKEN");
	root = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return ts_srv_http_error(r, 400, NULL, "body must be a JSON object");
	}
	field = parse_op(root, what, &op, &why);
	json_decref(root);
	if (field && !why)
		return ts_srv_http_error(r, 404, NULL, "/admin/%s: no such admin endpoint", what);
	if (field)
		return ts_srv_http_error(r, 400, field, "%s: %s", field, why);
	pthread_mutex_lock(&s->mu);
	ts_srv_link_call(s, &op);
	pthread_mutex_unlock(&s->mu);
	if (op.rc)
		return ts_srv_http_error(r, op.status >= 400 ? op.status : 400, NULL, "%s", op.msg);
	return ts_srv_http_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "message", op.msg));
}
