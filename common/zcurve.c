#include "common/zcurve.h"

#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/error.h"
#include "common/log.h"

/*
 * ZMQ_ZAP_ENFORCE_DOMAIN sits in zmq.h's draft section, yet libzmq (since 4.2.3) handles it in
 * every build, draft or not: the option number is stable. A libzmq that refuses it makes
 * zcurve_server_setup fail rather than run open.
 */
#ifdef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZCURVE_ZAP_ENFORCE_DOMAIN ZMQ_ZAP_ENFORCE_DOMAIN
#else
#define ZCURVE_ZAP_ENFORCE_DOMAIN 93
#endif

/* "sdwan-curve-secret-v1 " + Z85 + "\n" */
#define ZCURVE_FILE_LEN (sizeof(ZCURVE_FILE_TAG) - 1 + 1 + ZCURVE_Z85_LEN + 1)

static int zcurve__zmq_err(const char *what)
{
	int err = errno;
	LOG_ERR(CTL, "ZeroMQ call failed", "call=%s err=\"%s\"", what, zmq_strerror(err));
	return err > 0 ? -err : -EIO;
}

void zcurve_keypair_clear(struct zcurve_keypair *kp)
{
	if (kp)
		OPENSSL_cleanse(kp, sizeof(*kp));
}

void zcurve_z85_encode(const uint8_t key[static ZCURVE_KEY_LEN],
		       char out[static ZCURVE_Z85_LEN + 1])
{
	/* Cannot fail: the size is a multiple of 4 and out is large enough. */
	(void)zmq_z85_encode(out, key, ZCURVE_KEY_LEN);
}

int zcurve_z85_decode(const char *z85, size_t len, uint8_t key[static ZCURVE_KEY_LEN])
{
	char text[ZCURVE_Z85_LEN + 1];
	uint8_t bin[ZCURVE_KEY_LEN];
	int rc = -EINVAL;
	if (!z85 || len != ZCURVE_Z85_LEN || memchr(z85, '\0', len))
		return -EINVAL;
	memcpy(text, z85, len);
	text[len] = '\0';
	/* zmq_z85_decode refuses characters outside the alphabet and groups over 2^32 - 1. */
	if (zmq_z85_decode(bin, text)) {
		memcpy(key, bin, sizeof(bin));
		rc = 0;
	}
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(bin, sizeof(bin));
	return rc;
}

void zcurve_hex_encode(const uint8_t key[static ZCURVE_KEY_LEN],
		       char out[static ZCURVE_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < ZCURVE_KEY_LEN; i++) {
		out[2 * i] = digits[key[i] >> 4];
		out[2 * i + 1] = digits[key[i] & 0xf];
	}
	out[ZCURVE_HEX_LEN] = '\0';
}

