#include "edge/agent.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/ctl_msg.h"
#include "common/error.h"
#include "common/log.h"
#include "common/token_line.h"
#include "common/x509id.h"
#include "common/zcurve.h"
#include "common/zsock.h"
#include "edge/identity.h"

#define DEFAULT_BACKOFF_MIN_MS  500u
#define DEFAULT_BACKOFF_MAX_MS  30000u
#define DEFAULT_CONNECT_TIMEOUT 5000u
#define DEFAULT_ENROLL_TIMEOUT  10000u
#define DEFAULT_HEALTH_MS       2000u
#define DEFAULT_HB_IVL_MS       1000u
#define DEFAULT_HB_TIMEOUT_MS   3000u
#define DEFAULT_EVENT_QUEUE     1024u
#define DEFAULT_RENEW_CHECK_MS  60000u
/* Like a routing protocol's graceful-restart timer: long enough for a controller restart or
 * a short outage, short enough that a hub does not act for long on a stale view. */
#define DEFAULT_REACH_GRACE_MS 60000u
/* Health faster than this would be a controller misconfiguration flooding itself. */
#define HEALTH_MIN_MS 50u
/* Long enough for a last CommandResult to leave before a socket is replaced. */
#define CONTROL_LINGER_MS 1000

/* What the monitor reports (libzmq socket monitor, version 1 format). */
#define MONITOR_EVENTS                                                                             \
	(ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED |      \
	 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                   \
	 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* One queued event. */
struct qevent {
	Sdwan__EventType type;
	uint64_t timestamp_ms;
	uint64_t seq;
	char tunnel[64];
	char detail[256];
};

/* A zsock in its own allocation, freed by its close callback. */
struct agent_sock {
	struct zsock zs;
	struct agent *a;
};

/* Why a fresh identity is being made. */
enum agent_pending {
	PENDING_NONE,
	PENDING_ENROLL, /* first enrollment or RE_ENROLL command */
	PENDING_ROTATE, /* ROTATE_KEYS: new keys through CertRenewRequest */
	PENDING_RENEW,  /* certificate renewal with the current keys */
};

enum agent_timer {
	TIMER_BACKOFF,
	TIMER_CONNECT,
	TIMER_HEALTH,
	TIMER_RENEW,
	TIMER_ENROLL,
	TIMER_REACH_GRACE,
	TIMER_COUNT,
};

#define AGENT_COMMANDS_REMEMBERED 16
#define AGENT_COMMAND_REASON_MAX  160

struct answered_command {
	uint64_t msg_id; /* 0: free slot */
	Sdwan__CommandType type;
	bool ok;
	char reason[AGENT_COMMAND_REASON_MAX];
};

struct agent {
	uv_loop_t *loop;
	void *zctx;
	struct agent_options opts;
	struct agent_ops ops;
	char state_dir[PATH_MAX];

	/* Enrollment: the token (secret) and where to present it. */
	bool have_token;
	struct token_line token;
	char enroll_endpoint[IDENTITY_ENDPOINT_MAX];
	char first_endpoint[IDENTITY_ENDPOINT_MAX];

	struct identity id;      /* valid when stats.enrolled */
	struct identity pending; /* keys being enrolled or rotated */
	enum agent_pending pending_kind;
	uint64_t pending_msg_id; /* EnrollRequest / CertRenewRequest msg_id */
	uint64_t rotate_cmd_id;  /* ROTATE_KEYS command waiting for the renewal */
	/* The last commands answered: the controller sends a command again on a new session
	 * until it sees the answer, and a repeat must not be carried out twice (a second key
	 * rotation, a re-enrollment with a token already used). */
	struct answered_command answered[AGENT_COMMANDS_REMEMBERED];
	unsigned answered_next;

	struct agent_sock *ctl, *mon, *enr;
	unsigned mon_serial;
	uv_timer_t timers[TIMER_COUNT];
	uint32_t backoff_ms; /* next nominal delay */
	uint32_t health_ms;
	uint64_t msg_id;
	uint64_t event_seq;
	uint64_t started_ns;

	struct qevent *events; /* ring of opts.event_queue_max */
	uint32_t ev_head, ev_len;

	struct agent_stats stats;
	unsigned open_handles; /* timers and sockets still to be closed */
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t pick(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

/* ------------------------------------------------------------------------------------------ */
/* Sockets */

/* One handle (timer or socket) is closed; the last one after agent_close frees the agent. */
static void handle_closed(struct agent *a)
{
	a->open_handles--;
	if (!a->closing || a->open_handles != 0)
		return;
	void (*cb)(void *) = a->close_cb;
	void *arg = a->close_arg;
	free(a->events);
	identity_clear(&a->id);
	identity_clear(&a->pending);
	token_line_clear(&a->token);
	free(a);
	if (cb)
		cb(arg);
}

static void on_sock_closed(struct zsock *zs)
{
	struct agent_sock *as = (struct agent_sock *)zs;
	struct agent *a = as->a;
	free(as);
	handle_closed(a);
}

static void sock_drop(struct agent_sock **asp)
{
	struct agent_sock *as = *asp;
	*asp = NULL;
	if (as)
		zsock_close(&as->zs, on_sock_closed);
}

/* Wrap a new ZeroMQ socket in a zsock; takes ownership of *sock. */
static int sock_open(struct agent *a, void **sock, size_t max_msg, zsock_recv_cb *cb,
		     struct agent_sock **out)
{
	struct zsock_options zo = {.max_msg_size = max_msg, .max_frames = 2};
	struct agent_sock *as = calloc(1, sizeof(*as));
	if (!as) {
		(void)zmq_close(*sock);
		*sock = NULL;
		return -ENOMEM;
	}
	as->a = a;
	int rc = zsock_init(&as->zs, a->loop, sock, &zo, cb, a);
	if (rc != 0) {
		free(as);
		return rc;
	}
	a->open_handles++;
	*out = as;
	return 0;
}

/* Encode env and send it on as. Returns 0 or -errno (logged at debug). */
static int send_env(struct agent *a, struct agent_sock *as, struct Sdwan__Envelope *env)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (!as)
		return -ENOTCONN;
	env->sent_at_ms = wall_ms();
	int rc = ctl_msg_encode_alloc(env, &buf, &len);
	if (rc == 0) {
		struct zsock_buf b = {.data = buf, .len = len};
		rc = zsock_sendv(&as->zs, &b, 1);
	}
	if (rc != 0)
		LOG_DEBUG(CTL, "agent: send failed", "body=%s err=%d", ctl_msg_body_name(env), rc);
	ctl_msg_buf_free(buf, len);
	(void)a;
	return rc;
}

static uint64_t next_id(struct agent *a)
{
	return ++a->msg_id;
}

/* ------------------------------------------------------------------------------------------ */
/* Control connection */

static void schedule_reconnect(struct agent *a);
static int enroll_send(struct agent *a);
static int control_connect(struct agent *a);
static void send_health(struct agent *a);
static void flush_events(struct agent *a);
static void maybe_renew(struct agent *a);
static void on_control_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);
static void on_monitor_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);

