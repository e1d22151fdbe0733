/*
 * Certificate authentication in the IKE engine (edge/ike/ike_cert.c, ike_auth.c): RFC 7427
 * signatures with every key type we sign with, in both roles, against certificates issued by the
 * controller's CA (controller/ca.h) or a hand-made root and intermediate; and every refusal an
 * operator must be able to read: wrong CA, a certificate for another site, an ID that is not
 * the configured one, an expired certificate, a tampered AUTH payload.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include <openssl/rsa.h>

#include "ike_pair.h"

#include "edge/ike/ike_cert.h"
#include "edge/ike/ike_sk.h"

enum {
	KEY_RSA = X509ID_KEY_COUNT
};

/* A WAN with a CA and a certificate for each side. */
struct pki {
	struct ca *ca;
	EVP_PKEY *key[2];
	X509 *cert[2];
};

static void pki_make(struct pki *p, int type_a, int type_b)
{
	p->ca = w_ca("acme");
	p->key[0] = w_key(type_a);
	p->key[1] = w_key(type_b);
	p->cert[0] = w_site_cert(p->ca, p->key[0], "site-a", 0, 0);
	p->cert[1] = w_site_cert(p->ca, p->key[1], "site-b", 0, 0);
}

static void pki_free(struct pki *p)
{
	for (int i = 0; i < 2; i++) {
		EVP_PKEY_free(p->key[i]);
		X509_free(p->cert[i]);
	}
	ca_free(p->ca);
}

/* Both sides' tunnels with certificates of p, added to the engines. */
static void cert_tunnels(struct w_world *w, struct pki *p, struct ike_peer_config *a,
			 struct ike_peer_config *b)
{
	w_tunnels(w, a, b);
	w_use_cert(a, p->key[0], p->cert[0], ca_cert(p->ca), NULL);
	w_use_cert(b, p->key[1], p->cert[1], ca_cert(p->ca), NULL);
}

static const struct w_event *failure(const struct w_side *s)
{
	const struct w_event *f = w_find_event(s, IKE_EVENT_FAILED);

	cr_assert_not_null(f, "side %d did not fail", s->idx);
	return f;
}

/* ---- handshakes with every algorithm ---- */

struct algs {
	int a, b;      /* key types of site-a and site-b */
	int initiator; /* side that starts */
};

static struct algs alg_rows[] = {
	{X509ID_KEY_P256, X509ID_KEY_P256, 0},
	{X509ID_KEY_P384, X509ID_KEY_P384, 1},
	{X509ID_KEY_ED25519, X509ID_KEY_ED25519, 0},
	{KEY_RSA, KEY_RSA, 1},
	{X509ID_KEY_P256, X509ID_KEY_ED25519, 1},
	{X509ID_KEY_ED25519, KEY_RSA, 0},
	{KEY_RSA, X509ID_KEY_P384, 0},
	{X509ID_KEY_P384, X509ID_KEY_P256, 1},
};

ParameterizedTestParameters(ike_cert, handshake)
{
	return cr_make_param_array(struct algs, alg_rows, sizeof(alg_rows) / sizeof(alg_rows[0]));
}

ParameterizedTest(struct algs *r, ike_cert, handshake)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, r->a, r->b);
	cert_tunnels(w, &p, &a, &b);
	w_add(w, &a, &b);
	/* The engine holds its own references: the caller's may go at once. */
	pki_free(&p);
	cr_assert_eq(ike_sa_initiate(w->s[r->initiator].eng,
				     r->initiator ? "to-site-a" : "to-site-b", NULL),
		     0);
	/* Four messages; RSA's longer ones are fragmented to fit a 1280-octet IPv6 path. */
	cr_assert_geq(w_deliver_all(w), 4);
	cr_expect_leq(w->max_len_sent, 1228);
	w_expect_up(w);
	for (int i = 0; i < 2; i++) {
		struct ike_sa_info info = w_only_sa(&w->s[i]);
		cr_expect(info.cert_auth);
		cr_expect_str_eq(info.peer_site, i ? "site-a" : "site-b");
		const struct w_event *e = w_find_event(&w->s[i], IKE_EVENT_ESTABLISHED);
		cr_assert_not_null(e);
		cr_expect(strstr(e->reason, "certificate") != NULL, "%s", e->reason);
	}
	w_free(w);
}

/* Each key signs with its natural algorithm, which verifies, and not after one changed octet. */
struct natural {
	int type;
	int nid; /* the AlgorithmIdentifier's OID */
};

static struct natural natural_rows[] = {
	{X509ID_KEY_P256, NID_ecdsa_with_SHA256},
	{X509ID_KEY_P384, NID_ecdsa_with_SHA384},
	{X509ID_KEY_ED25519, NID_ED25519},
	{KEY_RSA, NID_rsassaPss},
};

