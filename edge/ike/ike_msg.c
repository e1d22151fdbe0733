/*
 * IKEv2 message codec: parsers read through common/rd.h, one sub-reader per length field, so a
 * structure cannot be read past its declared end; builders write through common/wr.h and
 * back-patch lengths and Next Payload fields. Each wire format is drawn above its parser.
 */
#include "edge/ike/ike_msg.h"

#include <errno.h>
#include <string.h>

#include "common/rd.h"

static const char *const parse_names[IKE_PARSE_COUNT] = {
	[IKE_PARSE_OK] = "ok",
	[IKE_PARSE_HDR_TRUNCATED] = "hdr-truncated",
	[IKE_PARSE_HDR_VERSION] = "hdr-version",
	[IKE_PARSE_HDR_LENGTH] = "hdr-length",
	[IKE_PARSE_PL_TRUNCATED] = "pl-truncated",
	[IKE_PARSE_PL_LEN_SHORT] = "pl-len-short",
	[IKE_PARSE_PL_LEN_OVERRUN] = "pl-len-overrun",
	[IKE_PARSE_PL_TRAILING] = "pl-trailing",
	[IKE_PARSE_PL_TOO_MANY] = "pl-too-many",
	[IKE_PARSE_PL_CRITICAL] = "pl-critical",
	[IKE_PARSE_SK_NOT_LAST] = "sk-not-last",
	[IKE_PARSE_SK_NESTED] = "sk-nested",
	[IKE_PARSE_SA_EMPTY] = "sa-empty",
	[IKE_PARSE_SA_PROPOSALS] = "sa-proposals",
	[IKE_PARSE_SA_TRANSFORMS] = "sa-transforms",
	[IKE_PARSE_SA_CHOICE] = "sa-choice",
	[IKE_PARSE_PROP_TRUNCATED] = "prop-truncated",
	[IKE_PARSE_PROP_LEN] = "prop-len",
	[IKE_PARSE_PROP_LAST] = "prop-last",
	[IKE_PARSE_PROP_NUM] = "prop-num",
	[IKE_PARSE_PROP_PROTO] = "prop-proto",
	[IKE_PARSE_PROP_SPI_SIZE] = "prop-spi-size",
	[IKE_PARSE_PROP_XFORM_COUNT] = "prop-xform-count",
	[IKE_PARSE_XFORM_TRUNCATED] = "xform-truncated",
	[IKE_PARSE_XFORM_LEN] = "xform-len",
	[IKE_PARSE_XFORM_LAST] = "xform-last",
	[IKE_PARSE_ATTR_TRUNCATED] = "attr-truncated",
	[IKE_PARSE_ATTR_KEY_LEN] = "attr-key-len",
	[IKE_PARSE_KE_TRUNCATED] = "ke-truncated",
	[IKE_PARSE_KE_EMPTY] = "ke-empty",
	[IKE_PARSE_NONCE_SHORT] = "nonce-short",
	[IKE_PARSE_NONCE_LONG] = "nonce-long",
	[IKE_PARSE_NOTIFY_TRUNCATED] = "notify-truncated",
	[IKE_PARSE_NOTIFY_SPI] = "notify-spi",
	[IKE_PARSE_ID_TRUNCATED] = "id-truncated",
	[IKE_PARSE_ID_LEN] = "id-len",
	[IKE_PARSE_CERT_TRUNCATED] = "cert-truncated",
	[IKE_PARSE_CERT_EMPTY] = "cert-empty",
	[IKE_PARSE_CERTREQ_LEN] = "certreq-len",
	[IKE_PARSE_AUTH_TRUNCATED] = "auth-truncated",
	[IKE_PARSE_AUTH_EMPTY] = "auth-empty",
	[IKE_PARSE_TS_TRUNCATED] = "ts-truncated",
	[IKE_PARSE_TS_COUNT] = "ts-count",
	[IKE_PARSE_TS_TOO_MANY] = "ts-too-many",
	[IKE_PARSE_TS_TYPE] = "ts-type",
	[IKE_PARSE_TS_LEN] = "ts-len",
	[IKE_PARSE_TS_PORTS] = "ts-ports",
	[IKE_PARSE_TS_ADDRS] = "ts-addrs",
	[IKE_PARSE_DELETE_TRUNCATED] = "delete-truncated",
	[IKE_PARSE_DELETE_PROTO] = "delete-proto",
	[IKE_PARSE_DELETE_SPI_SIZE] = "delete-spi-size",
	[IKE_PARSE_DELETE_LEN] = "delete-len",
	[IKE_PARSE_VENDOR_EMPTY] = "vendor-empty",
	[IKE_PARSE_SKF_TRUNCATED] = "skf-truncated",
	[IKE_PARSE_SKF_NUMBER] = "skf-number",
	[IKE_PARSE_SKF_NEXT] = "skf-next",
};

const char *ike_parse_name(enum ike_parse err)
{
	if ((unsigned)err >= IKE_PARSE_COUNT || !parse_names[err])
		return "unknown";
	return parse_names[err];
}

uint16_t ike_parse_notify(enum ike_parse err)
{
	switch (err) {
	case IKE_PARSE_OK:
	case IKE_PARSE_HDR_TRUNCATED:
		return 0;
	case IKE_PARSE_HDR_VERSION:
		return IKE_N_INVALID_MAJOR_VERSION;
	case IKE_PARSE_PL_CRITICAL:
		return IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD;
	default:
		return IKE_N_INVALID_SYNTAX;
	}
}

