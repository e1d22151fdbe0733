/*
 * ike_engine_remove_peer (edge/ike/ike_sa.h), which the tunnel manager uses to take removed or
 * changed tunnels out of the engine and to drop a dead tunnel's IKE state: two engines in one
 * process over an in-memory queue.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edge/ike/ike_sa.h"

enum {
	QMAX = 16,
	PKT_MAX = 4096,
};

struct qpkt {
	uint8_t buf[PKT_MAX];
	size_t len;
	struct ike_endpoint from, to;
	int dst;
};

struct net {
	struct ike_engine *eng[2];
	struct ike_endpoint ep[2];
	struct qpkt q[QMAX];
	size_t nq;
	size_t children[2];
	uint32_t rng[2];
	uint64_t now;
};

struct ctx {
	struct net *n;
	int side;
};

static uint64_t now_ms(void *c)
{
	return ((struct ctx *)c)->n->now;
}

static int rnd(void *c, uint8_t *buf, size_t len)
{
	struct ctx *x = c;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((++x->n->rng[x->side] * 2654435761u) >> (13 + x->side));
	return 0;
}

static int send_pkt(void *c, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		    const uint8_t *msg, size_t len)
{
	struct ctx *x = c;
	cr_assert_lt(x->n->nq, QMAX);
	cr_assert_leq(len, PKT_MAX);
	struct qpkt *p = &x->n->q[x->n->nq++];
	memcpy(p->buf, msg, len);
	p->len = len;
	p->from = *local;
	p->to = *remote;
	p->dst = 1 - x->side;
	return 0;
}

static void child_up(void *c, const struct ike_child_keys *k)
{
	struct ctx *x = c;
	(void)k;
	x->n->children[x->side]++;
}

static void run(struct net *n)
{
	while (n->nq) {
		struct qpkt p = n->q[0];
		memmove(&n->q[0], &n->q[1], (n->nq - 1) * sizeof(n->q[0]));
		n->nq--;
		ike_input(n->eng[p.dst], p.buf, p.len, &p.from, &p.to);
	}
}

static struct ike_peer_config peer(const struct net *n, int side, uint8_t psk_byte)
{
	struct ike_peer_config c;
	struct proposal_errors e;
	bool host;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "a:b");
	snprintf(c.local_id, sizeof(c.local_id), "%s", side ? "b" : "a");
	snprintf(c.remote_id, sizeof(c.remote_id), "%s", side ? "a" : "b");
	memset(c.psk, psk_byte, 32);
	c.psk_len = 32;
	cr_assert_eq(proposal_parse("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE, &c.ike, &e), 0);
	cr_assert_eq(proposal_parse("aes256gcm16", PROPOSAL_ESP, &c.esp, &e), 0);
	cr_assert_eq(prefix_parse(side ? "10.2.0.0/24" : "10.1.0.0/24", &c.local_ts[0], &host), 0);
	cr_assert_eq(prefix_parse(side ? "10.1.0.0/24" : "10.2.0.0/24", &c.remote_ts[0], &host), 0);
	c.n_local_ts = c.n_remote_ts = 1;
	c.local = n->ep[side];
	if (side == 0)
		c.remote = n->ep[1];
	c.initiate = side == 0;
	return c;
}

Test(ike_remove_peer, frees_the_tunnels_sas_and_lets_it_come_back_changed)
{
	static struct net n;
	struct ctx cx[2] = {{&n, 0}, {&n, 1}};

	n.now = 1000;
	for (int i = 0; i < 2; i++) {
		struct ike_env env = {.now_ms = now_ms,
				      .random = rnd,
				      .send = send_pkt,
				      .child_up = child_up,
				      .ctx = &cx[i]};
		n.ep[i].port = 500;
		cr_assert_eq(ip_addr_parse(i ? "192.0.2.2" : "192.0.2.1", &n.ep[i].addr), 0);
		cr_assert_eq(ike_engine_new(&env, NULL, &n.eng[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct ike_peer_config c = peer(&n, i, 0x11);
		cr_assert_eq(ike_engine_add_peer(n.eng[i], &c), 0);
	}
	cr_assert_eq(ike_sa_initiate(n.eng[0], "a:b", NULL), 0);
	run(&n);
	cr_assert_eq(n.children[0], 1);
	cr_assert_eq(n.children[1], 1);
	cr_assert_eq(ike_engine_sa_count(n.eng[1]), 1);

	/* The responder drops the tunnel: its SA goes with it, nothing is sent. */
	cr_assert_eq(ike_engine_remove_peer(n.eng[1], "a:b"), 0);
	cr_assert_eq(ike_engine_sa_count(n.eng[1]), 0);
	cr_assert_eq(ike_engine_stats(n.eng[1])->sas_freed, 1);
	cr_assert_eq(n.nq, 0);
	cr_assert_eq(ike_engine_remove_peer(n.eng[1], "a:b"), -ENOENT);

	/* Both come back with a new key; the same name is accepted again. */
	cr_assert_eq(ike_engine_remove_peer(n.eng[0], "a:b"), 0);
	cr_assert_eq(ike_engine_sa_count(n.eng[0]), 0);
	for (int i = 0; i < 2; i++) {
		struct ike_peer_config c = peer(&n, i, 0x22);
		cr_assert_eq(ike_engine_add_peer(n.eng[i], &c), 0);
	}
	cr_assert_eq(ike_sa_initiate(n.eng[0], "a:b", NULL), 0);
	run(&n);
	cr_assert_eq(n.children[0], 2);
	cr_assert_eq(n.children[1], 2);
	for (int i = 0; i < 2; i++)
		ike_engine_free(n.eng[i]);
}
