#include "controller/zap.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/zcurve.h"

_Static_assert(ZAP_KEY_LEN == ZCURVE_KEY_LEN, "a ZAP key is a CURVE key");

/* Denials and failures a peer can cause: at most this many log lines per interval. */
#define ZAP_LOG_BURST       10u
#define ZAP_LOG_INTERVAL_MS 10000u

/* Frames a request's envelope may have before its empty delimiter. */
#define ZAP_ENVELOPE_MAX 4

/* Frames of a reply after the envelope (RFC 27 "Reply"). */
#define ZAP_REPLY_FRAMES 6

/* Largest frame the handler's socket accepts: every field is at most ZAP_FIELD_MAX bytes, and
 * PLAIN credentials at most 255 each. */
#define ZAP_SOCKET_MAX_MSG 4096u

/* What to answer. */
struct zap_answer {
	const char *status; /* "200", "300", "400", "500" */
	const char *text;
	char user_id[ZAP_USER_ID_MAX + 1];
	const uint8_t *key; /* the client's key, for the metadata of a 200 */
};

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- parsing ---- */

static bool zap__eq(struct zap_bytes b, const char *s)
{
	size_t len = strlen(s);
	return b.len == len && (len == 0 || memcmp(b.p, s, len) == 0);
}

int zap_request_parse(const struct zap_bytes *frames, size_t n, struct zap_request *out)
{
	const struct zap_bytes *f;
	size_t i = 0;
	memset(out, 0, sizeof(*out));
	/* Envelope: routing ids up to the empty delimiter. */
	while (i < n && i <= ZAP_ENVELOPE_MAX && frames[i].len != 0)
		i++;
	if (i == 0 || i > ZAP_ENVELOPE_MAX || i == n)
		return -EPROTO;
	out->envelope = i + 1;
	f = frames + out->envelope;
	n -= out->envelope;
	/* [version] [request id]: enough to answer. */
	if (n < 2 || f[1].len > ZAP_FIELD_MAX)
		return -EBADMSG;
	out->request_id = f[1];
	out->answerable = true;
	if (!zap__eq(f[0], "1.0"))
		return -EPROTONOSUPPORT;
	/* [domain] [address] [identity] [mechanism] [credentials]... */
	if (n < 6)
		return -EBADMSG;
	for (i = 2; i < 6; i++)
		if (f[i].len > ZAP_FIELD_MAX)
			return -EBADMSG;
	out->domain = f[2];
	out->address = f[3];
	out->identity = f[4];
	out->mechanism = f[5];
	if (zap__eq(f[5], "CURVE")) {
		if (n != 7 || f[6].len != ZAP_KEY_LEN)
			return -EBADMSG;
		out->mech = ZAP_MECH_CURVE;
		out->curve_key = f[6].p;
	} else if (zap__eq(f[5], "PLAIN")) {
		if (n != 8)
			return -EBADMSG;
		out->mech = ZAP_MECH_PLAIN;
	} else if (zap__eq(f[5], "NULL")) {
		if (n != 6)
			return -EBADMSG;
		out->mech = ZAP_MECH_NULL;
	} else {
		out->mech = ZAP_MECH_OTHER;
	}
	return 0;
}

/* ---- answering ---- */

/* A peer-supplied field, fit for a log line: printable ASCII, no quote or backslash, bounded. */
static void zap__printable(struct zap_bytes b, char *out, size_t size)
{
	size_t i;
	for (i = 0; i < b.len && i + 1 < size; i++) {
		uint8_t c = b.p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[i] = (char)c;
		else
			out[i] = '?';
	}
	out[i] = '\0';
}

static struct zap_domain *zap__domain_find(struct zap *zap, struct zap_bytes name)
{
	for (size_t i = 0; i < zap->ndomains; i++)
		if (zap__eq(name, zap->domains[i].name))
			return &zap->domains[i];
	return NULL;
}

