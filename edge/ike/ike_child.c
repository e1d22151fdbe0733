/*
 * CREATE_CHILD_SA, both roles (RFC 7296 §1.3, §2.8, §2.17, §2.18, §2.25), the Child SAs of an
 * IKE SA, their lifetimes, and the queue of our own requests.
 *
 *   Initiator                                        Responder
 *   more Child SAs  HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->
 *                                               <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
 *   Child rekey     HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->
 *                                               <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
 *   IKE rekey       HDR, SK {SA(IKE, new SPIi), Ni, KEi}  -->
 *                                               <--  HDR, SK {SA(IKE, new SPIr), Nr, KEr}
 *   refusals                                    <--  HDR, SK {N(NO_PROPOSAL_CHOSEN |
 *                                                      TS_UNACCEPTABLE | INVALID_KE_PAYLOAD |
 *                                                      TEMPORARY_FAILURE | CHILD_SA_NOT_FOUND)}
 *
 *   KEYMAT    = prf+(SK_d, [g^ir (new) |] Ni | Nr), exchange initiator's direction first  §2.17
 *   SKEYSEED' = prf(SK_d (old), g^ir (new) | Ni | Nr), then the §2.14 keys with new SPIs  §2.18
 *
 * PFS: with a group in the tunnel's ESP proposal, every Child SA of CREATE_CHILD_SA carries a KE
 * of that group. Our offer lists it, then the IKE group as a fallback, so a peer that prefers
 * the latter answers INVALID_KE_PAYLOAD and we repeat with the group it names (once).
 *
 * Collisions (§2.8.1, §2.8.2). Our window is 1, so at most one CREATE_CHILD_SA of ours is
 * outstanding (sa->ccsa). When the peer's request rekeys the same SA meanwhile, we answer it and
 * remember the lowest nonce of that exchange; when our response arrives, the exchange holding
 * the lowest of the four nonces made the redundant SA, which its initiator deletes; the winner's
 * initiator deletes the old SA. A request that cannot be served now (a rekey of an SA being
 * rekeyed or deleted, a Child SA change while an IKE SA rekey is under way) gets
 * TEMPORARY_FAILURE, and we retry ours after a random 1 to 5 s when we get one.
 *
 * Make-before-break: a new pair goes to env->child_up before the old pair is deleted; the old
 * one goes to env->child_down when its Delete exchange is done.
 *
 * Secrets: KEYMAT, g^ir and SKEYSEED' live in wiped buffers; the KE key pair of our outstanding
 * request lives in sa->ccsa until the response or the SA's end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/error.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_natt.h"

static const char phase[] = "CREATE_CHILD_SA";

enum {
	SPI_DRAWS = 8,
	KE_ROUNDS = 1,            /* INVALID_KE_PAYLOAD retries */
	RETRY_MIN_MS = 1000,      /* TEMPORARY_FAILURE: retry after 1 s ... */
	RETRY_SPREAD_MS = 4000,   /* ... plus up to 4 s */
	REFUSED_RETRY_MS = 30000, /* a refused rekey is tried again after this */
	MSGID_REKEY_MARGIN = 16,  /* rekey the IKE SA this many message IDs before the end */
	WHY_MAX = 512,
};

/* ---- small helpers ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint32_t v, uint8_t out[static 4])
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static void put64(uint64_t v, uint8_t out[static 8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint32_t random_u32(struct ike_engine *eng)
{
	uint8_t b[4];

	if (ike__random(eng, b, sizeof(b)) != 0)
		return 0;
	return be32(b);
}

/* §2.8.1 compares nonces as octet strings; a prefix sorts first. */
static int nonce_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* The lower of an exchange's two nonces into out. */
static size_t nonce_min(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
			uint8_t out[static IKE_NONCE_MAX])
{
	bool a_low = nonce_cmp(a, alen, b, blen) < 0;

	memcpy(out, a_low ? a : b, a_low ? alen : blen);
	return a_low ? alen : blen;
}

void ike__ccsa_clear(struct ike_ikesa *sa)
{
	struct ike_ccsa *c = &sa->ccsa;

	if (c->kind != IKE_CCSA_NONE)
		ike__child_spi_release(sa->eng, c->spi_in);
	ike_kex_free(c->kex);
	OPENSSL_cleanse(c, sizeof(*c));
	c->kind = IKE_CCSA_NONE;
}

/* An event about a Child SA pair (and its replacement). */
static void child_event(struct ike_ikesa *sa, enum ike_event_type type, uint32_t spi_in,
			uint32_t spi_out, uint32_t new_in, uint32_t new_out, uint16_t notify,
			const char *reason)
{
	struct ike_engine *eng = sa->eng;

	if (!eng->env.event)
		return;
	struct ike_event ev = {
		.type = type,
		.peer = sa->peer->cfg.name,
		.sa = ike__sa_handle(sa),
		.spi_i = sa->spi_i,
		.spi_r = sa->spi_r,
		.old_state = sa->state,
		.new_state = sa->state,
		.phase = phase,
		.notify = notify,
		.reason = reason ? reason : "",
		.spi_in = spi_in,
		.spi_out = spi_out,
		.new_spi_in = new_in,
		.new_spi_out = new_out,
	};
	eng->env.event(eng->env.ctx, &ev);
}

/* ---- lifetimes ---- */

/* A soft lifetime from now: 10 to 15% before the end for the IKE SA's initiator, 5 to 7.5% for
 * its responder, so that the two ends rarely start the same rekey together. */
static uint64_t soft_time(struct ike_ikesa *sa, uint32_t lifetime_s)
{
	uint64_t life = (uint64_t)lifetime_s * 1000, margin = life / 10;
	uint64_t spread = margin / 2 ? random_u32(sa->eng) % (margin / 2) : 0;

	if (lifetime_s == 0)
		return UINT64_MAX;
	if (sa->initiator)
		return ike__now(sa->eng) + life - margin - spread;
	return ike__now(sa->eng) + life - margin / 2 - spread / 2;
}

uint64_t ike__ike_rekey_time(struct ike_ikesa *sa)
{
	return soft_time(sa, sa->peer->cfg.ike_lifetime_s);
}

static uint64_t child_hard_time(const struct ike_ikesa *sa)
{
	uint32_t s = sa->peer->cfg.child_lifetime_s;

	return s ? ike__now(sa->eng) + (uint64_t)s * 1000 : UINT64_MAX;
}

/* ---- the Child SA list ---- */

int ike__child_add(struct ike_ikesa *sa, uint32_t spi_in, uint32_t spi_out)
{
	struct ike_child *c = calloc(1, sizeof(*c));
	struct ike_child **pp = &sa->children;

	if (!c || ike__child_spi_hold(sa->eng, spi_in) != 0) {
		free(c);
		return -ENOMEM;
	}
	c->spi_in = spi_in;
	c->spi_out = spi_out;
	c->state = IKE_CHILD_INSTALLED;
	c->rekey_at = soft_time(sa, sa->peer->cfg.child_lifetime_s);
	c->expire_at = child_hard_time(sa);
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	return 0;
}

struct ike_child *ike__child_find(const struct ike_ikesa *sa, uint32_t spi, bool by_out)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if ((by_out ? c->spi_out : c->spi_in) == spi)
			return c;
	return NULL;
}

void ike__child_remove(struct ike_ikesa *sa, struct ike_child *c, enum ike_child_down_reason why)
{
	struct ike_engine *eng = sa->eng;
	struct ike_child **pp = &sa->children;
	char reason[96];

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = c->next;
	if (sa->ccsa.kind == IKE_CCSA_REKEY_CHILD && sa->ccsa.old_spi_in == c->spi_in)
		sa->ccsa.target_gone = true;
	eng->stats.children_down++;
	LOG_NOTICE(IKE, "Child SA down",
		   "tunnel=%s sa=%016" PRIx64 " spi_in=%08" PRIx32 " spi_out=%08" PRIx32
		   " reason=%s",
		   sa->peer->cfg.name, ike__sa_handle(sa), c->spi_in, c->spi_out,
		   ike_child_down_reason_name(why));
	if (eng->env.child_down)
		eng->env.child_down(eng->env.ctx, sa->peer->cfg.name, ike__sa_handle(sa), c->spi_in,
				    c->spi_out, why);
	snprintf(reason, sizeof(reason), "Child SA removed: %s", ike_child_down_reason_name(why));
	child_event(sa, IKE_EVENT_CHILD_DELETED, c->spi_in, c->spi_out, 0, 0, 0, reason);
	ike__child_spi_release(eng, c->spi_in);
	free(c);
}

