/*
 * The edge agent in-process against a test double of the controller: two CURVE ROUTER sockets
 * (control and enrollment) on tcp://127.0.0.1, a ZAP handler that admits or refuses keys, and a
 * real CA (controller/ca.h) signing the edge's CSR. Covers enrollment, key pinning, the state
 * files (0600, atomic names, restart from DIR alone), ack/nack/stale, the stored config applied
 * before the controller answers, health cadence, events queued while disconnected, reconnect
 * with backoff after a refusal and after the controller went away, commands and renewal.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/ctl_msg.h"
#include "common/token_line.h"
#include "common/x509id.h"
#include "common/zcurve.h"
#include "common/zsock.h"
#include "controller/ca.h"
#include "edge/agent.h"
#include "edge/identity.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold; the check is off for this file only for that reason.
 */

#define SITE   "branch-1"
#define MAXLOG 4096

/* What the controller double saw on the control socket, in order. */
struct seen {
	Sdwan__Envelope__BodyCase body;
	uint64_t value; /* generation (health/ack/nack), seq (event), code (nack) ... */
	uint64_t code;
	uint64_t at_ms;
	uint64_t msg_id;
	uint64_t in_reply_to;
	bool ok;
};

/* The controller double. */
struct ctl {
	struct zsock ctl, enr, zap;
	bool ctl_open, enr_open, zap_open;
	struct zcurve_keypair kp;
	struct ca *ca;
	char ctl_ep[64], enr_ep[64];
	/* ZAP: refuse the next `deny` control handshakes. */
	unsigned deny;
	unsigned zap_requests, zap_denied;
	uint8_t last_key[ZCURVE_KEY_LEN];        /* of the last handshake, either socket */
	uint8_t last_enroll_key[ZCURVE_KEY_LEN]; /* of the last one on the enrollment socket */
	/* enrollment */
	unsigned enroll_requests;
	Sdwan__CertStatus enroll_status;
	uint8_t enrolled_key[ZCURVE_KEY_LEN];
	/* control */
	uint8_t peer[256];
	size_t peer_len;
	struct seen log[MAXLOG];
	size_t n;
	X509 *renewed;      /* issued on renewal */
	bool short_certs;   /* enrollment issues a certificate already due for renewal */
	bool enroll_silent; /* enrollment requests are recorded and not answered */
};

static uv_loop_t loop;
static void *zctx;
static char tmp[64], state[128];
static struct ctl C;

/* What the ops saw. */
struct opsrec {
	unsigned applies;
	uint64_t last_gen;
	bool refuse; /* next apply fails with SYSTEM */
	unsigned rekeys;
	char rekey_tunnel[64];
	unsigned identity_changes;
	int failed;
	unsigned reach_lists, reach_withdrawn; /* ops.reachability with a list / with NULL */
	uint64_t reach_seq;
	char reach_first[64]; /* "site>via" of the list's first route */
};
static struct opsrec R;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until done() or ms pass; return done(). */
static bool run_until(bool (*done)(void), uint64_t ms)
{
	uv_timer_t t;
	cr_assert_eq(uv_timer_init(&loop, &t), 0);
	cr_assert_eq(uv_timer_start(&t, tick, 5, 5), 0);
	uint64_t deadline = now_ms() + ms;
	while (!(done && done()) && now_ms() < deadline)
		(void)uv_run(&loop, UV_RUN_ONCE);
	bool ok = done && done();
	uv_close((uv_handle_t *)&t, NULL);
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

/* ---- the controller double ---------------------------------------------------------------- */

static void send_to(struct zsock *zs, const uint8_t *id, size_t id_len, Sdwan__Envelope *env)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	cr_assert_eq(ctl_msg_encode_alloc(env, &buf, &len), 0);
	struct zsock_buf b[2] = {{id, id_len}, {buf, len}};
	cr_assert_eq(zsock_sendv(zs, b, 2), 0);
	ctl_msg_buf_free(buf, len);
}

static void on_zap(struct zsock *zs, zmq_msg_t *f, size_t n, void *arg)
{
	(void)arg;
	cr_assert_geq(n, 7);
	const char *domain = zmq_msg_data(&f[2]);
	bool control = zmq_msg_size(&f[2]) == 5 && memcmp(domain, "edges", 5) == 0;
	C.zap_requests++;
	if (zmq_msg_size(&f[6]) == ZCURVE_KEY_LEN) {
		memcpy(C.last_key, zmq_msg_data(&f[6]), ZCURVE_KEY_LEN);
		if (!control)
			memcpy(C.last_enroll_key, zmq_msg_data(&f[6]), ZCURVE_KEY_LEN);
	}
	bool ok = true;
	if (control && C.deny > 0) {
		C.deny--;
		C.zap_denied++;
		ok = false;
	}
	struct zsock_buf b[6] = {
		{"1.0", 3},
		{zmq_msg_data(&f[1]), zmq_msg_size(&f[1])},
		{ok ? "200" : "400", 3},
		{ok ? "OK" : "denied", ok ? 2 : 6},
		{control ? SITE : "", control ? strlen(SITE) : 0},
		{"", 0},
	};
	cr_assert_eq(zsock_sendv(zs, b, 6), 0);
}

static X509 *sign(const ProtobufCBinaryData *csr_der)
{
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	char reason[CA_REASON_LEN];
	struct ca_issue issue = {.site = SITE};
	if (C.short_certs) {
		/* 60 s of life, 50 s of it gone: past two thirds, due for renewal. */
		issue.lifetime_s = 60;
		issue.now = time(NULL) - 50;
		C.short_certs = false;
	}
	cr_assert_eq(x509id_csr_decode(csr_der->data, csr_der->len, X509ID_DER, &csr), 0);
	cr_assert_eq(ca_sign_csr(C.ca, csr, &issue, &cert, reason, sizeof(reason)), 0, "%s",
		     reason);
	X509_REQ_free(csr);
	return cert;
}

