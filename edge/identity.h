/*
 * The enrolled edge's identity and last good configuration, kept in its state directory so that
 * after the first start `sdwan-edge --state DIR` alone brings the edge back.
 *
 * Files in DIR, every one mode 0600 and replaced atomically (common/fileio.h), so a crash or
 * `kill -9` leaves the old file or the new one:
 *
 *   curve.key            the edge's CURVE secret key (common/zcurve.h format)
 *   ike.key              the edge's IKE private key, PKCS#8 PEM
 *   ca.pem               the WAN's CA certificate, PEM
 *   controller-endpoint  the control endpoint, one line (e.g. tcp://192.0.2.1:7800)
 *   controller-key       the controller's CURVE public key, 64 lowercase hex digits, one line
 *   cert.pem             the edge's certificate, PEM; written last: it marks the identity as
 *                        complete, and its subject names the site
 *   config.pb            the last EdgeConfig applied, as an encoded control Envelope
 *
 * Private keys are made on the edge and never leave it; only their public halves (CSR, CURVE
 * public key) are sent. The directory itself is created 0700 when missing.
 *
 * Threads: no shared state; the functions block on disk I/O and are called from the control loop
 * at start-up and on the rare identity change (enrollment, renewal), where that is acceptable.
 */
#ifndef SDWAN_EDGE_IDENTITY_H
#define SDWAN_EDGE_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/token_line.h"
#include "common/x509id.h"
#include "common/zcurve.h"
#include "proto/control.pb-c.h"

/* Longest controller endpoint, with its NUL. */
#define IDENTITY_ENDPOINT_MAX 256

/* File names inside the state directory. */
#define IDENTITY_CURVE_FILE    "curve.key"
#define IDENTITY_IKE_KEY_FILE  "ike.key"
#define IDENTITY_CA_FILE       "ca.pem"
#define IDENTITY_ENDPOINT_FILE "controller-endpoint"
#define IDENTITY_CTL_KEY_FILE  "controller-key"
#define IDENTITY_CERT_FILE     "cert.pem"
#define IDENTITY_CONFIG_FILE   "config.pb"
/* Present while a new identity is being put in place (see identity_save). */
#define IDENTITY_JOURNAL_FILE "identity.commit"
/* Keys made for an enrollment or a key rotation that has no certificate yet. */
#define IDENTITY_PENDING_CURVE_FILE   "pending-curve.key"
#define IDENTITY_PENDING_IKE_KEY_FILE "pending-ike.key"
/* The token and enrollment endpoint of a re-enrollment the controller asked for. */
#define IDENTITY_PENDING_TOKEN_FILE "pending-token"

/*
 * Everything the edge needs to reach its controller and prove who it is. Holds secrets (curve,
 * ike_key): identity_clear on every path. The OpenSSL objects are owned by the struct.
 */
struct identity {
	char site[X509ID_NAME_MAX + 1];
	char endpoint[IDENTITY_ENDPOINT_MAX];
	uint8_t controller_key[ZCURVE_KEY_LEN];
	struct zcurve_keypair curve;
	EVP_PKEY *ike_key;
	X509 *cert;
	X509 *ca;
};

/* Whether s is an endpoint we store: 1..IDENTITY_ENDPOINT_MAX-1 printable characters, no blank. */
bool identity_endpoint_valid(const char *s);

/*
 * Load the identity of dir into *id (zeroed first). Returns 0; -ENOENT when the edge has not
 * enrolled (no cert.pem); -EKEYREJECTED when the certificate is not for ike.key; -EBADMSG for a
 * file that is not what it should be; or the errors of zcurve_secret_load/x509id_key_load (e.g.
 * -EACCES for a key readable by others). On error *id holds nothing. Logged.
 */
int identity_load(const char *dir, struct identity *id) __attribute__((warn_unused_result));

/*
 * Save every file of id into dir (created 0700 if missing) as one change: each is staged as
 * <name>.new, IDENTITY_JOURNAL_FILE commits the set, then the staged files are renamed into
 * place. Killed at any point, dir holds the old identity or the new one, whole (identity_load
 * finishes a committed change). Removes the pending keys (identity_pending_*). Returns 0 or
 * -errno of the failing step (logged).
 */
int identity_save(const char *dir, const struct identity *id) __attribute__((warn_unused_result));

/* Finish a committed identity_save cut short, or drop the staged files of one that did not
 * commit. identity_load and identity_save call it. Returns 0 or -errno (logged). */
int identity_recover(const char *dir) __attribute__((warn_unused_result));

/*
 * Keys made for an enrollment or a rotation, kept (0600) until their certificate arrives, so that
 * an edge restarted meanwhile asks again with the same keys (the controller answers a repeated
 * enrollment with the certificate it issued, and keeps the key a rotation started from
 * admitted). save: pending->curve and pending->ike_key; load: into them (the caller's struct,
 * zeroed or cleared), -ENOENT when none are kept; remove: after identity_save or a refusal.
 */
int identity_pending_save(const char *dir, const struct identity *pending)
	__attribute__((warn_unused_result));
int identity_pending_load(const char *dir, struct identity *pending)
	__attribute__((warn_unused_result));
void identity_pending_remove(const char *dir);

/*
 * The re-enrollment an enrolled edge was told to make (the command's token line and enrollment
 * endpoint, "" for the default), kept 0600 beside the pending keys before the request goes out:
 * an edge restarted before the answer came finishes it instead of coming back with a key the
 * controller may no longer admit. identity_pending_remove removes it too. load: -ENOENT when
 * none is kept, -EBADMSG for a file that is not one; the token is a secret (wipe it).
 */
int identity_pending_token_save(const char *dir, const char *token_line, const char *endpoint)
	__attribute__((warn_unused_result));
int identity_pending_token_load(const char *dir, char token_line[static TOKEN_LINE_MAX],
				char endpoint[static IDENTITY_ENDPOINT_MAX])
	__attribute__((warn_unused_result));

/* Save the certificate and CA of id only (after a renewal with the same keys), CA first. */
int identity_save_cert(const char *dir, const struct identity *id)
	__attribute__((warn_unused_result));

/* Release and wipe everything id holds; *id is zeroed. NULL-safe. */
void identity_clear(struct identity *id);

/* Save cfg as the last good configuration (config.pb, 0600, atomic). Returns 0 or -errno. */
int identity_config_save(const char *dir, const Sdwan__EdgeConfig *cfg)
	__attribute__((warn_unused_result));

/*
 * Load the last good configuration: on success *env is a decoded envelope owned by the caller
 * (ctl_msg_free) whose body is a config. Returns 0, -ENOENT when none was stored, -EBADMSG when
 * the file is not a stored config, or another -errno.
 */
int identity_config_load(const char *dir, Sdwan__Envelope **env)
	__attribute__((warn_unused_result));

#endif