/* Our inbound SPI for a new pair: random, >= 256 (RFC 4303 §2.1), unique in the engine. */
static int child_spi_new(struct ike_engine *eng, uint32_t *out)
{
	for (int i = 0; i < SPI_DRAWS; i++) {
		uint8_t b[4];
		int rc = ike__random(eng, b, sizeof(b));
		if (rc != 0)
			return rc;
		uint32_t spi = be32(b);
		if (spi >= ESP_SPI_MIN && !ike__child_spi_in_use(eng, spi)) {
			*out = spi;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Move every Child SA (and queued Child SA work) of `from` to `to`, a rekeyed IKE SA. */
static void children_move(struct ike_ikesa *from, struct ike_ikesa *to)
{
	struct ike_child **pp = &to->children;

	while (*pp)
		pp = &(*pp)->next;
	*pp = from->children;
	from->children = NULL;
	to->create_wanted = (uint16_t)(to->create_wanted + from->create_wanted);
	from->create_wanted = 0;
}

/* The IKE SA `old` is replaced by `winner`: children move, old waits for (or gets) its Delete. */
static void ike_rekey_finish(struct ike_ikesa *old, struct ike_ikesa *winner, bool delete_old)
{
	struct ike_engine *eng = old->eng;
	char reason[96];

	children_move(old, winner);
	if (old->state == IKE_STATE_ESTABLISHED)
		ike__sa_set_state(old, IKE_STATE_REKEYED, "IKE SA rekeyed, children moved");
	old->delete_wanted = delete_old;
	old->rekey_wanted = false;
	eng->stats.ike_rekeys++;
	snprintf(reason, sizeof(reason), "IKE SA rekeyed into %016" PRIx64, ike__sa_handle(winner));
	LOG_NOTICE(IKE, "IKE SA rekeyed",
		   "tunnel=%s sa=%016" PRIx64 " new_sa=%016" PRIx64 " delete_old=%s",
		   old->peer->cfg.name, ike__sa_handle(old), ike__sa_handle(winner),
		   delete_old ? "yes" : "no");
	if (eng->env.event) {
		struct ike_event ev = {
			.type = IKE_EVENT_IKE_REKEYED,
			.peer = old->peer->cfg.name,
			.sa = ike__sa_handle(old),
			.spi_i = old->spi_i,
			.spi_r = old->spi_r,
			.old_state = old->state,
			.new_state = old->state,
			.phase = phase,
			.reason = reason,
			.new_sa = ike__sa_handle(winner),
		};
		eng->env.event(eng->env.ctx, &ev);
	}
	ike__sa_kick(winner); /* work that came with the children */
}

/* Our IKE SA of an abandoned rekey: never keyed, nothing to tell the peer. */
static void drop_new_sa(struct ike_ikesa *sa)
{
	struct ike_ikesa *n = sa->ccsa.new_sa ? ike__sa_by_handle(sa->eng, sa->ccsa.new_sa) : NULL;

	if (n && n->state == IKE_STATE_IDLE)
		ike__sa_set_state(n, IKE_STATE_FAILED, "IKE SA rekey abandoned");
}

/* Our request is over without making an SA: if it collided with the peer's IKE SA rekey, the
 * peer's new IKE SA is the one that stays. */
static void ccsa_abandon(struct ike_ikesa *sa)
{
	struct ike_ccsa *c = &sa->ccsa;

	if (c->kind == IKE_CCSA_REKEY_IKE) {
		drop_new_sa(sa);
		struct ike_ikesa *peer_new =
			c->collided ? ike__sa_by_handle(sa->eng, c->peer_sa) : NULL;
		if (peer_new && peer_new->state == IKE_STATE_ESTABLISHED)
			ike_rekey_finish(sa, peer_new, false);
	}
	ike__ccsa_clear(sa);
}

void ike__child_sa_ending(struct ike_ikesa *sa)
{
	if (sa->ccsa.kind != IKE_CCSA_NONE)
		ccsa_abandon(sa);
	while (sa->children)
		ike__child_remove(sa, sa->children, IKE_CHILD_DOWN_IKE_GONE);
}

/* ---- keys ---- */

/* What makes a new pair: its SPIs, the exchange's nonces and g^ir (NULL without PFS), the
 * negotiated selectors. */
struct child_new {
	uint32_t spi_in, spi_out;
	bool initiated; /* we initiated this exchange: its keys come first (§2.17) */
	const uint8_t *ni, *nr;
	size_t ni_len, nr_len;
	const uint8_t *shared;
	size_t shared_len;
	const struct ike_ts_list *local, *remote;
	uint32_t rekeyed_spi_in; /* 0: not a rekey */
};

/* Derive the pair's KEYMAT, record the pair and hand it to env->child_up. */
static int child_install(struct ike_ikesa *sa, const struct child_new *cn)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	enum esp_cipher cipher = ike__esp_cipher(cfg->esp.encr);
	size_t klen = esp_cipher_keymat_len(cipher);
	uint8_t keymat[2 * IKE_CHILD_KEYMAT_MAX];
	struct ike_child_keys *k = calloc(1, sizeof(*k));
	int rc = -ENOMEM;

	if (!k)
		goto out;
	struct ike_kdf_input in = {.ni = cn->ni,
				   .nr = cn->nr,
				   .ni_len = cn->ni_len,
				   .nr_len = cn->nr_len,
				   .shared = cn->shared,
				   .shared_len = cn->shared_len};
	/* KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) */
	rc = ike_child_keymat(sa->prf, sa->keys.sk_d, &in, keymat, 2 * klen);
	if (rc != 0)
		goto out;
	const uint8_t *i2r = keymat, *r2i = keymat + klen;
	memcpy(k->keymat_out, cn->initiated ? i2r : r2i, klen);
	memcpy(k->keymat_in, cn->initiated ? r2i : i2r, klen);
	k->keymat_len = klen;
	k->peer = cfg->name;
	k->sa = ike__sa_handle(sa);
	k->cipher = cipher;
	k->esn = cfg->esp.esn;
	k->spi_in = cn->spi_in;
	k->spi_out = cn->spi_out;
	k->local_ts = *cn->local;
	k->remote_ts = *cn->remote;
	k->lifetime_s = cfg->child_lifetime_s;
	k->rekey = cn->rekeyed_spi_in != 0;
	k->rekeyed_spi_in = cn->rekeyed_spi_in;
	k->initiated = cn->initiated;
	ike__natt_child_keys(sa, k);
	rc = ike__child_add(sa, cn->spi_in, cn->spi_out);
	if (rc != 0)
		goto out;
	eng->stats.children_up++;
	LOG_NOTICE(IKE, "Child SA up",
		   "tunnel=%s sa=%016" PRIx64 " spi_in=%08" PRIx32 " spi_out=%08" PRIx32
		   " cipher=%s pfs=%s rekeys=%08" PRIx32,
		   cfg->name, k->sa, k->spi_in, k->spi_out, esp_cipher_name(cipher),
		   cn->shared ? "yes" : "no", cn->rekeyed_spi_in);
	if (eng->env.child_up)
		eng->env.child_up(eng->env.ctx, k);
out:
	OPENSSL_cleanse(keymat, sizeof(keymat));
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
	free(k);
	return rc;
}

/* The new IKE SA n's keys (§2.18): SKEYSEED from the old SA's SK_d, then §2.14 with n's SPIs
 * and nonces (n->ni, n->nr). */
static int ike_rekey_keys(struct ike_ikesa *old, struct ike_ikesa *n, const uint8_t *shared,
			  size_t shared_len)
{
	const struct proposal *p = &n->peer->cfg.ike;
	size_t enc_len = ike_sk_keymat_len(p->encr);
	uint8_t skeyseed[IKE_PRF_MAX_LEN], spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	int rc;

	put64(n->spi_i, spi_i);
	put64(n->spi_r, spi_r);
	struct ike_kdf_input in = {.ni = n->ni,
				   .nr = n->nr,
				   .ni_len = n->ni_len,
				   .nr_len = n->nr_len,
				   .spi_i = spi_i,
				   .spi_r = spi_r,
				   .shared = shared,
				   .shared_len = shared_len};
	/* SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old SA's PRF */
	rc = ike_skeyseed_rekey(old->prf, old->keys.sk_d, &in, skeyseed);
	n->prf = ike__prf_id(p->prf);
	if (rc == 0)
		rc = ike_sa_keys_derive(n->prf, skeyseed, &in, enc_len, &n->keys);
	if (rc == 0)
		rc = ike_sk_init(&n->sk_out, p->encr, n->initiator ? n->keys.sk_ei : n->keys.sk_er,
				 enc_len);
	if (rc == 0)
		rc = ike_sk_init(&n->sk_in, p->encr, n->initiator ? n->keys.sk_er : n->keys.sk_ei,
				 enc_len);
	n->keyed = rc == 0;
	OPENSSL_cleanse(skeyseed, sizeof(skeyseed));
	return rc;
}

/* g^ir with a fresh or given key pair. */
static int kex_shared(const struct ike_kex *kex, const struct ike_ke *ke,
		      uint8_t out[static IKE_KEX_MAX_SHARED], size_t *len)
{
	return ike_kex_shared(kex, ke->data, ke->len, out, IKE_KEX_MAX_SHARED, len);
}

/* ---- proposals with PFS ---- */

/* Whether an ESP proposal of an SA payload lists DH group `group`; *any_dh says whether it
 * lists a real group at all (not NONE). */
static bool prop_has_group(const struct ike_sa *sa, const struct ike_proposal *p, uint16_t group,
			   bool *any_dh)
{
	bool has = false;

	*any_dh = false;
	for (size_t i = p->first; i < (size_t)p->first + p->count; i++) {
		const struct ike_transform *xf = &sa->xf[i];
		if (xf->type != IKE_TRANSFORM_DH)
			continue;
		if (xf->id != IKE_DH_NONE)
			*any_dh = true;
		if (xf->id == group)
			has = true;
	}
	return has;
}

/* The same SA payload with the DH transforms of every proposal removed, so the ESP matching of
 * ike_prop.c (which ignores DH only in offers) also applies to responses. */
static void strip_dh(const struct ike_sa *in, struct ike_sa *out)
{
	out->n_prop = in->n_prop;
	out->n_xf = 0;
	for (size_t p = 0; p < in->n_prop; p++) {
		out->prop[p] = in->prop[p];
		out->prop[p].first = (uint16_t)out->n_xf;
		out->prop[p].count = 0;
		for (size_t i = in->prop[p].first;
		     i < (size_t)in->prop[p].first + in->prop[p].count; i++) {
			if (in->xf[i].type == IKE_TRANSFORM_DH)
				continue;
			out->xf[out->n_xf++] = in->xf[i];
			out->prop[p].count++;
		}
	}
}

/* The groups we accept for a Child SA's PFS: the ESP group, then the IKE group (fallback). */
static size_t pfs_groups(const struct ike_peer_config *cfg, uint16_t out[2])
{
	if (cfg->esp.group == 0)
		return 0;
	out[0] = cfg->esp.group;
	if (cfg->ike.group == cfg->esp.group)
		return 1;
	out[1] = cfg->ike.group;
	return 2;
}

static bool group_acceptable(const struct ike_ikesa *sa, enum ike_ccsa_kind kind, uint16_t g)
{
	uint16_t groups[2];
	size_t n;

	if (kind == IKE_CCSA_REKEY_IKE)
		return g == sa->peer->cfg.ike.group;
	n = pfs_groups(&sa->peer->cfg, groups);
	for (size_t i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

/* ---- initiator: requests ---- */

/* Build and send the request sa->ccsa describes (again, after INVALID_KE_PAYLOAD). */
static int ccsa_send(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ccsa *c = &sa->ccsa;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_sa *offer = calloc(1, sizeof(*offer));
	struct ike_ts_list *ts = calloc(2, sizeof(*ts));
	uint8_t spi[IKE_SPI_LEN], pub[IKE_KEX_MAX_PUBLIC], old_spi[4];
	size_t pub_len = 0, len = 0;
	struct ike_build b;
	struct ike_hdr hdr;
	int rc = -ENOMEM;

	if (!offer || !ts)
		goto out;
	if (c->group && (!c->kex || ike_kex_group(c->kex) != c->group)) {
		ike_kex_free(c->kex);
		c->kex = NULL;
		rc = ike_kex_new_gen(sa->eng->kex_gen, c->group, &c->kex);
		if (rc != 0)
			goto out;
	}
	if (c->group) {
		rc = ike_kex_public(c->kex, pub, sizeof(pub), &pub_len);
		if (rc != 0)
			goto out;
	}
	if (c->kind == IKE_CCSA_REKEY_IKE) {
		put64(c->new_sa, spi);
		rc = ike__prop_to_sa(&cfg->ike, PROPOSAL_IKE, spi, IKE_SPI_SIZE_IKE, offer);
	} else {
		uint16_t groups[2];
		size_t ng = pfs_groups(cfg, groups);
		put32(c->spi_in, spi);
		rc = ike__prop_to_sa(&cfg->esp, PROPOSAL_ESP, spi, IKE_SPI_SIZE_CHILD, offer);
		/* PFS: the group we send a KE for first, then the other one we accept. */
		if (rc == 0 && ng)
			rc = ike_sa_add_transform(offer, IKE_TRANSFORM_DH, c->group, 0);
		for (size_t i = 0; rc == 0 && i < ng; i++)
			if (groups[i] != c->group)
				rc = ike_sa_add_transform(offer, IKE_TRANSFORM_DH, groups[i], 0);
	}
	if (rc != 0)
		goto out;
	ike_build_init(&b, &w, NULL);
	if (c->kind == IKE_CCSA_REKEY_CHILD) {
		put32(c->old_spi_in, old_spi);
		ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_REKEY_SA,
							  .proto = IKE_PROTO_ESP,
							  .spi_size = IKE_SPI_SIZE_CHILD,
							  .spi = old_spi});
	}
	ike_build_sa(&b, offer);
	ike_build_nonce(&b, &(struct ike_nonce){c->ni, c->ni_len});
	if (c->group)
		ike_build_ke(&b, &(struct ike_ke){c->group, pub, pub_len});
	if (c->kind != IKE_CCSA_REKEY_IKE) {
		ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, &ts[0]);
		ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, &ts[1]);
		ike_build_ts(&b, IKE_PAYLOAD_TSI, &ts[0]);
		ike_build_ts(&b, IKE_PAYLOAD_TSR, &ts[1]);
	}
	rc = ike_build_finish(&b, &len);
	if (rc == 0)
		rc = ike__request_hdr(sa, IKE_EXCH_CREATE_CHILD_SA, &hdr);
	if (rc == 0)
		rc = ike__request_send_sk(sa, &hdr, ike_build_first(&b), eng->chain, len);
out:
	free(offer);
	free(ts);
	return rc;
}