/*
 * IKE header, RFC 7296 §3.1:
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       IKE SA Initiator's SPI                  |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       IKE SA Responder's SPI                  |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                          Message ID                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                            Length                             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   Flags: X X R V I X X X (R = 0x20 response, V = 0x10 version, I = 0x08 initiator)
 */
enum ike_parse ike_hdr_parse(const uint8_t *buf, size_t len, struct ike_hdr *hdr)
{
	struct rd r = rd_init(buf, len);
	uint8_t version;

	memset(hdr, 0, sizeof(*hdr));
	if (!rd_u64(&r, &hdr->spi_i) || !rd_u64(&r, &hdr->spi_r) ||
	    !rd_u8(&r, &hdr->next_payload) || !rd_u8(&r, &version) || !rd_u8(&r, &hdr->exchange) ||
	    !rd_u8(&r, &hdr->flags) || !rd_u32(&r, &hdr->msg_id) || !rd_u32(&r, &hdr->length))
		return IKE_PARSE_HDR_TRUNCATED;
	hdr->major = version >> 4;
	hdr->minor = version & 0x0f;
	/* §3.1: a different major version is answered with INVALID_MAJOR_VERSION; the minor
	 * version MUST be ignored on receipt. */
	if (hdr->major != IKE_VERSION_MAJOR)
		return IKE_PARSE_HDR_VERSION;
	/* The Length field covers the whole message, so it must be the datagram's length: a
	 * shorter one would leave unparsed octets, a longer one promises octets that are not
	 * there. */
	if (hdr->length != len)
		return IKE_PARSE_HDR_LENGTH;
	return IKE_PARSE_OK;
}

/* Payload types this codec understands: those of RFC 7296 and SKF. Anything else is skipped, or
 * refused if critical (§2.5). */
static bool payload_known(uint8_t type)
{
	return (type >= IKE_PAYLOAD_SA && type <= IKE_PAYLOAD_EAP) || type == IKE_PAYLOAD_SKF;
}

static bool payload_encrypted(uint8_t type)
{
	return type == IKE_PAYLOAD_SK || type == IKE_PAYLOAD_SKF;
}

static void payloads_reset(struct ike_payloads *out)
{
	out->n = 0;
	out->skipped = 0;
	out->encrypted = false;
	out->critical_type = IKE_PAYLOAD_NONE;
}

/*
 * Generic payload header, RFC 7296 §3.2, in front of every payload body:
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                         payload body                          ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Payload Length includes the generic header. The type of a payload is in the Next Payload
 * field of what precedes it (the IKE header for the first one); 0 ends the chain. For SK and SKF
 * the field names the first payload inside the ciphertext instead (§3.14), so the walk ends
 * there and the SK payload must reach the end of the message.
 *
 * Each Payload Length is checked three ways: not below the generic header (LEN_SHORT), not
 * beyond the octets left (LEN_OVERRUN, via rd_sub), and the chain consuming the message exactly
 * (TRAILING, SK_NOT_LAST). The typed parsers then consume each body exactly.
 */
static enum ike_parse chain_parse(struct rd *r, uint8_t type, bool inner, struct ike_payloads *out)
{
	size_t walked = 0;

	while (type != IKE_PAYLOAD_NONE) {
		uint8_t next, flags;
		uint16_t plen;
		struct rd body;

		if (walked++ == IKE_MSG_MAX_PAYLOADS)
			return IKE_PARSE_PL_TOO_MANY;
		if (!rd_u8(r, &next) || !rd_u8(r, &flags) || !rd_u16(r, &plen))
			return IKE_PARSE_PL_TRUNCATED;
		if (plen < IKE_PAYLOAD_HDR_LEN)
			return IKE_PARSE_PL_LEN_SHORT;
		if (!rd_sub(r, plen - IKE_PAYLOAD_HDR_LEN, &body))
			return IKE_PARSE_PL_LEN_OVERRUN;

		bool critical = (flags & IKE_PAYLOAD_CRITICAL) != 0;
		if (!payload_known(type)) {
			/* §2.5: skip an unknown payload unless its C bit says the message
			 * cannot be understood without it. */
			if (critical) {
				out->critical_type = type;
				return IKE_PARSE_PL_CRITICAL;
			}
			out->skipped++;
			type = next;
			continue;
		}

		struct ike_payload *pl = &out->pl[out->n++];
		pl->type = type;
		pl->next = next;
		pl->critical = critical;
		rd_tail(&body, &pl->body, &pl->len);
		if (payload_encrypted(type)) {
			if (inner)
				return IKE_PARSE_SK_NESTED;
			if (!rd_done(r))
				return IKE_PARSE_SK_NOT_LAST;
			out->encrypted = true;
			return IKE_PARSE_OK;
		}
		type = next;
	}
	if (!rd_done(r))
		return IKE_PARSE_PL_TRAILING;
	return IKE_PARSE_OK;
}

enum ike_parse ike_msg_parse(const uint8_t *buf, size_t len, struct ike_msg *msg)
{
	payloads_reset(&msg->pls);
	enum ike_parse err = ike_hdr_parse(buf, len, &msg->hdr);
	if (err != IKE_PARSE_OK)
		return err;
	/* The header parsed, so len >= IKE_HDR_LEN. */
	struct rd r = rd_init(buf + IKE_HDR_LEN, len - IKE_HDR_LEN);
	return chain_parse(&r, msg->hdr.next_payload, false, &msg->pls);
}

