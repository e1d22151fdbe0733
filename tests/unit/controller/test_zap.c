/*
 * The ZAP handler. End to end, with a CURVE ROUTER server and DEALER clients over
 * tcp://127.0.0.1: a known key is admitted with its site as User-Id (and its key as metadata), an
 * unknown key is refused (the client never gets a reply), the enroll domain admits any key with
 * no User-Id, revocation refuses the next connection, a lookup failure is temporary, a missing
 * handler or an unserved domain fails closed. At the protocol level, with a fake ZeroMQ session
 * on the handler's endpoint: every reply code, malformed requests, log rate limiting. And the
 * request parser on its own.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/zcurve.h"
#include "controller/zap.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold; the check is off for this file only for that reason.
 */

/* The test's stand-in for store_edge_find_by_key. */
struct edge_row {
	uint8_t key[ZAP_KEY_LEN];
	const char *site;
	bool revoked;
};

struct table {
	struct edge_row rows[4];
	size_t n;
	int fail_with; /* when not 0, every lookup fails so */
	unsigned calls;
};

/* What a server received. */
struct rx {
	size_t count;
	int uid_rc;
	char uid[ZAP_USER_ID_MAX + 1];
	int rid_uid_rc; /* zap_msg_user_id on the routing-id frame */
	int key_rc;
	uint8_t key[ZAP_KEY_LEN];
	bool echo;
};

static uv_loop_t loop;
static void *ctx;
static struct zap zap;
static bool zap_open;
static struct table table;
static struct zcurve_keypair server_kp, known_kp, unknown_kp;
static unsigned closed;

static int lookup(void *arg, const uint8_t key[static ZAP_KEY_LEN],
		  char user_id[static ZAP_USER_ID_MAX + 1])
{
	struct table *t = arg;
	t->calls++;
	if (t->fail_with)
		return t->fail_with;
	for (size_t i = 0; i < t->n; i++) {
		if (memcmp(t->rows[i].key, key, ZAP_KEY_LEN) != 0)
			continue;
		if (t->rows[i].revoked)
			return -EACCES;
		(void)snprintf(user_id, ZAP_USER_ID_MAX + 1, "%s", t->rows[i].site);
		return 0;
	}
	return -ENOENT;
}

static void on_zap_closed(struct zap *z)
{
	(void)z;
	closed++;
}

static void on_zsock_closed(struct zsock *zs)
{
	(void)zs;
	closed++;
}

