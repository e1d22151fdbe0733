/*
 * IKE_SA_INIT, both roles (RFC 7296 §1.2, §2.6, §2.7, §2.10, §2.14, §2.23; RFC 7383 §2.3;
 * RFC 7427 §4).
 *
 *   Initiator                          Responder
 *   HDR, [N(COOKIE),] SAi1, KEi, Ni,
 *        N(NAT_DETECTION_SOURCE_IP),
 *        N(NAT_DETECTION_DESTINATION_IP),
 *        N(FRAGMENTATION_SUPPORTED),
 *        N(SIGNATURE_HASH_ALGORITHMS)  -->
 *                                      <--  HDR, N(COOKIE)                 too many half-open
 *                                      <--  HDR, N(NO_PROPOSAL_CHOSEN)     no acceptable offer
 *                                      <--  HDR, N(INVALID_KE_PAYLOAD)     KEi of another group
 *                                      <--  HDR, SAr1, KEr, Nr, [CERTREQ,] N(NAT_D...), N(FRAG...),
 *                                                N(SIG...)
 *
 * The three refusals keep no state on the responder. The initiator repeats its request with the
 * cookie (same SPIi, nonce and KE, message ID 0); an INVALID_KE_PAYLOAD could only be followed
 * with another group, which our one-group proposal never allows, so it fails naming both.
 *
 * Secrets: the DH private key lives in sa->kex until g^ir is computed and is then freed;
 * g^ir and SKEYSEED live on the stack of derive_keys() and are wiped at its `out:`.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/error.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_natt.h"

static const char phase[] = "IKE_SA_INIT";

/* RFC 7427 §4: the hashes we verify signatures with; IDENTITY (RFC 8420) for Ed25519. */
static const uint8_t sig_hashes[] = {0, IKE_HASH_SHA2_256, 0, IKE_HASH_SHA2_384,
				     0, IKE_HASH_SHA2_512, 0, IKE_HASH_IDENTITY};

/* §2.23: SHA-1(SPIi | SPIr | IP address | port), with the SPIs of the message's header. */
static int natd_hash(uint64_t spi_i, uint64_t spi_r, const struct ike_endpoint *ep,
		     uint8_t out[static IKE_NATD_LEN])
{
	uint8_t buf[2 * IKE_SPI_LEN + 16 + 2];
	struct wr w = wr_init(buf, sizeof(buf));
	unsigned int md_len = 0;

	wr_u64(&w, spi_i);
	wr_u64(&w, spi_r);
	wr_bytes(&w, ep->addr.bytes, ep->addr.family == IP_V6 ? 16 : 4);
	wr_u16(&w, ep->port);
	if (!wr_ok(&w) || EVP_Digest(buf, wr_len(&w), out, &md_len, EVP_sha1(), NULL) != 1 ||
	    md_len != IKE_NATD_LEN)
		return -EIO;
	return 0;
}

/* §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), here an HMAC-SHA-256
 * keyed with the secret and truncated to 16 octets. */