/* The control session has been gone for the grace time: the controller's routes go. */
static void on_reach_grace(uv_timer_t *t)
{
	struct agent *a = t->data;
	if (!a->ops.reachability)
		return;
	LOG_NOTICE(CTL, "agent: controller routes withdrawn: no control session", "grace_ms=%u",
		   a->opts.reach_grace_ms);
	a->stats.reach_withdrawn++;
	int rc = a->ops.reachability(a->ops.arg, NULL);
	if (rc != 0)
		LOG_WARN(CTL, "agent: controller routes not withdrawn", "err=%s", sdw_strerror(rc));
}

/* Close the control socket and its monitor; the session is over. */
static void control_drop(struct agent *a)
{
	if (a->ctl && zsock_socket(&a->ctl->zs))
		(void)zmq_socket_monitor(zsock_socket(&a->ctl->zs), NULL, 0);
	sock_drop(&a->mon);
	sock_drop(&a->ctl);
	(void)uv_timer_stop(&a->timers[TIMER_CONNECT]);
	(void)uv_timer_stop(&a->timers[TIMER_HEALTH]);
	if (a->stats.connected) {
		LOG_NOTICE(CTL, "agent: controller connected -> disconnected", "endpoint=%s",
			   a->id.endpoint);
		if (!a->closing)
			(void)uv_timer_start(&a->timers[TIMER_REACH_GRACE], on_reach_grace,
					     a->opts.reach_grace_ms, 0);
	}
	a->stats.connected = false;
	/* A renewal in flight is lost with the session; the renew timer asks again. */
	if (a->pending_kind == PENDING_RENEW || a->pending_kind == PENDING_ROTATE) {
		identity_clear(&a->pending);
		a->pending_kind = PENDING_NONE;
		a->rotate_cmd_id = 0;
	}
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	LOG_INFO(CTL, "agent: no handshake with the controller in time", "endpoint=%s",
		 a->id.endpoint);
	control_drop(a);
	schedule_reconnect(a);
}

static void on_backoff(uv_timer_t *t)
{
	struct agent *a = t->data;
	bool retry = false;
	if (a->pending_kind == PENDING_ENROLL && !a->enr && enroll_send(a) != 0)
		retry = true;
	if (a->stats.enrolled && !a->ctl && control_connect(a) != 0)
		retry = true;
	if (retry)
		schedule_reconnect(a);
}

/* Jittered exponential backoff: a delay drawn from [d/2, d], d doubling up to the cap. */
static uint32_t backoff_next(struct agent *a)
{
	uint32_t d = a->backoff_ms, r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)uv_hrtime();
	uint32_t half = d / 2;
	uint32_t delay = half + (half ? r % (half + 1) : 0);
	uint32_t cap = a->opts.backoff_max_ms;
	a->backoff_ms = d > cap / 2 ? cap : d * 2;
	a->stats.last_backoff_ms = delay;
	return delay;
}

