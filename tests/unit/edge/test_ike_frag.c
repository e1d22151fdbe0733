/*
 * IKE fragmentation in the engine (edge/ike/ike_frag.c, RFC 7383): a certificate chain's
 * IKE_AUTH across a path that drops anything above a small MTU, lost fragments of requests and
 * responses recovered by retransmission, and every malformed or hostile fragment refused and
 * counted: duplicates, inconsistent totals, too many, too long, forged, stale.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ike_pair.h"

#include "edge/ike/ike_sk.h"

enum {
	SMALL = 400, /* fragment size and path MTU of these tests */
};

/* PKI for both sides: RSA site-a and P-384 site-b under a root and an intermediate, so the
 * IKE_AUTH messages carry two certificates each. Kept for the world's lifetime. */
struct chain_pki {
	EVP_PKEY *rk, *ik, *ka, *kb;
	X509 *root, *inter, *ca, *cb;
	STACK_OF(X509) * chain;
};

static struct chain_pki pki;

static void pki_init(void)
{
	pki.rk = w_key(X509ID_KEY_P256);
	pki.ik = w_key(X509ID_KEY_P256);
	pki.ka = w_key(X509ID_KEY_COUNT); /* RSA: the longest certificate and signature */
	pki.kb = w_key(X509ID_KEY_P384);
	pki.root = w_hand_cert(pki.rk, "acme", "acme root", true, NULL, NULL, 1);
	pki.inter = w_hand_cert(pki.ik, "acme", "acme issuing", true, pki.root, pki.rk, 2);
	pki.ca = w_hand_cert(pki.ka, "acme", "site-a", false, pki.inter, pki.ik, 3);
	pki.cb = w_hand_cert(pki.kb, "acme", "site-b", false, pki.inter, pki.ik, 4);
	pki.chain = sk_X509_new_null();
	cr_assert(sk_X509_push(pki.chain, pki.inter));
}

static void pki_fini(void)
{
	sk_X509_free(pki.chain);
	X509_free(pki.root);
	X509_free(pki.inter);
	X509_free(pki.ca);
	X509_free(pki.cb);
	EVP_PKEY_free(pki.rk);
	EVP_PKEY_free(pki.ik);
	EVP_PKEY_free(pki.ka);
	EVP_PKEY_free(pki.kb);
}

TestSuite(ike_frag, .init = pki_init, .fini = pki_fini);

/* A world with fragment size `frag` on site-a and rcfg on site-b, certificate tunnels, a path
 * MTU, and IKE_SA_INIT done: the fragments of the IKE_AUTH request are queued. */
static struct w_world *cert_world(uint32_t frag, const struct ike_engine_config *rcfg, size_t mtu)
{
	struct ike_engine_config ec = {.fragment_size = frag};
	struct w_world *w = calloc(1, sizeof(*w));
	struct ike_peer_config a, b;

	cr_assert_not_null(w);
	w->now = 1000000;
	w->wall = time(NULL);
	w_side_init(w, 0, "192.0.2.1", &ec);
	w_side_init(w, 1, "198.51.100.1", rcfg ? rcfg : &ec);
	w_tunnels(w, &a, &b);
	w_use_cert(&a, pki.ka, pki.ca, pki.root, pki.chain);
	w_use_cert(&b, pki.kb, pki.cb, pki.root, pki.chain);
	w_add(w, &a, &b);
	w->mtu = mtu;
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_one(w);
	w_deliver_one(w);
	return w;
}

static const struct ike_frag_stats *fst(const struct w_world *w, int i)
{
	return &ike_engine_stats(w->s[i].eng)->frag;
}

Test(ike_frag, cert_chain_crosses_small_mtu)
{
	struct w_world *w = cert_world(SMALL, NULL, SMALL);

	size_t n_req = w->nq;
	cr_assert_geq(n_req, 4, "IKE_AUTH request in %zu fragments", n_req);
	w_deliver_all(w);
	w_expect_up(w);
	cr_expect_eq(w->mtu_dropped, 0);
	cr_expect_leq(w->max_len_sent, SMALL);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(fst(w, i)->tx_messages, 1, "side %d", i);
		cr_expect_eq(fst(w, i)->reassembled, 1, "side %d", i);
		cr_expect_eq(fst(w, i)->duplicate + fst(w, i)->inconsistent + fst(w, i)->too_big,
			     0);
		cr_expect(w_only_sa(&w->s[i]).cert_auth);
	}
	cr_expect_eq(fst(w, 1)->rx_fragments, n_req);
	w_free(w);
}

/* The same path without fragmentation (a fragment size above the MTU): IKE_AUTH never arrives.
 * This is what the fragments above are for. */
