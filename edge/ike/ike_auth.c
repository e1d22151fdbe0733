/*
 * IKE_AUTH, both roles, with a pre-shared key or certificates (RFC 7427 signatures), and the
 * first Child SA (RFC 7296 §1.2, §2.9, §2.15, §2.17, §3.5-§3.8, §3.13).
 *
 *   Initiator                                   Responder
 *   HDR, SK {IDi, [CERT+, CERTREQ,]
 *            [N(INITIAL_CONTACT),] IDr,
 *            AUTH, SAi2, TSi, TSr}         -->
 *                                          <--  HDR, SK {IDr, [CERT+,] AUTH, SAr2, TSi, TSr}
 *                                          <--  HDR, SK {IDr, AUTH, N(NO_PROPOSAL_CHOSEN |
 *                                                        TS_UNACCEPTABLE)}  IKE SA up, no child
 *                                          <--  HDR, SK {N(AUTHENTICATION_FAILED)}
 *
 *   AUTH           = prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>)         §2.15
 *   AUTH (certs)   = len | AlgorithmIdentifier | Sign(key, <SignedOctets>)       RFC 7427 §3
 *   SignedOctets_I = IKE_SA_INIT request | Nr | prf(SK_pi, IDi body)
 *   SignedOctets_R = IKE_SA_INIT response | Ni | prf(SK_pr, IDr body)
 *   KEYMAT         = prf+(SK_d, Ni | Nr): i->r key | salt, then r->i key | salt   §2.17
 *
 * The identity the peer claims must equal the configured remote ID, type ID_FQDN, octet for
 * octet. A responder serving several tunnels from one address may switch to the tunnel whose
 * remote ID the initiator claims, if that tunnel runs the same IKE proposal. With certificates
 * the peer's certificate must also chain to the tunnel's CA and name that same site
 * (ike_cert.c), and its key must have signed the AUTH octets.
 *
 * Secrets: the PSK-derived key, MACed IDs and KEYMAT are wiped at each function's exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/error.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_natt.h"

static const char phase[] = "IKE_AUTH";

/* §2.15: the pad string, without its NUL. */
static const uint8_t key_pad[] = {'K', 'e', 'y', ' ', 'P', 'a', 'd', ' ', 'f',
				  'o', 'r', ' ', 'I', 'K', 'E', 'v', '2'};

enum {
	ID_BODY_MAX = IKE_ID_HDR_LEN + IKE_ID_MAX,
	CHILD_SPI_DRAWS = 8,
};

/* The body of our ID payload ("RestOfIDPayload": type, 3 reserved octets, data). */
static size_t id_body(const char *fqdn, uint8_t out[static ID_BODY_MAX])
{
	size_t n = strnlen(fqdn, IKE_ID_MAX - 1);

	out[0] = IKE_ID_FQDN;
	memset(out + 1, 0, IKE_ID_HDR_LEN - 1);
	memcpy(out + IKE_ID_HDR_LEN, fqdn, n);
	return IKE_ID_HDR_LEN + n;
}

/* AUTH of one side, over that side's ID payload body (§2.15). */
static int psk_auth(const struct ike_ikesa *sa, bool of_initiator, const uint8_t *id, size_t id_len,
		    uint8_t out[static IKE_PRF_MAX_LEN], size_t *out_len)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	const struct ike_cached *msg = of_initiator ? &sa->init_req : &sa->init_resp;
	const uint8_t *nonce = of_initiator ? sa->nr : sa->ni;
	size_t nonce_len = of_initiator ? sa->nr_len : sa->ni_len;
	const uint8_t *sk_p = of_initiator ? sa->keys.sk_pi : sa->keys.sk_pr;
	size_t h = ike_prf_len(sa->prf);
	uint8_t maced_id[IKE_PRF_MAX_LEN], key[IKE_PRF_MAX_LEN];
	uint8_t tail[IKE_NONCE_MAX + IKE_PRF_MAX_LEN];
	int rc;

	if (!msg->buf || h == 0)
		return -EINVAL;
	/* MACedIDFor{I,R} = prf(SK_p{i,r}, RestOf{Init,Resp}IDPayload) */
	rc = ike_prf(sa->prf, sk_p, h, id, id_len, NULL, 0, maced_id);
	if (rc != 0)
		goto out;
	/* key = prf(Shared Secret, "Key Pad for IKEv2") */
	rc = ike_prf(sa->prf, cfg->psk, cfg->psk_len, key_pad, sizeof(key_pad), NULL, 0, key);
	if (rc != 0)
		goto out;
	/* AUTH = prf(key, RealMessage | NonceData | MACedID) */
	memcpy(tail, nonce, nonce_len);
	memcpy(tail + nonce_len, maced_id, h);
	rc = ike_prf(sa->prf, key, h, msg->buf, msg->len, tail, nonce_len + h, out);
	*out_len = h;
