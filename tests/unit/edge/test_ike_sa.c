/*
 * The IKE engine alone (edge/ike/ike_sa.h) and its private helpers (ike_internal.h): engine and
 * tunnel configuration checks, dispatch and its drop counters, the state table, timers, and the
 * proposal and traffic-selector logic the exchanges rely on. Two-party behaviour is in
 * test_ike_exchange.c.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_sa.h"

/* ---- a one-engine harness ---- */

struct env1 {
	uint64_t now;
	uint32_t ctr;
	size_t sent;
	uint8_t last[4096];
	size_t last_len;
	size_t events;
	int random_rc;
};

static uint64_t e_now(void *ctx)
{
	return ((struct env1 *)ctx)->now;
}

static int e_random(void *ctx, uint8_t *buf, size_t len)
{
	struct env1 *e = ctx;

	if (e->random_rc)
		return e->random_rc;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((++e->ctr * 2654435761u) >> 11);
	return 0;
}

static int e_send(void *ctx, const struct ike_endpoint *l, const struct ike_endpoint *r,
		  const uint8_t *msg, size_t len)
{
	struct env1 *e = ctx;

	(void)l;
	(void)r;
	e->sent++;
	cr_assert_leq(len, sizeof(e->last));
	memcpy(e->last, msg, len);
	e->last_len = len;
	return 0;
}

static void e_event(void *ctx, const struct ike_event *ev)
{
	(void)ev;
	((struct env1 *)ctx)->events++;
}

static struct ike_engine *engine(struct env1 *e, const struct ike_engine_config *cfg)
{
	struct ike_env env = {
		.now_ms = e_now, .random = e_random, .send = e_send, .event = e_event, .ctx = e};
	struct ike_engine *eng;

	cr_assert_eq(ike_engine_new(&env, cfg, &eng), 0);
	return eng;
}

static struct ike_endpoint ep(const char *a, uint16_t port)
{
	struct ike_endpoint x = {.port = port};

	cr_assert_eq(ip_addr_parse(a, &x.addr), 0);
	return x;
}

static struct prefix pfx(const char *s)
{
	struct prefix p;
	bool host;

	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	return p;
}

static struct proposal prop(const char *s, enum proposal_kind kind)
{
	struct proposal p;
	struct proposal_errors errs;

	cr_assert_eq(proposal_parse(s, kind, &p, &errs), 0, "%s", s);
	return p;
}

static struct ike_peer_config good_config(void)
{
	struct ike_peer_config c;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "hq-br1");
	snprintf(c.local_id, sizeof(c.local_id), "hq.example");
	snprintf(c.remote_id, sizeof(c.remote_id), "br1.example");
	memcpy(c.psk, "secret", 6);
	c.psk_len = 6;
	c.ike = prop("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE);
	c.esp = prop("aes256gcm16", PROPOSAL_ESP);
	c.local_ts[0] = pfx("10.0.0.0/16");
	c.n_local_ts = 1;
	c.remote_ts[0] = pfx("10.9.0.0/16");
	c.n_remote_ts = 1;
	c.local = ep("192.0.2.1", 500);
	c.remote = ep("192.0.2.2", 500);
	c.initiate = true;
	return c;
}

/* ---- names ---- */

Test(ike_sa, names)
{
	cr_expect_str_eq(ike_state_name(IKE_STATE_IDLE), "idle");
	cr_expect_str_eq(ike_state_name(IKE_STATE_ESTABLISHED), "established");
	cr_expect_str_eq(ike_state_name(IKE_STATE_COUNT), "unknown");
	cr_expect_str_eq(ike_event_name(IKE_EVENT_REKEY_NEEDED), "rekey_needed");
	cr_expect_str_eq(ike_event_name(IKE_EVENT_TYPE_COUNT), "unknown");
	cr_expect_str_eq(ike_drop_name(IKE_DROP_UNEXPECTED), "unexpected");
	cr_expect_str_eq(ike_drop_name(IKE_DROP_COUNT), "unknown");
	for (int s = 0; s < IKE_STATE_COUNT; s++)
		cr_expect_str_neq(ike_state_name((enum ike_state)s), "unknown");
	for (int d = 0; d < IKE_DROP_COUNT; d++)
		cr_expect_str_neq(ike_drop_name((enum ike_drop)d), "unknown");
	char nb[16];
	cr_expect_str_eq(ike__notify_name(IKE_N_TS_UNACCEPTABLE, nb), "TS_UNACCEPTABLE");
	cr_expect_str_eq(ike__notify_name(9999, nb), "notify-9999");
	cr_expect_str_eq(ike__exchange_name(IKE_EXCH_IKE_AUTH), "IKE_AUTH");
}

