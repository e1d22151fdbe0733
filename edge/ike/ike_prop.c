/*
 * Our pinned proposal (common/proposal.h) against SA payloads (RFC 7296 §3.3): the offer we
 * send, the choice we make from a peer's offer, the check of a responder's choice, and, when
 * nothing fits, an explanation that names the parameter that disagrees.
 *
 * Matching rules (§2.7, §3.3.6): a proposal of the right protocol is acceptable when, for each
 * transform type we need, it lists our value (an AES-GCM key length included), every integrity
 * transform it lists is NONE-compatible (AEAD ciphers carry no separate integrity, so it must
 * offer NONE), and it holds no transform type we do not understand. A transform with an
 * attribute we do not understand is never chosen. ESP proposals in IKE_AUTH carry no DH group
 * (§1.2); one the peer sends anyway is ignored there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edge/ike/ike_internal.h"

/* One transform we need in a proposal. */
struct want {
	uint8_t type;
	uint16_t id;
	uint16_t key_len;
	const char *what; /* for explanations: "IKE key exchange" */
};

static uint16_t encr_id(uint8_t encr, uint16_t *key_len)
{
	switch (encr) {
	case PROPOSAL_ENCR_AES128GCM16:
		*key_len = 128;
		return IKE_ENCR_AES_GCM_16;
	case PROPOSAL_ENCR_AES256GCM16:
		*key_len = 256;
		return IKE_ENCR_AES_GCM_16;
	case PROPOSAL_ENCR_CHACHA20POLY1305:
		*key_len = 0; /* RFC 7634 §5: no Key Length attribute */
		return IKE_ENCR_CHACHA20_POLY1305;
	default:
		*key_len = 0;
		return 0;
	}
}

uint16_t ike__prf_id(uint8_t prf)
{
	switch (prf) {
	case PROPOSAL_PRF_SHA256:
		return IKE_PRF_HMAC_SHA2_256;
	case PROPOSAL_PRF_SHA384:
		return IKE_PRF_HMAC_SHA2_384;
	case PROPOSAL_PRF_SHA512:
		return IKE_PRF_HMAC_SHA2_512;
	default:
		return 0;
	}
}

enum esp_cipher ike__esp_cipher(uint8_t encr)
{
	switch (encr) {
	case PROPOSAL_ENCR_AES128GCM16:
		return ESP_CIPHER_AES128_GCM16;
	case PROPOSAL_ENCR_AES256GCM16:
		return ESP_CIPHER_AES256_GCM16;
	case PROPOSAL_ENCR_CHACHA20POLY1305:
		return ESP_CIPHER_CHACHA20_POLY1305;
	default:
		return ESP_CIPHER_COUNT;
	}
}

/* The transforms our proposal needs; returns how many. */
static size_t wants_of(const struct proposal *p, enum proposal_kind kind, struct want w[3])
{
	uint16_t key_len;
	uint16_t id = encr_id(p->encr, &key_len);
	bool ike = kind == PROPOSAL_IKE;

	w[0] = (struct want){IKE_TRANSFORM_ENCR, id, key_len,
			     ike ? "IKE encryption" : "ESP encryption"};
	if (!ike) {
		w[1] = (struct want){IKE_TRANSFORM_ESN, p->esn ? IKE_ESN_YES : IKE_ESN_NO, 0,
				     "ESP extended sequence numbers"};
		return 2;
	}
	w[1] = (struct want){IKE_TRANSFORM_PRF, ike__prf_id(p->prf), 0, "IKE PRF"};
	w[2] = (struct want){IKE_TRANSFORM_DH, p->group, 0, "IKE key exchange"};
	return 3;
}

static uint8_t proto_of(enum proposal_kind kind)
{
	return kind == PROPOSAL_IKE ? IKE_PROTO_IKE : IKE_PROTO_ESP;
}