out:
	OPENSSL_cleanse(maced_id, sizeof(maced_id));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(tail, sizeof(tail));
	return rc;
}

/* <SignedOctets> of one side (§2.15): its IKE_SA_INIT message | the other side's nonce |
 * prf(SK_p, its ID payload body). *out is allocated (free() after OPENSSL_cleanse). */
static int signed_octets(const struct ike_ikesa *sa, bool of_initiator, const uint8_t *id,
			 size_t id_len, uint8_t **out, size_t *len)
{
	const struct ike_cached *msg = of_initiator ? &sa->init_req : &sa->init_resp;
	const uint8_t *nonce = of_initiator ? sa->nr : sa->ni;
	size_t nonce_len = of_initiator ? sa->nr_len : sa->ni_len;
	const uint8_t *sk_p = of_initiator ? sa->keys.sk_pi : sa->keys.sk_pr;
	size_t h = ike_prf_len(sa->prf);
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (!msg->buf || h == 0)
		return -EINVAL;
	buf = malloc(msg->len + nonce_len + h);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, msg->buf, msg->len);
	memcpy(buf + msg->len, nonce, nonce_len);
	/* MACedIDFor{I,R} = prf(SK_p{i,r}, RestOf{Init,Resp}IDPayload) */
	rc = ike_prf(sa->prf, sk_p, h, id, id_len, NULL, 0, buf + msg->len + nonce_len);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = msg->len + nonce_len + h;
	return 0;
}

static void octets_free(uint8_t *buf, size_t len)
{
	if (buf)
		OPENSSL_cleanse(buf, len);
	free(buf);
}

/* Our AUTH payload over our ID payload body: the PSK MIC, or an RFC 7427 signature with our
 * key's natural algorithm, which the peer must have announced (RFC 7427 §4). buf holds the
 * data *out points to. On failure why says what to change. */
static int our_auth(const struct ike_ikesa *sa, const uint8_t *id, size_t id_len,
		    uint8_t buf[static IKE_CERT_AUTH_MAX], struct ike_auth *out, char *why,
		    size_t cap)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	uint8_t *oct = NULL;
	size_t n = 0, olen = 0;
	int rc;

	snprintf(why, cap, "could not compute our AUTH payload");
	if (cfg->auth == IKE_PEER_AUTH_PSK) {
		rc = psk_auth(sa, sa->initiator, id, id_len, buf, &n);
		*out = (struct ike_auth){IKE_AUTH_SHARED_KEY_MIC, buf, n};
		return rc;
	}
	static const char *const hash_names[] = {
		[IKE_HASH_SHA2_256] = "sha256",
		[IKE_HASH_SHA2_384] = "sha384",
		[IKE_HASH_SHA2_512] = "sha512",
		[IKE_HASH_IDENTITY] = "identity, for Ed25519",
	};
	uint16_t hash = ike__cert_key_hash(cfg->key);
	if (hash == 0 || hash > IKE_HASH_IDENTITY || !(sa->peer_sig_hashes & (1u << hash))) {
		snprintf(
			why, cap,
			"peer did not announce hash algorithm %u (%s) in SIGNATURE_HASH_ALGORITHMS "
			"(RFC 7427 §4), and our key signs with it: the peer cannot verify our "
			"certificate authentication",
			(unsigned)hash,
			hash && hash <= IKE_HASH_IDENTITY && hash_names[hash] ? hash_names[hash]
									      : "?");
		return -EPROTO;
	}
	rc = signed_octets(sa, sa->initiator, id, id_len, &oct, &olen);
	if (rc == 0)
		rc = ike__cert_sign(cfg->key, oct, olen, buf, &n);
	octets_free(oct, olen);
	*out = (struct ike_auth){IKE_AUTH_DIGITAL_SIGNATURE, buf, n};
	return rc;
}

static time_t wall_time(const struct ike_engine *eng)
{
	return eng->env.wall_time ? eng->env.wall_time(eng->env.ctx) : time(NULL);
}