static void on_enroll(struct zsock *zs, zmq_msg_t *f, size_t n, void *arg)
{
	(void)arg;
	Sdwan__Envelope *env = NULL;
	cr_assert_eq(n, 2);
	cr_assert_eq(ctl_msg_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]),
				    CTL_MSG_ENROLL_MAX_SIZE, &env, NULL),
		     0);
	cr_assert_eq(env->body_case, SDWAN__ENVELOPE__BODY_ENROLL_REQUEST);
	Sdwan__EnrollRequest *rq = env->enroll_request;
	C.enroll_requests++;
	cr_assert_eq(rq->curve_public_key.len, ZCURVE_KEY_LEN);
	/* The key in the message is the key the handshake proved (a control session may be
	 * handshaking at the same time with the edge's current key). */
	cr_assert_eq(memcmp(rq->curve_public_key.data, C.last_enroll_key, ZCURVE_KEY_LEN), 0);
	memcpy(C.enrolled_key, rq->curve_public_key.data, ZCURVE_KEY_LEN);
	if (C.enroll_silent) {
		ctl_msg_free(env);
		return;
	}
	struct token_line tl;
	cr_assert_eq(token_line_parse(rq->token, strlen(rq->token), &tl), 0);
	cr_assert_str_eq(tl.site, SITE);
	token_line_clear(&tl);

	Sdwan__EnrollResponse resp = SDWAN__ENROLL_RESPONSE__INIT;
	Sdwan__Envelope out;
	uint8_t *cert_der = NULL, *ca_der = NULL;
	size_t cert_len = 0, ca_len = 0;
	X509 *cert = NULL;
	ProtobufCBinaryData chain[1];
	resp.status = C.enroll_status;
	resp.site = (char *)SITE;
	resp.error_reason = (char *)"";
	if (C.enroll_status == SDWAN__CERT_STATUS__CERT_STATUS_OK) {
		cert = sign(&rq->csr_der);
		cr_assert_eq(x509id_cert_encode(cert, X509ID_DER, &cert_der, &cert_len), 0);
		cr_assert_eq(x509id_cert_encode(ca_cert(C.ca), X509ID_DER, &ca_der, &ca_len), 0);
		resp.certificate_der.data = cert_der;
		resp.certificate_der.len = cert_len;
		chain[0].data = ca_der;
		chain[0].len = ca_len;
		resp.ca_chain_der = chain;
		resp.n_ca_chain_der = 1;
	} else {
		resp.error_reason = (char *)"token already used";
	}
	ctl_msg_envelope_init(&out, 1);
	out.in_reply_to = env->msg_id;
	out.body_case = SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE;
	out.enroll_response = &resp;
	send_to(zs, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), &out);
	X509_free(cert);
	free(cert_der);
	free(ca_der);
	ctl_msg_free(env);
}

static void answer_renewal(struct zsock *zs, const Sdwan__Envelope *env)
{
	Sdwan__CertRenewResponse resp = SDWAN__CERT_RENEW_RESPONSE__INIT;
	Sdwan__Envelope out;
	uint8_t *der = NULL;
	size_t len = 0;
	X509_free(C.renewed);
	C.renewed = sign(&env->cert_renew_request->csr_der);
	cr_assert_eq(x509id_cert_encode(C.renewed, X509ID_DER, &der, &len), 0);
	resp.status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
	resp.certificate_der.data = der;
	resp.certificate_der.len = len;
	ctl_msg_envelope_init(&out, 2);
	out.in_reply_to = env->msg_id;
	out.body_case = SDWAN__ENVELOPE__BODY_CERT_RENEW_RESPONSE;
	out.cert_renew_response = &resp;
	send_to(zs, C.peer, C.peer_len, &out);
	free(der);
}

static void on_control(struct zsock *zs, zmq_msg_t *f, size_t n, void *arg)
{
	(void)arg;
	Sdwan__Envelope *env = NULL;
	cr_assert_eq(n, 2);
	cr_assert_eq(ctl_msg_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), CTL_MSG_MAX_SIZE,
				    &env, NULL),
		     0);
	C.peer_len = zmq_msg_size(&f[0]);
	memcpy(C.peer, zmq_msg_data(&f[0]), C.peer_len);
	cr_assert_lt(C.n, MAXLOG);
	struct seen *s = &C.log[C.n++];
	memset(s, 0, sizeof(*s));
	s->body = env->body_case;
	s->at_ms = now_ms();
	s->msg_id = env->msg_id;
	s->in_reply_to = env->in_reply_to;
	switch (env->body_case) {
	case SDWAN__ENVELOPE__BODY_HEALTH:
		s->value = env->health->generation_applied;
		break;
	case SDWAN__ENVELOPE__BODY_CONFIG_ACK:
		s->value = env->config_ack->generation;
		break;
	case SDWAN__ENVELOPE__BODY_CONFIG_NACK:
		s->value = env->config_nack->generation;
		s->code = env->config_nack->code;
		break;
	case SDWAN__ENVELOPE__BODY_EVENT:
		s->value = env->event->seq;
		s->code = env->event->type;
		break;
	case SDWAN__ENVELOPE__BODY_COMMAND_RESULT:
		s->ok = env->command_result->ok;
		s->code = env->command_result->type;
		break;
	case SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST:
		s->value = env->cert_renew_request->new_curve_public_key.len;
		answer_renewal(zs, env);
		break;
	default:
		break;
	}
	ctl_msg_free(env);
}

static void bind_curve(struct zsock *zs, const char *domain, zsock_recv_cb *cb, size_t max,
		       const char *ep, char *out, size_t out_size)
{
	void *s = zmq_socket(zctx, ZMQ_ROUTER);
	cr_assert_not_null(s);
	cr_assert_eq(zcurve_server_setup(s, &C.kp, domain), 0);
	int linger = 0;
	cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	struct zsock_options o = {.max_msg_size = max};
	cr_assert_eq(zsock_init(zs, &loop, &s, &o, cb, NULL), 0);
	cr_assert_eq(zsock_bind(zs, ep), 0, "bind %s", ep);
	cr_assert_eq(zsock_last_endpoint(zs, out, out_size), 0);
}