/* Start a CREATE_CHILD_SA request of a kind: fresh nonce, new SPI (or new IKE SA), KE. */
static int ccsa_start(struct ike_ikesa *sa, enum ike_ccsa_kind kind, uint32_t old_spi_in)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ccsa *c = &sa->ccsa;
	struct ike_ikesa *n;
	int rc;

	ike__ccsa_clear(sa);
	c->kind = kind;
	c->old_spi_in = old_spi_in;
	c->ni_len = IKE_NONCE_LEN;
	rc = ike__random(eng, c->ni, c->ni_len);
	if (rc == 0 && kind == IKE_CCSA_REKEY_IKE) {
		c->group = cfg->ike.group;
		rc = ike__sa_new(eng, sa->peer, true, &n);
		if (rc == 0) {
			n->local = sa->local;
			ike__sa_set_remote(n, &sa->remote);
			c->new_sa = ike__sa_handle(n);
		}
	} else if (rc == 0) {
		c->group = cfg->esp.group;
		rc = child_spi_new(eng, &c->spi_in);
		if (rc == 0 && (rc = ike__child_spi_hold(eng, c->spi_in)) != 0)
			c->spi_in = 0;
	}
	if (rc == 0)
		rc = ccsa_send(sa);
	if (rc != 0) {
		drop_new_sa(sa);
		ike__ccsa_clear(sa);
		return rc;
	}
	LOG_INFO(IKE, "CREATE_CHILD_SA request sent",
		 "tunnel=%s sa=%016" PRIx64 " kind=%s rekeys=%08" PRIx32 " pfs=%u", cfg->name,
		 ike__sa_handle(sa),
		 kind == IKE_CCSA_REKEY_IKE     ? "rekey-ike"
		 : kind == IKE_CCSA_REKEY_CHILD ? "rekey-child"
						: "new-child",
		 old_spi_in, (unsigned)c->group);
	return 0;
}

/* ---- the work queue ---- */

/* Turn due lifetimes into queued work, and rewind the timers that fired (so that
 * ike_next_timer_ms never stays in the past while the window is busy). */
static void lifetimes_due(struct ike_ikesa *sa, uint64_t now)
{
	for (struct ike_child *c = sa->children; c; c = c->next) {
		if (c->state == IKE_CHILD_DELETING || now < c->expire_at) {
			if (c->state == IKE_CHILD_INSTALLED && now >= c->rekey_at) {
				c->rekey_wanted = true;
				c->rekey_at = UINT64_MAX;
			}
			continue;
		}
		/* Hard lifetime of a pair never rekeyed, or a replaced pair the peer never
		 * deleted: delete it ourselves. */
		c->delete_wanted = true;
		c->down_reason = c->state == IKE_CHILD_REKEYED ? IKE_CHILD_DOWN_REKEYED
							       : IKE_CHILD_DOWN_DELETED;
		c->expire_at = UINT64_MAX;
		c->rekey_at = UINT64_MAX;
	}
	if (sa->state == IKE_STATE_ESTABLISHED && now >= sa->rekey_at) {
		sa->rekey_wanted = true;
		sa->rekey_at = UINT64_MAX;
	}
	/* §2.2: message IDs must not wrap; rekey well before they run out, either side's. */
	if (sa->state == IKE_STATE_ESTABLISHED && sa->ccsa.kind != IKE_CCSA_REKEY_IKE &&
	    (sa->msgid_next >= IKE_MSGID_END - MSGID_REKEY_MARGIN ||
	     sa->msgid_peer_next >= IKE_MSGID_END - MSGID_REKEY_MARGIN))
		sa->rekey_wanted = true;
	if (sa->state == IKE_STATE_REKEYED && now >= sa->deadline) {
		sa->delete_wanted = true; /* the peer never deleted it */
		sa->deadline = UINT64_MAX;
	}
}

static struct ike_child *child_wanting(const struct ike_ikesa *sa, bool rekey)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (rekey ? c->rekey_wanted && c->state == IKE_CHILD_INSTALLED : c->delete_wanted)
			return c;
	return NULL;
}

/* A queued request could not start: say so once and do not spin on it. */
static void kick_failed(struct ike_ikesa *sa, const char *what, int rc)
{
	struct ike_engine *eng = sa->eng;

	LOG_WARN(IKE, "could not start request", "tunnel=%s sa=%016" PRIx64 " what=%s err=\"%s\"",
		 sa->peer->cfg.name, ike__sa_handle(sa), what, sdw_strerror(rc));
	if (rc == -ERANGE)
		ike__event(eng, sa, IKE_EVENT_REKEY_NEEDED, phase, 0,
			   "message IDs exhausted (2^32 requests): the IKE SA must be rekeyed");
	sa->retry_at = ike__now(eng) + REFUSED_RETRY_MS;
}

