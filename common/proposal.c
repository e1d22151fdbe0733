#include "common/proposal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"

enum tok_kind {
	TOK_ENCR,
	TOK_PRF,
	TOK_GROUP,
	TOK_ESN,
	TOK_REFUSED, /* known; weak or unsupported; `why` says what to do */
};

struct tok {
	const char *name;
	enum tok_kind kind;
	int value;
	const char *why;
};

static const char use_aead[] =
	"is not an AEAD cipher; sdwan supports aes128gcm16, aes256gcm16 and chacha20poly1305";
static const char no_integ[] = "is an integrity algorithm; AEAD ciphers authenticate on their "
			       "own, remove it (an IKE proposal names a PRF such as prfsha384)";
static const char use_group[] = "is not supported; use x25519, ecp256 or ecp384";

static const struct tok toks[] = {
	{"aes128gcm16", TOK_ENCR, PROPOSAL_ENCR_AES128GCM16, NULL},
	{"aes128gcm", TOK_ENCR, PROPOSAL_ENCR_AES128GCM16, NULL},
	{"aes256gcm16", TOK_ENCR, PROPOSAL_ENCR_AES256GCM16, NULL},
	{"aes256gcm", TOK_ENCR, PROPOSAL_ENCR_AES256GCM16, NULL},
	{"chacha20poly1305", TOK_ENCR, PROPOSAL_ENCR_CHACHA20POLY1305, NULL},
	{"prfsha256", TOK_PRF, PROPOSAL_PRF_SHA256, NULL},
	{"prfsha384", TOK_PRF, PROPOSAL_PRF_SHA384, NULL},
	{"prfsha512", TOK_PRF, PROPOSAL_PRF_SHA512, NULL},
	{"x25519", TOK_GROUP, PROPOSAL_GROUP_X25519, NULL},
	{"curve25519", TOK_GROUP, PROPOSAL_GROUP_X25519, NULL},
	{"ecp256", TOK_GROUP, PROPOSAL_GROUP_ECP256, NULL},
	{"ecp384", TOK_GROUP, PROPOSAL_GROUP_ECP384, NULL},
	{"esn", TOK_ESN, 1, NULL},
	{"noesn", TOK_ESN, 0, NULL},
	/* Weak: refused whatever the peer supports. */
	{"des", TOK_REFUSED, 0, "is broken (56-bit key); use aes256gcm16"},
	{"3des", TOK_REFUSED, 0, "is weak (64-bit block, Sweet32); use aes256gcm16"},
	{"null", TOK_REFUSED, 0, "means no encryption; use aes256gcm16"},
	{"blowfish", TOK_REFUSED, 0, "is weak (64-bit block); use aes256gcm16"},
	{"cast128", TOK_REFUSED, 0, "is weak (64-bit block); use aes256gcm16"},
	{"md5", TOK_REFUSED, 0, "is broken (collisions); use prfsha384"},
	{"prfmd5", TOK_REFUSED, 0, "is broken (collisions); use prfsha384"},
	{"md5_128", TOK_REFUSED, 0, "is broken (collisions); use prfsha384"},
	{"sha1", TOK_REFUSED, 0, "is weak (SHA-1 collisions); use prfsha384"},
	{"sha", TOK_REFUSED, 0, "is weak (SHA-1 collisions); use prfsha384"},
	{"prfsha1", TOK_REFUSED, 0, "is weak (SHA-1 collisions); use prfsha384"},
	{"sha1_160", TOK_REFUSED, 0, "is weak (SHA-1 collisions); use prfsha384"},
	{"modp768", TOK_REFUSED, 0, "is too small a group (768-bit MODP); use x25519"},
	{"modp1024", TOK_REFUSED, 0, "is too small a group (1024-bit MODP, Logjam); use x25519"},
	{"modp1024s160", TOK_REFUSED, 0, "is too small a group (1024-bit MODP); use x25519"},
	{"aes128gcm8", TOK_REFUSED, 0, "truncates the ICV to 8 bytes; use aes128gcm16"},
	{"aes128gcm12", TOK_REFUSED, 0, "truncates the ICV to 12 bytes; use aes128gcm16"},
	{"aes256gcm8", TOK_REFUSED, 0, "truncates the ICV to 8 bytes; use aes256gcm16"},
	{"aes256gcm12", TOK_REFUSED, 0, "truncates the ICV to 12 bytes; use aes256gcm16"},
	/* Sound but unsupported. */
	{"aes128", TOK_REFUSED, 0, use_aead},
	{"aes192", TOK_REFUSED, 0, use_aead},
	{"aes256", TOK_REFUSED, 0, use_aead},
	{"aes128ctr", TOK_REFUSED, 0, use_aead},
	{"aes256ctr", TOK_REFUSED, 0, use_aead},
	{"camellia128", TOK_REFUSED, 0, use_aead},
	{"camellia256", TOK_REFUSED, 0, use_aead},
	{"aes128ccm16", TOK_REFUSED, 0, use_aead},
	{"aes256ccm16", TOK_REFUSED, 0, use_aead},
	{"aes192gcm16", TOK_REFUSED, 0, "is not supported; use aes128gcm16 or aes256gcm16"},
	{"sha256", TOK_REFUSED, 0, no_integ},
	{"sha384", TOK_REFUSED, 0, no_integ},
	{"sha512", TOK_REFUSED, 0, no_integ},
	{"aesxcbc", TOK_REFUSED, 0, no_integ},
	{"aescmac", TOK_REFUSED, 0, no_integ},
	{"prfaesxcbc", TOK_REFUSED, 0, "is not supported; use prfsha256, prfsha384 or prfsha512"},
	{"prfaescmac", TOK_REFUSED, 0, "is not supported; use prfsha256, prfsha384 or prfsha512"},
	{"modp1536", TOK_REFUSED, 0, use_group},
	{"modp2048", TOK_REFUSED, 0, use_group},
	{"modp3072", TOK_REFUSED, 0, use_group},
	{"modp4096", TOK_REFUSED, 0, use_group},
	{"modp6144", TOK_REFUSED, 0, use_group},
	{"modp8192", TOK_REFUSED, 0, use_group},
	{"ecp192", TOK_REFUSED, 0, use_group},
	{"ecp224", TOK_REFUSED, 0, use_group},
	{"ecp521", TOK_REFUSED, 0, use_group},
	{"x448", TOK_REFUSED, 0, use_group},
	{"curve448", TOK_REFUSED, 0, use_group},
};

