/*
 * Certificate authentication primitives for IKE_AUTH: RFC 7427 signatures over the §2.15 signed
 * octets, CERT and CERTREQ payloads, and the peer's certificate checked with common/x509id
 * (chain to the WAN CA, validity, the site it names). See ike_cert.h for the formats.
 *
 * Signature verification parses the AlgorithmIdentifier with OpenSSL (d2i_X509_ALGOR, consumed
 * exactly) and admits only the algorithms listed in ike_cert.h, each with the key type it needs:
 * an ECDSA OID with an RSA key is refused before any public-key operation.
 */
#include "edge/ike/ike_cert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/x509id.h"

enum {
	AID_MAX = 255, /* RFC 7427 §3: the AlgorithmIdentifier's length fits one octet */
	PSS_TRAILER_BC = 1,
	PSS_SALT_DEFAULT = 20, /* RFC 4055: absent saltLength */
};

/* The digest NID of an RFC 7427 hash ID we sign with; NID_undef for IDENTITY (EdDSA). */
static int hash_nid(uint16_t h)
{
	switch (h) {
	case IKE_HASH_SHA2_256:
		return NID_sha256;
	case IKE_HASH_SHA2_384:
		return NID_sha384;
	case IKE_HASH_SHA2_512:
		return NID_sha512;
	default:
		return NID_undef;
	}
}

static bool sha2_nid(int nid)
{
	return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

uint16_t ike__cert_key_hash(EVP_PKEY *key)
{
	const EVP_MD *md;

	if (!key)
		return 0;
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
		return IKE_HASH_IDENTITY;
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(key) >= 2048 ? IKE_HASH_SHA2_256 : 0;
	case EVP_PKEY_EC:
		md = x509id_sign_md(key);
		if (!md)
			return 0;
		switch (EVP_MD_get_type(md)) {
		case NID_sha256:
			return IKE_HASH_SHA2_256;
		case NID_sha384:
			return IKE_HASH_SHA2_384;
		case NID_sha512:
			return IKE_HASH_SHA2_512;
		default:
			return 0;
		}
	default:
		return 0;
	}
}

uint8_t ike__cert_hash_mask(const uint8_t *data, size_t len)
{
	uint8_t mask = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		unsigned id = (unsigned)data[i] << 8 | data[i + 1];
		if (id > 0 && id < IKE_CERT_HASH_BITS_MAX)
			mask |= (uint8_t)(1u << id);
	}
	return mask;
}

/* ---- configuration ---- */

bool ike__cert_config_ok(const struct ike_peer_config *c, char *buf, size_t cap)
{
	struct x509id_identity id;

	if (!c->key || !c->cert || !c->ca) {
		snprintf(buf, cap,
			 "certificate authentication needs our key, our certificate and "
			 "the CA certificate");
		return false;
	}
	if (ike__cert_key_hash(c->key) == 0) {
		snprintf(buf, cap,
			 "our key must be ECDSA P-256/P-384/P-521, Ed25519 or RSA of at "
			 "least 2048 bits");
		return false;
	}
	if (X509_check_private_key(c->cert, c->key) != 1) {
		ERR_clear_error();
		snprintf(buf, cap, "our certificate does not belong to our private key");
		return false;
	}
	if (c->chain && sk_X509_num(c->chain) > IKE_CERT_CHAIN_MAX) {
		snprintf(buf, cap, "at most %d intermediate certificates", IKE_CERT_CHAIN_MAX);
		return false;
	}
	if (!x509id_name_valid(c->remote_id)) {
		snprintf(buf, cap, "remote_id '%s' is not a site name, which certificates carry",
			 c->remote_id);
		return false;
	}
	if (x509id_cert_identity(c->cert, &id) != 0 || strcmp(id.site, c->local_id) != 0) {
		snprintf(
			buf, cap,
			"our certificate names site '%s', but local_id is '%s': peers would refuse "
			"it; use the certificate issued for this site",
			id.site[0] ? id.site : "(none)", c->local_id);
		return false;
	}
	return true;
}

