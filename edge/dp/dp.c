/*
 * The data plane's control side: tables, tunnels, SAs, publication and reclamation.
 * Workers live in dp_worker.c.
 */
#include "edge/dp/dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "edge/dp/dp_internal.h"

const char *dp_drop_name(enum dp_drop d)
{
	static const char *const names[DP_DROP_COUNT] = {
		"malformed", "no_sa", "replay",   "icv",         "policy", "seq_overflow",
		"dummy",     "mtu",   "no_route", "unreachable", "loop",
	};
	return (unsigned)d < DP_DROP_COUNT ? names[d] : "?";
}

/* --- reclamation ---------------------------------------------------------------------- */

static void retire(struct dp *dp, void (*free_fn)(void *), void *obj)
{
	if (!obj)
		return;
	struct dp__retired *r = calloc(1, sizeof(*r));
	if (!r) {
		/* Cannot track it: leaking is safe, freeing under a reader is not. */
		LOG_ERR(DP, "out of memory retiring a data-plane object; leaking it", NULL);
		return;
	}
	r->free_fn = free_fn;
	r->obj = obj;
	for (unsigned i = 0; i < dp->workers; i++)
		r->epochs[i] = atomic_load(&dp->w[i].epoch);
	r->next = dp->retired;
	dp->retired = r;
}

/* A worker has passed a quiescent point since `epoch` was recorded, or is idle in poll(). */
static bool worker_moved_on(const struct dp__worker *w, uint64_t epoch)
{
	if (!w->started)
		return true;
	return atomic_load(&w->idle) || atomic_load(&w->epoch) != epoch;
}

void dp_reclaim(struct dp *dp)
{
	struct dp__retired **pp = &dp->retired;
	while (*pp) {
		struct dp__retired *r = *pp;
		bool safe = true;
		for (unsigned i = 0; i < dp->workers && safe; i++)
			safe = worker_moved_on(&dp->w[i], r->epochs[i]);
		if (!safe) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->free_fn(r->obj);
		free(r);
	}
}

/* --- objects --------------------------------------------------------------------------- */

static void sa_out_free(void *p)
{
	struct dp__sa_out *sa = p;
	for (unsigned i = 0; i < DP_MAX_WORKERS; i++)
		esp_sa_free(sa->ctx[i]);
	free(sa);
}

static void sa_in_free(void *p)
{
	struct dp__sa_in *sa = p;
	esp_sa_free(sa->esp);
	free(sa);
}

static void tunnel_free(void *p)
{
	struct dp__tunnel *t = p;
	if (atomic_load(&t->out))
		sa_out_free(atomic_load(&t->out));
	free(atomic_load(&t->peer));
	lpm_free(t->allowed);
	free(t);
}

static void lpm_free_void(void *p)
{
	lpm_free(p);
}

/* --- SPI tables ------------------------------------------------------------------------ */

static uint32_t spi_hash(uint32_t spi, uint32_t mask)
{
	return (spi * 0x9e3779b1u) & mask;
}

struct dp__sa_in *dp__spi_find(const struct dp__spi_table *t, uint32_t spi)
{
	if (!t || t->mask == 0)
		return NULL;
	for (uint32_t i = spi_hash(spi, t->mask);; i = (i + 1) & t->mask) {
		if (t->slots[i].spi == spi)
			return t->slots[i].sa;
		if (t->slots[i].spi == 0)
			return NULL;
	}
}

/* A copy of t with `add` added and `remove_spi` left out (0: none). NULL when out of memory. */
static struct dp__spi_table *spi_table_with(const struct dp__spi_table *t, struct dp__sa_in *add,
					    uint32_t remove_spi)
{
	size_t count = add ? 1 : 0;
	if (t)
		for (uint32_t i = 0; t->mask && i <= t->mask; i++)
			count += t->slots[i].spi && t->slots[i].spi != remove_spi;
	uint32_t cap = 16;
	while (cap < 2 * count)
		cap *= 2;
	struct dp__spi_table *n = calloc(1, sizeof(*n) + cap * sizeof(n->slots[0]));
	if (!n)
		return NULL;
	n->mask = cap - 1;
	for (uint32_t i = 0; t && t->mask && i <= t->mask; i++) {
		const struct dp__spi_slot *s = &t->slots[i];
		if (!s->spi || s->spi == remove_spi)
			continue;
		uint32_t j = spi_hash(s->spi, n->mask);
		while (n->slots[j].spi)
			j = (j + 1) & n->mask;
		n->slots[j] = *s;
	}
	if (add) {
		uint32_t j = spi_hash(add->spi, n->mask);
		while (n->slots[j].spi)
			j = (j + 1) & n->mask;
		n->slots[j] = (struct dp__spi_slot){add->spi, add};
	}
	return n;
}

