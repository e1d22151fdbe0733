/*
 * Two IKE engines in one process for the CREATE_CHILD_SA and Delete tests (test_ike_child.c): a
 * fake clock, a deterministic random source per side into which a test can queue the next
 * nonces (32-octet draws) so it decides which nonce is lowest, an in-memory network the test
 * controls (deliver, drop, hold back, reorder), and a record of every child_up, child_down and
 * event in the order they happened.
 *
 * Header-only, static functions, included by one test file each (like pkt_reference.h).
 */
#ifndef SDWAN_TESTS_UNIT_EDGE_IKE_WORLD_H
#define SDWAN_TESTS_UNIT_EDGE_IKE_WORLD_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/prefix.h"
#include "common/proposal.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_sa.h"

enum {
	W_MAX_PKTS = 64,
	W_MAX_EVENTS = 128,
	W_MAX_CHILD = 16,
	W_PKT_MAX = 4096,
	W_NONCES = 8,
};

struct w_pkt {
	uint8_t buf[W_PKT_MAX];
	size_t len;
	struct ike_endpoint from, to;
	int dst;
};

struct w_event {
	enum ike_event_type type;
	uint64_t sa, new_sa;
	uint32_t spi_in, spi_out, new_spi_in;
	uint16_t notify;
	unsigned seq; /* order among child_up, child_down and events of this side */
	char reason[512];
};

/* A Child SA as the data plane would see it. */
struct w_child {
	struct ike_child_keys k;
	bool down;
	enum ike_child_down_reason why;
	unsigned up_seq, down_seq;
};

struct w_world;

struct w_side {
	struct w_world *w;
	int idx;
	struct ike_engine *eng;
	struct ike_endpoint ep;
	uint32_t rng_ctr;
	uint8_t nonce[W_NONCES][IKE_NONCE_LEN]; /* queued nonces, used first-in first-out */
	size_t n_nonce, nonce_used;
	struct w_child child[W_MAX_CHILD];
	size_t n_child;
	size_t n_down;
	struct w_event ev[W_MAX_EVENTS];
	size_t n_ev;
	unsigned seq;
};

struct w_world {
	uint64_t now;
	struct w_side s[2];
	struct w_pkt q[W_MAX_PKTS];
	size_t nq;
};

static inline uint64_t w_now(void *ctx)
{
	return ((struct w_side *)ctx)->w->now;
}

static inline int w_random(void *ctx, uint8_t *buf, size_t len)
{
	struct w_side *s = ctx;

	if (len == IKE_NONCE_LEN && s->nonce_used < s->n_nonce) {
		memcpy(buf, s->nonce[s->nonce_used++], len);
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		uint32_t x = (s->rng_ctr++ + 1) * 2654435761u ^ (uint32_t)(s->idx + 7) * 40503u;
		buf[i] = (uint8_t)(x >> 13 ^ x);
	}
	return 0;
}

/*
 * Seed corpus capture for tests/fuzz/fuzz_ike_responder.c: with SDWAN_IKE_CORPUS_DIR set, the
 * decrypted content of every CREATE_CHILD_SA and INFORMATIONAL message is written there in the
 * fuzzer's format (mode 5: CREATE_CHILD_SA request, 6: INFORMATIONAL request, 7: CREATE_CHILD_SA
 * response after a selector octet: 1 for an IKE SA rekey, 0 otherwise; then the first payload's
 * type and the chain).
 */
