/*
 * The IKEv2 message codec (RFC 7296 §3): parse a datagram into its header and a list of payload
 * views, parse each payload body into a typed struct, and build messages back with the
 * fixed-capacity writer. Constants are in ike_wire.h.
 *
 * The codec knows nothing of sockets, SA state or crypto. It checks syntax (every length three
 * ways: not below its header, not beyond what is left, fully consumed) and the RFC's structural
 * rules (proposal numbering, nonce size, selector ranges, SK last); what a message means in an
 * exchange (which payloads must be present, which proposal to pick) is the engine's business.
 *
 * Ownership: parsing allocates nothing and copies nothing bulky. Every `const uint8_t *` in a
 * parsed struct is a borrowed view into the caller's buffer, valid while that buffer is. Structs
 * with bounded arrays (payload list, SA, traffic selectors) are fixed size; input beyond those
 * bounds is rejected with its own error rather than truncated.
 *
 * Errors: every parser returns IKE_PARSE_OK or the one enum ike_parse value naming the first
 * malformation found, so the engine can count each kind and choose its answer (ike_parse_notify).
 * Builders record the first error in the builder (sticky) and report it from ike_build_finish().
 *
 * Threads: no shared state; any thread may use its own structs and builders.
 */
#ifndef SDWAN_EDGE_IKE_IKE_MSG_H
#define SDWAN_EDGE_IKE_IKE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wr.h"
#include "edge/ike/ike_wire.h"

/* Bounds of the fixed-size parse results. */
enum ike_msg_limit {
	/* Payloads walked in one chain, unknown skipped ones included. strongSwan's IKE_SA_INIT
	 * carries 9, a busy IKE_AUTH about 20. */
	IKE_MSG_MAX_PAYLOADS = 64,
	/* Proposals in one SA payload. */
	IKE_SA_MAX_PROPOSALS = 32,
	/* Transforms over all proposals of one SA payload (strongSwan's default IKE offer: 73). */
	IKE_SA_MAX_TRANSFORMS = 256,
	/* Traffic selectors in one TS payload. */
	IKE_TS_MAX = 64,
};