ParameterizedTestParameters(ike_cert, sign_natural_algorithm)
{
	return cr_make_param_array(struct natural, natural_rows,
				   sizeof(natural_rows) / sizeof(natural_rows[0]));
}

ParameterizedTest(struct natural *r, ike_cert, sign_natural_algorithm)
{
	static const uint8_t octets[] = "IKE_SA_INIT | nonce | prf(SK_p, ID)";
	uint8_t auth[IKE_CERT_AUTH_MAX];
	size_t len = 0;
	char why[IKE_CERT_REASON_MAX];
	EVP_PKEY *key = w_key(r->type);

	cr_assert_eq(ike__cert_sign(key, octets, sizeof(octets), auth, &len), 0);
	const unsigned char *q = auth + 1;
	X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, auth[0]);
	cr_assert_not_null(alg);
	const ASN1_OBJECT *obj;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	cr_expect_eq(OBJ_obj2nid(obj), r->nid);
	X509_ALGOR_free(alg);
	cr_expect(ike__cert_verify(key, octets, sizeof(octets), auth, len, why, sizeof(why)), "%s",
		  why);
	uint8_t other[sizeof(octets)];
	memcpy(other, octets, sizeof(octets));
	other[0] ^= 1;
	cr_expect(!ike__cert_verify(key, other, sizeof(other), auth, len, why, sizeof(why)));
	cr_expect(strstr(why, "does not verify") != NULL, "%s", why);
	/* Another key type refuses before any arithmetic. */
	EVP_PKEY *ed = w_key(r->type == X509ID_KEY_ED25519 ? X509ID_KEY_P256 : X509ID_KEY_ED25519);
	cr_expect(!ike__cert_verify(ed, octets, sizeof(octets), auth, len, why, sizeof(why)));
	cr_expect(strstr(why, "key") != NULL, "%s", why);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(key);
}

/* strongSwan signs RSA with PKCS#1 v1.5 unless told otherwise: we accept it with SHA-2. */
Test(ike_cert, verify_rsa_pkcs1_from_peers)
{
	static const uint8_t aid[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
				      0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
	static const uint8_t octets[] = "signed octets";
	uint8_t auth[IKE_CERT_AUTH_MAX];
	size_t sig_len = sizeof(auth) - 1 - sizeof(aid);
	char why[IKE_CERT_REASON_MAX];
	EVP_PKEY *key = w_key(KEY_RSA);
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	auth[0] = sizeof(aid);
	memcpy(auth + 1, aid, sizeof(aid));
	cr_assert_eq(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, key), 1);
	cr_assert_eq(EVP_DigestSign(m, auth + 1 + sizeof(aid), &sig_len, octets, sizeof(octets)),
		     1);
	cr_expect(ike__cert_verify(key, octets, sizeof(octets), auth, 1 + sizeof(aid) + sig_len,
				   why, sizeof(why)),
		  "%s", why);
	/* A SHA-1 signature algorithm is refused by name. */
	auth[13] = 0x05; /* sha1WithRSAEncryption */
	cr_expect(!ike__cert_verify(key, octets, sizeof(octets), auth, 1 + sizeof(aid) + sig_len,
				    why, sizeof(why)));
	cr_expect(strstr(why, "do not accept") != NULL, "%s", why);
	/* Malformed AUTH data. */
	cr_expect(!ike__cert_verify(key, octets, sizeof(octets), auth, 3, why, sizeof(why)));
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(key);
}

/* A root, an intermediate, and site certificates issued by the intermediate: the chain goes in
 * extra CERT payloads and is checked against the root. */
Test(ike_cert, intermediate_chain)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	EVP_PKEY *rk = w_key(X509ID_KEY_P256), *ik = w_key(X509ID_KEY_P384);
	X509 *root = w_hand_cert(rk, "acme", "acme root", true, NULL, NULL, 1);
	X509 *inter = w_hand_cert(ik, "acme", "acme issuing", true, root, rk, 2);
	EVP_PKEY *ka = w_key(X509ID_KEY_P256), *kb = w_key(X509ID_KEY_ED25519);
	X509 *ca_ = w_hand_cert(ka, "acme", "site-a", false, inter, ik, 3);
	X509 *cb = w_hand_cert(kb, "acme", "site-b", false, inter, ik, 4);
	STACK_OF(X509) *chain = sk_X509_new_null();

	cr_assert(sk_X509_push(chain, inter));
	w_tunnels(w, &a, &b);
	w_use_cert(&a, ka, ca_, root, chain);
	w_use_cert(&b, kb, cb, root, chain);
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	w_expect_up(w);
	/* Without the intermediate the same certificates do not chain. */
	struct w_world *w2 = w_new(NULL);
	w_tunnels(w2, &a, &b);
	w_use_cert(&a, ka, ca_, root, NULL);
	w_use_cert(&b, kb, cb, root, chain);
	w_add(w2, &a, &b);
	cr_assert_eq(ike_sa_initiate(w2->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w2);
	const struct w_event *f = failure(&w2->s[1]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "untrusted") != NULL, "%s", f->reason);
	w_free(w2);
	sk_X509_free(chain);
	X509_free(root);
	X509_free(inter);
	X509_free(ca_);
	X509_free(cb);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	w_free(w);
}

