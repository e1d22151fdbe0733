/*
 * ctl_client: a minimal edge control client for the controller's integration tests. It speaks
 * the real protocol (proto/control.proto over ZeroMQ CURVE, CONTRACTS.md) with no data plane:
 *
 *   ctl_client enroll --state DIR --token TOKEN [--endpoint EP] [--bad-csr] [--again]
 *                     [--claim-key HEX] [--features BITS]
 *       fresh CURVE keypair and ECDSA key (both kept in DIR; --again reuses them, as an edge
 *       retrying an enrollment whose answer it lost), CSR (subject names "--csr-site", default
 *       "evil"),
 *       EnrollRequest on the enrollment endpoint (default: the control endpoint's port + 1);
 *       prints "enrolled site=S cert_cn=CN" (exit 0) or "refused status=N reason=..." (exit 3).
 *   ctl_client run --state DIR --endpoint EP [--nack REASON] [--once] [--timeout S]
 *                  [--renew] [--health-ms MS] [--features BITS] [--drop-first-command]
 *                  [--ignore-commands] [--rotate-key [--lose-rotation]]
 *       DEALER with the enrolled key; a HealthReport first, then health every --health-ms;
 *       acks (or nacks) every config, answers every command (ok). Prints one line per thing
 *       seen:
 *         config generation=G site=S tunnels=N wan_prefixes=W ca=C wan_summary=M /
 *         tunnel NAME peer=P initiator=B psk=H8
 *         acked G / nacked G / command type=T tunnel=X token=yes|no id=I [+ command
 *         enroll_endpoint=EP] / error code=C
 *         reason=R / renewed status=S / handshake ok / handshake refused / disconnected
 *       (a refused handshake or a disconnect ends the run with exit 4)
 *       --drop-first-command: the first command is not answered; the client closes its
 *       session and opens a new one (what a command caught in a reconnect looks like to the
 *       controller), printing "dropped command id=I" then "reconnected".
 *       --ignore-commands: commands are printed ("ignored command id=I") and never answered.
 *       --rotate-key: after the first health report, a CertRenewRequest with a new CURVE key;
 *       on its answer (status 1) the new key is saved as curve.key and a new session opened
 *       with it ("rotated"); with --lose-rotation the answer is thrown away and the client
 *       exits ("rotation lost"), as an edge killed before it saved its new key would.
 *       --once exits after the first ack; --timeout ends the run (exit 0); a disconnect ends
 *       it with exit 4.
 *   ctl_client raw --endpoint EP [--state DIR] --server-key HEX (--garbage N | --oversize N |
 *                  --wrong-body | --bad-version)
 *       sends one bad message and prints the ProtocolError it gets, or "no-reply".
 *
 * State files in DIR: curve.key (zcurve format), server.hex (controller key), site, cert.der.
 * A test tool: blocking ZeroMQ calls, no libuv.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zmq.h>

#include "common/ctl_msg.h"
#include "common/x509id.h"
#include "common/zcurve.h"
#include "controller/token.h"

struct opts {
	const char *mode;
	const char *state;
	const char *token;
	const char *endpoint;
	const char *server_key;
	const char *nack;
	const char *csr_site;
	const char *claim_key;
	bool once;
	bool renew;
	bool bad_csr;
	bool wrong_body;
	bool bad_version;
	bool drop_first_command;
	bool ignore_commands;
	bool rotate_key;
	bool again;
	bool lose_rotation;
	long garbage;
	long oversize;
	int timeout_s;
	int health_ms;
	uint64_t features; /* CTL_FEATURE_* bits announced; 0: an edge from before features */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -EIO;
}

static int read_text(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[512];
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, cap - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static void *client_socket(void *ctx, const struct zcurve_keypair *kp,
			   const uint8_t server[static ZCURVE_KEY_LEN], const char *ep)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 200, ivl = 1000, ttl = 3000;
	if (!s || zcurve_client_setup(s, kp, server) != 0)
		return NULL;
	(void)zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	(void)zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
	(void)zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof(ttl));
	if (zmq_connect(s, ep) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int send_env(void *s, Sdwan__Envelope *env)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ctl_msg_encode_alloc(env, &buf, &len);
	if (rc != 0)
		return rc;
	rc = zmq_send(s, buf, len, 0) < 0 ? -errno : 0;
	ctl_msg_buf_free(buf, len);
	return rc;
}