/* What a parser found: IKE_PARSE_OK or the first malformation, one value per kind. */
enum ike_parse {
	IKE_PARSE_OK = 0,
	/* IKE header, RFC 7296 §3.1 */
	IKE_PARSE_HDR_TRUNCATED, /* fewer than IKE_HDR_LEN octets */
	IKE_PARSE_HDR_VERSION,   /* major version is not 2 */
	IKE_PARSE_HDR_LENGTH,    /* Length field is not the datagram's length */
	/* generic payload chain, §3.2 */
	IKE_PARSE_PL_TRUNCATED,   /* a Next Payload promises a payload but < 4 octets are left */
	IKE_PARSE_PL_LEN_SHORT,   /* Payload Length below the 4-octet generic header */
	IKE_PARSE_PL_LEN_OVERRUN, /* Payload Length beyond the octets left */
	IKE_PARSE_PL_TRAILING,    /* octets after the last payload (Next Payload 0) */
	IKE_PARSE_PL_TOO_MANY,    /* more than IKE_MSG_MAX_PAYLOADS payloads */
	IKE_PARSE_PL_CRITICAL,    /* unknown payload type with the critical bit (§2.5) */
	IKE_PARSE_SK_NOT_LAST,    /* octets follow the SK/SKF payload (§3.14) */
	IKE_PARSE_SK_NESTED,      /* SK/SKF inside decrypted content */
	/* SA payload, §3.3 */
	IKE_PARSE_SA_EMPTY,         /* no proposal */
	IKE_PARSE_SA_PROPOSALS,     /* more than IKE_SA_MAX_PROPOSALS proposals */
	IKE_PARSE_SA_TRANSFORMS,    /* more than IKE_SA_MAX_TRANSFORMS transforms */
	IKE_PARSE_SA_CHOICE,        /* a response's SA holds more than one proposal (§2.7) */
	IKE_PARSE_PROP_TRUNCATED,   /* fewer octets left than a proposal header */
	IKE_PARSE_PROP_LEN,         /* Proposal Length below its header or beyond the SA */
	IKE_PARSE_PROP_LAST,        /* Last Substruc not 0/2, or disagrees with what follows */
	IKE_PARSE_PROP_NUM,         /* proposal numbers not 1, 2, 3... (or 0 in a response) */
	IKE_PARSE_PROP_PROTO,       /* Protocol ID not IKE, AH or ESP */
	IKE_PARSE_PROP_SPI_SIZE,    /* SPI Size wrong for the protocol, or SPI overruns */
	IKE_PARSE_PROP_XFORM_COUNT, /* Num Transforms is not the number of transforms */
	IKE_PARSE_XFORM_TRUNCATED,  /* fewer octets left than a transform header */
	IKE_PARSE_XFORM_LEN,        /* Transform Length below its header or beyond the proposal */
	IKE_PARSE_XFORM_LAST,       /* Last Substruc not 0/3, or disagrees with what follows */
	IKE_PARSE_ATTR_TRUNCATED,   /* an attribute overruns its transform */
	IKE_PARSE_ATTR_KEY_LEN,     /* Key Length not TV, zero, or repeated (§3.3.5) */
	/* KE payload, §3.4 */
	IKE_PARSE_KE_TRUNCATED, /* body below IKE_KE_HDR_LEN */
	IKE_PARSE_KE_EMPTY,     /* no key exchange data */
	/* Nonce payload, §3.9 */
	IKE_PARSE_NONCE_SHORT, /* below IKE_NONCE_MIN */
	IKE_PARSE_NONCE_LONG,  /* above IKE_NONCE_MAX */
	/* Notify payload, §3.10 */
	IKE_PARSE_NOTIFY_TRUNCATED, /* body below its header, or SPI overruns */
	IKE_PARSE_NOTIFY_SPI,       /* SPI Size not 0, 4 (AH/ESP) or 8 (IKE) for the protocol */
	/* ID payload, §3.5 */
	IKE_PARSE_ID_TRUNCATED, /* body below IKE_ID_HDR_LEN */
	IKE_PARSE_ID_LEN,       /* no data, or an address ID of the wrong length */
	/* CERT §3.6 / CERTREQ §3.7 */
	IKE_PARSE_CERT_TRUNCATED, /* no encoding octet */
	IKE_PARSE_CERT_EMPTY,     /* CERT without data */
	IKE_PARSE_CERTREQ_LEN,    /* X.509 CERTREQ not a whole number of SHA-1 hashes */
	/* AUTH payload, §3.8 */
	IKE_PARSE_AUTH_TRUNCATED, /* body below IKE_AUTH_HDR_LEN */
	IKE_PARSE_AUTH_EMPTY,     /* no authentication data */
	/* TSi/TSr payloads, §3.13 */
	IKE_PARSE_TS_TRUNCATED, /* body below IKE_TS_HDR_LEN */
	IKE_PARSE_TS_COUNT,     /* Number of TSs is 0 or not the number of selectors present */
	IKE_PARSE_TS_TOO_MANY,  /* more than IKE_TS_MAX selectors */
	IKE_PARSE_TS_TYPE,      /* TS Type not IPv4 or IPv6 address range */
	IKE_PARSE_TS_LEN,       /* Selector Length wrong for its type or beyond the payload */
	IKE_PARSE_TS_PORTS,     /* start port > end port (other than OPAQUE 65535-0) */
	IKE_PARSE_TS_ADDRS,     /* start address > end address */
	/* Delete payload, §3.11 */
	IKE_PARSE_DELETE_TRUNCATED, /* body below IKE_DELETE_HDR_LEN */
	IKE_PARSE_DELETE_PROTO,     /* Protocol ID not IKE, AH or ESP */
	IKE_PARSE_DELETE_SPI_SIZE,  /* SPI Size not 0 for IKE (with no SPIs) or 4 for AH/ESP */
	IKE_PARSE_DELETE_LEN,       /* SPIs do not fill the payload exactly */
	/* Vendor ID payload, §3.12 */
	IKE_PARSE_VENDOR_EMPTY, /* no vendor ID */
	/* SKF payload, RFC 7383 §2.5 */
	IKE_PARSE_SKF_TRUNCATED, /* body below IKE_SKF_HDR_LEN */
	IKE_PARSE_SKF_NUMBER,    /* fragment number 0, total 0, or number > total */
	IKE_PARSE_SKF_NEXT,      /* Next Payload not 0 in a fragment other than the first */
	IKE_PARSE_COUNT,
};