/* Whether the AUTH payload the peer sent verifies over its ID payload body. */
static bool psk_verify(const struct ike_ikesa *sa, bool of_initiator,
		       const struct ike_payload *id_pl, const struct ike_auth *auth)
{
	uint8_t want[IKE_PRF_MAX_LEN];
	size_t want_len = 0;
	bool ok;

	ok = psk_auth(sa, of_initiator, id_pl->body, id_pl->len, want, &want_len) == 0 &&
	     auth->len == want_len && CRYPTO_memcmp(auth->data, want, want_len) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static bool id_is(const struct ike_id *id, const char *fqdn)
{
	size_t n = strnlen(fqdn, IKE_ID_MAX);

	return id->type == IKE_ID_FQDN && id->len == n && memcmp(id->data, fqdn, n) == 0;
}

/* "fqdn:branch-1" or "type 1:\xc0..." for a log or reason. */
static char *id_str(const struct ike_id *id, char *buf, size_t cap)
{
	char safe[IKE_ID_MAX];

	ike__safe_str(id->data, id->len, safe, sizeof(safe));
	if (id->type == IKE_ID_FQDN)
		snprintf(buf, cap, "fqdn:%s", safe);
	else
		snprintf(buf, cap, "type %u:%s", (unsigned)id->type, safe);
	return buf;
}

/* The first Child SA's inbound SPI of sa: random, >= 256 (RFC 4303 §2.1), unique among ours,
 * and held (ike__child_spi_hold()) for as long as the SA exists. */
static int child_spi_new(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;

	for (int i = 0; i < CHILD_SPI_DRAWS; i++) {
		uint8_t b[4];
		int rc = ike__random(eng, b, sizeof(b));
		if (rc != 0)
			return rc;
		uint32_t spi =
			(uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if (spi >= ESP_SPI_MIN && !ike__child_spi_in_use(eng, spi)) {
			rc = ike__child_spi_hold(eng, spi);
			if (rc != 0)
				return rc;
			ike__child_spi_release(eng, sa->child_spi_in);
			sa->child_spi_in = spi;
			return 0;
		}
	}
	return -EAGAIN;
}

static void spi_bytes(uint32_t spi, uint8_t out[static 4])
{
	out[0] = (uint8_t)(spi >> 24);
	out[1] = (uint8_t)(spi >> 16);
	out[2] = (uint8_t)(spi >> 8);
	out[3] = (uint8_t)spi;
}

/* Derive the Child SA's KEYMAT and hand it to env->child_up (§2.17). */
static int child_up(struct ike_ikesa *sa, uint32_t spi_out, const struct ike_ts_list *local,
		    const struct ike_ts_list *remote)
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
	struct ike_kdf_input in = {
		.ni = sa->ni, .nr = sa->nr, .ni_len = sa->ni_len, .nr_len = sa->nr_len};
	/* KEYMAT = prf+(SK_d, Ni | Nr), no PFS in IKE_AUTH */
	rc = ike_child_keymat(sa->prf, sa->keys.sk_d, &in, keymat, 2 * klen);
	if (rc != 0)
		goto out;
	/* The initiator-to-responder key is taken first, then the other direction. */
	const uint8_t *i2r = keymat, *r2i = keymat + klen;
	memcpy(k->keymat_out, sa->initiator ? i2r : r2i, klen);
	memcpy(k->keymat_in, sa->initiator ? r2i : i2r, klen);
	k->keymat_len = klen;
	k->peer = cfg->name;
	k->sa = ike__sa_handle(sa);
	k->cipher = cipher;
	k->esn = cfg->esp.esn;
	k->spi_in = sa->child_spi_in;
	k->spi_out = spi_out;
	k->local_ts = *local;
	k->remote_ts = *remote;
	k->lifetime_s = cfg->child_lifetime_s;
	ike__natt_child_keys(sa, k);
	eng->stats.children_up++;
	LOG_NOTICE(IKE, "Child SA up",
		   "tunnel=%s sa=%016" PRIx64 " spi_in=%08" PRIx32 " spi_out=%08" PRIx32
		   " cipher=%s esn=%s",
		   cfg->name, k->sa, k->spi_in, k->spi_out, esp_cipher_name(cipher),
		   k->esn ? "yes" : "no");
	rc = ike__child_add(sa, k->spi_in, k->spi_out);
	if (rc == 0 && eng->env.child_up)
		eng->env.child_up(eng->env.ctx, k);
out:
	OPENSSL_cleanse(keymat, sizeof(keymat));
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
	free(k);
	return rc;
}

/* ---- initiator ---- */

/* IDi, [CERT+, CERTREQ,] [N(INITIAL_CONTACT)], IDr, AUTH, SAi2, TSi, TSr into eng->chain. */
static int initiator_chain(struct ike_ikesa *sa, size_t *len, uint8_t *first, char *why, size_t cap)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	uint8_t idb[ID_BODY_MAX], auth[IKE_CERT_AUTH_MAX], spi[4];
	size_t id_len = id_body(cfg->local_id, idb);
	struct ike_auth ours;
	struct ike_sa sa2;
	struct ike_ts_list tsi, tsr;
	struct ike_build b;
	int rc;

	spi_bytes(sa->child_spi_in, spi);
	rc = our_auth(sa, idb, id_len, auth, &ours, why, cap);
	if (rc == 0)
		rc = ike__prop_to_sa(&cfg->esp, PROPOSAL_ESP, spi, sizeof(spi), &sa2);
	if (rc != 0)
		goto out;
	ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, &tsi);
	ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, &tsr);
	ike_build_init(&b, &w, NULL);
	ike_build_raw(&b, IKE_PAYLOAD_IDI, false, idb, id_len);
	if (cfg->auth == IKE_PEER_AUTH_CERT && (rc = ike__cert_build(&b, cfg, true, true)) != 0)
		goto out;
	/* §2.4: INITIAL_CONTACT when this is our only IKE SA with the peer. */
	if (!ike__sa_find_peer(eng, sa->peer, sa, IKE_STATE_ESTABLISHED))
		ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_INITIAL_CONTACT});
	ike_build_id(&b, IKE_PAYLOAD_IDR,
		     &(struct ike_id){IKE_ID_FQDN, (const uint8_t *)cfg->remote_id,
				      strnlen(cfg->remote_id, IKE_ID_MAX)});
	ike_build_auth(&b, &ours);
	ike_build_sa(&b, &sa2);
	ike_build_ts(&b, IKE_PAYLOAD_TSI, &tsi);
	ike_build_ts(&b, IKE_PAYLOAD_TSR, &tsr);
	rc = ike_build_finish(&b, len);
	*first = ike_build_first(&b);