/* Receive one envelope within timeout_ms: 0 with *out, -ETIMEDOUT, or another error. */
static int recv_env(void *s, int timeout_ms, Sdwan__Envelope **out)
{
	zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
	int n = zmq_poll(&it, 1, timeout_ms);
	if (n <= 0)
		return n == 0 ? -ETIMEDOUT : -errno;
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s, 0) < 0) {
		zmq_msg_close(&m);
		return -errno;
	}
	struct ctl_msg_error err;
	int rc = ctl_msg_decode(zmq_msg_data(&m), zmq_msg_size(&m), CTL_MSG_MAX_SIZE, out, &err);
	zmq_msg_close(&m);
	return rc;
}

static const char *enroll_ep(const struct opts *o, char *buf, size_t cap)
{
	const char *colon = strrchr(o->endpoint, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	(void)snprintf(buf, cap, "%.*s:%ld", (int)(colon ? colon - o->endpoint : 0), o->endpoint,
		       port + 1);
	return buf;
}

/* A CSR for a new key, or for the key in key_path when that names a file (then the key is
 * reused: a retry); a new key is saved there when key_path is given. */
static int make_csr_keyed(const char *site, bool bad, const char *key_path, uint8_t **der,
			  size_t *len)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	int rc = key_path && access(key_path, F_OK) == 0
			 ? x509id_key_load(key_path, &key)
			 : x509id_key_generate(X509ID_KEY_P256, &key);
	if (rc == 0 && key_path && access(key_path, F_OK) != 0)
		rc = x509id_key_save(key, key_path);
	if (rc == 0)
		rc = x509id_csr_create(key, site, &req);
	if (rc == 0)
		rc = x509id_csr_encode(req, X509ID_DER, der, len);
	if (rc == 0 && bad && *len > 20)
		(*der)[*len - 5] ^= 0x5a; /* break the self-signature */
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

static int make_csr(const char *site, bool bad, uint8_t **der, size_t *len)
{
	return make_csr_keyed(site, bad, NULL, der, len);
}

static int do_enroll(const struct opts *o)
{
	struct token_line tl;
	if (!o->token || token_line_parse(o->token, strlen(o->token), &tl) != 0) {
		/* A forged token still has to reach the controller: pin the key given. */
		memset(&tl, 0, sizeof(tl));
		if (!o->server_key || zcurve_hex_decode(o->server_key, strlen(o->server_key),
							tl.controller_key) != 0) {
			fprintf(stderr, "ctl_client: token does not parse; give --server-key\n");
			return 1;
		}
	}
	struct zcurve_keypair kp;
	char path[512], ep[300], hex[ZCURVE_HEX_LEN + 1], ike_path[512];
	(void)mkdir(o->state, 0700);
	(void)snprintf(path, sizeof(path), "%s/curve.key", o->state);
	(void)snprintf(ike_path, sizeof(ike_path), "%s/ike.key", o->state);
	if (o->again) {
		/* A retry of the same enrollment: the same CURVE key and IKE key. */
		if (zcurve_secret_load(path, &kp) != 0)
			return 1;
	} else if (zcurve_keypair_generate(&kp) != 0 || zcurve_secret_save(path, &kp) != 0) {
		return 1;
	} else {
		(void)unlink(ike_path);
	}
	zcurve_hex_encode(tl.controller_key, hex);
	(void)write_file(o->state, "server.hex", hex, strlen(hex));
	void *ctx = zmq_ctx_new();
	void *s = client_socket(ctx, &kp, tl.controller_key, enroll_ep(o, ep, sizeof(ep)));
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	if (!s || make_csr_keyed(o->csr_site ? o->csr_site : "evil", o->bad_csr, ike_path, &csr,
				 &csr_len) != 0)
		return 1;
	Sdwan__EnrollRequest rq = SDWAN__ENROLL_REQUEST__INIT;
	uint8_t claim[ZCURVE_KEY_LEN];
	rq.token = (char *)(o->token ? o->token : "");
	rq.csr_der.data = csr;
	rq.csr_der.len = csr_len;
	rq.curve_public_key.data = kp.public_key;
	rq.curve_public_key.len = ZCURVE_KEY_LEN;
	if (o->claim_key && zcurve_hex_decode(o->claim_key, strlen(o->claim_key), claim) == 0)
		rq.curve_public_key.data = claim;
	rq.software_version = (char *)"ctl_client";
	rq.features = o->features;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 1);
	env.body_case = SDWAN__ENVELOPE__BODY_ENROLL_REQUEST;
	env.enroll_request = &rq;
	int rc = send_env(s, &env);
	free(csr);
	Sdwan__Envelope *in = NULL;
	if (rc == 0)
		rc = recv_env(s, o->timeout_s > 0 ? o->timeout_s * 1000 : 10000, &in);
	int status = 1;
	if (rc == -ETIMEDOUT) {
		printf("no-reply\n");
		status = 5;
	} else if (rc == 0 && in->body_case == SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE) {
		Sdwan__EnrollResponse *r = in->enroll_response;
		if (r->status == SDWAN__CERT_STATUS__CERT_STATUS_OK) {
			X509 *cert = NULL;
			struct x509id_identity id = {0};
			if (x509id_cert_decode(r->certificate_der.data, r->certificate_der.len,
					       X509ID_DER, &cert) == 0 &&
			    x509id_cert_identity(cert, &id) != 0)
				(void)snprintf(id.site, sizeof(id.site), "?");
			X509_free(cert);
			(void)write_file(o->state, "site", r->site, strlen(r->site));
			(void)write_file(o->state, "cert.der", r->certificate_der.data,
					 r->certificate_der.len);
			printf("enrolled site=%s cert_cn=%s\n", r->site, id.site);
			status = 0;
		} else {
			printf("refused status=%d reason=%s\n", (int)r->status, r->error_reason);
			status = 3;
		}
	} else if (rc == 0 && in->body_case == SDWAN__ENVELOPE__BODY_ERROR) {
		printf("error code=%d reason=%s\n", (int)in->error->code, in->error->reason);
		status = 3;
	}
	ctl_msg_free(in);
	zmq_close(s);
	zmq_ctx_term(ctx);
	zcurve_keypair_clear(&kp);
	return status;
}