/* --- tables ---------------------------------------------------------------------------- */

static void tables_free_shallow(void *p)
{
	struct dp__tables *t = p;
	if (t)
		free(t->tunnels);
	free(t);
}

static struct dp__tables *tables_clone(const struct dp__tables *t, uint32_t min_tunnels)
{
	struct dp__tables *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	*n = *t;
	n->n_tunnels = t->n_tunnels > min_tunnels ? t->n_tunnels : min_tunnels;
	n->tunnels = calloc(n->n_tunnels ? n->n_tunnels : 1, sizeof(struct dp__tunnel *));
	if (!n->tunnels) {
		free(n);
		return NULL;
	}
	if (t->n_tunnels)
		memcpy(n->tunnels, t->tunnels, t->n_tunnels * sizeof(struct dp__tunnel *));
	return n;
}

static void publish(struct dp *dp, struct dp__tables *next)
{
	struct dp__tables *old = atomic_exchange(&dp->tables, next);
	retire(dp, tables_free_shallow, old);
}

static struct dp__tunnel *tunnel_get(const struct dp *dp, uint32_t id)
{
	const struct dp__tables *t = atomic_load(&dp->tables);
	return id < t->n_tunnels ? t->tunnels[id] : NULL;
}

/* --- lifecycle ------------------------------------------------------------------------- */

int dp_new(const struct dp_config *cfg, struct dp **out)
{
	*out = NULL;
	if (cfg->workers == 0 || cfg->workers > DP_MAX_WORKERS || !cfg->tun_fds || !cfg->udp_fds)
		return -EINVAL;
	struct dp *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->workers = cfg->workers;
	dp->vnet_hdr = cfg->tun_vnet_hdr;
	dp->icmp_src_v4 = cfg->icmp_src_v4;
	dp->icmp_src_v6 = cfg->icmp_src_v6;
	dp->event_fd = -1;
	pthread_mutex_init(&dp->ike_lock, NULL);
	for (unsigned g = 0; g < DP_MAX_GROUPS; g++)
		atomic_init(&dp->groups[g], UINT32_MAX);
	struct dp__tables *t = calloc(1, sizeof(*t));
	dp->ike = calloc(DP__IKE_QUEUE, sizeof(*dp->ike));
	dp->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int rc = -ENOMEM;
	if (!t || !dp->ike || dp->event_fd < 0)
		goto err;
	atomic_init(&dp->tables, t);
	t = NULL;
	for (unsigned i = 0; i < dp->workers; i++) {
		struct dp__worker *w = &dp->w[i];
		w->dp = dp;
		w->idx = i;
		w->tun_fd = cfg->tun_fds[i];
		w->udp_fd = cfg->udp_fds[i];
		w->buf = dp__wbuf_new(dp->vnet_hdr);
		if (!w->buf)
			goto err;
	}
	*out = dp;
	return 0;
err:
	free(t);
	dp_free(dp);
	return rc;
}

int dp_start(struct dp *dp)
{
	atomic_store(&dp->stop, false);
	for (unsigned i = 0; i < dp->workers; i++) {
		struct dp__worker *w = &dp->w[i];
		if (w->started)
			continue;
		int rc = pthread_create(&w->thread, NULL, dp__worker_main, w);
		if (rc != 0) {
			LOG_ERR(DP, "cannot start a data-plane worker", "worker=%u err=\"%s\"", i,
				sdw_strerror(rc));
			dp_stop(dp);
			return -rc;
		}
		w->started = true;
	}
	LOG_INFO(DP, "data plane started", "workers=%u", dp->workers);
	return 0;
}

void dp_stop(struct dp *dp)
{
	atomic_store(&dp->stop, true);
	for (unsigned i = 0; i < dp->workers; i++) {
		if (!dp->w[i].started)
			continue;
		pthread_join(dp->w[i].thread, NULL);
		dp->w[i].started = false;
	}
}