/* ---- refusals ---- */

Test(ike_cert, wrong_ca_refused_by_name)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;
	struct ca *other = w_ca("globex");

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P256);
	cert_tunnels(w, &p, &a, &b);
	b.ca = ca_cert(other); /* site-b trusts another WAN's CA */
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "not by this WAN's CA") != NULL, "%s", f->reason);
	cr_expect(strstr(f->reason, "globex") != NULL, "%s", f->reason);
	f = failure(&w->s[0]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "trusts our CA") != NULL, "%s", f->reason);
	cr_expect_eq(w->s[0].n_child + w->s[1].n_child, 0);
	ca_free(other);
	pki_free(&p);
	w_free(w);
}

/* The initiator claims ID site-a, as configured, but holds the certificate of site-c. */
Test(ike_cert, certificate_for_another_site)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P384);
	EVP_PKEY *kc = w_key(X509ID_KEY_P256);
	X509 *cc = w_site_cert(p.ca, kc, "site-c", 0, 0);
	cert_tunnels(w, &p, &a, &b);
	w_use_cert(&a, kc, cc, ca_cert(p.ca), NULL);
	/* add_peer refuses a certificate that does not name local_id... */
	cr_assert_eq(ike_engine_add_peer(w->s[0].eng, &a), -EINVAL);
	/* ...so the impostor edits its own engine. */
	snprintf(a.local_id, sizeof(a.local_id), "site-c");
	w_add(w, &a, &b);
	snprintf(w->s[0].eng->peers->cfg.local_id, IKE_ID_MAX, "site-a");
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "certificate names site 'site-c', tunnel to-site-a expects "
				    "'site-a'") != NULL,
		  "%s", f->reason);
	EVP_PKEY_free(kc);
	X509_free(cc);
	pki_free(&p);
	w_free(w);
}

/* A genuine site-x, but the responder's tunnel expects site-a there. */
Test(ike_cert, id_not_the_configured_one)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P256);
	EVP_PKEY *kx = w_key(X509ID_KEY_P256);
	X509 *cx = w_site_cert(p.ca, kx, "site-x", 0, 0);
	cert_tunnels(w, &p, &a, &b);
	w_use_cert(&a, kx, cx, ca_cert(p.ca), NULL);
	snprintf(a.local_id, sizeof(a.local_id), "site-x");
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "expected fqdn:site-a, got fqdn:site-x") != NULL, "%s",
		  f->reason);
	EVP_PKEY_free(kx);
	X509_free(cx);
	pki_free(&p);
	w_free(w);
}

/* The responder's certificate expired: the initiator refuses it, saying when. */
Test(ike_cert, expired_certificate)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P256);
	X509_free(p.cert[1]);
	p.cert[1] = w_site_cert(p.ca, p.key[1], "site-b", 0, 86400);
	cert_tunnels(w, &p, &a, &b);
	w_add(w, &a, &b);
	w->wall += 3 * 86400; /* the engines' wall clock, three days on */
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[0]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "expired") != NULL, "%s", f->reason);
	cr_expect(strstr(f->reason, "site-b") != NULL, "%s", f->reason);
	cr_expect_eq(w->s[0].n_child, 0);
	pki_free(&p);
	w_free(w);
}

/* One octet of the signature in AUTH changed on the wire (re-encrypted with the real SK key, so
 * only the signature can catch it). */