Test(ike_frag, without_fragments_small_mtu_fails)
{
	struct w_world *w = cert_world(8192, NULL, SMALL);

	w_deliver_all(w);
	for (int i = 0; i < 8; i++) {
		w_advance(w, 20000);
		w_deliver_all(w);
	}
	cr_expect_gt(w->mtu_dropped, 0);
	const struct w_event *f = w_find_event(&w->s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect(strstr(f->reason, "no response to IKE_AUTH") != NULL, "%s", f->reason);
	w_free(w);
}

Test(ike_frag, lost_request_fragment_retransmitted)
{
	struct w_world *w = cert_world(SMALL, NULL, 0);
	size_t n = w->nq;

	w_drop_at(w, 1); /* fragment 2 */
	w_deliver_all(w);
	cr_expect_eq(w_only_sa(&w->s[1]).state, IKE_STATE_INIT_REPLIED, "incomplete: no action");
	cr_expect_eq(fst(w, 1)->rx_fragments, n - 1);
	w_advance(w, 500);
	cr_assert_eq(w->nq, n, "the whole request again");
	w_deliver_all(w);
	w_expect_up(w);
	cr_expect_eq(ike_engine_stats(w->s[0].eng)->retransmits, 1);
	/* Fragment 1 again is a duplicate; fragment 2 completes the message; the rest belong to
	 * a request now answered, and only fragment 1 of those would trigger a resend. */
	cr_expect_eq(fst(w, 1)->duplicate, 1, "fragments already held are counted, not kept");
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->drops[IKE_DROP_MSGID], n - 2);
	cr_expect_eq(fst(w, 1)->reassembled, 1);
	w_free(w);
}

Test(ike_frag, lost_response_fragment_retransmitted)
{
	struct w_world *w = cert_world(SMALL, NULL, 0);
	size_t n_req = w->nq;

	for (size_t i = 0; i < n_req; i++)
		w_deliver_one(w);
	size_t n_resp = w->nq;
	cr_assert_geq(n_resp, 2);
	w_drop_at(w, n_resp - 1);
	w_deliver_all(w);
	cr_expect_eq(w_only_sa(&w->s[0]).state, IKE_STATE_AUTH_SENT);
	w_advance(w, 500); /* the initiator retransmits its request */
	cr_assert_eq(w->nq, n_req);
	w_deliver_all(w);
	w_expect_up(w);
	/* Only fragment 1 of the answered request triggered the cached response (§2.6.1). */
	cr_expect_eq(fst(w, 1)->retransmit_trigger, 1);
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->cached_responses, 1);
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->drops[IKE_DROP_MSGID], n_req - 1);
	cr_expect_eq(fst(w, 0)->duplicate, n_resp - 1);
	w_free(w);
}

/* An SKF datagram sealed with site-a's real key (a copy with its own IV range), to reach the
 * reassembly checks that come after verification. */
static void inject_skf(struct w_world *w, uint16_t number, uint16_t total, uint8_t next, size_t len)
{
	static uint8_t msg[4096];
	static uint8_t data[2048];
	struct ike_ikesa *sa = w->s[0].eng->sas;
	struct ike_sk sk = sa->sk_out;
	struct wr wr = wr_init(msg, sizeof(msg));
	struct ike_build b;
	size_t mlen;
	struct ike_hdr hdr = {.spi_i = sa->spi_i,
			      .spi_r = sa->spi_r,
			      .exchange = IKE_EXCH_IKE_AUTH,
			      .flags = IKE_FLAG_INITIATOR,
			      .msg_id = 1};

	sk.iv_next = 1000000 + (uint64_t)number * 1000 + total;
	memset(data, 0x41, len);
	ike_build_init(&b, &wr, &hdr);
	ike_build_skf_begin(&b, next, number, total);
	size_t aad = wr_mark(&wr);
	wr_zero(&wr, IKE_SK_IV_LEN);
	wr_bytes(&wr, data, len);
	wr_u8(&wr, 0);
	wr_zero(&wr, IKE_SK_ICV_LEN);
	ike_build_end(&b);
	cr_assert_eq(ike_build_finish(&b, &mlen), 0);
	cr_assert_eq(ike_sk_seal(&sk, msg, aad, len + 1), 0);
	ike_input(w->s[1].eng, msg, mlen, &w->s[0].ep, &w->s[1].ep);
}