static int send_health(void *s, uint64_t applied, size_t tunnels, uint64_t features)
{
	Sdwan__HealthReport h = SDWAN__HEALTH_REPORT__INIT;
	Sdwan__TunnelHealth th[4];
	Sdwan__TunnelHealth *tp[4];
	/* Known drop counters on the first tunnel, so the CLI's per-reason view can be checked. */
	Sdwan__DropCounters drops = SDWAN__DROP_COUNTERS__INIT;
	drops.replay = 3;
	drops.icv = 1;
	h.software_version = (char *)"ctl_client";
	h.generation_applied = applied;
	h.features = features;
	h.timestamp_ms = (uint64_t)now_ms();
	for (size_t i = 0; i < tunnels && i < 4; i++) {
		sdwan__tunnel_health__init(&th[i]);
		th[i].name = (char *)"t";
		th[i].ike_state = i == 0 ? SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED
					 : SDWAN__IKE_STATE__IKE_STATE_CONNECTING;
		if (i == 0)
			th[i].drops = &drops;
		tp[i] = &th[i];
	}
	h.tunnels = tp;
	h.n_tunnels = tunnels < 4 ? tunnels : 4;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.body_case = SDWAN__ENVELOPE__BODY_HEALTH;
	env.health = &h;
	return send_env(s, &env);
}

static void print_config(const Sdwan__EdgeConfig *c)
{
	printf("config generation=%" PRIu64 " site=%s tunnels=%zu wan_prefixes=%zu ca=%zu "
	       "wan_summary=%zu\n",
	       c->generation, c->site, c->n_tunnels, c->n_wan_prefixes, c->ca_certificate_der.len,
	       c->n_wan_summary);
	for (size_t i = 0; i < c->n_tunnels; i++) {
		const Sdwan__Tunnel *t = c->tunnels[i];
		char psk[17] = "-";
		if (t->psk.len) {
			uint8_t d[32];
			unsigned int dl = 0;
			(void)EVP_Digest(t->psk.data, t->psk.len, d, &dl, EVP_sha256(), NULL);
			for (int k = 0; k < 8; k++)
				(void)snprintf(psk + 2 * k, 3, "%02x", d[k]);
		}
		printf("tunnel %s peer=%s initiator=%d kind=%d prio=%u mtu=%u psk=%s\n", t->name,
		       t->peer_site, t->initiator, (int)t->kind, t->hub_priority, t->mtu, psk);
	}
}

