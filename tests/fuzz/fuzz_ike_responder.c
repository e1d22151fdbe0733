/*
 * libFuzzer target for the IKE engine (edge/ike/ike_sa.h) as a responder, with no network: the
 * harness plays the network, the clock and the random source.
 *
 * The first input octet picks what the rest is:
 *
 *   0  one datagram from the peer, then the timers run (pre-authentication surface: IKE_SA_INIT,
 *      cookies, dispatch, anything with unknown SPIs)
 *   1  the plaintext of an IKE_AUTH request (first octet: the first payload's type, then the
 *      payload chain). The harness runs a real IKE_SA_INIT between an initiator engine and the
 *      responder, encrypts the chain with the initiator's SK_ei and delivers it, so mutations
 *      reach identity, AUTH, proposal and traffic-selector handling behind the SK payload.
 *   2  a sequence of datagrams to the responder, each preceded by a 2-octet length, with the
 *      clock advancing 600 ms between them (retransmissions, caches, timers)
 *   3  as 1, for the initiator: the plaintext of the IKE_AUTH response, encrypted with SK_er
 *      and delivered to the initiator after it sent its IKE_AUTH request
 *   4  as 0, with the responder demanding a cookie of every IKE_SA_INIT
 *   5  the plaintext of a CREATE_CHILD_SA request (as 1) on an IKE SA fully established by a
 *      real IKE_SA_INIT and IKE_AUTH, delivered to the responder; then its answer goes back and
 *      the clock runs (new Child SAs, rekeys, collisions with the engine's own requests)
 *   6  as 5, an INFORMATIONAL request (Delete payloads)
 *   7  the plaintext of a CREATE_CHILD_SA response to the initiator, after it sent a real
 *      request; the octet after the mode picks which: 0 Child SA rekey, 1 IKE SA rekey, 2 new
 *      Child SA
 *   8  RFC 7383 reassembly: IKE_SA_INIT for real, then SKF fragments of the IKE_AUTH request
 *      (message ID 1) sealed with the initiator's SK_ei and delivered one by one, the clock
 *      moving 100 ms between them. The rest is records of number(2) total(2) next(1)
 *      length(2) plaintext, so mutations reach the reassembly bounds (numbers, totals,
 *      duplicates, sizes, timeouts) behind authentication and, once complete, the content.
 *   9+ as 4
 *
 * The seed corpus in tests/fuzz/corpus/ike_responder/ was captured from the two-party tests
 * (test_ike_exchange.c with SDWAN_IKE_CORPUS_DIR set). Invariants checked on every input: the
 * state-change table was never violated, and every datagram was acted on or counted once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_sa.h"
#include "edge/ike/ike_sk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

enum {
	Q_MAX = 8,
	PKT_MAX = 4096,
};

struct side {
	struct ike_engine *eng;
	struct harness *h;
	uint32_t ctr;
	uint8_t seed;
};

struct harness {
	uint64_t now;
	struct side s[2]; /* 0: initiator, 1: responder */
	struct {
		uint8_t buf[PKT_MAX];
		size_t len;
		int dst;
	} q[Q_MAX];
	size_t nq;
	struct ike_endpoint ep[2];
	size_t delivered;
};

static uint64_t h_now(void *ctx)
{
	return ((struct side *)ctx)->h->now;
}

static int h_random(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(((++s->ctr) * 2654435761u ^ s->seed * 40503u) >> 9);
	return 0;
}

static int h_send(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		  const uint8_t *msg, size_t len)
{
	struct side *s = ctx;
	struct harness *h = s->h;

	(void)local;
	if (h->nq == Q_MAX || len > PKT_MAX)
		return -ENOBUFS;
	h->q[h->nq].len = len;
	h->q[h->nq].dst = ip_addr_cmp(&remote->addr, &h->ep[0].addr) == 0 ? 0 : 1;
	memcpy(h->q[h->nq].buf, msg, len);
	h->nq++;
	return 0;
}

