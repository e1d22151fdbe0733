/*
 * Two IKE engines in one process (edge/ike/ike_sa.h): a fake clock, a deterministic random
 * source per side, and an in-memory network the test controls: deliver, drop, duplicate, delay,
 * rewrite the source (NAT), tamper. Covers the full handshake for each proposal in both
 * directions, retransmission and the response cache, refusals (proposals, PSK, identities,
 * traffic selectors, INVALID_KE, cookies), timeouts, message ID exhaustion, NAT detection and
 * INITIAL_CONTACT.
 *
 * With SDWAN_IKE_CORPUS_DIR set, every datagram sent to a responder is also written there (the
 * seed corpus of tests/fuzz/fuzz_ike_responder.c).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sa.h"

enum {
	MAX_PKTS = 64,
	MAX_EVENTS = 64,
	MAX_CHILD = 4,
	PKT_MAX = 4096,
};

struct pkt {
	uint8_t buf[PKT_MAX];
	size_t len;
	struct ike_endpoint from, to;
	int dst; /* side index */
};

struct rec_event {
	enum ike_event_type type;
	uint64_t sa;
	enum ike_state old_state, new_state;
	uint16_t notify;
	char phase[32];
	char reason[512];
};

struct world;

struct side {
	struct world *w;
	int idx;
	struct ike_engine *eng;
	struct ike_endpoint ep;
	uint8_t seed;
	uint32_t rng_ctr;
	struct ike_child_keys child[MAX_CHILD];
	size_t n_child;
	struct rec_event ev[MAX_EVENTS];
	size_t n_ev;
	size_t sent; /* datagrams this side sent */
	uint64_t sent_at[32];
};

struct world {
	uint64_t now;
	struct side s[3];
	size_t n_sides;
	struct pkt q[MAX_PKTS];
	size_t nq;
	/* NAT: rewrite the source of what side nat_side sends. */
	bool nat;
	int nat_side;
	struct ike_endpoint nat_ep;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct side *)ctx)->w->now;
}

/* Deterministic bytes: a different stream per side. */
static int fake_random(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;

	for (size_t i = 0; i < len; i++) {
		uint32_t x = (s->rng_ctr++ + 1) * 2654435761u ^ (uint32_t)s->seed * 40503u;
		buf[i] = (uint8_t)(x >> 13 ^ x);
	}
	return 0;
}

/* Seed corpus capture (see the top of the file and tests/fuzz/fuzz_ike_responder.c). */
static void corpus_file(uint8_t mode, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	const char *dir = getenv("SDWAN_IKE_CORPUS_DIR");
	static unsigned n;
	char path[512];

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/exchange-%d-%03u.bin", dir, getpid(), n++);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fputc(mode, f);
	fwrite(a, 1, alen, f);
	if (blen)
		fwrite(b, 1, blen, f);
	fclose(f);
}

/* Mode 1/3 seeds: the decrypted content of an IKE_AUTH message, with its first payload type. */
static void corpus_inner(struct world *w, const struct pkt *p)
{
	static struct ike_msg m;
	static uint8_t pt[PKT_MAX];
	size_t pt_len;

	if (!getenv("SDWAN_IKE_CORPUS_DIR") || ike_msg_parse(p->buf, p->len, &m) != IKE_PARSE_OK ||
	    m.hdr.exchange != IKE_EXCH_IKE_AUTH || !m.pls.encrypted)
		return;
	const struct ike_payload *sk = &m.pls.pl[m.pls.n - 1];
	for (const struct ike_ikesa *sa = w->s[p->dst].eng->sas; sa; sa = sa->next) {
		if (!sa->keyed || sa->spi_i != m.hdr.spi_i ||
		    ike_sk_decrypt(&sa->sk_in, p->buf, p->len, (size_t)(sk->body - p->buf), sk->len,
				   pt, sizeof(pt), &pt_len) != IKE_SK_OK)
			continue;
		uint8_t first = sk->next;
		corpus_file((m.hdr.flags & IKE_FLAG_RESPONSE) ? 3 : 1, &first, 1, pt, pt_len);
		return;
	}
}

static void corpus_write(const struct pkt *p)
{
	corpus_file(0, p->buf, p->len, NULL, 0);
}

static int fake_send(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		     const uint8_t *msg, size_t len)
{
	struct side *s = ctx;
	struct world *w = s->w;
	int dst = -1;

	/* By address only: after a NAT-T float the port is 4500 (test_ike_natt.c covers that). */
	for (size_t i = 0; i < w->n_sides; i++)
		if (ip_addr_cmp(&w->s[i].ep.addr, &remote->addr) == 0)
			dst = (int)i;
	if (w->nat && w->nat_side != s->idx && ip_addr_cmp(&remote->addr, &w->nat_ep.addr) == 0)
		dst = w->nat_side; /* back through the NAT */
	cr_assert_geq(dst, 0, "send to an unknown endpoint");
	cr_assert_lt(w->nq, MAX_PKTS);
	cr_assert_leq(len, PKT_MAX);
	struct pkt *p = &w->q[w->nq++];
	memcpy(p->buf, msg, len);
	p->len = len;
	p->from = *local;
	p->to = *remote;
	p->dst = dst;
	if (w->nat && s->idx == w->nat_side)
		p->from = w->nat_ep;
	if (w->nat && dst == w->nat_side)
		p->to = w->s[dst].ep;
	if (s->sent < 32)
		s->sent_at[s->sent] = w->now;
	s->sent++;
	if (dst == 1)
		corpus_write(p);
	corpus_inner(w, p);
	return 0;
}

static void fake_child_up(void *ctx, const struct ike_child_keys *k)
{
	struct side *s = ctx;

	cr_assert_lt(s->n_child, MAX_CHILD);
	s->child[s->n_child++] = *k;
}

static void fake_event(void *ctx, const struct ike_event *ev)
{
	struct side *s = ctx;

	cr_assert_lt(s->n_ev, MAX_EVENTS);
	struct rec_event *r = &s->ev[s->n_ev++];
	r->type = ev->type;
	r->sa = ev->sa;
	r->old_state = ev->old_state;
	r->new_state = ev->new_state;
	r->notify = ev->notify;
	snprintf(r->phase, sizeof(r->phase), "%s", ev->phase);
	snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
}

