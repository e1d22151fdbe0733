/*
 * A two-party world for IKE engine tests (test_ike_cert.c, test_ike_frag.c, test_ike_natt.c):
 * two engines in one process with a fake clock, a fake wall clock, deterministic random
 * sources, and an in-memory network the test drives: deliver, drop, a path MTU, a NAT in front
 * of a side (with rebinding), and a test PKI (a WAN CA from controller/ca.h, site certificates,
 * and a hand-made root/intermediate pair for chains).
 *
 * Header-only on purpose: each test file is its own executable. Everything is static inline so
 * that files using part of it do not warn.
 */
#ifndef SDWAN_TESTS_UNIT_EDGE_IKE_PAIR_H
#define SDWAN_TESTS_UNIT_EDGE_IKE_PAIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "common/x509id.h"
#include "controller/ca.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_sa.h"

enum {
	W_MAX_PKTS = 512,
	W_PKT_MAX = 16384,
	W_MAX_EVENTS = 64,
	W_NAT_PORT_BASE = 10000, /* NAT: private port p leaves as public port base + p */
};

struct w_pkt {
	uint8_t *buf;
	size_t len;
	struct ike_endpoint from, to;                /* as the receiver sees them */
	struct ike_endpoint sent_local, sent_remote; /* as the sender passed them */
	int dst;
};

struct w_event {
	enum ike_event_type type;
	uint64_t sa;
	uint16_t notify;
	char reason[IKE_CERT_REASON_MAX];
	struct ike_endpoint local, remote;
};

struct w_world;

struct w_side {
	struct w_world *w;
	int idx;
	struct ike_engine *eng;
	struct ike_endpoint ep; /* private address, port 500 */
	uint8_t seed;
	uint32_t rng_ctr;
	struct ike_child_keys child[4];
	size_t n_child;
	struct w_event ev[W_MAX_EVENTS];
	size_t n_ev;
	size_t sent, keepalives;
	bool marker_needed_seen; /* a datagram needing the non-ESP marker was sent */
	/* NAT in front of this side: sources rewritten to nat_addr, port base + port. */
	bool nat;
	struct ip_addr nat_addr;
	uint16_t nat_port_base;
};

struct w_world {
	uint64_t now;
	time_t wall;
	struct w_side s[2];
	struct w_pkt q[W_MAX_PKTS];
	size_t nq;
	size_t mtu; /* 0: no limit; larger datagrams are dropped (counted) */
	size_t mtu_dropped;
	size_t max_len_sent;
};

static inline uint64_t w_now(void *ctx)
{
	return ((struct w_side *)ctx)->w->now;
}

static inline time_t w_wall(void *ctx)
{
	return ((struct w_side *)ctx)->w->wall;
}

static inline int w_random(void *ctx, uint8_t *buf, size_t len)
{
	struct w_side *s = ctx;

	for (size_t i = 0; i < len; i++) {
		uint32_t x = (s->rng_ctr++ + 1) * 2654435761u ^ (uint32_t)s->seed * 40503u;
		buf[i] = (uint8_t)(x >> 13 ^ x);
	}
	return 0;
}

/* Optional seed capture for tests/fuzz (SDWAN_IKE_CORPUS_DIR): mode octet, then the datagram. */
static inline void w_corpus(uint8_t mode, const uint8_t *msg, size_t len)
{
	const char *dir = getenv("SDWAN_IKE_CORPUS_DIR");
	static unsigned n;
	char path[512];

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/world-%d-%03u.bin", dir, (int)getpid(), n++);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fputc(mode, f);
	fwrite(msg, 1, len, f);
	fclose(f);
}

static inline bool w_ep_eq(const struct ike_endpoint *a, const struct ike_endpoint *b)
{
	return ip_addr_cmp(&a->addr, &b->addr) == 0 && a->port == b->port;
}