static void tunnel(struct ike_peer_config *c, const char *me, const char *them, int local,
		   struct harness *h)
{
	bool host;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "to-%s", them);
	snprintf(c->local_id, sizeof(c->local_id), "%s", me);
	snprintf(c->remote_id, sizeof(c->remote_id), "%s", them);
	memcpy(c->psk, "fuzz-psk", 8);
	c->psk_len = 8;
	c->ike = (struct proposal){.encr = PROPOSAL_ENCR_AES128GCM16,
				   .prf = PROPOSAL_PRF_SHA256,
				   .group = PROPOSAL_GROUP_X25519};
	c->esp = (struct proposal){.encr = PROPOSAL_ENCR_AES128GCM16, .esn = true};
	check(prefix_parse(local ? "10.2.0.0/16" : "10.1.0.0/16", &c->local_ts[0], &host) == 0);
	check(prefix_parse(local ? "10.1.0.0/16" : "10.2.0.0/16", &c->remote_ts[0], &host) == 0);
	c->n_local_ts = c->n_remote_ts = 1;
	c->local = h->ep[local];
	c->remote = h->ep[1 - local];
	c->initiate = local == 0;
}

static void harness_init(struct harness *h, int32_t cookie_limit)
{
	struct ike_peer_config c;

	memset(h, 0, sizeof(*h));
	h->now = 1000;
	check(ip_addr_parse("192.0.2.1", &h->ep[0].addr) == 0);
	check(ip_addr_parse("198.51.100.1", &h->ep[1].addr) == 0);
	h->ep[0].port = h->ep[1].port = 500;
	for (int i = 0; i < 2; i++) {
		struct side *s = &h->s[i];
		struct ike_env env = {
			.now_ms = h_now, .random = h_random, .send = h_send, .ctx = s};
		struct ike_engine_config ec = {.half_open_cookie_limit = cookie_limit};
		s->h = h;
		s->seed = (uint8_t)(3 + 50 * i);
		check(ike_engine_new(&env, &ec, &s->eng) == 0);
		tunnel(&c, i ? "site-b" : "site-a", i ? "site-a" : "site-b", i, h);
		check(ike_engine_add_peer(s->eng, &c) == 0);
	}
}

static void deliver(struct harness *h, size_t limit)
{
	for (size_t n = 0; h->nq > 0 && n < limit; n++) {
		static uint8_t buf[PKT_MAX];
		size_t len = h->q[0].len;
		int dst = h->q[0].dst;
		memcpy(buf, h->q[0].buf, len);
		memmove(&h->q[0], &h->q[1], (h->nq - 1) * sizeof(h->q[0]));
		h->nq--;
		ike_input(h->s[dst].eng, buf, len, &h->ep[1 - dst], &h->ep[dst]);
		h->delivered++;
	}
}

static void harness_check_free(struct harness *h)
{
	for (int i = 0; i < 2; i++) {
		const struct ike_stats *st = ike_engine_stats(h->s[i].eng);
		check(st->state_refused == 0);
		uint64_t drops = 0;
		for (int d = 0; d < IKE_DROP_COUNT; d++)
			drops += st->drops[d];
		check(drops <= st->rx);
		ike_engine_free(h->s[i].eng);
	}
}

/* Encrypt chain (first type, then payloads) with sk under hdr and deliver it to side dst. */
static void inject_sk(struct harness *h, struct ike_sk *sk, const struct ike_hdr *hdr, int dst,
		      const uint8_t *data, size_t size)
{
	static uint8_t msg[IKE_TX_MAX];
	uint8_t first = size ? data[0] : IKE_PAYLOAD_NONE;
	const uint8_t *chain = size ? data + 1 : NULL;
	size_t chain_len = size ? size - 1 : 0, len;

	if (chain_len == 0)
		first = IKE_PAYLOAD_NONE;
	else if (first == IKE_PAYLOAD_NONE)
		first = IKE_PAYLOAD_NOTIFY;
	if (ike_sk_encrypt(sk, hdr, first, chain, chain_len, msg, sizeof(msg), &len) != 0)
		return;
	ike_input(h->s[dst].eng, msg, len, &h->ep[1 - dst], &h->ep[dst]);
}