out:
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc;
}

int ike__auth_request_send(struct ike_ikesa *sa)
{
	struct ike_hdr hdr;
	size_t len = 0;
	uint8_t first = IKE_PAYLOAD_NONE;
	char why[IKE_CERT_REASON_MAX];
	int rc;

	rc = child_spi_new(sa);
	if (rc == 0) {
		rc = initiator_chain(sa, &len, &first, why, sizeof(why));
		if (rc != 0) /* the caller's generic failure is then ignored (already failed) */
			ike__sa_fail(sa, phase, 0, "%s: %s", why, sdw_strerror(rc));
	}
	if (rc == 0)
		rc = ike__request_hdr(sa, IKE_EXCH_IKE_AUTH, &hdr);
	if (rc == 0)
		rc = ike__request_send_sk(sa, &hdr, first, sa->eng->chain, len);
	return rc;
}

/* The payloads of an IKE_AUTH message we act on, parsed. */
struct auth_payloads {
	const struct ike_payload *idi_pl, *idr_pl, *auth_pl, *sa_pl, *tsi_pl, *tsr_pl;
	struct ike_id idi, idr;
	struct ike_auth auth;
	bool initial_contact;
};

/* Find and parse the payloads; returns the first that is malformed, or missing of those the
 * role needs (IDi/IDr and AUTH), or NULL. */
static const char *auth_payloads_parse(const struct ike_payloads *pls, bool request,
				       struct auth_payloads *ap)
{
	struct ike_notify n;

	memset(ap, 0, sizeof(*ap));
	ap->idi_pl = ike__payload_find(pls, IKE_PAYLOAD_IDI);
	ap->idr_pl = ike__payload_find(pls, IKE_PAYLOAD_IDR);
	ap->auth_pl = ike__payload_find(pls, IKE_PAYLOAD_AUTH);
	ap->sa_pl = ike__payload_find(pls, IKE_PAYLOAD_SA);
	ap->tsi_pl = ike__payload_find(pls, IKE_PAYLOAD_TSI);
	ap->tsr_pl = ike__payload_find(pls, IKE_PAYLOAD_TSR);
	ap->initial_contact = ike__notify_find(pls, IKE_N_INITIAL_CONTACT, &n);
	const struct ike_payload *own = request ? ap->idi_pl : ap->idr_pl;
	if (!own)
		return request ? "IDi" : "IDr";
	if (ap->idi_pl && ike_id_parse(ap->idi_pl->body, ap->idi_pl->len, &ap->idi) != IKE_PARSE_OK)
		return "IDi";
	if (ap->idr_pl && ike_id_parse(ap->idr_pl->body, ap->idr_pl->len, &ap->idr) != IKE_PARSE_OK)
		return "IDr";
	if (!ap->auth_pl ||
	    ike_auth_parse(ap->auth_pl->body, ap->auth_pl->len, &ap->auth) != IKE_PARSE_OK)
		return "AUTH";
	return NULL;
}

/* Certificate authentication of the peer, whose ID already equals the tunnel's remote ID:
 * method 14, a certificate that chains to the tunnel's CA and names that site, and a signature
 * by its key over the peer's signed octets. On success records the site; else why. */
static bool cert_auth_ok(struct ike_ikesa *sa, const struct ike_payloads *pls,
			 const struct auth_payloads *ap, bool of_initiator, char *why, size_t cap)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	const struct ike_payload *id_pl = of_initiator ? ap->idi_pl : ap->idr_pl;
	char site[IKE_CERT_SITE_MAX];
	EVP_PKEY *pub = NULL;
	uint8_t *oct = NULL;
	size_t olen = 0;
	bool ok = false;

	if (ap->auth.method != IKE_AUTH_DIGITAL_SIGNATURE) {
		snprintf(why, cap,
			 "peer authenticates with method %u; tunnel %s uses certificates (RFC 7427 "
			 "digital signature, method 14)",
			 (unsigned)ap->auth.method, cfg->name);
		return false;
	}
	if (ike__cert_peer_check(cfg, &sa->peer->peer_cert, pls, wall_time(sa->eng), &pub, site,
				 why, cap) != 0)
		goto out;
	if (signed_octets(sa, of_initiator, id_pl->body, id_pl->len, &oct, &olen) != 0) {
		snprintf(why, cap, "could not compute the peer's signed octets");
		goto out;
	}
	ok = ike__cert_verify(pub, oct, olen, ap->auth.data, ap->auth.len, why, cap);
	if (ok) {
		sa->cert_auth = true;
		snprintf(sa->peer_site, sizeof(sa->peer_site), "%s", site);
	}
