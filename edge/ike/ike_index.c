/*
 * The engine's lookup indexes, so no datagram costs a walk over every IKE SA (a responder at a
 * few thousand handshakes per second holds thousands of SAs, most of them lingering):
 *
 *   by handle     our SPI -> IKE SA, every SA (ike_input(), the API, SPI uniqueness)
 *   by peer SPI   SPI_i + the peer's address and port -> responder IKE SA (IKE_SA_INIT
 *                 retransmissions, §2.1)
 *   per tunnel    IKE SAs of a tunnel by state (§2.4 INITIAL_CONTACT, "our only IKE SA")
 *   Child SPIs    our inbound Child SA SPIs held anywhere, with the number of holders
 *
 * The SA indexes are intrusive (the links live in struct ike_ikesa), so linking never
 * allocates and cannot fail; a table that cannot grow just gets longer chains. The table owns
 * nothing: the SA list (eng->sas) owns the SAs, and whoever unlinks an SA from that list calls
 * ike__index_sa_remove() first. Bucket hashes are SipHash-1-3 under a per-engine random key,
 * because peers choose SPI_i and source ports and must not be able to aim at one bucket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edge/ike/ike_internal.h"

enum {
	INDEX_BUCKETS_MIN = 64,
	SPI_SET_MIN = 64,
};

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

/* SipHash-1-3 of n 64-bit words under the engine's key. */
static uint64_t index_hash(const struct ike_engine *eng, const uint64_t *w, size_t n)
{
	uint64_t v[4] = {eng->hash_key[0] ^ UINT64_C(0x736f6d6570736575),
			 eng->hash_key[1] ^ UINT64_C(0x646f72616e646f6d),
			 eng->hash_key[0] ^ UINT64_C(0x6c7967656e657261),
			 eng->hash_key[1] ^ UINT64_C(0x7465646279746573)};
	uint64_t last = (uint64_t)(n * 8) << 56;

	for (size_t i = 0; i < n; i++) {
		v[3] ^= w[i];
		sip_round(v);
		v[0] ^= w[i];
	}
	v[3] ^= last;
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t handle_hash(const struct ike_engine *eng, uint64_t handle)
{
	return index_hash(eng, &handle, 1);
}

static uint64_t peer_spi_hash(const struct ike_engine *eng, uint64_t spi_i,
			      const struct ike_endpoint *remote)
{
	uint64_t w[4] = {spi_i, 0, 0, (uint64_t)remote->addr.family << 16 | remote->port};

	memcpy(&w[1], remote->addr.bytes, 8);
	memcpy(&w[2], remote->addr.bytes + 8, 8);
	return index_hash(eng, w, 4);
}

static bool endpoint_equal(const struct ike_endpoint *a, const struct ike_endpoint *b)
{
	return a->port == b->port && ip_addr_cmp(&a->addr, &b->addr) == 0;
}

/* ---- intrusive SA tables ---- */

static int table_init(struct ike_sa_table *t)
{
	t->bucket = calloc(INDEX_BUCKETS_MIN, sizeof(struct ike_ikesa *));
	if (!t->bucket)
		return -ENOMEM;
	t->mask = INDEX_BUCKETS_MIN - 1;
	t->n = 0;
	return 0;
}

/* Double the buckets when the table is fuller than one SA per bucket. The hash of each SA is
 * kept with its link, so growing never needs the key fields (which may have changed). */
static void table_maybe_grow(struct ike_sa_table *t, enum ike_sa_index which)
{
	if (t->n <= t->mask || t->mask > SIZE_MAX / 4 / sizeof(struct ike_ikesa *))
		return;
	size_t nb = (t->mask + 1) * 2;
	struct ike_ikesa **b = calloc(nb, sizeof(struct ike_ikesa *));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i <= t->mask; i++) {
		/* Walk each old chain tail-first so the new chains keep their newest-first order.
		 */
		struct ike_ikesa *rev = NULL;
		for (struct ike_ikesa *sa = t->bucket[i], *next; sa; sa = next) {
			next = sa->idx[which].next;
			sa->idx[which].next = rev;
			rev = sa;
		}
		for (struct ike_ikesa *sa = rev, *next; sa; sa = next) {
			next = sa->idx[which].next;
			struct ike_ikesa **head = &b[sa->idx[which].hash & (nb - 1)];
			sa->idx[which].next = *head;
			*head = sa;
		}
	}
	free(t->bucket);
	t->bucket = b;
	t->mask = nb - 1;
}

/* Newest first within a chain, as on eng->sas, so equal keys resolve the way a list walk
 * would. */