Test(ike_sa, safe_str_escapes_and_truncates)
{
	char buf[16];

	cr_expect_str_eq(ike__safe_str((const uint8_t *)"a\"b\\c\n", 6, buf, sizeof(buf)),
			 "a\\x22b\\x5cc\\x0a");
	cr_expect_str_eq(ike__safe_str((const uint8_t *)"0123456789abcdefghij", 20, buf, 8),
			 "0123456");
	/* An escape that does not fit is left out whole. */
	cr_expect_str_eq(ike__safe_str((const uint8_t *)"abcde\x01", 6, buf, 8), "abcde");
	buf[0] = 'x';
	ike__appendf(buf, 4, "%s", "");
	buf[0] = '\0';
	ike__appendf(buf, 8, "%d-", 12);
	ike__appendf(buf, 8, "%s", "34567890");
	cr_expect_str_eq(buf, "12-3456");
}

/* ---- engine and tunnel configuration ---- */

Test(ike_sa, engine_needs_its_callbacks)
{
	struct env1 e = {0};
	struct ike_engine *eng = (struct ike_engine *)&e;
	struct ike_env env = {.now_ms = e_now, .random = e_random, .ctx = &e};

	cr_expect_eq(ike_engine_new(&env, NULL, &eng), -EINVAL);
	cr_expect_null(eng);
	cr_expect_eq(ike_engine_new(NULL, NULL, &eng), -EINVAL);
	env.send = e_send;
	e.random_rc = -EIO;
	cr_expect_eq(ike_engine_new(&env, NULL, &eng), -EIO, "a failing random source");
	e.random_rc = 0;
	cr_assert_eq(ike_engine_new(&env, NULL, &eng), 0);
	/* Defaults. */
	cr_expect_eq(eng->cfg.retransmit_base_ms, 500);
	cr_expect_eq(eng->cfg.retransmit_tries, 5);
	cr_expect_eq(eng->cfg.half_open_cookie_limit, 64);
	ike_engine_free(eng);
	ike_engine_free(NULL);
}

struct bad_config {
	char field[16];
	int what;
};

static struct bad_config bad_configs[] = {
	{"name", 0},      {"local_id", 1},     {"remote_id", 2},    {"psk", 3},
	{"psk", 4},       {"ike proposal", 5}, {"esp proposal", 6}, {"local_ts", 7},
	{"remote_ts", 8}, {"remote", 9},       {"remote_id", 10},
};

ParameterizedTestParameters(ike_sa, tunnel_config_refused_naming_the_field)
{
	return cr_make_param_array(struct bad_config, bad_configs,
				   sizeof(bad_configs) / sizeof(bad_configs[0]));
}

ParameterizedTest(struct bad_config *b, ike_sa, tunnel_config_refused_naming_the_field)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();
	char *log = NULL;
	size_t log_len = 0;
	FILE *f = open_memstream(&log, &log_len);
	char want[64];

	log_configure(LOG_LEVEL_ERR, LOG_FORMAT_TEXT, f);
	switch (b->what) {
	case 0:
		c.name[0] = '\0';
		break;
	case 1:
		memset(c.local_id, 'a', sizeof(c.local_id)); /* not NUL-terminated */
		break;
	case 2:
		snprintf(c.remote_id, sizeof(c.remote_id), "br 1");
		break;
	case 3:
		c.psk_len = 0;
		break;
	case 4:
		c.psk_len = IKE_PSK_MAX + 1;
		break;
	case 5:
		c.ike.group = 14; /* modp2048: no ike_kex support */
		break;
	case 6:
		c.esp.encr = PROPOSAL_ENCR_NONE;
		break;
	case 7:
		c.n_local_ts = 0;
		break;
	case 8:
		c.remote_ts[0].len = 33;
		break;
	case 9:
		c.remote.addr.family = 0;
		break;
	default:
		snprintf(c.remote_id, sizeof(c.remote_id), "br\"1");
		break;
	}
	cr_assert_eq(ike_engine_add_peer(eng, &c), -EINVAL);
	fflush(f);
	snprintf(want, sizeof(want), "field=\"%s\"", b->field);
	cr_expect(log && strstr(log, want), "log: %s", log ? log : "(none)");
	fclose(f);
	free(log);
	log_configure(LOG_LEVEL_ERR, LOG_FORMAT_TEXT, NULL);
	ike_engine_free(eng);
}