int ike__cert_config_ref(struct ike_peer_config *c)
{
	STACK_OF(X509) *chain = NULL;

	if (c->auth != IKE_PEER_AUTH_CERT)
		return 0;
	if (c->chain && !(chain = X509_chain_up_ref(c->chain)))
		return -ENOMEM;
	if (EVP_PKEY_up_ref(c->key) != 1) {
		sk_X509_pop_free(chain, X509_free);
		return -ENOMEM;
	}
	/* X509_up_ref cannot fail on a valid object in OpenSSL 3 (atomic increment). */
	X509_up_ref(c->cert);
	X509_up_ref(c->ca);
	c->chain = chain;
	return 0;
}

void ike__cert_config_unref(struct ike_peer_config *c)
{
	if (c->auth != IKE_PEER_AUTH_CERT)
		return;
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
	X509_free(c->ca);
	sk_X509_pop_free(c->chain, X509_free);
	c->key = NULL;
	c->cert = NULL;
	c->ca = NULL;
	c->chain = NULL;
}

/* ---- signatures ---- */

int ike__cert_sign(EVP_PKEY *key, const uint8_t *octets, size_t len,
		   uint8_t out[static IKE_CERT_AUTH_MAX], size_t *out_len)
{
	uint16_t h = ike__cert_key_hash(key);
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t aid[AID_MAX];
	int rc = -EIO;

	if (h == 0)
		return -EINVAL;
	if ((size_t)EVP_PKEY_get_size(key) > IKE_CERT_AUTH_MAX - 1 - AID_MAX)
		return -EINVAL;
	const EVP_MD *md = h == IKE_HASH_IDENTITY ? NULL : EVP_get_digestbynid(hash_nid(h));
	mctx = EVP_MD_CTX_new();
	if (!mctx || EVP_DigestSignInit(mctx, &pctx, md, NULL, key) != 1)
		goto out;
	/* RSA signs RSASSA-PSS (RFC 7427 §3, RFC 4055): MGF1 with the same hash, salt = hash. */
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	/* The provider encodes the AlgorithmIdentifier of exactly what it will do. */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid,
						  sizeof(aid)),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_PKEY_CTX_get_params(pctx, params) != 1 || params[0].return_size == 0 ||
	    params[0].return_size > AID_MAX)
		goto out;
	size_t aid_len = params[0].return_size;
	size_t sig_len = IKE_CERT_AUTH_MAX - 1 - aid_len;
	out[0] = (uint8_t)aid_len;
	memcpy(out + 1, aid, aid_len);
	if (EVP_DigestSign(mctx, out + 1 + aid_len, &sig_len, octets, len) != 1)
		goto out;
	*out_len = 1 + aid_len + sig_len;
	rc = 0;
out:
	if (rc != 0)
		x509id_ossl_log(LOG_LEVEL_ERR, "IKE AUTH signature failed");
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* How an AlgorithmIdentifier says to verify. */
struct sig_alg {
	const char *name; /* for reasons */
	int key_type;     /* EVP_PKEY_EC, EVP_PKEY_ED25519, EVP_PKEY_RSA */
	int md_nid;       /* NID_undef for EdDSA */
	bool pss;
	int mgf1_nid;
	int salt;
};

/* RFC 4055 RSASSA-PSS-params: hash, MGF1 with a hash, salt length, trailer 1. */
static bool pss_params(int ptype, const void *pval, struct sig_alg *a, char *why, size_t cap)
{
	RSA_PSS_PARAMS *pss = NULL;
	X509_ALGOR *mgf_md = NULL;
	bool ok = false;

	if (ptype != V_ASN1_SEQUENCE ||
	    !(pss = ASN1_item_unpack(pval, ASN1_ITEM_rptr(RSA_PSS_PARAMS)))) {
		snprintf(why, cap, "RSASSA-PSS parameters are malformed");
		goto out;
	}
	a->md_nid = pss->hashAlgorithm ? OBJ_obj2nid(pss->hashAlgorithm->algorithm) : NID_sha1;
	a->mgf1_nid = NID_sha1;
	if (pss->maskGenAlgorithm) {
		const ASN1_TYPE *p = pss->maskGenAlgorithm->parameter;
		if (OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1 || !p ||
		    p->type != V_ASN1_SEQUENCE ||
		    !(mgf_md = ASN1_item_unpack(p->value.sequence, ASN1_ITEM_rptr(X509_ALGOR)))) {
			snprintf(why, cap, "RSASSA-PSS mask generation is not MGF1");
			goto out;
		}
		a->mgf1_nid = OBJ_obj2nid(mgf_md->algorithm);
	}
	long salt = pss->saltLength ? ASN1_INTEGER_get(pss->saltLength) : PSS_SALT_DEFAULT;
	long trailer = pss->trailerField ? ASN1_INTEGER_get(pss->trailerField) : PSS_TRAILER_BC;
	if (!sha2_nid(a->md_nid) || !sha2_nid(a->mgf1_nid)) {
		snprintf(why, cap, "RSASSA-PSS with %s/MGF1-%s: only SHA-2 is accepted",
			 OBJ_nid2sn(a->md_nid), OBJ_nid2sn(a->mgf1_nid));
		goto out;
	}
	if (salt < 0 || salt > 512 || trailer != PSS_TRAILER_BC) {
		snprintf(why, cap, "RSASSA-PSS salt length %ld or trailer %ld is invalid", salt,
			 trailer);
		goto out;
	}
	a->salt = (int)salt;
	ok = true;
out:
	X509_ALGOR_free(mgf_md);
	RSA_PSS_PARAMS_free(pss);
	return ok;
}