static void table_link(struct ike_sa_table *t, enum ike_sa_index which, struct ike_ikesa *sa,
		       uint64_t hash)
{
	struct ike_ikesa **head;

	t->n++;
	table_maybe_grow(t, which);
	head = &t->bucket[hash & t->mask];
	sa->idx[which].hash = hash;
	sa->idx[which].linked = true;
	sa->idx[which].next = *head;
	*head = sa;
}

static void table_unlink(struct ike_sa_table *t, enum ike_sa_index which, struct ike_ikesa *sa)
{
	if (!sa->idx[which].linked)
		return;
	struct ike_ikesa **pp = &t->bucket[sa->idx[which].hash & t->mask];
	while (*pp && *pp != sa)
		pp = &(*pp)->idx[which].next;
	if (*pp) {
		*pp = sa->idx[which].next;
		t->n--;
	}
	sa->idx[which].next = NULL;
	sa->idx[which].linked = false;
}

/* ---- Child SPI multiset: open addressing, linear probing, backward-shift deletion ---- */

static size_t spi_slot(const struct ike_spi_set *s, uint32_t spi)
{
	/* Our SPIs are drawn at random: their bits are already uniform. */
	return (size_t)spi & s->mask;
}

static int spi_set_init(struct ike_spi_set *s)
{
	s->slot = calloc(SPI_SET_MIN, sizeof(*s->slot));
	if (!s->slot)
		return -ENOMEM;
	s->mask = SPI_SET_MIN - 1;
	s->n = 0;
	return 0;
}

static struct ike_spi_slot *spi_find(const struct ike_spi_set *s, uint32_t spi)
{
	for (size_t i = spi_slot(s, spi);; i = (i + 1) & s->mask) {
		if (s->slot[i].spi == spi)
			return &s->slot[i];
		if (s->slot[i].spi == 0)
			return NULL;
	}
}