static void schedule_reconnect(struct agent *a)
{
	if (a->closing)
		return;
	uint32_t delay = backoff_next(a);
	LOG_DEBUG(CTL, "agent: reconnecting later", "delay_ms=%u", delay);
	(void)uv_timer_start(&a->timers[TIMER_BACKOFF], on_backoff, delay, 0);
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/*
 * Options every client socket gets: heartbeats and a bounded linger. The pings carry no TTL on
 * purpose: a TTL makes the controller's libzmq arm and cancel a timer per ping, and its timer
 * cancel walks every timer of the I/O thread (O(n) per ping at n edges). The controller judges
 * our liveness from health reports instead.
 */
static int client_options(struct agent *a, void *s)
{
	int rc = set_int(s, ZMQ_HEARTBEAT_IVL, (int)a->opts.heartbeat_ivl_ms);
	if (rc == 0)
		rc = set_int(s, ZMQ_HEARTBEAT_TIMEOUT, (int)a->opts.heartbeat_timeout_ms);
	if (rc == 0)
		rc = set_int(s, ZMQ_LINGER, CONTROL_LINGER_MS);
	if (rc == 0)
		rc = set_int(s, ZMQ_IMMEDIATE, 1);
	return rc;
}

/* A monitor PAIR on the control socket's events, connected before the socket connects. */
static int monitor_open(struct agent *a, void *ctl_sock)
{
	char ep[96];
	(void)snprintf(ep, sizeof(ep), "inproc://sdwan-agent-%p-%u", (void *)a, ++a->mon_serial);
	if (zmq_socket_monitor(ctl_sock, ep, MONITOR_EVENTS) != 0)
		return -errno;
	void *m = zmq_socket(a->zctx, ZMQ_PAIR);
	if (!m)
		return -errno;
	int rc = sock_open(a, &m, 4096, on_monitor_msg, &a->mon);
	if (rc == 0 && zsock_connect(&a->mon->zs, ep) != 0)
		rc = -EIO;
	return rc;
}

static int control_connect(struct agent *a)
{
	void *s = zmq_socket(a->zctx, ZMQ_DEALER);
	int rc = s ? 0 : -errno;
	if (rc == 0)
		rc = zcurve_client_setup(s, &a->id.curve, a->id.controller_key);
	if (rc == 0)
		rc = client_options(a, s);
	if (rc == 0)
		rc = monitor_open(a, s);
	if (rc == 0)
		rc = sock_open(a, &s, CTL_MSG_MAX_SIZE, on_control_msg, &a->ctl);
	else if (s)
		(void)zmq_close(s);
	if (rc == 0)
		rc = zsock_connect(&a->ctl->zs, a->id.endpoint);
	if (rc != 0) {
		LOG_WARN(CTL, "agent: cannot open the control socket", "endpoint=%s err=%d",
			 a->id.endpoint, rc);
		control_drop(a);
		return rc;
	}
	a->stats.connects++;
	(void)uv_timer_start(&a->timers[TIMER_CONNECT], on_connect_timeout,
			     a->opts.connect_timeout_ms, 0);
	return 0;
}

static void on_health_timer(uv_timer_t *t)
{
	send_health(t->data);
}

static void on_handshake(struct agent *a)
{
	(void)uv_timer_stop(&a->timers[TIMER_CONNECT]);
	(void)uv_timer_stop(&a->timers[TIMER_REACH_GRACE]);
	a->stats.connected = true;
	a->stats.handshakes++;
	a->backoff_ms = a->opts.backoff_min_ms;
	LOG_NOTICE(CTL, "agent: controller disconnected -> connected", "endpoint=%s site=%s",
		   a->id.endpoint, a->id.site);
	/* The first message tells the controller which generation runs here. */
	send_health(a);
	flush_events(a);
	(void)uv_timer_start(&a->timers[TIMER_HEALTH], on_health_timer, a->health_ms, a->health_ms);
	maybe_renew(a);
}

static void on_monitor_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct agent *a = arg;
	uint16_t ev = 0;
	uint32_t value = 0;
	(void)zs;
	if (n < 1 || zmq_msg_size(&frames[0]) < 6)
		return;
	memcpy(&ev, zmq_msg_data(&frames[0]), sizeof(ev));
	memcpy(&value, (uint8_t *)zmq_msg_data(&frames[0]) + 2, sizeof(value));
	switch (ev) {
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		on_handshake(a);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		a->stats.refusals++;
		LOG_WARN(CTL, "agent: the controller refused our key", "endpoint=%s status=%u",
			 a->id.endpoint, value);
		control_drop(a);
		schedule_reconnect(a);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		LOG_WARN(CTL, "agent: handshake with the controller failed (wrong controller key?)",
			 "endpoint=%s code=%u", a->id.endpoint, value);
		control_drop(a);
		schedule_reconnect(a);
		break;
	case ZMQ_EVENT_DISCONNECTED:
	case ZMQ_EVENT_CONNECT_RETRIED:
		/* Our backoff, not libzmq's fixed interval, paces the next attempt. */
		control_drop(a);
		schedule_reconnect(a);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Health and events */

static void send_health(struct agent *a)
{
	Sdwan__HealthReport local = SDWAN__HEALTH_REPORT__INIT, *hr = &local;
	struct Sdwan__Envelope env;
	if (!a->stats.connected)
		return;
	if (a->ops.health && a->ops.health(a->ops.arg, &hr) != 0)
		hr = &local;
	/* Our fields, restored after sending: the report is the ops' to free. */
	char *ver = hr->software_version;
	uint64_t up = hr->uptime_ms, gen = hr->generation_applied, ts = hr->timestamp_ms;
	hr->software_version = (char *)SDWAN_VERSION;
	hr->uptime_ms = (uv_hrtime() - a->started_ns) / 1000000u;
	hr->generation_applied = a->stats.generation;
	hr->timestamp_ms = wall_ms();
	hr->features = CTL_FEATURES_EDGE; /* what we read: the controller sends nothing else */
	ctl_msg_envelope_init(&env, next_id(a));
	env.body_case = SDWAN__ENVELOPE__BODY_HEALTH;
	env.health = hr;
	if (send_env(a, a->ctl, &env) == 0)
		a->stats.health_sent++;
	hr->software_version = ver;
	hr->uptime_ms = up;
	hr->generation_applied = gen;
	hr->timestamp_ms = ts;
	if (hr != &local && a->ops.health_free)
		a->ops.health_free(a->ops.arg, hr);
}

static int send_event(struct agent *a, const struct qevent *q)
{
	Sdwan__Event ev = SDWAN__EVENT__INIT;
	struct Sdwan__Envelope env;
	ev.type = q->type;
	ev.tunnel = (char *)q->tunnel;
	ev.detail = (char *)q->detail;
	ev.timestamp_ms = q->timestamp_ms;
	ev.seq = q->seq;
	ctl_msg_envelope_init(&env, next_id(a));
	env.body_case = SDWAN__ENVELOPE__BODY_EVENT;
	env.event = &ev;
	int rc = send_env(a, a->ctl, &env);
	if (rc == 0)
		a->stats.events_sent++;
	return rc;
}

static void flush_events(struct agent *a)
{
	while (a->ev_len > 0 && a->stats.connected) {
		if (send_event(a, &a->events[a->ev_head]) != 0)
			break;
		a->ev_head = (a->ev_head + 1) % a->opts.event_queue_max;
		a->ev_len--;
	}
	a->stats.events_queued = a->ev_len;
}

void agent_event(struct agent *a, Sdwan__EventType type, const char *tunnel, const char *detail)
{
	uint32_t cap = a->opts.event_queue_max;
	if (a->ev_len == cap) {
		/* Keep the newest: the controller cares most about the state now. */
		a->ev_head = (a->ev_head + 1) % cap;
		a->ev_len--;
		a->stats.events_dropped++;
	}
	struct qevent *q = &a->events[(a->ev_head + a->ev_len) % cap];
	memset(q, 0, sizeof(*q));
	q->type = type;
	q->seq = ++a->event_seq;
	q->timestamp_ms = wall_ms();
	(void)snprintf(q->tunnel, sizeof(q->tunnel), "%s", tunnel ? tunnel : "");
	(void)snprintf(q->detail, sizeof(q->detail), "%s", detail ? detail : "");
	a->ev_len++;
	flush_events(a);
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration */

static void send_ack(struct agent *a, uint64_t gen)
{
	Sdwan__ConfigAck ack = SDWAN__CONFIG_ACK__INIT;
	struct Sdwan__Envelope env;
	ack.generation = gen;
	ctl_msg_envelope_init(&env, next_id(a));
	env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_ACK;
	env.config_ack = &ack;
	if (send_env(a, a->ctl, &env) == 0)
		a->stats.acks++;
}

static void send_nack(struct agent *a, uint64_t gen, const struct agent_apply_error *err)
{
	Sdwan__ConfigNack nack = SDWAN__CONFIG_NACK__INIT;
	struct Sdwan__Envelope env;
	nack.generation = gen;
	nack.code = err->code ? err->code : SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID;
	nack.reason = (char *)err->reason;
	nack.tunnel = (char *)err->tunnel;
	ctl_msg_envelope_init(&env, next_id(a));
	env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_NACK;
	env.config_nack = &nack;
	if (send_env(a, a->ctl, &env) == 0)
		a->stats.nacks++;
}

static void set_health_interval(struct agent *a, uint32_t ms)
{
	ms = ms ? ms : a->opts.health_default_ms;
	if (ms < HEALTH_MIN_MS)
		ms = HEALTH_MIN_MS;
	if (ms == a->health_ms)
		return;
	a->health_ms = ms;
	if (a->stats.connected)
		(void)uv_timer_start(&a->timers[TIMER_HEALTH], on_health_timer, ms, ms);
}

/* Apply cfg through the ops. Returns 0 or nonzero with *err filled. */
static int apply_config(struct agent *a, const Sdwan__EdgeConfig *cfg,
			struct agent_apply_error *err)
{
	memset(err, 0, sizeof(*err));
	if (a->stats.enrolled && cfg->site && cfg->site[0] && strcmp(cfg->site, a->id.site) != 0) {
		err->code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID;
		(void)snprintf(err->reason, sizeof(err->reason),
			       "config for site %.31s, but this edge is site %s", cfg->site,
			       a->id.site);
		return -EINVAL;
	}
	int rc = a->ops.apply(a->ops.arg, cfg, err);
	if (rc != 0 && !err->reason[0])
		(void)snprintf(err->reason, sizeof(err->reason), "apply failed: %s",
			       sdw_strerror(rc));
	return rc;
}

static void on_config(struct agent *a, const Sdwan__EdgeConfig *cfg)
{
	struct agent_apply_error err;
	char detail[96];
	uint64_t gen = cfg->generation;
	if (gen <= a->stats.generation) {
		memset(&err, 0, sizeof(err));
		err.code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_STALE;
		(void)snprintf(err.reason, sizeof(err.reason),
			       "generation %llu is not newer than generation %llu running",
			       (unsigned long long)gen, (unsigned long long)a->stats.generation);
		LOG_INFO(CTL, "agent: stale config refused", "generation=%llu running=%llu",
			 (unsigned long long)gen, (unsigned long long)a->stats.generation);
		send_nack(a, gen, &err);
		return;
	}
	(void)snprintf(detail, sizeof(detail), "generation %llu", (unsigned long long)gen);
	if (apply_config(a, cfg, &err) != 0) {
		LOG_WARN(CTL, "agent: config refused", "generation=%llu tunnel=%s reason=\"%s\"",
			 (unsigned long long)gen, err.tunnel, err.reason);
		send_nack(a, gen, &err);
		agent_event(a, SDWAN__EVENT_TYPE__EVENT_TYPE_CONFIG_REJECTED, err.tunnel,
			    err.reason);
		return;
	}
	a->stats.generation = gen;
	/* What runs is what a restart must run again, before the controller answers. */
	if (identity_config_save(a->state_dir, cfg) != 0)
		LOG_ERR(CTL, "agent: config applied but not saved", "generation=%llu",
			(unsigned long long)gen);
	LOG_NOTICE(CTL, "agent: config applied", "generation=%llu tunnels=%zu",
		   (unsigned long long)gen, cfg->n_tunnels);
	set_health_interval(a, cfg->health_interval_ms);
	send_ack(a, gen);
	agent_event(a, SDWAN__EVENT_TYPE__EVENT_TYPE_CONFIG_APPLIED, NULL, detail);
}

/* ------------------------------------------------------------------------------------------ */
/* Keys, CSRs, enrollment and renewal */

static int keys_generate(struct identity *pending, bool ike, bool curve)
{
	int rc = 0;
	if (curve)
		rc = zcurve_keypair_generate(&pending->curve);
	if (rc == 0 && ike)
		rc = x509id_key_generate(X509ID_KEY_P256, &pending->ike_key);
	return rc;
}

static int csr_der(EVP_PKEY *key, const char *site, uint8_t **der, size_t *len)
{
	X509_REQ *req = NULL;
	int rc = x509id_csr_create(key, site, &req);
	if (rc == 0)
		rc = x509id_csr_encode(req, X509ID_DER, der, len);
	X509_REQ_free(req);
	return rc;
}

/* Take the certificate and CA of a response into *id, after checking they fit id's key. */
static int take_cert(struct identity *id, const ProtobufCBinaryData *cert_der,
		     const ProtobufCBinaryData *ca_der, size_t n_ca, const char *site)
{
	X509 *cert = NULL, *ca = NULL;
	struct x509id_identity names;
	int rc = x509id_cert_decode(cert_der->data, cert_der->len, X509ID_DER, &cert);
	if (rc == 0 && n_ca > 0)
		rc = x509id_cert_decode(ca_der[0].data, ca_der[0].len, X509ID_DER, &ca);
	if (rc == 0 && !ca && id->ca) {
		ca = id->ca;
		X509_up_ref(ca);
	}
	if (rc == 0 &&
	    (!ca || x509id_cert_identity(cert, &names) != 0 || strcmp(names.site, site) != 0 ||
	     X509_check_private_key(cert, id->ike_key) != 1))
		rc = -EKEYREJECTED;
	if (rc == 0) {
		struct x509id_result res;
		struct x509id_expect exp = {.site = site};
		rc = x509id_verify(cert, NULL, ca, &exp, &res);
		if (rc != 0)
			LOG_ERR(CTL, "agent: certificate from the controller does not verify",
				"reason=\"%s\"", res.reason);
	}
	if (rc == 0) {
		X509_free(id->cert);
		X509_free(id->ca);
		id->cert = cert;
		id->ca = ca;
		memcpy(id->site, names.site, sizeof(id->site));
		cert = ca = NULL;
	}
	X509_free(cert);
	X509_free(ca);
	return rc;
}

static void on_enroll_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);

static void on_enroll_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	LOG_WARN(CTL, "agent: no enrollment answer in time", "endpoint=%s", a->enroll_endpoint);
	sock_drop(&a->enr);
	schedule_reconnect(a);
}

/* Send EnrollRequest with the pending keys on a fresh socket. */
static int enroll_send(struct agent *a)
{
	Sdwan__EnrollRequest req = SDWAN__ENROLL_REQUEST__INIT;
	struct Sdwan__Envelope env;
	char line[TOKEN_LINE_MAX];
	uint8_t *der = NULL;
	size_t der_len = 0;
	void *s = zmq_socket(a->zctx, ZMQ_DEALER);
	int rc = s ? 0 : -errno;
	if (rc == 0)
		rc = zcurve_client_setup(s, &a->pending.curve, a->token.controller_key);
	if (rc == 0)
		rc = client_options(a, s);
	if (rc == 0)
		rc = set_int(s, ZMQ_IMMEDIATE, 0); /* queue the request until the handshake */
	if (rc == 0)
		rc = sock_open(a, &s, CTL_MSG_ENROLL_MAX_SIZE, on_enroll_msg, &a->enr);
	else if (s)
		(void)zmq_close(s);
	if (rc == 0)
		rc = zsock_connect(&a->enr->zs, a->enroll_endpoint);
	if (rc == 0)
		rc = csr_der(a->pending.ike_key, a->token.site, &der, &der_len);
	if (rc == 0)
		rc = token_line_format(&a->token, line);
	if (rc == 0) {
		req.token = line;
		req.csr_der.data = der;
		req.csr_der.len = der_len;
		req.curve_public_key.data = a->pending.curve.public_key;
		req.curve_public_key.len = ZCURVE_KEY_LEN;
		req.software_version = (char *)SDWAN_VERSION;
		req.features = CTL_FEATURES_EDGE;
		a->pending_msg_id = next_id(a);
		ctl_msg_envelope_init(&env, a->pending_msg_id);
		env.body_case = SDWAN__ENVELOPE__BODY_ENROLL_REQUEST;
		env.enroll_request = &req;
		rc = send_env(a, a->enr, &env);
	}
	OPENSSL_cleanse(line, sizeof(line));
	free(der);
	if (rc != 0) {
		LOG_WARN(CTL, "agent: cannot send the enrollment request", "endpoint=%s err=%d",
			 a->enroll_endpoint, rc);
		sock_drop(&a->enr);
		return rc;
	}
	a->stats.enroll_attempts++;
	LOG_NOTICE(CTL, "agent: enrolling", "site=%s endpoint=%s", a->token.site,
		   a->enroll_endpoint);
	(void)uv_timer_start(&a->timers[TIMER_ENROLL], on_enroll_timeout, a->opts.enroll_timeout_ms,
			     0);
	return 0;
}

static void fail(struct agent *a, int err, const char *reason)
{
	LOG_ERR(CTL, "agent: giving up", "reason=\"%s\"", reason);
	if (a->ops.failed)
		a->ops.failed(a->ops.arg, err, reason);
}

/* The pending identity is complete: make it ours, store it, and (re)connect. */
static int adopt_pending(struct agent *a)
{
	int rc = identity_save(a->state_dir, &a->pending);
	if (rc != 0)
		return rc;
	identity_clear(&a->id);
	a->id = a->pending;
	memset(&a->pending, 0, sizeof(a->pending));
	a->pending_kind = PENDING_NONE;
	a->stats.enrolled = true;
	if (a->ops.identity_changed)
		a->ops.identity_changed(a->ops.arg, a->id.ike_key, a->id.cert, a->id.ca);
	control_drop(a);
	(void)uv_timer_stop(&a->timers[TIMER_BACKOFF]);
	a->backoff_ms = a->opts.backoff_min_ms;
	if (control_connect(a) != 0)
		schedule_reconnect(a);
	return 0;
}

static void on_enroll_response(struct agent *a, const Sdwan__EnrollResponse *r)
{
	int rc;
	if (r->status == SDWAN__CERT_STATUS__CERT_STATUS_INTERNAL) {
		LOG_WARN(CTL, "agent: controller failed the enrollment; retrying", "reason=\"%s\"",
			 r->error_reason);
		schedule_reconnect(a);
		return;
	}
	if (r->status != SDWAN__CERT_STATUS__CERT_STATUS_OK) {
		char reason[320];
		(void)snprintf(reason, sizeof(reason), "enrollment refused (status %d): %s",
			       (int)r->status, r->error_reason);
		identity_clear(&a->pending);
		identity_pending_remove(a->state_dir);
		a->pending_kind = PENDING_NONE;
		/* A refused re-enrollment leaves the identity we have: keep running on it. */
		if (a->stats.enrolled)
			LOG_WARN(CTL, "agent: re-enrollment refused", "reason=\"%s\"", reason);
		else
			fail(a, -EACCES, reason);
		return;
	}
	rc = take_cert(&a->pending, &r->certificate_der, r->ca_chain_der, r->n_ca_chain_der,
		       a->token.site);
	if (rc == 0) {
		memcpy(a->pending.controller_key, a->token.controller_key, ZCURVE_KEY_LEN);
		if (!a->pending.endpoint[0])
			memcpy(a->pending.endpoint, a->first_endpoint, sizeof(a->first_endpoint));
		rc = adopt_pending(a);
	}
	if (rc != 0) {
		fail(a, rc, "enrollment answer unusable or identity not stored");
		return;
	}
	token_line_clear(&a->token);
	a->have_token = false;
	LOG_NOTICE(CTL, "agent: enrolled", "site=%s", a->id.site);
}

static void on_enroll_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct agent *a = arg;
	struct Sdwan__Envelope *env = NULL;
	struct ctl_msg_error err;
	(void)zs;
	if (n != 1 || ctl_msg_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
				     CTL_MSG_ENROLL_MAX_SIZE, &env, &err) != 0) {
		LOG_DEBUG(CTL, "agent: unusable message on the enrollment path", "frames=%zu", n);
		return;
	}
	if (env->body_case == SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE &&
	    env->in_reply_to == a->pending_msg_id && a->pending_kind == PENDING_ENROLL) {
		(void)uv_timer_stop(&a->timers[TIMER_ENROLL]);
		sock_drop(&a->enr);
		on_enroll_response(a, env->enroll_response);
	}
	ctl_msg_free(env);
}