static int cookie_compute(struct ike_engine *eng, uint8_t version, const struct ike_nonce *ni,
			  const struct ike_endpoint *from, uint64_t spi_i,
			  uint8_t out[static IKE_COOKIE_LEN])
{
	uint8_t data[IKE_NONCE_MAX + 16 + IKE_SPI_LEN], mac[IKE_PRF_MAX_LEN];
	struct wr w = wr_init(data, sizeof(data));
	int rc;

	wr_bytes(&w, ni->data, ni->len);
	wr_bytes(&w, from->addr.bytes, from->addr.family == IP_V6 ? 16 : 4);
	wr_u64(&w, spi_i);
	if (!wr_ok(&w))
		return -EINVAL;
	rc = ike_prf(IKE_PRF_HMAC_SHA2_256, eng->cookie_secret, sizeof(eng->cookie_secret), data,
		     wr_len(&w), NULL, 0, mac);
	if (rc == 0) {
		out[0] = version;
		memcpy(out + 1, mac, IKE_COOKIE_LEN - 1);
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

static void build_natd(struct ike_build *b, uint16_t type, const uint8_t hash[static IKE_NATD_LEN])
{
	ike_build_notify(b, &(struct ike_notify){.type = type, .data = hash, .len = IKE_NATD_LEN});
}

/* The status notifies both roles send after SA, KE and nonce. With fake_src (forced NAT-T),
 * the source hash is of the unspecified address and port 0, which matches no real endpoint:
 * the peer concludes we are behind a NAT and floats (strongSwan's encap=yes does the same). */
static int build_status_notifies(struct ike_build *b, uint64_t spi_i, uint64_t spi_r,
				 const struct ike_endpoint *src, const struct ike_endpoint *dst,
				 bool fake_src)
{
	uint8_t h_src[IKE_NATD_LEN], h_dst[IKE_NATD_LEN];
	struct ike_endpoint fake = {.addr = {.family = src->addr.family}};

	if (natd_hash(spi_i, spi_r, fake_src ? &fake : src, h_src) != 0 ||
	    natd_hash(spi_i, spi_r, dst, h_dst) != 0)
		return -EIO;
	build_natd(b, IKE_N_NAT_DETECTION_SOURCE_IP, h_src);
	build_natd(b, IKE_N_NAT_DETECTION_DESTINATION_IP, h_dst);
	ike_build_notify(b, &(struct ike_notify){.type = IKE_N_FRAGMENTATION_SUPPORTED});
	ike_build_notify(b, &(struct ike_notify){.type = IKE_N_SIGNATURE_HASH_ALGORITHMS,
						 .data = sig_hashes,
						 .len = sizeof(sig_hashes)});
	return 0;
}

/* Derive the IKE SA's keys from g^ir and the nonces and SPIs now known (§2.14). */
static int derive_keys(struct ike_ikesa *sa, const uint8_t *shared, size_t shared_len)
{
	const struct proposal *p = &sa->peer->cfg.ike;
	uint8_t skeyseed[IKE_PRF_MAX_LEN], spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	struct wr wi = wr_init(spi_i, sizeof(spi_i)), wrr = wr_init(spi_r, sizeof(spi_r));
	size_t enc_len = ike_sk_keymat_len(p->encr);
	int rc;

	wr_u64(&wi, sa->spi_i);
	wr_u64(&wrr, sa->spi_r);
	struct ike_kdf_input in = {
		.ni = sa->ni,
		.nr = sa->nr,
		.ni_len = sa->ni_len,
		.nr_len = sa->nr_len,
		.spi_i = spi_i,
		.spi_r = spi_r,
		.shared = shared,
		.shared_len = shared_len,
	};
	sa->prf = ike__prf_id(p->prf);
	/* SKEYSEED = prf(Ni | Nr, g^ir) */
	rc = ike_skeyseed(sa->prf, &in, skeyseed);
	if (rc != 0)
		goto out;
	/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni|Nr|SPIi|SPIr),
	 * SK_a* empty with an AEAD */
	rc = ike_sa_keys_derive(sa->prf, skeyseed, &in, enc_len, &sa->keys);
	if (rc != 0)
		goto out;
	/* SK_ei protects what the initiator sends, SK_er what the responder sends. */
	rc = ike_sk_init(&sa->sk_out, p->encr, sa->initiator ? sa->keys.sk_ei : sa->keys.sk_er,
			 enc_len);
	if (rc == 0)
		rc = ike_sk_init(&sa->sk_in, p->encr,
				 sa->initiator ? sa->keys.sk_er : sa->keys.sk_ei, enc_len);
	sa->keyed = rc == 0;
	if (sa->keyed && sa->eng->env.ike_keys)
		sa->eng->env.ike_keys(sa->eng->env.ctx,
				      &(struct ike_sa_keylog){.peer = sa->peer->cfg.name,
							      .spi_i = sa->spi_i,
							      .spi_r = sa->spi_r,
							      .encr = p->encr,
							      .sk_ei = sa->keys.sk_ei,
							      .sk_er = sa->keys.sk_er,
							      .enc_len = enc_len});
out:
	OPENSSL_cleanse(skeyseed, sizeof(skeyseed));
	return rc;
}

/* g^ir from the peer's KE data, then the keys; the DH private key is dropped either way. */
static int agree_and_derive(struct ike_ikesa *sa, const struct ike_ke *peer_ke)
{
	uint8_t shared[IKE_KEX_MAX_SHARED];
	size_t shared_len = 0;
	int rc;

	rc = ike_kex_shared(sa->kex, peer_ke->data, peer_ke->len, shared, sizeof(shared),
			    &shared_len);
	if (rc == 0)
		rc = derive_keys(sa, shared, shared_len);
	OPENSSL_cleanse(shared, sizeof(shared));
	ike_kex_free(sa->kex);
	sa->kex = NULL;
	return rc;
}

/* ---- initiator ---- */

int ike__init_request_send(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct wr w = wr_init(eng->tx, sizeof(eng->tx));
	uint8_t pub[IKE_KEX_MAX_PUBLIC];
	size_t pub_len = 0, len;
	struct ike_sa offer;
	struct ike_build b;
	int rc;

	/* A repeat (with a cookie) keeps SPIi, nonce and KE: §2.6 "all other payloads unchanged".
	 */
	if (!sa->kex && (rc = ike_kex_new_gen(sa->eng->kex_gen, cfg->ike.group, &sa->kex)) != 0)
		return rc;
	if (sa->ni_len == 0) {
		rc = ike__random(eng, sa->ni, IKE_NONCE_LEN);
		if (rc != 0)
			return rc;
		sa->ni_len = IKE_NONCE_LEN;
	}
	rc = ike_kex_public(sa->kex, pub, sizeof(pub), &pub_len);
	if (rc == 0)
		rc = ike__prop_to_sa(&cfg->ike, PROPOSAL_IKE, NULL, 0, &offer);
	if (rc != 0)
		return rc;
	struct ike_hdr hdr = {
		.spi_i = sa->spi_i,
		.exchange = IKE_EXCH_IKE_SA_INIT,
		.flags = IKE_FLAG_INITIATOR,
		.msg_id = 0,
	};
	ike_build_init(&b, &w, &hdr);
	if (sa->cookie_len) /* §2.6: the cookie comes first */
		ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_COOKIE,
							  .data = sa->cookie,
							  .len = sa->cookie_len});
	ike_build_sa(&b, &offer);
	ike_build_ke(&b, &(struct ike_ke){cfg->ike.group, pub, pub_len});
	ike_build_nonce(&b, &(struct ike_nonce){sa->ni, sa->ni_len});
	rc = build_status_notifies(&b, sa->spi_i, 0, &sa->local, &sa->remote, cfg->force_encap);
	if (rc == 0)
		rc = ike_build_finish(&b, &len);
	if (rc != 0)
		return rc;
	return ike__request_send(sa, &hdr, eng->tx, len);
}