/* The verification recipe of an AlgorithmIdentifier, or false with why. */
static bool sig_alg_of(const X509_ALGOR *alg, struct sig_alg *a, char *why, size_t cap)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	int ptype;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	int nid = OBJ_obj2nid(obj);
	bool no_params = ptype == V_ASN1_UNDEF || ptype == V_ASN1_NULL;
	*a = (struct sig_alg){.name = OBJ_nid2sn(nid), .md_nid = NID_undef};
	switch (nid) {
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
		a->key_type = EVP_PKEY_EC;
		a->md_nid = nid == NID_ecdsa_with_SHA256   ? NID_sha256
			    : nid == NID_ecdsa_with_SHA384 ? NID_sha384
							   : NID_sha512;
		break;
	case NID_ED25519:
		a->key_type = EVP_PKEY_ED25519;
		no_params = ptype == V_ASN1_UNDEF; /* RFC 8410: parameters absent */
		break;
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
		a->key_type = EVP_PKEY_RSA;
		a->md_nid = nid == NID_sha256WithRSAEncryption   ? NID_sha256
			    : nid == NID_sha384WithRSAEncryption ? NID_sha384
								 : NID_sha512;
		break;
	case NID_rsassaPss:
		a->key_type = EVP_PKEY_RSA;
		a->pss = true;
		return pss_params(ptype, pval, a, why, cap);
	default: {
		char oid[80];
		OBJ_obj2txt(oid, sizeof(oid), obj, 1);
		snprintf(why, cap,
			 "peer signed with algorithm %s, which we do not accept (ECDSA with SHA-2, "
			 "Ed25519, RSASSA-PSS or PKCS#1 v1.5 with SHA-2)",
			 oid);
		return false;
	}
	}
	if (!no_params) {
		snprintf(why, cap, "%s AlgorithmIdentifier carries unexpected parameters", a->name);
		return false;
	}
	return true;
}

static const char *key_type_name(int t)
{
	switch (t) {
	case EVP_PKEY_EC:
		return "ECDSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return "RSA";
	default:
		return "unsupported";
	}
}

/* Verify sig with pub per a; false with why. */
static bool sig_check(EVP_PKEY *pub, const struct sig_alg *a, const uint8_t *octets, size_t len,
		      const uint8_t *sig, size_t sig_len, char *why, size_t cap)
{
	int kt = EVP_PKEY_get_base_id(pub);
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (kt != a->key_type && !(a->pss && kt == EVP_PKEY_RSA_PSS)) {
		snprintf(why, cap, "peer signed with %s, but its certificate holds an %s key",
			 a->name, key_type_name(kt));
		return false;
	}
	const EVP_MD *md = a->md_nid == NID_undef ? NULL : EVP_get_digestbynid(a->md_nid);
	mctx = EVP_MD_CTX_new();
	if (!mctx || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pub) != 1)
		goto fail;
	if (a->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_get_digestbynid(a->mgf1_nid)) != 1 ||
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, a->salt) != 1))
		goto fail;
	if (!a->pss && kt == EVP_PKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto fail;
	ok = EVP_DigestVerify(mctx, sig, sig_len, octets, len) == 1;
	if (!ok)
		snprintf(why, cap,
			 "%s signature in AUTH does not verify with the key of the peer's "
			 "certificate: the message was altered or signed with another key",
			 a->name);
	goto out;
fail:
	snprintf(why, cap, "%s signature could not be checked (%s key)", a->name,
		 key_type_name(kt));
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return ok;
}