out:
	octets_free(oct, olen);
	EVP_PKEY_free(pub);
	return ok;
}

/* The Child SA part of a response: the chosen proposal, TSi and TSr, checked against what we
 * asked for. Returns 0 and the peer's SPI, or a reason in why. */
static int initiator_child_check(struct ike_ikesa *sa, const struct auth_payloads *ap,
				 uint32_t *spi_out, struct ike_ts_list *tsi,
				 struct ike_ts_list *tsr, char *why, size_t cap)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ts_list sent;
	struct ike_sa chosen;

	if (!ap->sa_pl || !ap->tsi_pl || !ap->tsr_pl) {
		snprintf(why, cap, "responder's IKE_AUTH answer carries no Child SA");
		return -EINVAL;
	}
	if (ike_sa_parse(ap->sa_pl->body, ap->sa_pl->len, true, &chosen) != IKE_PARSE_OK ||
	    ike_ts_parse(ap->tsi_pl->body, ap->tsi_pl->len, tsi) != IKE_PARSE_OK ||
	    ike_ts_parse(ap->tsr_pl->body, ap->tsr_pl->len, tsr) != IKE_PARSE_OK) {
		snprintf(why, cap, "responder's SA, TSi or TSr payload is malformed");
		return -EINVAL;
	}
	if (!ike__prop_check_response(&chosen, &cfg->esp, PROPOSAL_ESP, why, cap))
		return -EINVAL;
	const struct ike_proposal *p = &chosen.prop[0];
	uint32_t spi = p->spi_size == 4 ? (uint32_t)p->spi[0] << 24 | (uint32_t)p->spi[1] << 16 |
						  (uint32_t)p->spi[2] << 8 | p->spi[3]
					: 0;
	if (spi < ESP_SPI_MIN) {
		snprintf(why, cap, "responder's ESP SPI %08" PRIx32 " is reserved", spi);
		return -EINVAL;
	}
	/* §2.9: the responder may narrow, never widen. */
	ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, &sent);
	bool ok = ike__ts_subset(tsi, &sent);
	ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, &sent);
	if (!ok || !ike__ts_subset(tsr, &sent)) {
		char a[256], b[256];
		snprintf(why, cap, "responder's selectors TSi=%s TSr=%s exceed what we proposed",
			 ike__ts_format(tsi, a, sizeof(a)), ike__ts_format(tsr, b, sizeof(b)));
		return -EINVAL;
	}
	*spi_out = spi;
	return 0;
}

static void initiator_child(struct ike_ikesa *sa, const struct ike_payloads *pls,
			    const struct auth_payloads *ap)
{
	uint16_t err = ike__notify_error(pls);
	struct ike_ts_list *ts = calloc(2, sizeof(*ts));
	char why[512], nb[16];
	uint32_t spi_out = 0;
	int rc;

	if (!ts) {
		ike__event(sa->eng, sa, IKE_EVENT_CHILD_FAILED, phase, 0, "out of memory");
		return;
	}
	if (err) {
		snprintf(why, sizeof(why), "responder refused the Child SA with %s%s",
			 ike__notify_name(err, nb),
			 err == IKE_N_TS_UNACCEPTABLE ? ": our traffic selectors are outside its "
							"configuration"
			 : err == IKE_N_NO_PROPOSAL_CHOSEN ? ": its ESP proposal differs from ours"
							   : "");
		rc = -EINVAL;
	} else {
		rc = initiator_child_check(sa, ap, &spi_out, &ts[0], &ts[1], why, sizeof(why));
		if (rc == 0)
			rc = child_up(sa, spi_out, &ts[0], &ts[1]);
		if (rc != 0 && rc != -EINVAL)
			snprintf(why, sizeof(why), "Child SA keys: %s", sdw_strerror(rc));
	}
	if (rc != 0) {
		LOG_NOTICE(IKE, "Child SA failed", "tunnel=%s sa=%016" PRIx64 " reason=\"%s\"",
			   sa->peer->cfg.name, sa->spi_i, why);
		ike__event(sa->eng, sa, IKE_EVENT_CHILD_FAILED, phase, err, why);
	}
	free(ts);
}