Test(ike_frag, hostile_fragments_dropped_and_counted)
{
	struct ike_engine_config rc = {.fragment_size = SMALL, .frag_max_fragments = 8};
	struct w_world *w = cert_world(SMALL, &rc, 0);
	const struct ike_frag_stats *s = fst(w, 1);
	const struct ike_stats *st = ike_engine_stats(w->s[1].eng);

	while (w->nq > 0) /* the genuine request is not delivered */
		w_drop_at(w, 0);
	inject_skf(w, 1, 4, IKE_PAYLOAD_NOTIFY, 100);
	cr_expect_eq(s->rx_fragments, 1);
	inject_skf(w, 1, 4, IKE_PAYLOAD_NOTIFY, 100);
	cr_expect_eq(s->duplicate, 1, "same number again");
	inject_skf(w, 2, 3, IKE_PAYLOAD_NONE, 100);
	cr_expect_eq(s->inconsistent, 1, "a smaller total than the fragments held");
	inject_skf(w, 2, 9, IKE_PAYLOAD_NONE, 100);
	cr_expect_eq(s->too_many, 1, "above frag_max_fragments");
	/* A larger total restarts reassembly: fragment 1 is then missing again. */
	inject_skf(w, 2, 5, IKE_PAYLOAD_NONE, 100);
	cr_expect_eq(w->s[1].eng->sas->frag_rx.slot[0].received, 1);
	cr_expect_eq(w->s[1].eng->sas->frag_rx.slot[0].total, 5);
	/* Fragment number above total, and zero: syntax. */
	inject_skf(w, 0, 5, IKE_PAYLOAD_NONE, 10);
	cr_expect_eq(st->parse[IKE_PARSE_SKF_NUMBER], 1);
	cr_expect_eq(st->drops[IKE_DROP_DECRYPT], 0);
	cr_expect_eq(s->rx_fragments, 2);
	cr_expect_eq(w_only_sa(&w->s[1]).state, IKE_STATE_INIT_REPLIED);
	w_free(w);
}

Test(ike_frag, forged_fragment_not_kept)
{
	struct w_world *w = cert_world(SMALL, NULL, 0);
	struct w_pkt p;

	w_take(w, 0, &p);
	p.buf[p.len - 1] ^= 0x01;
	w_input(w, &p);
	free(p.buf);
	cr_expect_eq(fst(w, 1)->rx_fragments, 0);
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->drops[IKE_DROP_DECRYPT], 1);
	cr_expect(!w->s[1].eng->sas->frag_rx.slot[0].active);
	w_free(w);
}

Test(ike_frag, oversized_reassembly_dropped)
{
	struct ike_engine_config rc = {.fragment_size = SMALL, .frag_max_octets = 1000};
	struct w_world *w = cert_world(SMALL, &rc, 0);

	w_deliver_all(w);
	cr_expect_eq(fst(w, 1)->too_big, 1);
	cr_expect_eq(fst(w, 1)->reassembled, 0);
	cr_expect(!w->s[1].eng->sas->frag_rx.slot[0].active, "everything held was dropped");
	w_free(w);
}

Test(ike_frag, incomplete_reassembly_times_out)
{
	struct w_world *w = cert_world(SMALL, NULL, 0);

	w_deliver_one(w);
	for (size_t i = w->nq; i > 0; i--)
		w_drop_at(w, 0);
	cr_expect(w->s[1].eng->sas->frag_rx.slot[0].active);
	uint64_t due = w->now + 5000;
	cr_expect_leq(ike_next_timer_ms(w->s[1].eng), due);
	w->now = due - 1;
	ike_tick(w->s[1].eng);
	cr_expect_eq(fst(w, 1)->timed_out, 0);
	w->now = due;
	ike_tick(w->s[1].eng);
	cr_expect_eq(fst(w, 1)->timed_out, 1);
	cr_expect(!w->s[1].eng->sas->frag_rx.slot[0].active);
	w_free(w);
}

/* A peer that did not announce fragmentation gets whole messages, however long. */
Test(ike_frag, peer_without_support_gets_whole_messages)
{
	struct w_world *w = cert_world(SMALL, NULL, 0);

	/* Undo what IKE_SA_INIT learnt, as if site-b had not announced it; resend. */
	for (size_t i = w->nq; i > 0; i--)
		w_drop_at(w, 0);
	struct ike_ikesa *sa = w->s[0].eng->sas;
	sa->peer_frag = false;
	sa->req_pending = false;
	sa->msgid_next = 1;
	cr_assert_eq(ike__auth_request_send(sa), 0);
	cr_expect_eq(w->nq, 1);
	cr_expect_gt(w->q[0].len, SMALL);
	w_free(w);
}

/* Defaults and bounds of the fragmentation settings. */
Test(ike_frag, settings_defaults_and_bounds)
{
	struct ike_engine_config c = {0};

	ike__frag_config(&c);
	cr_expect_eq(c.fragment_size, 1228);
	cr_expect_eq(c.frag_max_fragments, 32);
	cr_expect_eq(c.frag_max_octets, 16384);
	cr_expect_eq(c.frag_timeout_ms, 5000);
	c = (struct ike_engine_config){
		.fragment_size = 10, .frag_max_fragments = 100000, .frag_max_octets = 1u << 30};
	ike__frag_config(&c);
	cr_expect_eq(c.fragment_size, IKE_FRAG_SIZE_MIN);
	cr_expect_eq(c.frag_max_fragments, IKE_FRAG_MAX_LIMIT);
	cr_expect_eq(c.frag_max_octets, IKE_FRAG_REASSEMBLY_MAX);
}