bool ike__cert_verify(EVP_PKEY *pub, const uint8_t *octets, size_t len, const uint8_t *auth,
		      size_t auth_len, char *why, size_t cap)
{
	X509_ALGOR *alg = NULL;
	struct sig_alg a;
	bool ok = false;

	if (auth_len < 1 || (size_t)auth[0] + 1 >= auth_len) {
		snprintf(why, cap,
			 "AUTH data is not an RFC 7427 AlgorithmIdentifier and signature");
		return false;
	}
	const unsigned char *p = auth + 1;
	alg = d2i_X509_ALGOR(NULL, &p, auth[0]);
	if (!alg || p != auth + 1 + auth[0]) {
		snprintf(why, cap, "AUTH data's AlgorithmIdentifier is malformed");
		goto out;
	}
	if (!sig_alg_of(alg, &a, why, cap))
		goto out;
	ok = sig_check(pub, &a, octets, len, p, auth_len - 1 - auth[0], why, cap);
out:
	ERR_clear_error();
	X509_ALGOR_free(alg);
	return ok;
}

/* ---- CERT and CERTREQ ---- */

int ike__cert_spki_sha1(X509 *cert, uint8_t out[static IKE_CERTREQ_HASH_LEN])
{
	unsigned char *der = NULL;
	unsigned int n = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int rc = -EIO;

	if (len > 0 && EVP_Digest(der, (size_t)len, out, &n, EVP_sha1(), NULL) == 1 &&
	    n == IKE_CERTREQ_HASH_LEN)
		rc = 0;
	OPENSSL_free(der);
	return rc;
}

/* One CERT payload holding cert in DER. */
static int build_one(struct ike_build *b, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);

	if (len <= 0)
		return -ENOMEM;
	ike_build_cert(b, IKE_PAYLOAD_CERT,
		       &(struct ike_cert){IKE_CERT_X509_SIGNATURE, der, (size_t)len});
	OPENSSL_free(der);
	return 0;
}

int ike__cert_build(struct ike_build *b, const struct ike_peer_config *cfg, bool certs, bool req_ca)
{
	uint8_t hash[IKE_CERTREQ_HASH_LEN];
	int rc = 0;

	if (certs) {
		rc = build_one(b, cfg->cert);
		for (int i = 0; rc == 0 && cfg->chain && i < sk_X509_num(cfg->chain); i++)
			rc = build_one(b, sk_X509_value(cfg->chain, i));
	}
	if (rc == 0 && req_ca) {
		rc = ike__cert_spki_sha1(cfg->ca, hash);
		if (rc == 0)
			ike_build_cert(
				b, IKE_PAYLOAD_CERTREQ,
				&(struct ike_cert){IKE_CERT_X509_SIGNATURE, hash, sizeof(hash)});
	}
	return rc;
}

bool ike__cert_req_matches(const struct ike_peer_config *cfg, const struct ike_payloads *pls)
{
	uint8_t ours[IKE_CERTREQ_HASH_LEN];
	bool any_req = false;
	struct ike_cert req;

	if (ike__cert_spki_sha1(cfg->ca, ours) != 0)
		return true;
	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		if (pl->type != IKE_PAYLOAD_CERTREQ ||
		    ike_certreq_parse(pl->body, pl->len, &req) != IKE_PARSE_OK ||
		    req.encoding != IKE_CERT_X509_SIGNATURE)
			continue;
		if (req.len == 0)
			return true;
		any_req = true;
		for (size_t k = 0; k + IKE_CERTREQ_HASH_LEN <= req.len; k += IKE_CERTREQ_HASH_LEN)
			if (memcmp(req.data + k, ours, IKE_CERTREQ_HASH_LEN) == 0)
				return true;
	}
	return !any_req;
}

void ike__cert_cache_clear(struct ike_cert_cache *c)
{
	X509_free(c->cert);
	free(c->der);
	X509_STORE_free(c->store);
	*c = (struct ike_cert_cache){0};
}

/* The end-entity certificate from its DER: the cached object when the DER is the same, else
 * decoded and cached (a failure to cache only costs the next handshake a decode). */