static struct ike_endpoint endpoint(const char *addr, uint16_t port)
{
	struct ike_endpoint ep = {.port = port};

	cr_assert_eq(ip_addr_parse(addr, &ep.addr), 0);
	return ep;
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

/* A tunnel between site `me` and site `them` (names "site-a" etc.). */
static struct ike_peer_config tunnel(const char *me, const char *them, const char *my_net,
				     const char *their_net, const struct ike_endpoint *local,
				     const struct ike_endpoint *remote)
{
	struct ike_peer_config c;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "to-%s", them);
	snprintf(c.local_id, sizeof(c.local_id), "%s.example", me);
	snprintf(c.remote_id, sizeof(c.remote_id), "%s.example", them);
	memcpy(c.psk, "correct horse battery staple", 28);
	c.psk_len = 28;
	c.ike = prop("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE);
	c.esp = prop("aes256gcm16", PROPOSAL_ESP);
	c.ike_lifetime_s = 86400;
	c.child_lifetime_s = 3600;
	c.local_ts[0] = pfx(my_net);
	c.n_local_ts = 1;
	c.remote_ts[0] = pfx(their_net);
	c.n_remote_ts = 1;
	c.local = *local;
	c.remote = *remote;
	c.initiate = true;
	return c;
}

static void side_init(struct world *w, int i, const char *addr, const struct ike_engine_config *ec)
{
	struct side *s = &w->s[i];
	struct ike_env env = {
		.now_ms = fake_now,
		.random = fake_random,
		.send = fake_send,
		.child_up = fake_child_up,
		.event = fake_event,
		.ctx = s,
	};

	s->w = w;
	s->idx = i;
	s->seed = (uint8_t)(17 + i * 101);
	s->ep = endpoint(addr, 500);
	cr_assert_eq(ike_engine_new(&env, ec, &s->eng), 0);
}

/* Side 0 = site-a (10.1.0.0/16), side 1 = site-b (10.2.0.0/16), each with a tunnel to the other. */
static void world_init(struct world *w, const struct ike_engine_config *ec)
{
	memset(w, 0, sizeof(*w));
	w->now = 1000000;
	w->n_sides = 2;
	side_init(w, 0, "192.0.2.1", ec);
	side_init(w, 1, "198.51.100.1", ec);
	struct ike_peer_config a =
		tunnel("site-a", "site-b", "10.1.0.0/16", "10.2.0.0/16", &w->s[0].ep, &w->s[1].ep);
	struct ike_peer_config b =
		tunnel("site-b", "site-a", "10.2.0.0/16", "10.1.0.0/16", &w->s[1].ep, &w->s[0].ep);
	cr_assert_eq(ike_engine_add_peer(w->s[0].eng, &a), 0);
	cr_assert_eq(ike_engine_add_peer(w->s[1].eng, &b), 0);
}

static void world_add_peer(struct world *w, int i, const struct ike_peer_config *c)
{
	cr_assert_eq(ike_engine_add_peer(w->s[i].eng, c), 0);
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n_sides; i++)
		ike_engine_free(w->s[i].eng);
}

/* Remove and return the head of the queue into *out. */
static void take(struct world *w, size_t i, struct pkt *out)
{
	cr_assert_lt(i, w->nq);
	*out = w->q[i];
	memmove(&w->q[i], &w->q[i + 1], (w->nq - i - 1) * sizeof(w->q[0]));
	w->nq--;
}

static void input(struct world *w, const struct pkt *p)
{
	ike_input(w->s[p->dst].eng, p->buf, p->len, &p->from, &p->to);
}

static void deliver_one(struct world *w)
{
	static struct pkt p;

	take(w, 0, &p);
	input(w, &p);
}

static void drop_one(struct world *w)
{
	static struct pkt p;

	take(w, 0, &p);
}

static void drop_one_at(struct world *w, size_t i)
{
	static struct pkt p;

	take(w, i, &p);
}

static size_t deliver_all(struct world *w)
{
	size_t n = 0;

	while (w->nq > 0) {
		cr_assert_lt(n, 100, "message loop");
		deliver_one(w);
		n++;
	}
	return n;
}

static void advance(struct world *w, uint64_t ms)
{
	w->now += ms;
	for (size_t i = 0; i < w->n_sides; i++)
		ike_tick(w->s[i].eng);
}

static const struct rec_event *find_event(const struct side *s, enum ike_event_type type)
{
	for (size_t i = 0; i < s->n_ev; i++)
		if (s->ev[i].type == type)
			return &s->ev[i];
	return NULL;
}

static size_t count_events(const struct side *s, enum ike_event_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++)
		n += s->ev[i].type == type;
	return n;
}

static enum ike_state only_state(const struct side *s)
{
	struct ike_sa_info info;

	cr_assert_eq(ike_engine_sa_count(s->eng), 1);
	cr_assert_eq(ike_engine_sa_at(s->eng, 0, &info), 0);
	return info.state;
}

static struct ike_ikesa *only_sa(const struct side *s)
{
	cr_assert_eq(ike_engine_sa_count(s->eng), 1);
	return s->eng->sas;
}

static const struct ike_stats *stats(const struct side *s)
{
	return ike_engine_stats(s->eng);
}