static inline int w_send(void *ctx, const struct ike_endpoint *local,
			 const struct ike_endpoint *remote, const uint8_t *msg, size_t len)
{
	struct w_side *s = ctx;
	struct w_world *w = s->w;
	int dst = -1;
	struct ike_endpoint to = *remote;

	cr_assert_eq(ip_addr_cmp(&local->addr, &s->ep.addr), 0, "sent from a foreign address");
	if (ike_send_needs_marker(local, remote, msg, len))
		s->marker_needed_seen = true;
	s->sent++;
	if (len == 1 && msg[0] == 0xff) {
		s->keepalives++;
		return 0; /* NAT-keepalives refresh the NAT, nobody processes them */
	}
	for (int i = 0; i < 2; i++) {
		struct w_side *o = &w->s[i];
		if (o == s)
			continue;
		if (o->nat && ip_addr_cmp(&o->nat_addr, &remote->addr) == 0) {
			dst = i;
			to.addr = o->ep.addr;
			to.port = (uint16_t)(remote->port - o->nat_port_base);
		} else if (!o->nat && ip_addr_cmp(&o->ep.addr, &remote->addr) == 0) {
			dst = i;
		}
	}
	cr_assert_geq(dst, 0, "send to an unknown endpoint");
	if (len > w->max_len_sent)
		w->max_len_sent = len;
	if (w->mtu && len > w->mtu) {
		w->mtu_dropped++;
		return 0;
	}
	cr_assert_lt(w->nq, W_MAX_PKTS);
	cr_assert_leq(len, W_PKT_MAX);
	struct w_pkt *p = &w->q[w->nq++];
	p->buf = malloc(len);
	cr_assert_not_null(p->buf);
	memcpy(p->buf, msg, len);
	p->len = len;
	p->from = *local;
	p->to = to;
	p->sent_local = *local;
	p->sent_remote = *remote;
	p->dst = dst;
	if (s->nat) {
		p->from.addr = s->nat_addr;
		p->from.port = (uint16_t)(s->nat_port_base + local->port);
	}
	if (dst == 1)
		w_corpus(0, msg, len);
	return 0;
}

static inline void w_child_up(void *ctx, const struct ike_child_keys *k)
{
	struct w_side *s = ctx;

	cr_assert_lt(s->n_child, 4);
	s->child[s->n_child++] = *k;
}

static inline void w_on_event(void *ctx, const struct ike_event *ev)
{
	struct w_side *s = ctx;

	cr_assert_lt(s->n_ev, W_MAX_EVENTS);
	struct w_event *r = &s->ev[s->n_ev++];
	r->type = ev->type;
	r->sa = ev->sa;
	r->notify = ev->notify;
	r->local = ev->local;
	r->remote = ev->remote;
	snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
}

static inline struct ike_endpoint w_endpoint(const char *addr, uint16_t port)
{
	struct ike_endpoint ep = {.port = port};

	cr_assert_eq(ip_addr_parse(addr, &ep.addr), 0);
	return ep;
}

static inline struct prefix w_pfx(const char *s)
{
	struct prefix p;
	bool host;

	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	return p;
}

/* A PSK tunnel from site `me` to site `them` (IDs are the site names). */
static inline struct ike_peer_config w_tunnel(const char *me, const char *them, const char *my_net,
					      const char *their_net,
					      const struct ike_endpoint *local,
					      const struct ike_endpoint *remote)
{
	struct ike_peer_config c;
	struct proposal_errors errs;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "to-%s", them);
	snprintf(c.local_id, sizeof(c.local_id), "%s", me);
	snprintf(c.remote_id, sizeof(c.remote_id), "%s", them);
	memcpy(c.psk, "correct horse battery staple", 28);
	c.psk_len = 28;
	cr_assert_eq(proposal_parse("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE, &c.ike, &errs),
		     0);
	cr_assert_eq(proposal_parse("aes256gcm16", PROPOSAL_ESP, &c.esp, &errs), 0);
	c.ike_lifetime_s = 86400;
	c.child_lifetime_s = 3600;
	c.local_ts[0] = w_pfx(my_net);
	c.n_local_ts = 1;
	c.remote_ts[0] = w_pfx(their_net);
	c.n_remote_ts = 1;
	c.local = *local;
	c.remote = *remote;
	c.initiate = true;
	return c;
}