Test(ike_sa, tunnel_names_are_unique_and_initiate_needs_one)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();
	uint64_t h;

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	cr_expect_eq(ike_engine_add_peer(eng, &c), -EEXIST);
	cr_expect_eq(ike_sa_initiate(eng, "nope", &h), -ENOENT);
	/* A responder-only tunnel (any address) cannot be initiated. */
	snprintf(c.name, sizeof(c.name), "any");
	c.initiate = false;
	c.remote.addr.family = 0;
	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	cr_expect_eq(ike_sa_initiate(eng, "any", &h), -EINVAL);
	cr_expect_eq(ike_sa_liveness_check(eng, 42), -ENOENT);
	ike_engine_free(eng);
}

/* ---- initiating, timers ---- */

Test(ike_sa, initiate_sends_ike_sa_init_and_arms_the_timer)
{
	struct env1 e = {.now = 5000};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();
	static struct ike_msg m;
	struct ike_sa_info info;
	uint64_t h;

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	cr_assert_eq(ike_next_timer_ms(eng), UINT64_MAX);
	cr_assert_eq(ike_sa_initiate(eng, "hq-br1", &h), 0);
	cr_assert_eq(e.sent, 1);
	cr_assert_eq(ike_msg_parse(e.last, e.last_len, &m), IKE_PARSE_OK);
	cr_expect_eq(m.hdr.exchange, IKE_EXCH_IKE_SA_INIT);
	cr_expect_eq(m.hdr.flags, IKE_FLAG_INITIATOR);
	cr_expect_eq(m.hdr.spi_i, h);
	cr_expect_eq(m.hdr.spi_r, 0);
	cr_expect_eq(m.hdr.msg_id, 0);
	/* SA, KE, Ni, then the four status notifies. */
	uint8_t want[] = {IKE_PAYLOAD_SA,     IKE_PAYLOAD_KE,     IKE_PAYLOAD_NONCE,
			  IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_NOTIFY,
			  IKE_PAYLOAD_NOTIFY};
	cr_assert_eq(m.pls.n, sizeof(want));
	for (size_t i = 0; i < sizeof(want); i++)
		cr_expect_eq(m.pls.pl[i].type, want[i]);
	struct ike_nonce n;
	cr_assert_eq(ike_nonce_parse(m.pls.pl[2].body, m.pls.pl[2].len, &n), IKE_PARSE_OK);
	cr_expect_eq(n.len, 32);
	struct ike_notify nt;
	cr_expect(ike__notify_find(&m.pls, IKE_N_FRAGMENTATION_SUPPORTED, &nt));
	cr_expect(ike__notify_find(&m.pls, IKE_N_SIGNATURE_HASH_ALGORITHMS, &nt));
	cr_expect_eq(nt.len, 8); /* SHA-256, SHA-384, SHA-512, IDENTITY */
	cr_assert(ike__notify_find(&m.pls, IKE_N_NAT_DETECTION_SOURCE_IP, &nt));
	cr_expect_eq(nt.len, 20);
	cr_assert_eq(ike_engine_sa_get(eng, h, &info), 0);
	cr_expect_eq(info.state, IKE_STATE_INIT_SENT);
	cr_expect_str_eq(info.peer, "hq-br1");
	cr_expect_eq(ike_next_timer_ms(eng), 5500);
	e.now = 5499;
	ike_tick(eng);
	cr_expect_eq(e.sent, 1);
	e.now = 5500;
	ike_tick(eng);
	cr_expect_eq(e.sent, 2);
	cr_expect_eq(ike_next_timer_ms(eng), 6500);
	cr_expect_eq(ike_engine_stats(eng)->retransmits, 1);
	ike_engine_free(eng);
}