/* The Child SA each side received is the mirror of the other's. */
static void expect_children_match(const struct side *a, const struct side *b)
{
	cr_assert_eq(a->n_child, 1, "side %d: %zu children", a->idx, a->n_child);
	cr_assert_eq(b->n_child, 1, "side %d: %zu children", b->idx, b->n_child);
	const struct ike_child_keys *x = &a->child[0], *y = &b->child[0];
	cr_assert_eq(x->cipher, y->cipher);
	cr_assert_eq(x->esn, y->esn);
	cr_assert_eq(x->keymat_len, esp_cipher_keymat_len(x->cipher));
	cr_assert_eq(x->keymat_len, y->keymat_len);
	cr_assert_eq(memcmp(x->keymat_out, y->keymat_in, x->keymat_len), 0, "a->b keys differ");
	cr_assert_eq(memcmp(x->keymat_in, y->keymat_out, x->keymat_len), 0, "b->a keys differ");
	cr_assert_neq(memcmp(x->keymat_in, x->keymat_out, x->keymat_len), 0,
		      "both directions have the same key");
	cr_assert_eq(x->spi_out, y->spi_in);
	cr_assert_eq(x->spi_in, y->spi_out);
	cr_assert_geq(x->spi_in, 256);
	cr_assert_geq(y->spi_in, 256);
	cr_assert_neq(x->spi_in, x->spi_out);
	cr_assert_eq(x->local_ts.n, y->remote_ts.n);
	cr_assert_eq(memcmp(&x->local_ts.ts[0], &y->remote_ts.ts[0], sizeof(struct ike_ts)), 0);
	cr_assert_eq(memcmp(&x->remote_ts.ts[0], &y->local_ts.ts[0], sizeof(struct ike_ts)), 0);
	cr_assert_eq(x->lifetime_s, 3600);
}

static void set_proposals(struct world *w, int i, const char *ike, const char *esp)
{
	struct ike_peer *p = w->s[i].eng->peers;

	p->cfg.ike = prop(ike, PROPOSAL_IKE);
	p->cfg.esp = prop(esp, PROPOSAL_ESP);
}

/* Capture the log into a buffer for this test. */
static char *log_buf;
static size_t log_len;
static FILE *log_f;

static void log_capture(void)
{
	log_f = open_memstream(&log_buf, &log_len);
	cr_assert_not_null(log_f);
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, log_f);
}

static bool log_has(const char *needle)
{
	fflush(log_f);
	return log_buf && strstr(log_buf, needle) != NULL;
}

/* ---- full handshakes ---- */

struct combo {
	char ike[48];
	char esp[32];
	int initiator; /* side that starts */
};

static struct combo combos[] = {
	{"aes256gcm16-prfsha384-x25519", "aes256gcm16", 0},
	{"aes128gcm16-prfsha256-x25519", "aes128gcm16", 0},
	{"chacha20poly1305-prfsha256-x25519", "chacha20poly1305", 0},
	{"aes256gcm16-prfsha384-ecp384", "aes256gcm16-noesn", 0},
	{"aes256gcm16-prfsha384-x25519", "aes256gcm16", 1},
	{"aes128gcm16-prfsha256-x25519", "aes128gcm16-noesn", 1},
	{"chacha20poly1305-prfsha256-x25519", "chacha20poly1305", 1},
	{"aes256gcm16-prfsha384-ecp384", "aes256gcm16", 1},
};

ParameterizedTestParameters(ike_exchange, handshake)
{
	return cr_make_param_array(struct combo, combos, sizeof(combos) / sizeof(combos[0]));
}

ParameterizedTest(struct combo *c, ike_exchange, handshake)
{
	struct world w;
	uint64_t h;
	int i = c->initiator, r = 1 - i;

	world_init(&w, NULL);
	set_proposals(&w, 0, c->ike, c->esp);
	set_proposals(&w, 1, c->ike, c->esp);
	cr_assert_eq(ike_sa_initiate(w.s[i].eng, i ? "to-site-a" : "to-site-b", &h), 0);
	cr_assert_eq(deliver_all(&w), 4, "IKE_SA_INIT and IKE_AUTH: four messages");
	cr_assert_eq(only_state(&w.s[i]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[r]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[i], &w.s[r]);
	const struct ike_child_keys *k = &w.s[i].child[0];
	struct proposal esp = prop(c->esp, PROPOSAL_ESP);
	cr_expect_eq(k->cipher, ike__esp_cipher(esp.encr));
	cr_expect_eq(k->esn, esp.esn);
	cr_expect_eq(k->sa, h);
	cr_expect_str_eq(w.s[r].child[0].peer, i ? "to-site-b" : "to-site-a");
	/* Our side's selectors are our prefix. */
	char buf[128];
	cr_expect_str_eq(ike__ts_format(&w.s[0].child[0].local_ts, buf, sizeof(buf)),
			 "10.1.0.0/16");
	cr_expect_str_eq(ike__ts_format(&w.s[0].child[0].remote_ts, buf, sizeof(buf)),
			 "10.2.0.0/16");
	for (int s = 0; s < 2; s++) {
		cr_expect_eq(count_events(&w.s[s], IKE_EVENT_ESTABLISHED), 1);
		cr_expect_eq(count_events(&w.s[s], IKE_EVENT_FAILED), 0);
		cr_expect_eq(stats(&w.s[s])->state_refused, 0);
		cr_expect_eq(stats(&w.s[s])->retransmits, 0);
		cr_expect_eq(stats(&w.s[s])->children_up, 1);
	}
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w.s[i].eng, h, &info), 0);
	cr_expect(info.initiator);
	cr_expect_eq(info.msgid_next, 2);
	cr_expect(info.peer_fragmentation);
	cr_expect(!info.nat_local && !info.nat_remote);
	cr_assert_eq(ike_engine_sa_at(w.s[r].eng, 0, &info), 0);
	cr_expect(!info.initiator);
	cr_expect_eq(info.msgid_peer_next, 2);
	world_free(&w);
}

static void expect_states(const struct side *s, const enum ike_state *want, size_t n_want)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++) {
		if (s->ev[i].type != IKE_EVENT_STATE)
			continue;
		cr_assert_lt(n, n_want, "side %d: more state changes than expected", s->idx);
		cr_assert_eq(s->ev[i].new_state, want[n], "side %d, change %zu", s->idx, n);
		n++;
	}
	cr_assert_eq(n, n_want);
}