static void setup(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	ctx = zmq_ctx_new();
	cr_assert_not_null(ctx);
	cr_assert_eq(zcurve_keypair_generate(&server_kp), 0);
	cr_assert_eq(zcurve_keypair_generate(&known_kp), 0);
	cr_assert_eq(zcurve_keypair_generate(&unknown_kp), 0);
	memset(&table, 0, sizeof(table));
	memcpy(table.rows[0].key, known_kp.public_key, ZAP_KEY_LEN);
	table.rows[0].site = "branch-1";
	table.n = 1;
	closed = 0;
	zap_open = false;
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until done(arg) or ms milliseconds pass; return done(arg). */
static bool run_until(bool (*done)(const void *), const void *arg, uint64_t ms)
{
	uv_timer_t t;
	cr_assert_eq(uv_timer_init(&loop, &t), 0);
	cr_assert_eq(uv_timer_start(&t, tick, 5, 5), 0);
	uv_update_time(&loop);
	uint64_t deadline = uv_now(&loop) + ms;
	while (!done(arg) && uv_now(&loop) < deadline)
		(void)uv_run(&loop, UV_RUN_ONCE);
	bool ok = done(arg);
	uv_close((uv_handle_t *)&t, NULL);
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

static bool never(const void *arg)
{
	(void)arg;
	return false;
}

static bool all_closed(const void *arg)
{
	return closed >= *(const unsigned *)arg;
}

static void teardown(void)
{
	if (zap_open) {
		unsigned want = closed + 1;
		zap_close(&zap, on_zap_closed);
		(void)run_until(all_closed, &want, 1000);
	}
	int rc = uv_loop_close(&loop);
	cr_expect_eq(rc, 0, "a uv handle was left open");
	/* After a failed assertion sockets are still open and zmq_ctx_term would block. */
	if (rc == 0)
		cr_expect_eq(zmq_ctx_term(ctx), 0);
	zcurve_keypair_clear(&server_kp);
	zcurve_keypair_clear(&known_kp);
	zcurve_keypair_clear(&unknown_kp);
}

TestSuite(zap, .init = setup, .fini = teardown, .timeout = 10);

/* The handler with the controller's two domains. */
static void open_zap(void)
{
	cr_assert_eq(zap_init(&zap, &loop, ctx), 0);
	zap_open = true;
	cr_assert_eq(zap_domain_add(&zap, "control", ZAP_POLICY_LOOKUP, lookup, &table), 0);
	cr_assert_eq(zap_domain_add(&zap, "enroll", ZAP_POLICY_ANY_KEY, NULL, NULL), 0);
}

static struct zap_stats stats_of(const char *domain)
{
	struct zap_stats s;
	cr_assert_eq(zap_stats_get(&zap, domain, &s), 0);
	return s;
}

static void on_recv(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct rx *rx = arg;
	rx->count++;
	rx->rid_uid_rc = zap_msg_user_id(&frames[0], rx->uid);
	rx->uid_rc = zap_msg_user_id(&frames[n - 1], rx->uid);
	rx->key_rc = zap_msg_curve_key(&frames[n - 1], rx->key);
	if (rx->echo) {
		struct zsock_buf b[2] = {{zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0])},
					 {"welcome", 7}};
		cr_assert_eq(zsock_sendv(zs, b, 2), 0);
	}
}

static bool got_one(const void *arg)
{
	return ((const struct rx *)arg)->count > 0;
}

static void *new_socket(int type)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0, ivl = 20;
	cr_assert_not_null(s);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)), 0);
	return s;
}

static const struct zsock_options opts = {.max_msg_size = 4096};

/* ZMQ_HANDSHAKE_IVL for the next servers, in ms; 0: ZeroMQ's default. */
static int server_handshake_ivl;

/* A CURVE ROUTER server in domain on an ephemeral loopback port. */
static void open_server(struct zsock *zs, const char *domain, struct rx *rx, char ep[static 256])
{
	void *s = new_socket(ZMQ_ROUTER);
	cr_assert_eq(zcurve_server_setup(s, &server_kp, domain), 0);
	if (server_handshake_ivl)
		cr_assert_eq(zmq_setsockopt(s, ZMQ_HANDSHAKE_IVL, &server_handshake_ivl,
					    sizeof(server_handshake_ivl)),
			     0);
	cr_assert_eq(zsock_init(zs, &loop, &s, &opts, on_recv, rx), 0);
	cr_assert_eq(zsock_bind(zs, "tcp://127.0.0.1:*"), 0);
	cr_assert_eq(zsock_last_endpoint(zs, ep, 256), 0);
}

static void open_client(struct zsock *zs, const struct zcurve_keypair *kp, struct rx *rx,
			const char *ep)
{
	void *s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zcurve_client_setup(s, kp, server_kp.public_key), 0);
	cr_assert_eq(zsock_init(zs, &loop, &s, &opts, on_recv, rx), 0);
	cr_assert_eq(zsock_connect(zs, ep), 0);
	struct zsock_buf b = {"hello", 5};
	cr_assert_eq(zsock_sendv(zs, &b, 1), 0);
}

static void close_all(struct zsock **zs, unsigned n)
{
	unsigned want = closed + n;
	for (unsigned i = 0; i < n; i++)
		zsock_close(zs[i], on_zsock_closed);
	cr_assert(run_until(all_closed, &want, 1000));
}

/* ---- end to end ---- */