static const char *const encr_names[] = {"", "aes128gcm16", "aes256gcm16", "chacha20poly1305"};
static const char *const prf_names[] = {"", "prfsha256", "prfsha384", "prfsha512"};

static const char *group_name(uint16_t g)
{
	switch (g) {
	case PROPOSAL_GROUP_ECP256:
		return "ecp256";
	case PROPOSAL_GROUP_ECP384:
		return "ecp384";
	case PROPOSAL_GROUP_X25519:
		return "x25519";
	default:
		return "";
	}
}

__attribute__((format(printf, 4, 5))) static void add_err(struct proposal_errors *errs, size_t off,
							  size_t len, const char *fmt, ...)
{
	if (errs->n >= PROPOSAL_MAX_ERRORS)
		return;
	struct proposal_error *e = &errs->e[errs->n++];
	e->offset = off;
	e->len = len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

static const struct tok *find_tok(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		if (strlen(toks[i].name) == len && strncmp(toks[i].name, s, len) == 0)
			return &toks[i];
	return NULL;
}

static void unknown_token(struct proposal_errors *errs, const char *s, size_t off, size_t len)
{
	char word[64];
	snprintf(word, sizeof(word), "%.*s", (int)(len < 60 ? len : 60), s + off);
	const char *names[sizeof(toks) / sizeof(toks[0])];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		if (toks[i].kind != TOK_REFUSED)
			names[n++] = toks[i].name;
	const char *best = str_nearest(word, names, n);
	if (best)
		add_err(errs, off, len, "unknown algorithm '%s' (did you mean '%s'?)", word, best);
	else
		add_err(errs, off, len,
			"unknown algorithm '%s'; write e.g. aes256gcm16-prfsha384-x25519", word);
}

/* Record a token of a kind that may appear once. */
static void take_once(struct proposal_errors *errs, bool *seen, const char *what, const char *s,
		      size_t off, size_t len)
{
	if (*seen) {
		char word[64];
		snprintf(word, sizeof(word), "%.*s", (int)(len < 60 ? len : 60), s + off);
		add_err(errs, off, len,
			"second %s '%s'; a tunnel pins one proposal, so name one of each", what,
			word);
	}
	*seen = true;
}

struct seen {
	bool encr, prf, group, esn;
};

static void apply_tok(const struct tok *t, enum proposal_kind kind, struct proposal *p,
		      struct seen *seen, struct proposal_errors *errs, const char *s, size_t off,
		      size_t len)
{
	switch (t->kind) {
	case TOK_ENCR:
		take_once(errs, &seen->encr, "encryption algorithm", s, off, len);
		p->encr = (uint8_t)t->value;
		break;
	case TOK_PRF:
		if (kind == PROPOSAL_ESP) {
			add_err(errs, off, len,
				"'%s' is a PRF; it belongs in the IKE proposal, not ESP", t->name);
			break;
		}
		take_once(errs, &seen->prf, "PRF", s, off, len);
		p->prf = (uint8_t)t->value;
		break;
	case TOK_GROUP:
		take_once(errs, &seen->group, "key exchange group", s, off, len);
		p->group = (uint16_t)t->value;
		break;
	case TOK_ESN:
		if (kind == PROPOSAL_IKE) {
			add_err(errs, off, len,
				"'%s' applies to ESP only; remove it from the IKE proposal",
				t->name);
			break;
		}
		take_once(errs, &seen->esn, "sequence number option", s, off, len);
		p->esn = t->value != 0;
		break;
	case TOK_REFUSED:
		add_err(errs, off, len, "'%s' %s", t->name, t->why);
		break;
	}
}

int proposal_parse(const char *s, enum proposal_kind kind, struct proposal *out,
		   struct proposal_errors *errs)
{
	struct proposal p = {.esn = kind == PROPOSAL_ESP};
	struct seen seen = {0};
	errs->n = 0;
	size_t total = strlen(s);
	const char *comma = strchr(s, ',');
	if (comma) {
		add_err(errs, (size_t)(comma - s), 1,
			"several proposals given; a tunnel pins exactly one proposal");
		return -EINVAL;
	}
	size_t off = 0;
	while (off <= total) {
		size_t len = strcspn(s + off, "-");
		if (len == 0) {
			add_err(errs, off, 1, "empty algorithm name (stray '-')");
		} else {
			const struct tok *t = find_tok(s + off, len);
			if (t)
				apply_tok(t, kind, &p, &seen, errs, s, off, len);
			else
				unknown_token(errs, s, off, len);
		}
		off += len + 1;
	}
	if (errs->n == 0) {
		if (!seen.encr)
			add_err(errs, 0, total,
				"no encryption algorithm; start with aes256gcm16, aes128gcm16 or "
				"chacha20poly1305");
		if (kind == PROPOSAL_IKE && !seen.prf)
			add_err(errs, 0, total,
				"no PRF; AEAD IKE proposals need one, e.g. %s-prfsha384-%s",
				encr_names[p.encr], seen.group ? group_name(p.group) : "x25519");
		if (kind == PROPOSAL_IKE && !seen.group)
			add_err(errs, 0, total,
				"no key exchange group; IKE needs one, e.g. append -x25519");
	}
	if (errs->n)
		return -EINVAL;
	*out = p;
	return 0;
}

char *proposal_format(const struct proposal *p, enum proposal_kind kind,
		      char buf[static PROPOSAL_STRLEN])
{
	const char *encr = p->encr < 4 ? encr_names[p->encr] : "?";
	if (kind == PROPOSAL_IKE) {
		snprintf(buf, PROPOSAL_STRLEN, "%s-%s-%s", encr,
			 p->prf < 4 ? prf_names[p->prf] : "?", group_name(p->group));
	} else if (p->group) {
		snprintf(buf, PROPOSAL_STRLEN, "%s-%s-%s", encr, group_name(p->group),
			 p->esn ? "esn" : "noesn");
	} else {
		snprintf(buf, PROPOSAL_STRLEN, "%s-%s", encr, p->esn ? "esn" : "noesn");
	}
	return buf;
}

bool proposal_equal(const struct proposal *a, const struct proposal *b)
{
	return a->encr == b->encr && a->prf == b->prf && a->group == b->group && a->esn == b->esn;
}

unsigned proposal_esp_overhead(const struct proposal *p)
{
	(void)p; /* every supported cipher is an AEAD with an 8-byte IV and 16-byte ICV */
	return 8 + 8 + 2 + 16;
}