void ike__auth_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct auth_payloads ap;
	char got[IKE_ID_MAX + 16], nb[16];
	uint16_t err = ike__notify_error(pls);

	if (err == IKE_N_AUTHENTICATION_FAILED) {
		if (cfg->auth == IKE_PEER_AUTH_CERT)
			ike__sa_fail(
				sa, phase, err,
				"responder refused our authentication (AUTHENTICATION_FAILED): "
				"check that it trusts our CA, that it expects identity "
				"fqdn:%s, and its log for the reason",
				cfg->local_id);
		else
			ike__sa_fail(
				sa, phase, err,
				"responder refused our authentication (AUTHENTICATION_FAILED): "
				"check that both sides use the same pre-shared key and that the "
				"peer expects identity fqdn:%s",
				cfg->local_id);
		return;
	}
	const char *bad = auth_payloads_parse(pls, false, &ap);
	if (bad) {
		if (err)
			ike__sa_fail(sa, phase, err, "responder refused IKE_AUTH with %s",
				     ike__notify_name(err, nb));
		else
			ike__sa_fail(sa, phase, 0, "responder's IKE_AUTH answer lacks a valid %s",
				     bad);
		return;
	}
	if (!id_is(&ap.idr, cfg->remote_id)) {
		ike__sa_fail(sa, phase, IKE_N_AUTHENTICATION_FAILED,
			     "responder identity mismatch: expected fqdn:%s, got %s",
			     cfg->remote_id, id_str(&ap.idr, got, sizeof(got)));
		return;
	}
	if (cfg->auth == IKE_PEER_AUTH_CERT) {
		char why[IKE_CERT_REASON_MAX];
		if (!cert_auth_ok(sa, pls, &ap, false, why, sizeof(why))) {
			ike__sa_fail(sa, phase, IKE_N_AUTHENTICATION_FAILED, "%s", why);
			return;
		}
	} else if (ap.auth.method != IKE_AUTH_SHARED_KEY_MIC ||
		   !psk_verify(sa, false, ap.idr_pl, &ap.auth)) {
		ike__sa_fail(sa, phase, IKE_N_AUTHENTICATION_FAILED,
			     "responder's AUTH (method %u) did not verify with our pre-shared key: "
			     "the keys differ",
			     (unsigned)ap.auth.method);
		return;
	}
	ike__sa_set_state(sa, IKE_STATE_ESTABLISHED,
			  sa->cert_auth ? "IKE_AUTH done, responder authenticated by certificate"
					: "IKE_AUTH done, responder authenticated by PSK");
	ike__event(sa->eng, sa, IKE_EVENT_ESTABLISHED, phase, 0,
		   sa->cert_auth ? "authenticated with a certificate" : "authenticated with a PSK");
	initiator_child(sa, pls, &ap);
}

/* ---- responder ---- */

/* Answer with one error notify and fail the SA with the reason. */
static void responder_refuse(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint16_t notify,
			     const struct ike_endpoint *from, const struct ike_endpoint *to,
			     const char *reason)
{
	struct ike_engine *eng = sa->eng;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_build b;
	size_t len;

	ike_build_init(&b, &w, NULL);
	ike_build_notify(&b, &(struct ike_notify){.type = notify});
	if (ike_build_finish(&b, &len) != 0 ||
	    ike__response_send_sk(sa, hdr, ike_build_first(&b), eng->chain, len, from, to) != 0)
		LOG_WARN(IKE, "could not answer IKE_AUTH", "tunnel=%s", sa->peer->cfg.name);
	ike__sa_fail(sa, phase, notify, "%s", reason);
}

/* The tunnel whose remote ID the initiator claims: this SA's, or another one reachable the same
 * way with the same IKE proposal. NULL with a reason if none. */
static struct ike_peer *responder_identity(struct ike_ikesa *sa, const struct auth_payloads *ap,
					   char *why, size_t cap)
{
	struct ike_peer *cur = sa->peer;
	char got[IKE_ID_MAX + 16];

	if (id_is(&ap->idi, cur->cfg.remote_id))
		return cur;
	for (struct ike_peer *p = sa->eng->peers; p; p = p->next)
		if (p != cur && id_is(&ap->idi, p->cfg.remote_id) &&
		    ike__peer_accepts(p, &sa->remote, &sa->local) &&
		    proposal_equal(&p->cfg.ike, &cur->cfg.ike))
			return p;
	snprintf(why, cap, "peer identity mismatch: expected fqdn:%s, got %s", cur->cfg.remote_id,
		 id_str(&ap->idi, got, sizeof(got)));
	return NULL;
}

/* The Child SA the initiator asks for, against our configuration (§2.7, §2.9): the proposal
 * number and SPI chosen and the narrowed selectors, or an error notify and a reason. */
struct child_answer {
	uint16_t notify;
	uint8_t prop_num;
	uint32_t spi_out;
	struct ike_ts_list tsi, tsr;
	char why[512];
};

static void responder_child(struct ike_ikesa *sa, const struct auth_payloads *ap,
			    struct child_answer *ca)
{
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct ike_ts_list *in = calloc(2, sizeof(*in));
	struct ike_sa offer;
	char a[256], b[256], c[256], d[256];