/* The IKE header, RFC 7296 §3.1. SPIs are the 8 octets read as a big-endian integer. */
struct ike_hdr {
	uint64_t spi_i;
	uint64_t spi_r;
	uint8_t next_payload; /* type of the first payload (ignored when building) */
	uint8_t major;        /* always 2 after a successful parse; built as 2 */
	uint8_t minor;        /* received value, which §3.1 says to ignore; built as given */
	uint8_t exchange;     /* enum ike_exchange, not checked */
	uint8_t flags;        /* enum ike_hdr_flag bits, reserved bits as received */
	uint32_t msg_id;
	uint32_t length; /* whole message (ignored when building) */
};

/* A borrowed view of one payload: its type, C bit and body (the octets after the generic header).
 */
struct ike_payload {
	uint8_t type; /* enum ike_payload_type */
	/* The raw Next Payload field. For SK/SKF it names the first payload inside the ciphertext
	 * (RFC 7296 §3.14); elsewhere it is the type of the following payload. */
	uint8_t next;
	bool critical;
	const uint8_t *body;
	size_t len;
};

/* The payloads of one chain, in order. Unknown non-critical payloads are skipped (counted but
 * not listed). If encrypted, pl[n - 1] is the SK or SKF payload, which ended the chain. */
struct ike_payloads {
	size_t n;
	struct ike_payload pl[IKE_MSG_MAX_PAYLOADS];
	size_t skipped;
	bool encrypted;
	/* With IKE_PARSE_PL_CRITICAL: the unsupported type, the data of the
	 * UNSUPPORTED_CRITICAL_PAYLOAD notify to answer with. */
	uint8_t critical_type;
};

/* A parsed IKE message. */
struct ike_msg {
	struct ike_hdr hdr;
	struct ike_payloads pls;
};

/* One transform of a proposal, RFC 7296 §3.3.2 and §3.3.5. */
struct ike_transform {
	uint8_t type; /* enum ike_transform_type (unknown types are kept) */
	uint16_t id;
	uint16_t key_len; /* Key Length attribute in bits, 0 if absent */
	/* The transform carried an attribute this codec does not know: §3.3.6 says such a transform
	 * must not be chosen. Not encoded by the builder. */
	bool unknown_attr;
};

/* One proposal, RFC 7296 §3.3.1; its transforms are sa->xf[first, first + count). */
struct ike_proposal {
	uint8_t num;
	uint8_t proto; /* enum ike_proto */
	uint8_t spi_size;
	uint8_t spi[IKE_SPI_LEN];
	uint16_t first;
	uint16_t count;
};

/* An SA payload: proposals, and one pool holding every proposal's transforms in order. */
struct ike_sa {
	size_t n_prop;
	struct ike_proposal prop[IKE_SA_MAX_PROPOSALS];
	size_t n_xf;
	struct ike_transform xf[IKE_SA_MAX_TRANSFORMS];
};

/* KE payload, RFC 7296 §3.4. */
struct ike_ke {
	uint16_t group; /* enum ike_dh */
	const uint8_t *data;
	size_t len;
};

/* Nonce payload, RFC 7296 §3.9. */
struct ike_nonce {
	const uint8_t *data;
	size_t len;
};

/* Notify payload, RFC 7296 §3.10. */
struct ike_notify {
	uint8_t proto;    /* enum ike_proto; meaningful only with an SPI */
	uint8_t spi_size; /* 0, 4 or 8 */
	uint16_t type;    /* enum ike_notify_type */
	const uint8_t *spi;
	const uint8_t *data;
	size_t len; /* of data */
};

/* IDi/IDr payload, RFC 7296 §3.5. */
struct ike_id {
	uint8_t type; /* enum ike_id_type */
	const uint8_t *data;
	size_t len;
};

/* CERT (§3.6) or CERTREQ (§3.7) payload. */
struct ike_cert {
	uint8_t encoding; /* enum ike_cert_encoding */
	const uint8_t *data;
	size_t len;
};

/* AUTH payload, RFC 7296 §3.8. */
struct ike_auth {
	uint8_t method; /* enum ike_auth_method */
	const uint8_t *data;
	size_t len;
};

/* One traffic selector, RFC 7296 §3.13.1. An IPv4 range uses the first 4 octets of start and
 * end; the rest are zero. */