void ike__sa_kick(struct ike_ikesa *sa)
{
	uint64_t now = ike__now(sa->eng);
	struct ike_child *c;
	int rc;

	if (sa->state != IKE_STATE_ESTABLISHED && sa->state != IKE_STATE_REKEYED)
		return;
	lifetimes_due(sa, now);
	if (sa->req_pending)
		return;
	if (sa->delete_wanted) {
		sa->delete_wanted = false;
		rc = ike__info_request_send_delete(sa, true);
		if (rc != 0)
			ike__sa_fail(sa, "INFORMATIONAL", 0, "could not send our Delete: %s",
				     sdw_strerror(rc));
		return;
	}
	if (sa->state != IKE_STATE_ESTABLISHED)
		return;
	if (child_wanting(sa, false)) {
		rc = ike__info_request_send_delete(sa, false);
		if (rc != 0)
			kick_failed(sa, "delete-child", rc);
		return;
	}
	if (now < sa->retry_at)
		return;
	if (sa->rekey_wanted) {
		sa->rekey_wanted = false;
		rc = ccsa_start(sa, IKE_CCSA_REKEY_IKE, 0);
		if (rc != 0)
			kick_failed(sa, "rekey-ike", rc);
	} else if ((c = child_wanting(sa, true))) {
		c->rekey_wanted = false;
		rc = ccsa_start(sa, IKE_CCSA_REKEY_CHILD, c->spi_in);
		if (rc != 0)
			kick_failed(sa, "rekey-child", rc);
	} else if (sa->create_wanted) {
		sa->create_wanted--;
		rc = ccsa_start(sa, IKE_CCSA_NEW_CHILD, 0);
		if (rc != 0)
			kick_failed(sa, "new-child", rc);
	}
}

uint64_t ike__child_next_timer(const struct ike_ikesa *sa)
{
	uint64_t next = UINT64_MAX;

	if (sa->state != IKE_STATE_ESTABLISHED)
		return next;
	for (const struct ike_child *c = sa->children; c; c = c->next) {
		if (c->state == IKE_CHILD_INSTALLED && c->rekey_at < next)
			next = c->rekey_at;
		if (c->state != IKE_CHILD_DELETING && c->expire_at < next)
			next = c->expire_at;
	}
	if (sa->rekey_at < next)
		next = sa->rekey_at;
	/* Queued work waiting out a TEMPORARY_FAILURE backoff. */
	if ((sa->rekey_wanted || sa->create_wanted || child_wanting(sa, true)) &&
	    !sa->req_pending && sa->retry_at < next)
		next = sa->retry_at;
	return next;
}

/* ---- initiator: responses ---- */

/* The peer's answer refused our request: report, and settle a collision in the peer's favour. */
static void ccsa_refused(struct ike_ikesa *sa, uint16_t notify, const char *why)
{
	struct ike_ccsa *c = &sa->ccsa;
	enum ike_ccsa_kind kind = c->kind;

	LOG_NOTICE(IKE, "CREATE_CHILD_SA refused", "tunnel=%s sa=%016" PRIx64 " reason=\"%s\"",
		   sa->peer->cfg.name, ike__sa_handle(sa), why);
	if (kind == IKE_CCSA_NEW_CHILD) {
		ike__event(sa->eng, sa, IKE_EVENT_CHILD_FAILED, phase, notify, why);
	} else {
		child_event(sa, IKE_EVENT_REKEY_FAILED, c->old_spi_in, 0, 0, 0, notify, why);
		/* No new rekey for a while (a message-ID driven one would ask again at once); a
		 * pair the peer lacks is replaced at once. */
		if (notify != IKE_N_CHILD_SA_NOT_FOUND)
			sa->retry_at = ike__now(sa->eng) + REFUSED_RETRY_MS;
		if (kind == IKE_CCSA_REKEY_IKE && !c->collided)
			sa->rekey_at = ike__now(sa->eng) + REFUSED_RETRY_MS;
		struct ike_child *old = kind == IKE_CCSA_REKEY_CHILD && !c->collided
						? ike__child_find(sa, c->old_spi_in, false)
						: NULL;
		if (old && old->state == IKE_CHILD_INSTALLED)
			old->rekey_at = ike__now(sa->eng) + REFUSED_RETRY_MS;
	}
	ccsa_abandon(sa);
}

/* TEMPORARY_FAILURE (§2.25): try again after a short random delay, unless the SA we wanted to
 * rekey is gone or the peer rekeyed it meanwhile. */
static void ccsa_temporary_failure(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;
	struct ike_ccsa *c = &sa->ccsa;

	eng->stats.temporary_failures_received++;
	if (!c->target_gone && !c->collided) {
		struct ike_child *old = ike__child_find(sa, c->old_spi_in, false);
		if (c->kind == IKE_CCSA_REKEY_IKE)
			sa->rekey_wanted = true;
		else if (c->kind == IKE_CCSA_NEW_CHILD)
			sa->create_wanted++;
		else if (old && old->state == IKE_CHILD_INSTALLED)
			old->rekey_wanted = true;
		sa->retry_at = ike__now(eng) + RETRY_MIN_MS + random_u32(eng) % RETRY_SPREAD_MS;
	}
	LOG_INFO(IKE, "CREATE_CHILD_SA: peer answered TEMPORARY_FAILURE",
		 "tunnel=%s sa=%016" PRIx64 " retry=%s", sa->peer->cfg.name, ike__sa_handle(sa),
		 c->target_gone || c->collided ? "no (settled by the peer)" : "yes");
	ccsa_abandon(sa);
}

/* INVALID_KE_PAYLOAD: repeat once with the group the peer names, if it is one we accept. */
static void ccsa_invalid_ke(struct ike_ikesa *sa, const struct ike_notify *n)
{
	struct ike_ccsa *c = &sa->ccsa;
	char why[WHY_MAX], a[24], b[24];
	uint16_t want = n->len == 2 ? (uint16_t)(n->data[0] << 8 | n->data[1]) : 0;

	if (want && want != c->group && c->ke_rounds < KE_ROUNDS &&
	    group_acceptable(sa, c->kind, want)) {
		c->ke_rounds++;
		c->group = want;
		LOG_INFO(IKE, "CREATE_CHILD_SA repeated with the peer's KE group",
			 "tunnel=%s sa=%016" PRIx64 " group=%s", sa->peer->cfg.name,
			 ike__sa_handle(sa), ike__xform_name(IKE_TRANSFORM_DH, want, 0, a));
		int rc = ccsa_send(sa);
		if (rc == 0)
			return;
		snprintf(why, sizeof(why), "could not repeat CREATE_CHILD_SA with group %s: %s",
			 ike__xform_name(IKE_TRANSFORM_DH, want, 0, a), sdw_strerror(rc));
	} else {
		snprintf(why, sizeof(why),
			 "responder requires %s for the %s key exchange; we sent %s and accept "
			 "no other: configure the same %s group on both sides",
			 want ? ike__xform_name(IKE_TRANSFORM_DH, want, 0, a) : "an unnamed group",
			 c->kind == IKE_CCSA_REKEY_IKE ? "IKE SA rekey" : "Child SA (PFS)",
			 ike__xform_name(IKE_TRANSFORM_DH, c->group, 0, b),
			 c->kind == IKE_CCSA_REKEY_IKE ? "IKE" : "ESP");
	}
	ccsa_refused(sa, IKE_N_INVALID_KE_PAYLOAD, why);
}

/* An error notify in the response. */
static void ccsa_error(struct ike_ikesa *sa, uint16_t err)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ccsa *c = &sa->ccsa;
	char why[WHY_MAX], nb[16], mine[PROPOSAL_STRLEN], a[256], b[256];
	struct ike_ts_list *ts = calloc(1, sizeof(*ts));

	switch (err) {
	case IKE_N_NO_PROPOSAL_CHOSEN:
		snprintf(why, sizeof(why),
			 "responder accepted none of our %s proposal %s%s (NO_PROPOSAL_CHOSEN): "
			 "its proposal differs; its log names the parameter",
			 c->kind == IKE_CCSA_REKEY_IKE ? "IKE" : "ESP",
			 c->kind == IKE_CCSA_REKEY_IKE
				 ? proposal_format(&cfg->ike, PROPOSAL_IKE, mine)
				 : proposal_format(&cfg->esp, PROPOSAL_ESP, mine),
			 c->kind != IKE_CCSA_REKEY_IKE && c->group ? " with PFS" : "");
		break;
	case IKE_N_TS_UNACCEPTABLE:
		a[0] = b[0] = '\0';
		if (ts) {
			ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, ts);
			ike__ts_format(ts, a, sizeof(a));
			ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, ts);
			ike__ts_format(ts, b, sizeof(b));
		}
		snprintf(why, sizeof(why),
			 "responder refused our traffic selectors TSi=%s TSr=%s (TS_UNACCEPTABLE): "
			 "they are outside its configuration for us",
			 a, b);
		break;
	case IKE_N_CHILD_SA_NOT_FOUND: {
		/* §2.25: the peer has no such pair; ours is useless, replace it. */
		struct ike_child *old = ike__child_find(sa, c->old_spi_in, false);
		snprintf(why, sizeof(why),
			 "responder has no Child SA %08" PRIx32 " to rekey (CHILD_SA_NOT_FOUND)",
			 c->old_spi_in);
		if (old && !c->collided && old->state == IKE_CHILD_INSTALLED) {
			ike__child_remove(sa, old, IKE_CHILD_DOWN_PEER_DELETED);
			sa->create_wanted++;
		}
		break;
	}
	default:
		snprintf(why, sizeof(why), "responder refused CREATE_CHILD_SA with %s",
			 ike__notify_name(err, nb));
		break;
	}
	free(ts);
	ccsa_refused(sa, err, why);
}

