#include "common/ctl_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/rd.h"

/*
 * Allocator for protobuf-c. Each block carries its size in a header so that it can be wiped on
 * free (decoded messages hold PSKs and tokens) and so that the decode budget counts live bytes:
 * protobuf-c allocates scratch space while parsing and frees it again.
 */
struct ctl_budget {
	size_t left;    /* bytes that may still be allocated */
	bool exhausted; /* an allocation was refused for the budget */
	bool oom;       /* malloc failed */
};

#define HDR sizeof(max_align_t)

static void *ctl_alloc(void *data, size_t size)
{
	struct ctl_budget *b = data;
	if (size > SIZE_MAX - HDR)
		return NULL;
	size_t total = size + HDR;
	if (b && total > b->left) {
		b->exhausted = true;
		return NULL;
	}
	unsigned char *p = malloc(total);
	if (!p) {
		if (b)
			b->oom = true;
		return NULL;
	}
	if (b)
		b->left -= total;
	memcpy(p, &size, sizeof(size));
	return p + HDR;
}

static void ctl_dealloc(void *data, void *ptr)
{
	struct ctl_budget *b = data;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t size;
	memcpy(&size, p, sizeof(size));
	OPENSSL_cleanse(p, size + HDR);
	if (b)
		b->left += size + HDR;
	free(p);
}

