#include "edge/esp/esp_sa.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/rd.h"
#include "common/wr.h"
#include "edge/esp/replay.h"

struct esp_sa {
	/* Holds the key schedule; re-initialised with a fresh nonce per packet. */
	EVP_CIPHER_CTX *ctx;
	enum esp_cipher cipher;
	enum esp_dir dir;
	uint32_t spi;
	bool esn;
	uint8_t salt[ESP_SALT_LEN];
	/* Outbound: the last sequence number sent, and the highest one allowed. */
	uint64_t seq_last;
	uint64_t seq_max;
	_Atomic uint64_t *shared_seq; /* when set, replaces seq_last (see esp_sa_config) */
	/* Inbound. */
	struct replay_window replay;
};

/* Read-only after load: the one kind of table the style allows outside a context. */
static const struct {
	const char *name;     /* strongSwan proposal keyword */
	const char *evp_name; /* OpenSSL algorithm name */
	size_t key_len;
} cipher_info[ESP_CIPHER_COUNT] = {
	[ESP_CIPHER_AES128_GCM16] = {"aes128gcm16", "AES-128-GCM", 16},
	[ESP_CIPHER_AES256_GCM16] = {"aes256gcm16", "AES-256-GCM", 32},
	[ESP_CIPHER_CHACHA20_POLY1305] = {"chacha20poly1305", "ChaCha20-Poly1305", 32},
};

static const char *const verdict_names[ESP_VERDICT_COUNT] = {
	[ESP_OK] = "ok",
	[ESP_DROP_MALFORMED] = "malformed",
	[ESP_DROP_SPI] = "spi",
	[ESP_DROP_REPLAY] = "replay",
	[ESP_DROP_TOO_OLD] = "too_old",
	[ESP_DROP_AUTH] = "auth",
	[ESP_DROP_PAD] = "pad",
	[ESP_DROP_NEXT_HEADER] = "next_header",
	[ESP_DROP_DUMMY] = "dummy",
	[ESP_DROP_INTERNAL] = "internal",
};

size_t esp_cipher_keymat_len(enum esp_cipher cipher)
{
	if ((unsigned)cipher >= ESP_CIPHER_COUNT)
		return 0;
	return cipher_info[cipher].key_len + ESP_SALT_LEN;
}

const char *esp_cipher_name(enum esp_cipher cipher)
{
	if ((unsigned)cipher >= ESP_CIPHER_COUNT)
		return "unknown";
	return cipher_info[cipher].name;
}

const char *esp_verdict_name(enum esp_verdict v)
{
	if ((unsigned)v >= ESP_VERDICT_COUNT)
		return "unknown";
	return verdict_names[v];
}

static int check_config(const struct esp_sa_config *cfg)
{
	if ((unsigned)cfg->cipher >= ESP_CIPHER_COUNT)
		return -EINVAL;
	if (cfg->dir != ESP_DIR_OUT && cfg->dir != ESP_DIR_IN)
		return -EINVAL;
	if (!cfg->keymat || cfg->keymat_len != esp_cipher_keymat_len(cfg->cipher))
		return -EINVAL;
	if (cfg->spi < ESP_SPI_MIN)
		return -EINVAL;
	if (!cfg->esn && cfg->first_seq > UINT32_MAX)
		return -EINVAL;
	return 0;
}

/* Log the OpenSSL error queue's oldest entry with context, and empty the queue. */
static void log_openssl(const char *msg, const struct esp_sa_config *cfg)
{
	char err[256];

	ERR_error_string_n(ERR_get_error(), err, sizeof(err));
	ERR_clear_error();
	LOG_ERR(ESP, msg, "cipher=%s spi=0x%08x openssl=\"%s\"", esp_cipher_name(cfg->cipher),
		cfg->spi, err);
}

/* Fetch the cipher and load the key; the salt stays with us, the key only in the context. */
static int load_key(struct esp_sa *sa, const struct esp_sa_config *cfg)
{
	EVP_CIPHER *cipher = NULL;
	int rc = 0;

	cipher = EVP_CIPHER_fetch(NULL, cipher_info[cfg->cipher].evp_name, NULL);
	if (!cipher) {
		log_openssl("ESP cipher not available: enable it in the OpenSSL providers or "
			    "choose another proposal",
			    cfg);
		rc = -ENOTSUP;
		goto out;
	}
	sa->ctx = EVP_CIPHER_CTX_new();
	if (!sa->ctx) {
		rc = -ENOMEM;
		goto out;
	}
	/* The key schedule is computed once, here; packets only set a new nonce. */
	int enc = cfg->dir == ESP_DIR_OUT;
	if (EVP_CipherInit_ex2(sa->ctx, cipher, cfg->keymat, NULL, enc, NULL) != 1 ||
	    EVP_CIPHER_CTX_get_iv_length(sa->ctx) != ESP_NONCE_LEN ||
	    EVP_CIPHER_CTX_get_key_length(sa->ctx) != (int)cipher_info[cfg->cipher].key_len) {
		log_openssl("cannot load ESP key", cfg);
		rc = -EIO;
		goto out;
	}
	memcpy(sa->salt, cfg->keymat + cipher_info[cfg->cipher].key_len, ESP_SALT_LEN);
out:
	EVP_CIPHER_free(cipher);
	return rc;
}