struct ike_ts {
	uint8_t type;  /* enum ike_ts_type */
	uint8_t proto; /* IP protocol, 0 = any */
	uint16_t start_port;
	uint16_t end_port;
	uint8_t start[IKE_TS_ADDR_MAX];
	uint8_t end[IKE_TS_ADDR_MAX];
};

/* TSi/TSr payload, RFC 7296 §3.13. */
struct ike_ts_list {
	size_t n;
	struct ike_ts ts[IKE_TS_MAX];
};

/* Delete payload, RFC 7296 §3.11: n_spi SPIs of spi_size octets each, back to back. */
struct ike_delete {
	uint8_t proto; /* enum ike_proto */
	uint8_t spi_size;
	uint16_t n_spi;
	const uint8_t *spis;
};

/* Vendor ID payload, RFC 7296 §3.12. */
struct ike_vendor {
	const uint8_t *data;
	size_t len;
};

/* SKF payload, RFC 7383 §2.5: fragment header, then IV, ciphertext and ICV (data). */
struct ike_skf {
	uint16_t number;
	uint16_t total;
	const uint8_t *data;
	size_t len;
};

/* A short stable name for a parse result ("ok", "pl-len-short", ...) for counters and logs;
 * "unknown" for a value out of range. */
const char *ike_parse_name(enum ike_parse err);

/*
 * The notify type RFC 7296 suggests answering a malformed request with: INVALID_MAJOR_VERSION
 * (§2.5) for IKE_PARSE_HDR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD (§2.5) for IKE_PARSE_PL_CRITICAL,
 * INVALID_SYNTAX (§3.10.1) otherwise; 0 for IKE_PARSE_OK and IKE_PARSE_HDR_TRUNCATED (no SPIs to
 * answer to). Whether to answer at all (not before authentication, §2.21) is the engine's call.
 */
uint16_t ike_parse_notify(enum ike_parse err);

/*
 * Parse the IKE header of buf[0, len) into *hdr: version 2.x (minor ignored, §3.1) and Length
 * equal to len. *hdr is filled even when the version or the length is wrong.
 * Returns IKE_PARSE_OK, IKE_PARSE_HDR_TRUNCATED, IKE_PARSE_HDR_VERSION or IKE_PARSE_HDR_LENGTH.
 */
enum ike_parse ike_hdr_parse(const uint8_t *buf, size_t len, struct ike_hdr *hdr)
	__attribute__((warn_unused_result));

/*
 * Parse one IKE message, the whole of a UDP payload buf[0, len) (non-ESP marker removed): the
 * header (ike_hdr_parse) and then the payload chain (§3.2). Unknown payloads are skipped unless
 * critical; an SK or SKF payload must be last and ends the walk (its body is ciphertext).
 * On return msg->hdr is valid unless the result is IKE_PARSE_HDR_TRUNCATED, and msg->pls holds
 * the payloads parsed so far. Views borrow buf.
 */
enum ike_parse ike_msg_parse(const uint8_t *buf, size_t len, struct ike_msg *msg)
	__attribute__((warn_unused_result));

/*
 * Parse the payload chain of decrypted SK content buf[0, len), whose first payload's type is
 * `first` (the SK payload's next field), into *out. As ike_msg_parse's chain, except that an
 * SK/SKF payload is IKE_PARSE_SK_NESTED. Padding and ICV must already be removed.
 */
enum ike_parse ike_msg_parse_inner(const uint8_t *buf, size_t len, uint8_t first,
				   struct ike_payloads *out) __attribute__((warn_unused_result));

/*
 * Typed payload parsers. Each parses one payload body (struct ike_payload body/len) into *out,
 * consuming it exactly, and returns IKE_PARSE_OK or the first malformation. *out is only
 * meaningful on IKE_PARSE_OK; its views borrow the body.
 */

/* SA payload (§3.3). `response`: the SA of a response, which holds exactly one proposal whose
 * number is the chosen one (§2.7); otherwise an offer, numbered 1, 2, 3... (§3.3.1). */
enum ike_parse ike_sa_parse(const uint8_t *body, size_t len, bool response, struct ike_sa *out)
	__attribute__((warn_unused_result));