/* Begin an enrollment with fresh keys and a.token. */
static int enroll_begin(struct agent *a)
{
	identity_clear(&a->pending);
	a->pending_kind = PENDING_ENROLL;
	/* Keys kept from an attempt whose answer never came (the process was restarted): the
	 * controller answers the same keys with the certificate it issued, where new keys would
	 * find the token used. */
	int rc = identity_pending_load(a->state_dir, &a->pending);
	if (rc == 0) {
		LOG_NOTICE(CTL, "agent: enrolling with the keys of an earlier attempt", "site=%s",
			   a->token.site);
	} else {
		rc = keys_generate(&a->pending, true, true);
		if (rc == 0)
			rc = identity_pending_save(a->state_dir, &a->pending);
	}
	if (rc == 0 && a->stats.enrolled)
		memcpy(a->pending.endpoint, a->id.endpoint, sizeof(a->pending.endpoint));
	if (rc == 0 && enroll_send(a) != 0)
		schedule_reconnect(a);
	return rc;
}

static int send_renew_request(struct agent *a, bool rotate)
{
	Sdwan__CertRenewRequest req = SDWAN__CERT_RENEW_REQUEST__INIT;
	struct Sdwan__Envelope env;
	uint8_t *der = NULL;
	size_t len = 0;
	identity_clear(&a->pending);
	a->pending_kind = rotate ? PENDING_ROTATE : PENDING_RENEW;
	int rc = keys_generate(&a->pending, rotate, rotate);
	if (rc == 0 && !rotate) {
		/* Same keys: the renewal only replaces the certificate. */
		rc = EVP_PKEY_up_ref(a->id.ike_key) == 1 ? 0 : -ENOMEM;
		if (rc == 0)
			a->pending.ike_key = a->id.ike_key;
	}
	if (rc == 0)
		rc = csr_der(a->pending.ike_key, a->id.site, &der, &len);
	if (rc == 0) {
		req.csr_der.data = der;
		req.csr_der.len = len;
		if (rotate) {
			req.new_curve_public_key.data = a->pending.curve.public_key;
			req.new_curve_public_key.len = ZCURVE_KEY_LEN;
		}
		a->pending_msg_id = next_id(a);
		ctl_msg_envelope_init(&env, a->pending_msg_id);
		env.body_case = SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST;
		env.cert_renew_request = &req;
		rc = send_env(a, a->ctl, &env);
	}
	free(der);
	if (rc != 0) {
		identity_clear(&a->pending);
		a->pending_kind = PENDING_NONE;
		return rc;
	}
	a->stats.renewals++;
	return 0;
}