int esp_sa_new(const struct esp_sa_config *cfg, struct esp_sa **out)
{
	struct esp_sa *sa = NULL;
	uint64_t first = cfg->first_seq ? cfg->first_seq : 1;
	int rc = check_config(cfg);

	if (rc != 0)
		goto out;
	sa = OPENSSL_zalloc(sizeof(*sa));
	if (!sa) {
		rc = -ENOMEM;
		goto out;
	}
	sa->cipher = cfg->cipher;
	sa->dir = cfg->dir;
	sa->spi = cfg->spi;
	sa->esn = cfg->esn;
	/* RFC 4303 §3.3.3: the counter must not cycle; 2^32 - 1 is the last without ESN. */
	sa->seq_max = cfg->esn ? UINT64_MAX : UINT32_MAX;
	sa->seq_last = first - 1;
	sa->shared_seq = cfg->dir == ESP_DIR_OUT ? cfg->shared_seq : NULL;
	replay_init(&sa->replay, first - 1);
	rc = load_key(sa, cfg);
	if (rc != 0)
		goto out;
	*out = sa;
	sa = NULL;
out:
	esp_sa_free(sa);
	return rc;
}

void esp_sa_free(struct esp_sa *sa)
{
	if (!sa)
		return;
	/* EVP_CIPHER_CTX_free() cleanses the key schedule; the struct holds the salt. */
	EVP_CIPHER_CTX_free(sa->ctx);
	OPENSSL_clear_free(sa, sizeof(*sa));
}

uint32_t esp_sa_spi(const struct esp_sa *sa)
{
	return sa->spi;
}

uint64_t esp_sa_packets_left(const struct esp_sa *sa)
{
	if (sa->dir != ESP_DIR_OUT)
		return 0;
	uint64_t last = sa->shared_seq ? atomic_load_explicit(sa->shared_seq, memory_order_relaxed)
				       : sa->seq_last;
	return last >= sa->seq_max ? 0 : sa->seq_max - last;
}

/* RFC 4106 §4, RFC 7634 §2: nonce = salt || IV. */
static void build_nonce(const struct esp_sa *sa, const uint8_t iv[static ESP_IV_LEN],
			uint8_t nonce[static ESP_NONCE_LEN])
{
	struct wr w = wr_init(nonce, ESP_NONCE_LEN);

	wr_bytes(&w, sa->salt, ESP_SALT_LEN);
	wr_bytes(&w, iv, ESP_IV_LEN);
}

/* RFC 4106 §5, RFC 7634 §2.1: AAD = SPI || seq, or SPI || seq_hi || seq_lo with ESN.
 * Returns its length. */
static size_t build_aad(const struct esp_sa *sa, uint64_t seq, uint8_t aad[static ESP_AAD_ESN_LEN])
{
	struct wr w = wr_init(aad, ESP_AAD_ESN_LEN);

	wr_u32(&w, sa->spi);
	if (sa->esn)
		wr_u32(&w, (uint32_t)(seq >> 32));
	wr_u32(&w, (uint32_t)seq);
	return wr_len(&w);
}