/* KE payload (§3.4); the data length is not checked against the group. */
enum ike_parse ike_ke_parse(const uint8_t *body, size_t len, struct ike_ke *out)
	__attribute__((warn_unused_result));
/* Nonce payload (§3.9): IKE_NONCE_MIN to IKE_NONCE_MAX octets. */
enum ike_parse ike_nonce_parse(const uint8_t *body, size_t len, struct ike_nonce *out)
	__attribute__((warn_unused_result));
/* Notify payload (§3.10); the data is not interpreted. */
enum ike_parse ike_notify_parse(const uint8_t *body, size_t len, struct ike_notify *out)
	__attribute__((warn_unused_result));
/* IDi or IDr payload (§3.5): IPv4/IPv6 address IDs must be 4/16 octets, others non-empty. */
enum ike_parse ike_id_parse(const uint8_t *body, size_t len, struct ike_id *out)
	__attribute__((warn_unused_result));
/* CERT payload (§3.6): encoding and non-empty data. */
enum ike_parse ike_cert_parse(const uint8_t *body, size_t len, struct ike_cert *out)
	__attribute__((warn_unused_result));
/* CERTREQ payload (§3.7): encoding and CA data; X.509 requests hold whole 20-octet hashes (an
 * empty list, "any CA", is accepted). */
enum ike_parse ike_certreq_parse(const uint8_t *body, size_t len, struct ike_cert *out)
	__attribute__((warn_unused_result));
/* AUTH payload (§3.8): method and non-empty data (for method 14 the RFC 7427 structure is left
 * to the authenticator). */
enum ike_parse ike_auth_parse(const uint8_t *body, size_t len, struct ike_auth *out)
	__attribute__((warn_unused_result));
/* TSi or TSr payload (§3.13): IPv4 and IPv6 address ranges with start <= end. */
enum ike_parse ike_ts_parse(const uint8_t *body, size_t len, struct ike_ts_list *out)
	__attribute__((warn_unused_result));
/* Delete payload (§3.11). */
enum ike_parse ike_delete_parse(const uint8_t *body, size_t len, struct ike_delete *out)
	__attribute__((warn_unused_result));
/* Vendor ID payload (§3.12): non-empty. */
enum ike_parse ike_vendor_parse(const uint8_t *body, size_t len, struct ike_vendor *out)
	__attribute__((warn_unused_result));
/* SKF payload (RFC 7383 §2.5) with its generic header's Next Payload `next`: 1 <= number <=
 * total, and next 0 unless number is 1. */
enum ike_parse ike_skf_parse(const uint8_t *body, size_t len, uint8_t next, struct ike_skf *out)
	__attribute__((warn_unused_result));

/*
 * SA construction helpers, for the builder. ike_sa_add_proposal() appends a proposal numbered
 * n_prop + 1 (set prop[].num afterwards for a response) with an SPI of spi_size octets (0, 4 or
 * 8; spi may be NULL when 0); ike_sa_add_transform() appends a transform to the last proposal,
 * key_len 0 meaning no Key Length attribute. Both return 0, -ENOSPC when a limit is reached, or
 * -EINVAL (bad SPI size, no proposal yet).
 */
int ike_sa_add_proposal(struct ike_sa *sa, uint8_t proto, const uint8_t *spi, size_t spi_size)
	__attribute__((warn_unused_result));
int ike_sa_add_transform(struct ike_sa *sa, uint8_t type, uint16_t id, uint16_t key_len)
	__attribute__((warn_unused_result));

/*
 * Message builder. Writes an IKE header (or nothing, for the plaintext of an SK payload) and
 * then payloads through a caller-owned writer, patching each payload's Next Payload field when
 * the next one begins and each length when it ends:
 *
 *   struct ike_build b;
 *   ike_build_init(&b, &w, &hdr);        // hdr: SPIs, exchange, flags, message ID
 *   ike_build_sa(&b, &sa);
 *   ike_build_nonce(&b, &nonce);
 *   if (ike_build_finish(&b, &len) != 0) ...
 *
 * An SK/SKF payload must come last: open it with ike_build_sk_begin()/ike_build_skf_begin(),
 * write (or reserve) IV, ciphertext and ICV through b.w, close it with ike_build_end(). All
 * lengths are final after ike_build_finish(), so the AEAD's associated data can be taken then.
 * Callers may write through w between an SK begin and ike_build_end(); the other fields are
 * private to ike_msg.c.
 */