/* The state sequence each side goes through, as reported by events. */
Test(ike_exchange, state_sequence_is_logged_and_reported)
{
	struct world w;

	log_capture();
	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	enum ike_state want_i[] = {IKE_STATE_INIT_SENT, IKE_STATE_AUTH_SENT, IKE_STATE_ESTABLISHED};
	enum ike_state want_r[] = {IKE_STATE_INIT_REPLIED, IKE_STATE_ESTABLISHED};
	expect_states(&w.s[0], want_i, 3);
	expect_states(&w.s[1], want_r, 2);
	cr_expect(log_has("state=\"init_sent -> auth_sent (IKE_SA_INIT done, IKE_AUTH request "
			  "sent)\""));
	cr_expect(log_has("state=\"init_replied -> established (IKE_AUTH done"));
	cr_expect_eq(stats(&w.s[0])->state_enter[IKE_STATE_ESTABLISHED], 1);
	world_free(&w);
}

/* ---- loss, duplication, reordering ---- */

Test(ike_exchange, lost_init_request_is_retransmitted)
{
	struct world w;
	struct pkt first;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	take(&w, 0, &first);
	advance(&w, 499);
	cr_assert_eq(w.nq, 0, "retransmitted too early");
	advance(&w, 1);
	cr_assert_eq(w.nq, 1);
	cr_assert_eq(w.q[0].len, first.len);
	cr_assert_eq(memcmp(w.q[0].buf, first.buf, first.len), 0, "retransmission differs");
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	cr_expect_eq(stats(&w.s[0])->retransmits, 1);
	expect_children_match(&w.s[0], &w.s[1]);
	world_free(&w);
}

Test(ike_exchange, lost_init_response_is_answered_from_cache)
{
	struct world w;
	struct pkt resp1, resp2;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	take(&w, 0, &resp1); /* the IKE_SA_INIT response is lost */
	advance(&w, 500);
	deliver_one(&w); /* the retransmitted request */
	cr_assert_eq(w.nq, 1);
	take(&w, 0, &resp2);
	cr_assert_eq(resp1.len, resp2.len);
	cr_assert_eq(memcmp(resp1.buf, resp2.buf, resp1.len), 0, "cached response differs");
	cr_expect_eq(stats(&w.s[1])->cached_responses, 1);
	cr_expect_eq(stats(&w.s[1])->sas_created, 1);
	input(&w, &resp2);
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[0], &w.s[1]);
	world_free(&w);
}

Test(ike_exchange, lost_auth_response_is_answered_from_cache)
{
	struct world w;
	struct pkt resp1, resp2;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	deliver_one(&w); /* IKE_AUTH request: the responder is established */
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	take(&w, 0, &resp1);
	advance(&w, 500);
	cr_assert_eq(w.nq, 1, "IKE_AUTH retransmitted");
	deliver_one(&w);
	take(&w, 0, &resp2);
	cr_assert_eq(resp1.len, resp2.len);
	cr_assert_eq(memcmp(resp1.buf, resp2.buf, resp1.len), 0, "cached response differs");
	cr_expect_eq(stats(&w.s[1])->cached_responses, 1);
	cr_expect_eq(w.s[1].n_child, 1, "the retransmission created a second child");
	input(&w, &resp2);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[0], &w.s[1]);
	world_free(&w);
}

Test(ike_exchange, duplicated_requests_are_handled_once)
{
	struct world w;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	/* Each request arrives twice: the second copy is answered from the cache. */
	for (int round = 0; round < 2; round++) {
		struct pkt req;
		take(&w, 0, &req);
		input(&w, &req);
		input(&w, &req);
		cr_assert_eq(w.nq, 2);
		cr_assert_eq(memcmp(w.q[0].buf, w.q[1].buf, w.q[0].len), 0);
		deliver_one(&w);
		deliver_one(&w); /* the duplicate response: unexpected, dropped */
	}
	cr_assert_eq(w.nq, 0);
	cr_expect_eq(stats(&w.s[1])->sas_created, 1);
	cr_expect_eq(stats(&w.s[1])->cached_responses, 2);
	cr_expect_eq(stats(&w.s[0])->drops[IKE_DROP_UNEXPECTED], 2);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[0], &w.s[1]);
	world_free(&w);
}

/* A response delayed past its retransmission arrives after the answer to the retransmission:
 * the late copy is dropped as unexpected, the exchange completes once. */
Test(ike_exchange, delayed_response_after_retransmission)
{
	struct world w;
	struct pkt late;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	take(&w, 0, &late); /* held back */
	advance(&w, 500);
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	input(&w, &late);
	cr_expect_eq(stats(&w.s[0])->drops[IKE_DROP_UNEXPECTED], 1);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	cr_expect_eq(w.s[0].n_child, 1);
	world_free(&w);
}

/* A replayed old response, after the exchange, is counted and ignored. */
Test(ike_exchange, response_without_request_is_dropped)
{
	struct world w;
	struct pkt auth_resp;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	deliver_one(&w);
	take(&w, 0, &auth_resp);
	input(&w, &auth_resp);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	input(&w, &auth_resp);
	input(&w, &auth_resp);
	cr_expect_eq(stats(&w.s[0])->drops[IKE_DROP_UNEXPECTED], 2);
	cr_expect_eq(w.s[0].n_child, 1);
	/* A response the SA cannot place (unknown SPIs) is counted as such. */
	auth_resp.buf[0] ^= 0xff;
	input(&w, &auth_resp);
	cr_expect_eq(stats(&w.s[0])->drops[IKE_DROP_NO_SA], 1);
	world_free(&w);
}

/* A forged IKE_AUTH request (one bit flipped) fails decryption and changes nothing; the genuine
 * one still works. */
Test(ike_exchange, tampered_auth_request_is_dropped)
{
	struct world w;
	struct pkt req;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	take(&w, 0, &req);
	req.buf[req.len - 20] ^= 0x04;
	input(&w, &req);
	cr_assert_eq(w.nq, 0);
	cr_expect_eq(stats(&w.s[1])->drops[IKE_DROP_DECRYPT], 1);
	cr_expect_eq(stats(&w.s[1])->sk[IKE_SK_AUTH], 1);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_INIT_REPLIED);
	advance(&w, 500); /* the initiator retransmits the genuine request */
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[0], &w.s[1]);
	world_free(&w);
}

/* ---- timeouts ---- */