Test(zap, known_key_admitted_with_site_as_user_id)
{
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	open_zap();
	open_server(&srv, "control", &srx, ep);
	open_client(&cli, &known_kp, &crx, ep);

	cr_assert(run_until(got_one, &crx, 2000), "the known edge got no reply");
	cr_assert_eq(srx.count, 1);
	cr_assert_eq(srx.uid_rc, 0);
	cr_assert_str_eq(srx.uid, "branch-1");
	cr_assert_eq(srx.rid_uid_rc, -ENOENT, "a routing-id frame carries no metadata");
	cr_assert_eq(srx.key_rc, 0);
	cr_assert_arr_eq(srx.key, known_kp.public_key, ZAP_KEY_LEN);
	struct zap_stats s = stats_of("control");
	cr_assert_eq(s.allowed, 1);
	cr_assert_eq(s.denied + s.failed, 0);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zap, unknown_key_refused_client_never_answered)
{
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	open_zap();
	open_server(&srv, "control", &srx, ep);
	open_client(&cli, &unknown_kp, &crx, ep);

	(void)run_until(never, NULL, 300);
	cr_assert_eq(srx.count, 0, "an unknown key got through");
	cr_assert_eq(crx.count, 0);
	struct zap_stats s = stats_of("control");
	cr_assert_geq(s.denied, 1);
	cr_assert_eq(s.allowed, 0);
	cr_assert_geq(table.calls, 1);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zap, enroll_domain_admits_any_key_without_user_id)
{
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	open_zap();
	open_server(&srv, "enroll", &srx, ep);
	open_client(&cli, &unknown_kp, &crx, ep);

	cr_assert(run_until(got_one, &crx, 2000), "the enrollment socket refused a new key");
	cr_assert_eq(srx.uid_rc, -ENOENT, "no identity: it must not read as a site");
	cr_assert_eq(srx.key_rc, 0, "but the key that authenticated is known");
	cr_assert_arr_eq(srx.key, unknown_kp.public_key, ZAP_KEY_LEN);
	cr_assert_eq(table.calls, 0, "the enroll policy looks nothing up");
	cr_assert_eq(stats_of("enroll").allowed, 1);
	cr_assert_eq(stats_of("control").allowed, 0);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zap, revocation_refuses_the_next_connection)
{
	struct zsock srv, first, second;
	struct rx srx = {.echo = true}, rx1 = {0}, rx2 = {0};
	char ep[256];
	open_zap();
	open_server(&srv, "control", &srx, ep);
	open_client(&first, &known_kp, &rx1, ep);
	cr_assert(run_until(got_one, &rx1, 2000));

	table.rows[0].revoked = true;
	open_client(&second, &known_kp, &rx2, ep);
	(void)run_until(never, NULL, 300);
	cr_assert_eq(rx2.count, 0, "a revoked key got through");
	cr_assert_eq(srx.count, 1);
	cr_assert_geq(stats_of("control").denied, 1);

	/* ZAP runs once per connection: the session opened before the revocation lives on until
	 * the application drops it. */
	struct zsock_buf b = {"still here", 10};
	cr_assert_eq(zsock_sendv(&first, &b, 1), 0);
	cr_assert(run_until(never, NULL, 200) == false);
	cr_assert_eq(srx.count, 2);

	struct zsock *all[] = {&srv, &first, &second};
	close_all(all, 3);
}

