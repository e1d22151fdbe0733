/*
 * The debugging key log (see keylog.h for both line formats and the names Wireshark expects).
 */
#include "edge/keylog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/proposal.h"

struct keylog {
	int ike_fd; /* FILE: ikev2_decryption_table lines */
	int esp_fd; /* FILE.esp: esp_sa lines */
};

/* Wireshark's name for an IKE cipher and the length of SK_e (key and salt), or NULL. */
static const char *ike_cipher_name(uint8_t encr, size_t *enc_len)
{
	switch ((enum proposal_encr)encr) {
	case PROPOSAL_ENCR_AES128GCM16:
		*enc_len = 16 + 4;
		return "AES-GCM-128 with 16 octet ICV [RFC5282]";
	case PROPOSAL_ENCR_AES256GCM16:
		*enc_len = 32 + 4;
		return "AES-GCM-256 with 16 octet ICV [RFC5282]";
	case PROPOSAL_ENCR_CHACHA20POLY1305:
		/* No Wireshark IKEv2 table entry: written as a comment (see keylog.h). */
		*enc_len = 32 + 4;
		return "ChaCha20-Poly1305 [RFC7634]";
	case PROPOSAL_ENCR_NONE:
		break;
	}
	return NULL;
}

static const char *esp_wireshark_name(enum esp_cipher c)
{
	switch (c) {
	case ESP_CIPHER_AES128_GCM16:
	case ESP_CIPHER_AES256_GCM16:
		return "AES-GCM with 16 octet ICV [RFC4106]";
	case ESP_CIPHER_CHACHA20_POLY1305:
		return "ChaCha20 with Poly1305 [RFC7634]";
	case ESP_CIPHER_COUNT:
		break;
	}
	return NULL;
}

/* Append the lowercase hex of p[0..n) at buf[*off]; false when it does not fit. */
static bool put_hex(char *buf, size_t cap, size_t *off, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	if (n > (cap - *off) / 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		buf[(*off)++] = digits[p[i] >> 4];
		buf[(*off)++] = digits[p[i] & 15];
	}
	buf[*off] = '\0';
	return true;
}

/* Append formatted text at buf[*off]; false when it does not fit. */
__attribute__((format(printf, 4, 5))) static bool put(char *buf, size_t cap, size_t *off,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= cap - *off)
		return false;
	*off += (size_t)w;
	return true;
}

int keylog_format_ike(const struct keylog_ike *k, char buf[static KEYLOG_LINE_MAX])
{
	size_t enc_len = 0, off = 0, cap = KEYLOG_LINE_MAX;
	const char *name = ike_cipher_name(k->encr, &enc_len);
	if (!name || k->enc_len != enc_len || !k->sk_ei || !k->sk_er)
		return -EINVAL;
	bool comment = k->encr == PROPOSAL_ENCR_CHACHA20POLY1305;
	bool ok = put(buf, cap, &off, "%s%016llx,%016llx,", comment ? "# " : "",
		      (unsigned long long)k->spi_i, (unsigned long long)k->spi_r) &&
		  put_hex(buf, cap, &off, k->sk_ei, enc_len) && put(buf, cap, &off, ",") &&
		  put_hex(buf, cap, &off, k->sk_er, enc_len) &&
		  put(buf, cap, &off, ",\"%s\",,,\"NONE [RFC4306]\"\n", name);
	return ok ? (int)off : -EINVAL;
}

int keylog_format_esp(const struct keylog_esp *k, char buf[static KEYLOG_LINE_MAX])
{
	size_t off = 0, cap = KEYLOG_LINE_MAX;
	const char *name = esp_wireshark_name(k->cipher);
	size_t len = esp_cipher_keymat_len(k->cipher);
	bool v6 = k->src.family == IP_V6;
	if (!name || !len || !k->keymat || k->src.family != k->dst.family ||
	    (!v6 && k->src.family != IP_V4))
		return -EINVAL;
	char src[IP_ADDR_STRLEN], dst[IP_ADDR_STRLEN];
	bool ok = put(buf, cap, &off, "\"%s\",\"%s\",\"%s\",\"0x%08x\",\"%s\",\"0x",
		      v6 ? "IPv6" : "IPv4", ip_addr_format(&k->src, src),
		      ip_addr_format(&k->dst, dst), (unsigned)k->spi, name) &&
		  put_hex(buf, cap, &off, k->keymat, len) &&
		  put(buf, cap, &off, "\",\"NULL\",\"\"\n");
	return ok ? (int)off : -EINVAL;
}

/* Open one file for appending, 0600 whatever it was, refusing anything but a regular file. */
static int open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = -EINVAL;
	/* An existing file may have been readable by others: make it private before writing. */
	if (rc == 0 && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
		rc = -errno;
	if (rc != 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int keylog_open(const char *path, struct keylog **out)
{
	*out = NULL;
	char esp_path[4096];
	int w = snprintf(esp_path, sizeof(esp_path), "%s.esp", path);
	if (w < 0 || (size_t)w >= sizeof(esp_path))
		return -ENAMETOOLONG;
	struct keylog *kl = calloc(1, sizeof(*kl));
	if (!kl)
		return -ENOMEM;
	kl->ike_fd = open_private(path);
	kl->esp_fd = kl->ike_fd >= 0 ? open_private(esp_path) : -1;
	if (kl->ike_fd < 0 || kl->esp_fd < 0) {
		int rc = kl->ike_fd < 0 ? kl->ike_fd : kl->esp_fd;
		keylog_close(kl);
		return rc;
	}
	LOG_WARN(MAIN,
		 "KEY LOG ENABLED: every IKE and ESP key is written in clear; anyone who can read "
		 "these files can decrypt the tunnels. Debugging only.",
		 "ike_keys=%s esp_keys=%s", path, esp_path);
	*out = kl;
	return 0;
}

void keylog_close(struct keylog *kl)
{
	if (!kl)
		return;
	if (kl->ike_fd >= 0)
		close(kl->ike_fd);
	if (kl->esp_fd >= 0)
		close(kl->esp_fd);
	free(kl);
}

/* One line, one write(2): O_APPEND keeps concurrent writers' lines whole. */
static int write_line(int fd, char *line, int len)
{
	int rc = len < 0 ? len : file_write_all(fd, line, (size_t)len);
	OPENSSL_cleanse(line, KEYLOG_LINE_MAX);
	return rc;
}

int keylog_ike_sa(struct keylog *kl, const struct keylog_ike *k)
{
	char line[KEYLOG_LINE_MAX];
	return write_line(kl->ike_fd, line, keylog_format_ike(k, line));
}

int keylog_esp_sa(struct keylog *kl, const struct keylog_esp *k)
{
	char line[KEYLOG_LINE_MAX];
	return write_line(kl->esp_fd, line, keylog_format_esp(k, line));
}