enum ike_parse ike_msg_parse_inner(const uint8_t *buf, size_t len, uint8_t first,
				   struct ike_payloads *out)
{
	struct rd r = rd_init(buf, len);

	payloads_reset(out);
	return chain_parse(&r, first, true, out);
}

/*
 * SA payload body, RFC 7296 §3.3: one or more proposals.
 *
 * Proposal substructure (§3.3.1):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Last Substruc |   RESERVED    |         Proposal Length       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                        SPI (variable)                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                        <Transforms>                           ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Last Substruc: 0 for the last proposal, 2 if more follow.
 *
 * Transform substructure (§3.3.2), Last Substruc 0 or 3:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Last Substruc |   RESERVED    |        Transform Length       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Transform Type |   RESERVED    |          Transform ID         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                      Transform Attributes                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform attribute (§3.3.5), TV when AF = 1, TLV when AF = 0:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |A|       Attribute Type        |    AF=0  Attribute Length     |
 *   |F|                             |    AF=1  Attribute Value      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   AF=0  Attribute Value                       |
 *   |                   AF=1  Not Transmitted                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static enum ike_parse attrs_parse(struct rd *r, struct ike_transform *xf)
{
	while (!rd_done(r)) {
		uint16_t type, val;

		if (!rd_u16(r, &type) || !rd_u16(r, &val))
			return IKE_PARSE_ATTR_TRUNCATED;
		bool tv = (type & IKE_ATTR_AF) != 0;
		type &= (uint16_t)~IKE_ATTR_AF;
		if (type == IKE_ATTR_KEY_LENGTH) {
			/* §3.3.5: Key Length is a TV attribute, at most once. */
			if (!tv || val == 0 || xf->key_len != 0)
				return IKE_PARSE_ATTR_KEY_LEN;
			xf->key_len = val;
			continue;
		}
		if (!tv && !rd_skip(r, val))
			return IKE_PARSE_ATTR_TRUNCATED;
		xf->unknown_attr = true;
	}
	return IKE_PARSE_OK;
}

static enum ike_parse transform_parse(struct rd *r, struct ike_transform *xf, uint8_t *last)
{
	uint8_t rsv;
	uint16_t tlen;
	struct rd body;

	if (rd_left(r) < IKE_TRANSFORM_HDR_LEN)
		return IKE_PARSE_XFORM_TRUNCATED;
	if (!rd_u8(r, last) || !rd_u8(r, &rsv) || !rd_u16(r, &tlen))
		return IKE_PARSE_XFORM_TRUNCATED;
	if (tlen < IKE_TRANSFORM_HDR_LEN || !rd_sub(r, tlen - 4u, &body))
		return IKE_PARSE_XFORM_LEN;
	memset(xf, 0, sizeof(*xf));
	if (!rd_u8(&body, &xf->type) || !rd_u8(&body, &rsv) || !rd_u16(&body, &xf->id))
		return IKE_PARSE_XFORM_LEN;
	return attrs_parse(&body, xf);
}

/* §3.3.1: the SPI size a protocol's proposal may carry: none or 8 for IKE (8 when rekeying the
 * IKE SA, §1.3.2), 4 for AH and ESP. */
static bool proposal_spi_size_ok(uint8_t proto, uint8_t spi_size)
{
	if (proto == IKE_PROTO_IKE)
		return spi_size == 0 || spi_size == IKE_SPI_SIZE_IKE;
	return spi_size == IKE_SPI_SIZE_CHILD;
}

static enum ike_parse transforms_parse(struct rd *r, struct ike_sa *sa, struct ike_proposal *p)
{
	uint8_t last = IKE_SUBSTRUC_MORE_TRANSFORMS;

	p->first = (uint16_t)sa->n_xf;
	while (!rd_done(r)) {
		/* The previous transform said it was the last, yet octets follow. */
		if (last != IKE_SUBSTRUC_MORE_TRANSFORMS)
			return IKE_PARSE_XFORM_LAST;
		if (sa->n_xf == IKE_SA_MAX_TRANSFORMS)
			return IKE_PARSE_SA_TRANSFORMS;
		enum ike_parse err = transform_parse(r, &sa->xf[sa->n_xf], &last);
		if (err != IKE_PARSE_OK)
			return err;
		if (last != IKE_SUBSTRUC_LAST && last != IKE_SUBSTRUC_MORE_TRANSFORMS)
			return IKE_PARSE_XFORM_LAST;
		sa->n_xf++;
		p->count++;
	}
	/* The last transform promised more. */
	if (p->count > 0 && last != IKE_SUBSTRUC_LAST)
		return IKE_PARSE_XFORM_LAST;
	return IKE_PARSE_OK;
}

static enum ike_parse proposal_parse(struct rd *r, struct ike_sa *sa, uint8_t *last)
{
	uint8_t rsv, n_xf;
	uint16_t plen;
	struct rd body;

	if (rd_left(r) < IKE_PROPOSAL_HDR_LEN)
		return IKE_PARSE_PROP_TRUNCATED;
	if (!rd_u8(r, last) || !rd_u8(r, &rsv) || !rd_u16(r, &plen))
		return IKE_PARSE_PROP_TRUNCATED;
	if (plen < IKE_PROPOSAL_HDR_LEN || !rd_sub(r, plen - 4u, &body))
		return IKE_PARSE_PROP_LEN;
	if (sa->n_prop == IKE_SA_MAX_PROPOSALS)
		return IKE_PARSE_SA_PROPOSALS;