Test(zap, lookup_failure_is_temporary)
{
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	open_zap();
	table.fail_with = -EBUSY;
	/* 300 leaves the handshake open until the server's handshake interval expires. */
	server_handshake_ivl = 100;
	open_server(&srv, "control", &srx, ep);
	open_client(&cli, &known_kp, &crx, ep);
	(void)run_until(never, NULL, 200);
	cr_assert_eq(srx.count, 0);
	cr_assert_geq(stats_of("control").failed, 1);
	cr_assert_eq(stats_of("control").denied, 0);

	/* 300: no ERROR to the client, whose reconnection after the handshake times out is
	 * admitted once the lookup works again. */
	table.fail_with = 0;
	cr_assert(run_until(got_one, &crx, 2000), "the client did not get in after the failure");
	cr_assert_str_eq(srx.uid, "branch-1");

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zap, unserved_domain_refused)
{
	struct zsock srv, cli;
	struct rx srx = {0}, crx = {0};
	char ep[256];
	open_zap();
	open_server(&srv, "other", &srx, ep);
	open_client(&cli, &known_kp, &crx, ep);
	(void)run_until(never, NULL, 300);
	cr_assert_eq(srx.count, 0);
	cr_assert_geq(stats_of(NULL).denied, 1);
	cr_assert_eq(table.calls, 0);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zap, no_handler_fails_closed)
{
	struct zsock srv, cli;
	struct rx srx = {0}, crx = {0};
	char ep[256];
	/* No zap_init: libzmq's default would admit every key ("Stonehouse"); the enforced domain
	 * set by zcurve_server_setup refuses them instead. */
	open_server(&srv, "control", &srx, ep);
	open_client(&cli, &known_kp, &crx, ep);
	(void)run_until(never, NULL, 300);
	cr_assert_eq(srx.count, 0, "admitted with no ZAP handler");

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* ---- the protocol, through a fake ZeroMQ session on the handler's endpoint ---- */

struct reply {
	size_t n;
	char f[8][128]; /* frames after the empty delimiter, NUL-terminated */
	size_t len[8];
};

static bool readable(const void *arg)
{
	zmq_pollitem_t it = {.socket = (void *)arg, .events = ZMQ_POLLIN};
	return zmq_poll(&it, 1, 0) == 1;
}

/* Send a request as libzmq does (empty delimiter first) and wait for its reply; false when none
 * comes within ms. */
static bool exchange(void *fake, const struct zap_bytes *req, size_t n, struct reply *r,
		     uint64_t ms)
{
	cr_assert_eq(zmq_send(fake, "", 0, ZMQ_SNDMORE), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(zmq_send(fake, req[i].p, req[i].len, i + 1 < n ? ZMQ_SNDMORE : 0),
			     (int)req[i].len);
	if (!run_until(readable, fake, ms))
		return false;
	memset(r, 0, sizeof(*r));
	char delim[8];
	cr_assert_eq(zmq_recv(fake, delim, sizeof(delim), 0), 0, "the empty delimiter");
	int more = 1;
	size_t len = sizeof(more);
	for (r->n = 0; r->n < 8; r->n++) {
		cr_assert_eq(zmq_getsockopt(fake, ZMQ_RCVMORE, &more, &len), 0);
		if (!more)
			break;
		int got = zmq_recv(fake, r->f[r->n], sizeof(r->f[0]) - 1, 0);
		cr_assert_geq(got, 0);
		r->len[r->n] = (size_t)got;
	}
	return true;
}

#define B(s) ((struct zap_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static void *open_fake(void)
{
	void *fake = new_socket(ZMQ_DEALER);
	cr_assert_eq(zmq_connect(fake, ZAP_ENDPOINT), 0);
	return fake;
}

Test(zap, every_reply_code)
{
	struct zcurve_keypair revoked_kp, odd_kp;
	cr_assert_eq(zcurve_keypair_generate(&revoked_kp), 0);
	cr_assert_eq(zcurve_keypair_generate(&odd_kp), 0);
	memcpy(table.rows[1].key, revoked_kp.public_key, ZAP_KEY_LEN);
	table.rows[1].site = "branch-2";
	table.rows[1].revoked = true;
	memcpy(table.rows[2].key, odd_kp.public_key, ZAP_KEY_LEN);
	table.rows[2].site = "not a site"; /* a lookup bug: spaces */
	table.n = 3;
	open_zap();
	void *fake = open_fake();

	const struct zap_bytes known = {known_kp.public_key, ZAP_KEY_LEN};
	const struct zap_bytes unknown = {unknown_kp.public_key, ZAP_KEY_LEN};
	const struct zap_bytes revoked = {revoked_kp.public_key, ZAP_KEY_LEN};
	const struct zap_bytes odd = {odd_kp.public_key, ZAP_KEY_LEN};
	const struct zap_bytes short_key = {known_kp.public_key, ZAP_KEY_LEN - 1};
	const struct {
		struct zap_bytes f[8];
		size_t n;
		const char *status, *user;
	} rows[] = {
		{{B("1.0"), B("7"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), known},
		 7,
		 "200",
		 "branch-1"},
		{{B("1.0"), B("8"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), unknown},
		 7,
		 "400",
		 ""},
		{{B("1.0"), B("9"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), revoked},
		 7,
		 "400",
		 ""},
		{{B("1.0"), B("10"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), odd},
		 7,
		 "500",
		 ""},
		{{B("1.0"), B("11"), B("enroll"), B("127.0.0.1"), B(""), B("CURVE"), unknown},
		 7,
		 "200",
		 ""},
		{{B("1.0"), B("12"), B("control"), B("127.0.0.1"), B(""), B("PLAIN"), B("u"),
		  B("p")},
		 8,
		 "400",
		 ""},
		{{B("1.0"), B("13"), B("enroll"), B("127.0.0.1"), B(""), B("NULL")}, 6, "400", ""},
		{{B("1.0"), B("14"), B("nope"), B("127.0.0.1"), B(""), B("CURVE"), known},
		 7,
		 "400",
		 ""},
		{{B("2.0"), B("15"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), known},
		 7,
		 "500",
		 ""},
		{{B("1.0"), B("16"), B("control"), B("127.0.0.1"), B(""), B("CURVE"), short_key},
		 7,
		 "500",
		 ""},
		{{B("1.0"), B("17"), B("control")}, 3, "500", ""},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct reply r;
		cr_assert(exchange(fake, rows[i].f, rows[i].n, &r, 1000), "row %zu: no reply", i);
		cr_assert_eq(r.n, 6, "row %zu: %zu frames", i, r.n);
		cr_assert_str_eq(r.f[0], "1.0");
		cr_assert_eq(r.len[1], rows[i].f[1].len);
		cr_assert(memcmp(r.f[1], rows[i].f[1].p, r.len[1]) == 0, "row %zu: request id", i);
		cr_assert_str_eq(r.f[2], rows[i].status, "row %zu", i);
		cr_assert_str_eq(r.f[4], rows[i].user, "row %zu", i);
		if (strcmp(rows[i].status, "200") == 0) {
			/* ZMTP metadata: one property, the client's key in hex. */
			char hex[ZCURVE_HEX_LEN + 1];
			zcurve_hex_encode(rows[i].f[6].p, hex);
			cr_assert_eq(r.len[5], 1 + 11 + 4 + 64);
			cr_assert(memcmp(r.f[5], "\x0bX-Curve-Key\0\0\0\x40", 16) == 0);
			cr_assert(memcmp(r.f[5] + 16, hex, 64) == 0);
		} else {
			cr_assert_eq(r.len[5], 0, "row %zu: metadata only with 200", i);
		}
	}
	struct zap_stats c = stats_of("control"), e = stats_of("enroll"), o = stats_of(NULL);
	cr_assert_eq(c.allowed, 1);
	cr_assert_eq(c.denied, 3); /* unknown, revoked, PLAIN */
	cr_assert_eq(c.failed, 1); /* the bad user id */
	cr_assert_eq(e.allowed, 1);
	cr_assert_eq(e.denied, 1); /* NULL */
	cr_assert_eq(o.denied, 1); /* the unserved domain */
	cr_assert_eq(o.failed, 3); /* version, short key, missing frames */

	cr_assert_eq(zmq_close(fake), 0);
	zcurve_keypair_clear(&revoked_kp);
	zcurve_keypair_clear(&odd_kp);
}

Test(zap, unanswerable_request_does_not_wedge_the_handler)
{
	open_zap();
	void *fake = open_fake();
	struct reply r;
	/* No empty delimiter among the first frames: nothing to route a reply by. */
	cr_assert_eq(zmq_send(fake, "1.0", 3, ZMQ_SNDMORE), 3);
	cr_assert_eq(zmq_send(fake, "1", 1, ZMQ_SNDMORE), 1);
	cr_assert_eq(zmq_send(fake, "control", 7, ZMQ_SNDMORE), 7);
	cr_assert_eq(zmq_send(fake, "x", 1, ZMQ_SNDMORE), 1);
	cr_assert_eq(zmq_send(fake, "CURVE", 5, 0), 5);
	cr_assert_not(run_until(readable, fake, 200), "answered an unanswerable request");
	cr_assert_eq(stats_of(NULL).failed, 1);

	/* The next request is answered as usual. */
	const struct zap_bytes req[] = {B("1.0"),
					B("1"),
					B("enroll"),
					B("127.0.0.1"),
					B(""),
					B("CURVE"),
					{unknown_kp.public_key, ZAP_KEY_LEN}};
	cr_assert(exchange(fake, req, 7, &r, 1000));
	cr_assert_str_eq(r.f[2], "200");
	cr_assert_eq(zmq_close(fake), 0);
}

Test(zap, denial_logs_are_rate_limited)
{
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *logf = open_memstream(&logbuf, &loglen);
	cr_assert_not_null(logf);
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, logf);
	open_zap();
	void *fake = open_fake();
	const struct zap_bytes req[] = {B("1.0"),
					B("1"),
					B("control"),
					B("127.0.0.1"),
					B(""),
					B("CURVE"),
					{unknown_kp.public_key, ZAP_KEY_LEN}};
	for (int i = 0; i < 50; i++) {
		struct reply r;
		cr_assert(exchange(fake, req, 7, &r, 1000));
		cr_assert_str_eq(r.f[2], "400");
	}
	cr_assert_eq(stats_of("control").denied, 50, "every denial is counted");
	cr_assert_eq(fflush(logf), 0);
	size_t lines = 0;
	for (const char *p = logbuf; (p = strstr(p, "ZAP refused")); p++)
		lines++;
	cr_assert_geq(lines, 1);
	cr_assert_leq(lines, 10, "%zu denial lines for 50 denials", lines);
	log_configure(LOG_LEVEL_NOTICE, LOG_FORMAT_TEXT, NULL);
	fclose(logf);
	free(logbuf);
	cr_assert_eq(zmq_close(fake), 0);
}

/* ---- set-up ---- */

Test(zap, one_handler_per_context_and_domain_rules)
{
	struct zap other;
	open_zap();
	cr_assert_eq(zap_init(&other, &loop, ctx), -EADDRINUSE);
	cr_assert_eq(zap_domain_add(&zap, "control", ZAP_POLICY_ANY_KEY, NULL, NULL), -EEXIST);
	cr_assert_eq(zap_domain_add(&zap, "", ZAP_POLICY_ANY_KEY, NULL, NULL), -EINVAL);
	cr_assert_eq(zap_domain_add(&zap, "0123456789abcdef0123456789abcdef", ZAP_POLICY_ANY_KEY,
				    NULL, NULL),
		     -EINVAL, "longer than ZAP_DOMAIN_MAX");
	cr_assert_eq(zap_domain_add(&zap, "x", ZAP_POLICY_LOOKUP, NULL, NULL), -EINVAL);
	cr_assert_eq(zap_domain_add(&zap, "x", ZAP_POLICY_ANY_KEY, lookup, NULL), -EINVAL);
	cr_assert_eq(zap_domain_add(&zap, "c", ZAP_POLICY_ANY_KEY, NULL, NULL), 0);
	cr_assert_eq(zap_domain_add(&zap, "d", ZAP_POLICY_ANY_KEY, NULL, NULL), 0);
	cr_assert_eq(zap_domain_add(&zap, "e", ZAP_POLICY_ANY_KEY, NULL, NULL), -ENOSPC);
	struct zap_stats s;
	cr_assert_eq(zap_stats_get(&zap, "nope", &s), -ENOENT);
}

/* ---- the parser ---- */

Test(zap, parse_requests)
{
	static const uint8_t key[ZAP_KEY_LEN] = {1, 2, 3};
	const struct zap_bytes k = {key, ZAP_KEY_LEN};
	struct zap_request req;
	const struct zap_bytes curve[] = {B("id"),      B(""),      B("1.0"),   B("1"), B("dom"),
					  B("1.2.3.4"), B("ident"), B("CURVE"), k};
	cr_assert_eq(zap_request_parse(curve, 9, &req), 0);
	cr_assert_eq(req.envelope, 2);
	cr_assert(req.answerable);
	cr_assert_eq(req.mech, ZAP_MECH_CURVE);
	cr_assert_eq(req.curve_key, key);
	cr_assert_eq(req.domain.len, 3);
	cr_assert_eq(req.identity.len, 5);
	cr_assert_eq(req.address.p, curve[5].p);

	const struct zap_bytes plain[] = {B("id"), B(""), B("1.0"),   B("1"),    B("d"),
					  B("a"),  B(""), B("PLAIN"), B("user"), B("pass")};
	cr_assert_eq(zap_request_parse(plain, 10, &req), 0);
	cr_assert_eq(req.mech, ZAP_MECH_PLAIN);
	cr_assert_null(req.curve_key);
	cr_assert_eq(zap_request_parse(plain, 9, &req), -EBADMSG, "PLAIN needs two credentials");

	const struct zap_bytes gss[] = {B("id"), B(""), B("1.0"),    B("1"),    B("d"),
					B("a"),  B(""), B("GSSAPI"), B("token")};
	cr_assert_eq(zap_request_parse(gss, 9, &req), 0);
	cr_assert_eq(req.mech, ZAP_MECH_OTHER);

	/* Envelope: one to four routing ids, then the delimiter. */
	const struct zap_bytes env5[] = {B("a"),   B("b"), B("c"), B("d"), B("e"), B(""),
					 B("1.0"), B("1"), B("d"), B("a"), B(""),  B("NULL")};
	cr_assert_eq(zap_request_parse(env5, 12, &req), -EPROTO);
	cr_assert_not(req.answerable);
	cr_assert_eq(zap_request_parse(env5 + 1, 11, &req), 0);
	cr_assert_eq(req.envelope, 5);
	cr_assert_eq(zap_request_parse(curve + 1, 8, &req), -EPROTO, "no routing id");
	cr_assert_eq(zap_request_parse(curve, 1, &req), -EPROTO, "no delimiter");
	cr_assert_eq(zap_request_parse(curve, 0, &req), -EPROTO);

	/* Answerable refusals. */
	cr_assert_eq(zap_request_parse(curve, 3, &req), -EBADMSG);
	cr_assert_not(req.answerable, "no request id to echo");
	cr_assert_eq(zap_request_parse(curve, 4, &req), -EBADMSG);
	cr_assert(req.answerable);
	cr_assert_eq(zap_request_parse(curve, 8, &req), -EBADMSG, "CURVE without its key");
	const struct zap_bytes v2[] = {B("id"), B(""), B("2.0"),   B("1"), B("d"),
				       B("a"),  B(""), B("CURVE"), k};
	cr_assert_eq(zap_request_parse(v2, 9, &req), -EPROTONOSUPPORT);
	cr_assert(req.answerable);

	static uint8_t longf[ZAP_FIELD_MAX + 1];
	const struct zap_bytes big = {longf, sizeof(longf)};
	const struct zap_bytes longdom[] = {B("id"), B(""), B("1.0"),   B("1"), big,
					    B("a"),  B(""), B("CURVE"), k};
	cr_assert_eq(zap_request_parse(longdom, 9, &req), -EBADMSG);
	const struct zap_bytes longid[] = {B("id"), B(""), B("1.0"),   big, B("d"),
					   B("a"),  B(""), B("CURVE"), k};
	cr_assert_eq(zap_request_parse(longid, 9, &req), -EBADMSG);
	cr_assert_not(req.answerable, "an oversized request id is not echoed");
}

/* NOLINTEND(readability-function-size) */