int ike__prop_to_sa(const struct proposal *p, enum proposal_kind kind, const uint8_t *spi,
		    size_t spi_size, struct ike_sa *out)
{
	struct want w[3];
	size_t n = wants_of(p, kind, w);
	int rc;

	out->n_prop = 0;
	out->n_xf = 0;
	if (w[0].id == 0 || (kind == PROPOSAL_IKE && (w[1].id == 0 || w[2].id == 0)))
		return -EINVAL;
	rc = ike_sa_add_proposal(out, proto_of(kind), spi, spi_size);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = ike_sa_add_transform(out, w[i].type, w[i].id, w[i].key_len);
	return rc;
}

static bool xf_is(const struct ike_transform *xf, const struct want *w)
{
	return xf->type == w->type && xf->id == w->id && xf->key_len == w->key_len &&
	       !xf->unknown_attr;
}

/* Whether every transform of the proposal is of a type we understand here, and its integrity
 * transforms (if any) include NONE. */
static bool others_ok(const struct ike_sa *sa, const struct ike_proposal *p,
		      enum proposal_kind kind)
{
	bool integ = false, integ_none = false;

	for (size_t i = p->first; i < (size_t)p->first + p->count; i++) {
		const struct ike_transform *xf = &sa->xf[i];
		switch (xf->type) {
		case IKE_TRANSFORM_ENCR:
			break;
		case IKE_TRANSFORM_INTEG:
			integ = true;
			integ_none |= xf->id == IKE_INTEG_NONE;
			break;
		case IKE_TRANSFORM_PRF:
			if (kind != PROPOSAL_IKE)
				return false;
			break;
		case IKE_TRANSFORM_DH:
			break; /* IKE: matched as a want; ESP in IKE_AUTH: ignored (§1.2) */
		case IKE_TRANSFORM_ESN:
			if (kind != PROPOSAL_ESP)
				return false;
			break;
		default:
			return false; /* §3.3.6: a transform type we do not understand */
		}
	}
	return !integ || integ_none;
}

static bool proposal_has(const struct ike_sa *sa, const struct ike_proposal *p,
			 const struct want *w)
{
	for (size_t i = p->first; i < (size_t)p->first + p->count; i++)
		if (xf_is(&sa->xf[i], w))
			return true;
	return false;
}

int ike__prop_select(const struct ike_sa *offer, const struct proposal *ours,
		     enum proposal_kind kind)
{
	struct want w[3];
	size_t n = wants_of(ours, kind, w);

	for (size_t i = 0; i < offer->n_prop; i++) {
		const struct ike_proposal *p = &offer->prop[i];
		bool ok = p->proto == proto_of(kind) && others_ok(offer, p, kind);
		for (size_t j = 0; ok && j < n; j++)
			ok = proposal_has(offer, p, &w[j]);
		if (ok)
			return (int)i;
	}
	return -1;
}

