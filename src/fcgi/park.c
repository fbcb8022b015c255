/* park.c - the worker-to-waiter wire: a JSON ticket with the connection's
 * descriptor attached, and the eventfd of pokes. Both sides are processes of one
 * pool, but the waiter still checks every field: a ticket it cannot read
 * is dropped, never half-answered. */
#include "buildconf.h"
#include "fcgi/park.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <json-c/json.h>

#include "store/feed_cursor.h"

/* Room for one descriptor in a message's control data, aligned. */
union fd_control {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

static void put_str(json_object *o, const char *key, const char *s)
{
	if (s)
		json_object_object_add(o, key, json_object_new_string(s));
}

/* The ticket as JSON text; NULL when out of memory. */
static json_object *ticket_json(const struct park_ticket *t)
{
	json_object *o = json_object_new_object();
	char after[FEED_CURSOR_LEN];

	if (!o)
		return NULL;
	feed_cursor_encode(&t->q.after, after);
	json_object_object_add(o, "id", json_object_new_int(t->fcgi_id));
	json_object_object_add(o, "deadline_ms", json_object_new_int64(t->deadline_ms));
	json_object_object_add(o, "started_us", json_object_new_int64(t->started_us));
	put_str(o, "request_id", t->request_id);
	put_str(o, "traceparent", t->traceparent);
	put_str(o, "tenant", t->q.tenant);
	json_object_object_add(o, "all_tenants", json_object_new_boolean(t->q.all_tenants));
	put_str(o, "after", after);
	json_object_object_add(o, "limit", json_object_new_int(t->q.limit));
	json_object_object_add(o, "max_bytes", json_object_new_int64(t->q.max_bytes));
	put_str(o, "aggregate_types", t->q.aggregate_types);
	put_str(o, "event_types", t->q.event_types);
	put_str(o, "headers", t->headers);
	return o;
}

enum es_status park_send(int sock, const struct park_ticket *t, int fd)
{
	json_object *o = ticket_json(t);
	const char *text;
	size_t len;
	struct msghdr msg;
	struct iovec iov;
	union fd_control control;
	struct cmsghdr *cm;
	ssize_t n;

	if (!o)
		return ES_ENOMEM;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = text ? strlen(text) : 0;
	if (!text || len > PARK_TICKET_MAX) {
		json_object_put(o);
		return text ? ES_ERETRY : ES_ENOMEM;
	}
	memset(&msg, 0, sizeof msg);
	memset(&control, 0, sizeof control);
	iov.iov_base = (void *)text;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof control.buf;
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	do
		n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	json_object_put(o);
	if (n == (ssize_t)len)
		return ES_OK;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) ? ES_ERETRY
										  : ES_EUNAVAILABLE;
}

void park_poke(int poke_fd)
{
	uint64_t one = 1;

	/* Best effort: the waiter also polls on its own. */
	(void)!write(poke_fd, &one, sizeof one);
}

bool park_take_pokes(int poke_fd)
{
	uint64_t n = 0;

	return read(poke_fd, &n, sizeof n) == (ssize_t)sizeof n && n > 0;
}

/* Copies a string member into dst[size]; false when absent (and required),
 * not a string, or too long. */
static bool get_buf(json_object *o, const char *key, char *dst, size_t size, bool required)
{
	json_object *v;
	const char *s;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return !required;
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (strlen(s) >= size)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

/* A malloc'd copy of an optional string member into *dst (NULL when
 * absent); false when it is not a string or out of memory. */
static bool get_dup(json_object *o, const char *key, char **dst)
{
	json_object *v;

	*dst = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	*dst = strdup(json_object_get_string(v));
	return *dst != NULL;
}

static bool get_int64(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= min && *out <= max;
}

static bool ticket_parse(const char *text, size_t len, struct park_ticket *t)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *v;
	char after[FEED_CURSOR_LEN];
	char *types = NULL, *event_types = NULL;
	int64_t id, limit, max_bytes;
	bool ok = false;

	memset(t, 0, sizeof *t);
	if (!tok)
		return false;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		goto out;
	if (!get_int64(o, "id", 1, UINT16_MAX, &id) ||
	    !get_int64(o, "deadline_ms", 0, INT64_MAX, &t->deadline_ms) ||
	    !get_int64(o, "started_us", 0, INT64_MAX, &t->started_us) ||
	    !get_int64(o, "limit", 1, INT32_MAX, &limit) ||
	    !get_int64(o, "max_bytes", 0, INT64_MAX, &max_bytes) ||
	    !get_buf(o, "request_id", t->request_id, sizeof t->request_id, true) ||
	    !get_buf(o, "traceparent", t->traceparent, sizeof t->traceparent, false) ||
	    !get_buf(o, "tenant", t->tenant, sizeof t->tenant, false) ||
	    !get_buf(o, "after", after, sizeof after, true) || !feed_cursor_decode(after, &t->q.after) ||
	    !json_object_object_get_ex(o, "all_tenants", &v) || !json_object_is_type(v, json_type_boolean) ||
	    !get_dup(o, "aggregate_types", &types) || !get_dup(o, "event_types", &event_types) ||
	    !get_dup(o, "headers", &t->headers))
		goto out;
	t->fcgi_id = (uint16_t)id;
	t->q.limit = (int)limit;
	t->q.max_bytes = (long)max_bytes;
	t->q.all_tenants = json_object_get_boolean(v);
	t->q.tenant = t->tenant[0] ? t->tenant : NULL;
	t->q.aggregate_types = types;
	t->q.event_types = event_types;
	types = event_types = NULL;
	ok = true;
out:
	if (!ok)
		park_ticket_free(t);
	free(types);
	free(event_types);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

enum park_msg park_recv(int sock, struct park_ticket *t, int *fd)
{
	static char buf[PARK_TICKET_MAX + 1];
	struct msghdr msg;
	struct iovec iov = { buf, sizeof buf };
	union fd_control control;
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof control.buf;
	do
		n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return PARK_NONE;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	if (*fd < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !ticket_parse(buf, (size_t)n, t)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return PARK_BAD;
	}
	return PARK_TICKET;
}

void park_ticket_free(struct park_ticket *t)
{
	free((char *)t->q.aggregate_types);
	free((char *)t->q.event_types);
	free(t->headers);
	t->q.aggregate_types = t->q.event_types = NULL;
	t->headers = NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool park_same_query(const struct park_ticket *a, const struct park_ticket *b)
{
	return a->q.all_tenants == b->q.all_tenants && same_str(a->q.tenant, b->q.tenant) &&
	       a->q.after.txid == b->q.after.txid && a->q.after.position == b->q.after.position &&
	       a->q.limit == b->q.limit && a->q.max_bytes == b->q.max_bytes &&
	       same_str(a->q.aggregate_types, b->q.aggregate_types) &&
	       same_str(a->q.event_types, b->q.event_types);
}