Test(ike_sa, initiate_fails_cleanly_without_randomness)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();
	uint64_t h = 0;

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	e.random_rc = -EIO;
	cr_expect_eq(ike_sa_initiate(eng, "hq-br1", &h), -EIO);
	cr_expect_eq(e.sent, 0);
	ike_engine_free(eng);
}

/* ---- dispatch ---- */

Test(ike_sa, garbage_is_counted_never_answered)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_endpoint a = ep("192.0.2.9", 500), b = ep("192.0.2.1", 500);
	uint8_t junk[64];

	memset(junk, 0xa5, sizeof(junk));
	ike_input(eng, junk, 10, &a, &b);
	ike_input(eng, junk, sizeof(junk), &a, &b);
	ike_input(eng, NULL, 0, &a, &b);
	const struct ike_stats *st = ike_engine_stats(eng);
	cr_expect_eq(st->rx, 3);
	cr_expect_eq(st->drops[IKE_DROP_PARSE], 3);
	cr_expect_eq(st->parse[IKE_PARSE_HDR_TRUNCATED], 2);
	cr_expect_eq(e.sent, 0);
	ike_engine_free(eng);
}

/* Build a header-only message (no payloads). */
static size_t bare(uint8_t *buf, size_t cap, uint64_t spi_i, uint64_t spi_r, uint8_t exch,
		   uint8_t flags, uint32_t msg_id)
{
	struct wr w = wr_init(buf, cap);
	struct ike_build b;
	size_t len;

	ike_build_init(&b, &w,
		       &(struct ike_hdr){.spi_i = spi_i,
					 .spi_r = spi_r,
					 .exchange = exch,
					 .flags = flags,
					 .msg_id = msg_id});
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	return len;
}

Test(ike_sa, dispatch_drops_by_reason)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_endpoint a = ep("192.0.2.9", 500), b = ep("192.0.2.1", 500);
	const struct ike_stats *st = ike_engine_stats(eng);
	uint8_t buf[64];
	size_t n;

	/* IKE_SA_INIT request with a responder SPI, or without the I flag. */
	n = bare(buf, sizeof(buf), 1, 2, IKE_EXCH_IKE_SA_INIT, IKE_FLAG_INITIATOR, 0);
	ike_input(eng, buf, n, &a, &b);
	n = bare(buf, sizeof(buf), 1, 0, IKE_EXCH_IKE_SA_INIT, 0, 0);
	ike_input(eng, buf, n, &a, &b);
	cr_expect_eq(st->drops[IKE_DROP_INVALID], 2);
	/* IKE_SA_INIT request without SA/KE/Nonce. */
	n = bare(buf, sizeof(buf), 1, 0, IKE_EXCH_IKE_SA_INIT, IKE_FLAG_INITIATOR, 0);
	ike_input(eng, buf, n, &a, &b);
	cr_expect_eq(st->drops[IKE_DROP_INVALID], 3);
	/* Responses and requests for SAs that do not exist. */
	n = bare(buf, sizeof(buf), 7, 0, IKE_EXCH_IKE_SA_INIT, IKE_FLAG_RESPONSE, 0);
	ike_input(eng, buf, n, &a, &b);
	n = bare(buf, sizeof(buf), 7, 8, IKE_EXCH_IKE_AUTH, IKE_FLAG_INITIATOR, 1);
	ike_input(eng, buf, n, &a, &b);
	n = bare(buf, sizeof(buf), 7, 8, IKE_EXCH_INFORMATIONAL, IKE_FLAG_RESPONSE, 3);
	ike_input(eng, buf, n, &a, &b);
	cr_expect_eq(st->drops[IKE_DROP_NO_SA], 3);
	cr_expect_eq(e.sent, 0);
	ike_engine_free(eng);
}