static void free_everything(struct dp *dp)
{
	struct dp__tables *t = atomic_load(&dp->tables);
	if (t) {
		for (uint32_t i = 0; i < t->n_tunnels; i++)
			if (t->tunnels[i])
				tunnel_free(t->tunnels[i]);
		for (unsigned w = 0; w < DP_MAX_WORKERS; w++) {
			const struct dp__spi_table *s = t->spi[w];
			for (uint32_t i = 0; s && s->mask && i <= s->mask; i++)
				if (s->slots[i].spi)
					sa_in_free(s->slots[i].sa);
			free(t->spi[w]);
		}
		lpm_free(t->routes);
		tables_free_shallow(t);
	}
}

void dp_free(struct dp *dp)
{
	if (!dp)
		return;
	dp_stop(dp);
	/* No worker runs: everything retired can go, then everything live. */
	while (dp->retired) {
		struct dp__retired *r = dp->retired;
		dp->retired = r->next;
		r->free_fn(r->obj);
		free(r);
	}
	free_everything(dp);
	for (unsigned i = 0; i < dp->workers; i++)
		dp__wbuf_free(dp->w[i].buf);
	if (dp->event_fd >= 0)
		close(dp->event_fd);
	free(dp->ike);
	pthread_mutex_destroy(&dp->ike_lock);
	free(dp);
}

/* --- tunnels --------------------------------------------------------------------------- */

int dp_tunnel_add(struct dp *dp, uint32_t id, const struct sockaddr_in6 *peer, uint16_t mtu,
		  struct lpm **allowed)
{
	if (id >= 65536)
		return -EINVAL;
	if (tunnel_get(dp, id))
		return -EEXIST;
	struct dp__tunnel *tun = calloc(1, sizeof(*tun));
	struct dp__peer *p = calloc(1, sizeof(*p));
	struct dp__tables *next = tables_clone(atomic_load(&dp->tables), id + 1);
	if (!tun || !p || !next) {
		free(tun);
		free(p);
		tables_free_shallow(next);
		return -ENOMEM;
	}
	p->addr = *peer;
	tun->id = id;
	tun->mtu = mtu;
	atomic_init(&tun->peer, p);
	atomic_init(&tun->out, NULL);
	tun->allowed = *allowed;
	*allowed = NULL;
	next->tunnels[id] = tun;
	publish(dp, next);
	return 0;
}

int dp_tunnel_remove(struct dp *dp, uint32_t id)
{
	struct dp__tunnel *tun = tunnel_get(dp, id);
	if (!tun)
		return -ENOENT;
	const struct dp__tables *cur = atomic_load(&dp->tables);
	struct dp__tables *next = tables_clone(cur, 0);
	if (!next)
		return -ENOMEM;
	next->tunnels[id] = NULL;
	/* Its inbound SAs leave every worker's SPI table. */
	struct dp__spi_table *old_spi[DP_MAX_WORKERS] = {0};
	for (unsigned w = 0; w < dp->workers; w++) {
		const struct dp__spi_table *s = cur->spi[w];
		for (uint32_t i = 0; s && s->mask && i <= s->mask; i++) {
			if (!s->slots[i].spi || s->slots[i].sa->tunnel != id)
				continue;
			struct dp__spi_table *n =
				spi_table_with(next->spi[w], NULL, s->slots[i].spi);
			if (!n) {
				tables_free_shallow(next);
				return -ENOMEM;
			}
			if (next->spi[w] != cur->spi[w])
				free(next->spi[w]); /* an intermediate copy nobody saw */
			next->spi[w] = n;
			old_spi[w] = cur->spi[w];
			retire(dp, sa_in_free, s->slots[i].sa);
		}
	}
	publish(dp, next);
	for (unsigned w = 0; w < dp->workers; w++)
		retire(dp, free, old_spi[w]);
	retire(dp, tunnel_free, tun);
	return 0;
}

int dp_tunnel_set_peer(struct dp *dp, uint32_t id, const struct sockaddr_in6 *peer)
{
	struct dp__tunnel *tun = tunnel_get(dp, id);
	if (!tun)
		return -ENOENT;
	struct dp__peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->addr = *peer;
	retire(dp, free, atomic_exchange(&tun->peer, p));
	return 0;
}

int dp_tunnel_peer(struct dp *dp, uint32_t id, struct sockaddr_in6 *out)
{
	struct dp__tunnel *tun = tunnel_get(dp, id);
	if (!tun)
		return -ENOENT;
	*out = atomic_load(&tun->peer)->addr;
	return 0;
}