/* The responder demands a cookie: repeat the request with it, a bounded number of times. */
static void initiator_cookie(struct ike_ikesa *sa, const struct ike_notify *n)
{
	int rc;

	if (n->len < 1 || n->len > IKE_COOKIE_MAX) {
		ike__sa_fail(sa, phase, IKE_N_COOKIE,
			     "responder sent a COOKIE of %zu octets (must be 1 to 64)", n->len);
		return;
	}
	if (sa->cookie_rounds >= IKE_COOKIE_ROUNDS) {
		ike__sa_fail(
			sa, phase, IKE_N_COOKIE,
			"responder demanded a cookie %u times in a row: it does not accept our "
			"cookies (is it overloaded or under attack?)",
			sa->cookie_rounds + 1);
		return;
	}
	sa->cookie_rounds++;
	memcpy(sa->cookie, n->data, n->len);
	sa->cookie_len = n->len;
	LOG_INFO(IKE, "IKE_SA_INIT repeated with the responder's cookie",
		 "tunnel=%s sa=%016" PRIx64 " round=%u", sa->peer->cfg.name, sa->spi_i,
		 sa->cookie_rounds);
	rc = ike__init_request_send(sa);
	if (rc != 0)
		ike__sa_fail(sa, phase, 0, "could not repeat IKE_SA_INIT with the cookie: %s",
			     sdw_strerror(rc));
}