static void ctl_up_control(void)
{
	bind_curve(&C.ctl, "edges", on_control, CTL_MSG_MAX_SIZE,
		   C.ctl_ep[0] ? C.ctl_ep : "tcp://127.0.0.1:*", C.ctl_ep, sizeof(C.ctl_ep));
	C.ctl_open = true;
}

static void ctl_down_control(void)
{
	zsock_close(&C.ctl, NULL);
	C.ctl_open = false;
	(void)uv_run(&loop, UV_RUN_NOWAIT);
}

static void ctl_start(void)
{
	void *z = zmq_socket(zctx, ZMQ_REP);
	cr_assert_not_null(z);
	struct zsock_options o = {.max_msg_size = 4096};
	cr_assert_eq(zsock_init(&C.zap, &loop, &z, &o, on_zap, NULL), 0);
	cr_assert_eq(zsock_bind(&C.zap, "inproc://zeromq.zap.01"), 0);
	C.zap_open = true;
	ctl_up_control();
	bind_curve(&C.enr, "enroll", on_enroll, CTL_MSG_ENROLL_MAX_SIZE, "tcp://127.0.0.1:*",
		   C.enr_ep, sizeof(C.enr_ep));
	C.enr_open = true;
}

static void push(Sdwan__Envelope *env)
{
	cr_assert(C.peer_len > 0, "no edge has spoken yet");
	send_to(&C.ctl, C.peer, C.peer_len, env);
}

static void push_config(uint64_t gen, uint32_t health_ms)
{
	Sdwan__EdgeConfig cfg = SDWAN__EDGE_CONFIG__INIT;
	Sdwan__Envelope env;
	cfg.generation = gen;
	cfg.site = (char *)SITE;
	cfg.health_interval_ms = health_ms;
	ctl_msg_envelope_init(&env, 100 + gen);
	env.body_case = SDWAN__ENVELOPE__BODY_CONFIG;
	env.config = &cfg;
	push(&env);
}

static void push_command(Sdwan__CommandType type, const char *tunnel, uint64_t id)
{
	Sdwan__Command c = SDWAN__COMMAND__INIT;
	Sdwan__Envelope env;
	c.type = type;
	c.tunnel = (char *)tunnel;
	ctl_msg_envelope_init(&env, id);
	env.body_case = SDWAN__ENVELOPE__BODY_COMMAND;
	env.command = &c;
	push(&env);
}

/* A RE_ENROLL command with tok; endpoint (may be NULL) is where the controller says to enroll. */
static void push_re_enroll(const char *tok, const char *endpoint, uint64_t id)
{
	Sdwan__Command c = SDWAN__COMMAND__INIT;
	Sdwan__Envelope env;
	c.type = SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL;
	c.token = (char *)tok;
	if (endpoint)
		c.enroll_endpoint = (char *)endpoint;
	ctl_msg_envelope_init(&env, id);
	env.body_case = SDWAN__ENVELOPE__BODY_COMMAND;
	env.command = &c;
	push(&env);
}

static size_t count(Sdwan__Envelope__BodyCase body)
{
	size_t k = 0;
	for (size_t i = 0; i < C.n; i++)
		k += C.log[i].body == body;
	return k;
}

/* The last message of that body, or an empty record (which fails the caller's checks). */
static const struct seen *last(Sdwan__Envelope__BodyCase body)
{
	static const struct seen none = {.body = SDWAN__ENVELOPE__BODY__NOT_SET};
	for (size_t i = C.n; i > 0; i--) {
		if (C.log[i - 1].body == body)
			return &C.log[i - 1];
	}
	return &none;
}

/* ---- the ops ------------------------------------------------------------------------------- */

static int op_apply(void *arg, const Sdwan__EdgeConfig *cfg, struct agent_apply_error *err)
{
	(void)arg;
	R.applies++;
	if (R.refuse) {
		R.refuse = false;
		err->code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_SYSTEM;
		(void)snprintf(err->reason, sizeof(err->reason), "TUN device busy");
		(void)snprintf(err->tunnel, sizeof(err->tunnel), "a:b");
		return -EBUSY;
	}
	R.last_gen = cfg->generation;
	return 0;
}

static int op_rekey(void *arg, const char *tunnel)
{
	(void)arg;
	R.rekeys++;
	(void)snprintf(R.rekey_tunnel, sizeof(R.rekey_tunnel), "%s", tunnel ? tunnel : "*");
	return 0;
}

static void op_identity(void *arg, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	(void)arg;
	cr_assert_not_null(key);
	cr_assert_not_null(cert);
	cr_assert_not_null(ca);
	R.identity_changes++;
}

static void op_failed(void *arg, int err, const char *reason)
{
	(void)arg;
	(void)reason;
	R.failed = err ? err : -1;
}

static int op_reachability(void *arg, const Sdwan__Reachability *r)
{
	(void)arg;
	if (!r) {
		R.reach_withdrawn++;
		return 0;
	}
	R.reach_lists++;
	R.reach_seq = r->seq;
	(void)snprintf(R.reach_first, sizeof(R.reach_first), "%s>%s",
		       r->n_routes ? r->routes[0]->site : "",
		       r->n_routes ? r->routes[0]->via_hub : "");
	return 0;
}

static const struct agent_ops OPS = {
	.apply = op_apply,
	.rekey = op_rekey,
	.reachability = op_reachability,
	.identity_changed = op_identity,
	.failed = op_failed,
};

/* ---- fixture ------------------------------------------------------------------------------ */

static struct agent *A;
static char token[TOKEN_LINE_MAX];