/* A CertRenewRequest; with new_key (may be NULL), a key rotation to it. */
static int send_renew(void *s, const uint8_t *new_key)
{
	uint8_t *csr = NULL;
	size_t len = 0;
	if (make_csr("renew", false, &csr, &len) != 0)
		return -EIO;
	Sdwan__CertRenewRequest rq = SDWAN__CERT_RENEW_REQUEST__INIT;
	rq.csr_der.data = csr;
	rq.csr_der.len = len;
	if (new_key) {
		rq.new_curve_public_key.data = (uint8_t *)new_key;
		rq.new_curve_public_key.len = ZCURVE_KEY_LEN;
	}
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 77);
	env.body_case = SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST;
	env.cert_renew_request = &rq;
	int rc = send_env(s, &env);
	free(csr);
	return rc;
}

/* Answer one config: ack, or nack with o->nack. */
static int answer_config(const struct opts *o, void *s, const Sdwan__EdgeConfig *cfg,
			 uint64_t *applied)
{
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	Sdwan__ConfigAck ack = SDWAN__CONFIG_ACK__INIT;
	Sdwan__ConfigNack nack = SDWAN__CONFIG_NACK__INIT;
	if (o->nack) {
		nack.generation = cfg->generation;
		nack.code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID;
		nack.reason = (char *)o->nack;
		env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_NACK;
		env.config_nack = &nack;
		printf("nacked %" PRIu64 "\n", cfg->generation);
	} else {
		ack.generation = cfg->generation;
		env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_ACK;
		env.config_ack = &ack;
		*applied = cfg->generation;
		printf("acked %" PRIu64 "\n", cfg->generation);
	}
	return send_env(s, &env);
}

static int load_identity(const struct opts *o, struct zcurve_keypair *kp,
			 uint8_t server[static ZCURVE_KEY_LEN])
{
	char path[512], hex[128];
	(void)snprintf(path, sizeof(path), "%s/curve.key", o->state);
	if (zcurve_secret_load(path, kp) != 0)
		return -ENOENT;
	if (o->server_key)
		return zcurve_hex_decode(o->server_key, strlen(o->server_key), server);
	if (read_text(o->state, "server.hex", hex, sizeof(hex)) != 0)
		return -ENOENT;
	return zcurve_hex_decode(hex, strlen(hex), server);
}

/* Answer a command as carried out. */
static int answer_command(void *s, const Sdwan__Envelope *in)
{
	Sdwan__CommandResult res = SDWAN__COMMAND_RESULT__INIT;
	Sdwan__Envelope env;
	res.type = in->command->type;
	res.ok = true;
	res.reason = (char *)"";
	ctl_msg_envelope_init(&env, (uint64_t)now_ms());
	env.in_reply_to = in->msg_id;
	env.body_case = SDWAN__ENVELOPE__BODY_COMMAND_RESULT;
	env.command_result = &res;
	return send_env(s, &env);
}

/* The event number of the next monitor event (both of its frames read). */
static int monitor_event(void *mon)
{
	zmq_msg_t m;
	uint16_t ev = 0;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, mon, 0) >= 2)
		memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
	while (zmq_msg_more(&m)) {
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		(void)zmq_msg_recv(&m, mon, 0);
	}
	zmq_msg_close(&m);
	return ev;
}