/* INVALID_KE_PAYLOAD: the responder wants another group. Our proposal allows exactly one, so
 * no retry can succeed: name both groups. */
static void initiator_invalid_ke(struct ike_ikesa *sa, const struct ike_notify *n)
{
	uint16_t ours = sa->peer->cfg.ike.group;
	char a[24], b[24];

	if (n->len != 2) {
		ike__sa_fail(sa, phase, IKE_N_INVALID_KE_PAYLOAD,
			     "responder sent INVALID_KE_PAYLOAD without a valid group");
		return;
	}
	uint16_t want = (uint16_t)(n->data[0] << 8 | n->data[1]);
	if (want == ours) {
		ike__sa_fail(
			sa, phase, IKE_N_INVALID_KE_PAYLOAD,
			"responder refused our KE of group %s while asking for that same group",
			ike__xform_name(IKE_TRANSFORM_DH, ours, 0, a));
		return;
	}
	ike__sa_fail(sa, phase, IKE_N_INVALID_KE_PAYLOAD,
		     "responder requires %s for IKE key exchange; our proposal allows only %s: "
		     "configure the same group on both sides",
		     ike__xform_name(IKE_TRANSFORM_DH, want, 0, a),
		     ike__xform_name(IKE_TRANSFORM_DH, ours, 0, b));
}

static void initiator_error(struct ike_ikesa *sa, uint16_t err)
{
	char nb[16], mine[PROPOSAL_STRLEN];

	if (err == IKE_N_NO_PROPOSAL_CHOSEN) {
		ike__sa_fail(sa, phase, err,
			     "responder accepted none of our IKE proposal %s (NO_PROPOSAL_CHOSEN): "
			     "its IKE proposal differs; its log names the parameter",
			     proposal_format(&sa->peer->cfg.ike, PROPOSAL_IKE, mine));
		return;
	}
	ike__sa_fail(sa, phase, err, "responder refused IKE_SA_INIT with %s",
		     ike__notify_name(err, nb));
}

/* The payloads of an IKE_SA_INIT message we act on. */
struct init_payloads {
	struct ike_sa *sa; /* parsed SA payload (caller's storage) */
	struct ike_ke ke;
	struct ike_nonce nonce;
	const struct ike_payload *sa_pl, *ke_pl, *nonce_pl;
	bool frag;
	uint8_t sig_hashes; /* RFC 7427 §4 hash IDs announced (ike__cert_hash_mask) */
};

/* Find and parse SA, KE and Nonce; returns the name of the first missing or malformed one. */
static const char *init_payloads_parse(const struct ike_payloads *pls, bool response,
				       struct init_payloads *out)
{
	struct ike_notify n;

	out->sa_pl = ike__payload_find(pls, IKE_PAYLOAD_SA);
	out->ke_pl = ike__payload_find(pls, IKE_PAYLOAD_KE);
	out->nonce_pl = ike__payload_find(pls, IKE_PAYLOAD_NONCE);
	out->frag = ike__notify_find(pls, IKE_N_FRAGMENTATION_SUPPORTED, &n);
	out->sig_hashes = ike__notify_find(pls, IKE_N_SIGNATURE_HASH_ALGORITHMS, &n)
				  ? ike__cert_hash_mask(n.data, n.len)
				  : 0;
	if (!out->sa_pl ||
	    ike_sa_parse(out->sa_pl->body, out->sa_pl->len, response, out->sa) != IKE_PARSE_OK)
		return "SA";
	if (!out->ke_pl ||
	    ike_ke_parse(out->ke_pl->body, out->ke_pl->len, &out->ke) != IKE_PARSE_OK)
		return "KE";
	if (!out->nonce_pl ||
	    ike_nonce_parse(out->nonce_pl->body, out->nonce_pl->len, &out->nonce) != IKE_PARSE_OK)
		return "Nonce";
	return NULL;
}