/* The payloads of a CREATE_CHILD_SA message. */
struct ccsa_payloads {
	struct ike_sa sa;
	struct ike_nonce nonce;
	struct ike_ke ke;
	bool has_ke, has_ts, has_rekey;
	struct ike_notify rekey;
	struct ike_ts_list tsi, tsr;
};

/* Parse SA, Nonce, and what is present of KE, TSi/TSr, REKEY_SA; the first malformed or missing
 * one's name, or NULL. */
static const char *ccsa_parse(const struct ike_payloads *pls, bool response,
			      struct ccsa_payloads *cp)
{
	const struct ike_payload *sa_pl = ike__payload_find(pls, IKE_PAYLOAD_SA);
	const struct ike_payload *n_pl = ike__payload_find(pls, IKE_PAYLOAD_NONCE);
	const struct ike_payload *ke_pl = ike__payload_find(pls, IKE_PAYLOAD_KE);
	const struct ike_payload *tsi = ike__payload_find(pls, IKE_PAYLOAD_TSI);
	const struct ike_payload *tsr = ike__payload_find(pls, IKE_PAYLOAD_TSR);

	if (!sa_pl || ike_sa_parse(sa_pl->body, sa_pl->len, response, &cp->sa) != IKE_PARSE_OK)
		return "SA";
	if (!n_pl || ike_nonce_parse(n_pl->body, n_pl->len, &cp->nonce) != IKE_PARSE_OK)
		return "Nonce";
	cp->has_ke = ke_pl != NULL;
	if (ke_pl && ike_ke_parse(ke_pl->body, ke_pl->len, &cp->ke) != IKE_PARSE_OK)
		return "KE";
	cp->has_ts = tsi && tsr;
	if ((tsi != NULL) != (tsr != NULL))
		return tsi ? "TSr" : "TSi";
	if (cp->has_ts && (ike_ts_parse(tsi->body, tsi->len, &cp->tsi) != IKE_PARSE_OK ||
			   ike_ts_parse(tsr->body, tsr->len, &cp->tsr) != IKE_PARSE_OK))
		return "TSi/TSr";
	cp->has_rekey = ike__notify_find(pls, IKE_N_REKEY_SA, &cp->rekey);
	if (cp->has_rekey &&
	    (cp->rekey.proto != IKE_PROTO_ESP || cp->rekey.spi_size != IKE_SPI_SIZE_CHILD))
		return "REKEY_SA";
	return NULL;
}

/* Our Child SA request answered with SA, Nr, [KEr], TSi, TSr: check, key, install, and settle
 * the rekey (§1.3.3) or its collision (§2.8.1). Returns 0 or -EINVAL with why. */
static int child_response(struct ike_ikesa *sa, struct ccsa_payloads *cp, char *why, size_t cap)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ccsa *c = &sa->ccsa;
	struct ike_ts_list *sent = calloc(1, sizeof(*sent));
	struct ike_sa *nodh = calloc(1, sizeof(*nodh));
	uint8_t shared[IKE_KEX_MAX_SHARED], low[IKE_NONCE_MAX];
	size_t shared_len = 0;
	bool any_dh;
	int rc = -EINVAL;

	if (!sent || !nodh) {
		rc = -ENOMEM;
		snprintf(why, cap, "out of memory");
		goto out;
	}
	if (!cp->has_ts) {
		snprintf(why, cap, "responder's answer lacks TSi/TSr");
		goto out;
	}
	strip_dh(&cp->sa, nodh);
	if (!ike__prop_check_response(nodh, &cfg->esp, PROPOSAL_ESP, why, cap))
		goto out;
	bool has = prop_has_group(&cp->sa, &cp->sa.prop[0], c->group, &any_dh);
	if (c->group ? !has || !cp->has_ke || cp->ke.group != c->group : any_dh) {
		char g[24];
		snprintf(why, cap, "responder's PFS choice differs from our offer (we sent %s)",
			 c->group ? ike__xform_name(IKE_TRANSFORM_DH, c->group, 0, g) : "no KE");
		goto out;
	}
	const struct ike_proposal *p = &cp->sa.prop[0];
	uint32_t spi_out = p->spi_size == IKE_SPI_SIZE_CHILD ? be32(p->spi) : 0;
	if (spi_out < ESP_SPI_MIN) {
		snprintf(why, cap, "responder's ESP SPI %08" PRIx32 " is reserved", spi_out);
		goto out;
	}
	ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, sent);
	bool ok = ike__ts_subset(&cp->tsi, sent);
	ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, sent);
	if (!ok || !ike__ts_subset(&cp->tsr, sent)) {
		snprintf(why, cap, "responder's selectors exceed what we proposed");
		goto out;
	}
	if (c->group && (rc = kex_shared(c->kex, &cp->ke, shared, &shared_len)) != 0) {
		snprintf(why, cap, "key exchange with the responder's KE failed: %s",
			 sdw_strerror(rc));
		goto out;
	}
	struct child_new cn = {.spi_in = c->spi_in,
			       .spi_out = spi_out,
			       .initiated = true,
			       .ni = c->ni,
			       .ni_len = c->ni_len,
			       .nr = cp->nonce.data,
			       .nr_len = cp->nonce.len,
			       .shared = c->group ? shared : NULL,
			       .shared_len = shared_len,
			       .local = &cp->tsi,
			       .remote = &cp->tsr,
			       .rekeyed_spi_in =
				       c->kind == IKE_CCSA_REKEY_CHILD ? c->old_spi_in : 0};
	rc = child_install(sa, &cn);
	if (rc != 0) {
		snprintf(why, cap, "Child SA keys: %s", sdw_strerror(rc));
		goto out;
	}
	if (c->kind != IKE_CCSA_REKEY_CHILD)
		goto out;
	struct ike_child *old = ike__child_find(sa, c->old_spi_in, false);
	struct ike_child *mine = ike__child_find(sa, c->spi_in, false);
	sa->eng->stats.child_rekeys++;
	child_event(sa, IKE_EVENT_CHILD_REKEYED, c->old_spi_in, old ? old->spi_out : 0, c->spi_in,
		    spi_out, 0, "rekeyed (we initiated)");
	size_t low_len = nonce_min(c->ni, c->ni_len, cp->nonce.data, cp->nonce.len, low);
	if (c->collided && nonce_cmp(low, low_len, c->peer_low, c->peer_low_len) < 0) {
		/* §2.8.1: our exchange holds the lowest nonce: our new pair is redundant. The
		 * peer's pair stays and the peer deletes the old one. */
		sa->eng->stats.rekey_collisions++;
		LOG_NOTICE(IKE, "Child SA rekey collision lost",
			   "tunnel=%s sa=%016" PRIx64 " redundant=%08" PRIx32 " kept=%08" PRIx32,
			   cfg->name, ike__sa_handle(sa), c->spi_in, c->peer_spi_in);
		if (mine) {
			mine->delete_wanted = true;
			mine->down_reason = IKE_CHILD_DOWN_REDUNDANT;
		}
		goto out;
	}
	if (c->collided) {
		sa->eng->stats.rekey_collisions++;
		LOG_NOTICE(IKE, "Child SA rekey collision won",
			   "tunnel=%s sa=%016" PRIx64 " kept=%08" PRIx32 " redundant=%08" PRIx32,
			   cfg->name, ike__sa_handle(sa), c->spi_in, c->peer_spi_in);
	}
	/* We won, or there was no collision: the old pair goes (make-before-break: the new one is
	 * installed already). */
	if (old) {
		old->state = old->state == IKE_CHILD_DELETING ? old->state : IKE_CHILD_REKEYED;
		old->delete_wanted = old->state != IKE_CHILD_DELETING;
		old->down_reason = IKE_CHILD_DOWN_REKEYED;
	}
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	free(sent);
	free(nodh);
	return rc;
}