Test(ike_exchange, timeout_after_retry_budget)
{
	struct world w;
	struct ike_engine_config ec = {.retransmit_base_ms = 500, .retransmit_tries = 5};

	world_init(&w, &ec);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	for (int i = 0; i < 200 && ike_engine_sa_count(w.s[0].eng) > 0; i++) {
		while (w.nq)
			drop_one(&w);
		cr_assert_eq(ike_next_timer_ms(w.s[1].eng), UINT64_MAX);
		uint64_t next = ike_next_timer_ms(w.s[0].eng);
		cr_assert_neq(next, UINT64_MAX);
		advance(&w, next - w.now);
	}
	cr_assert_eq(w.s[0].sent, 6, "one transmission and five retransmissions");
	/* 0.5 s, doubling. */
	uint64_t want[] = {0, 500, 1500, 3500, 7500, 15500};
	for (int i = 0; i < 6; i++)
		cr_expect_eq(w.s[0].sent_at[i] - w.s[0].sent_at[0], want[i], "send %d", i);
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect_str_eq(f->phase, "IKE_SA_INIT");
	cr_expect(strstr(f->reason, "no response to IKE_SA_INIT from 198.51.100.1:500 after 6 "
				    "transmissions") != NULL,
		  "%s", f->reason);
	cr_expect_eq(stats(&w.s[0])->retransmits, 5);
	cr_expect_eq(ike_engine_sa_count(w.s[0].eng), 0, "failed SA reaped");
	world_free(&w);
}

Test(ike_exchange, auth_timeout_names_the_phase)
{
	struct world w;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	for (int i = 0; i < 10; i++) {
		while (w.nq)
			drop_one(&w);
		advance(&w, 16000);
	}
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect_str_eq(f->phase, "IKE_AUTH");
	/* The responder gave up on its half-open SA too. */
	f = find_event(&w.s[1], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect(strstr(f->reason, "half-open") != NULL, "%s", f->reason);
	cr_expect_eq(stats(&w.s[1])->state_enter[IKE_STATE_FAILED], 1);
	world_free(&w);
}

Test(ike_exchange, liveness_check_and_its_timeout)
{
	struct world w;
	uint64_t h;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", &h), 0);
	deliver_all(&w);
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, h), 0);
	cr_expect_eq(ike_sa_liveness_check(w.s[0].eng, h), -EAGAIN, "window is 1");
	cr_assert_eq(deliver_all(&w), 2);
	cr_expect_eq(stats(&w.s[0])->drops[IKE_DROP_UNEXPECTED], 0);
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, h), 0);
	for (int i = 0; i < 10; i++) {
		while (w.nq)
			drop_one(&w);
		advance(&w, 16000);
	}
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect_str_eq(f->phase, "INFORMATIONAL");
	cr_expect_eq(ike_sa_liveness_check(w.s[0].eng, h), -ENOENT);
	world_free(&w);
}

/* §2.2: message IDs never wrap. The white-box test moves both counters near the end. */
Test(ike_exchange, message_ids_refuse_to_wrap)
{
	struct world w;
	uint64_t h;
	struct pkt req;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", &h), 0);
	deliver_all(&w);
	only_sa(&w.s[0])->msgid_next = 0xfffffffe;
	only_sa(&w.s[1])->msgid_peer_next = 0xfffffffe;
	/* Hold back the automatic IKE SA rekey this would queue (test_ike_child.c covers it), to
	 * see the last message IDs used and the wrap refused. */
	only_sa(&w.s[0])->retry_at = UINT64_MAX;
	only_sa(&w.s[1])->retry_at = UINT64_MAX;
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, h), 0);
	cr_assert_eq(deliver_all(&w), 2);
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, h), 0);
	take(&w, 0, &req);
	cr_assert_eq(req.buf[20], 0xff);
	cr_assert_eq(req.buf[23], 0xff, "message ID 0xffffffff");
	input(&w, &req);
	cr_assert_eq(deliver_all(&w), 1);
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w.s[0].eng, h, &info), 0);
	cr_expect_eq(info.msgid_next, UINT64_C(1) << 32);
	cr_expect_eq(ike_sa_liveness_check(w.s[0].eng, h), -ERANGE);
	cr_assert_eq(w.nq, 0, "nothing sent with a wrapped message ID");
	const struct rec_event *e = find_event(&w.s[0], IKE_EVENT_REKEY_NEEDED);
	cr_assert_not_null(e);
	cr_expect(strstr(e->reason, "rekeyed") != NULL);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	/* The responder accepts nothing after 0xffffffff: a request with ID 0 is out of window,
	 * and the last one is still answered from the cache. */
	struct pkt wrapped = req;
	memset(wrapped.buf + 20, 0, 4);
	input(&w, &wrapped);
	cr_expect_eq(stats(&w.s[1])->drops[IKE_DROP_MSGID], 1);
	input(&w, &req);
	cr_expect_eq(stats(&w.s[1])->cached_responses, 1);
	world_free(&w);
}

/* ---- refusals ---- */

Test(ike_exchange, ike_proposal_mismatch_names_the_parameter)
{
	struct world w;

	log_capture();
	world_init(&w, NULL);
	set_proposals(&w, 1, "aes256gcm16-prfsha384-ecp256", "aes256gcm16");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	cr_expect_eq(stats(&w.s[1])->no_proposal_sent, 1);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 0, "responder kept state");
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_REJECTED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	cr_expect_str_eq(r->reason, "peer offered only x25519 for IKE key exchange; we require "
				    "ecp256");
	cr_expect(log_has("peer offered only x25519 for IKE key exchange; we require ecp256"));
	cr_expect(log_has("notify=NO_PROPOSAL_CHOSEN"));
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect_eq(f->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	cr_expect(strstr(f->reason, "aes256gcm16-prfsha384-x25519") != NULL, "%s", f->reason);
	cr_expect(log_has("init_sent -> failed (responder accepted none of our IKE proposal"));
	world_free(&w);
}

