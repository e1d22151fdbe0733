/*
 * libFuzzer target: ESP decapsulation (edge/esp/esp_sa.c) on arbitrary input.
 *
 * Input layout: octet 0 chooses the SA and the mode, the rest is the packet.
 *
 *   bits 0-1  cipher: 0 aes128gcm16, 1 aes256gcm16, 2 and 3 chacha20poly1305
 *   bit 2     ESN
 *   bit 3     seal mode: the rest is a 4-octet sequence number and a plaintext (inner packet,
 *             padding, pad length, next header as the fuzzer likes), sealed here with the SA's
 *             key, so that the checks after authentication get fuzzed too
 *   otherwise the rest is an ESP packet, decapsulated as it is
 *
 * Every input gets a fresh inbound SA (fixed keys, SPI 0x00001000), so runs are independent.
 * Besides memory errors, the target aborts when an invariant breaks:
 *   - the inner packet lies inside the buffer, just after the IV;
 *   - a packet sealed here with the right key never fails authentication;
 *   - a packet that authenticated is a replay the second time.
 * The seed corpus (corpus/esp_decap/) holds packets made by esp_sa_encap() with the same keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "edge/esp/esp_sa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	FUZZ_SPI = 0x00001000,
	MODE_SEAL = 0x08,
};

static const uint8_t fuzz_keymat[36] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xa0, 0xa1, 0xa2, 0xa3,
};

static enum esp_cipher cipher_of(uint8_t sel)
{
	switch (sel & 3) {
	case 0:
		return ESP_CIPHER_AES128_GCM16;
	case 1:
		return ESP_CIPHER_AES256_GCM16;
	default:
		return ESP_CIPHER_CHACHA20_POLY1305;
	}
}

/* KEYMAT for a cipher: key, then the salt from the end of fuzz_keymat. */
static size_t keymat_for(enum esp_cipher c, uint8_t out[static 36])
{
	size_t n = esp_cipher_keymat_len(c);
	memcpy(out, fuzz_keymat, n - 4);
	memcpy(out + n - 4, fuzz_keymat + 32, 4);
	return n;
}

static const EVP_CIPHER *evp_of(enum esp_cipher c)
{
	switch (c) {
	case ESP_CIPHER_AES128_GCM16:
		return EVP_aes_128_gcm();
	case ESP_CIPHER_AES256_GCM16:
		return EVP_aes_256_gcm();
	default:
		return EVP_chacha20_poly1305();
	}
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* RFC 4106 / RFC 7634 sealing with plain EVP: SPI || seq || IV || ciphertext || tag, where
 * IV = 0 || seq and the ESN high half is 0. out has room for 32 + pt_len. */
static int seal(enum esp_cipher c, const uint8_t *km, bool esn, uint32_t seq, const uint8_t *pt,
		size_t pt_len, uint8_t *out)
{
	size_t key_len = esp_cipher_keymat_len(c) - 4;
	uint8_t nonce[12] = {0}, aad[12] = {0};
	size_t aad_len = esn ? 12 : 8;
	int n = 0, ok = 0;

	put_be32(out, FUZZ_SPI);
	put_be32(out + 4, seq);
	memset(out + 8, 0, 4);
	put_be32(out + 12, seq);
	memcpy(nonce, km + key_len, 4);
	memcpy(nonce + 4, out + 8, 8);
	put_be32(aad, FUZZ_SPI);
	put_be32(aad + aad_len - 4, seq);

	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -1;
	ok = EVP_EncryptInit_ex(ctx, evp_of(c), NULL, km, nonce) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
	     (pt_len == 0 || EVP_EncryptUpdate(ctx, out + 16, &n, pt, (int)pt_len) == 1) &&
	     EVP_EncryptFinal_ex(ctx, out + 16 + pt_len, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 16 + pt_len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static bool authenticated(enum esp_verdict v)
{
	return v == ESP_OK || v == ESP_DROP_PAD || v == ESP_DROP_NEXT_HEADER || v == ESP_DROP_DUMMY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t km[36];
	struct esp_sa *sa = NULL;
	uint8_t *pkt = NULL, *again = NULL;
	size_t len = 0;
	bool sealed = false;

	if (size < 1 || size > ESP_PACKET_MAX)
		return 0;
	uint8_t sel = data[0];
	enum esp_cipher c = cipher_of(sel);
	bool esn = sel & 0x04;
	struct esp_sa_config cfg = {
		.cipher = c,
		.dir = ESP_DIR_IN,
		.spi = FUZZ_SPI,
		.esn = esn,
		.keymat = km,
		.keymat_len = keymat_for(c, km),
	};
	if (esp_sa_new(&cfg, &sa) != 0)
		abort();

	if ((sel & MODE_SEAL) && size >= 5) {
		uint32_t seq = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
			       (uint32_t)data[3] << 8 | data[4];
		size_t pt_len = size - 5;
		len = 32 + pt_len;
		pkt = malloc(len);
		if (!pkt || seal(c, km, esn, seq, data + 5, pt_len, pkt) != 0)
			abort();
		sealed = true;
	} else {
		len = size - 1;
		pkt = malloc(len ? len : 1);
		if (!pkt)
			abort();
		memcpy(pkt, data + 1, len);
	}
	again = malloc(len ? len : 1);
	if (!again)
		abort();
	memcpy(again, pkt, len);

	struct esp_decap_result res;
	enum esp_verdict v = esp_sa_decap(sa, pkt, len, &res);
	if ((unsigned)v >= ESP_VERDICT_COUNT)
		abort();
	if (v == ESP_OK || v == ESP_DROP_NEXT_HEADER || v == ESP_DROP_DUMMY) {
		if (res.inner_off != ESP_HDR_LEN + ESP_IV_LEN || res.inner_len > len ||
		    res.inner_off + res.inner_len + ESP_TRAILER_LEN + ESP_ICV_LEN > len)
			abort();
	}
	if (sealed && (v == ESP_DROP_AUTH || v == ESP_DROP_SPI))
		abort();
	if (authenticated(v) && esp_sa_decap(sa, again, len, &res) != ESP_DROP_REPLAY)
		abort();

	free(again);
	free(pkt);
	esp_sa_free(sa);
	return 0;
}
