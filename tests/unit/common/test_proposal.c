/* strongSwan-style proposals: the supported set, weak and unsupported algorithms refused with
 * the reason and the position of the token, structure errors, canonical form. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/proposal.h"

static void expect_ok(const char *s, enum proposal_kind kind, const char *canonical)
{
	struct proposal p;
	struct proposal_errors e;
	int rc = proposal_parse(s, kind, &p, &e);
	cr_expect_eq(rc, 0, "'%s': %s", s, e.n ? e.e[0].msg : "");
	if (rc == 0) {
		char buf[PROPOSAL_STRLEN];
		cr_expect_str_eq(proposal_format(&p, kind, buf), canonical);
	}
}

static void expect_err(const char *s, enum proposal_kind kind, size_t offset, const char *needle)
{
	struct proposal p;
	struct proposal_errors e;
	cr_expect_neq(proposal_parse(s, kind, &p, &e), 0, "'%s' must be refused", s);
	bool found = false;
	for (size_t i = 0; i < e.n; i++)
		if (e.e[i].offset == offset && strstr(e.e[i].msg, needle))
			found = true;
	cr_expect(found, "'%s': expected \"%s\" at offset %zu; got \"%s\"", s, needle, offset,
		  e.n ? e.e[0].msg : "nothing");
}

Test(proposal, supported)
{
	expect_ok("aes256gcm16-prfsha384-x25519", PROPOSAL_IKE, "aes256gcm16-prfsha384-x25519");
	expect_ok("aes128gcm16-prfsha256-ecp256", PROPOSAL_IKE, "aes128gcm16-prfsha256-ecp256");
	expect_ok("aes256gcm16-prfsha384-ecp384", PROPOSAL_IKE, "aes256gcm16-prfsha384-ecp384");
	expect_ok("chacha20poly1305-prfsha512-curve25519", PROPOSAL_IKE,
		  "chacha20poly1305-prfsha512-x25519");
	expect_ok("aes256gcm-prfsha384-x25519", PROPOSAL_IKE, "aes256gcm16-prfsha384-x25519");
	expect_ok("aes256gcm16-x25519", PROPOSAL_ESP, "aes256gcm16-x25519-esn");
	expect_ok("aes256gcm16", PROPOSAL_ESP, "aes256gcm16-esn");
	expect_ok("aes128gcm16-noesn", PROPOSAL_ESP, "aes128gcm16-noesn");
	expect_ok("chacha20poly1305-ecp256-esn", PROPOSAL_ESP, "chacha20poly1305-ecp256-esn");
}

Test(proposal, weak_algorithms_refused_with_reason)
{
	expect_err("aes256gcm16-prfsha1-x25519", PROPOSAL_IKE, 12, "weak");
	expect_err("aes256gcm16-prfmd5-x25519", PROPOSAL_IKE, 12, "broken");
	expect_err("3des-prfsha256-x25519", PROPOSAL_IKE, 0, "Sweet32");
	expect_err("des", PROPOSAL_ESP, 0, "broken");
	expect_err("null", PROPOSAL_ESP, 0, "no encryption");
	expect_err("aes256gcm16-prfsha384-modp1024", PROPOSAL_IKE, 22, "Logjam");
	expect_err("aes256gcm16-modp768", PROPOSAL_ESP, 12, "too small");
	expect_err("aes256gcm8", PROPOSAL_ESP, 0, "truncates the ICV");
	expect_err("aes128-sha1", PROPOSAL_ESP, 7, "weak");
}

Test(proposal, unsupported_say_what_to_use)
{
	expect_err("aes256-sha256", PROPOSAL_ESP, 0, "not an AEAD cipher");
	expect_err("aes256-sha256", PROPOSAL_ESP, 7, "integrity algorithm");
	expect_err("aes256gcm16-prfsha384-modp2048", PROPOSAL_IKE, 22, "use x25519, ecp256");
	expect_err("aes256gcm16-prfsha384-ecp521", PROPOSAL_IKE, 22, "not supported");
}

Test(proposal, unknown_tokens_get_a_suggestion)
{
	expect_err("aes256gcm16-prfsha384-x2519", PROPOSAL_IKE, 22, "did you mean 'x25519'");
	expect_err("aes265gcm16-prfsha384-x25519", PROPOSAL_IKE, 0, "did you mean 'aes256gcm16'");
	expect_err("rot13-prfsha384-x25519", PROPOSAL_IKE, 0, "unknown algorithm 'rot13'");
}

Test(proposal, structure)
{
	expect_err("aes256gcm16-x25519", PROPOSAL_IKE, 0, "no PRF");
	expect_err("aes256gcm16-prfsha384", PROPOSAL_IKE, 0, "no key exchange group");
	expect_err("prfsha384-x25519", PROPOSAL_IKE, 0, "no encryption algorithm");
	expect_err("aes256gcm16-aes128gcm16-prfsha384-x25519", PROPOSAL_IKE, 12,
		   "second encryption algorithm");
	expect_err("aes256gcm16-prfsha384", PROPOSAL_ESP, 12, "belongs in the IKE proposal");
	expect_err("aes256gcm16-prfsha384-x25519-esn", PROPOSAL_IKE, 29, "applies to ESP only");
	expect_err("aes256gcm16--x25519", PROPOSAL_ESP, 12, "empty algorithm name");
	expect_err("aes256gcm16,aes128gcm16", PROPOSAL_ESP, 11, "several proposals");
	expect_err("", PROPOSAL_ESP, 0, "empty algorithm name");
}

Test(proposal, esp_overhead)
{
	struct proposal p = {.encr = PROPOSAL_ENCR_AES256GCM16};
	cr_expect_eq(proposal_esp_overhead(&p), 34);
}