Test(ike_cert, tampered_auth_signature)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;
	static struct ike_msg m;
	static struct ike_payloads inner;
	static uint8_t pt[W_PKT_MAX], out[W_PKT_MAX];
	size_t pt_len, out_len;

	pki_make(&p, X509ID_KEY_ED25519, X509ID_KEY_P256);
	cert_tunnels(w, &p, &a, &b);
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_one(w);
	w_deliver_one(w);
	cr_assert_eq(w->nq, 1);
	struct w_pkt req;
	w_take(w, 0, &req);
	cr_assert_eq(ike_msg_parse(req.buf, req.len, &m), IKE_PARSE_OK);
	const struct ike_payload *sk = &m.pls.pl[m.pls.n - 1];
	struct ike_sk rx = w->s[1].eng->sas->sk_in, tx = w->s[0].eng->sas->sk_out;
	cr_assert_eq(ike_sk_decrypt(&rx, req.buf, req.len, (size_t)(sk->body - req.buf), sk->len,
				    pt, sizeof(pt), &pt_len),
		     IKE_SK_OK);
	cr_assert_eq(ike_msg_parse_inner(pt, pt_len, sk->next, &inner), IKE_PARSE_OK);
	const struct ike_payload *auth = ike__payload_find(&inner, IKE_PAYLOAD_AUTH);
	cr_assert_not_null(auth);
	pt[(size_t)(auth->body - pt) + auth->len - 1] ^= 0x40;
	cr_assert_eq(ike_sk_encrypt(&tx, &m.hdr, sk->next, pt, pt_len, out, sizeof(out), &out_len),
		     0);
	ike_input(w->s[1].eng, out, out_len, &req.from, &req.to);
	free(req.buf);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect_eq(f->notify, IKE_N_AUTHENTICATION_FAILED);
	cr_expect(strstr(f->reason, "ED25519 signature in AUTH does not verify") != NULL, "%s",
		  f->reason);
	cr_expect_eq(failure(&w->s[0])->notify, IKE_N_AUTHENTICATION_FAILED);
	pki_free(&p);
	w_free(w);
}

/* RFC 7427 §4: we only sign with a hash the peer announced. */
Test(ike_cert, unannounced_hash_refused)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_ED25519);
	cert_tunnels(w, &p, &a, &b);
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_one(w);
	w_deliver_one(w);
	/* As if site-a had announced SHA-2 only: site-b's Ed25519 needs IDENTITY. */
	w->s[1].eng->sas->peer_sig_hashes = 1u << IKE_HASH_SHA2_256;
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect(strstr(f->reason, "did not announce hash algorithm 5 (identity, for Ed25519)") !=
			  NULL,
		  "%s", f->reason);
	cr_expect_eq(failure(&w->s[0])->notify, IKE_N_AUTHENTICATION_FAILED);
	pki_free(&p);
	w_free(w);
}

/* One side with a PSK, the other with certificates: refused, naming both methods. */
Test(ike_cert, psk_against_certificates)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P256);
	cert_tunnels(w, &p, &a, &b);
	a = w_tunnel("site-a", "site-b", "10.1.0.0/16", "10.2.0.0/16", &w->s[0].ep, &w->s[1].ep);
	w_add(w, &a, &b);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	const struct w_event *f = failure(&w->s[1]);
	cr_expect(strstr(f->reason, "method 2; tunnel to-site-a uses certificates") != NULL, "%s",
		  f->reason);
	pki_free(&p);
	w_free(w);
}

Test(ike_cert, config_checks)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P384);
	cert_tunnels(w, &p, &a, &b);
	a.key = p.key[1]; /* not the certificate's key */
	cr_expect_eq(ike_engine_add_peer(w->s[0].eng, &a), -EINVAL);
	a.key = NULL;
	cr_expect_eq(ike_engine_add_peer(w->s[0].eng, &a), -EINVAL);
	a.key = p.key[0];
	snprintf(a.remote_id, sizeof(a.remote_id), "Site_B.example");
	cr_expect_eq(ike_engine_add_peer(w->s[0].eng, &a), -EINVAL);
	snprintf(a.remote_id, sizeof(a.remote_id), "site-b");
	a.auth = (enum ike_peer_auth)7;
	cr_expect_eq(ike_engine_add_peer(w->s[0].eng, &a), -EINVAL);
	a.auth = IKE_PEER_AUTH_CERT;
	cr_expect_eq(ike_engine_add_peer(w->s[0].eng, &a), 0);
	pki_free(&p);
	w_free(w);
}

/* The tunnel manager removes and re-adds a peer whenever its tunnel dies: the references the
 * engine took on the key and certificates must go with the peer (LeakSanitizer in the asan
 * build sees them otherwise). */
Test(ike_cert, removed_peer_releases_its_certificates)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;
	struct pki p;

	pki_make(&p, X509ID_KEY_P256, X509ID_KEY_P256);
	cert_tunnels(w, &p, &a, &b);
	cr_assert_eq(ike_engine_add_peer(w->s[0].eng, &a), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ike_engine_remove_peer(w->s[0].eng, a.name), 0);
		cr_assert_eq(ike_engine_add_peer(w->s[0].eng, &a), 0);
	}
	cr_assert_eq(ike_engine_remove_peer(w->s[0].eng, a.name), 0);
	pki_free(&p);
	w_free(w);
}