/* A request from an unknown address: NO_PROPOSAL_CHOSEN naming the address, no state. */
Test(ike_sa, unknown_peer_address_refused_statelessly)
{
	struct env1 e = {0}, e2 = {.ctr = 1000};
	struct ike_engine *resp = engine(&e, NULL), *init = engine(&e2, NULL);
	struct ike_peer_config c = good_config();
	static struct ike_msg m;
	struct ike_notify n;

	cr_assert_eq(ike_engine_add_peer(init, &c), 0);
	c.remote = ep("192.0.2.77", 500);
	cr_assert_eq(ike_engine_add_peer(resp, &c), 0);
	cr_assert_eq(ike_sa_initiate(init, "hq-br1", NULL), 0);
	struct ike_endpoint from = ep("192.0.2.1", 500), to = ep("192.0.2.2", 500);
	ike_input(resp, e2.last, e2.last_len, &from, &to);
	cr_assert_eq(e.sent, 1);
	cr_assert_eq(ike_msg_parse(e.last, e.last_len, &m), IKE_PARSE_OK);
	cr_expect(ike__notify_find(&m.pls, IKE_N_NO_PROPOSAL_CHOSEN, &n));
	cr_expect_eq(ike_engine_sa_count(resp), 0);
	cr_expect_eq(ike_engine_stats(resp)->no_proposal_sent, 1);
	ike_engine_free(resp);
	ike_engine_free(init);
}

/* ---- the state table ---- */

Test(ike_sa, forbidden_transitions_are_refused_and_counted)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	struct ike_ikesa *sa;
	cr_assert_eq(ike__sa_new(eng, eng->peers, true, &sa), 0);
	cr_expect_eq(sa->state, IKE_STATE_IDLE);
	ike__sa_set_state(sa, IKE_STATE_AUTH_SENT, "test: skipping IKE_SA_INIT");
	cr_expect_eq(sa->state, IKE_STATE_IDLE);
	cr_expect_eq(ike_engine_stats(eng)->state_refused, 1);
	ike__sa_set_state(sa, IKE_STATE_INIT_SENT, "test");
	cr_expect_eq(sa->state, IKE_STATE_INIT_SENT);
	cr_expect_eq(ike_engine_stats(eng)->state_enter[IKE_STATE_INIT_SENT], 1);
	cr_expect_eq(e.events, 1);
	ike__sa_fail(sa, "TEST", 0, "because %d", 42);
	cr_expect_eq(sa->state, IKE_STATE_FAILED);
	cr_expect_str_eq(sa->reason, "because 42");
	/* Failed is terminal; failing again does nothing. */
	ike__sa_fail(sa, "TEST", 0, "again");
	cr_expect_str_eq(sa->reason, "because 42");
	ike__sa_set_state(sa, IKE_STATE_INIT_SENT, "test: resurrect");
	cr_expect_eq(sa->state, IKE_STATE_FAILED);
	cr_expect_eq(ike_engine_stats(eng)->state_refused, 2);
	/* An initiator's failed SA is freed at the next tick. */
	ike_tick(eng);
	cr_expect_eq(ike_engine_sa_count(eng), 0);
	cr_expect_eq(ike_engine_stats(eng)->sas_freed, 1);
	ike_engine_free(eng);
}

Test(ike_sa, half_open_count_follows_state)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	struct ike_ikesa *sa;
	cr_assert_eq(ike__sa_new(eng, eng->peers, false, &sa), 0);
	ike__sa_set_state(sa, IKE_STATE_INIT_REPLIED, "test");
	cr_expect_eq(eng->half_open, 1);
	ike__sa_fail(sa, "TEST", 0, "gone");
	cr_expect_eq(eng->half_open, 0);
	/* A responder's failed SA lingers to answer retransmissions. */
	ike_tick(eng);
	cr_expect_eq(ike_engine_sa_count(eng), 1);
	e.now += 30000;
	ike_tick(eng);
	cr_expect_eq(ike_engine_sa_count(eng), 0);
	ike_engine_free(eng);
}