/* NAT detection (§2.23): whether a hash of this type in pls matches ep. *present says whether
 * the peer sent any. */
static bool natd_matches(const struct ike_payloads *pls, uint16_t type, uint64_t spi_i,
			 uint64_t spi_r, const struct ike_endpoint *ep, bool *present)
{
	uint8_t want[IKE_NATD_LEN];
	struct ike_notify n;

	*present = false;
	if (natd_hash(spi_i, spi_r, ep, want) != 0)
		return false;
	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		if (pl->type != IKE_PAYLOAD_NOTIFY ||
		    ike_notify_parse(pl->body, pl->len, &n) != IKE_PARSE_OK || n.type != type)
			continue;
		*present = true;
		if (n.len == IKE_NATD_LEN && memcmp(n.data, want, IKE_NATD_LEN) == 0)
			return true;
	}
	return false;
}

/* Record what the NAT-D notifies say: a source hash that does not match where the message came
 * from means a NAT in front of the peer; a destination hash that does not match where it
 * arrived means a NAT in front of us. */
static void natd_record(struct ike_ikesa *sa, const struct ike_payloads *pls, uint64_t spi_r,
			const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	bool src_present, dst_present;
	bool src_ok = natd_matches(pls, IKE_N_NAT_DETECTION_SOURCE_IP, sa->spi_i, spi_r, from,
				   &src_present);
	bool dst_ok = natd_matches(pls, IKE_N_NAT_DETECTION_DESTINATION_IP, sa->spi_i, spi_r, to,
				   &dst_present);

	sa->nat_remote = src_present && !src_ok;
	sa->nat_local = dst_present && !dst_ok;
}

static void initiator_accept(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
			     struct init_payloads *ip)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_hdr *h = &eng->rx.hdr;
	char why[256];
	int rc;

	if (!ike__prop_check_response(ip->sa, &sa->peer->cfg.ike, PROPOSAL_IKE, why, sizeof(why))) {
		ike__sa_fail(sa, phase, 0, "%s", why);
		return;
	}
	if (ip->ke.group != sa->peer->cfg.ike.group || h->spi_r == 0) {
		ike__sa_fail(sa, phase, 0,
			     "responder's KE group %u differs from its chosen "
			     "proposal, or its SPI is zero",
			     (unsigned)ip->ke.group);
		return;
	}
	sa->spi_r = h->spi_r;
	memcpy(sa->nr, ip->nonce.data, ip->nonce.len);
	sa->nr_len = ip->nonce.len;
	sa->peer_frag = ip->frag;
	sa->peer_sig_hashes = ip->sig_hashes;
	/* The response came from the peer (remote) to us (local). */
	natd_record(sa, &eng->rx.pls, sa->spi_r, &sa->remote, &sa->local);
	ike__natt_after_init(sa);
	rc = agree_and_derive(sa, &ip->ke);
	if (rc != 0) {
		ike__sa_fail(sa, phase, 0, "key exchange with the responder's KE failed: %s",
			     sdw_strerror(rc));
		return;
	}
	/* The request as last sent is what IKE_AUTH signs (§2.15): keep it, and the response. */
	ike__cache_clear(&sa->init_req);
	sa->init_req = sa->req;
	sa->req = (struct ike_cached){0};
	rc = ike__cache_set(&sa->init_resp, pkt, len);
	if (rc == 0)
		rc = ike__auth_request_send(sa);
	if (rc != 0) {
		ike__sa_fail(sa, "IKE_AUTH", 0, "could not send IKE_AUTH: %s", sdw_strerror(rc));
		return;
	}
	ike__sa_set_state(sa, IKE_STATE_AUTH_SENT, "IKE_SA_INIT done, IKE_AUTH request sent");
}