static inline void w_side_init(struct w_world *w, int i, const char *addr,
			       const struct ike_engine_config *ec)
{
	struct w_side *s = &w->s[i];
	struct ike_env env = {
		.now_ms = w_now,
		.random = w_random,
		.send = w_send,
		.child_up = w_child_up,
		.event = w_on_event,
		.wall_time = w_wall,
		.ctx = s,
	};

	s->w = w;
	s->idx = i;
	s->seed = (uint8_t)(17 + i * 101);
	s->ep = w_endpoint(addr, 500);
	cr_assert_eq(ike_engine_new(&env, ec, &s->eng), 0);
}

/* Side 0 = site-a (192.0.2.1, 10.1.0.0/16), side 1 = site-b (198.51.100.1, 10.2.0.0/16); no
 * tunnels yet. */
static inline struct w_world *w_new(const struct ike_engine_config *ec)
{
	struct w_world *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	w->now = 1000000;
	w->wall = time(NULL);
	w_side_init(w, 0, "192.0.2.1", ec);
	w_side_init(w, 1, "198.51.100.1", ec);
	return w;
}

/* The default pair of tunnels (configs a for side 0, b for side 1), customised by the caller,
 * then added. */
static inline void w_tunnels(struct w_world *w, struct ike_peer_config *a,
			     struct ike_peer_config *b)
{
	*a = w_tunnel("site-a", "site-b", "10.1.0.0/16", "10.2.0.0/16", &w->s[0].ep, &w->s[1].ep);
	*b = w_tunnel("site-b", "site-a", "10.2.0.0/16", "10.1.0.0/16", &w->s[1].ep, &w->s[0].ep);
}

static inline void w_add(struct w_world *w, const struct ike_peer_config *a,
			 const struct ike_peer_config *b)
{
	cr_assert_eq(ike_engine_add_peer(w->s[0].eng, a), 0);
	cr_assert_eq(ike_engine_add_peer(w->s[1].eng, b), 0);
}

static inline void w_free(struct w_world *w)
{
	for (int i = 0; i < 2; i++)
		ike_engine_free(w->s[i].eng);
	for (size_t i = 0; i < w->nq; i++)
		free(w->q[i].buf);
	free(w);
}

/* Remove the i-th queued datagram into *out (the caller frees out->buf). */
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
}

static inline void w_deliver_one(struct w_world *w)
{
	struct w_pkt p;

	w_take(w, 0, &p);
	w_input(w, &p);
	free(p.buf);
}

static inline void w_drop_at(struct w_world *w, size_t i)
{
	struct w_pkt p;

	w_take(w, i, &p);
	free(p.buf);
}

static inline size_t w_deliver_all(struct w_world *w)
{
	size_t n = 0;

	while (w->nq > 0) {
		cr_assert_lt(n, 2000, "message loop");
		w_deliver_one(w);
		n++;
	}
	return n;
}

static inline void w_advance(struct w_world *w, uint64_t ms)
{
	w->now += ms;
	for (int i = 0; i < 2; i++)
		ike_tick(w->s[i].eng);
}

static inline const struct w_event *w_find_event(const struct w_side *s, enum ike_event_type t)
{
	for (size_t i = 0; i < s->n_ev; i++)
		if (s->ev[i].type == t)
			return &s->ev[i];
	return NULL;
}

static inline size_t w_count_events(const struct w_side *s, enum ike_event_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++)
		n += s->ev[i].type == t;
	return n;
}

static inline struct ike_sa_info w_only_sa(const struct w_side *s)
{
	struct ike_sa_info info;

	cr_assert_eq(ike_engine_sa_count(s->eng), 1);
	cr_assert_eq(ike_engine_sa_at(s->eng, 0, &info), 0);
	return info;
}