	struct ike_proposal *p = &sa->prop[sa->n_prop++];
	memset(p, 0, sizeof(*p));
	if (!rd_u8(&body, &p->num) || !rd_u8(&body, &p->proto) || !rd_u8(&body, &p->spi_size) ||
	    !rd_u8(&body, &n_xf))
		return IKE_PARSE_PROP_LEN;
	if (p->proto != IKE_PROTO_IKE && p->proto != IKE_PROTO_AH && p->proto != IKE_PROTO_ESP)
		return IKE_PARSE_PROP_PROTO;
	if (!proposal_spi_size_ok(p->proto, p->spi_size) || !rd_copy(&body, p->spi, p->spi_size))
		return IKE_PARSE_PROP_SPI_SIZE;

	enum ike_parse err = transforms_parse(&body, sa, p);
	if (err != IKE_PARSE_OK)
		return err;
	if (p->count != n_xf)
		return IKE_PARSE_PROP_XFORM_COUNT;
	return IKE_PARSE_OK;
}

enum ike_parse ike_sa_parse(const uint8_t *body, size_t len, bool response, struct ike_sa *out)
{
	struct rd r = rd_init(body, len);
	uint8_t last = IKE_SUBSTRUC_MORE_PROPOSALS;

	out->n_prop = 0;
	out->n_xf = 0;
	if (rd_done(&r))
		return IKE_PARSE_SA_EMPTY;
	while (!rd_done(&r)) {
		if (last != IKE_SUBSTRUC_MORE_PROPOSALS)
			return IKE_PARSE_PROP_LAST;
		enum ike_parse err = proposal_parse(&r, out, &last);
		if (err != IKE_PARSE_OK)
			return err;
		if (last != IKE_SUBSTRUC_LAST && last != IKE_SUBSTRUC_MORE_PROPOSALS)
			return IKE_PARSE_PROP_LAST;
		/* §3.3.1: an offer numbers its proposals 1, 2, 3...; a response carries the one
		 * proposal chosen, under the number it had in the offer (§2.7). */
		const struct ike_proposal *p = &out->prop[out->n_prop - 1];
		if (response && out->n_prop > 1)
			return IKE_PARSE_SA_CHOICE;
		if (response ? p->num == 0 : p->num != out->n_prop)
			return IKE_PARSE_PROP_NUM;
	}
	if (last != IKE_SUBSTRUC_LAST)
		return IKE_PARSE_PROP_LAST;
	return IKE_PARSE_OK;
}

/*
 * KE payload body, RFC 7296 §3.4:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Diffie-Hellman Group Num    |           RESERVED            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       Key Exchange Data                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_ke_parse(const uint8_t *body, size_t len, struct ike_ke *out)
{
	struct rd r = rd_init(body, len);
	uint16_t rsv;

	if (!rd_u16(&r, &out->group) || !rd_u16(&r, &rsv))
		return IKE_PARSE_KE_TRUNCATED;
	rd_tail(&r, &out->data, &out->len);
	if (out->len == 0)
		return IKE_PARSE_KE_EMPTY;
	return IKE_PARSE_OK;
}

/*
 * Nonce payload body, RFC 7296 §3.9: the nonce itself, 16 to 256 octets (§2.10).
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                            Nonce Data                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_nonce_parse(const uint8_t *body, size_t len, struct ike_nonce *out)
{
	struct rd r = rd_init(body, len);

	if (len < IKE_NONCE_MIN)
		return IKE_PARSE_NONCE_SHORT;
	if (len > IKE_NONCE_MAX)
		return IKE_PARSE_NONCE_LONG;
	rd_tail(&r, &out->data, &out->len);
	return IKE_PARSE_OK;
}

/*
 * Notify payload body, RFC 7296 §3.10:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                Security Parameter Index (SPI)                 ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       Notification Data                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static bool notify_spi_ok(uint8_t proto, uint8_t spi_size)
{
	switch (spi_size) {
	case 0:
		return true; /* no SPI: the protocol ID is to be ignored */
	case IKE_SPI_SIZE_CHILD:
		return proto == IKE_PROTO_AH || proto == IKE_PROTO_ESP;
	case IKE_SPI_SIZE_IKE:
		return proto == IKE_PROTO_IKE;
	default:
		return false;
	}
}

enum ike_parse ike_notify_parse(const uint8_t *body, size_t len, struct ike_notify *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u8(&r, &out->proto) || !rd_u8(&r, &out->spi_size) || !rd_u16(&r, &out->type))
		return IKE_PARSE_NOTIFY_TRUNCATED;
	if (!notify_spi_ok(out->proto, out->spi_size))
		return IKE_PARSE_NOTIFY_SPI;
	if (!rd_bytes(&r, out->spi_size, &out->spi))
		return IKE_PARSE_NOTIFY_TRUNCATED;
	rd_tail(&r, &out->data, &out->len);
	return IKE_PARSE_OK;
}