/* Our IKE SA rekey answered with SA(SPIr), Nr, KEr (§1.3.2). */
static int ike_response(struct ike_ikesa *sa, struct ccsa_payloads *cp, char *why, size_t cap)
{
	struct ike_engine *eng = sa->eng;
	struct ike_ccsa *c = &sa->ccsa;
	struct ike_ikesa *n = ike__sa_by_handle(eng, c->new_sa);
	uint8_t shared[IKE_KEX_MAX_SHARED], low[IKE_NONCE_MAX];
	size_t shared_len = 0;
	int rc = -EINVAL;

	if (!n || n->state != IKE_STATE_IDLE) {
		snprintf(why, cap, "our new IKE SA is gone");
		goto out;
	}
	if (!ike__prop_check_response(&cp->sa, &sa->peer->cfg.ike, PROPOSAL_IKE, why, cap))
		goto out;
	const struct ike_proposal *p = &cp->sa.prop[0];
	uint64_t spi_r = 0;
	for (size_t i = 0; i < p->spi_size; i++)
		spi_r = spi_r << 8 | p->spi[i];
	if (p->spi_size != IKE_SPI_SIZE_IKE || spi_r == 0 || !cp->has_ke ||
	    cp->ke.group != c->group) {
		snprintf(why, cap, "responder's new IKE SPI or KE payload is missing or wrong");
		goto out;
	}
	rc = kex_shared(c->kex, &cp->ke, shared, &shared_len);
	if (rc != 0) {
		snprintf(why, cap, "key exchange with the responder's KE failed: %s",
			 sdw_strerror(rc));
		goto out;
	}
	n->spi_r = spi_r;
	memcpy(n->ni, c->ni, c->ni_len);
	n->ni_len = c->ni_len;
	memcpy(n->nr, cp->nonce.data, cp->nonce.len);
	n->nr_len = cp->nonce.len;
	n->nat_local = sa->nat_local;
	n->nat_remote = sa->nat_remote;
	n->peer_frag = sa->peer_frag;
	rc = ike_rekey_keys(sa, n, shared, shared_len);
	if (rc != 0) {
		snprintf(why, cap, "new IKE SA keys: %s", sdw_strerror(rc));
		goto out;
	}
	ike__sa_set_state(n, IKE_STATE_ESTABLISHED, "rekeyed IKE SA (we initiated)");
	size_t low_len = nonce_min(c->ni, c->ni_len, cp->nonce.data, cp->nonce.len, low);
	struct ike_ikesa *peer_new = c->collided ? ike__sa_by_handle(eng, c->peer_sa) : NULL;
	if (peer_new && peer_new->state == IKE_STATE_ESTABLISHED) {
		eng->stats.rekey_collisions++;
		if (nonce_cmp(low, low_len, c->peer_low, c->peer_low_len) < 0) {
			/* §2.8.2: ours is redundant: delete it; the peer deletes the old SA. */
			LOG_NOTICE(IKE, "IKE SA rekey collision lost",
				   "tunnel=%s redundant=%016" PRIx64 " kept=%016" PRIx64,
				   sa->peer->cfg.name, ike__sa_handle(n), ike__sa_handle(peer_new));
			n->delete_wanted = true;
			ike_rekey_finish(sa, peer_new, false);
			ike__sa_kick(n);
			goto out;
		}
		LOG_NOTICE(IKE, "IKE SA rekey collision won",
			   "tunnel=%s kept=%016" PRIx64 " redundant=%016" PRIx64,
			   sa->peer->cfg.name, ike__sa_handle(n), ike__sa_handle(peer_new));
		/* The peer deletes its redundant SA; if it does not, we do after the linger. */
		ike__sa_set_state(peer_new, IKE_STATE_REKEYED, "redundant IKE SA of a collision");
	}
	ike_rekey_finish(sa, n, true);
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	return rc;
}

void ike__child_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls)
{
	struct ike_ccsa *c = &sa->ccsa;
	struct ccsa_payloads *cp = NULL;
	struct ike_notify n;
	char why[WHY_MAX];
	uint16_t err;
	int rc;

	if (c->kind == IKE_CCSA_NONE)
		return;
	if (ike__notify_find(pls, IKE_N_INVALID_KE_PAYLOAD, &n)) {
		ccsa_invalid_ke(sa, &n);
		return;
	}
	if (ike__notify_find(pls, IKE_N_TEMPORARY_FAILURE, &n)) {
		ccsa_temporary_failure(sa);
		return;
	}
	err = ike__notify_error(pls);
	if (err) {
		ccsa_error(sa, err);
		return;
	}
	cp = calloc(1, sizeof(*cp));
	const char *bad = cp ? ccsa_parse(pls, true, cp) : "memory";
	if (bad) {
		snprintf(why, sizeof(why), "responder's CREATE_CHILD_SA answer lacks a valid %s",
			 bad);
		rc = -EINVAL;
	} else if (c->kind == IKE_CCSA_REKEY_IKE) {
		rc = ike_response(sa, cp, why, sizeof(why));
	} else {
		rc = child_response(sa, cp, why, sizeof(why));
	}
	free(cp);
	if (rc != 0) {
		ccsa_refused(sa, 0, why);
		return;
	}
	ike__ccsa_clear(sa);
}

/* ---- responder ---- */

/* Answer with one notify (with data: INVALID_KE_PAYLOAD's group). */
static void respond_notify(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint16_t type,
			   const uint8_t *data, size_t len, const struct ike_endpoint *from,
			   const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_build b;
	size_t clen;

	ike_build_init(&b, &w, NULL);
	ike_build_notify(&b, &(struct ike_notify){.type = type, .data = data, .len = len});
	if (ike_build_finish(&b, &clen) != 0 ||
	    ike__response_send_sk(sa, hdr, ike_build_first(&b), eng->chain, clen, from, to) != 0)
		LOG_WARN(IKE, "could not answer CREATE_CHILD_SA", "tunnel=%s", sa->peer->cfg.name);
	if (type == IKE_N_TEMPORARY_FAILURE)
		eng->stats.temporary_failures_sent++;
	else if (type == IKE_N_NO_PROPOSAL_CHOSEN)
		eng->stats.no_proposal_sent++;
	else if (type == IKE_N_INVALID_KE_PAYLOAD)
		eng->stats.invalid_ke_sent++;
}

/* Refuse a request, telling the operator why (post-authentication: not rate-limited). */
static void refuse(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint16_t type, bool rekey,
		   const uint8_t *data, size_t len, const struct ike_endpoint *from,
		   const struct ike_endpoint *to, const char *why)
{
	char nb[16];

	respond_notify(sa, hdr, type, data, len, from, to);
	/* Both are steps of a negotiation that goes on, not failures to report. */
	if (type == IKE_N_TEMPORARY_FAILURE || type == IKE_N_INVALID_KE_PAYLOAD) {
		LOG_INFO(IKE, "CREATE_CHILD_SA answered with a retry hint",
			 "tunnel=%s sa=%016" PRIx64 " reason=\"%s\"", sa->peer->cfg.name,
			 ike__sa_handle(sa), why);
		return;
	}
	LOG_NOTICE(IKE, "CREATE_CHILD_SA refused",
		   "tunnel=%s sa=%016" PRIx64 " notify=%s reason=\"%s\"", sa->peer->cfg.name,
		   ike__sa_handle(sa), ike__notify_name(type, nb), why);
	ike__event(sa->eng, sa, rekey ? IKE_EVENT_REKEY_FAILED : IKE_EVENT_CHILD_FAILED, phase,
		   type, why);
}

/* What the responder decided about a Child SA request. */
struct child_answer {
	uint16_t notify; /* 0: accepted */
	uint8_t notify_data[2];
	size_t notify_len;
	uint8_t prop_num;
	uint32_t spi_out;
	uint16_t group; /* PFS group, 0 without */
	struct ike_ts_list tsi, tsr;
	char why[WHY_MAX];
};

/* The ESP proposal and PFS group we accept from an offer, or the refusal and its reason. */
static void answer_proposal(const struct ike_ikesa *sa, const struct ccsa_payloads *cp,
			    struct child_answer *ca)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	uint16_t ours = cfg->esp.group;
	struct ike_sa *pfs_ok = calloc(1, sizeof(*pfs_ok));
	char a[24], b[24];
	bool any_dh;

	ca->notify = IKE_N_NO_PROPOSAL_CHOSEN;
	if (!pfs_ok) {
		snprintf(ca->why, sizeof(ca->why), "out of memory");
		return;
	}
	/* Keep only the proposals whose DH part we accept, then match the rest as usual. */
	*pfs_ok = cp->sa;
	pfs_ok->n_prop = 0;
	for (size_t i = 0; i < cp->sa.n_prop; i++) {
		/* With a group: it must be offered. Without: no group, or NONE among them. */
		bool has_ours = prop_has_group(&cp->sa, &cp->sa.prop[i], ours, &any_dh);
		bool accept = ours ? has_ours : !any_dh || has_ours;
		if (accept)
			pfs_ok->prop[pfs_ok->n_prop++] = cp->sa.prop[i];
	}
	int i = ike__prop_select(pfs_ok, &cfg->esp, PROPOSAL_ESP);
	if (i < 0) {
		int any = ike__prop_select(&cp->sa, &cfg->esp, PROPOSAL_ESP);
		if (any < 0)
			ike__prop_explain(&cp->sa, &cfg->esp, PROPOSAL_ESP, ca->why,
					  sizeof(ca->why));
		else if (ours)
			snprintf(ca->why, sizeof(ca->why),
				 "peer's ESP proposal does not offer PFS with %s, which this "
				 "tunnel requires",
				 ike__xform_name(IKE_TRANSFORM_DH, ours, 0, a));
		else
			snprintf(
				ca->why, sizeof(ca->why),
				"peer requires PFS (a DH group in its ESP proposal); this tunnel's "
				"ESP proposal has no group: add the same group on both sides");
		goto out;
	}
	const struct ike_proposal *p = &pfs_ok->prop[i];
	ca->spi_out = p->spi_size == IKE_SPI_SIZE_CHILD ? be32(p->spi) : 0;
	if (ca->spi_out < ESP_SPI_MIN) {
		snprintf(ca->why, sizeof(ca->why), "peer's ESP SPI %08" PRIx32 " is reserved",
			 ca->spi_out);
		goto out;
	}
	if (ours && (!cp->has_ke || cp->ke.group != ours)) {
		/* §1.3: the KE must be of the chosen group; tell the initiator which. */
		ca->notify = IKE_N_INVALID_KE_PAYLOAD;
		ca->notify_data[0] = (uint8_t)(ours >> 8);
		ca->notify_data[1] = (uint8_t)ours;
		ca->notify_len = 2;
		snprintf(ca->why, sizeof(ca->why), "peer sent its PFS KE for %s; we require %s",
			 cp->has_ke ? ike__xform_name(IKE_TRANSFORM_DH, cp->ke.group, 0, a)
				    : "none",
			 ike__xform_name(IKE_TRANSFORM_DH, ours, 0, b));
		goto out;
	}
	ca->notify = 0;
	ca->prop_num = p->num;
	ca->group = ours;