/* A session: the DEALER and a PAIR on its monitor's events (disconnected, handshake). */
static int session_open(void *ctx, const struct zcurve_keypair *kp,
			const uint8_t server[static ZCURVE_KEY_LEN], const char *ep,
			unsigned serial, void **s, void **mon)
{
	char mon_ep[64];
	(void)snprintf(mon_ep, sizeof(mon_ep), "inproc://mon-%d-%u", getpid(), serial);
	*mon = NULL;
	*s = client_socket(ctx, kp, server, ep);
	if (!*s || zmq_socket_monitor(*s, mon_ep,
				      ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
					      ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
		return -1;
	*mon = zmq_socket(ctx, ZMQ_PAIR);
	if (!*mon || zmq_connect(*mon, mon_ep) != 0)
		return -1;
	return 0;
}

static void session_close(void *s, void *mon)
{
	if (mon)
		zmq_close(mon);
	if (s) {
		(void)zmq_socket_monitor(s, NULL, 0);
		zmq_close(s);
	}
}

/* The controller signed the rotation to *next: lose it (--lose-rotation: nothing kept), or
 * save the new key and open a new session with it. */
static int rotate_to(const struct opts *o, void *ctx, struct zcurve_keypair *kp,
		     struct zcurve_keypair *next, const uint8_t server[static ZCURVE_KEY_LEN],
		     unsigned serial, void **s, void **mon)
{
	if (o->lose_rotation) {
		printf("rotation lost\n");
		zcurve_keypair_clear(next);
		return 0;
	}
	char path[512];
	(void)snprintf(path, sizeof(path), "%s/curve.key", o->state);
	if (zcurve_secret_save(path, next) != 0)
		return -EIO;
	zcurve_keypair_clear(kp);
	*kp = *next;
	zcurve_keypair_clear(next);
	session_close(*s, *mon);
	*s = *mon = NULL;
	if (session_open(ctx, kp, server, o->endpoint, serial, s, mon) != 0)
		return -EIO;
	printf("rotated\n");
	return 0;
}

static int do_run(const struct opts *o)
{
	struct zcurve_keypair kp;
	uint8_t server[ZCURVE_KEY_LEN];
	if (load_identity(o, &kp, server) != 0) {
		fprintf(stderr, "ctl_client: no identity in %s\n", o->state);
		return 1;
	}
	void *ctx = zmq_ctx_new();
	void *s = NULL, *mon = NULL;
	unsigned sessions = 0;
	bool drop_command = o->drop_first_command;
	if (session_open(ctx, &kp, server, o->endpoint, sessions++, &s, &mon) != 0)
		return 1;
	/* What a real edge keeps in its state directory: the generation it runs. */
	uint64_t applied = 0;
	char gen[32];
	if (read_text(o->state, "applied", gen, sizeof(gen)) == 0)
		applied = strtoull(gen, NULL, 10);
	size_t tunnels = 0;
	if (read_text(o->state, "tunnels", gen, sizeof(gen)) == 0)
		tunnels = strtoul(gen, NULL, 10);
	int status = 0;
	bool renew_sent = false;
	bool rotation_sent = false;
	struct zcurve_keypair next_kp;
	memset(&next_kp, 0, sizeof(next_kp));
	int64_t deadline = o->timeout_s > 0 ? now_ms() + o->timeout_s * 1000 : INT64_MAX;
	int64_t next_health = 0;
	printf("connecting\n");
	(void)fflush(stdout);
	for (bool done = false; !done && now_ms() < deadline;) {
		if (now_ms() >= next_health) {
			(void)send_health(s, applied, tunnels, o->features);
			next_health = now_ms() + o->health_ms;
			if (o->renew && !renew_sent)
				renew_sent = send_renew(s, NULL) == 0;
			if (o->rotate_key && !rotation_sent &&
			    zcurve_keypair_generate(&next_kp) == 0)
				rotation_sent = send_renew(s, next_kp.public_key) == 0;
		}
		zmq_pollitem_t it[2] = {{.socket = s, .events = ZMQ_POLLIN},
					{.socket = mon, .events = ZMQ_POLLIN}};
		if (zmq_poll(it, 2, 100) <= 0)
			continue;
		if (it[1].revents & ZMQ_POLLIN) {
			int ev = monitor_event(mon);
			if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				printf("handshake ok\n");
				continue;
			}
			printf(ev == ZMQ_EVENT_DISCONNECTED ? "disconnected\n"
							    : "handshake refused\n");
			status = 4;
			break;
		}
		if (!(it[0].revents & ZMQ_POLLIN))
			continue;
		Sdwan__Envelope *in = NULL;
		if (recv_env(s, 0, &in) != 0)
			continue;
		switch (in->body_case) {
		case SDWAN__ENVELOPE__BODY_CONFIG:
			print_config(in->config);
			tunnels = in->config->n_tunnels;
			(void)answer_config(o, s, in->config, &applied);
			(void)snprintf(gen, sizeof(gen), "%" PRIu64, applied);
			(void)write_file(o->state, "applied", gen, strlen(gen));
			(void)snprintf(gen, sizeof(gen), "%zu", tunnels);
			(void)write_file(o->state, "tunnels", gen, strlen(gen));
			if (o->once && !o->nack && !o->renew)
				done = true;
			/* The new state goes out at once, as a real edge's would. */
			(void)send_health(s, applied, tunnels, o->features);
			break;
		case SDWAN__ENVELOPE__BODY_COMMAND:
			if (o->ignore_commands) {
				printf("ignored command id=%" PRIu64 "\n", in->msg_id);
				break;
			}
			if (drop_command) {
				drop_command = false;
				printf("dropped command id=%" PRIu64 "\n", in->msg_id);
				session_close(s, mon);
				if (session_open(ctx, &kp, server, o->endpoint, sessions++, &s,
						 &mon) != 0) {
					status = 1;
					done = true;
					break;
				}
				printf("reconnected\n");
				next_health = 0;
				break;
			}
			printf("command type=%d tunnel=%s token=%s id=%" PRIu64 "\n",
			       (int)in->command->type, in->command->tunnel,
			       in->command->token[0] ? "yes" : "no", in->msg_id);
			if (in->command->enroll_endpoint[0])
				printf("command enroll_endpoint=%s\n",
				       in->command->enroll_endpoint);
			(void)answer_command(s, in);
			break;
		case SDWAN__ENVELOPE__BODY_CERT_RENEW_RESPONSE:
			printf("renewed status=%d in_reply_to=%" PRIu64 "\n",
			       (int)in->cert_renew_response->status, in->in_reply_to);
			if (rotation_sent &&
			    in->cert_renew_response->status == SDWAN__CERT_STATUS__CERT_STATUS_OK) {
				rotation_sent = false;
				if (rotate_to(o, ctx, &kp, &next_kp, server, sessions++, &s,
					      &mon) != 0) {
					status = 1;
					done = true;
				}
				if (o->lose_rotation)
					done = true;
				break;
			}
			if (o->once)
				done = true;
			break;
		case SDWAN__ENVELOPE__BODY_ERROR:
			printf("error code=%d reason=%s\n", (int)in->error->code,
			       in->error->reason);
			break;
		default:
			printf("other %s\n", ctl_msg_body_name(in));
			break;
		}
		(void)fflush(stdout);
		ctl_msg_free(in);
	}
	(void)fflush(stdout);
	session_close(s, mon);
	zmq_ctx_term(ctx);
	zcurve_keypair_clear(&kp);
	zcurve_keypair_clear(&next_kp);
	return status;
}

static int do_raw(const struct opts *o)
{
	struct zcurve_keypair kp;
	uint8_t server[ZCURVE_KEY_LEN];
	if (!o->state || load_identity(o, &kp, server) != 0) {
		if (!o->server_key || zcurve_keypair_generate(&kp) != 0 ||
		    zcurve_hex_decode(o->server_key, strlen(o->server_key), server) != 0) {
			fprintf(stderr, "ctl_client: raw needs --state or --server-key\n");
			return 1;
		}
	}
	void *ctx = zmq_ctx_new();
	void *s = client_socket(ctx, &kp, server, o->endpoint);
	if (!s)
		return 1;
	int rc = 0;
	if (o->garbage > 0 || o->oversize > 0) {
		size_t n = (size_t)(o->garbage > 0 ? o->garbage : o->oversize);
		uint8_t *buf = malloc(n);
		if (!buf)
			return 1;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)(i * 131 + 7);
		if (o->oversize > 0) {
			/* A valid-looking start: field 1 (version) then a huge bytes field. */
			buf[0] = 0x08;
			buf[1] = 0x01;
		}
		rc = zmq_send(s, buf, n, 0) < 0 ? -errno : 0;
		free(buf);
	} else if (o->wrong_body || o->bad_version) {
		Sdwan__ConfigAck ack = SDWAN__CONFIG_ACK__INIT;
		Sdwan__EnrollResponse er = SDWAN__ENROLL_RESPONSE__INIT;
		Sdwan__Envelope env;
		ctl_msg_envelope_init(&env, 5);
		if (o->wrong_body) {
			env.body_case = SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE;
			env.enroll_response = &er;
			rc = send_env(s, &env);
		} else {
			ack.generation = 1;
			env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_ACK;
			env.config_ack = &ack;
			env.version = 99;
			size_t len = sdwan__envelope__get_packed_size(&env);
			uint8_t *buf = malloc(len);
			sdwan__envelope__pack(&env, buf);
			rc = zmq_send(s, buf, len, 0) < 0 ? -errno : 0;
			free(buf);
		}
	}
	Sdwan__Envelope *in = NULL;
	int status = 0;
	if (rc == 0)
		rc = recv_env(s, o->timeout_s > 0 ? o->timeout_s * 1000 : 3000, &in);
	if (rc == 0 && in->body_case == SDWAN__ENVELOPE__BODY_ERROR)
		printf("error code=%d reason=%s\n", (int)in->error->code, in->error->reason);
	else if (rc == 0)
		printf("other %s\n", ctl_msg_body_name(in));
	else
		printf("no-reply\n");
	ctl_msg_free(in);
	zmq_close(s);
	zmq_ctx_term(ctx);
	zcurve_keypair_clear(&kp);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"state", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{"endpoint", required_argument, NULL, 'e'},
		{"server-key", required_argument, NULL, 'k'},
		{"nack", required_argument, NULL, 'n'},
		{"csr-site", required_argument, NULL, 'c'},
		{"claim-key", required_argument, NULL, 'C'},
		{"once", no_argument, NULL, '1'},
		{"renew", no_argument, NULL, 'r'},
		{"bad-csr", no_argument, NULL, 'b'},
		{"wrong-body", no_argument, NULL, 'w'},
		{"bad-version", no_argument, NULL, 'v'},
		{"garbage", required_argument, NULL, 'g'},
		{"oversize", required_argument, NULL, 'o'},
		{"timeout", required_argument, NULL, 'T'},
		{"health-ms", required_argument, NULL, 'H'},
		{"features", required_argument, NULL, 'F'},
		{"drop-first-command", no_argument, NULL, 'D'},
		{"ignore-commands", no_argument, NULL, 'I'},
		{"rotate-key", no_argument, NULL, 'R'},
		{"again", no_argument, NULL, 'a'},
		{"lose-rotation", no_argument, NULL, 'X'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.health_ms = 1000};
	if (argc < 2) {
		fprintf(stderr, "usage: ctl_client enroll|run|raw [options] (see the source)\n");
		return 1;
	}
	o.mode = argv[1];
	optind = 2;
	int c;
	// NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded test tool
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o.state = optarg;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'e':
			o.endpoint = optarg;
			break;
		case 'k':
			o.server_key = optarg;
			break;
		case 'n':
			o.nack = optarg;
			break;
		case 'c':
			o.csr_site = optarg;
			break;
		case 'C':
			o.claim_key = optarg;
			break;
		case '1':
			o.once = true;
			break;
		case 'r':
			o.renew = true;
			break;
		case 'b':
			o.bad_csr = true;
			break;
		case 'w':
			o.wrong_body = true;
			break;
		case 'v':
			o.bad_version = true;
			break;
		case 'g':
			o.garbage = strtol(optarg, NULL, 10);
			break;
		case 'o':
			o.oversize = strtol(optarg, NULL, 10);
			break;
		case 'T':
			o.timeout_s = (int)strtol(optarg, NULL, 10);
			break;
		case 'H':
			o.health_ms = (int)strtol(optarg, NULL, 10);
			break;
		case 'F':
			o.features = strtoull(optarg, NULL, 0);
			break;
		case 'D':
			o.drop_first_command = true;
			break;
		case 'I':
			o.ignore_commands = true;
			break;
		case 'R':
			o.rotate_key = true;
			break;
		case 'a':
			o.again = true;
			break;
		case 'X':
			o.lose_rotation = true;
			break;
		default:
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!o.endpoint) {
		fprintf(stderr, "ctl_client: --endpoint is required\n");
		return 1;
	}
	if (strcmp(o.mode, "enroll") == 0 && o.state)
		return do_enroll(&o);
	if (strcmp(o.mode, "run") == 0 && o.state)
		return do_run(&o);
	if (strcmp(o.mode, "raw") == 0)
		return do_raw(&o);
	fprintf(stderr, "ctl_client: unknown mode or missing --state\n");
	return 1;
}