/* Encrypt text[0, len) in place and write the tag. len is at most ESP_PACKET_MAX. */
static int aead_seal(struct esp_sa *sa, const uint8_t nonce[static ESP_NONCE_LEN],
		     const uint8_t *aad, size_t aad_len, uint8_t *text, size_t len,
		     uint8_t tag[static ESP_ICV_LEN])
{
	EVP_CIPHER_CTX *ctx = sa->ctx;
	int n = 0, fin = 0;

	if (EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_EncryptUpdate(ctx, text, &n, text, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, text + n, &fin) != 1 || (size_t)n + (size_t)fin != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, ESP_ICV_LEN, tag) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/* Verify the tag and decrypt text[0, len) in place. */
static enum esp_verdict aead_open(struct esp_sa *sa, const uint8_t nonce[static ESP_NONCE_LEN],
				  const uint8_t *aad, size_t aad_len, uint8_t *text, size_t len,
				  uint8_t tag[static ESP_ICV_LEN])
{
	EVP_CIPHER_CTX *ctx = sa->ctx;
	int n = 0, fin = 0;

	if (EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_DecryptUpdate(ctx, text, &n, text, (int)len) != 1 || (size_t)n != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, ESP_ICV_LEN, tag) != 1) {
		ERR_clear_error();
		return ESP_DROP_INTERNAL;
	}
	/* The tag is compared in constant time inside the provider, which queues no error for a
	 * mismatch: a forged packet costs no error-queue work. */
	if (EVP_DecryptFinal_ex(ctx, text + n, &fin) != 1 || fin != 0)
		return ESP_DROP_AUTH;
	return ESP_OK;
}

/* RFC 4303 §2.6: the Next Header value for an inner packet by its IP version, or 0 if it is
 * not a plausible IPv4/IPv6 packet. */
static uint8_t inner_next_header(const uint8_t *pkt, size_t len)
{
	struct rd r = rd_init(pkt, len);
	uint8_t first;

	if (!rd_peek_u8(&r, &first))
		return 0;
	if (first >> 4 == 4 && len >= 20)
		return ESP_NH_IPV4;
	if (first >> 4 == 6 && len >= 40)
		return ESP_NH_IPV6;
	return 0;
}

int esp_sa_encap(struct esp_sa *sa, uint8_t *buf, size_t cap, size_t *off, size_t *len)
{
	const size_t in_off = *off, in_len = *len;
	uint8_t nonce[ESP_NONCE_LEN], aad[ESP_AAD_ESN_LEN];

	if (sa->dir != ESP_DIR_OUT || in_off > cap || in_len > cap - in_off ||
	    in_len > ESP_INNER_MAX)
		return -EINVAL;
	uint8_t *text = buf + in_off;
	uint8_t nh = inner_next_header(text, in_len);
	if (nh == 0)
		return -EINVAL;

	/* RFC 4303 §2.4: pad so that pad length and next header end on a 4-octet boundary. */
	size_t pad = (ESP_PAD_ALIGN - (in_len + ESP_TRAILER_LEN) % ESP_PAD_ALIGN) % ESP_PAD_ALIGN;
	size_t text_len = in_len + pad + ESP_TRAILER_LEN;
	if (in_off < ESP_HEADROOM || cap - in_off - in_len < pad + ESP_TRAILER_LEN + ESP_ICV_LEN)
		return -ENOSPC;

	/* RFC 4303 §3.3.3: never cycle the counter; the caller must rekey. */
	uint64_t seq;
	if (sa->shared_seq) {
		/* Relaxed is enough: only uniqueness matters, the receiver's window reorders. A
		 * wrap to 0 (2^64 numbers) counts as exhaustion too. */
		seq = atomic_fetch_add_explicit(sa->shared_seq, 1, memory_order_relaxed) + 1;
		if (seq == 0 || seq > sa->seq_max)
			return -EKEYEXPIRED;
	} else {
		if (sa->seq_last >= sa->seq_max)
			return -EKEYEXPIRED;
		seq = ++sa->seq_last;
	}

	/* SPI, low 32 bits of the sequence number, and the IV: the whole 64-bit number, unique per
	 * packet under this key (RFC 4106 §3.1, RFC 7634 §2). */
	struct wr hdr = wr_init(text - ESP_HEADROOM, ESP_HEADROOM);
	wr_u32(&hdr, sa->spi);
	wr_u32(&hdr, (uint32_t)seq);
	wr_u64(&hdr, seq);
	const uint8_t *iv = text - ESP_IV_LEN;

	/* RFC 4303 §2.4: padding octets 1, 2, 3, ...; then pad length and next header. */
	struct wr trl = wr_init(text + in_len, pad + ESP_TRAILER_LEN);
	for (size_t i = 1; i <= pad; i++)
		wr_u8(&trl, (uint8_t)i);
	wr_u8(&trl, (uint8_t)pad);
	wr_u8(&trl, nh);

	build_nonce(sa, iv, nonce);
	size_t aad_len = build_aad(sa, seq, aad);
	int rc = aead_seal(sa, nonce, aad, aad_len, text, text_len, text + text_len);
	if (rc != 0)
		return rc;
	*off = in_off - ESP_HEADROOM;
	*len = ESP_HEADROOM + text_len + ESP_ICV_LEN;
	return 0;
}