static void setup(void)
{
	(void)snprintf(tmp, sizeof(tmp), "/tmp/sdwan-agent-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	(void)snprintf(state, sizeof(state), "%s/state", tmp);
	cr_assert_eq(uv_loop_init(&loop), 0);
	zctx = zmq_ctx_new();
	cr_assert_not_null(zctx);
	memset(&C, 0, sizeof(C));
	memset(&R, 0, sizeof(R));
	C.enroll_status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
	cr_assert_eq(zcurve_keypair_generate(&C.kp), 0);
	/* Created an hour ago, so that it can issue backdated certificates. */
	struct ca_params cp = {.wan = "testwan", .now = time(NULL) - 3600};
	cr_assert_eq(ca_create(&cp, &C.ca), 0);
	struct token_line tl = {.site = SITE};
	memset(tl.secret, 7, sizeof(tl.secret));
	memcpy(tl.controller_key, C.kp.public_key, ZCURVE_KEY_LEN);
	cr_assert_eq(token_line_format(&tl, token), 0);
	ctl_start();
	A = NULL;
}

static void agent_closed(void *arg)
{
	*(bool *)arg = true;
}

static void close_agent(void)
{
	bool done = false;
	if (!A)
		return;
	agent_close(A, agent_closed, &done);
	A = NULL;
	while (!done)
		(void)uv_run(&loop, UV_RUN_ONCE);
}

static void teardown(void)
{
	close_agent();
	if (C.ctl_open)
		zsock_close(&C.ctl, NULL);
	if (C.enr_open)
		zsock_close(&C.enr, NULL);
	if (C.zap_open)
		zsock_close(&C.zap, NULL);
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&loop);
	cr_expect_eq(rc, 0, "a uv handle was left open");
	if (rc == 0)
		cr_expect_eq(zmq_ctx_term(zctx), 0);
	X509_free(C.renewed);
	ca_free(C.ca);
	zcurve_keypair_clear(&C.kp);
	/* NOLINTNEXTLINE(concurrency-mt-unsafe): the test process is single-threaded */
	(void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(agent, .init = setup, .fini = teardown, .timeout = 30);

static const struct agent_options fast = {
	.state_dir = state,
	.backoff_min_ms = 50,
	.backoff_max_ms = 400,
	.connect_timeout_ms = 1000,
	.enroll_timeout_ms = 1000,
	.heartbeat_ivl_ms = 200,
	.heartbeat_timeout_ms = 600,
	.reach_grace_ms = 1000,
};

static int start_agent(const struct agent_enroll_params *p)
{
	int rc = agent_new(&loop, zctx, &fast, p, &OPS, &A);
	if (rc == 0)
		rc = agent_start(A);
	return rc;
}

static bool is_connected(void)
{
	return A && agent_stats(A)->connected && count(SDWAN__ENVELOPE__BODY_HEALTH) > 0;
}

static void enroll(void)
{
	struct agent_enroll_params p = {
		.endpoint = C.ctl_ep, .enroll_endpoint = C.enr_ep, .token = token};
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(is_connected, 5000), "edge did not enroll and connect");
}

/* ---- tests -------------------------------------------------------------------------------- */

static void expect_file_0600(const char *name)
{
	char path[256];
	struct stat st;
	(void)snprintf(path, sizeof(path), "%s/%s", state, name);
	cr_assert_eq(stat(path, &st), 0, "%s missing", name);
	cr_expect_eq(st.st_mode & 0777, 0600, "%s has mode %o", name, st.st_mode & 0777);
}

Test(agent, enrolls_then_sends_health_first)
{
	enroll();
	cr_assert_eq(C.enroll_requests, 1);
	cr_assert_eq(C.log[0].body, SDWAN__ENVELOPE__BODY_HEALTH, "first message is health");
	cr_assert_eq(C.log[0].value, 0, "nothing applied yet");
	cr_assert_str_eq(agent_site(A), SITE);
	cr_assert_eq(R.identity_changes, 1);
	/* The control key is the enrolled one. */
	cr_assert_eq(memcmp(C.last_key, C.enrolled_key, ZCURVE_KEY_LEN), 0);
	const char *files[] = {IDENTITY_CURVE_FILE,    IDENTITY_IKE_KEY_FILE, IDENTITY_CA_FILE,
			       IDENTITY_ENDPOINT_FILE, IDENTITY_CTL_KEY_FILE, IDENTITY_CERT_FILE};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		expect_file_0600(files[i]);
	/* No temporary file of the atomic replacement is left behind. */
	DIR *d = opendir(state);
	cr_assert_not_null(d);
	unsigned n = 0;
	for (struct dirent *e = readdir(d); e; e = readdir(d)) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	cr_expect_eq(n, 6, "state dir holds %u entries", n);
}

Test(agent, refuses_a_controller_key_other_than_the_tokens)
{
	char other[ZCURVE_HEX_LEN + 1];
	struct zcurve_keypair kp;
	cr_assert_eq(zcurve_keypair_generate(&kp), 0);
	zcurve_hex_encode(kp.public_key, other);
	zcurve_keypair_clear(&kp);
	struct agent_enroll_params p = {
		.endpoint = C.ctl_ep, .token = token, .controller_key = other};
	cr_assert_eq(agent_new(&loop, zctx, &fast, &p, &OPS, &A), -EKEYREJECTED);
	cr_assert_null(A);
	struct stat st;
	cr_assert_neq(stat(state, &st), 0, "nothing written");
	/* The same key as the token's is accepted. */
	zcurve_hex_encode(C.kp.public_key, other);
	p.enroll_endpoint = C.enr_ep;
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(is_connected, 5000));
}

Test(agent, never_enrolls_with_a_controller_holding_another_key)
{
	/* A controller with another key: the handshake cannot complete, nothing is sent. */
	struct token_line tl;
	struct zcurve_keypair kp;
	char forged[TOKEN_LINE_MAX];
	cr_assert_eq(token_line_parse(token, strlen(token), &tl), 0);
	cr_assert_eq(zcurve_keypair_generate(&kp), 0);
	memcpy(tl.controller_key, kp.public_key, ZCURVE_KEY_LEN);
	cr_assert_eq(token_line_format(&tl, forged), 0);
	token_line_clear(&tl);
	zcurve_keypair_clear(&kp);
	struct agent_enroll_params p = {
		.endpoint = C.ctl_ep, .enroll_endpoint = C.enr_ep, .token = forged};
	cr_assert_eq(start_agent(&p), 0);
	(void)run_until(NULL, 1500);
	cr_assert_eq(C.enroll_requests, 0);
	cr_assert_not(agent_stats(A)->enrolled);
	char path[256];
	struct stat st;
	(void)snprintf(path, sizeof(path), "%s/%s", state, IDENTITY_CERT_FILE);
	cr_assert_neq(stat(path, &st), 0);
}

