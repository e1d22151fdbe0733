/*
 * The engine's key-log hook (env->ike_keys): two engines in one process complete IKE_SA_INIT
 * and IKE_AUTH over an in-memory queue; each side reports the new IKE SA's keys once, both
 * report the same SPIs and keys, and the reported SK_ei really is the key the initiator's
 * IKE_AUTH request is encrypted with (it decrypts that request, as Wireshark would).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/proposal.h"
#include "edge/ike/ike_keys.h"
#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sa.h"
#include "edge/ike/ike_sk.h"
#include "edge/ike/ike_wire.h"

enum {
	QMAX = 16,
	PKT_MAX = 4096,
};

struct pkt {
	uint8_t buf[PKT_MAX];
	size_t len;
	struct ike_endpoint from, to;
	int dst;
};

struct logged {
	uint64_t spi_i, spi_r;
	uint8_t encr;
	uint8_t sk_ei[IKE_SK_E_MAX_LEN], sk_er[IKE_SK_E_MAX_LEN];
	size_t enc_len;
	char peer[IKE_PEER_NAME_MAX];
};

struct side {
	struct ike_engine *eng;
	struct ike_endpoint ep;
	uint32_t ctr;
	uint8_t seed;
	struct logged log[4];
	size_t n_log;
	size_t n_child;
};

static struct side sides[2];
static struct pkt queue[QMAX], auth_request;
static size_t nq;
static bool have_auth_request;

static uint64_t now_ms(void *ctx)
{
	(void)ctx;
	return 1000;
}

static int rnd(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	for (size_t i = 0; i < len; i++) {
		uint32_t x = (s->ctr++ + 1) * 2654435761u ^ (uint32_t)s->seed * 40503u;
		buf[i] = (uint8_t)(x >> 13 ^ x);
	}
	return 0;
}

static int send_pkt(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		    const uint8_t *msg, size_t len)
{
	struct side *s = ctx;
	cr_assert_lt(nq, QMAX);
	cr_assert_leq(len, PKT_MAX);
	struct pkt *p = &queue[nq++];
	memcpy(p->buf, msg, len);
	p->len = len;
	p->from = *local;
	p->to = *remote;
	p->dst = s == &sides[0] ? 1 : 0;
	return 0;
}

static void child_up(void *ctx, const struct ike_child_keys *k)
{
	(void)k;
	((struct side *)ctx)->n_child++;
}

static void ike_keys(void *ctx, const struct ike_sa_keylog *k)
{
	struct side *s = ctx;
	cr_assert_lt(s->n_log, 4);
	struct logged *l = &s->log[s->n_log++];
	cr_assert_leq(k->enc_len, IKE_SK_E_MAX_LEN);
	l->spi_i = k->spi_i;
	l->spi_r = k->spi_r;
	l->encr = k->encr;
	l->enc_len = k->enc_len;
	memcpy(l->sk_ei, k->sk_ei, k->enc_len);
	memcpy(l->sk_er, k->sk_er, k->enc_len);
	snprintf(l->peer, sizeof(l->peer), "%s", k->peer);
}

static struct ike_peer_config tunnel(int me, const char *ike)
{
	struct ike_peer_config c;
	struct proposal_errors errs;
	bool host;
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "tun-%d", me);
	snprintf(c.local_id, sizeof(c.local_id), "site-%d", me);
	snprintf(c.remote_id, sizeof(c.remote_id), "site-%d", 1 - me);
	memcpy(c.psk, "0123456789abcdef0123456789abcdef", 32);
	c.psk_len = 32;
	cr_assert_eq(proposal_parse(ike, PROPOSAL_IKE, &c.ike, &errs), 0);
	cr_assert_eq(proposal_parse("aes128gcm16", PROPOSAL_ESP, &c.esp, &errs), 0);
	c.ike_lifetime_s = 86400;
	c.child_lifetime_s = 3600;
	cr_assert_eq(prefix_parse(me ? "10.2.0.0/16" : "10.1.0.0/16", &c.local_ts[0], &host), 0);
	cr_assert_eq(prefix_parse(me ? "10.1.0.0/16" : "10.2.0.0/16", &c.remote_ts[0], &host), 0);
	c.n_local_ts = c.n_remote_ts = 1;
	c.local = sides[me].ep;
	c.remote = sides[1 - me].ep;
	c.initiate = me == 0;
	return c;
}

static void run(const char *ike_proposal, bool hook)
{
	memset(sides, 0, sizeof(sides));
	nq = 0;
	have_auth_request = false;
	for (int i = 0; i < 2; i++) {
		struct ike_env env = {.now_ms = now_ms,
				      .random = rnd,
				      .send = send_pkt,
				      .child_up = child_up,
				      .ike_keys = hook ? ike_keys : NULL,
				      .ctx = &sides[i]};
		sides[i].seed = (uint8_t)(7 + 50 * i);
		sides[i].ep.port = 500;
		cr_assert_eq(ip_addr_parse(i ? "198.51.100.1" : "192.0.2.1", &sides[i].ep.addr), 0);
		cr_assert_eq(ike_engine_new(&env, NULL, &sides[i].eng), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct ike_peer_config c = tunnel(i, ike_proposal);
		cr_assert_eq(ike_engine_add_peer(sides[i].eng, &c), 0);
	}
	uint64_t sa;
	cr_assert_eq(ike_sa_initiate(sides[0].eng, "tun-0", &sa), 0);
	for (int steps = 0; nq > 0 && steps < 32; steps++) {
		struct pkt p = queue[0];
		memmove(&queue[0], &queue[1], (--nq) * sizeof(queue[0]));
		struct ike_msg m;
		if (!have_auth_request && p.dst == 1 &&
		    ike_msg_parse(p.buf, p.len, &m) == IKE_PARSE_OK &&
		    m.hdr.exchange == IKE_EXCH_IKE_AUTH) {
			auth_request = p;
			have_auth_request = true;
		}
		ike_input(sides[p.dst].eng, p.buf, p.len, &p.from, &p.to);
	}
	cr_assert_eq(sides[0].n_child, 1, "the handshake did not complete");
	cr_assert_eq(sides[1].n_child, 1, "the handshake did not complete");
}

static void stop(void)
{
	for (int i = 0; i < 2; i++)
		ike_engine_free(sides[i].eng);
}

/* The initiator's IKE_AUTH request decrypts with the logged SK_ei. */
static void expect_decrypts(const struct logged *l)
{
	static struct ike_msg m;
	cr_assert(have_auth_request);
	cr_assert_eq(ike_msg_parse(auth_request.buf, auth_request.len, &m), IKE_PARSE_OK);
	cr_assert(m.pls.encrypted);
	const struct ike_payload *skp = &m.pls.pl[m.pls.n - 1];
	struct ike_sk sk;
	cr_assert_eq(ike_sk_init(&sk, l->encr, l->sk_ei, l->enc_len), 0);
	static uint8_t pt[PKT_MAX];
	size_t pt_len = 0;
	cr_expect_eq(ike_sk_decrypt(&sk, auth_request.buf, auth_request.len,
				    (size_t)(skp->body - auth_request.buf), skp->len, pt,
				    sizeof(pt), &pt_len),
		     IKE_SK_OK, "the logged SK_ei does not decrypt IKE_AUTH");
	cr_expect_gt(pt_len, 0);
	/* And SK_er does not: the hook must not swap the directions. */
	ike_sk_wipe(&sk);
	cr_assert_eq(ike_sk_init(&sk, l->encr, l->sk_er, l->enc_len), 0);
	cr_expect_neq(ike_sk_decrypt(&sk, auth_request.buf, auth_request.len,
				     (size_t)(skp->body - auth_request.buf), skp->len, pt,
				     sizeof(pt), &pt_len),
		      IKE_SK_OK);
	ike_sk_wipe(&sk);
}