static enum esp_verdict replay_to_verdict(enum replay_verdict v)
{
	switch (v) {
	case REPLAY_OK:
		return ESP_OK;
	case REPLAY_REPLAYED:
		return ESP_DROP_REPLAY;
	case REPLAY_TOO_OLD:
		return ESP_DROP_TOO_OLD;
	}
	return ESP_DROP_INTERNAL;
}

/*
 * RFC 4303 §2.4-§2.6 on the decrypted payload text[0, len), len >= ESP_PAD_ALIGN: padding must
 * be the default 1, 2, 3, ... sequence; the inner packet must match its Next Header. Fills the
 * inner fields of res, relative to text_off.
 */
static enum esp_verdict check_trailer(const uint8_t *text, size_t len, size_t text_off,
				      struct esp_decap_result *res)
{
	struct rd r = rd_init(text, len), pad;
	uint8_t pad_len = 0, nh = 0, version = 0;

	if (!rd_skip(&r, len - ESP_TRAILER_LEN) || !rd_u8(&r, &pad_len) || !rd_u8(&r, &nh))
		return ESP_DROP_MALFORMED;
	if (pad_len > len - ESP_TRAILER_LEN)
		return ESP_DROP_PAD;
	size_t inner_len = len - ESP_TRAILER_LEN - pad_len;

	r = rd_init(text, len);
	if (!rd_skip(&r, inner_len) || !rd_sub(&r, pad_len, &pad))
		return ESP_DROP_MALFORMED;
	for (unsigned i = 1; i <= pad_len; i++) {
		uint8_t b = 0;
		if (!rd_u8(&pad, &b) || b != i)
			return ESP_DROP_PAD;
	}

	res->next_header = nh;
	res->inner_off = text_off;
	res->inner_len = inner_len;
	if (nh == ESP_NH_NONE)
		return ESP_DROP_DUMMY;
	r = rd_init(text, inner_len);
	if (!rd_peek_u8(&r, &version))
		return ESP_DROP_NEXT_HEADER;
	if ((nh == ESP_NH_IPV4 && version >> 4 == 4) || (nh == ESP_NH_IPV6 && version >> 4 == 6))
		return ESP_OK;
	return ESP_DROP_NEXT_HEADER;
}

enum esp_verdict esp_sa_decap(struct esp_sa *sa, uint8_t *buf, size_t len,
			      struct esp_decap_result *res)
{
	struct rd r = rd_init(buf, len);
	uint32_t spi = 0, seq_lo = 0;
	const uint8_t *iv = NULL;
	uint8_t nonce[ESP_NONCE_LEN], aad[ESP_AAD_ESN_LEN];
	uint64_t seq = 0;
	enum esp_verdict v;

	memset(res, 0, sizeof(*res));
	if (sa->dir != ESP_DIR_IN)
		return ESP_DROP_INTERNAL;

	/* Length: header, IV, at least an aligned trailer, ICV; ciphertext 4-octet aligned. */
	if (len < ESP_PACKET_MIN || len > ESP_PACKET_MAX)
		return ESP_DROP_MALFORMED;
	if (!rd_u32(&r, &spi) || !rd_u32(&r, &seq_lo) || !rd_bytes(&r, ESP_IV_LEN, &iv))
		return ESP_DROP_MALFORMED;
	const size_t text_off = ESP_HDR_LEN + ESP_IV_LEN;
	const size_t text_len = rd_left(&r) - ESP_ICV_LEN;
	if (text_len % ESP_PAD_ALIGN != 0)
		return ESP_DROP_MALFORMED;
	if (spi != sa->spi)
		return ESP_DROP_SPI;

	/* Replay check before spending a decryption on it; nothing changes yet. */
	v = replay_to_verdict(replay_check(&sa->replay, seq_lo, sa->esn, &seq));
	res->seq = v == ESP_DROP_TOO_OLD ? seq_lo : seq;
	if (v != ESP_OK)
		return v;

	build_nonce(sa, iv, nonce);
	size_t aad_len = build_aad(sa, seq, aad);
	v = aead_open(sa, nonce, aad, aad_len, buf + text_off, text_len, buf + text_off + text_len);
	if (v != ESP_OK)
		return v;

	/* Authentic: only now may the window move (RFC 4303 §3.4.3). */
	v = replay_to_verdict(replay_commit(&sa->replay, seq));
	if (v != ESP_OK)
		return v;
	return check_trailer(buf + text_off, text_len, text_off, res);
}