/* Keep the load at most one half: grow at that point. */
static int spi_set_grow(struct ike_spi_set *s)
{
	size_t n = (s->mask + 1) * 2;
	struct ike_spi_slot *slot = calloc(n, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i <= s->mask; i++) {
		if (s->slot[i].spi == 0)
			continue;
		size_t j = (size_t)s->slot[i].spi & (n - 1);
		while (slot[j].spi != 0)
			j = (j + 1) & (n - 1);
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->mask = n - 1;
	return 0;
}

/* ---- API ---- */

int ike__index_init(struct ike_engine *eng)
{
	uint8_t key[16];
	int rc = ike__random(eng, key, sizeof(key));

	if (rc != 0)
		return rc;
	memcpy(eng->hash_key, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	for (int i = 0; i < IKE_SA_INDEX_COUNT; i++)
		if ((rc = table_init(&eng->index[i])) != 0)
			return rc;
	return spi_set_init(&eng->child_spis);
}

void ike__index_free(struct ike_engine *eng)
{
	for (int i = 0; i < IKE_SA_INDEX_COUNT; i++) {
		free(eng->index[i].bucket);
		eng->index[i] = (struct ike_sa_table){0};
	}
	free(eng->child_spis.slot);
	eng->child_spis = (struct ike_spi_set){0};
}

void ike__index_sa_add(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;
	uint64_t handle = ike__sa_handle(sa);

	table_link(&eng->index[IKE_SA_INDEX_HANDLE], IKE_SA_INDEX_HANDLE, sa,
		   handle_hash(eng, handle));
	struct ike_peer *p = sa->peer;
	sa->peer_next = p->sas[sa->state];
	sa->peer_prev = NULL;
	if (sa->peer_next)
		sa->peer_next->peer_prev = sa;
	p->sas[sa->state] = sa;
}

static void peer_list_unlink(struct ike_ikesa *sa, enum ike_state state)
{
	if (sa->peer_prev)
		sa->peer_prev->peer_next = sa->peer_next;
	else
		sa->peer->sas[state] = sa->peer_next;
	if (sa->peer_next)
		sa->peer_next->peer_prev = sa->peer_prev;
	sa->peer_next = sa->peer_prev = NULL;
}

static void peer_list_link(struct ike_ikesa *sa)
{
	struct ike_ikesa **head = &sa->peer->sas[sa->state];

	sa->peer_prev = NULL;
	sa->peer_next = *head;
	if (*head)
		(*head)->peer_prev = sa;
	*head = sa;
}

void ike__index_sa_remove(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;

	for (int i = 0; i < IKE_SA_INDEX_COUNT; i++)
		table_unlink(&eng->index[i], (enum ike_sa_index)i, sa);
	peer_list_unlink(sa, sa->state);
}

void ike__index_sa_state(struct ike_ikesa *sa, enum ike_state old)
{
	peer_list_unlink(sa, old);
	peer_list_link(sa);
}

void ike__sa_set_peer(struct ike_ikesa *sa, struct ike_peer *peer)
{
	if (sa->peer == peer)
		return;
	peer_list_unlink(sa, sa->state);
	sa->peer = peer;
	peer_list_link(sa);
}

void ike__sa_set_remote(struct ike_ikesa *sa, const struct ike_endpoint *remote)
{
	struct ike_engine *eng = sa->eng;
	struct ike_sa_table *t = &eng->index[IKE_SA_INDEX_PEER_SPI];

	table_unlink(t, IKE_SA_INDEX_PEER_SPI, sa);
	sa->remote = *remote;
	/* Only a responder SA can see the peer's IKE_SA_INIT again. */
	if (!sa->initiator && sa->spi_i != 0)
		table_link(t, IKE_SA_INDEX_PEER_SPI, sa, peer_spi_hash(eng, sa->spi_i, remote));
}

struct ike_ikesa *ike__sa_by_handle(const struct ike_engine *eng, uint64_t handle)
{
	const struct ike_sa_table *t = &eng->index[IKE_SA_INDEX_HANDLE];
	uint64_t h = handle_hash(eng, handle);

	for (struct ike_ikesa *sa = t->bucket[h & t->mask]; sa;
	     sa = sa->idx[IKE_SA_INDEX_HANDLE].next)
		if (ike__sa_handle(sa) == handle)
			return sa;
	return NULL;
}

struct ike_ikesa *ike__sa_by_peer_spi(const struct ike_engine *eng, uint64_t spi_i,
				      const struct ike_endpoint *remote)
{
	const struct ike_sa_table *t = &eng->index[IKE_SA_INDEX_PEER_SPI];
	uint64_t h = peer_spi_hash(eng, spi_i, remote);

	for (struct ike_ikesa *sa = t->bucket[h & t->mask]; sa;
	     sa = sa->idx[IKE_SA_INDEX_PEER_SPI].next)
		if (!sa->initiator && sa->spi_i == spi_i && endpoint_equal(&sa->remote, remote))
			return sa;
	return NULL;
}

struct ike_ikesa *ike__sa_find_peer(struct ike_engine *eng, const struct ike_peer *peer,
				    const struct ike_ikesa *except, enum ike_state state)
{
	(void)eng;
	for (struct ike_ikesa *sa = peer->sas[state]; sa; sa = sa->peer_next)
		if (sa != except)
			return sa;
	return NULL;
}

bool ike__child_spi_in_use(const struct ike_engine *eng, uint32_t spi)
{
	return spi != 0 && spi_find(&eng->child_spis, spi) != NULL;
}

int ike__child_spi_hold(struct ike_engine *eng, uint32_t spi)
{
	struct ike_spi_set *s = &eng->child_spis;
	struct ike_spi_slot *e;

	if (spi == 0)
		return 0;
	if ((e = spi_find(s, spi)) != NULL) {
		e->holders++;
		return 0;
	}
	if (s->n + 1 > (s->mask + 1) / 2) {
		int rc = spi_set_grow(s);
		if (rc != 0)
			return rc;
	}
	size_t i = spi_slot(s, spi);
	while (s->slot[i].spi != 0)
		i = (i + 1) & s->mask;
	s->slot[i] = (struct ike_spi_slot){.spi = spi, .holders = 1};
	s->n++;
	return 0;
}

void ike__child_spi_release(struct ike_engine *eng, uint32_t spi)
{
	struct ike_spi_set *s = &eng->child_spis;
	struct ike_spi_slot *e = spi == 0 ? NULL : spi_find(s, spi);

	if (!e || --e->holders > 0)
		return;
	/* Backward-shift deletion (Knuth 6.4, Algorithm R): no tombstones, so lookups of absent
	 * SPIs stay short however many come and go. */
	size_t i = (size_t)(e - s->slot), j = i;
	for (;;) {
		s->slot[i].spi = 0;
		for (;;) {
			j = (j + 1) & s->mask;
			if (s->slot[j].spi == 0) {
				s->n--;
				return;
			}
			size_t k = spi_slot(s, s->slot[j].spi);
			/* Move slot j back to i unless its home k lies cyclically in (i, j]. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		s->slot[i] = s->slot[j];
		i = j;
	}
}