void ike__init_process_response(struct ike_ikesa *sa, const uint8_t *pkt, size_t len)
{
	const struct ike_payloads *pls = &sa->eng->rx.pls;
	struct ike_sa offer;
	struct init_payloads ip = {.sa = &offer};
	struct ike_notify n;
	uint16_t err;

	if (ike__notify_find(pls, IKE_N_COOKIE, &n)) {
		initiator_cookie(sa, &n);
		return;
	}
	if (ike__notify_find(pls, IKE_N_INVALID_KE_PAYLOAD, &n)) {
		initiator_invalid_ke(sa, &n);
		return;
	}
	err = ike__notify_error(pls);
	if (err) {
		initiator_error(sa, err);
		return;
	}
	const char *bad = init_payloads_parse(pls, true, &ip);
	if (bad) {
		ike__sa_fail(sa, phase, 0,
			     "responder's IKE_SA_INIT response lacks a valid %s "
			     "payload",
			     bad);
		return;
	}
	initiator_accept(sa, pkt, len, &ip);
}

/* ---- responder ---- */

/* A stateless answer to an IKE_SA_INIT request: HDR(SPIi, 0), N(type[, data]). */
static void send_refusal(struct ike_engine *eng, uint16_t type, const uint8_t *data,
			 size_t data_len, const struct ike_endpoint *from,
			 const struct ike_endpoint *to)
{
	const struct ike_hdr *req = &eng->rx.hdr;
	struct ike_hdr hdr = {
		.spi_i = req->spi_i,
		.exchange = IKE_EXCH_IKE_SA_INIT,
		.flags = IKE_FLAG_RESPONSE,
		.msg_id = 0,
	};
	uint8_t msg[IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + IKE_NOTIFY_HDR_LEN + IKE_COOKIE_MAX];
	struct wr w = wr_init(msg, sizeof(msg));
	struct ike_build b;
	size_t len;

	ike_build_init(&b, &w, &hdr);
	ike_build_notify(&b, &(struct ike_notify){.type = type, .data = data, .len = data_len});
	if (ike_build_finish(&b, &len) == 0)
		ike__send_raw(eng, to, from, msg, len);
}

/* Report a refused IKE_SA_INIT: a rate-limited debug line (the peer triggers it) and an event. */
static void refused(struct ike_engine *eng, const struct ike_peer *peer, uint16_t notify,
		    const struct ike_endpoint *from, const char *reason)
{
	char a[IP_ADDR_STRLEN], nb[16];

	IKE_PEER_DEBUG(eng, "IKE_SA_INIT refused",
		       "tunnel=%s from=%s:%u notify=%s spi_i=%016" PRIx64 " reason=\"%s\"",
		       peer ? peer->cfg.name : "-", ip_addr_format(&from->addr, a),
		       (unsigned)from->port, ike__notify_name(notify, nb), eng->rx.hdr.spi_i,
		       reason);
	if (!eng->env.event)
		return;
	struct ike_event ev = {
		.type = IKE_EVENT_REJECTED,
		.peer = peer ? peer->cfg.name : "",
		.spi_i = eng->rx.hdr.spi_i,
		.phase = phase,
		.notify = notify,
		.reason = reason,
	};
	eng->env.event(eng->env.ctx, &ev);
}

/* The tunnel to answer with: the first configured for these addresses whose IKE proposal the
 * offer allows; *first_addr_match gets the first for these addresses at all (for the error). */
static struct ike_peer *responder_peer(struct ike_engine *eng, const struct ike_sa *offer,
				       const struct ike_endpoint *from,
				       const struct ike_endpoint *to, int *chosen,
				       struct ike_peer **first_addr_match)
{
	*first_addr_match = NULL;
	for (struct ike_peer *p = eng->peers; p; p = p->next) {
		if (!ike__peer_accepts(p, from, to))
			continue;
		if (!*first_addr_match)
			*first_addr_match = p;
		*chosen = ike__prop_select(offer, &p->cfg.ike, PROPOSAL_IKE);
		if (*chosen >= 0)
			return p;
	}
	return NULL;
}

/* §2.6: with too many half-open SAs, only a request carrying our cookie goes further. Returns
 * whether to go on; otherwise the cookie demand has been sent. */