/*
 * IDi/IDr payload body, RFC 7296 §3.5:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   ID Type     |                 RESERVED                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                   Identification Data                         ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_id_parse(const uint8_t *body, size_t len, struct ike_id *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u8(&r, &out->type) || !rd_skip(&r, IKE_ID_HDR_LEN - 1))
		return IKE_PARSE_ID_TRUNCATED;
	rd_tail(&r, &out->data, &out->len);
	switch (out->type) {
	case IKE_ID_IPV4_ADDR:
		return out->len == 4 ? IKE_PARSE_OK : IKE_PARSE_ID_LEN;
	case IKE_ID_IPV6_ADDR:
		return out->len == 16 ? IKE_PARSE_OK : IKE_PARSE_ID_LEN;
	default:
		return out->len > 0 ? IKE_PARSE_OK : IKE_PARSE_ID_LEN;
	}
}

/*
 * CERT (§3.6) and CERTREQ (§3.7) payload bodies:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Cert Encoding |                                               |
 *   +-+-+-+-+-+-+-+-+                                               |
 *   ~        Certificate Data / Certification Authority             ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static enum ike_parse cert_body_parse(const uint8_t *body, size_t len, struct ike_cert *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u8(&r, &out->encoding))
		return IKE_PARSE_CERT_TRUNCATED;
	rd_tail(&r, &out->data, &out->len);
	return IKE_PARSE_OK;
}

enum ike_parse ike_cert_parse(const uint8_t *body, size_t len, struct ike_cert *out)
{
	enum ike_parse err = cert_body_parse(body, len, out);
	if (err != IKE_PARSE_OK)
		return err;
	if (out->len == 0)
		return IKE_PARSE_CERT_EMPTY;
	return IKE_PARSE_OK;
}

enum ike_parse ike_certreq_parse(const uint8_t *body, size_t len, struct ike_cert *out)
{
	enum ike_parse err = cert_body_parse(body, len, out);
	if (err != IKE_PARSE_OK)
		return err;
	/* §3.7: for X.509 the CA value is a concatenated list of SHA-1 public key hashes. */
	if (out->encoding == IKE_CERT_X509_SIGNATURE && out->len % IKE_CERTREQ_HASH_LEN != 0)
		return IKE_PARSE_CERTREQ_LEN;
	return IKE_PARSE_OK;
}

/*
 * AUTH payload body, RFC 7296 §3.8:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Auth Method   |                RESERVED                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                      Authentication Data                      ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_auth_parse(const uint8_t *body, size_t len, struct ike_auth *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u8(&r, &out->method) || !rd_skip(&r, IKE_AUTH_HDR_LEN - 1))
		return IKE_PARSE_AUTH_TRUNCATED;
	rd_tail(&r, &out->data, &out->len);
	if (out->len == 0)
		return IKE_PARSE_AUTH_EMPTY;
	return IKE_PARSE_OK;
}

/*
 * TSi/TSr payload body, RFC 7296 §3.13:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Number of TSs |                 RESERVED                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                       <Traffic Selectors>                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Traffic selector (§3.13.1), addresses 4 octets for type 7, 16 for type 8:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   TS Type     |IP Protocol ID*|       Selector Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Start Port*         |           End Port*           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                         Starting Address*                     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                         Ending Address*                       ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static size_t ts_addr_len(uint8_t type)
{
	switch (type) {
	case IKE_TS_IPV4_ADDR_RANGE:
		return 4;
	case IKE_TS_IPV6_ADDR_RANGE:
		return 16;
	default:
		return 0;
	}
}

static enum ike_parse ts_sel_parse(struct rd *r, struct ike_ts *ts)
{
	uint16_t slen;
	struct rd sel;

	/* The payload said more selectors follow than there are. */
	if (rd_done(r))
		return IKE_PARSE_TS_COUNT;
	memset(ts, 0, sizeof(*ts));
	if (!rd_u8(r, &ts->type) || !rd_u8(r, &ts->proto) || !rd_u16(r, &slen))
		return IKE_PARSE_TS_LEN;
	size_t alen = ts_addr_len(ts->type);
	if (alen == 0)
		return IKE_PARSE_TS_TYPE;
	if (slen != IKE_TS_SEL_HDR_LEN + 2 * alen || !rd_sub(r, slen - 4u, &sel))
		return IKE_PARSE_TS_LEN;
	if (!rd_u16(&sel, &ts->start_port) || !rd_u16(&sel, &ts->end_port) ||
	    !rd_copy(&sel, ts->start, alen) || !rd_copy(&sel, ts->end, alen))
		return IKE_PARSE_TS_LEN;
	/* §3.13.1: start > end is only allowed as 65535-0, which means OPAQUE ports. */
	if (ts->start_port > ts->end_port &&
	    !(ts->start_port == IKE_TS_PORT_OPAQUE_START && ts->end_port == IKE_TS_PORT_OPAQUE_END))
		return IKE_PARSE_TS_PORTS;
	/* Network byte order compares as numbers under memcmp. */
	if (memcmp(ts->start, ts->end, alen) > 0)
		return IKE_PARSE_TS_ADDRS;
	return IKE_PARSE_OK;
}

enum ike_parse ike_ts_parse(const uint8_t *body, size_t len, struct ike_ts_list *out)
{
	struct rd r = rd_init(body, len);
	uint8_t n;

	out->n = 0;
	if (!rd_u8(&r, &n) || !rd_skip(&r, IKE_TS_HDR_LEN - 1))
		return IKE_PARSE_TS_TRUNCATED;
	if (n == 0)
		return IKE_PARSE_TS_COUNT;
	if (n > IKE_TS_MAX)
		return IKE_PARSE_TS_TOO_MANY;
	for (size_t i = 0; i < n; i++) {
		enum ike_parse err = ts_sel_parse(&r, &out->ts[i]);
		if (err != IKE_PARSE_OK)
			return err;
	}
	/* Octets beyond the declared selectors. */
	if (!rd_done(&r))
		return IKE_PARSE_TS_COUNT;
	out->n = n;
	return IKE_PARSE_OK;
}