static void on_renew_timer(uv_timer_t *t)
{
	maybe_renew(t->data);
}

static void maybe_renew(struct agent *a)
{
	if (!a->stats.connected || a->pending_kind != PENDING_NONE || !a->id.cert)
		return;
	if (!x509id_cert_should_renew(a->id.cert, time(NULL)))
		return;
	LOG_NOTICE(CTL, "agent: certificate due for renewal", "site=%s", a->id.site);
	if (send_renew_request(a, false) != 0)
		LOG_WARN(CTL, "agent: renewal request not sent; retrying later", "site=%s",
			 a->id.site);
}

static void send_result_env(struct agent *a, uint64_t cmd_id, Sdwan__CommandType type, bool ok,
			    const char *reason)
{
	Sdwan__CommandResult res = SDWAN__COMMAND_RESULT__INIT;
	struct Sdwan__Envelope env;
	res.type = type;
	res.ok = ok;
	res.reason = (char *)(ok ? "" : reason);
	ctl_msg_envelope_init(&env, next_id(a));
	env.in_reply_to = cmd_id;
	env.body_case = SDWAN__ENVELOPE__BODY_COMMAND_RESULT;
	env.command_result = &res;
	(void)send_env(a, a->ctl, &env);
}

/* Answer command cmd_id and remember the answer for a repeat of it. */
static void send_command_result(struct agent *a, uint64_t cmd_id, Sdwan__CommandType type, int rc,
				const char *reason)
{
	if (cmd_id) {
		struct answered_command *slot = &a->answered[a->answered_next];
		a->answered_next = (a->answered_next + 1) % AGENT_COMMANDS_REMEMBERED;
		slot->msg_id = cmd_id;
		slot->type = type;
		slot->ok = rc == 0;
		(void)snprintf(slot->reason, sizeof(slot->reason), "%s", rc == 0 ? "" : reason);
	}
	send_result_env(a, cmd_id, type, rc == 0, reason);
}