static inline void w_corpus(const struct w_side *s, const uint8_t *msg, size_t len)
{
	static struct ike_msg m;
	static uint8_t pt[W_PKT_MAX];
	static unsigned n;
	const char *dir = getenv("SDWAN_IKE_CORPUS_DIR");
	size_t pt_len;

	if (!dir || ike_msg_parse(msg, len, &m) != IKE_PARSE_OK || !m.pls.encrypted ||
	    (m.hdr.exchange != IKE_EXCH_CREATE_CHILD_SA &&
	     m.hdr.exchange != IKE_EXCH_INFORMATIONAL))
		return;
	bool response = (m.hdr.flags & IKE_FLAG_RESPONSE) != 0;
	if (m.hdr.exchange == IKE_EXCH_INFORMATIONAL && response)
		return;
	const struct ike_payload *sk = &m.pls.pl[m.pls.n - 1];
	for (const struct ike_ikesa *sa = s->eng->sas; sa; sa = sa->next) {
		if (!sa->keyed || sa->spi_i != m.hdr.spi_i || sa->spi_r != m.hdr.spi_r ||
		    ike_sk_decrypt(&sa->sk_out, msg, len, (size_t)(sk->body - msg), sk->len, pt,
				   sizeof(pt), &pt_len) != IKE_SK_OK)
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/child-%d-%03u.bin", dir, getpid(), n++);
		FILE *f = fopen(path, "wb");
		if (!f)
			return;
		uint8_t mode = !response ? (m.hdr.exchange == IKE_EXCH_CREATE_CHILD_SA ? 5 : 6) : 7;
		fputc(mode, f);
		if (mode == 7) {
			static struct ike_payloads inner;
			const struct ike_payload *sa_pl = NULL;
			if (ike_msg_parse_inner(pt, pt_len, sk->next, &inner) == IKE_PARSE_OK)
				sa_pl = ike__payload_find(&inner, IKE_PAYLOAD_SA);
			/* The proposal's protocol octet: 1 is IKE. */
			fputc(sa_pl && sa_pl->len > 9 && sa_pl->body[5] == IKE_PROTO_IKE, f);
		}
		fputc(sk->next, f);
		fwrite(pt, 1, pt_len, f);
		fclose(f);
		return;
	}
}

static inline int w_send(void *ctx, const struct ike_endpoint *local,
			 const struct ike_endpoint *remote, const uint8_t *msg, size_t len)
{
	struct w_side *s = ctx;
	struct w_world *w = s->w;

	cr_assert_lt(w->nq, W_MAX_PKTS);
	cr_assert_leq(len, W_PKT_MAX);
	struct w_pkt *p = &w->q[w->nq++];
	memcpy(p->buf, msg, len);
	p->len = len;
	p->from = *local;
	p->to = *remote;
	p->dst = 1 - s->idx;
	w_corpus(s, msg, len);
	return 0;
}

static inline void w_child_up(void *ctx, const struct ike_child_keys *k)
{
	struct w_side *s = ctx;

	cr_assert_lt(s->n_child, W_MAX_CHILD);
	struct w_child *c = &s->child[s->n_child++];
	memset(c, 0, sizeof(*c));
	c->k = *k;
	c->up_seq = ++s->seq;
}

static inline struct w_child *w_child_by_in(struct w_side *s, uint32_t spi_in)
{
	for (size_t i = 0; i < s->n_child; i++)
		if (s->child[i].k.spi_in == spi_in)
			return &s->child[i];
	return NULL;
}

static inline void w_child_down(void *ctx, const char *peer, uint64_t sa, uint32_t spi_in,
				uint32_t spi_out, enum ike_child_down_reason why)
{
	struct w_side *s = ctx;
	struct w_child *c = w_child_by_in(s, spi_in);

	(void)peer;
	(void)sa;
	cr_assert_not_null(c, "child_down for a pair never up: %08x", spi_in);
	cr_assert_eq(c->k.spi_out, spi_out);
	cr_assert(!c->down, "child_down twice for %08x", spi_in);
	c->down = true;
	c->why = why;
	c->down_seq = ++s->seq;
	s->n_down++;
}

static inline void w_event(void *ctx, const struct ike_event *ev)
{
	struct w_side *s = ctx;

	cr_assert_lt(s->n_ev, W_MAX_EVENTS);
	struct w_event *r = &s->ev[s->n_ev++];
	r->type = ev->type;
	r->sa = ev->sa;
	r->new_sa = ev->new_sa;
	r->spi_in = ev->spi_in;
	r->spi_out = ev->spi_out;
	r->new_spi_in = ev->new_spi_in;
	r->notify = ev->notify;
	r->seq = ++s->seq;
	snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
}