	ca->notify = IKE_N_INVALID_SYNTAX;
	snprintf(ca->why, sizeof(ca->why), "the Child SA request is missing or malformed");
	if (!in || !ap->sa_pl || !ap->tsi_pl || !ap->tsr_pl ||
	    ike_sa_parse(ap->sa_pl->body, ap->sa_pl->len, false, &offer) != IKE_PARSE_OK ||
	    ike_ts_parse(ap->tsi_pl->body, ap->tsi_pl->len, &in[0]) != IKE_PARSE_OK ||
	    ike_ts_parse(ap->tsr_pl->body, ap->tsr_pl->len, &in[1]) != IKE_PARSE_OK)
		goto out;
	int i = ike__prop_select(&offer, &cfg->esp, PROPOSAL_ESP);
	const struct ike_proposal *p = i >= 0 ? &offer.prop[i] : NULL;
	uint32_t spi = p && p->spi_size == 4
			       ? (uint32_t)p->spi[0] << 24 | (uint32_t)p->spi[1] << 16 |
					 (uint32_t)p->spi[2] << 8 | p->spi[3]
			       : 0;
	ca->notify = IKE_N_NO_PROPOSAL_CHOSEN;
	if (!p) {
		ike__prop_explain(&offer, &cfg->esp, PROPOSAL_ESP, ca->why, sizeof(ca->why));
		goto out;
	}
	if (spi < ESP_SPI_MIN) {
		snprintf(ca->why, sizeof(ca->why), "peer's ESP SPI %08" PRIx32 " is reserved", spi);
		goto out;
	}
	/* §2.9: TSi is the initiator's (our remote) side, TSr ours. */
	bool ok = ike__ts_narrow(&in[0], cfg->remote_ts, cfg->n_remote_ts, &ca->tsi);
	if (!ok || !ike__ts_narrow(&in[1], cfg->local_ts, cfg->n_local_ts, &ca->tsr)) {
		struct ike_ts_list mine;
		ike__ts_from_prefixes(cfg->remote_ts, cfg->n_remote_ts, &mine);
		ike__ts_format(&mine, c, sizeof(c));
		ike__ts_from_prefixes(cfg->local_ts, cfg->n_local_ts, &mine);
		ca->notify = IKE_N_TS_UNACCEPTABLE;
		snprintf(ca->why, sizeof(ca->why),
			 "peer proposed TSi=%s TSr=%s; our configuration allows remote %s and "
			 "local %s, and they do not overlap",
			 ike__ts_format(&in[0], a, sizeof(a)), ike__ts_format(&in[1], b, sizeof(b)),
			 c, ike__ts_format(&mine, d, sizeof(d)));
		goto out;
	}
	ca->notify = 0;
	ca->prop_num = p->num;
	ca->spi_out = spi;
	ca->why[0] = '\0';
out:
	free(in);
}

/* IDr, [CERT+,] AUTH, then SAr2, TSi, TSr or the child's error notify, into eng->chain. */
static int responder_chain(struct ike_ikesa *sa, const struct child_answer *ca, size_t *len,
			   uint8_t *first, char *why, size_t cap)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_config *cfg = &sa->peer->cfg;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	uint8_t idb[ID_BODY_MAX], auth[IKE_CERT_AUTH_MAX], spi[4];
	size_t id_len = id_body(cfg->local_id, idb);
	struct ike_auth ours;
	struct ike_sa sa2;
	struct ike_build b;
	int rc;

	spi_bytes(sa->child_spi_in, spi);
	rc = our_auth(sa, idb, id_len, auth, &ours, why, cap);
	if (rc == 0)
		rc = ike__prop_to_sa(&cfg->esp, PROPOSAL_ESP, spi, sizeof(spi), &sa2);
	if (rc != 0)
		goto out;
	sa2.prop[0].num = ca->prop_num;
	ike_build_init(&b, &w, NULL);
	ike_build_raw(&b, IKE_PAYLOAD_IDR, false, idb, id_len);
	if (cfg->auth == IKE_PEER_AUTH_CERT && (rc = ike__cert_build(&b, cfg, true, false)) != 0)
		goto out;
	ike_build_auth(&b, &ours);
	if (ca->notify) {
		ike_build_notify(&b, &(struct ike_notify){.type = ca->notify});
	} else {
		ike_build_sa(&b, &sa2);
		ike_build_ts(&b, IKE_PAYLOAD_TSI, &ca->tsi);
		ike_build_ts(&b, IKE_PAYLOAD_TSR, &ca->tsr);
	}
	rc = ike_build_finish(&b, len);
	*first = ike_build_first(&b);
out:
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc;
}

/* §2.4: INITIAL_CONTACT from an authenticated peer: its other IKE SAs with us are stale. */
static void initial_contact(struct ike_ikesa *sa)
{
	struct ike_ikesa *old;

	while ((old = ike__sa_find_peer(sa->eng, sa->peer, sa, IKE_STATE_ESTABLISHED)))
		ike__sa_fail(old, phase, 0, "replaced: the peer sent INITIAL_CONTACT on a new SA");
}