/* A command seen before: answer it again as the first time (true), or say nothing while it is
 * still being carried out (true); false for a new one. */
static bool command_repeated(struct agent *a, uint64_t cmd_id)
{
	if (!cmd_id)
		return false;
	if (a->pending_kind == PENDING_ROTATE && a->rotate_cmd_id == cmd_id)
		return true;
	for (size_t i = 0; i < AGENT_COMMANDS_REMEMBERED; i++) {
		const struct answered_command *ac = &a->answered[i];
		if (ac->msg_id != cmd_id)
			continue;
		LOG_INFO(CTL, "agent: command repeated by the controller; answered again",
			 "id=%llu type=%d ok=%d", (unsigned long long)cmd_id, (int)ac->type,
			 ac->ok);
		send_result_env(a, cmd_id, ac->type, ac->ok, ac->reason);
		return true;
	}
	return false;
}

static void on_renew_response(struct agent *a, uint64_t reply_to, const Sdwan__CertRenewResponse *r)
{
	enum agent_pending kind = a->pending_kind;
	uint64_t cmd = a->rotate_cmd_id;
	int rc = -EACCES;
	if ((kind != PENDING_RENEW && kind != PENDING_ROTATE) || reply_to != a->pending_msg_id)
		return;
	if (r->status == SDWAN__CERT_STATUS__CERT_STATUS_OK) {
		if (a->pending.ca == NULL && a->id.ca && X509_up_ref(a->id.ca) == 1)
			a->pending.ca = a->id.ca;
		rc = take_cert(&a->pending, &r->certificate_der, r->ca_chain_der, r->n_ca_chain_der,
			       a->id.site);
	}
	if (rc == 0 && kind == PENDING_RENEW) {
		X509_free(a->id.cert);
		X509_free(a->id.ca);
		a->id.cert = a->pending.cert;
		a->id.ca = a->pending.ca;
		a->pending.cert = a->pending.ca = NULL;
		identity_clear(&a->pending);
		a->pending_kind = PENDING_NONE;
		if (identity_save_cert(a->state_dir, &a->id) != 0)
			LOG_ERR(CTL, "agent: renewed certificate not saved", "site=%s", a->id.site);
		if (a->ops.identity_changed)
			a->ops.identity_changed(a->ops.arg, a->id.ike_key, a->id.cert, a->id.ca);
		LOG_NOTICE(CTL, "agent: certificate renewed", "site=%s", a->id.site);
		return;
	}
	if (rc == 0) {
		memcpy(a->pending.endpoint, a->id.endpoint, sizeof(a->pending.endpoint));
		memcpy(a->pending.controller_key, a->id.controller_key, ZCURVE_KEY_LEN);
		/* Answer on the old session, then reconnect with the new CURVE key. */
		send_command_result(a, cmd, SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS, 0, "");
		rc = adopt_pending(a);
		if (rc == 0) {
			LOG_NOTICE(CTL, "agent: keys rotated", "site=%s", a->id.site);
			return;
		}
	}
	LOG_WARN(CTL, "agent: certificate renewal refused", "status=%d reason=\"%s\"",
		 (int)r->status, r->error_reason);
	identity_clear(&a->pending);
	a->pending_kind = PENDING_NONE;
	if (kind == PENDING_ROTATE)
		send_command_result(a, cmd, SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS, rc,
				    r->error_reason && r->error_reason[0] ? r->error_reason
									  : "renewal refused");
}

/* ------------------------------------------------------------------------------------------ */
/* Commands */

static int enroll_endpoint_derive(const char *ep, char out[static IDENTITY_ENDPOINT_MAX]);