static bool zap__user_id_valid(const char *uid)
{
	size_t len = strnlen(uid, ZAP_USER_ID_MAX + 1);
	if (len == 0 || len > ZAP_USER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (uid[i] <= 0x20 || uid[i] >= 0x7f)
			return false;
	return true;
}

/* Apply a domain's policy to a well-formed request. */
static void zap__decide(struct zap_domain *d, const struct zap_request *req, struct zap_answer *a)
{
	if (req->mech != ZAP_MECH_CURVE) {
		*a = (struct zap_answer){"400", "mechanism not allowed", "", NULL};
		d->stats.denied++;
		return;
	}
	if (d->policy == ZAP_POLICY_ANY_KEY) {
		*a = (struct zap_answer){"200", "OK", "", req->curve_key};
		d->stats.allowed++;
		return;
	}
	int rc = d->lookup(d->arg, req->curve_key, a->user_id);
	a->user_id[ZAP_USER_ID_MAX] = '\0';
	if (rc == 0 && zap__user_id_valid(a->user_id)) {
		a->status = "200";
		a->text = "OK";
		a->key = req->curve_key;
		d->stats.allowed++;
		return;
	}
	a->user_id[0] = '\0';
	if (rc == -ENOENT || rc == -EACCES) {
		a->status = "400";
		a->text = rc == -ENOENT ? "unknown key" : "revoked key";
		d->stats.denied++;
	} else if (rc == 0) {
		/* A lookup bug, not the client's fault: refuse without blaming the key. */
		a->status = "500";
		a->text = "internal error";
		d->stats.failed++;
		LOG_ERR(CTL, "ZAP lookup returned an invalid user id", "domain=%s", d->name);
	} else {
		a->status = "300";
		a->text = "temporary failure";
		d->stats.failed++;
	}
}

/* Log a refusal: debug and rate-limited, since any client can cause one. */
static void zap__log_refusal(struct zap *zap, const struct zap_request *req,
			     const struct zap_answer *a)
{
	char domain[64], address[64], key[ZCURVE_HEX_LEN + 1] = "-";
	uint32_t suppressed = 0;
	if (!log_enabled(LOG_LEVEL_DEBUG) ||
	    !log_ratelimit_allow(&zap->rl, uv_now(zap->zs.poll.loop), &suppressed))
		return;
	zap__printable(req->domain, domain, sizeof(domain));
	zap__printable(req->address, address, sizeof(address));
	if (req->curve_key) {
		zcurve_hex_encode(req->curve_key, key);
		key[16] = '\0'; /* a prefix names the key well enough */
	}
	LOG_DEBUG(CTL, "ZAP refused a connection",
		  "status=%s reason=\"%s\" domain=\"%s\" address=\"%s\" key=%s suppressed=%u",
		  a->status, a->text, domain, address, key, suppressed);
}

static int zap__frame_set(zmq_msg_t *f, const void *data, size_t len)
{
	if (zmq_msg_init_size(f, len) != 0)
		return -ENOMEM;
	if (len)
		memcpy(zmq_msg_data(f), data, len);
	return 0;
}

/* ZMTP metadata (RFC 23 section 3.3): name length (1 octet), name, value length (4 octets, network
 * order), value. One property: the client's key in hex. */
static int zap__metadata(zmq_msg_t *f, const uint8_t *key)
{
	uint8_t buf[1 + sizeof(ZAP_PROP_CURVE_KEY) - 1 + 4 + ZCURVE_HEX_LEN];
	char hex[ZCURVE_HEX_LEN + 1];
	const size_t name_len = sizeof(ZAP_PROP_CURVE_KEY) - 1;
	size_t off = 0;
	if (!key)
		return zap__frame_set(f, NULL, 0);
	zcurve_hex_encode(key, hex);
	buf[off++] = (uint8_t)name_len;
	memcpy(buf + off, ZAP_PROP_CURVE_KEY, name_len);
	off += name_len;
	buf[off++] = 0;
	buf[off++] = 0;
	buf[off++] = 0;
	buf[off++] = ZCURVE_HEX_LEN;
	memcpy(buf + off, hex, ZCURVE_HEX_LEN);
	off += ZCURVE_HEX_LEN;
	return zap__frame_set(f, buf, off);
}

/* Send the reply: the request's envelope (moved out of frames), then the six reply frames. */
static int zap__reply(struct zap *zap, zmq_msg_t *frames, const struct zap_request *req,
		      const struct zap_answer *a)
{
	zmq_msg_t out[ZAP_ENVELOPE_MAX + 1 + ZAP_REPLY_FRAMES];
	size_t n = req->envelope, i;
	int rc = 0;
	for (i = 0; i < n; i++) {
		(void)zmq_msg_init(&out[i]);
		(void)zmq_msg_move(&out[i], &frames[i]);
	}
	const struct zap_bytes fields[5] = {
		{(const uint8_t *)"1.0", 3},
		req->request_id,
		{(const uint8_t *)a->status, strlen(a->status)},
		{(const uint8_t *)a->text, strlen(a->text)},
		{(const uint8_t *)a->user_id, strlen(a->user_id)},
	};
	for (i = 0; i < 5 && rc == 0; i++, n++)
		rc = zap__frame_set(&out[n], fields[i].p, fields[i].len);
	if (rc == 0) {
		rc = zap__metadata(&out[n], a->key);
		n++;
	}
	if (rc != 0) {
		/* The frame that failed was not initialised: close only those before it. */
		for (i = 0; i + 1 < n; i++)
			(void)zmq_msg_close(&out[i]);
		return rc;
	}
	return zsock_send(&zap->zs, out, n);
}

static void zap__on_request(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct zap *zap = arg;
	struct zap_bytes views[ZSOCK_FRAMES_MAX];
	struct zap_request req;
	struct zap_answer a = {"500", "malformed request", "", NULL};
	struct zap_domain *d = NULL;
	(void)zs;
	for (size_t i = 0; i < n; i++)
		views[i] = (struct zap_bytes){zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i])};
	int rc = zap_request_parse(views, n, &req);
	if (rc == 0)
		d = zap__domain_find(zap, req.domain);
	if (rc != 0) {
		zap->other.failed++;
	} else if (!d) {
		a = (struct zap_answer){"400", "domain not served", "", NULL};
		zap->other.denied++;
	} else {
		zap__decide(d, &req, &a);
	}
	if (a.status[0] != '2')
		zap__log_refusal(zap, &req, &a);
	if (!req.answerable)
		return;
	rc = zap__reply(zap, frames, &req, &a);
	if (rc != 0)
		LOG_WARN(CTL, "cannot send ZAP reply", "err=\"%s\"", sdw_strerror(rc));
}