const char *ike__xform_name(uint8_t type, uint16_t id, uint16_t key_len, char buf[static 24])
{
	switch (type) {
	case IKE_TRANSFORM_ENCR:
		if (id == IKE_ENCR_AES_GCM_16 || id == IKE_ENCR_AES_GCM_12 ||
		    id == IKE_ENCR_AES_GCM_8) {
			unsigned icv = id == IKE_ENCR_AES_GCM_16   ? 16
				       : id == IKE_ENCR_AES_GCM_12 ? 12
								   : 8;
			snprintf(buf, 24, "aes%ugcm%u", (unsigned)key_len, icv);
			return buf;
		}
		if (id == IKE_ENCR_CHACHA20_POLY1305)
			return "chacha20poly1305";
		if (id == IKE_ENCR_AES_CBC || id == IKE_ENCR_AES_CTR || id == IKE_ENCR_AES_CCM_16) {
			const char *mode = id == IKE_ENCR_AES_CBC   ? ""
					   : id == IKE_ENCR_AES_CTR ? "ctr"
								    : "ccm16";
			snprintf(buf, 24, "aes%u%s", (unsigned)key_len, mode);
			return buf;
		}
		snprintf(buf, 24, "encr%u", (unsigned)id);
		return buf;
	case IKE_TRANSFORM_PRF:
		switch (id) {
		case IKE_PRF_HMAC_SHA1:
			return "prfsha1";
		case IKE_PRF_HMAC_SHA2_256:
			return "prfsha256";
		case IKE_PRF_HMAC_SHA2_384:
			return "prfsha384";
		case IKE_PRF_HMAC_SHA2_512:
			return "prfsha512";
		default:
			snprintf(buf, 24, "prf%u", (unsigned)id);
			return buf;
		}
	case IKE_TRANSFORM_INTEG:
		switch (id) {
		case IKE_INTEG_NONE:
			return "nointeg";
		case IKE_INTEG_HMAC_SHA1_96:
			return "sha1";
		case IKE_INTEG_HMAC_SHA2_256_128:
			return "sha256";
		case IKE_INTEG_HMAC_SHA2_384_192:
			return "sha384";
		case IKE_INTEG_HMAC_SHA2_512_256:
			return "sha512";
		default:
			snprintf(buf, 24, "integ%u", (unsigned)id);
			return buf;
		}
	case IKE_TRANSFORM_DH:
		switch (id) {
		case IKE_DH_NONE:
			return "nogroup";
		case IKE_DH_MODP_2048:
			return "modp2048";
		case IKE_DH_MODP_3072:
			return "modp3072";
		case IKE_DH_MODP_4096:
			return "modp4096";
		case IKE_DH_ECP_256:
			return "ecp256";
		case IKE_DH_ECP_384:
			return "ecp384";
		case IKE_DH_ECP_521:
			return "ecp521";
		case IKE_DH_CURVE25519:
			return "x25519";
		case IKE_DH_CURVE448:
			return "x448";
		case 2:
			return "modp1024";
		case 5:
			return "modp1536";
		default:
			snprintf(buf, 24, "group%u", (unsigned)id);
			return buf;
		}
	case IKE_TRANSFORM_ESN:
		return id == IKE_ESN_YES ? "esn" : id == IKE_ESN_NO ? "noesn" : "esn?";
	default:
		snprintf(buf, 24, "type%u:%u", (unsigned)type, (unsigned)id);
		return buf;
	}
}

static const char *want_name(const struct want *w, char buf[static 24])
{
	return ike__xform_name(w->type, w->id, w->key_len, buf);
}

/* Append ", name" for every distinct value of a transform type the offer lists. Returns how many
 * distinct values it found. */
static size_t offered_values(const struct ike_sa *offer, uint8_t proto, uint8_t type, char *buf,
			     size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < offer->n_prop; i++) {
		const struct ike_proposal *p = &offer->prop[i];
		if (p->proto != proto)
			continue;
		for (size_t j = p->first; j < (size_t)p->first + p->count; j++) {
			const struct ike_transform *xf = &offer->xf[j];
			char nb[24];
			if (xf->type != type)
				continue;
			const char *name = ike__xform_name(type, xf->id, xf->key_len, nb);
			/* Distinct: look for ", name," in ", list,". */
			char probe[32], hay[512];
			snprintf(probe, sizeof(probe), ", %s,", name);
			snprintf(hay, sizeof(hay), ", %s,", buf);
			if (strstr(hay, probe))
				continue;
			ike__appendf(buf, cap, "%s%s", n ? ", " : "", name);
			n++;
		}
	}
	return n;
}

/* "aes128gcm16-prfsha256-ecp256" for one proposal. */
static void proposal_str(const struct ike_sa *sa, const struct ike_proposal *p, char *buf,
			 size_t cap)
{
	buf[0] = '\0';
	for (size_t j = p->first; j < (size_t)p->first + p->count; j++) {
		char nb[24];
		const struct ike_transform *xf = &sa->xf[j];
		ike__appendf(buf, cap, "%s%s", j == p->first ? "" : "-",
			     ike__xform_name(xf->type, xf->id, xf->key_len, nb));
	}
}