static bool state_has(const char *name)
{
	char path[256];
	struct stat st;
	(void)snprintf(path, sizeof(path), "%s/%s", state, name);
	return stat(path, &st) == 0;
}

static bool has_failed(void)
{
	return R.failed != 0;
}

Test(agent, refused_enrollment_gives_up_and_stores_nothing)
{
	C.enroll_status = SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_USED;
	struct agent_enroll_params p = {
		.endpoint = C.ctl_ep, .enroll_endpoint = C.enr_ep, .token = token};
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(has_failed, 5000));
	cr_assert_eq(C.enroll_requests, 1);
	cr_assert_not(state_has(IDENTITY_PENDING_CURVE_FILE), "refused: no keys kept for later");
	cr_assert_not(state_has(IDENTITY_CERT_FILE));
}

static bool asked_to_enroll(void)
{
	return C.enroll_requests > 0;
}

Test(agent, enrollment_cut_short_is_retried_with_the_same_keys_after_a_restart)
{
	C.enroll_silent = true;
	struct agent_enroll_params p = {
		.endpoint = C.ctl_ep, .enroll_endpoint = C.enr_ep, .token = token};
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(asked_to_enroll, 3000));
	uint8_t first[ZCURVE_KEY_LEN];
	memcpy(first, C.enrolled_key, sizeof(first));
	expect_file_0600(IDENTITY_PENDING_CURVE_FILE);
	expect_file_0600(IDENTITY_PENDING_IKE_KEY_FILE);
	/* The box restarts before any answer came; this time the controller answers. */
	close_agent();
	C.enroll_silent = false;
	C.enroll_requests = 0;
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(is_connected, 5000));
	cr_assert_eq(memcmp(C.enrolled_key, first, sizeof(first)), 0, "the same CURVE key");
	cr_assert_eq(memcmp(C.last_key, first, sizeof(first)), 0);
	cr_assert_not(state_has(IDENTITY_PENDING_CURVE_FILE), "kept keys gone once enrolled");
	cr_assert_not(state_has(IDENTITY_PENDING_IKE_KEY_FILE));
}

Test(agent, needs_a_token_when_not_enrolled)
{
	cr_assert_eq(start_agent(NULL), -ENOENT);
}