/* Mode 1: IKE_SA_INIT for real, then the fuzzed IKE_AUTH request. */
static void fuzz_auth_request(struct harness *h, const uint8_t *data, size_t size)
{
	check(ike_sa_initiate(h->s[0].eng, "to-site-b", NULL) == 0);
	deliver(h, 2);
	h->nq = 0; /* the initiator's own IKE_AUTH request is not delivered */
	struct ike_ikesa *sa = h->s[0].eng->sas;
	check(sa && sa->keyed);
	struct ike_sk sk = sa->sk_out;
	struct ike_hdr hdr = {.spi_i = sa->spi_i,
			      .spi_r = sa->spi_r,
			      .exchange = IKE_EXCH_IKE_AUTH,
			      .flags = IKE_FLAG_INITIATOR,
			      .msg_id = 1};
	inject_sk(h, &sk, &hdr, 1, data, size);
	/* The answer goes back to the initiator (which is waiting for one). */
	deliver(h, 4);
	ike_sk_wipe(&sk);
}

/* Mode 3: IKE_SA_INIT for real, the genuine IKE_AUTH request, then a fuzzed response. */
static void fuzz_auth_response(struct harness *h, const uint8_t *data, size_t size)
{
	check(ike_sa_initiate(h->s[0].eng, "to-site-b", NULL) == 0);
	deliver(h, 2);
	h->nq = 0;
	struct ike_ikesa *ini = h->s[0].eng->sas, *resp = h->s[1].eng->sas;
	check(ini && resp && resp->keyed);
	struct ike_sk sk = resp->sk_out;
	struct ike_hdr hdr = {.spi_i = ini->spi_i,
			      .spi_r = ini->spi_r,
			      .exchange = IKE_EXCH_IKE_AUTH,
			      .flags = IKE_FLAG_RESPONSE,
			      .msg_id = 1};
	inject_sk(h, &sk, &hdr, 0, data, size);
	ike_sk_wipe(&sk);
}

/* One SKF datagram (RFC 7383 §2.5) with the given fragment fields, sealed with sk. */
static void inject_skf(struct harness *h, struct ike_sk *sk, const struct ike_hdr *hdr, int dst,
		       const uint8_t rec[static 5], const uint8_t *pt, size_t len)
{
	static uint8_t msg[IKE_TX_MAX];
	struct wr w = wr_init(msg, sizeof(msg));
	struct ike_build b;
	size_t mlen;

	ike_build_init(&b, &w, hdr);
	ike_build_skf_begin(&b, rec[4], (uint16_t)(rec[0] << 8 | rec[1]),
			    (uint16_t)(rec[2] << 8 | rec[3]));
	size_t aad = wr_mark(&w);
	wr_zero(&w, IKE_SK_IV_LEN);
	wr_bytes(&w, pt, len);
	wr_u8(&w, 0);
	wr_zero(&w, IKE_SK_ICV_LEN);
	ike_build_end(&b);
	if (ike_build_finish(&b, &mlen) != 0 || ike_sk_seal(sk, msg, aad, len + 1) != 0)
		return;
	ike_input(h->s[dst].eng, msg, mlen, &h->ep[1 - dst], &h->ep[dst]);
}

/* Mode 8: IKE_SA_INIT for real, then fuzzed fragments of the IKE_AUTH request. */
static void fuzz_fragments(struct harness *h, const uint8_t *data, size_t size)
{
	enum {
		REC_HDR = 7
	};

	check(ike_sa_initiate(h->s[0].eng, "to-site-b", NULL) == 0);
	deliver(h, 2);
	h->nq = 0;
	struct ike_ikesa *sa = h->s[0].eng->sas;
	check(sa && sa->keyed);
	struct ike_sk sk = sa->sk_out;
	struct ike_hdr hdr = {.spi_i = sa->spi_i,
			      .spi_r = sa->spi_r,
			      .exchange = IKE_EXCH_IKE_AUTH,
			      .flags = IKE_FLAG_INITIATOR,
			      .msg_id = 1};
	while (size >= REC_HDR) {
		size_t len = (size_t)data[5] << 8 | data[6];
		const uint8_t *rec = data;
		data += REC_HDR;
		size -= REC_HDR;
		if (len > size)
			len = size;
		inject_skf(h, &sk, &hdr, 1, rec, data, len);
		data += len;
		size -= len;
		deliver(h, Q_MAX);
		h->nq = 0;
		h->now += 100;
		ike_tick(h->s[1].eng);
	}
	ike_sk_wipe(&sk);
}