static bool responder_cookie_ok(struct ike_engine *eng, const struct init_payloads *ip,
				const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	int32_t limit = eng->cfg.half_open_cookie_limit;
	uint8_t want[IKE_COOKIE_LEN];
	struct ike_notify n;

	if (limit >= 0 && eng->half_open < (size_t)limit)
		return true;
	if (cookie_compute(eng, eng->cookie_version, &ip->nonce, from, eng->rx.hdr.spi_i, want) !=
	    0)
		return false;
	if (ike__notify_find(&eng->rx.pls, IKE_N_COOKIE, &n)) {
		if (n.len == IKE_COOKIE_LEN && CRYPTO_memcmp(n.data, want, IKE_COOKIE_LEN) == 0) {
			eng->stats.cookies_accepted++;
			return true;
		}
		eng->stats.cookies_refused++;
	}
	eng->stats.cookies_sent++;
	IKE_PEER_DEBUG(eng, "IKE_SA_INIT answered with a cookie", "half_open=%zu spi_i=%016" PRIx64,
		       eng->half_open, eng->rx.hdr.spi_i);
	send_refusal(eng, IKE_N_COOKIE, want, sizeof(want), from, to);
	return false;
}

/* Build and send SAr1, KEr, Nr and the status notifies; keep request and response. */
static int responder_answer(struct ike_ikesa *sa, const uint8_t *pkt, size_t len, uint8_t prop_num)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct wr w = wr_init(eng->tx, sizeof(eng->tx));
	uint8_t pub[IKE_KEX_MAX_PUBLIC];
	size_t pub_len = 0, mlen;
	struct ike_sa chosen;
	struct ike_build b;
	int rc;

	struct ike_hdr hdr = {
		.spi_i = sa->spi_i,
		.spi_r = sa->spi_r,
		.exchange = IKE_EXCH_IKE_SA_INIT,
		.flags = IKE_FLAG_RESPONSE,
		.msg_id = 0,
	};
	rc = ike_kex_public(sa->kex, pub, sizeof(pub), &pub_len);
	if (rc == 0)
		rc = ike__prop_to_sa(&cfg->ike, PROPOSAL_IKE, NULL, 0, &chosen);
	if (rc != 0)
		return rc;
	chosen.prop[0].num = prop_num; /* §3.3.1: the number of the proposal we accept */
	ike_build_init(&b, &w, &hdr);
	ike_build_sa(&b, &chosen);
	ike_build_ke(&b, &(struct ike_ke){cfg->ike.group, pub, pub_len});
	ike_build_nonce(&b, &(struct ike_nonce){sa->nr, sa->nr_len});
	/* §3.7: with certificates, name the CA we trust so the initiator sends its chain. */
	if (cfg->auth == IKE_PEER_AUTH_CERT && (rc = ike__cert_build(&b, cfg, false, true)) != 0)
		return rc;
	rc = build_status_notifies(&b, sa->spi_i, sa->spi_r, &sa->local, &sa->remote,
				   cfg->force_encap);
	if (rc == 0)
		rc = ike_build_finish(&b, &mlen);
	if (rc == 0)
		rc = ike__cache_set(&sa->init_req, pkt, len);
	if (rc == 0)
		rc = ike__cache_set(&sa->init_resp, eng->tx, mlen);
	if (rc != 0)
		return rc;
	ike__send_raw(eng, &sa->local, &sa->remote, sa->init_resp.buf, sa->init_resp.len);
	return 0;
}