/* Whether a listener could bind 127.0.0.1:port now (as ZeroMQ does, with SO_REUSEADDR). */
static bool tcp_port_free(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		  bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

Test(agent, derives_the_enrollment_endpoint_as_port_plus_one)
{
	/* Rebind control one port below the enrollment socket; that port may belong to another
	 * test running beside us, so move the enrollment socket until the one below is free. */
	ctl_down_control();
	unsigned port = (unsigned)atoi(strrchr(C.enr_ep, ':') + 1);
	for (int tries = 0; tries < 50 && !tcp_port_free(port - 1); tries++) {
		zsock_close(&C.enr, NULL);
		(void)uv_run(&loop, UV_RUN_NOWAIT);
		bind_curve(&C.enr, "enroll", on_enroll, CTL_MSG_ENROLL_MAX_SIZE,
			   "tcp://127.0.0.1:*", C.enr_ep, sizeof(C.enr_ep));
		port = (unsigned)atoi(strrchr(C.enr_ep, ':') + 1);
	}
	(void)snprintf(C.ctl_ep, sizeof(C.ctl_ep), "tcp://127.0.0.1:%u", port - 1);
	ctl_up_control();
	struct agent_enroll_params p = {.endpoint = C.ctl_ep, .token = token};
	cr_assert_eq(start_agent(&p), 0);
	cr_assert(run_until(is_connected, 5000));
	cr_assert_eq(C.enroll_requests, 1);
}

static uint64_t want_acks, want_nacks;
static bool got_answers(void)
{
	return count(SDWAN__ENVELOPE__BODY_CONFIG_ACK) >= want_acks &&
	       count(SDWAN__ENVELOPE__BODY_CONFIG_NACK) >= want_nacks;
}

Test(agent, acks_nacks_and_refuses_stale_generations)
{
	enroll();
	push_config(5, 0);
	want_acks = 1;
	want_nacks = 0;
	cr_assert(run_until(got_answers, 3000));
	cr_assert_eq(last(SDWAN__ENVELOPE__BODY_CONFIG_ACK)->value, 5);
	cr_assert_eq(agent_stats(A)->generation, 5);
	expect_file_0600(IDENTITY_CONFIG_FILE);

	R.refuse = true;
	push_config(6, 0);
	want_nacks = 1;
	cr_assert(run_until(got_answers, 3000));
	const struct seen *nk = last(SDWAN__ENVELOPE__BODY_CONFIG_NACK);
	cr_assert_eq(nk->value, 6);
	cr_assert_eq(nk->code, SDWAN__CONFIG_ERROR__CONFIG_ERROR_SYSTEM);
	cr_assert_eq(agent_stats(A)->generation, 5, "the previous config keeps running");

	push_config(4, 0);
	want_nacks = 2;
	cr_assert(run_until(got_answers, 3000));
	nk = last(SDWAN__ENVELOPE__BODY_CONFIG_NACK);
	cr_assert_eq(nk->value, 4);
	cr_assert_eq(nk->code, SDWAN__CONFIG_ERROR__CONFIG_ERROR_STALE);
	push_config(5, 0);
	want_nacks = 3;
	cr_assert(run_until(got_answers, 3000));
	cr_assert_eq(last(SDWAN__ENVELOPE__BODY_CONFIG_NACK)->code,
		     SDWAN__CONFIG_ERROR__CONFIG_ERROR_STALE);
	cr_assert_eq(R.applies, 2, "stale configs never reach the tunnel manager");

	/* Events CONFIG_APPLIED and CONFIG_REJECTED were sent at once. */
	cr_assert_geq(count(SDWAN__ENVELOPE__BODY_EVENT), 2);
}

Test(agent, restarts_from_the_state_dir_and_applies_the_stored_config_first)
{
	enroll();
	push_config(7, 0);
	want_acks = 1;
	want_nacks = 0;
	cr_assert(run_until(got_answers, 3000));
	uint8_t key[ZCURVE_KEY_LEN];
	memcpy(key, C.last_key, sizeof(key));
	close_agent();

	/* Controller away: the stored config is applied anyway. */
	ctl_down_control();
	memset(&R, 0, sizeof(R));
	C.n = 0;
	cr_assert_eq(start_agent(NULL), 0);
	cr_assert_eq(R.applies, 1, "stored config applied at start");
	cr_assert_eq(R.last_gen, 7);
	cr_assert_eq(agent_stats(A)->generation, 7);
	(void)run_until(NULL, 300);
	cr_assert_not(agent_stats(A)->connected);

	/* Controller back: same key, no enrollment, health says generation 7. */
	ctl_up_control();
	cr_assert(run_until(is_connected, 5000));
	cr_assert_eq(C.enroll_requests, 1, "no second enrollment");
	cr_assert_eq(memcmp(C.last_key, key, sizeof(key)), 0);
	cr_assert_eq(C.log[0].body, SDWAN__ENVELOPE__BODY_HEALTH);
	cr_assert_eq(C.log[0].value, 7);
}

static bool health_window_done(void)
{
	return count(SDWAN__ENVELOPE__BODY_HEALTH) >= 12;
}

Test(agent, sends_health_at_the_configured_interval)
{
	enroll();
	push_config(1, 100);
	want_acks = 1;
	want_nacks = 0;
	cr_assert(run_until(got_answers, 3000));
	C.n = 0;
	cr_assert(run_until(health_window_done, 5000));
	/* 11 intervals between 12 reports. */
	uint64_t first = 0, lastat = 0;
	size_t k = 0;
	for (size_t i = 0; i < C.n; i++) {
		if (C.log[i].body != SDWAN__ENVELOPE__BODY_HEALTH)
			continue;
		if (k++ == 0)
			first = C.log[i].at_ms;
		lastat = C.log[i].at_ms;
	}
	uint64_t span = lastat - first;
	cr_assert(span >= 11 * 80 && span <= 11 * 160, "11 intervals took %llu ms",
		  (unsigned long long)span);
}

static size_t want_events;
static bool got_events(void)
{
	return count(SDWAN__ENVELOPE__BODY_EVENT) >= want_events;
}

Test(agent, queues_events_while_disconnected_and_sends_them_after_health)
{
	enroll();
	ctl_down_control();
	(void)run_until(NULL, 200);
	C.n = 0;
	agent_event(A, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN, "a:b", "peer dead");
	agent_event(A, SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER, NULL, "to hub-2");
	agent_event(A, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP, "a:c", NULL);
	cr_assert_eq(agent_stats(A)->events_queued, 3);
	cr_assert_eq(C.n, 0);
	ctl_up_control();
	want_events = 3;
	cr_assert(run_until(got_events, 5000));
	cr_assert_eq(C.log[0].body, SDWAN__ENVELOPE__BODY_HEALTH, "health first");
	uint64_t prev = 0;
	for (size_t i = 1; i < 4; i++) {
		cr_assert_eq(C.log[i].body, SDWAN__ENVELOPE__BODY_EVENT);
		cr_assert_gt(C.log[i].value, prev, "seq increases");
		prev = C.log[i].value;
	}
	cr_assert_eq(C.log[1].code, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN);
	cr_assert_eq(agent_stats(A)->events_queued, 0);
}

Test(agent, event_queue_is_bounded_and_keeps_the_newest)
{
	struct agent_options o = fast;
	o.event_queue_max = 4;
	cr_assert_eq(agent_new(&loop, zctx, &o, NULL, &OPS, &A), 0);
	for (int i = 0; i < 10; i++)
		agent_event(A, SDWAN__EVENT_TYPE__EVENT_TYPE_REKEY, "a:b", NULL);
	cr_assert_eq(agent_stats(A)->events_queued, 4);
	cr_assert_eq(agent_stats(A)->events_dropped, 6);
}

static bool reconnected_after_refusals(void)
{
	return C.zap_denied >= 3 && is_connected();
}

Test(agent, reconnects_with_fresh_sockets_and_growing_backoff_after_refusals)
{
	enroll();
	close_agent();
	C.deny = 3;
	C.n = 0;
	cr_assert_eq(start_agent(NULL), 0);
	cr_assert(run_until(reconnected_after_refusals, 8000));
	const struct agent_stats *st = agent_stats(A);
	cr_assert_geq(st->refusals, 3);
	cr_assert_geq(st->connects, 4, "a fresh socket per attempt");
	cr_assert_eq(st->handshakes, 1);
}

static bool is_disconnected(void)
{
	return !agent_stats(A)->connected;
}

Test(agent, notices_a_controller_gone_and_comes_back)
{
	enroll();
	ctl_down_control();
	cr_assert(run_until(is_disconnected, 3000));
	(void)run_until(NULL, 500);
	uint64_t connects = agent_stats(A)->connects;
	cr_assert_geq(connects, 2, "kept trying");
	cr_assert_leq(agent_stats(A)->last_backoff_ms, 400);
	C.n = 0;
	ctl_up_control();
	cr_assert(run_until(is_connected, 5000));
	cr_assert_eq(agent_stats(A)->handshakes, 2);
}

static bool got_result(void)
{
	return count(SDWAN__ENVELOPE__BODY_COMMAND_RESULT) > 0;
}

Test(agent, rekey_command_reaches_the_ops_and_is_answered)
{
	enroll();
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW, "a:b", 77);
	cr_assert(run_until(got_result, 3000));
	const struct seen *r = last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT);
	cr_assert(r->ok);
	cr_assert_eq(r->in_reply_to, 77);
	cr_assert_eq(R.rekeys, 1);
	cr_assert_str_eq(R.rekey_tunnel, "a:b");
}

static bool two_results(void)
{
	return count(SDWAN__ENVELOPE__BODY_COMMAND_RESULT) >= 2;
}

static bool three_results(void)
{
	return count(SDWAN__ENVELOPE__BODY_COMMAND_RESULT) >= 3;
}