struct ike_build {
	struct wr *w;
	size_t start;   /* offset of the IKE header, or of the first payload */
	bool has_hdr;   /* a header was written at start */
	size_t np_at;   /* offset of the Next Payload field the next payload patches */
	uint8_t np_low; /* the octet after that field, rewritten with it (wr patches 16 bits) */
	bool np_valid;  /* np_at is set (false before the first payload of a bare chain) */
	size_t pl_at;   /* offset of the open payload's generic header */
	bool open;      /* a payload is open */
	bool sealed;    /* an SK/SKF payload was begun: nothing may follow */
	uint8_t first;  /* type of the first payload, IKE_PAYLOAD_NONE if none */
	int err;        /* first error: 0, -EINVAL (misuse) or -EMSGSIZE (payload too long) */
};

/* Start building into w, which must outlive the builder: with hdr, an IKE message (the header's
 * next_payload and length are computed; version 2.hdr->minor); with hdr NULL, a bare payload
 * chain, e.g. the plaintext of an SK payload. */
void ike_build_init(struct ike_build *b, struct wr *w, const struct ike_hdr *hdr);

/* Open a payload of any type (generic header with length to be patched); write its body through
 * b->w, then ike_build_end(). For types with a typed builder below, prefer that. */
void ike_build_begin(struct ike_build *b, uint8_t type, bool critical);

/* Close the open payload, patching its length. */
void ike_build_end(struct ike_build *b);

/* Open the SK payload, the last of the message; inner is the type of the first encrypted payload
 * (ike_build_first() of the plaintext's builder). */
void ike_build_sk_begin(struct ike_build *b, uint8_t inner);

/* Open an SKF payload (RFC 7383 §2.5) and write its fragment number and total; inner is the first
 * encrypted payload's type for fragment 1 and must be IKE_PAYLOAD_NONE for the others. */
void ike_build_skf_begin(struct ike_build *b, uint8_t inner, uint16_t number, uint16_t total);

/* A whole payload with an opaque body (unknown types, CP, EAP, tests). Not for SK/SKF. */
void ike_build_raw(struct ike_build *b, uint8_t type, bool critical, const void *body, size_t len);

/* Typed payload builders: each writes one whole payload, C bit clear. `type` selects IDi/IDr,
 * CERT/CERTREQ and TSi/TSr (-EINVAL otherwise). They encode what they are given, values the
 * parser would refuse included (a short nonce, a TS range with start > end), so tests can build
 * malformed messages; only what cannot be encoded is -EINVAL: a NULL view with a length, an SPI
 * longer than 8 octets, transforms outside the pool, more than IKE_TS_MAX selectors or a TS type
 * of unknown address length. */
void ike_build_sa(struct ike_build *b, const struct ike_sa *sa);
void ike_build_ke(struct ike_build *b, const struct ike_ke *ke);
void ike_build_nonce(struct ike_build *b, const struct ike_nonce *nonce);
void ike_build_notify(struct ike_build *b, const struct ike_notify *n);
void ike_build_id(struct ike_build *b, uint8_t type, const struct ike_id *id);
void ike_build_cert(struct ike_build *b, uint8_t type, const struct ike_cert *cert);
void ike_build_auth(struct ike_build *b, const struct ike_auth *auth);
void ike_build_ts(struct ike_build *b, uint8_t type, const struct ike_ts_list *ts);
void ike_build_delete(struct ike_build *b, const struct ike_delete *del);
void ike_build_vendor(struct ike_build *b, const struct ike_vendor *vid);

/* The type of the first payload built (IKE_PAYLOAD_NONE if none yet): what the enclosing SK
 * payload's next field must say. */
uint8_t ike_build_first(const struct ike_build *b);

/*
 * Finish: close nothing implicitly, patch the header's length, and report. *len (may be NULL)
 * receives the octets written since ike_build_init(). Returns 0; -EINVAL if the builder was
 * misused (payload left open, payload after SK, wrong type for a typed builder, invalid struct);
 * -EMSGSIZE if a payload or the message outgrew its length field; -ENOSPC if the writer
 * overflowed.
 */
int ike_build_finish(struct ike_build *b, size_t *len) __attribute__((warn_unused_result));

#endif