int dp_tunnel_set_horizon(struct dp *dp, uint32_t id, uint8_t horizon)
{
	struct dp__tunnel *tun = tunnel_get(dp, id);
	if (!tun)
		return -ENOENT;
	atomic_store_explicit(&tun->horizon, horizon, memory_order_relaxed);
	return 0;
}

/* --- SAs ------------------------------------------------------------------------------- */

int dp_sa_out_install(struct dp *dp, uint32_t tunnel, const struct esp_sa_config *cfg)
{
	struct dp__tunnel *tun = tunnel_get(dp, tunnel);
	if (!tun)
		return -ENOENT;
	if (cfg->dir != ESP_DIR_OUT)
		return -EINVAL;
	struct dp__sa_out *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	sa->spi = cfg->spi;
	atomic_init(&sa->seq, cfg->first_seq ? cfg->first_seq - 1 : 0);
	struct esp_sa_config c = *cfg;
	c.shared_seq = &sa->seq;
	for (unsigned i = 0; i < dp->workers; i++) {
		int rc = esp_sa_new(&c, &sa->ctx[i]);
		if (rc) {
			sa_out_free(sa);
			return rc;
		}
	}
	retire(dp, sa_out_free, atomic_exchange(&tun->out, sa));
	return 0;
}

int dp_sa_in_install(struct dp *dp, uint32_t tunnel, const struct esp_sa_config *cfg)
{
	if (!tunnel_get(dp, tunnel))
		return -ENOENT;
	if (cfg->dir != ESP_DIR_IN)
		return -EINVAL;
	unsigned w = cfg->spi % dp->workers;
	const struct dp__tables *cur = atomic_load(&dp->tables);
	if (dp__spi_find(cur->spi[w], cfg->spi))
		return -EEXIST;
	struct dp__sa_in *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	sa->spi = cfg->spi;
	sa->tunnel = tunnel;
	int rc = esp_sa_new(cfg, &sa->esp);
	struct dp__tables *next = rc ? NULL : tables_clone(cur, 0);
	struct dp__spi_table *spi = next ? spi_table_with(cur->spi[w], sa, 0) : NULL;
	if (!spi) {
		tables_free_shallow(next);
		sa_in_free(sa);
		return rc ? rc : -ENOMEM;
	}
	next->spi[w] = spi;
	publish(dp, next);
	retire(dp, free, cur->spi[w]);
	return 0;
}

int dp_sa_in_remove(struct dp *dp, uint32_t spi)
{
	unsigned w = spi % dp->workers;
	const struct dp__tables *cur = atomic_load(&dp->tables);
	struct dp__sa_in *sa = dp__spi_find(cur->spi[w], spi);
	if (!sa)
		return -ENOENT;
	struct dp__tables *next = tables_clone(cur, 0);
	struct dp__spi_table *n = next ? spi_table_with(cur->spi[w], NULL, spi) : NULL;
	if (!n) {
		tables_free_shallow(next);
		return -ENOMEM;
	}
	next->spi[w] = n;
	publish(dp, next);
	retire(dp, free, cur->spi[w]);
	retire(dp, sa_in_free, sa);
	return 0;
}

/* --- routes and groups ----------------------------------------------------------------- */

int dp_routes_set(struct dp *dp, struct lpm **routes)
{
	const struct dp__tables *cur = atomic_load(&dp->tables);
	struct dp__tables *next = tables_clone(cur, 0);
	if (!next)
		return -ENOMEM;
	next->routes = *routes;
	*routes = NULL;
	publish(dp, next);
	retire(dp, lpm_free_void, cur->routes);
	return 0;
}

void dp_group_set(struct dp *dp, unsigned g, uint32_t tunnel)
{
	if (g < DP_MAX_GROUPS)
		atomic_store(&dp->groups[g], tunnel);
}

/* --- observation ----------------------------------------------------------------------- */

static void add_counters(const struct dp__counters *c, struct dp_stats *s)
{
	s->tx_packets += atomic_load_explicit(&c->tx_packets, memory_order_relaxed);
	s->tx_bytes += atomic_load_explicit(&c->tx_bytes, memory_order_relaxed);
	s->rx_packets += atomic_load_explicit(&c->rx_packets, memory_order_relaxed);
	s->rx_bytes += atomic_load_explicit(&c->rx_bytes, memory_order_relaxed);
	for (int d = 0; d < DP_DROP_COUNT; d++)
		s->drops[d] += atomic_load_explicit(&c->drops[d], memory_order_relaxed);
}