/*
 * Delete payload body, RFC 7296 §3.11:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Protocol ID   |   SPI Size    |          Num of SPIs          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~               Security Parameter Index(es) (SPI)              ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_delete_parse(const uint8_t *body, size_t len, struct ike_delete *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u8(&r, &out->proto) || !rd_u8(&r, &out->spi_size) || !rd_u16(&r, &out->n_spi))
		return IKE_PARSE_DELETE_TRUNCATED;
	switch (out->proto) {
	case IKE_PROTO_IKE:
		/* The IKE SA's SPIs are in the header: no SPI here, and none counted. */
		if (out->spi_size != 0)
			return IKE_PARSE_DELETE_SPI_SIZE;
		if (out->n_spi != 0)
			return IKE_PARSE_DELETE_LEN;
		break;
	case IKE_PROTO_AH:
	case IKE_PROTO_ESP:
		if (out->spi_size != IKE_SPI_SIZE_CHILD)
			return IKE_PARSE_DELETE_SPI_SIZE;
		break;
	default:
		return IKE_PARSE_DELETE_PROTO;
	}
	if (!rd_bytes(&r, (size_t)out->n_spi * out->spi_size, &out->spis) || !rd_done(&r))
		return IKE_PARSE_DELETE_LEN;
	return IKE_PARSE_OK;
}

/* Vendor ID payload body, RFC 7296 §3.12: the opaque vendor ID. */
enum ike_parse ike_vendor_parse(const uint8_t *body, size_t len, struct ike_vendor *out)
{
	struct rd r = rd_init(body, len);

	rd_tail(&r, &out->data, &out->len);
	if (out->len == 0)
		return IKE_PARSE_VENDOR_EMPTY;
	return IKE_PARSE_OK;
}

/*
 * SKF payload body, RFC 7383 §2.5 (after the generic header, whose Next Payload is the first
 * inner payload's type in fragment 1 and 0 in the others):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        Fragment Number        |        Total Fragments        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Initialization Vector                     |
 *   ~                      Encrypted content                        ~
 *   ~                    Integrity Checksum Data                    ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
enum ike_parse ike_skf_parse(const uint8_t *body, size_t len, uint8_t next, struct ike_skf *out)
{
	struct rd r = rd_init(body, len);

	if (!rd_u16(&r, &out->number) || !rd_u16(&r, &out->total))
		return IKE_PARSE_SKF_TRUNCATED;
	if (out->number == 0 || out->total == 0 || out->number > out->total)
		return IKE_PARSE_SKF_NUMBER;
	if (out->number != 1 && next != IKE_PAYLOAD_NONE)
		return IKE_PARSE_SKF_NEXT;
	rd_tail(&r, &out->data, &out->len);
	return IKE_PARSE_OK;
}

int ike_sa_add_proposal(struct ike_sa *sa, uint8_t proto, const uint8_t *spi, size_t spi_size)
{
	if ((spi_size != 0 && spi_size != IKE_SPI_SIZE_CHILD && spi_size != IKE_SPI_SIZE_IKE) ||
	    (spi_size != 0 && !spi))
		return -EINVAL;
	if (sa->n_prop >= IKE_SA_MAX_PROPOSALS)
		return -ENOSPC;

	struct ike_proposal *p = &sa->prop[sa->n_prop];
	memset(p, 0, sizeof(*p));
	p->num = (uint8_t)(sa->n_prop + 1);
	p->proto = proto;
	p->spi_size = (uint8_t)spi_size;
	if (spi_size)
		memcpy(p->spi, spi, spi_size);
	p->first = (uint16_t)sa->n_xf;
	sa->n_prop++;
	return 0;
}

int ike_sa_add_transform(struct ike_sa *sa, uint8_t type, uint16_t id, uint16_t key_len)
{
	if (sa->n_prop == 0)
		return -EINVAL;
	struct ike_proposal *p = &sa->prop[sa->n_prop - 1];
	/* Transforms of a proposal are contiguous: only the last proposal can grow. */
	if ((size_t)p->first + p->count != sa->n_xf)
		return -EINVAL;
	if (sa->n_xf >= IKE_SA_MAX_TRANSFORMS || p->count == UINT8_MAX)
		return -ENOSPC;
	sa->xf[sa->n_xf++] = (struct ike_transform){.type = type, .id = id, .key_len = key_len};
	p->count++;
	return 0;
}

/*
 * Builder. Next Payload fields are patched when the following payload begins; wr only patches
 * 16 bits, so the field is rewritten together with the octet after it (the version octet in the
 * IKE header, the C bit octet in a generic header), which the builder remembers.
 */