/* Create the responder's SA and answer. */
static void responder_create(struct ike_engine *eng, struct ike_peer *peer,
			     const struct init_payloads *ip, uint8_t prop_num, const uint8_t *pkt,
			     size_t len, const struct ike_endpoint *from,
			     const struct ike_endpoint *to)
{
	struct ike_ikesa *sa;
	int rc = ike__sa_new(eng, peer, false, &sa);

	if (rc != 0) {
		LOG_WARN(IKE, "could not create an IKE SA", "tunnel=%s err=\"%s\"", peer->cfg.name,
			 sdw_strerror(rc));
		return;
	}
	sa->spi_i = eng->rx.hdr.spi_i;
	sa->local = *to;
	ike__sa_set_remote(sa, from);
	sa->msgid_peer_next = 1; /* IKE_SA_INIT was message 0 */
	sa->peer_frag = ip->frag;
	sa->peer_sig_hashes = ip->sig_hashes;
	memcpy(sa->ni, ip->nonce.data, ip->nonce.len);
	sa->ni_len = ip->nonce.len;
	sa->nr_len = IKE_NONCE_LEN;
	natd_record(sa, &eng->rx.pls, 0, from, to);
	ike__natt_after_init(sa);
	rc = ike__random(eng, sa->nr, sa->nr_len);
	if (rc == 0)
		rc = ike_kex_new_gen(eng->kex_gen, peer->cfg.ike.group, &sa->kex);
	if (rc != 0) {
		ike__sa_fail(sa, phase, 0, "could not create nonce or key pair: %s",
			     sdw_strerror(rc));
		return;
	}
	/* The public value must be taken before agree_and_derive() drops the key pair. */
	rc = responder_answer(sa, pkt, len, prop_num);
	if (rc == 0)
		rc = agree_and_derive(sa, &ip->ke);
	if (rc != 0) {
		/* -EBADMSG: the initiator's KE data is not a valid point for its group. */
		ike__sa_fail(sa, phase, 0, "key exchange with the initiator failed: %s",
			     sdw_strerror(rc));
		return;
	}
	ike__sa_set_state(sa, IKE_STATE_INIT_REPLIED, "IKE_SA_INIT answered");
}

void ike__init_process_request(struct ike_engine *eng, const uint8_t *pkt, size_t len,
			       const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	struct ike_sa offer;
	struct init_payloads ip = {.sa = &offer};
	struct ike_peer *peer, *addr_peer;
	char reason[512], a[IP_ADDR_STRLEN], b[24], c[24];
	int chosen = -1;

	const char *bad = init_payloads_parse(&eng->rx.pls, false, &ip);
	if (bad) {
		ike__drop(eng, IKE_DROP_INVALID, from, bad);
		return;
	}
	if (!responder_cookie_ok(eng, &ip, from, to))
		return;
	if (eng->half_open >= eng->cfg.half_open_max) {
		ike__drop(eng, IKE_DROP_BUSY, from, "too many half-open IKE SAs");
		return;
	}
	peer = responder_peer(eng, &offer, from, to, &chosen, &addr_peer);
	if (!peer) {
		if (addr_peer)
			ike__prop_explain(&offer, &addr_peer->cfg.ike, PROPOSAL_IKE, reason,
					  sizeof(reason));
		else
			snprintf(reason, sizeof(reason),
				 "no tunnel is configured for peer address %s",
				 ip_addr_format(&from->addr, a));
		eng->stats.no_proposal_sent++;
		refused(eng, addr_peer, IKE_N_NO_PROPOSAL_CHOSEN, from, reason);
		send_refusal(eng, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0, from, to);
		return;
	}
	uint16_t group = peer->cfg.ike.group;
	if (ip.ke.group != group) {
		/* §1.2: the KE must be of the chosen proposal's group; tell the initiator which. */
		uint8_t data[2] = {(uint8_t)(group >> 8), (uint8_t)group};
		snprintf(reason, sizeof(reason),
			 "peer sent its KE for %s; the chosen proposal requires %s",
			 ike__xform_name(IKE_TRANSFORM_DH, ip.ke.group, 0, b),
			 ike__xform_name(IKE_TRANSFORM_DH, group, 0, c));
		eng->stats.invalid_ke_sent++;
		refused(eng, peer, IKE_N_INVALID_KE_PAYLOAD, from, reason);
		send_refusal(eng, IKE_N_INVALID_KE_PAYLOAD, data, sizeof(data), from, to);
		return;
	}
	responder_create(eng, peer, &ip, offer.prop[chosen].num, pkt, len, from, to);
}