Test(ike_sa, spis_are_unique_and_nonzero)
{
	struct env1 e = {0};
	struct ike_engine *eng = engine(&e, NULL);
	struct ike_peer_config c = good_config();

	cr_assert_eq(ike_engine_add_peer(eng, &c), 0);
	for (int i = 0; i < 50; i++) {
		struct ike_ikesa *sa;
		cr_assert_eq(ike__sa_new(eng, eng->peers, i % 2, &sa), 0);
	}
	for (const struct ike_ikesa *a = eng->sas; a; a = a->next) {
		cr_assert_neq(ike__sa_handle(a), 0);
		for (const struct ike_ikesa *b = a->next; b; b = b->next)
			cr_assert_neq(ike__sa_handle(a), ike__sa_handle(b));
	}
	cr_expect_eq(ike_engine_sa_count(eng), 50);
	struct ike_sa_info info;
	cr_expect_eq(ike_engine_sa_at(eng, 49, &info), 0);
	cr_expect_eq(ike_engine_sa_at(eng, 50, &info), -ENOENT);
	ike_engine_free(eng);
}

/* ---- proposals ---- */

static void offer_add(struct ike_sa *sa, uint8_t proto, const uint16_t (*xf)[3], size_t n)
{
	cr_assert_eq(ike_sa_add_proposal(sa, proto, NULL, 0), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ike_sa_add_transform(sa, (uint8_t)xf[i][0], xf[i][1], xf[i][2]), 0);
}

Test(ike_sa, proposal_selection)
{
	static struct ike_sa offer;
	struct proposal ours = prop("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE);
	/* strongSwan style: several values per type in one proposal. */
	const uint16_t p1[][3] = {{IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256},
				  {IKE_TRANSFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0},
				  {IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0},
				  {IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0}};
	const uint16_t p2[][3] = {{IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128},
				  {IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256},
				  {IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0},
				  {IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0},
				  {IKE_TRANSFORM_DH, IKE_DH_ECP_256, 0},
				  {IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0}};

	memset(&offer, 0, sizeof(offer));
	offer_add(&offer, IKE_PROTO_IKE, p1, 4);
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), -1, "CBC+HMAC is not ours");
	offer_add(&offer, IKE_PROTO_IKE, p2, 6);
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), 1);
	/* An unknown attribute makes a transform unchoosable (§3.3.6). */
	offer.xf[offer.prop[1].first + 1].unknown_attr = true;
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), -1);
	offer.xf[offer.prop[1].first + 1].unknown_attr = false;
	/* An integrity algorithm beside the AEAD is only fine if NONE is offered. */
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_INTEG, IKE_INTEG_HMAC_SHA1_96, 0),
		     0);
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), -1);
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_INTEG, IKE_INTEG_NONE, 0), 0);
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), 1);
	/* A transform type we do not know refuses the proposal. */
	cr_assert_eq(ike_sa_add_transform(&offer, 9, 1, 0), 0);
	cr_expect_eq(ike__prop_select(&offer, &ours, PROPOSAL_IKE), -1);
}