static inline struct prefix w_pfx(const char *s)
{
	struct prefix p;
	bool host;

	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	return p;
}

static inline struct proposal w_prop(const char *s, enum proposal_kind kind)
{
	struct proposal p;
	struct proposal_errors errs;

	cr_assert_eq(proposal_parse(s, kind, &p, &errs), 0, "%s", s);
	return p;
}

static inline struct ike_peer_config w_tunnel(int me, const struct w_world *w, const char *esp)
{
	struct ike_peer_config c;
	const char *names[2] = {"site-a", "site-b"};
	const char *nets[2] = {"10.1.0.0/16", "10.2.0.0/16"};

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "to-%s", names[1 - me]);
	snprintf(c.local_id, sizeof(c.local_id), "%s.example", names[me]);
	snprintf(c.remote_id, sizeof(c.remote_id), "%s.example", names[1 - me]);
	memcpy(c.psk, "correct horse battery staple", 28);
	c.psk_len = 28;
	c.ike = w_prop("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE);
	c.esp = w_prop(esp, PROPOSAL_ESP);
	c.ike_lifetime_s = 86400;
	c.child_lifetime_s = 3600;
	c.local_ts[0] = w_pfx(nets[me]);
	c.n_local_ts = 1;
	c.remote_ts[0] = w_pfx(nets[1 - me]);
	c.n_remote_ts = 1;
	c.local = w->s[me].ep;
	c.remote = w->s[1 - me].ep;
	c.initiate = true;
	return c;
}