Test(ike_exchange, ike_cipher_and_prf_mismatch_named_together)
{
	struct world w;

	world_init(&w, NULL);
	set_proposals(&w, 1, "aes128gcm16-prfsha256-x25519", "aes256gcm16");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_REJECTED);
	cr_assert_not_null(r);
	cr_expect_str_eq(r->reason, "peer offered only aes256gcm16 for IKE encryption; we require "
				    "aes128gcm16; peer offered only prfsha384 for IKE PRF; we "
				    "require prfsha256");
	world_free(&w);
}

Test(ike_exchange, esp_proposal_mismatch_fails_only_the_child)
{
	struct world w;

	world_init(&w, NULL);
	set_proposals(&w, 1, "aes256gcm16-prfsha384-x25519", "aes256gcm16-noesn");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	cr_expect_eq(w.s[0].n_child + w.s[1].n_child, 0);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	cr_expect_str_eq(r->reason, "peer offered only esn for ESP extended sequence numbers; we "
				    "require noesn");
	r = find_event(&w.s[0], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	world_free(&w);
}

Test(ike_exchange, wrong_psk_fails_both_sides)
{
	struct world w;

	log_capture();
	world_init(&w, NULL);
	w.s[1].eng->peers->cfg.psk[0] ^= 1;
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect_str_eq(r->phase, "IKE_AUTH");
	cr_expect(strstr(r->reason, "did not verify with our pre-shared key") != NULL, "%s",
		  r->reason);
	const struct rec_event *i = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(i);
	cr_expect_eq(i->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(i->reason, "AUTHENTICATION_FAILED") != NULL, "%s", i->reason);
	cr_expect_eq(w.s[0].n_child + w.s[1].n_child, 0);
	cr_expect_eq(count_events(&w.s[0], IKE_EVENT_ESTABLISHED), 0);
	cr_expect(!log_has("correct horse"), "the PSK was logged");
	/* The initiator's SA goes at once; the responder's lingers, then goes. */
	advance(&w, 1);
	cr_expect_eq(ike_engine_sa_count(w.s[0].eng), 0);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 1);
	advance(&w, 30000);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 0);
	world_free(&w);
}

/* The responder's failure answer is cached like any other. */
Test(ike_exchange, auth_failure_answer_is_retransmitted_from_cache)
{
	struct world w;
	struct pkt lost;

	world_init(&w, NULL);
	w.s[1].eng->peers->cfg.psk[3] ^= 1;
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	deliver_one(&w);
	take(&w, 0, &lost);
	advance(&w, 500);
	deliver_all(&w);
	cr_expect_eq(stats(&w.s[1])->cached_responses, 1);
	const struct rec_event *i = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(i);
	cr_expect_eq(i->notify, IKE_N_AUTHENTICATION_FAILED);
	world_free(&w);
}

Test(ike_exchange, wrong_identity_names_expected_and_got)
{
	struct world w;

	log_capture();
	world_init(&w, NULL);
	snprintf(w.s[1].eng->peers->cfg.remote_id, IKE_ID_MAX, "site-x.example");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect_str_eq(r->reason, "peer identity mismatch: expected fqdn:site-x.example, got "
				    "fqdn:site-a.example");
	cr_expect(log_has("expected fqdn:site-x.example, got fqdn:site-a.example"));
	cr_assert_not_null(find_event(&w.s[0], IKE_EVENT_FAILED));
	world_free(&w);
}

Test(ike_exchange, initiator_asking_for_another_responder_identity)
{
	struct world w;

	world_init(&w, NULL);
	snprintf(w.s[0].eng->peers->cfg.remote_id, IKE_ID_MAX, "hub-9.example");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_FAILED);
	cr_assert_not_null(r);
	cr_expect_str_eq(r->reason, "initiator asked for identity fqdn:hub-9.example; we are "
				    "fqdn:site-b.example");
	world_free(&w);
}

/* An identity with control characters and quotes is escaped before it reaches a log line.
 * (ike_engine_add_peer refuses such IDs in our own configuration; the test writes one into the
 * initiator's copy to play a hostile peer.) */
Test(ike_exchange, hostile_identity_is_escaped)
{
	struct world w;

	log_capture();
	world_init(&w, NULL);
	snprintf(w.s[0].eng->peers->cfg.local_id, IKE_ID_MAX, "evil\"\n x=1");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_FAILED);
	cr_assert_not_null(r);
	cr_expect(strstr(r->reason, "got fqdn:evil\\x22\\x0a x=1") != NULL, "%s", r->reason);
	cr_expect(log_has("got fqdn:evil\\x22\\x0a x=1"));
	cr_expect(!log_has("got fqdn:evil\""));
	world_free(&w);
}

/* A responder with several tunnels on "any address" picks the one the initiator's identity
 * names, with that tunnel's PSK and selectors. */