/* IKE_SA_INIT and IKE_AUTH for real; the initiator's SA. */
static struct ike_ikesa *establish(struct harness *h)
{
	check(ike_sa_initiate(h->s[0].eng, "to-site-b", NULL) == 0);
	deliver(h, 4);
	h->nq = 0;
	struct ike_ikesa *sa = h->s[0].eng->sas;
	check(sa && sa->state == IKE_STATE_ESTABLISHED && h->s[1].eng->sas &&
	      h->s[1].eng->sas->state == IKE_STATE_ESTABLISHED);
	return sa;
}

/* Let the answers travel and the timers run (lifetimes, retries, Deletes, reaping). */
static void settle(struct harness *h)
{
	for (int i = 0; i < 6; i++) {
		deliver(h, 8);
		h->nq = 0;
		h->now += 7000;
		ike_tick(h->s[0].eng);
		ike_tick(h->s[1].eng);
	}
}

/* Modes 5 and 6: a fuzzed request on an established IKE SA. */
static void fuzz_established_request(struct harness *h, uint8_t exchange, const uint8_t *data,
				     size_t size)
{
	struct ike_ikesa *sa = establish(h);
	struct ike_sk sk = sa->sk_out;
	struct ike_hdr hdr = {.spi_i = sa->spi_i,
			      .spi_r = sa->spi_r,
			      .exchange = exchange,
			      .flags = IKE_FLAG_INITIATOR,
			      .msg_id = (uint32_t)sa->msgid_next};
	/* Keep the initiator's window in step, so the answer is taken as the response. */
	sa->msgid_next++;
	inject_sk(h, &sk, &hdr, 1, data, size);
	ike_sk_wipe(&sk);
	settle(h);
}

/* Mode 7: a fuzzed response to a real CREATE_CHILD_SA request of the initiator. */
static void fuzz_child_response(struct harness *h, const uint8_t *data, size_t size)
{
	struct ike_ikesa *ini = establish(h), *resp = h->s[1].eng->sas;
	uint8_t which = size ? data[0] % 3 : 0;
	uint64_t handle = ike__sa_handle(ini);
	int rc = which == 0   ? ike_child_rekey(h->s[0].eng, handle, ini->children->spi_in)
		 : which == 1 ? ike_sa_rekey(h->s[0].eng, handle)
			      : ike_child_create(h->s[0].eng, handle);
	check(rc == 0 && ini->req_pending);
	h->nq = 0; /* the genuine request is not delivered */
	struct ike_sk sk = resp->sk_out;
	struct ike_hdr hdr = {.spi_i = ini->spi_i,
			      .spi_r = ini->spi_r,
			      .exchange = IKE_EXCH_CREATE_CHILD_SA,
			      .flags = IKE_FLAG_RESPONSE,
			      .msg_id = ini->req_msgid};
	inject_sk(h, &sk, &hdr, 0, size ? data + 1 : data, size ? size - 1 : 0);
	ike_sk_wipe(&sk);
	settle(h);
}

/* Mode 2: length-prefixed datagrams with the clock moving between them. */
static void fuzz_sequence(struct harness *h, const uint8_t *data, size_t size)
{
	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		ike_input(h->s[1].eng, data, len, &h->ep[0], &h->ep[1]);
		data += len;
		size -= len;
		h->nq = 0;
		h->now += 600;
		ike_tick(h->s[1].eng);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;

	if (size < 1)
		return 0;
	log_configure(LOG_LEVEL_ERR, LOG_FORMAT_TEXT, NULL);
	uint8_t mode = data[0];
	harness_init(&h, mode == 4 || mode >= 9 ? -1 : 0);
	data++;
	size--;
	switch (mode) {
	case 1:
		fuzz_auth_request(&h, data, size);
		break;
	case 2:
		fuzz_sequence(&h, data, size);
		break;
	case 3:
		fuzz_auth_response(&h, data, size);
		break;
	case 5:
		fuzz_established_request(&h, IKE_EXCH_CREATE_CHILD_SA, data, size);
		break;
	case 6:
		fuzz_established_request(&h, IKE_EXCH_INFORMATIONAL, data, size);
		break;
	case 7:
		fuzz_child_response(&h, data, size);
		break;
	case 8:
		fuzz_fragments(&h, data, size);
		break;
	default:
		ike_input(h.s[1].eng, data, size, &h.ep[0], &h.ep[1]);
		for (int i = 0; i < 4; i++) {
			h.nq = 0;
			h.now += 20000;
			ike_tick(h.s[1].eng);
		}
		break;
	}
	harness_check_free(&h);
	return 0;
}