static int ee_decode(struct ike_cert_cache *cache, const uint8_t *der, size_t len, X509 **out)
{
	if (cache && cache->cert && cache->len == len && memcmp(cache->der, der, len) == 0 &&
	    X509_up_ref(cache->cert) == 1) {
		*out = cache->cert;
		return 0;
	}
	int rc = x509id_cert_decode(der, len, X509ID_DER, out);
	if (rc != 0 || !cache || len == 0)
		return rc;
	uint8_t *copy = malloc(len);
	if (!copy || X509_up_ref(*out) != 1) {
		free(copy);
		return 0;
	}
	memcpy(copy, der, len);
	ike__cert_cache_clear(cache);
	*cache = (struct ike_cert_cache){.der = copy, .len = len, .cert = *out};
	return 0;
}

/* Decode the CERT payloads: the first X.509 one is the end entity, the others intermediates. */
static int peer_certs(const struct ike_payloads *pls, struct ike_cert_cache *cache, X509 **ee,
		      STACK_OF(X509) * chain, char *why, size_t cap)
{
	struct ike_cert c;
	int n = 0;

	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		X509 *x = NULL;
		if (pl->type != IKE_PAYLOAD_CERT)
			continue;
		if (ike_cert_parse(pl->body, pl->len, &c) != IKE_PARSE_OK ||
		    c.encoding != IKE_CERT_X509_SIGNATURE) {
			snprintf(why, cap,
				 "peer sent a CERT payload that is not a DER X.509 "
				 "certificate (encoding 4)");
			return -EKEYREJECTED;
		}
		if (++n > IKE_CERT_CHAIN_MAX + 1) {
			snprintf(why, cap, "peer sent more than %d certificates",
				 IKE_CERT_CHAIN_MAX + 1);
			return -EKEYREJECTED;
		}
		if ((*ee ? x509id_cert_decode(c.data, c.len, X509ID_DER, &x)
			 : ee_decode(cache, c.data, c.len, &x)) != 0) {
			snprintf(why, cap, "peer's certificate #%d is not valid DER X.509", n);
			return -EKEYREJECTED;
		}
		if (!*ee) {
			*ee = x;
		} else if (!sk_X509_push(chain, x)) {
			X509_free(x);
			snprintf(why, cap, "out of memory");
			return -ENOMEM;
		}
	}
	if (!*ee) {
		snprintf(why, cap,
			 "peer sent no certificate (CERT payload): it must authenticate "
			 "with its site certificate");
		return -EKEYREJECTED;
	}
	return 0;
}

int ike__cert_peer_check(const struct ike_peer_config *cfg, struct ike_cert_cache *cache,
			 const struct ike_payloads *pls, time_t at, EVP_PKEY **pub,
			 char site[static IKE_CERT_SITE_MAX], char *why, size_t cap)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct x509id_expect expect = {.site = cfg->remote_id, .at = at};
	struct x509id_identity id;
	struct x509id_result res;
	X509 *ee = NULL;
	int rc = -ENOMEM;

	*pub = NULL;
	site[0] = '\0';
	if (!chain) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	rc = peer_certs(pls, cache, &ee, chain, why, cap);
	if (rc != 0)
		goto out;
	bool named = x509id_cert_identity(ee, &id) == 0;
	if (named)
		snprintf(site, IKE_CERT_SITE_MAX, "%s", id.site);
	if (cache && !cache->store)
		cache->store = x509id_store_new(cfg->ca);
	if (cache && cache->store)
		rc = x509id_verify_store(cache->store, ee, chain, cfg->ca, &expect, &res);
	else
		rc = x509id_verify(ee, chain, cfg->ca, &expect, &res);
	if (rc != 0) {
		if (res.verdict == X509ID_WRONG_NAME && named &&
		    strcmp(id.site, cfg->remote_id) != 0)
			snprintf(why, cap,
				 "certificate names site '%s', tunnel %s expects '%s': the peer "
				 "is not the site it claims to be",
				 id.site, cfg->name, cfg->remote_id);
		else
			snprintf(why, cap, "peer certificate rejected (%s): %s",
				 x509id_verdict_name(res.verdict), res.reason);
		rc = -EKEYREJECTED;
		goto out;
	}
	*pub = X509_get_pubkey(ee);
	rc = *pub ? 0 : -ENOMEM;
	if (rc != 0)
		snprintf(why, cap, "out of memory");
out:
	X509_free(ee);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