static void build_fail(struct ike_build *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

/* The offset of the Length field in the IKE header. */
enum {
	HDR_LENGTH_AT = 24
};

void ike_build_init(struct ike_build *b, struct wr *w, const struct ike_hdr *hdr)
{
	*b = (struct ike_build){.w = w, .start = wr_mark(w), .first = IKE_PAYLOAD_NONE};
	if (!hdr)
		return;
	b->has_hdr = true;
	wr_u64(w, hdr->spi_i);
	wr_u64(w, hdr->spi_r);
	b->np_at = wr_mark(w);
	b->np_low = (uint8_t)(IKE_VERSION_MAJOR << 4 | (hdr->minor & 0x0f));
	b->np_valid = true;
	wr_u8(w, IKE_PAYLOAD_NONE);
	wr_u8(w, b->np_low);
	wr_u8(w, hdr->exchange);
	wr_u8(w, hdr->flags);
	wr_u32(w, hdr->msg_id);
	wr_u32(w, 0); /* Length, patched by ike_build_finish() */
}

/* Open a payload: link it from the previous Next Payload field, write its generic header with
 * `next` (IKE_PAYLOAD_NONE until a successor patches it) and a length to be patched. */
static bool build_open(struct ike_build *b, uint8_t type, uint8_t next, bool critical)
{
	if (b->open || b->sealed || type == IKE_PAYLOAD_NONE) {
		build_fail(b, -EINVAL);
		return false;
	}
	if (b->np_valid)
		wr_patch_u16(b->w, b->np_at, (uint16_t)(type << 8 | b->np_low));
	if (b->first == IKE_PAYLOAD_NONE)
		b->first = type;
	b->pl_at = wr_mark(b->w);
	b->np_at = b->pl_at;
	b->np_low = critical ? IKE_PAYLOAD_CRITICAL : 0;
	b->np_valid = true;
	b->open = true;
	wr_u8(b->w, next);
	wr_u8(b->w, b->np_low);
	wr_u16(b->w, 0);
	return true;
}

void ike_build_begin(struct ike_build *b, uint8_t type, bool critical)
{
	/* SK/SKF carry the inner type in their Next Payload field: use ike_build_sk_begin(). */
	if (payload_encrypted(type)) {
		build_fail(b, -EINVAL);
		return;
	}
	build_open(b, type, IKE_PAYLOAD_NONE, critical);
}

void ike_build_end(struct ike_build *b)
{
	if (!b->open) {
		build_fail(b, -EINVAL);
		return;
	}
	b->open = false;
	size_t len = wr_mark(b->w) - b->pl_at;
	if (len > IKE_PAYLOAD_MAX) {
		build_fail(b, -EMSGSIZE);
		return;
	}
	wr_patch_u16(b->w, b->pl_at + 2, (uint16_t)len);
}

void ike_build_sk_begin(struct ike_build *b, uint8_t inner)
{
	if (build_open(b, IKE_PAYLOAD_SK, inner, false))
		b->sealed = true;
}

void ike_build_skf_begin(struct ike_build *b, uint8_t inner, uint16_t number, uint16_t total)
{
	if (!build_open(b, IKE_PAYLOAD_SKF, inner, false))
		return;
	b->sealed = true;
	wr_u16(b->w, number);
	wr_u16(b->w, total);
}

/* A view the builder may copy from: NULL only when empty (memcpy from NULL is undefined). */
static bool view_ok(const void *p, size_t len)
{
	return p != NULL || len == 0;
}

void ike_build_raw(struct ike_build *b, uint8_t type, bool critical, const void *body, size_t len)
{
	if (!view_ok(body, len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, type, critical);
	wr_bytes(b->w, body, len);
	ike_build_end(b);
}

static bool sa_buildable(const struct ike_sa *sa)
{
	if (sa->n_prop > IKE_SA_MAX_PROPOSALS || sa->n_xf > IKE_SA_MAX_TRANSFORMS)
		return false;
	for (size_t i = 0; i < sa->n_prop; i++) {
		const struct ike_proposal *p = &sa->prop[i];
		if (p->spi_size > IKE_SPI_LEN || p->count > UINT8_MAX ||
		    (size_t)p->first + p->count > sa->n_xf)
			return false;
	}
	return true;
}

static void transform_write(struct wr *w, const struct ike_transform *xf, bool last)
{
	bool has_key_len = xf->key_len != 0;

	wr_u8(w, last ? IKE_SUBSTRUC_LAST : IKE_SUBSTRUC_MORE_TRANSFORMS);
	wr_u8(w, 0);
	wr_u16(w, IKE_TRANSFORM_HDR_LEN + (has_key_len ? IKE_ATTR_HDR_LEN : 0));
	wr_u8(w, xf->type);
	wr_u8(w, 0);
	wr_u16(w, xf->id);
	if (has_key_len) {
		wr_u16(w, IKE_ATTR_AF | IKE_ATTR_KEY_LENGTH);
		wr_u16(w, xf->key_len);
	}
}

static void proposal_write(struct wr *w, const struct ike_sa *sa, size_t i)
{
	const struct ike_proposal *p = &sa->prop[i];
	size_t at = wr_mark(w);

	wr_u8(w, i + 1 == sa->n_prop ? IKE_SUBSTRUC_LAST : IKE_SUBSTRUC_MORE_PROPOSALS);
	wr_u8(w, 0);
	wr_u16(w, 0); /* Proposal Length, patched below */
	wr_u8(w, p->num);
	wr_u8(w, p->proto);
	wr_u8(w, p->spi_size);
	wr_u8(w, (uint8_t)p->count);
	wr_bytes(w, p->spi, p->spi_size);
	for (size_t j = 0; j < p->count; j++)
		transform_write(w, &sa->xf[p->first + j], j + 1 == p->count);
	/* A proposal too long for 16 bits makes its payload too long too: ike_build_end() fails. */
	wr_patch_u16(w, at + 2, (uint16_t)(wr_mark(w) - at));
}

void ike_build_sa(struct ike_build *b, const struct ike_sa *sa)
{
	if (!sa_buildable(sa)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, IKE_PAYLOAD_SA, false);
	for (size_t i = 0; i < sa->n_prop; i++)
		proposal_write(b->w, sa, i);
	ike_build_end(b);
}

void ike_build_ke(struct ike_build *b, const struct ike_ke *ke)
{
	if (!view_ok(ke->data, ke->len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, IKE_PAYLOAD_KE, false);
	wr_u16(b->w, ke->group);
	wr_u16(b->w, 0);
	wr_bytes(b->w, ke->data, ke->len);
	ike_build_end(b);
}

void ike_build_nonce(struct ike_build *b, const struct ike_nonce *nonce)
{
	ike_build_raw(b, IKE_PAYLOAD_NONCE, false, nonce->data, nonce->len);
}

void ike_build_notify(struct ike_build *b, const struct ike_notify *n)
{
	if (!view_ok(n->spi, n->spi_size) || !view_ok(n->data, n->len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, IKE_PAYLOAD_NOTIFY, false);
	wr_u8(b->w, n->proto);
	wr_u8(b->w, n->spi_size);
	wr_u16(b->w, n->type);
	wr_bytes(b->w, n->spi, n->spi_size);
	wr_bytes(b->w, n->data, n->len);
	ike_build_end(b);
}

/* ID (§3.5) and AUTH (§3.8) share a layout: one type octet, three reserved, data. */
static void build_typed_data(struct ike_build *b, uint8_t pl_type, uint8_t type,
			     const uint8_t *data, size_t len)
{
	if (!view_ok(data, len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, pl_type, false);
	wr_u8(b->w, type);
	wr_zero(b->w, 3);
	wr_bytes(b->w, data, len);
	ike_build_end(b);
}

void ike_build_id(struct ike_build *b, uint8_t type, const struct ike_id *id)
{
	if (type != IKE_PAYLOAD_IDI && type != IKE_PAYLOAD_IDR) {
		build_fail(b, -EINVAL);
		return;
	}
	build_typed_data(b, type, id->type, id->data, id->len);
}

void ike_build_auth(struct ike_build *b, const struct ike_auth *auth)
{
	build_typed_data(b, IKE_PAYLOAD_AUTH, auth->method, auth->data, auth->len);
}

void ike_build_cert(struct ike_build *b, uint8_t type, const struct ike_cert *cert)
{
	if ((type != IKE_PAYLOAD_CERT && type != IKE_PAYLOAD_CERTREQ) ||
	    !view_ok(cert->data, cert->len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, type, false);
	wr_u8(b->w, cert->encoding);
	wr_bytes(b->w, cert->data, cert->len);
	ike_build_end(b);
}

static bool ts_buildable(uint8_t type, const struct ike_ts_list *ts)
{
	if (type != IKE_PAYLOAD_TSI && type != IKE_PAYLOAD_TSR)
		return false;
	if (ts->n > IKE_TS_MAX)
		return false;
	for (size_t i = 0; i < ts->n; i++)
		if (ts_addr_len(ts->ts[i].type) == 0)
			return false;
	return true;
}

void ike_build_ts(struct ike_build *b, uint8_t type, const struct ike_ts_list *ts)
{
	_Static_assert(IKE_TS_MAX <= UINT8_MAX, "Number of TSs is one octet");

	if (!ts_buildable(type, ts)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, type, false);
	wr_u8(b->w, (uint8_t)ts->n);
	wr_zero(b->w, 3);
	for (size_t i = 0; i < ts->n; i++) {
		const struct ike_ts *t = &ts->ts[i];
		size_t alen = ts_addr_len(t->type);

		wr_u8(b->w, t->type);
		wr_u8(b->w, t->proto);
		wr_u16(b->w, (uint16_t)(IKE_TS_SEL_HDR_LEN + 2 * alen));
		wr_u16(b->w, t->start_port);
		wr_u16(b->w, t->end_port);
		wr_bytes(b->w, t->start, alen);
		wr_bytes(b->w, t->end, alen);
	}
	ike_build_end(b);
}

void ike_build_delete(struct ike_build *b, const struct ike_delete *del)
{
	size_t spis_len = (size_t)del->n_spi * del->spi_size;

	if (!view_ok(del->spis, spis_len)) {
		build_fail(b, -EINVAL);
		return;
	}
	ike_build_begin(b, IKE_PAYLOAD_DELETE, false);
	wr_u8(b->w, del->proto);
	wr_u8(b->w, del->spi_size);
	wr_u16(b->w, del->n_spi);
	wr_bytes(b->w, del->spis, spis_len);
	ike_build_end(b);
}

void ike_build_vendor(struct ike_build *b, const struct ike_vendor *vid)
{
	ike_build_raw(b, IKE_PAYLOAD_VENDOR, false, vid->data, vid->len);
}

uint8_t ike_build_first(const struct ike_build *b)
{
	return b->first;
}

int ike_build_finish(struct ike_build *b, size_t *len)
{
	size_t total = wr_mark(b->w) - b->start;

	if (b->open)
		build_fail(b, -EINVAL);
	if (b->has_hdr) {
		if (total > UINT32_MAX)
			build_fail(b, -EMSGSIZE);
		else
			wr_patch_u32(b->w, b->start + HDR_LENGTH_AT, (uint32_t)total);
	}
	if (len)
		*len = total;
	if (b->err != 0)
		return b->err;
	return wr_ok(b->w) ? 0 : -ENOSPC;
}