/* Side 0 = site-a, side 1 = site-b, each with a tunnel to the other using ESP proposal esp[i]. */
static inline void w_init2(struct w_world *w, const char *esp_a, const char *esp_b)
{
	const char *addrs[2] = {"192.0.2.1", "198.51.100.1"};
	const char *esp[2] = {esp_a, esp_b};

	memset(w, 0, sizeof(*w));
	w->now = 1000000;
	for (int i = 0; i < 2; i++) {
		struct w_side *s = &w->s[i];
		struct ike_env env = {
			.now_ms = w_now,
			.random = w_random,
			.send = w_send,
			.child_up = w_child_up,
			.event = w_event,
			.ctx = s,
			.child_down = w_child_down,
		};
		s->w = w;
		s->idx = i;
		s->ep.port = 500;
		cr_assert_eq(ip_addr_parse(addrs[i], &s->ep.addr), 0);
		cr_assert_eq(ike_engine_new(&env, NULL, &s->eng), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct ike_peer_config c = w_tunnel(i, w, esp[i]);
		cr_assert_eq(ike_engine_add_peer(w->s[i].eng, &c), 0);
	}
}

static inline void w_init(struct w_world *w)
{
	w_init2(w, "aes256gcm16", "aes256gcm16");
}

/* Every index of an engine (ike_index.c) agrees with a walk of eng->sas: run after each step,
 * so every exchange and rekey collision of the two-party suites checks the unlinking paths. */
static inline void w_check_indexes(const struct ike_engine *eng)
{
	size_t n = 0, n_resp = 0, n_listed = 0, holds = 0, held = 0;

	for (const struct ike_ikesa *sa = eng->sas; sa; sa = sa->next) {
		const struct ike_ikesa *x = sa->peer->sas[sa->state];
		n++;
		cr_assert_eq(ike__sa_by_handle(eng, ike__sa_handle(sa)), sa);
		if (!sa->initiator && sa->spi_i != 0) {
			n_resp++;
			cr_assert_not_null(ike__sa_by_peer_spi(eng, sa->spi_i, &sa->remote));
		}
		while (x && x != sa)
			x = x->peer_next;
		cr_assert_not_null(x, "SA not on its tunnel's list for its state");
		if (sa->child_spi_in != 0) {
			cr_assert(ike__child_spi_in_use(eng, sa->child_spi_in));
			holds++;
		}
		if (sa->ccsa.kind != IKE_CCSA_NONE && sa->ccsa.spi_in != 0) {
			cr_assert(ike__child_spi_in_use(eng, sa->ccsa.spi_in));
			holds++;
		}
		for (const struct ike_child *c = sa->children; c; c = c->next) {
			cr_assert(ike__child_spi_in_use(eng, c->spi_in));
			holds++;
		}
	}
	for (const struct ike_peer *p = eng->peers; p; p = p->next)
		for (int st = 0; st < IKE_STATE_COUNT; st++)
			for (const struct ike_ikesa *sa = p->sas[st]; sa; sa = sa->peer_next) {
				cr_assert_eq(sa->peer, p);
				cr_assert_eq((int)sa->state, st);
				n_listed++;
			}
	for (size_t i = 0; i <= eng->child_spis.mask; i++)
		held += eng->child_spis.slot[i].spi ? eng->child_spis.slot[i].holders : 0;
	cr_assert_eq(eng->n_sas, n);
	cr_assert_eq(eng->index[IKE_SA_INDEX_HANDLE].n, n);
	cr_assert_eq(eng->index[IKE_SA_INDEX_PEER_SPI].n, n_resp);
	cr_assert_eq(n_listed, n);
	cr_assert_eq(held, holds, "Child SPI holds %zu, holders %zu", held, holds);
}

/* Free both engines; no forbidden state change may have been attempted. */
static inline void w_free(struct w_world *w)
{
	for (int i = 0; i < 2; i++) {
		w_check_indexes(w->s[i].eng);
		cr_expect_eq(ike_engine_stats(w->s[i].eng)->state_refused, 0, "side %d", i);
		ike_engine_free(w->s[i].eng);
	}
}

/* Queue the next nonce side i draws: 32 octets of `fill`. */
static inline void w_nonce(struct w_world *w, int i, uint8_t fill)
{
	struct w_side *s = &w->s[i];

	cr_assert_lt(s->n_nonce, W_NONCES);
	memset(s->nonce[s->n_nonce++], fill, IKE_NONCE_LEN);
}

static inline void w_take(struct w_world *w, size_t i, struct w_pkt *out)
{
	cr_assert_lt(i, w->nq);
	*out = w->q[i];
	memmove(&w->q[i], &w->q[i + 1], (w->nq - i - 1) * sizeof(w->q[0]));
	w->nq--;
}

static inline void w_input(struct w_world *w, const struct w_pkt *p)
{
	ike_input(w->s[p->dst].eng, p->buf, p->len, &p->from, &p->to);
	w_check_indexes(w->s[p->dst].eng);
}

static inline void w_deliver_one(struct w_world *w)
{
	static struct w_pkt p;

	w_take(w, 0, &p);
	w_input(w, &p);
}

static inline void w_drop_one(struct w_world *w)
{
	static struct w_pkt p;

	w_take(w, 0, &p);
}

static inline size_t w_deliver_all(struct w_world *w)
{
	size_t n = 0;

	while (w->nq > 0) {
		cr_assert_lt(n, 200, "message loop");
		w_deliver_one(w);
		n++;
	}
	return n;
}

static inline void w_tick(struct w_world *w)
{
	for (int i = 0; i < 2; i++) {
		ike_tick(w->s[i].eng);
		w_check_indexes(w->s[i].eng);
	}
}

static inline void w_advance(struct w_world *w, uint64_t ms)
{
	w->now += ms;
	w_tick(w);
}

/* Advance time, delivering everything, until both engines have no timer before `until`. */
static inline void w_run_until(struct w_world *w, uint64_t until)
{
	int stuck = 0;

	for (int guard = 0; guard < 1000; guard++) {
		w_deliver_all(w);
		uint64_t a = ike_next_timer_ms(w->s[0].eng), b = ike_next_timer_ms(w->s[1].eng);
		uint64_t next = a < b ? a : b;
		if (next > until)
			break;
		/* A due timer is fine once; one that stays due after a tick would spin a loop. */
		stuck = next <= w->now ? stuck + 1 : 0;
		cr_assert_lt(stuck, 3, "a timer stays in the past: the event loop would spin");
		w->now = next > w->now ? next : w->now;
		w_tick(w);
	}
	w->now = until > w->now ? until : w->now;
	w_tick(w);
	w_deliver_all(w);
}

/* Establish an IKE SA from side `by`; returns its handle on that side. */
static inline uint64_t w_establish(struct w_world *w, int by)
{
	uint64_t h;

	cr_assert_eq(ike_sa_initiate(w->s[by].eng, by ? "to-site-a" : "to-site-b", &h), 0);
	w_deliver_all(w);
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w->s[by].eng, h, &info), 0);
	cr_assert_eq(info.state, IKE_STATE_ESTABLISHED);
	cr_assert_eq(w->s[0].n_child, 1);
	cr_assert_eq(w->s[1].n_child, 1);
	return h;
}

