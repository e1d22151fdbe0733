/*
 * libFuzzer target for the X.509 input the controller and the edges take from outside
 * (common/x509id.c, controller/ca.c).
 *
 * The bytes are read both as a CSR (what an edge sends at enrollment: DER, and PEM) and as a
 * certificate (what a peer sends in an IKE CERT payload), and each decoded object goes through
 * every check that follows in real use:
 *
 *   CSR   -> ca_sign_csr (key policy, proof of possession, issue) -> x509id_verify of the result
 *   cert  -> x509id_cert_identity, x509id_cert_renew_time, x509id_verify against our CA
 *
 * Beyond crashes, leaks and undefined behaviour, these are bugs: a refusal without a reason, a
 * certificate we issued that does not verify, any input that verifies against our CA (it
 * would be a forgery), and OpenSSL errors left in the thread's queue. The seed corpus in
 * tests/fuzz/corpus/csr/ holds DER CSRs of every key type (RSA-1024 and a CSR asking for other
 * names among them), one PEM CSR and one DER certificate, written by this code.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>

#include "common/log.h"
#include "common/x509id.h"
#include "controller/ca.h"

#define T0 ((time_t)1800000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One CA for the whole run: generating a key per input would dominate the time. */
static struct ca *fuzz_ca(void)
{
	static struct ca *ca;
	if (!ca) {
		struct ca_params p = {.wan = "acme", .now = T0 - 86400};
		log_configure(LOG_LEVEL_WARN, LOG_FORMAT_TEXT, NULL);
		if (ca_create(&p, &ca) != 0)
			__builtin_trap();
	}
	return ca;
}

static void csr_path(struct ca *ca, X509_REQ *req)
{
	char why[CA_REASON_LEN] = "";
	X509 *cert = NULL;
	struct ca_issue issue = {.site = "hq", .now = T0};
	if (ca_sign_csr(ca, req, &issue, &cert, why, sizeof(why)) != 0) {
		if (why[0] == '\0')
			__builtin_trap(); /* refused without saying why */
		return;
	}
	struct x509id_result res;
	struct x509id_expect expect = {.site = "hq", .wan = "acme", .at = T0};
	if (x509id_verify(cert, NULL, ca_cert(ca), &expect, &res) != 0)
		__builtin_trap(); /* we issued something our own check refuses */
	X509_free(cert);
}

static void cert_path(struct ca *ca, X509 *cert)
{
	struct x509id_identity id;
	struct x509id_result res;
	struct x509id_expect expect = {.site = NULL, .at = T0};
	time_t at;
	if (x509id_cert_identity(cert, &id) == 0 &&
	    (!x509id_name_valid(id.site) || !x509id_name_valid(id.wan)))
		__builtin_trap();
	if (x509id_cert_renew_time(cert, &at) != 0)
		at = 0;
	if (x509id_verify(cert, NULL, ca_cert(ca), &expect, &res) == 0)
		__builtin_trap(); /* nobody but us holds the CA key */
	if (res.verdict == X509ID_VALID || res.reason[0] == '\0')
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca *ca = fuzz_ca();
	for (int fmt = X509ID_DER; fmt <= X509ID_PEM; fmt++) {
		X509_REQ *req = NULL;
		X509 *cert = NULL;
		if (x509id_csr_decode(data, size, fmt, &req) == 0) {
			csr_path(ca, req);
			X509_REQ_free(req);
		}
		if (x509id_cert_decode(data, size, fmt, &cert) == 0) {
			cert_path(ca, cert);
			X509_free(cert);
		}
	}
	if (ERR_peek_error() != 0)
		__builtin_trap(); /* an error left for the next, unrelated OpenSSL call */
	return 0;
}