static int zcurve__nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int zcurve_hex_decode(const char *hex, size_t len, uint8_t key[static ZCURVE_KEY_LEN])
{
	uint8_t bin[ZCURVE_KEY_LEN];
	if (!hex || len != ZCURVE_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < ZCURVE_KEY_LEN; i++) {
		int hi = zcurve__nibble(hex[2 * i]), lo = zcurve__nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		bin[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(key, bin, sizeof(bin));
	return 0;
}

int zcurve_keypair_derive_public(struct zcurve_keypair *kp)
{
	char secret[ZCURVE_Z85_LEN + 1], public[ZCURVE_Z85_LEN + 1];
	int rc = 0;
	zcurve_z85_encode(kp->secret_key, secret);
	if (zmq_curve_public(public, secret) != 0)
		rc = zcurve__zmq_err("zmq_curve_public");
	else if (zcurve_z85_decode(public, ZCURVE_Z85_LEN, kp->public_key) != 0)
		rc = -EIO;
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int zcurve_keypair_generate(struct zcurve_keypair *kp)
{
	char secret[ZCURVE_Z85_LEN + 1], public[ZCURVE_Z85_LEN + 1];
	int rc = 0;
	if (zmq_curve_keypair(public, secret) != 0)
		rc = zcurve__zmq_err("zmq_curve_keypair");
	else if (zcurve_z85_decode(public, ZCURVE_Z85_LEN, kp->public_key) != 0 ||
		 zcurve_z85_decode(secret, ZCURVE_Z85_LEN, kp->secret_key) != 0)
		rc = -EIO;
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc != 0)
		zcurve_keypair_clear(kp);
	return rc;
}

/* ---- the secret key file ---- */

int zcurve_secret_save(const char *path, const struct zcurve_keypair *kp)
{
	char text[ZCURVE_FILE_LEN + 1];
	char z85[ZCURVE_Z85_LEN + 1];
	const char *step = "format";
	int rc = -EINVAL;
	if (!path || !kp)
		goto out;
	zcurve_z85_encode(kp->secret_key, z85);
	int n = snprintf(text, sizeof(text), "%s %s\n", ZCURVE_FILE_TAG, z85);
	if (n == (int)ZCURVE_FILE_LEN)
		rc = file_replace(path, text, ZCURVE_FILE_LEN, 0600, &step);
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(z85, sizeof(z85));
	if (rc != 0)
		LOG_ERR(CTL, "cannot save CURVE secret key", "step=\"%s\" path=\"%s\" err=\"%s\"",
			step, path ? path : "(null)", sdw_strerror(rc));
	return rc;
}

/* Open path for reading a secret: a regular file that group and others cannot access. */
static int zcurve__open_secret(const char *path, int *out)
{
	struct stat st;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if ((st.st_mode & 077) != 0) {
		LOG_ERR(CTL, "CURVE secret key file is accessible by group or others; chmod 600 it",
			"path=\"%s\" mode=%04o", path, (unsigned)(st.st_mode & 07777));
		rc = -EACCES;
	}
	if (rc != 0) {
		(void)close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* Read up to cap bytes of fd into buf; *len receives how many. */
static int zcurve__read_all(int fd, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	while (*len < cap) {
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

/* Parse the file's text: exactly the tag, one space, the Z85 secret, a newline. */
static int zcurve__parse_file(const char *text, size_t len, uint8_t secret[static ZCURVE_KEY_LEN])
{
	const size_t tag = sizeof(ZCURVE_FILE_TAG) - 1;
	if (len != ZCURVE_FILE_LEN || memcmp(text, ZCURVE_FILE_TAG, tag) != 0 || text[tag] != ' ' ||
	    text[len - 1] != '\n')
		return -EBADMSG;
	return zcurve_z85_decode(text + tag + 1, ZCURVE_Z85_LEN, secret) == 0 ? 0 : -EBADMSG;
}

int zcurve_secret_load(const char *path, struct zcurve_keypair *kp)
{
	/* One byte more than a valid file, to tell a longer file from a valid one. */
	char text[ZCURVE_FILE_LEN + 1];
	size_t len = 0;
	int fd = -1;
	int rc = zcurve__open_secret(path, &fd);
	if (rc != 0)
		goto out;
	rc = zcurve__read_all(fd, text, sizeof(text), &len);
	(void)close(fd);
	if (rc == 0)
		rc = zcurve__parse_file(text, len, kp->secret_key);
	if (rc == 0)
		rc = zcurve_keypair_derive_public(kp);
out:
	OPENSSL_cleanse(text, sizeof(text));
	if (rc != 0) {
		zcurve_keypair_clear(kp);
		const char *why = rc == -EBADMSG  ? "not a " ZCURVE_FILE_TAG " key file"
				  : rc == -EINVAL ? "not a regular file"
						  : sdw_strerror(rc);
		LOG_ERR(CTL, "cannot load CURVE secret key", "path=\"%s\" err=\"%s\"", path, why);
	}
	return rc;
}

/* ---- sockets ---- */

static int zcurve__set(void *sock, int opt, const void *val, size_t len, const char *name)
{
	if (zmq_setsockopt(sock, opt, val, len) != 0)
		return zcurve__zmq_err(name);
	return 0;
}

int zcurve_server_setup(void *sock, const struct zcurve_keypair *kp, const char *zap_domain)
{
	int one = 1;
	int rc;
	if (!sock || !kp || !zap_domain || !zap_domain[0])
		return -EINVAL;
	rc = zcurve__set(sock, ZMQ_CURVE_SERVER, &one, sizeof(one), "ZMQ_CURVE_SERVER");
	if (rc == 0)
		rc = zcurve__set(sock, ZMQ_CURVE_SECRETKEY, kp->secret_key, ZCURVE_KEY_LEN,
				 "ZMQ_CURVE_SECRETKEY");
	/* The server needs only its secret key; its public key is set too, so that reading the
	 * option back tells the truth. */
	if (rc == 0)
		rc = zcurve__set(sock, ZMQ_CURVE_PUBLICKEY, kp->public_key, ZCURVE_KEY_LEN,
				 "ZMQ_CURVE_PUBLICKEY");
	if (rc == 0)
		rc = zcurve__set(sock, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain),
				 "ZMQ_ZAP_DOMAIN");
	if (rc == 0)
		rc = zcurve__set(sock, ZCURVE_ZAP_ENFORCE_DOMAIN, &one, sizeof(one),
				 "ZMQ_ZAP_ENFORCE_DOMAIN");
	return rc;
}

int zcurve_client_setup(void *sock, const struct zcurve_keypair *kp,
			const uint8_t server_public[static ZCURVE_KEY_LEN])
{
	int rc;
	if (!sock || !kp)
		return -EINVAL;
	rc = zcurve__set(sock, ZMQ_CURVE_SERVERKEY, server_public, ZCURVE_KEY_LEN,
			 "ZMQ_CURVE_SERVERKEY");
	if (rc == 0)
		rc = zcurve__set(sock, ZMQ_CURVE_PUBLICKEY, kp->public_key, ZCURVE_KEY_LEN,
				 "ZMQ_CURVE_PUBLICKEY");
	if (rc == 0)
		rc = zcurve__set(sock, ZMQ_CURVE_SECRETKEY, kp->secret_key, ZCURVE_KEY_LEN,
				 "ZMQ_CURVE_SECRETKEY");
	return rc;
}