Test(ike_sa, proposal_explanations)
{
	static struct ike_sa offer;
	struct proposal ours = prop("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE);
	char why[512];
	/* Every value is offered, but not together. */
	const uint16_t p1[][3] = {{IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256},
				  {IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0},
				  {IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0}};
	const uint16_t p2[][3] = {{IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128},
				  {IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0},
				  {IKE_TRANSFORM_DH, IKE_DH_ECP_256, 0}};

	memset(&offer, 0, sizeof(offer));
	offer_add(&offer, IKE_PROTO_IKE, p1, 3);
	offer_add(&offer, IKE_PROTO_IKE, p2, 3);
	ike__prop_explain(&offer, &ours, PROPOSAL_IKE, why, sizeof(why));
	cr_expect_str_eq(why, "no single IKE proposal of the peer matches ours "
			      "(aes256gcm16-prfsha384-x25519); peer offered "
			      "aes256gcm16-prfsha256-x25519, aes128gcm16-prfsha384-ecp256");
	/* Nothing of ours for one type: the values offered are listed once each. */
	memset(&offer, 0, sizeof(offer));
	offer_add(&offer, IKE_PROTO_IKE, p2, 3);
	offer_add(&offer, IKE_PROTO_IKE, p2, 3);
	ike__prop_explain(&offer, &ours, PROPOSAL_IKE, why, sizeof(why));
	cr_expect_str_eq(why, "peer offered only aes128gcm16 for IKE encryption; we require "
			      "aes256gcm16; peer offered only ecp256 for IKE key exchange; we "
			      "require x25519");
	/* An ESP offer where IKE is needed. */
	memset(&offer, 0, sizeof(offer));
	offer_add(&offer, IKE_PROTO_ESP, p1, 1);
	ike__prop_explain(&offer, &ours, PROPOSAL_IKE, why, sizeof(why));
	cr_expect(strstr(why, "peer offered no value for IKE encryption") != NULL, "%s", why);
	/* Short buffers truncate, never overflow. */
	char tiny[12];
	ike__prop_explain(&offer, &ours, PROPOSAL_IKE, tiny, sizeof(tiny));
	cr_expect_eq(strlen(tiny), sizeof(tiny) - 1);
}

Test(ike_sa, responder_choice_is_checked)
{
	static struct ike_sa resp;
	struct proposal ours = prop("aes128gcm16-prfsha256-ecp384", PROPOSAL_IKE);
	char why[256];

	cr_assert_eq(ike__prop_to_sa(&ours, PROPOSAL_IKE, NULL, 0, &resp), 0);
	cr_expect(ike__prop_check_response(&resp, &ours, PROPOSAL_IKE, why, sizeof(why)), "%s",
		  why);
	resp.xf[2].id = IKE_DH_ECP_256;
	cr_expect(!ike__prop_check_response(&resp, &ours, PROPOSAL_IKE, why, sizeof(why)));
	cr_expect_str_eq(why, "responder chose ecp256 for IKE key exchange; we offered only "
			      "ecp384");
	resp.xf[2].id = IKE_DH_ECP_384;
	cr_assert_eq(ike_sa_add_transform(&resp, IKE_TRANSFORM_INTEG, IKE_INTEG_HMAC_SHA1_96, 0),
		     0);
	cr_expect(!ike__prop_check_response(&resp, &ours, PROPOSAL_IKE, why, sizeof(why)));
	cr_expect_str_eq(why, "responder added sha1, which we did not offer");
	/* ESP with its SPI. */
	struct proposal esp = prop("chacha20poly1305-noesn", PROPOSAL_ESP);
	uint8_t spi[4] = {0, 0, 1, 0};
	cr_assert_eq(ike__prop_to_sa(&esp, PROPOSAL_ESP, spi, 4, &resp), 0);
	cr_expect_eq(resp.prop[0].spi_size, 4);
	cr_expect_eq(resp.n_xf, 2, "ENCR and ESN only: no DH in IKE_AUTH");
	cr_expect(ike__prop_check_response(&resp, &esp, PROPOSAL_ESP, why, sizeof(why)), "%s", why);
	struct proposal esn = prop("chacha20poly1305-esn", PROPOSAL_ESP);
	cr_expect(!ike__prop_check_response(&resp, &esn, PROPOSAL_ESP, why, sizeof(why)));
	cr_expect_str_eq(why, "responder chose noesn for ESP extended sequence numbers; we offered "
			      "only esn");
	cr_expect(!ike__prop_check_response(&resp, &ours, PROPOSAL_IKE, why, sizeof(why)));
}

Test(ike_sa, transform_names)
{
	char b[24];

	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128, b),
			 "aes128gcm16");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_8, 256, b),
			 "aes256gcm8");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_ENCR, IKE_ENCR_AES_CBC, 256, b), "aes256");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_ENCR, 3, 0, b), "encr3");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_512, 0, b),
			 "prfsha512");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_DH, IKE_DH_MODP_2048, 0, b), "modp2048");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_DH, 2, 0, b), "modp1024");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_DH, 99, 0, b), "group99");
	cr_expect_str_eq(ike__xform_name(IKE_TRANSFORM_ESN, IKE_ESN_NO, 0, b), "noesn");
	cr_expect_str_eq(ike__xform_name(12, 5, 0, b), "type12:5");
}

/* ---- traffic selectors ---- */

static struct ike_ts range(const char *lo, const char *hi, uint8_t proto, uint16_t p0, uint16_t p1)
{
	struct ip_addr a, b;
	struct ike_ts t = {.proto = proto, .start_port = p0, .end_port = p1};