/* ---- lifecycle ---- */

int zap_init(struct zap *zap, uv_loop_t *loop, void *zmq_ctx)
{
	const struct zsock_options opts = {.max_msg_size = ZAP_SOCKET_MAX_MSG};
	int zero = 0, rc;
	void *sock;
	if (!zap || !loop || !zmq_ctx)
		return -EINVAL;
	memset(zap, 0, sizeof(*zap));
	sock = zmq_socket(zmq_ctx, ZMQ_ROUTER);
	if (!sock) {
		rc = errno > 0 ? -errno : -EIO;
		LOG_ERR(CTL, "cannot create ZAP socket", "err=\"%s\"", zmq_strerror(-rc));
		return rc;
	}
	/* Replies to handshakes that are gone are worthless: never hold the context open. */
	(void)zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
	/* Bound before the zsock exists, so that a failure (another handler in this context)
	 * leaves nothing registered with the loop. inproc has no wire, hence no ZMQ_MAXMSGSIZE to
	 * miss; zsock checks the size of every frame anyway. */
	if (zmq_bind(sock, ZAP_ENDPOINT) != 0) {
		rc = errno > 0 ? -errno : -EIO;
		LOG_ERR(CTL, "cannot bind ZAP handler", "endpoint=%s err=\"%s\"", ZAP_ENDPOINT,
			zmq_strerror(-rc));
		(void)zmq_close(sock);
		return rc;
	}
	rc = zsock_init(&zap->zs, loop, &sock, &opts, zap__on_request, zap);
	if (rc != 0)
		return rc;
	zap->rl.interval_ms = ZAP_LOG_INTERVAL_MS;
	zap->rl.burst = ZAP_LOG_BURST;
	return 0;
}

int zap_domain_add(struct zap *zap, const char *domain, enum zap_policy policy,
		   zap_lookup_fn *lookup, void *arg)
{
	size_t len = domain ? strnlen(domain, ZAP_DOMAIN_MAX + 1) : 0;
	if (len == 0 || len > ZAP_DOMAIN_MAX)
		return -EINVAL;
	if ((policy == ZAP_POLICY_LOOKUP) != (lookup != NULL) ||
	    (policy != ZAP_POLICY_LOOKUP && policy != ZAP_POLICY_ANY_KEY))
		return -EINVAL;
	for (size_t i = 0; i < zap->ndomains; i++)
		if (strcmp(zap->domains[i].name, domain) == 0)
			return -EEXIST;
	if (zap->ndomains == ZAP_DOMAINS_MAX)
		return -ENOSPC;
	struct zap_domain *d = &zap->domains[zap->ndomains++];
	memset(d, 0, sizeof(*d));
	memcpy(d->name, domain, len);
	d->policy = policy;
	d->lookup = lookup;
	d->arg = arg;
	return 0;
}

static void zap__on_closed(struct zsock *zs)
{
	struct zap *zap = container_of(zs, struct zap, zs);
	if (zap->close_cb)
		zap->close_cb(zap);
}

void zap_close(struct zap *zap, zap_close_cb *cb)
{
	zap->close_cb = cb;
	zsock_close(&zap->zs, zap__on_closed);
}

int zap_stats_get(const struct zap *zap, const char *domain, struct zap_stats *out)
{
	if (!domain) {
		*out = zap->other;
		return 0;
	}
	for (size_t i = 0; i < zap->ndomains; i++) {
		if (strcmp(zap->domains[i].name, domain) == 0) {
			*out = zap->domains[i].stats;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- reading what ZAP authenticated ---- */

int zap_msg_user_id(const zmq_msg_t *msg, char out[static ZAP_USER_ID_MAX + 1])
{
	/* ZeroMQ's property name; zmq.h defines it only in its draft section. */
	const char *uid = zmq_msg_gets(msg, "User-Id");
	out[0] = '\0';
	if (!uid || !uid[0])
		return -ENOENT;
	size_t len = strnlen(uid, ZAP_USER_ID_MAX + 1);
	if (len > ZAP_USER_ID_MAX)
		return -EBADMSG;
	memcpy(out, uid, len + 1);
	return 0;
}

int zap_msg_curve_key(const zmq_msg_t *msg, uint8_t key[static ZAP_KEY_LEN])
{
	const char *hex = zmq_msg_gets(msg, ZAP_PROP_CURVE_KEY);
	if (!hex)
		return -ENOENT;
	return zcurve_hex_decode(hex, strnlen(hex, ZCURVE_HEX_LEN + 1), key) == 0 ? 0 : -EBADMSG;
}