Test(ike_exchange, responder_selects_tunnel_by_identity)
{
	struct world w;

	world_init(&w, NULL);
	w.n_sides = 3;
	side_init(&w, 2, "203.0.113.3", NULL);
	struct ike_endpoint any = {.port = 0};
	struct ike_peer_config b2 =
		tunnel("site-b", "site-c", "10.2.0.0/16", "10.3.0.0/16", &w.s[1].ep, &any);
	memcpy(b2.psk, "another secret", 14);
	b2.psk_len = 14;
	b2.initiate = false;
	world_add_peer(&w, 1, &b2);
	struct ike_peer_config c =
		tunnel("site-c", "site-b", "10.3.0.0/16", "10.2.0.0/16", &w.s[2].ep, &w.s[1].ep);
	memcpy(c.psk, "another secret", 14);
	c.psk_len = 14;
	world_add_peer(&w, 2, &c);
	/* Site-b's first tunnel (to site-a) accepts any address too. */
	w.s[1].eng->peers->cfg.remote = any;
	cr_assert_eq(ike_sa_initiate(w.s[2].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[2]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[2], &w.s[1]);
	cr_expect_str_eq(w.s[1].child[0].peer, "to-site-c");
	world_free(&w);
}

/* ---- traffic selectors ---- */

Test(ike_exchange, responder_narrows_selectors)
{
	struct world w;
	char buf[128];

	world_init(&w, NULL);
	w.s[1].eng->peers->cfg.remote_ts[0] = pfx("10.1.5.0/24");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	expect_children_match(&w.s[0], &w.s[1]);
	cr_expect_str_eq(ike__ts_format(&w.s[0].child[0].local_ts, buf, sizeof(buf)),
			 "10.1.5.0/24");
	cr_expect_str_eq(ike__ts_format(&w.s[1].child[0].remote_ts, buf, sizeof(buf)),
			 "10.1.5.0/24");
	world_free(&w);
}

Test(ike_exchange, disjoint_selectors_ts_unacceptable)
{
	struct world w;

	world_init(&w, NULL);
	w.s[1].eng->peers->cfg.remote_ts[0] = pfx("172.16.0.0/12");
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_TS_UNACCEPTABLE);
	cr_expect_str_eq(r->reason, "peer proposed TSi=10.1.0.0/16 TSr=10.2.0.0/16; our "
				    "configuration allows remote 172.16.0.0/12 and local "
				    "10.2.0.0/16, and they do not overlap");
	r = find_event(&w.s[0], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(r);
	cr_expect_eq(r->notify, IKE_N_TS_UNACCEPTABLE);
	cr_expect_eq(w.s[0].n_child + w.s[1].n_child, 0);
	world_free(&w);
}

/* ---- INVALID_KE_PAYLOAD ---- */

/* An IKE_SA_INIT request offering x25519 and ecp256 in one proposal, with its KE for ecp256. */
static size_t build_two_group_request(uint8_t *buf, size_t cap)
{
	struct wr w = wr_init(buf, cap);
	struct ike_build b;
	static struct ike_sa offer;
	uint8_t ke[64], nonce[32];
	size_t len;

	memset(ke, 0x42, sizeof(ke));
	memset(nonce, 0x17, sizeof(nonce));
	memset(&offer, 0, sizeof(offer));
	cr_assert_eq(ike_sa_add_proposal(&offer, IKE_PROTO_IKE, NULL, 0), 0);
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256), 0);
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0), 0);
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_DH, IKE_DH_ECP_256, 0), 0);
	cr_assert_eq(ike_sa_add_transform(&offer, IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0), 0);
	ike_build_init(&b, &w,
		       &(struct ike_hdr){.spi_i = 0x1122334455667788ull,
					 .exchange = IKE_EXCH_IKE_SA_INIT,
					 .flags = IKE_FLAG_INITIATOR});
	ike_build_sa(&b, &offer);
	ike_build_ke(&b, &(struct ike_ke){IKE_DH_ECP_256, ke, sizeof(ke)});
	ike_build_nonce(&b, &(struct ike_nonce){nonce, sizeof(nonce)});
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	return len;
}

Test(ike_exchange, responder_answers_invalid_ke_with_its_group)
{
	struct world w;
	static struct pkt p;
	static struct ike_msg m;
	struct ike_notify n;

	log_capture();
	world_init(&w, NULL);
	p.len = build_two_group_request(p.buf, sizeof(p.buf));
	p.from = w.s[0].ep;
	p.to = w.s[1].ep;
	p.dst = 1;
	corpus_write(&p);
	input(&w, &p);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(stats(&w.s[1])->invalid_ke_sent, 1);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 0, "INVALID_KE keeps no state");
	cr_assert_eq(ike_msg_parse(w.q[0].buf, w.q[0].len, &m), IKE_PARSE_OK);
	cr_expect_eq(m.hdr.flags, IKE_FLAG_RESPONSE);
	cr_expect_eq(m.hdr.spi_i, 0x1122334455667788ull);
	cr_assert(ike__notify_find(&m.pls, IKE_N_INVALID_KE_PAYLOAD, &n));
	cr_assert_eq(n.len, 2);
	cr_expect_eq(n.data[0] << 8 | n.data[1], IKE_DH_CURVE25519);
	const struct rec_event *r = find_event(&w.s[1], IKE_EVENT_REJECTED);
	cr_assert_not_null(r);
	cr_expect_str_eq(r->reason, "peer sent its KE for ecp256; the chosen proposal requires "
				    "x25519");
	cr_expect(log_has("notify=INVALID_KE_PAYLOAD"));
	world_free(&w);
}

Test(ike_exchange, initiator_fails_on_invalid_ke_naming_both_groups)
{
	struct world w;
	uint8_t buf[128];
	struct wr wr = wr_init(buf, sizeof(buf));
	struct ike_build b;
	uint8_t group[2] = {0, IKE_DH_ECP_256};
	size_t len;
	uint64_t h;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", &h), 0);
	drop_one(&w);
	ike_build_init(&b, &wr,
		       &(struct ike_hdr){.spi_i = h,
					 .exchange = IKE_EXCH_IKE_SA_INIT,
					 .flags = IKE_FLAG_RESPONSE});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_INVALID_KE_PAYLOAD,
						  .data = group,
						  .len = sizeof(group)});
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	ike_input(w.s[0].eng, buf, len, &w.s[1].ep, &w.s[0].ep);
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect_eq(f->notify, IKE_N_INVALID_KE_PAYLOAD);
	cr_expect_str_eq(f->reason, "responder requires ecp256 for IKE key exchange; our proposal "
				    "allows only x25519: configure the same group on both sides");
	cr_expect_eq(w.nq, 0, "no retry with a group our proposal does not allow");
	world_free(&w);
}

/* ---- cookies ---- */

static uint16_t first_payload_notify(const struct pkt *p)
{
	static struct ike_msg m;
	struct ike_notify n;

	cr_assert_eq(ike_msg_parse(p->buf, p->len, &m), IKE_PARSE_OK);
	if (m.pls.n == 0 || m.pls.pl[0].type != IKE_PAYLOAD_NOTIFY)
		return 0;
	cr_assert_eq(ike_notify_parse(m.pls.pl[0].body, m.pls.pl[0].len, &n), IKE_PARSE_OK);
	return n.type;
}