out:
	free(pfs_ok);
}

/* Narrow the selectors (§2.9), or TS_UNACCEPTABLE naming both sides' views. */
static void answer_ts(const struct ike_ikesa *sa, const struct ccsa_payloads *cp,
		      struct child_answer *ca)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ts_list *mine = calloc(1, sizeof(*mine));
	char a[256], b[256], c[256], d[256];

	/* TSi is the initiator's (our remote) side, TSr ours. */
	bool ok = ike__ts_narrow(&cp->tsi, cfg->remote_ts, cfg->n_remote_ts, &ca->tsi);
	if (ok && ike__ts_narrow(&cp->tsr, cfg->local_ts, cfg->n_local_ts, &ca->tsr))
		goto out;
	ca->notify = IKE_N_TS_UNACCEPTABLE;
	if (!mine) {
		snprintf(ca->why, sizeof(ca->why), "peer's selectors are outside ours");
		goto out;
	}
	ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, mine);
	ike__ts_format(mine, c, sizeof(c));
	ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, mine);
	snprintf(ca->why, sizeof(ca->why),
		 "peer proposed TSi=%s TSr=%s; our configuration allows remote %s and local %s, "
		 "and they do not overlap",
		 ike__ts_format(&cp->tsi, a, sizeof(a)), ike__ts_format(&cp->tsr, b, sizeof(b)), c,
		 ike__ts_format(mine, d, sizeof(d)));
out:
	free(mine);
}

/* SA (chosen, our SPI, [group]), Nr, [KEr], TSi, TSr into eng->chain. */
static int child_answer_chain(struct ike_ikesa *sa, const struct child_answer *ca, uint32_t spi_in,
			      const uint8_t *nr, size_t nr_len, const struct ike_kex *kex,
			      size_t *len, uint8_t *first)
{
	struct ike_engine *eng = sa->eng;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_sa *chosen = calloc(1, sizeof(*chosen));
	uint8_t spi[4], pub[IKE_KEX_MAX_PUBLIC];
	size_t pub_len = 0;
	struct ike_build b;
	int rc = -ENOMEM;

	if (!chosen)
		return rc;
	put32(spi_in, spi);
	rc = ike__prop_to_sa(&sa->peer->cfg.esp, PROPOSAL_ESP, spi, sizeof(spi), chosen);
	if (rc == 0 && ca->group)
		rc = ike_sa_add_transform(chosen, IKE_TRANSFORM_DH, ca->group, 0);
	if (rc == 0 && kex)
		rc = ike_kex_public(kex, pub, sizeof(pub), &pub_len);
	if (rc == 0) {
		chosen->prop[0].num = ca->prop_num;
		ike_build_init(&b, &w, NULL);
		ike_build_sa(&b, chosen);
		ike_build_nonce(&b, &(struct ike_nonce){nr, nr_len});
		if (kex)
			ike_build_ke(&b, &(struct ike_ke){ca->group, pub, pub_len});
		ike_build_ts(&b, IKE_PAYLOAD_TSI, &ca->tsi);
		ike_build_ts(&b, IKE_PAYLOAD_TSR, &ca->tsr);
		rc = ike_build_finish(&b, len);
		*first = ike_build_first(&b);
	}
	free(chosen);
	return rc;
}

/* A new or rekeyed Child SA, as responder. target: the pair being rekeyed, or NULL. */
static void responder_child(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			    const struct ccsa_payloads *cp, struct ike_child *target,
			    const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	struct child_answer *ca = calloc(1, sizeof(*ca));
	struct ike_kex *kex = NULL;
	uint8_t nr[IKE_NONCE_LEN], shared[IKE_KEX_MAX_SHARED];
	size_t shared_len = 0, len = 0;
	uint8_t first = IKE_PAYLOAD_NONE;
	uint32_t spi_in = 0;
	int rc;

	if (!ca)
		return;
	answer_proposal(sa, cp, ca);
	if (ca->notify == 0)
		answer_ts(sa, cp, ca);
	if (ca->notify) {
		refuse(sa, hdr, ca->notify, target != NULL, ca->notify_data, ca->notify_len, from,
		       to, ca->why);
		goto out;
	}
	rc = ike__random(eng, nr, sizeof(nr));
	if (rc == 0)
		rc = child_spi_new(eng, &spi_in);
	if (rc == 0 && ca->group) {
		rc = ike_kex_new_gen(eng->kex_gen, ca->group, &kex);
		if (rc == 0 && kex_shared(kex, &cp->ke, shared, &shared_len) != 0) {
			snprintf(ca->why, sizeof(ca->why),
				 "peer's PFS KE data is not a valid %u key", (unsigned)ca->group);
			refuse(sa, hdr, IKE_N_INVALID_SYNTAX, target != NULL, NULL, 0, from, to,
			       ca->why);
			goto out;
		}
	}
	if (rc == 0)
		rc = child_answer_chain(sa, ca, spi_in, nr, sizeof(nr), kex, &len, &first);
	struct child_new cn = {.spi_in = spi_in,
			       .spi_out = ca->spi_out,
			       .initiated = false,
			       .ni = cp->nonce.data,
			       .ni_len = cp->nonce.len,
			       .nr = nr,
			       .nr_len = sizeof(nr),
			       .shared = ca->group ? shared : NULL,
			       .shared_len = shared_len,
			       .local = &ca->tsr,
			       .remote = &ca->tsi,
			       .rekeyed_spi_in = target ? target->spi_in : 0};
	/* Install before answering: the initiator may use the new pair once it has our answer. */
	if (rc == 0)
		rc = child_install(sa, &cn);
	if (rc == 0)
		rc = ike__response_send_sk(sa, hdr, first, eng->chain, len, from, to);
	if (rc != 0) {
		LOG_WARN(IKE, "could not answer CREATE_CHILD_SA", "tunnel=%s err=\"%s\"",
			 sa->peer->cfg.name, sdw_strerror(rc));
		struct ike_child *c = ike__child_find(sa, spi_in, false);
		if (c)
			ike__child_remove(sa, c, IKE_CHILD_DOWN_DELETED);
		goto out;
	}
	if (!target)
		goto out;
	/* §1.3.3: the initiator deletes the old pair; until then it keeps working. */
	struct ike_ccsa *ours = &sa->ccsa;
	if (ours->kind == IKE_CCSA_REKEY_CHILD && ours->old_spi_in == target->spi_in) {
		/* §2.8.1: our own rekey of it is outstanding; settled when its answer comes. */
		ours->collided = true;
		ours->peer_low_len =
			nonce_min(cp->nonce.data, cp->nonce.len, nr, sizeof(nr), ours->peer_low);
		ours->peer_spi_in = spi_in;
	}
	target->state = IKE_CHILD_REKEYED;
	target->rekey_wanted = false;
	target->down_reason = IKE_CHILD_DOWN_REKEYED;
	target->expire_at = ike__now(eng) + eng->cfg.linger_ms;
	eng->stats.child_rekeys++;
	child_event(sa, IKE_EVENT_CHILD_REKEYED, target->spi_in, target->spi_out, spi_in,
		    ca->spi_out, 0, "rekeyed (the peer initiated)");
out:
	OPENSSL_cleanse(nr, sizeof(nr));
	OPENSSL_cleanse(shared, sizeof(shared));
	ike_kex_free(kex);
	free(ca);
}