static int command_re_enroll(struct agent *a, const char *token, const char *endpoint, char *reason,
			     size_t size)
{
	struct token_line tl;
	int rc = token_line_parse(token, token ? strlen(token) : 0, &tl);
	if (rc != 0) {
		(void)snprintf(reason, size, "malformed token");
		return rc;
	}
	/* Where to enroll: the controller says (its topology's enroll-endpoint), or the default
	 * next to the control endpoint. An edge started from its state directory alone has no
	 * other source. */
	if (endpoint && endpoint[0]) {
		if (!identity_endpoint_valid(endpoint)) {
			(void)snprintf(reason, size, "enrollment endpoint unusable");
			token_line_clear(&tl);
			return -EINVAL;
		}
		(void)snprintf(a->enroll_endpoint, sizeof(a->enroll_endpoint), "%s", endpoint);
	} else if (!a->enroll_endpoint[0] &&
		   enroll_endpoint_derive(a->id.endpoint, a->enroll_endpoint) != 0) {
		(void)snprintf(reason, size,
			       "no enrollment endpoint: the control endpoint has no "
			       "port + 1 and the controller named none");
		token_line_clear(&tl);
		return -EINVAL;
	}
	if (CRYPTO_memcmp(tl.controller_key, a->id.controller_key, ZCURVE_KEY_LEN) != 0 ||
	    strcmp(tl.site, a->id.site) != 0) {
		(void)snprintf(reason, size, "token is for another controller or site");
		token_line_clear(&tl);
		return -EKEYREJECTED;
	}
	/* Kept before the request can leave: restarted before the answer, the edge finishes
	 * this re-enrollment rather than come back with a key the controller may have retired. */
	rc = identity_pending_token_save(a->state_dir, token, a->enroll_endpoint);
	if (rc != 0) {
		(void)snprintf(reason, size, "cannot save the re-enrollment: %s", sdw_strerror(rc));
		token_line_clear(&tl);
		return rc;
	}
	token_line_clear(&a->token);
	a->token = tl;
	a->have_token = true;
	rc = enroll_begin(a);
	if (rc != 0)
		(void)snprintf(reason, size, "cannot make new keys");
	return rc;
}

/* At start: a re-enrollment the controller asked for and no answer came before the edge
 * stopped. Finish it; if the controller refuses, the kept keys and token go and the edge goes on
 * with the identity it has. */
static void resume_re_enroll(struct agent *a)
{
	char line[TOKEN_LINE_MAX], endpoint[IDENTITY_ENDPOINT_MAX], reason[160];
	int rc = identity_pending_token_load(a->state_dir, line, endpoint);
	if (rc == -ENOENT)
		return;
	if (rc == 0) {
		LOG_NOTICE(CTL, "agent: finishing a re-enrollment cut short", "site=%s",
			   a->id.site);
		rc = command_re_enroll(a, line, endpoint, reason, sizeof(reason));
	} else {
		(void)snprintf(reason, sizeof(reason), "kept re-enrollment unreadable");
	}
	OPENSSL_cleanse(line, sizeof(line));
	if (rc != 0) {
		LOG_WARN(CTL, "agent: re-enrollment not resumed", "reason=\"%s\"", reason);
		identity_pending_remove(a->state_dir);
		a->pending_kind = PENDING_NONE;
	}
}

static void on_command(struct agent *a, uint64_t cmd_id, const Sdwan__Command *c)
{
	char reason[AGENT_COMMAND_REASON_MAX] = "";
	int rc = -ENOTSUP;
	if (command_repeated(a, cmd_id))
		return;
	switch (c->type) {
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW:
		if (a->ops.rekey)
			rc = a->ops.rekey(a->ops.arg, c->tunnel && c->tunnel[0] ? c->tunnel : NULL);
		if (rc != 0)
			(void)snprintf(reason, sizeof(reason), "rekey failed: %s",
				       sdw_strerror(rc));
		break;
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL:
		rc = a->pending_kind == PENDING_NONE
			     ? command_re_enroll(a, c->token, c->enroll_endpoint, reason,
						 sizeof(reason))
			     : -EBUSY;
		break;
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS:
		rc = a->pending_kind == PENDING_NONE ? send_renew_request(a, true) : -EBUSY;
		if (rc == 0) {
			a->rotate_cmd_id = cmd_id;
			return; /* answered when the renewal is */
		}
		(void)snprintf(reason, sizeof(reason), "cannot rotate keys now: %s",
			       sdw_strerror(rc));
		break;
	default:
		(void)snprintf(reason, sizeof(reason), "unknown command %d", (int)c->type);
		break;
	}
	if (rc == -EBUSY)
		(void)snprintf(reason, sizeof(reason), "an enrollment or renewal is in progress");
	LOG_NOTICE(CTL, "agent: command", "type=%d ok=%d", (int)c->type, rc == 0);
	send_command_result(a, cmd_id, c->type, rc, reason);
}

static void on_reachability(struct agent *a, const Sdwan__Reachability *r)
{
	if (!a->ops.reachability) {
		LOG_DEBUG(CTL, "agent: controller routes ignored: no engine takes them", NULL);
		return;
	}
	a->stats.reachability++;
	int rc = a->ops.reachability(a->ops.arg, r);
	if (rc == -ESTALE)
		LOG_INFO(CTL, "agent: older controller routes ignored", "epoch=%llu seq=%llu",
			 (unsigned long long)r->epoch, (unsigned long long)r->seq);
	else if (rc != 0)
		LOG_WARN(CTL, "agent: controller routes not applied", "seq=%llu err=%s",
			 (unsigned long long)r->seq, sdw_strerror(rc));
}

static void on_control_msg(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct agent *a = arg;
	struct Sdwan__Envelope *env = NULL;
	struct ctl_msg_error err = {0};
	(void)zs;
	if (n != 1 || ctl_msg_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
				     CTL_MSG_MAX_SIZE, &env, &err) != 0) {
		LOG_WARN(CTL, "agent: unusable message from the controller", "reason=\"%s\"",
			 err.text);
		return;
	}
	switch (env->body_case) {
	case SDWAN__ENVELOPE__BODY_CONFIG:
		on_config(a, env->config);
		break;
	case SDWAN__ENVELOPE__BODY_COMMAND:
		on_command(a, env->msg_id, env->command);
		break;
	case SDWAN__ENVELOPE__BODY_CERT_RENEW_RESPONSE:
		on_renew_response(a, env->in_reply_to, env->cert_renew_response);
		break;
	case SDWAN__ENVELOPE__BODY_REACHABILITY:
		on_reachability(a, env->reachability);
		break;
	case SDWAN__ENVELOPE__BODY_ERROR:
		LOG_WARN(CTL, "agent: controller reports a protocol error", "code=%d reason=\"%s\"",
			 (int)env->error->code, env->error->reason);
		break;
	default:
		LOG_DEBUG(CTL, "agent: message ignored", "body=%s", ctl_msg_body_name(env));
		break;
	}
	/* The config may carry PSKs: ctl_msg_free wipes it. */
	ctl_msg_free(env);
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

/* tcp://host:port -> tcp://host:port+1 (CONTRACTS.md: the enrollment endpoint's default). */
static int enroll_endpoint_derive(const char *ep, char out[static IDENTITY_ENDPOINT_MAX])
{
	const char *colon = strrchr(ep, ':');
	char *end = NULL;
	if (strncmp(ep, "tcp://", 6) != 0 || !colon || colon[1] == '\0')
		return -EINVAL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port >= 65535)
		return -EINVAL;
	int n = snprintf(out, IDENTITY_ENDPOINT_MAX, "%.*s:%lu", (int)(colon - ep), ep, port + 1);
	return n > 0 && n < IDENTITY_ENDPOINT_MAX ? 0 : -EINVAL;
}