/* The one IKE SA of a side in a state (asserted unique), or NULL. */
static inline struct ike_ikesa *w_sa_in(const struct w_side *s, enum ike_state st)
{
	struct ike_ikesa *found = NULL;

	for (struct ike_ikesa *sa = s->eng->sas; sa; sa = sa->next) {
		if (sa->state != st)
			continue;
		cr_assert_null(found, "side %d: two SAs in state %s", s->idx, ike_state_name(st));
		found = sa;
	}
	return found;
}

/* The one established IKE SA of a side (asserted to exist). */
static inline struct ike_ikesa *w_est(const struct w_side *s)
{
	struct ike_ikesa *sa = w_sa_in(s, IKE_STATE_ESTABLISHED);

	cr_assert_not_null(sa, "side %d: no established IKE SA", s->idx);
	if (!sa)
		abort();
	return sa;
}

static inline size_t w_count_sas(const struct w_side *s, enum ike_state st)
{
	size_t n = 0;

	for (struct ike_ikesa *sa = s->eng->sas; sa; sa = sa->next)
		n += sa->state == st;
	return n;
}

/* Pairs up (reported, not yet down) on a side. */
static inline size_t w_live(const struct w_side *s)
{
	return s->n_child - s->n_down;
}

/* The one live pair of a side. */
static inline const struct w_child *w_only_live(const struct w_side *s)
{
	const struct w_child *c = NULL;

	for (size_t i = 0; i < s->n_child; i++) {
		if (s->child[i].down)
			continue;
		cr_assert_null(c, "side %d: more than one live Child SA", s->idx);
		c = &s->child[i];
	}
	cr_assert_not_null(c, "side %d: no live Child SA", s->idx);
	return c;
}

/* Two pairs are each other's mirror: SPIs crossed, keys crossed. */
static inline void w_expect_mirror(const struct ike_child_keys *x, const struct ike_child_keys *y)
{
	cr_assert_eq(x->spi_in, y->spi_out);
	cr_assert_eq(x->spi_out, y->spi_in);
	cr_assert_eq(x->keymat_len, y->keymat_len);
	cr_assert_eq(memcmp(x->keymat_out, y->keymat_in, x->keymat_len), 0, "a->b keys differ");
	cr_assert_eq(memcmp(x->keymat_in, y->keymat_out, x->keymat_len), 0, "b->a keys differ");
	cr_assert_neq(memcmp(x->keymat_in, x->keymat_out, x->keymat_len), 0);
}

static inline size_t w_count_events(const struct w_side *s, enum ike_event_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++)
		n += s->ev[i].type == t;
	return n;
}

static inline const struct w_event *w_find_event(const struct w_side *s, enum ike_event_type t)
{
	for (size_t i = 0; i < s->n_ev; i++)
		if (s->ev[i].type == t)
			return &s->ev[i];
	return NULL;
}

#endif