__attribute__((format(printf, 2, 3))) static void set_err(struct ctl_msg_error *err,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

void ctl_msg_envelope_init(struct Sdwan__Envelope *env, uint64_t msg_id)
{
	sdwan__envelope__init(env);
	env->version = CTL_PROTO_VERSION;
	env->msg_id = msg_id;
}

/* Check env and compute its encoded size. */
static int encode_prepare(const struct Sdwan__Envelope *env, size_t *size)
{
	if (env->version != CTL_PROTO_VERSION || !protobuf_c_message_check(&env->base))
		return -EINVAL;
	*size = sdwan__envelope__get_packed_size(env);
	if (*size > CTL_MSG_MAX_SIZE)
		return -EMSGSIZE;
	return 0;
}

int ctl_msg_encode(const struct Sdwan__Envelope *env, uint8_t *buf, size_t cap, size_t *len)
{
	size_t size = 0;
	int rc = encode_prepare(env, &size);
	*len = size;
	if (rc != 0)
		return rc;
	if (size > cap)
		return -EMSGSIZE;
	*len = sdwan__envelope__pack(env, buf);
	return 0;
}

int ctl_msg_encode_alloc(const struct Sdwan__Envelope *env, uint8_t **out, size_t *len)
{
	size_t size = 0;
	*out = NULL;
	*len = 0;
	int rc = encode_prepare(env, &size);
	if (rc != 0)
		return rc;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	*len = sdwan__envelope__pack(env, buf);
	*out = buf;
	return 0;
}

void ctl_msg_buf_free(uint8_t *buf, size_t len)
{
	if (!buf)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

static int version_error(uint32_t peer, struct ctl_msg_error *err)
{
	err->peer_version = peer;
	if (peer == 0)
		set_err(err,
			"envelope carries no protocol version: the peer is not an sdwan control "
			"endpoint, or it is broken");
	else if (peer > CTL_PROTO_VERSION)
		set_err(err,
			"peer speaks control protocol version %u, this build only version %u: "
			"upgrade this side to the peer's release",
			peer, CTL_PROTO_VERSION);
	else
		set_err(err,
			"peer speaks control protocol version %u, this build only version %u: "
			"upgrade the peer to this release",
			peer, CTL_PROTO_VERSION);
	return -EPROTONOSUPPORT;
}

/*
 * Wire-format check before protobuf-c sees the bytes, through the project's bounds-checked
 * reader. protobuf-c is lenient in places (it takes field number 0 when the key is written in
 * more bytes than needed, and then cannot read back what it writes for it); this pass refuses
 * what the encoding rules forbid and descends into every field the schema says is a message.
 * Unknown length-delimited fields stay opaque.
 *
 *   message := field*
 *   field   := key value
 *   key     := varint: field_number << 3 | wire_type, field_number in 1 .. 2^29 - 1
 *   value   := varint                   wire type 0
 *            | 8 bytes                  wire type 1
 *            | varint n, then n bytes   wire type 2 (string, bytes, message)
 *            | 4 bytes                  wire type 5
 *   varint  := 1..10 bytes of 7 bits, least significant first, top bit set on all but the last
 *
 * Wire types 3 and 4 (groups) and 6, 7 do not exist in proto3 and are refused.
 */
#define WIRE_FIELD_MAX 0x1fffffffu
#define WIRE_MAX_DEPTH 32

static bool wire_varint(struct rd *r, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;
		if (!rd_u8(r, &b))
			return false;
		if (shift == 63 && b > 1)
			return false; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

static bool wire_message(struct rd *r, const ProtobufCMessageDescriptor *desc, unsigned depth);

/* A length-delimited value of field `field` of desc. */
static bool wire_len_value(struct rd *r, const ProtobufCMessageDescriptor *desc, unsigned field,
			   unsigned depth)
{
	uint64_t n;
	struct rd sub;
	if (!wire_varint(r, &n) || n > rd_left(r) || !rd_sub(r, (size_t)n, &sub))
		return false;
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, field);
	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return true; /* string, bytes or unknown: opaque here */
	return wire_message(&sub, f->descriptor, depth + 1);
}

static bool wire_message(struct rd *r, const ProtobufCMessageDescriptor *desc, unsigned depth)
{
	if (depth > WIRE_MAX_DEPTH)
		return false;
	while (!rd_done(r)) {
		uint64_t key, v;
		if (!wire_varint(r, &key))
			return false;
		uint64_t field = key >> 3;
		if (field == 0 || field > WIRE_FIELD_MAX)
			return false;
		bool ok;
		switch (key & 7) {
		case 0:
			ok = wire_varint(r, &v);
			break;
		case 1:
			ok = rd_skip(r, 8);
			break;
		case 2:
			ok = wire_len_value(r, desc, (unsigned)field, depth);
			break;
		case 5:
			ok = rd_skip(r, 4);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* The decode budget: FACTOR * len + SLACK, saturating. */
static size_t alloc_limit(size_t len)
{
	if (len > (SIZE_MAX - CTL_MSG_ALLOC_SLACK) / CTL_MSG_ALLOC_FACTOR)
		return SIZE_MAX;
	return len * CTL_MSG_ALLOC_FACTOR + CTL_MSG_ALLOC_SLACK;
}

int ctl_msg_decode(const uint8_t *buf, size_t len, size_t max_size, struct Sdwan__Envelope **out,
		   struct ctl_msg_error *err)
{
	struct ctl_msg_error scratch;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	*out = NULL;

	if (!buf && len > 0)
		return -EINVAL;
	if (len > max_size) {
		set_err(err, "message of %zu bytes exceeds the limit of %zu bytes", len, max_size);
		return -EMSGSIZE;
	}
	struct rd r = rd_init(buf, len);
	if (!wire_message(&r, &sdwan__envelope__descriptor, 0)) {
		set_err(err,
			"not a valid control envelope (%zu bytes): malformed protobuf encoding",
			len);
		return -EBADMSG;
	}
	struct ctl_budget budget = {.left = alloc_limit(len)};
	ProtobufCAllocator bounded = {
		.alloc = ctl_alloc,
		.free = ctl_dealloc,
		.allocator_data = &budget,
	};
	static const uint8_t empty[1];
	struct Sdwan__Envelope *env = sdwan__envelope__unpack(&bounded, len, buf ? buf : empty);
	if (!env) {
		if (budget.exhausted) {
			set_err(err,
				"message of %zu bytes would need more than %zu bytes of memory to "
				"decode",
				len, alloc_limit(len));
			return -EMSGSIZE;
		}
		if (budget.oom) {
			set_err(err, "out of memory decoding a message of %zu bytes", len);
			return -ENOMEM;
		}
		set_err(err, "not a valid control envelope (%zu bytes, truncated or corrupt)", len);
		return -EBADMSG;
	}
	if (env->version != CTL_PROTO_VERSION) {
		int rc = version_error(env->version, err);
		ctl_msg_free(env);
		return rc;
	}
	*out = env;
	return 0;
}

void ctl_msg_free(struct Sdwan__Envelope *env)
{
	if (!env)
		return;
	/* Same block layout as the decode allocator; no budget on the way out. */
	ProtobufCAllocator wiping = {
		.alloc = ctl_alloc,
		.free = ctl_dealloc,
		.allocator_data = NULL,
	};
	sdwan__envelope__free_unpacked(env, &wiping);
}

const char *ctl_msg_body_name(const struct Sdwan__Envelope *env)
{
	if (env->body_case == SDWAN__ENVELOPE__BODY__NOT_SET)
		return "none";
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&sdwan__envelope__descriptor, (unsigned)env->body_case);
	return f ? f->name : "none";
}

int ctl_msg_addr_get(const ProtobufCBinaryData *in, struct ip_addr *out)
{
	struct ip_addr a;
	memset(&a, 0, sizeof(a));
	if (in->len == 4)
		a.family = IP_V4;
	else if (in->len == 16)
		a.family = IP_V6;
	else
		return -EINVAL;
	if (!in->data)
		return -EINVAL;
	memcpy(a.bytes, in->data, in->len);
	*out = a;
	return 0;
}

int ctl_msg_prefix_get(const struct Sdwan__Prefix *in, struct prefix *out)
{
	struct prefix p;
	memset(&p, 0, sizeof(p));
	if (ctl_msg_addr_get(&in->addr, &p.addr) != 0)
		return -EINVAL;
	unsigned bits = ip_family_bits(p.addr.family);
	if (in->len > bits)
		return -EINVAL;
	p.len = (uint8_t)in->len;
	/* Host bits set mean the sender computed the prefix wrongly: refuse rather than guess. */
	for (unsigned i = p.len; i < bits; i++)
		if (p.addr.bytes[i / 8] & (0x80u >> (i % 8)))
			return -EINVAL;
	*out = p;
	return 0;
}

void ctl_msg_prefix_set(struct Sdwan__Prefix *out, const struct prefix *p)
{
	sdwan__prefix__init(out);
	/* Borrowed for packing only; protobuf-c never writes through it. */
	out->addr.data = (uint8_t *)p->addr.bytes;
	out->addr.len = p->addr.family == IP_V4 ? 4 : 16;
	out->len = p->len;
}