	cr_assert_eq(ip_addr_parse(lo, &a), 0);
	cr_assert_eq(ip_addr_parse(hi, &b), 0);
	t.type = a.family == IP_V4 ? IKE_TS_IPV4_ADDR_RANGE : IKE_TS_IPV6_ADDR_RANGE;
	memcpy(t.start, a.bytes, 16);
	memcpy(t.end, b.bytes, 16);
	return t;
}

struct ts_case {
	char offered_lo[40], offered_hi[40];
	uint8_t proto;
	uint16_t p0, p1;
	char cfg[44];
	char want[80]; /* "" = empty */
};

static struct ts_case ts_cases[] = {
	{"10.0.0.0", "10.255.255.255", 0, 0, 65535, "10.1.0.0/16", "10.1.0.0/16"},
	{"10.1.2.0", "10.1.2.255", 0, 0, 65535, "10.1.0.0/16", "10.1.2.0/24"},
	{"10.1.2.5", "10.1.9.9", 0, 0, 65535, "10.1.4.0/22", "10.1.4.0/22"},
	{"10.1.2.5", "10.1.4.9", 0, 0, 65535, "10.1.4.0/22", "10.1.4.0-10.1.4.9"},
	{"10.1.0.0", "10.1.255.255", 6, 443, 443, "10.1.0.0/16",
	 "10.1.0.0/16[proto 6][ports 443-443]"},
	{"10.1.0.0", "10.1.255.255", 0, 0, 65535, "10.2.0.0/16", ""},
	{"10.1.0.0", "10.1.255.255", 0, 0, 65535, "2001:db8::/32", ""},
	{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0, 65535, "2001:db8:1::/48",
	 "2001:db8:1::/48"},
	{"10.1.0.0", "10.1.255.255", 17, 65535, 0, "10.1.0.0/16", "10.1.0.0/16[proto 17][opaque]"},
	{"0.0.0.0", "255.255.255.255", 0, 0, 65535, "0.0.0.0/0", "0.0.0.0/0"},
	{"192.0.2.7", "192.0.2.7", 0, 0, 65535, "192.0.2.0/24", "192.0.2.7/32"},
};

ParameterizedTestParameters(ike_sa, ts_narrowing)
{
	return cr_make_param_array(struct ts_case, ts_cases,
				   sizeof(ts_cases) / sizeof(ts_cases[0]));
}

ParameterizedTest(struct ts_case *c, ike_sa, ts_narrowing)
{
	static struct ike_ts_list offered, out;
	struct prefix cfg = pfx(c->cfg);
	char buf[256];

	offered.n = 1;
	offered.ts[0] = range(c->offered_lo, c->offered_hi, c->proto, c->p0, c->p1);
	bool any = ike__ts_narrow(&offered, &cfg, 1, &out);
	cr_assert_eq(any, c->want[0] != '\0', "%s vs %s", c->offered_lo, c->cfg);
	if (any) {
		cr_expect_str_eq(ike__ts_format(&out, buf, sizeof(buf)), c->want);
		/* A narrowed selector lies inside what was offered. */
		cr_expect(ike__ts_subset(&out, &offered));
	}
}

Test(ike_sa, ts_subset_and_format)
{
	static struct ike_ts_list a, b;
	struct prefix p[2] = {pfx("10.0.0.0/8"), pfx("2001:db8::/32")};
	char buf[128];

	ike__ts_from_prefixes(p, 2, &a);
	cr_expect_str_eq(ike__ts_format(&a, buf, sizeof(buf)), "10.0.0.0/8,2001:db8::/32");
	b.n = 1;
	b.ts[0] = range("10.3.0.0", "10.3.0.255", 0, 0, 65535);
	cr_expect(ike__ts_subset(&b, &a));
	b.ts[0] = range("10.3.0.0", "11.0.0.0", 0, 0, 65535);
	cr_expect(!ike__ts_subset(&b, &a));
	b.ts[0] = range("10.3.0.0", "10.3.0.255", 6, 80, 80);
	cr_expect(ike__ts_subset(&b, &a), "narrower protocol and ports are inside");
	cr_expect(!ike__ts_subset(&a, &b));
	b.n = 0;
	cr_expect(!ike__ts_subset(&b, &a), "an empty answer is not acceptable");
	/* Truncation is safe. */
	ike__ts_format(&a, buf, 6);
	cr_expect_eq(strlen(buf), 5);
}