Test(ike_exchange, cookie_round_trip)
{
	struct world w;
	struct ike_engine_config ec = {.half_open_cookie_limit = -1};

	world_init(&w, &ec);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(first_payload_notify(&w.q[0]), IKE_N_COOKIE);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 0, "cookie demand keeps no state");
	deliver_one(&w);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(first_payload_notify(&w.q[0]), IKE_N_COOKIE, "cookie not first");
	deliver_all(&w);
	cr_assert_eq(only_state(&w.s[0]), IKE_STATE_ESTABLISHED);
	cr_assert_eq(only_state(&w.s[1]), IKE_STATE_ESTABLISHED);
	expect_children_match(&w.s[0], &w.s[1]);
	cr_expect_eq(stats(&w.s[1])->cookies_sent, 1);
	cr_expect_eq(stats(&w.s[1])->cookies_accepted, 1);
	world_free(&w);
}

/* The cookie is only demanded once the half-open limit is reached. */
Test(ike_exchange, cookie_demanded_above_half_open_limit)
{
	struct world w;
	struct ike_engine_config ec = {.half_open_cookie_limit = 1};
	struct pkt first, second;

	world_init(&w, &ec);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	take(&w, 0, &first);
	take(&w, 0, &second);
	input(&w, &first);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(first_payload_notify(&w.q[0]), 0, "first SA needs no cookie");
	drop_one(&w); /* keep the responder's SA half-open */
	input(&w, &second);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(first_payload_notify(&w.q[0]), IKE_N_COOKIE);
	cr_expect_eq(stats(&w.s[1])->cookies_sent, 1);
	world_free(&w);
}

/* Cookies prove an address; a hard cap bounds the memory half-open SAs take. */
Test(ike_exchange, half_open_cap_drops_new_requests)
{
	struct world w;
	struct ike_engine_config ec = {.half_open_max = 2};

	world_init(&w, &ec);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	for (int i = 0; i < 3; i++) {
		deliver_one(&w); /* the request */
		if (w.nq > 0 && w.q[w.nq - 1].dst == 0)
			drop_one_at(&w, w.nq - 1); /* its answer: the SA stays half-open */
	}
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 2);
	cr_expect_eq(w.s[1].eng->half_open, 2);
	cr_expect_eq(stats(&w.s[1])->drops[IKE_DROP_BUSY], 1);
	/* Once the half-open SAs time out, there is room again. */
	while (w.nq)
		drop_one(&w);
	advance(&w, 30000);
	cr_expect_eq(w.s[1].eng->half_open, 0);
	world_free(&w);
}

Test(ike_exchange, forged_cookie_is_refused)
{
	struct world w;
	struct ike_engine_config ec = {.half_open_cookie_limit = -1};
	struct pkt retry;

	world_init(&w, &ec);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_one(&w);
	deliver_one(&w);
	take(&w, 0, &retry);
	/* The cookie data starts after the header, generic header and notify header. */
	retry.buf[IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + IKE_NOTIFY_HDR_LEN + 5] ^= 1;
	input(&w, &retry);
	cr_expect_eq(stats(&w.s[1])->cookies_refused, 1);
	cr_expect_eq(ike_engine_sa_count(w.s[1].eng), 0);
	cr_assert_eq(w.nq, 1);
	cr_expect_eq(first_payload_notify(&w.q[0]), IKE_N_COOKIE);
	/* The initiator follows the cookie demand once more, then gives up. */
	deliver_one(&w);
	cr_assert_eq(w.nq, 1);
	struct pkt again;
	take(&w, 0, &again);
	again.buf[IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + IKE_NOTIFY_HDR_LEN + 5] ^= 1;
	input(&w, &again);
	deliver_all(&w);
	const struct rec_event *f = find_event(&w.s[0], IKE_EVENT_FAILED);
	cr_assert_not_null(f);
	cr_expect(strstr(f->reason, "demanded a cookie 3 times") != NULL, "%s", f->reason);
	world_free(&w);
}

/* ---- NAT detection, INITIAL_CONTACT ---- */

Test(ike_exchange, nat_detected_on_both_sides)
{
	struct world w;

	world_init(&w, NULL);
	w.s[1].eng->peers->cfg.remote.addr.family = 0; /* the responder accepts any address */
	w.nat = true;
	w.nat_side = 0;
	w.nat_ep = endpoint("203.0.113.7", 4500);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	struct ike_sa_info a, b;
	cr_assert_eq(ike_engine_sa_at(w.s[0].eng, 0, &a), 0);
	cr_assert_eq(ike_engine_sa_at(w.s[1].eng, 0, &b), 0);
	cr_expect(a.nat_local, "initiator did not see its NAT");
	cr_expect(!a.nat_remote);
	cr_expect(b.nat_remote, "responder did not see the peer's NAT");
	cr_expect(!b.nat_local);
	cr_expect_eq(b.remote.port, 4500);
	cr_assert_eq(a.state, IKE_STATE_ESTABLISHED);
	cr_assert_eq(b.state, IKE_STATE_ESTABLISHED);
	world_free(&w);
}

Test(ike_exchange, initial_contact_replaces_stale_sa)
{
	struct world w;

	world_init(&w, NULL);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	uint64_t old = w.s[1].eng->sas->spi_r;
	/* Site-a restarts: a fresh engine, the same tunnel. */
	struct ike_peer_config a = w.s[0].eng->peers->cfg;
	ike_engine_free(w.s[0].eng);
	side_init(&w, 0, "192.0.2.1", NULL);
	w.s[0].seed = 99;
	world_add_peer(&w, 0, &a);
	cr_assert_eq(ike_sa_initiate(w.s[0].eng, "to-site-b", NULL), 0);
	deliver_all(&w);
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w.s[1].eng, old, &info), 0);
	cr_expect_eq(info.state, IKE_STATE_FAILED);
	bool replaced = false;
	for (size_t i = 0; i < w.s[1].n_ev; i++)
		replaced |= w.s[1].ev[i].type == IKE_EVENT_FAILED && w.s[1].ev[i].sa == old &&
			    strstr(w.s[1].ev[i].reason, "INITIAL_CONTACT") != NULL;
	cr_expect(replaced);
	cr_expect_eq(w.s[1].n_child, 2);
	world_free(&w);
}