int dp_tunnel_stats(struct dp *dp, uint32_t id, struct dp_stats *out)
{
	const struct dp__tunnel *tun = tunnel_get(dp, id);
	if (!tun)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < dp->workers; i++)
		add_counters(&tun->ctr[i], out);
	out->last_rx_ms = atomic_load_explicit(&tun->last_rx_ms, memory_order_relaxed);
	return 0;
}

void dp_global_drops(struct dp *dp, uint64_t drops[DP_DROP_COUNT])
{
	struct dp_stats s;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < dp->workers; i++)
		add_counters(&dp->w[i].global, &s);
	memcpy(drops, s.drops, sizeof(s.drops));
}

uint64_t dp_sa_out_packets(struct dp *dp, uint32_t tunnel)
{
	const struct dp__tunnel *tun = tunnel_get(dp, tunnel);
	const struct dp__sa_out *sa = tun ? atomic_load(&tun->out) : NULL;
	return sa ? atomic_load_explicit(&sa->seq, memory_order_relaxed) : 0;
}

/* --- IKE hand-off ---------------------------------------------------------------------- */

int dp_event_fd(const struct dp *dp)
{
	return dp->event_fd;
}

void dp__ike_push(struct dp *dp, const uint8_t *msg, size_t len, const struct sockaddr_in6 *from)
{
	if (len > DP_IKE_MAX) {
		atomic_fetch_add(&dp->ike_dropped, 1);
		return;
	}
	pthread_mutex_lock(&dp->ike_lock);
	bool full = dp->ike_count == DP__IKE_QUEUE;
	if (!full) {
		struct dp__ike_item *it = &dp->ike[(dp->ike_head + dp->ike_count) % DP__IKE_QUEUE];
		it->len = (uint16_t)len;
		it->from = *from;
		memcpy(it->data, msg, len);
		dp->ike_count++;
	}
	pthread_mutex_unlock(&dp->ike_lock);
	if (full) {
		atomic_fetch_add(&dp->ike_dropped, 1);
		return;
	}
	uint64_t one = 1;
	(void)!write(dp->event_fd, &one, sizeof(one));
}

int dp_ike_pop(struct dp *dp, uint8_t *buf, size_t cap, struct sockaddr_in6 *from)
{
	int rc = 0;
	pthread_mutex_lock(&dp->ike_lock);
	if (dp->ike_count) {
		const struct dp__ike_item *it = &dp->ike[dp->ike_head];
		if (it->len > cap) {
			rc = -EMSGSIZE;
		} else {
			memcpy(buf, it->data, it->len);
			*from = it->from;
			rc = it->len;
		}
		dp->ike_head = (dp->ike_head + 1) % DP__IKE_QUEUE;
		dp->ike_count--;
	}
	pthread_mutex_unlock(&dp->ike_lock);
	return rc;
}

bool dp__peer_moved_push(struct dp *dp, uint32_t tunnel, const struct sockaddr_in6 *from)
{
	pthread_mutex_lock(&dp->ike_lock);
	bool full = dp->moved_count == DP__MOVED_QUEUE;
	if (!full) {
		struct dp__moved_item *it =
			&dp->moved[(dp->moved_head + dp->moved_count) % DP__MOVED_QUEUE];
		it->tunnel = tunnel;
		it->from = *from;
		dp->moved_count++;
	}
	pthread_mutex_unlock(&dp->ike_lock);
	if (full)
		return false;
	uint64_t one = 1;
	(void)!write(dp->event_fd, &one, sizeof(one));
	return true;
}

int dp_peer_moved_pop(struct dp *dp, uint32_t *tunnel, struct sockaddr_in6 *from)
{
	int rc = 0;
	pthread_mutex_lock(&dp->ike_lock);
	if (dp->moved_count) {
		const struct dp__moved_item *it = &dp->moved[dp->moved_head];
		*tunnel = it->tunnel;
		*from = it->from;
		dp->moved_head = (dp->moved_head + 1) % DP__MOVED_QUEUE;
		dp->moved_count--;
		rc = 1;
	}
	pthread_mutex_unlock(&dp->ike_lock);
	return rc;
}