/* Authenticated: negotiate the child, answer, and establish. */
static void responder_accept(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			     const struct auth_payloads *ap, const struct ike_endpoint *from,
			     const struct ike_endpoint *to)
{
	struct child_answer *ca = calloc(1, sizeof(*ca));
	size_t len = 0;
	uint8_t first = IKE_PAYLOAD_NONE;
	char why[IKE_CERT_REASON_MAX] = "";
	int rc = ca ? 0 : -ENOMEM;

	if (rc == 0) {
		responder_child(sa, ap, ca);
		if (ca->notify == 0)
			rc = child_spi_new(sa);
	}
	if (rc == 0 && (rc = responder_chain(sa, ca, &len, &first, why, sizeof(why))) != 0) {
		/* We cannot prove our identity: tell the initiator, say why here. */
		responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, why);
		free(ca);
		return;
	}
	if (rc == 0)
		rc = ike__response_send_sk(sa, hdr, first, sa->eng->chain, len, from, to);
	if (rc != 0) {
		ike__sa_fail(sa, phase, 0, "could not answer IKE_AUTH: %s", sdw_strerror(rc));
		free(ca);
		return;
	}
	if (ap->initial_contact)
		initial_contact(sa);
	ike__sa_set_state(sa, IKE_STATE_ESTABLISHED,
			  sa->cert_auth ? "IKE_AUTH done, initiator authenticated by certificate"
					: "IKE_AUTH done, initiator authenticated by PSK");
	ike__event(sa->eng, sa, IKE_EVENT_ESTABLISHED, phase, 0,
		   sa->cert_auth ? "authenticated with a certificate" : "authenticated with a PSK");
	if (ca->notify) {
		LOG_NOTICE(IKE, "Child SA refused", "tunnel=%s sa=%016" PRIx64 " reason=\"%s\"",
			   sa->peer->cfg.name, sa->spi_r, ca->why);
		ike__event(sa->eng, sa, IKE_EVENT_CHILD_FAILED, phase, ca->notify, ca->why);
	} else if ((rc = child_up(sa, ca->spi_out, &ca->tsr, &ca->tsi)) != 0) {
		ike__event(sa->eng, sa, IKE_EVENT_CHILD_FAILED, phase, 0, sdw_strerror(rc));
	}
	free(ca);
}

void ike__auth_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			       const struct ike_payloads *pls, const struct ike_endpoint *from,
			       const struct ike_endpoint *to)
{
	struct auth_payloads ap;
	char why[IKE_ID_MAX * 2 + 64], got[IKE_ID_MAX + 16];

	const char *bad = auth_payloads_parse(pls, true, &ap);
	if (bad) {
		snprintf(why, sizeof(why), "initiator's IKE_AUTH request lacks a valid %s", bad);
		responder_refuse(sa, hdr, IKE_N_INVALID_SYNTAX, from, to, why);
		return;
	}
	struct ike_peer *peer = responder_identity(sa, &ap, why, sizeof(why));
	if (!peer) {
		responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, why);
		return;
	}
	ike__sa_set_peer(sa, peer);
	if (ap.idr_pl && !id_is(&ap.idr, peer->cfg.local_id)) {
		snprintf(why, sizeof(why), "initiator asked for identity %s; we are fqdn:%s",
			 id_str(&ap.idr, got, sizeof(got)), peer->cfg.local_id);
		responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, why);
		return;
	}
	if (peer->cfg.auth == IKE_PEER_AUTH_CERT) {
		char cwhy[IKE_CERT_REASON_MAX];
		if (!ike__cert_req_matches(&peer->cfg, pls))
			LOG_INFO(IKE, "peer requests certificates of another CA than ours",
				 "tunnel=%s sa=%016" PRIx64, peer->cfg.name, sa->spi_r);
		if (!cert_auth_ok(sa, pls, &ap, true, cwhy, sizeof(cwhy))) {
			responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, cwhy);
			return;
		}
		responder_accept(sa, hdr, &ap, from, to);
		return;
	}
	if (ap.auth.method != IKE_AUTH_SHARED_KEY_MIC) {
		snprintf(why, sizeof(why),
			 "peer authenticates with method %u; tunnel %s uses a pre-shared key",
			 (unsigned)ap.auth.method, peer->cfg.name);
		responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, why);
		return;
	}
	if (!psk_verify(sa, true, ap.idi_pl, &ap.auth)) {
		snprintf(
			why, sizeof(why),
			"AUTH from fqdn:%s did not verify with our pre-shared key: the keys differ",
			peer->cfg.remote_id);
		responder_refuse(sa, hdr, IKE_N_AUTHENTICATION_FAILED, from, to, why);
		return;
	}
	responder_accept(sa, hdr, &ap, from, to);
}