void ike__prop_explain(const struct ike_sa *offer, const struct proposal *ours,
		       enum proposal_kind kind, char *buf, size_t cap)
{
	struct want w[3];
	size_t n = wants_of(ours, kind, w);
	const char *proto = kind == PROPOSAL_IKE ? "IKE" : "ESP";
	char mine[PROPOSAL_STRLEN];
	bool named = false;

	buf[0] = '\0';
	proposal_format(ours, kind, mine);
	for (size_t j = 0; j < n; j++) {
		char values[256], nb[24];
		bool offered = false;
		for (size_t i = 0; i < offer->n_prop && !offered; i++)
			offered = offer->prop[i].proto == proto_of(kind) &&
				  proposal_has(offer, &offer->prop[i], &w[j]);
		if (offered)
			continue;
		size_t k = offered_values(offer, proto_of(kind), w[j].type, values, sizeof(values));
		ike__appendf(buf, cap, "%speer offered %s%s for %s; we require %s",
			     named ? "; " : "", k ? "only " : "no ", k ? values : "value",
			     w[j].what, want_name(&w[j], nb));
		named = true;
	}
	if (named)
		return;
	/* Each value is offered somewhere, but no one proposal combines them (or one adds an
	 * integrity algorithm or a transform we do not run). */
	ike__appendf(buf, cap, "no single %s proposal of the peer matches ours (%s); peer offered ",
		     proto, mine);
	size_t shown = 0;
	for (size_t i = 0; i < offer->n_prop; i++) {
		char ps[160];
		if (offer->prop[i].proto != proto_of(kind))
			continue;
		proposal_str(offer, &offer->prop[i], ps, sizeof(ps));
		ike__appendf(buf, cap, "%s%s", shown++ ? ", " : "", ps);
	}
	if (shown == 0)
		ike__appendf(buf, cap, "no %s proposal at all", proto);
}

bool ike__prop_check_response(const struct ike_sa *resp, const struct proposal *ours,
			      enum proposal_kind kind, char *why, size_t cap)
{
	struct want w[3];
	size_t n = wants_of(ours, kind, w);
	char nb[24], ob[24];

	why[0] = '\0';
	if (resp->n_prop != 1 || resp->prop[0].proto != proto_of(kind)) {
		ike__appendf(why, cap, "responder's SA payload is not one %s proposal",
			     kind == PROPOSAL_IKE ? "IKE" : "ESP");
		return false;
	}
	const struct ike_proposal *p = &resp->prop[0];
	for (size_t j = 0; j < n; j++) {
		size_t seen = 0;
		const struct ike_transform *got = NULL;
		for (size_t i = p->first; i < (size_t)p->first + p->count; i++) {
			if (resp->xf[i].type == w[j].type) {
				seen++;
				got = &resp->xf[i];
			}
		}
		if (seen != 1 || !xf_is(got, &w[j])) {
			ike__appendf(
				why, cap, "responder chose %s for %s; we offered only %s",
				seen == 0  ? "nothing"
				: seen > 1 ? "several values"
					   : ike__xform_name(got->type, got->id, got->key_len, ob),
				w[j].what, want_name(&w[j], nb));
			return false;
		}
	}
	if (!others_ok(resp, p, kind) || p->count != n) {
		/* Only an integrity NONE (or, for ESP, a DH transform) may come on top. */
		for (size_t i = p->first; i < (size_t)p->first + p->count; i++) {
			const struct ike_transform *xf = &resp->xf[i];
			bool fine = (xf->type == IKE_TRANSFORM_INTEG && xf->id == IKE_INTEG_NONE) ||
				    (kind == PROPOSAL_ESP && xf->type == IKE_TRANSFORM_DH &&
				     xf->id == IKE_DH_NONE);
			for (size_t j = 0; j < n && !fine; j++)
				fine = xf->type == w[j].type;
			if (!fine) {
				ike__appendf(why, cap, "responder added %s, which we did not offer",
					     ike__xform_name(xf->type, xf->id, xf->key_len, nb));
				return false;
			}
		}
	}
	return true;
}