Test(agent, a_repeated_command_is_answered_again_not_carried_out_twice)
{
	enroll();
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW, "a:b", 77);
	cr_assert(run_until(got_result, 3000));
	/* What the controller does when it has not seen the answer by the next session. */
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW, "a:b", 77);
	cr_assert(run_until(two_results, 3000));
	for (size_t i = 0; i < C.n; i++) {
		if (C.log[i].body != SDWAN__ENVELOPE__BODY_COMMAND_RESULT)
			continue;
		cr_assert(C.log[i].ok);
		cr_assert_eq(C.log[i].in_reply_to, 77);
	}
	cr_assert_eq(R.rekeys, 1, "carried out once");
	/* Another id is another command, even of the same kind. */
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW, "a:b", 78);
	cr_assert(run_until(three_results, 3000));
	cr_assert_eq(R.rekeys, 2);
	cr_assert_eq(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->in_reply_to, 78);
}

static bool rotated(void)
{
	return got_result() && agent_stats(A)->handshakes >= 2 && agent_stats(A)->connected;
}

/* The double replies to whoever spoke last: the new session once the edge has reported on it. */
static bool health_on_the_new_session(void)
{
	for (size_t i = C.n; i > 0; i--) {
		if (C.log[i - 1].body == SDWAN__ENVELOPE__BODY_HEALTH)
			return true;
		if (C.log[i - 1].body == SDWAN__ENVELOPE__BODY_COMMAND_RESULT)
			return false;
	}
	return false;
}

Test(agent, rotate_keys_renews_and_reconnects_with_the_new_key)
{
	enroll();
	uint8_t old[ZCURVE_KEY_LEN];
	memcpy(old, C.last_key, sizeof(old));
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS, NULL, 78);
	cr_assert(run_until(rotated, 5000));
	cr_assert(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->ok);
	cr_assert_eq(last(SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST)->value, ZCURVE_KEY_LEN);
	cr_assert_neq(memcmp(old, C.last_key, sizeof(old)), 0, "new CURVE key in use");
	cr_assert_eq(R.identity_changes, 2);
	/* The stored identity is the new one. */
	struct identity id;
	cr_assert_eq(identity_load(state, &id), 0);
	cr_assert_eq(memcmp(id.curve.public_key, C.last_key, ZCURVE_KEY_LEN), 0);
	cr_assert_eq(X509_cmp(id.cert, C.renewed), 0);
	identity_clear(&id);
	/* The same command again on the new session (its answer went out on the old one, which
	 * the controller may not have read): answered, keys not rotated a second time. */
	size_t renewals = count(SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST);
	cr_assert(run_until(health_on_the_new_session, 3000));
	push_command(SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS, NULL, 78);
	cr_assert(run_until(two_results, 3000));
	cr_assert(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->ok);
	cr_assert_eq(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->in_reply_to, 78);
	cr_assert_eq(count(SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST), renewals);
	cr_assert_eq(R.identity_changes, 2);
}

Test(agent, stored_config_survives_only_as_a_whole)
{
	enroll();
	push_config(3, 0);
	want_acks = 1;
	want_nacks = 0;
	cr_assert(run_until(got_answers, 3000));
	Sdwan__Envelope *env = NULL;
	cr_assert_eq(identity_config_load(state, &env), 0);
	cr_assert_eq(env->config->generation, 3);
	ctl_msg_free(env);
	/* A torn file (what a non-atomic write could leave) is refused, not half-applied. */
	char path[256];
	(void)snprintf(path, sizeof(path), "%s/%s", state, IDENTITY_CONFIG_FILE);
	FILE *f = fopen(path, "r+");
	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), 5), 0);
	fclose(f);
	cr_assert_neq(identity_config_load(state, &env), 0);
}

Test(agent, refuses_a_key_file_readable_by_others)
{
	enroll();
	close_agent();
	char path[256];
	(void)snprintf(path, sizeof(path), "%s/%s", state, IDENTITY_IKE_KEY_FILE);
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(start_agent(NULL), -EACCES);
	agent_close(A, NULL, NULL);
	A = NULL;
	(void)run_until(NULL, 50);
}

static bool renewed(void)
{
	return R.identity_changes >= 2;
}

Test(agent, renews_a_certificate_past_two_thirds_of_its_life)
{
	C.short_certs = true;
	enroll();
	cr_assert(run_until(renewed, 5000));
	const struct seen *rq = last(SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST);
	cr_assert_eq(rq->body, SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST);
	cr_assert_eq(rq->value, 0, "a renewal keeps the CURVE key");
	cr_assert_eq(agent_stats(A)->renewals, 1);
	struct identity id;
	cr_assert_eq(identity_load(state, &id), 0);
	cr_assert_eq(X509_cmp(id.cert, C.renewed), 0, "the renewed certificate is stored");
	cr_assert_not(x509id_cert_should_renew(id.cert, time(NULL)));
	identity_clear(&id);
	/* The session stays up: no reconnect for a renewal. */
	cr_assert_eq(agent_stats(A)->handshakes, 1);
}

static bool re_enrolled(void)
{
	return C.enroll_requests >= 2 && agent_stats(A)->handshakes >= 2 &&
	       agent_stats(A)->connected;
}

Test(agent, re_enroll_command_makes_new_keys_and_reconnects)
{
	enroll();
	uint8_t old[ZCURVE_KEY_LEN];
	memcpy(old, C.last_key, sizeof(old));
	push_re_enroll(token, NULL, 79);
	cr_assert(run_until(re_enrolled, 5000));
	const struct seen *r = last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT);
	cr_assert(r->ok);
	cr_assert_eq(r->in_reply_to, 79);
	cr_assert_neq(memcmp(old, C.last_key, sizeof(old)), 0, "new CURVE key");
	cr_assert_eq(memcmp(C.enrolled_key, C.last_key, sizeof(old)), 0);
	struct identity id;
	cr_assert_eq(identity_load(state, &id), 0);
	cr_assert_eq(memcmp(id.curve.public_key, C.last_key, ZCURVE_KEY_LEN), 0);
	identity_clear(&id);
}