/* Both sides established with one Child SA each whose keys mirror the other's. */
static inline void w_expect_up(const struct w_world *w)
{
	for (int i = 0; i < 2; i++) {
		struct ike_sa_info info = w_only_sa(&w->s[i]);
		const struct w_event *f = w_find_event(&w->s[i], IKE_EVENT_FAILED);
		cr_assert_eq(info.state, IKE_STATE_ESTABLISHED, "side %d: %s", i,
			     f ? f->reason : ike_state_name(info.state));
		cr_assert_eq(w->s[i].n_child, 1, "side %d", i);
	}
	const struct ike_child_keys *x = &w->s[0].child[0], *y = &w->s[1].child[0];
	cr_assert_eq(x->spi_in, y->spi_out);
	cr_assert_eq(x->spi_out, y->spi_in);
	cr_assert_eq(memcmp(x->keymat_out, y->keymat_in, x->keymat_len), 0);
	cr_assert_eq(memcmp(x->keymat_in, y->keymat_out, x->keymat_len), 0);
}

/* Put side i behind a NAT with public address addr. */
static inline void w_nat(struct w_world *w, int i, const char *addr, uint16_t port_base)
{
	struct w_side *s = &w->s[i];

	s->nat = true;
	s->nat_port_base = port_base;
	cr_assert_eq(ip_addr_parse(addr, &s->nat_addr), 0);
}

/* ---- test PKI ---- */

/* A key of a type: x509id's, or RSA-2048 (type X509ID_KEY_COUNT). */
static inline EVP_PKEY *w_key(int type)
{
	EVP_PKEY *k = NULL;

	if (type == X509ID_KEY_COUNT)
		k = EVP_RSA_gen(2048);
	else
		cr_assert_eq(x509id_key_generate((enum x509id_key_type)type, &k), 0);
	cr_assert_not_null(k);
	return k;
}

/* A site certificate for key, issued by the WAN CA at `now` for lifetime_s (0: default). */
static inline X509 *w_site_cert(const struct ca *ca, EVP_PKEY *key, const char *site, time_t now,
				uint64_t lifetime_s)
{
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	char reason[CA_REASON_LEN];

	cr_assert_eq(x509id_csr_create(key, site, &csr), 0);
	struct ca_issue issue = {.site = site, .now = now, .lifetime_s = lifetime_s};
	cr_assert_eq(ca_sign_csr(ca, csr, &issue, &cert, reason, sizeof(reason)), 0, "%s", reason);
	X509_REQ_free(csr);
	return cert;
}

static inline struct ca *w_ca(const char *wan)
{
	struct ca *ca = NULL;
	struct ca_params p = {.wan = wan};

	cr_assert_eq(ca_create(&p, &ca), 0);
	return ca;
}

static inline void w_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate made by hand (for chains ca.h does not issue): a CA named "O=wan, CN=cn" or a
 * site certificate for site cn, signed by issuer/issuer_key (self-signed when issuer NULL). */
static inline X509 *w_hand_cert(EVP_PKEY *key, const char *wan, const char *cn, bool is_ca,
				X509 *issuer, EVP_PKEY *issuer_key, uint64_t serial)
{
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();
	char san[64];

	cr_assert(c && n);
	cr_assert_eq(X509_set_version(c, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)serial);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)wan, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	cr_assert_eq(X509_set_subject_name(c, n), 1);
	cr_assert_eq(X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n), 1);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30);
	cr_assert_eq(X509_set_pubkey(c, key), 1);
	X509 *iss = issuer ? issuer : c;
	w_ext(c, iss, NID_subject_key_identifier, "hash");
	w_ext(c, iss, NID_authority_key_identifier, "keyid:always");
	if (is_ca) {
		w_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
		w_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		w_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
		w_ext(c, iss, NID_key_usage, "critical,digitalSignature");
		w_ext(c, iss, NID_ext_key_usage, "serverAuth,clientAuth");
		w_ext(c, iss, NID_subject_alt_name, san);
	}
	EVP_PKEY *sk = issuer_key ? issuer_key : key;
	cr_assert_gt(X509_sign(c, sk, x509id_sign_md(sk)), 0);
	X509_NAME_free(n);
	return c;
}

/* Switch a tunnel config to certificates (references stay the caller's). */
static inline void w_use_cert(struct ike_peer_config *c, EVP_PKEY *key, X509 *cert, X509 *ca,
			      STACK_OF(X509) * chain)
{
	c->auth = IKE_PEER_AUTH_CERT;
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
	c->psk_len = 0;
	c->key = key;
	c->cert = cert;
	c->ca = ca;
	c->chain = chain;
}

#endif