static void check(const char *ike_proposal, uint8_t encr, size_t enc_len)
{
	run(ike_proposal, true);
	cr_assert_eq(sides[0].n_log, 1, "initiator: %zu key reports", sides[0].n_log);
	cr_assert_eq(sides[1].n_log, 1, "responder: %zu key reports", sides[1].n_log);
	const struct logged *a = &sides[0].log[0], *b = &sides[1].log[0];
	cr_expect_str_eq(a->peer, "tun-0");
	cr_expect_str_eq(b->peer, "tun-1");
	cr_expect_neq(a->spi_i, 0);
	cr_expect_neq(a->spi_r, 0);
	cr_expect_eq(a->spi_i, b->spi_i);
	cr_expect_eq(a->spi_r, b->spi_r);
	cr_expect_eq(a->encr, encr);
	cr_expect_eq(a->enc_len, enc_len);
	cr_expect_eq(b->enc_len, enc_len);
	cr_expect_arr_eq(a->sk_ei, b->sk_ei, enc_len);
	cr_expect_arr_eq(a->sk_er, b->sk_er, enc_len);
	cr_expect(memcmp(a->sk_ei, a->sk_er, enc_len) != 0);
	expect_decrypts(a);
	stop();
}

Test(ike_keylog, aes256gcm16)
{
	check("aes256gcm16-prfsha384-ecp384", PROPOSAL_ENCR_AES256GCM16, 36);
}

Test(ike_keylog, aes128gcm16)
{
	check("aes128gcm16-prfsha256-x25519", PROPOSAL_ENCR_AES128GCM16, 20);
}

Test(ike_keylog, chacha20poly1305)
{
	check("chacha20poly1305-prfsha256-x25519", PROPOSAL_ENCR_CHACHA20POLY1305, 36);
}

Test(ike_keylog, off_by_default)
{
	run("aes128gcm16-prfsha256-x25519", false);
	cr_expect_eq(sides[0].n_log, 0);
	cr_expect_eq(sides[1].n_log, 0);
	stop();
}