/* An edge restarted from its state directory alone (the service's command line) knows no
 * enrollment endpoint of its own: the command brings it. */
Test(agent, re_enroll_command_works_after_a_restart_from_the_state_dir)
{
	enroll();
	close_agent();
	C.n = 0;
	C.enroll_requests = 0;
	cr_assert_eq(start_agent(NULL), 0);
	cr_assert(run_until(is_connected, 5000));
	cr_assert_eq(C.enroll_requests, 0, "a restart from the state dir does not enroll");
	uint8_t old[ZCURVE_KEY_LEN];
	memcpy(old, C.last_key, sizeof(old));
	push_re_enroll(token, C.enr_ep, 80);
	cr_assert(run_until(got_result, 3000));
	cr_assert(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->ok, "re-enroll refused");
	cr_assert(run_until(asked_to_enroll, 5000), "no enrollment request after the command");
	cr_assert(run_until(is_connected, 5000));
	cr_assert_neq(memcmp(old, C.last_key, sizeof(old)), 0, "new CURVE key");
}

static uint8_t first_try[ZCURVE_KEY_LEN];

/* The new identity in place (its kept keys and token gone with identity_save) and a control
 * session with it. */
static bool connected_with_first_try(void)
{
	return !state_has(IDENTITY_PENDING_TOKEN_FILE) && is_connected() &&
	       memcmp(C.last_key, first_try, ZCURVE_KEY_LEN) == 0;
}

Test(agent, re_enrollment_cut_short_by_a_restart_is_finished_with_the_same_keys)
{
	enroll();
	C.enroll_silent = true;
	C.enroll_requests = 0;
	push_re_enroll(token, C.enr_ep, 81);
	cr_assert(run_until(asked_to_enroll, 3000));
	memcpy(first_try, C.enrolled_key, sizeof(first_try));
	expect_file_0600(IDENTITY_PENDING_TOKEN_FILE);
	/* Stopped before any answer; restarted from the state directory alone. */
	close_agent();
	C.enroll_silent = false;
	C.enroll_requests = 0;
	cr_assert_eq(start_agent(NULL), 0);
	cr_assert(run_until(asked_to_enroll, 5000), "the re-enrollment was not resumed");
	cr_assert_eq(memcmp(C.enrolled_key, first_try, ZCURVE_KEY_LEN), 0, "same keys");
	cr_assert(run_until(connected_with_first_try, 5000));
	cr_assert_not(state_has(IDENTITY_PENDING_TOKEN_FILE));
	cr_assert_not(state_has(IDENTITY_PENDING_CURVE_FILE));
	struct identity id;
	cr_assert_eq(identity_load(state, &id), 0);
	cr_assert_eq(memcmp(id.curve.public_key, first_try, ZCURVE_KEY_LEN), 0);
	identity_clear(&id);
}

Test(agent, re_enroll_refuses_a_token_for_another_controller)
{
	enroll();
	struct token_line tl;
	char other[TOKEN_LINE_MAX];
	cr_assert_eq(token_line_parse(token, strlen(token), &tl), 0);
	tl.controller_key[0] ^= 1;
	cr_assert_eq(token_line_format(&tl, other), 0);
	token_line_clear(&tl);
	push_re_enroll(other, NULL, 80);
	cr_assert(run_until(got_result, 3000));
	cr_assert_not(last(SDWAN__ENVELOPE__BODY_COMMAND_RESULT)->ok);
	cr_assert_eq(C.enroll_requests, 1);
}

/* NOLINTEND(readability-function-size) */

static void push_routes(uint64_t seq)
{
	Sdwan__Reachability r = SDWAN__REACHABILITY__INIT;
	Sdwan__SiteRoute sr = SDWAN__SITE_ROUTE__INIT, *srp = &sr;
	Sdwan__Envelope env;
	sr.site = "branch-1";
	sr.via_hub = "hub-west";
	r.epoch = 77;
	r.seq = seq;
	r.routes = &srp;
	r.n_routes = 1;
	ctl_msg_envelope_init(&env, 500 + seq);
	env.body_case = SDWAN__ENVELOPE__BODY_REACHABILITY;
	env.reachability = &r;
	push(&env);
}

static bool got_routes(void)
{
	return R.reach_lists > 0;
}

static bool routes_withdrawn(void)
{
	return R.reach_withdrawn > 0;
}

Test(agent, hands_controller_routes_over_and_withdraws_them_after_the_grace_time)
{
	enroll();
	push_routes(3);
	cr_assert(run_until(got_routes, 3000), "the routes did not reach the engine");
	cr_assert_eq(R.reach_seq, 3);
	cr_assert_str_eq(R.reach_first, "branch-1>hub-west");
	cr_assert_eq(agent_stats(A)->reachability, 1);
	/* The session ends: the routes stay for the grace time (1 s here), then go. */
	uint64_t t0 = now_ms();
	ctl_down_control();
	cr_assert(run_until(is_disconnected, 3000));
	cr_assert_eq(R.reach_withdrawn, 0, "withdrawn before the grace time");
	cr_assert(run_until(routes_withdrawn, 4000), "routes kept without a session");
	cr_assert_geq(now_ms() - t0, 1000, "withdrawn before the grace time");
	cr_assert_eq(agent_stats(A)->reach_withdrawn, 1);
}

static size_t healths_before;
static bool new_session(void)
{
	return agent_stats(A)->connected && count(SDWAN__ENVELOPE__BODY_HEALTH) > healths_before;
}

Test(agent, keeps_controller_routes_across_a_short_outage)
{
	enroll();
	push_routes(1);
	cr_assert(run_until(got_routes, 3000));
	ctl_down_control();
	cr_assert(run_until(is_disconnected, 3000));
	healths_before = count(SDWAN__ENVELOPE__BODY_HEALTH);
	ctl_up_control();
	cr_assert(run_until(new_session, 3000), "no new session");
	(void)run_until(NULL, 1500);
	cr_assert_eq(R.reach_withdrawn, 0, "routes withdrawn although the session came back");
}