static int enroll_params_take(struct agent *a, const struct agent_enroll_params *p)
{
	uint8_t given[ZCURVE_KEY_LEN];
	if (!p->token || !identity_endpoint_valid(p->endpoint) ||
	    token_line_parse(p->token, strlen(p->token), &a->token) != 0) {
		LOG_ERR(CTL, "agent: malformed token or controller endpoint", NULL);
		return -EINVAL;
	}
	a->have_token = true;
	if (p->controller_key) {
		if (zcurve_hex_decode(p->controller_key, strlen(p->controller_key), given) != 0)
			return -EINVAL;
		/* The token pins the key; a second, different pin means one of them is wrong. */
		if (CRYPTO_memcmp(given, a->token.controller_key, ZCURVE_KEY_LEN) != 0) {
			LOG_ERR(CTL,
				"agent: --controller-key differs from the token's controller key; "
				"refusing to enroll",
				NULL);
			return -EKEYREJECTED;
		}
	}
	(void)snprintf(a->first_endpoint, sizeof(a->first_endpoint), "%s", p->endpoint);
	if (p->enroll_endpoint) {
		if (!identity_endpoint_valid(p->enroll_endpoint))
			return -EINVAL;
		(void)snprintf(a->enroll_endpoint, sizeof(a->enroll_endpoint), "%s",
			       p->enroll_endpoint);
		return 0;
	}
	return enroll_endpoint_derive(p->endpoint, a->enroll_endpoint);
}

static void options_defaults(struct agent_options *o)
{
	o->backoff_min_ms = pick(o->backoff_min_ms, DEFAULT_BACKOFF_MIN_MS);
	o->backoff_max_ms = pick(o->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS);
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms;
	o->connect_timeout_ms = pick(o->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT);
	o->enroll_timeout_ms = pick(o->enroll_timeout_ms, DEFAULT_ENROLL_TIMEOUT);
	o->health_default_ms = pick(o->health_default_ms, DEFAULT_HEALTH_MS);
	o->heartbeat_ivl_ms = pick(o->heartbeat_ivl_ms, DEFAULT_HB_IVL_MS);
	o->heartbeat_timeout_ms = pick(o->heartbeat_timeout_ms, DEFAULT_HB_TIMEOUT_MS);
	o->event_queue_max = pick(o->event_queue_max, DEFAULT_EVENT_QUEUE);
	o->renew_check_ms = pick(o->renew_check_ms, DEFAULT_RENEW_CHECK_MS);
	o->reach_grace_ms = pick(o->reach_grace_ms, DEFAULT_REACH_GRACE_MS);
}

int agent_new(uv_loop_t *loop, void *zctx, const struct agent_options *opts,
	      const struct agent_enroll_params *enroll, const struct agent_ops *ops,
	      struct agent **out)
{
	*out = NULL;
	if (!loop || !zctx || !opts || !opts->state_dir || !ops || !ops->apply)
		return -EINVAL;
	struct agent *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	int rc = 0;
	a->loop = loop;
	a->zctx = zctx;
	a->opts = *opts;
	a->ops = *ops;
	options_defaults(&a->opts);
	a->backoff_ms = a->opts.backoff_min_ms;
	a->health_ms = a->opts.health_default_ms;
	a->started_ns = uv_hrtime();
	if (snprintf(a->state_dir, sizeof(a->state_dir), "%s", opts->state_dir) >= PATH_MAX)
		rc = -ENAMETOOLONG;
	a->events = rc ? NULL : calloc(a->opts.event_queue_max, sizeof(*a->events));
	if (rc == 0 && !a->events)
		rc = -ENOMEM;
	if (rc == 0 && enroll)
		rc = enroll_params_take(a, enroll);
	for (int i = 0; rc == 0 && i < TIMER_COUNT; i++) {
		(void)uv_timer_init(loop, &a->timers[i]);
		a->timers[i].data = a;
		a->open_handles++;
	}
	if (rc != 0) {
		token_line_clear(&a->token);
		free(a->events);
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* Apply the stored config, if any, before the controller is reachable. */
static void apply_stored_config(struct agent *a)
{
	Sdwan__Envelope *env = NULL;
	struct agent_apply_error err;
	if (identity_config_load(a->state_dir, &env) != 0)
		return;
	if (apply_config(a, env->config, &err) == 0) {
		a->stats.generation = env->config->generation;
		set_health_interval(a, env->config->health_interval_ms);
		LOG_NOTICE(CTL, "agent: stored config applied", "generation=%llu",
			   (unsigned long long)a->stats.generation);
	} else {
		LOG_ERR(CTL, "agent: stored config refused", "generation=%llu reason=\"%s\"",
			(unsigned long long)env->config->generation, err.reason);
	}
	ctl_msg_free(env);
}

int agent_start(struct agent *a)
{
	int rc = identity_load(a->state_dir, &a->id);
	if (rc == 0) {
		a->stats.enrolled = true;
		if (a->have_token)
			LOG_NOTICE(CTL, "agent: already enrolled; the token is not used", "site=%s",
				   a->id.site);
		token_line_clear(&a->token);
		a->have_token = false;
		if (a->ops.identity_changed)
			a->ops.identity_changed(a->ops.arg, a->id.ike_key, a->id.cert, a->id.ca);
		apply_stored_config(a);
		(void)uv_timer_start(&a->timers[TIMER_RENEW], on_renew_timer,
				     a->opts.renew_check_ms, a->opts.renew_check_ms);
		if (control_connect(a) != 0)
			schedule_reconnect(a);
		resume_re_enroll(a);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	if (!a->have_token) {
		LOG_ERR(CTL, "agent: not enrolled: give --controller and --token", "dir=%s",
			a->state_dir);
		return -ENOENT;
	}
	(void)uv_timer_start(&a->timers[TIMER_RENEW], on_renew_timer, a->opts.renew_check_ms,
			     a->opts.renew_check_ms);
	return enroll_begin(a);
}

const struct agent_stats *agent_stats(const struct agent *a)
{
	return &a->stats;
}

const char *agent_site(const struct agent *a)
{
	return a->stats.enrolled ? a->id.site : "";
}

static void on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

void agent_close(struct agent *a, void (*cb)(void *arg), void *arg)
{
	if (!a)
		return;
	a->closing = true;
	a->close_cb = cb;
	a->close_arg = arg;
	control_drop(a);
	sock_drop(&a->enr);
	for (int i = 0; i < TIMER_COUNT; i++)
		uv_close((uv_handle_t *)&a->timers[i], on_timer_closed);
}
