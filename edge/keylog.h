/*
 * A debugging key log (`sdwan-edge --keylog FILE`): every IKE SA's and every ESP SA's keys,
 * written so that Wireshark can decrypt a capture of the tunnel. Off unless asked for; opening
 * one logs a warning, because anyone who can read the file can read the traffic.
 *
 *   FILE       Wireshark's IKEv2 decryption table (UAT file "ikev2_decryption_table"):
 *                SPIi,SPIr,SK_ei,SK_er,"encryption algorithm",SK_ai,SK_ar,"integrity algorithm"
 *              hex without quotes; SK_e* include the 4-octet salt (RFC 5282 §7.1), SK_a* are
 *              empty with the AEAD ciphers we use, and the integrity algorithm is "NONE".
 *   FILE.esp   Wireshark's ESP SA table (UAT file "esp_sa"), one line per direction:
 *                "IPv4","SRC","DST","0xSPI","encryption algorithm","0xKEY","NULL",""
 *              where KEY is the cipher key followed by its 4-octet salt (RFC 4106 §8.1,
 *              RFC 7634 §2).
 *
 * Algorithm names are the strings Wireshark's UAT fields take (Wireshark 4.0 as in Debian 12):
 * "AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-GCM-256 with 16 octet ICV [RFC5282]" (IKE),
 * "AES-GCM with 16 octet ICV [RFC4106]" (ESP, either key size). Wireshark has no IKEv2 entry for
 * ChaCha20-Poly1305, so such IKE SAs are written as a '#' comment line (UAT files skip them)
 * with the same fields; ESP SAs with ChaCha20-Poly1305 use "ChaCha20 with Poly1305 [RFC7634]",
 * which Wireshark knows from 4.2 on.
 *
 * Files are created 0600 (an existing one is made 0600), appended to, and written one whole
 * line per write(2), so a line is on disk as soon as the SA exists and a crash never leaves
 * half a line. Line buffers are wiped after use. A struct keylog owns its two descriptors;
 * use it from one thread (the control loop).
 */
#ifndef SDWAN_EDGE_KEYLOG_H
#define SDWAN_EDGE_KEYLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "edge/esp/esp_sa.h"

/* Longest line either format produces, with its NUL. */
#define KEYLOG_LINE_MAX 512

/* One IKE SA's keys. Borrowed for the call. */
struct keylog_ike {
	uint64_t spi_i, spi_r;
	uint8_t encr;                 /* enum proposal_encr */
	const uint8_t *sk_ei, *sk_er; /* cipher key || salt */
	size_t enc_len;               /* octets in each of sk_ei, sk_er */
};

/* One ESP SA (one direction) as it appears on the wire. Borrowed for the call. */
struct keylog_esp {
	struct ip_addr src, dst; /* outer addresses of the packets this SA protects */
	uint32_t spi;
	enum esp_cipher cipher;
	const uint8_t *keymat; /* cipher key || salt, esp_cipher_keymat_len(cipher) octets */
};

struct keylog;

/*
 * Open (create or append to) path and path.esp, both 0600, and log a warning that keys are
 * being written. Returns 0 and *out (release with keylog_close), or -errno (-ENAMETOOLONG,
 * -EINVAL for something other than a regular file, what open(2) said).
 */
int keylog_open(const char *path, struct keylog **out) __attribute__((warn_unused_result));

/* Close both files. NULL-safe. */
void keylog_close(struct keylog *kl);

/* Append an IKE SA's line. Returns 0, -EINVAL (unknown cipher, wrong key length) or -errno. */
int keylog_ike_sa(struct keylog *kl, const struct keylog_ike *k)
	__attribute__((warn_unused_result));

/* Append an ESP SA's line. Returns 0, -EINVAL or -errno. */
int keylog_esp_sa(struct keylog *kl, const struct keylog_esp *k)
	__attribute__((warn_unused_result));

/* Format the IKE line (with its '\n') into buf. Returns its length, or -EINVAL. The caller
 * wipes buf. Pure; any thread. */
int keylog_format_ike(const struct keylog_ike *k, char buf[static KEYLOG_LINE_MAX])
	__attribute__((warn_unused_result));

/* Format the ESP line (with its '\n') into buf. Returns its length, or -EINVAL. The caller
 * wipes buf. Pure; any thread. */
int keylog_format_esp(const struct keylog_esp *k, char buf[static KEYLOG_LINE_MAX])
	__attribute__((warn_unused_result));

#endif