/* An IKE SA rekey, as responder (§1.3.2). */
static void responder_ike(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			  const struct ccsa_payloads *cp, const struct ike_endpoint *from,
			  const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_sa *chosen = calloc(1, sizeof(*chosen));
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_ikesa *n = NULL;
	uint8_t shared[IKE_KEX_MAX_SHARED], pub[IKE_KEX_MAX_PUBLIC], spi[IKE_SPI_LEN];
	size_t shared_len = 0, pub_len = 0, len = 0;
	char why[WHY_MAX], a[24], b[24];
	struct ike_build bld;
	int rc;

	if (!chosen)
		return;
	int i = ike__prop_select(&cp->sa, &cfg->ike, PROPOSAL_IKE);
	const struct ike_proposal *p = i >= 0 ? &cp->sa.prop[i] : NULL;
	uint64_t spi_i = 0;
	for (size_t k = 0; p && k < p->spi_size; k++)
		spi_i = spi_i << 8 | p->spi[k];
	if (!p || p->spi_size != IKE_SPI_SIZE_IKE || spi_i == 0) {
		if (!p)
			ike__prop_explain(&cp->sa, &cfg->ike, PROPOSAL_IKE, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "peer's new IKE SPI is missing or zero");
		refuse(sa, hdr, IKE_N_NO_PROPOSAL_CHOSEN, true, NULL, 0, from, to, why);
		goto out;
	}
	if (!cp->has_ke || cp->ke.group != cfg->ike.group) {
		uint8_t data[2] = {(uint8_t)(cfg->ike.group >> 8), (uint8_t)cfg->ike.group};
		snprintf(why, sizeof(why), "peer sent its IKE rekey KE for %s; we require %s",
			 cp->has_ke ? ike__xform_name(IKE_TRANSFORM_DH, cp->ke.group, 0, a)
				    : "none",
			 ike__xform_name(IKE_TRANSFORM_DH, cfg->ike.group, 0, b));
		refuse(sa, hdr, IKE_N_INVALID_KE_PAYLOAD, true, data, sizeof(data), from, to, why);
		goto out;
	}
	rc = ike__sa_new(eng, sa->peer, false, &n);
	if (rc != 0)
		goto fail;
	n->spi_i = spi_i;
	n->local = sa->local;
	ike__sa_set_remote(n, &sa->remote);
	n->nat_local = sa->nat_local;
	n->nat_remote = sa->nat_remote;
	n->peer_frag = sa->peer_frag;
	memcpy(n->ni, cp->nonce.data, cp->nonce.len);
	n->ni_len = cp->nonce.len;
	n->nr_len = IKE_NONCE_LEN;
	rc = ike__random(eng, n->nr, n->nr_len);
	if (rc == 0)
		rc = ike_kex_new_gen(eng->kex_gen, cfg->ike.group, &n->kex);
	if (rc == 0)
		rc = ike_kex_public(n->kex, pub, sizeof(pub), &pub_len);
	if (rc == 0)
		rc = kex_shared(n->kex, &cp->ke, shared, &shared_len);
	ike_kex_free(n->kex);
	n->kex = NULL;
	if (rc == 0)
		rc = ike_rekey_keys(sa, n, shared, shared_len);
	put64(n->spi_r, spi);
	if (rc == 0)
		rc = ike__prop_to_sa(&cfg->ike, PROPOSAL_IKE, spi, sizeof(spi), chosen);
	if (rc != 0)
		goto fail;
	chosen->prop[0].num = p->num;
	ike_build_init(&bld, &w, NULL);
	ike_build_sa(&bld, chosen);
	ike_build_nonce(&bld, &(struct ike_nonce){n->nr, n->nr_len});
	ike_build_ke(&bld, &(struct ike_ke){cfg->ike.group, pub, pub_len});
	rc = ike_build_finish(&bld, &len);
	if (rc == 0)
		rc = ike__response_send_sk(sa, hdr, ike_build_first(&bld), eng->chain, len, from,
					   to);
	if (rc != 0)
		goto fail;
	ike__sa_set_state(n, IKE_STATE_ESTABLISHED, "rekeyed IKE SA (the peer initiated)");
	if (sa->ccsa.kind == IKE_CCSA_REKEY_IKE) {
		/* §2.8.2: ours is outstanding too; the answer to it decides. */
		sa->ccsa.collided = true;
		sa->ccsa.peer_low_len =
			nonce_min(n->ni, n->ni_len, n->nr, n->nr_len, sa->ccsa.peer_low);
		sa->ccsa.peer_sa = ike__sa_handle(n);
		goto out;
	}
	ike_rekey_finish(sa, n, false);
	goto out;
fail:
	LOG_WARN(IKE, "could not answer an IKE SA rekey", "tunnel=%s err=\"%s\"", cfg->name,
		 sdw_strerror(rc));
	if (n)
		ike__sa_set_state(n, IKE_STATE_FAILED, "could not complete the IKE SA rekey");
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	free(chosen);
}

/* Whether sa is the peer's new IKE SA of a rekey collision we have not settled yet: its
 * children may still be on the old SA, so Child SA requests on it must wait. */
static bool unsettled_collision(const struct ike_ikesa *sa)
{
	uint64_t handle = ike__sa_handle(sa);

	for (const struct ike_ikesa *s = sa->eng->sas; s; s = s->next)
		if (s->ccsa.kind == IKE_CCSA_REKEY_IKE && s->ccsa.collided &&
		    s->ccsa.peer_sa == handle)
			return true;
	return false;
}

void ike__child_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
				const struct ike_payloads *pls, const struct ike_endpoint *from,
				const struct ike_endpoint *to)
{
	struct ccsa_payloads *cp = calloc(1, sizeof(*cp));
	enum ike_ccsa_kind ours = sa->ccsa.kind;
	struct ike_child *target = NULL;
	char why[WHY_MAX];

	if (!cp)
		return;
	const char *bad = ccsa_parse(pls, false, cp);
	if (bad) {
		snprintf(why, sizeof(why), "peer's CREATE_CHILD_SA request lacks a valid %s", bad);
		refuse(sa, hdr, IKE_N_INVALID_SYNTAX, false, NULL, 0, from, to, why);
		goto out;
	}
	bool ike = cp->sa.prop[0].proto == IKE_PROTO_IKE;
	if (cp->has_rekey)
		target = ike__child_find(sa, be32(cp->rekey.spi), true);
	/* §2.25: what cannot be done now is TEMPORARY_FAILURE; a pair we lack, CHILD_SA_NOT_FOUND.
	 */
	if (sa->state != IKE_STATE_ESTABLISHED || unsettled_collision(sa)) {
		refuse(sa, hdr, IKE_N_TEMPORARY_FAILURE, true, NULL, 0, from, to,
		       "this IKE SA is being rekeyed or deleted");
	} else if (ike && (ours == IKE_CCSA_NEW_CHILD || ours == IKE_CCSA_REKEY_CHILD)) {
		refuse(sa, hdr, IKE_N_TEMPORARY_FAILURE, true, NULL, 0, from, to,
		       "IKE SA rekey while our Child SA request is outstanding");
	} else if (!ike && ours == IKE_CCSA_REKEY_IKE) {
		refuse(sa, hdr, IKE_N_TEMPORARY_FAILURE, true, NULL, 0, from, to,
		       "Child SA request while our IKE SA rekey is outstanding");
	} else if (ike) {
		responder_ike(sa, hdr, cp, from, to);
	} else if (!cp->has_ts) {
		refuse(sa, hdr, IKE_N_INVALID_SYNTAX, cp->has_rekey, NULL, 0, from, to,
		       "peer's Child SA request lacks TSi/TSr");
	} else if (cp->has_rekey && !target) {
		snprintf(why, sizeof(why),
			 "peer asked to rekey Child SA %08" PRIx32 ", which we lack",
			 be32(cp->rekey.spi));
		refuse(sa, hdr, IKE_N_CHILD_SA_NOT_FOUND, true, NULL, 0, from, to, why);
	} else if (target && target->state != IKE_CHILD_INSTALLED) {
		refuse(sa, hdr, IKE_N_TEMPORARY_FAILURE, true, NULL, 0, from, to,
		       "that Child SA is already rekeyed or being deleted");
	} else {
		responder_child(sa, hdr, cp, target, from, to);
	}
out:
	free(cp);
}

/* ---- API ---- */

/* The established SA with this handle, or NULL with *rc set. */
static struct ike_ikesa *api_sa(struct ike_engine *eng, uint64_t handle, int *rc)
{
	struct ike_ikesa *sa = ike__sa_by_handle(eng, handle);

	*rc = !sa ? -ENOENT : sa->state != IKE_STATE_ESTABLISHED ? -EAGAIN : 0;
	return *rc == 0 ? sa : NULL;
}

int ike_child_create(struct ike_engine *eng, uint64_t handle)
{
	int rc;
	struct ike_ikesa *sa = api_sa(eng, handle, &rc);

	if (!sa)
		return rc;
	if (sa->create_wanted == UINT16_MAX)
		return -EAGAIN;
	sa->create_wanted++;
	ike__sa_kick(sa);
	return 0;
}

int ike_child_rekey(struct ike_engine *eng, uint64_t handle, uint32_t spi_in)
{
	int rc;
	struct ike_ikesa *sa = api_sa(eng, handle, &rc);
	struct ike_child *c = sa ? ike__child_find(sa, spi_in, false) : NULL;

	if (!sa)
		return rc;
	if (!c)
		return -ENOENT;
	if (c->state != IKE_CHILD_INSTALLED || c->delete_wanted ||
	    (sa->ccsa.kind == IKE_CCSA_REKEY_CHILD && sa->ccsa.old_spi_in == spi_in))
		return -EALREADY;
	c->rekey_wanted = true;
	ike__sa_kick(sa);
	return 0;
}

int ike_child_delete(struct ike_engine *eng, uint64_t handle, uint32_t spi_in)
{
	int rc;
	struct ike_ikesa *sa = api_sa(eng, handle, &rc);
	struct ike_child *c = sa ? ike__child_find(sa, spi_in, false) : NULL;

	if (!sa)
		return rc;
	if (!c)
		return -ENOENT;
	if (c->state == IKE_CHILD_DELETING || c->delete_wanted)
		return -EALREADY;
	c->delete_wanted = true;
	c->rekey_wanted = false;
	c->down_reason = IKE_CHILD_DOWN_DELETED;
	ike__sa_kick(sa);
	return 0;
}

int ike_sa_rekey(struct ike_engine *eng, uint64_t handle)
{
	int rc;
	struct ike_ikesa *sa = api_sa(eng, handle, &rc);

	if (!sa)
		return rc;
	if (sa->rekey_wanted || sa->ccsa.kind == IKE_CCSA_REKEY_IKE)
		return -EALREADY;
	sa->rekey_wanted = true;
	ike__sa_kick(sa);
	return 0;
}

int ike_sa_delete(struct ike_engine *eng, uint64_t handle)
{
	struct ike_ikesa *sa = ike__sa_by_handle(eng, handle);

	if (!sa)
		return -ENOENT;
	switch (sa->state) {
	case IKE_STATE_ESTABLISHED:
	case IKE_STATE_REKEYED:
		sa->delete_wanted = true;
		ike__sa_kick(sa);
		return 0;
	case IKE_STATE_DELETING:
	case IKE_STATE_CLOSED:
	case IKE_STATE_FAILED:
		return -EALREADY;
	default:
		/* Not authenticated yet: nothing to tell the peer. */
		ike__sa_fail(sa, "local", 0, "deleted locally before it was established");
		return 0;
	}
}
