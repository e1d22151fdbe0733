/*
 * The control-channel codec: one ZeroMQ message = one protobuf envelope (proto/control.proto).
 *
 * Wraps protobuf-c so that nothing else touches its pack/unpack calls:
 *
 *   encode   checks the envelope (version stamped, every string/array well formed) and packs it
 *            into a caller buffer or a new one; refuses anything a peer would refuse as too big.
 *   decode   refuses input over the caller's size limit before parsing, parses through a
 *            bounded allocator (at most CTL_MSG_ALLOC_FACTOR x the input plus
 *            CTL_MSG_ALLOC_SLACK bytes live at once, so a small message of many empty
 *            submessages cannot make the receiver allocate without bound), then checks the
 *            protocol version. Unknown fields are kept (and re-sent if re-encoded); an envelope
 *            whose body is a message type this build does not know decodes with body_case
 *            SDWAN__ENVELOPE__BODY__NOT_SET, to be ignored by the caller.
 *
 * Decoded envelopes are owned by the caller and released with ctl_msg_free(), which wipes every
 * byte of them first: configs carry PSKs and commands carry tokens. Encoded buffers holding such
 * secrets should be released with ctl_msg_buf_free().
 *
 * All functions are reentrant and keep no state: any thread, though in practice the control loop
 * of each daemon. The generated types are used as `struct Sdwan__...`; fill them with the
 * generated SDWAN__..._INIT initialisers.
 */
#ifndef SDWAN_COMMON_CTL_MSG_H
#define SDWAN_COMMON_CTL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "proto/control.pb-c.h"

/* The protocol major version this build speaks (Envelope.version). Bumped only for a change old
 * peers cannot ignore; additions within a version use new field numbers. */
#define CTL_PROTO_VERSION 1

/* Largest envelope on an established control channel. A hub's config for 10,000 spokes with one
 * subnet each is about 1.8 MiB; ZMQ_MAXMSGSIZE should be set to the same value. */
#define CTL_MSG_MAX_SIZE ((size_t)16 * 1024 * 1024)

/* EnrollRequest.features / HealthReport.features: what an edge build understands beyond the
 * first release of protocol 1. The controller sends a feature's fields only to edges that
 * announced it: an older edge would ignore them (protobuf skips unknown fields) and misread the
 * rest. */
#define CTL_FEATURE_WAN_SUMMARY ((uint64_t)1 << 0) /* reads EdgeConfig.wan_summary */
/* Every feature of this build's edge. */
#define CTL_FEATURES_EDGE CTL_FEATURE_WAN_SUMMARY

/* The controller summarises the WAN prefix table (EdgeConfig.wan_summary) only for a table of
 * more than this many prefixes. A transit tunnel negotiates its exact prefix sets as traffic
 * selectors only while they fit in the IKE limit, and whole address families once the table is
 * summarised; the end holding the whole table must make the same choice, which it does when
 * this is at least that limit (edge/tplan.c checks it at compile time). */
#define CTL_MSG_SUMMARY_MIN_PREFIXES 16

/* Largest envelope accepted on the enrollment path, where the peer is not yet known. */
#define CTL_MSG_ENROLL_MAX_SIZE ((size_t)64 * 1024)

/* Decoding may hold at most FACTOR * input length + SLACK bytes of memory at once. */
#define CTL_MSG_ALLOC_FACTOR 32u
#define CTL_MSG_ALLOC_SLACK  ((size_t)1024 * 1024)

/* What went wrong in a decode, for the log line and for a ProtocolError reply. */
struct ctl_msg_error {
	uint32_t peer_version; /* Envelope.version the peer sent, when the version was refused */
	char text[200];        /* one line: what is wrong and, where it applies, what to do */
};

/* Reset *env to an empty envelope of this build's protocol version with the given msg_id.
 * The caller then sets body_case and the body pointer. */
void ctl_msg_envelope_init(struct Sdwan__Envelope *env, uint64_t msg_id);

/*
 * Encode env into buf[0..cap). On success *len is the encoded length. Returns 0; -EINVAL if env
 * is not of CTL_PROTO_VERSION or is malformed (a NULL string or array that its count says is
 * there); -EMSGSIZE if it needs more than cap bytes (*len then says how many) or more than
 * CTL_MSG_MAX_SIZE. env stays owned by the caller.
 */
int ctl_msg_encode(const struct Sdwan__Envelope *env, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* As ctl_msg_encode into a new buffer, stored in *out (owned by the caller: ctl_msg_buf_free)
 * with its length in *len. Returns 0, -EINVAL, -EMSGSIZE or -ENOMEM; *out is NULL on error. */
int ctl_msg_encode_alloc(const struct Sdwan__Envelope *env, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/* Wipe and free a buffer from ctl_msg_encode_alloc. NULL-safe. */
void ctl_msg_buf_free(uint8_t *buf, size_t len);

/*
 * Decode one envelope from buf[0..len). max_size is the caller's limit for this channel
 * (CTL_MSG_MAX_SIZE, CTL_MSG_ENROLL_MAX_SIZE). On success *out is the envelope, owned by the
 * caller (ctl_msg_free). Returns 0, or with *out NULL and err (if not NULL) filled:
 *   -EMSGSIZE          len > max_size (checked before any parsing), or decoding would need more
 *                      memory than the bound above
 *   -EBADMSG           not a valid envelope (truncated, corrupt, wrong wire types)
 *   -EPROTONOSUPPORT   valid, but Envelope.version is not CTL_PROTO_VERSION
 *   -ENOMEM            out of memory
 *   -EINVAL            buf NULL with len > 0 (a programming error; err is not filled)
 * buf is borrowed and may be freed once this returns.
 */
int ctl_msg_decode(const uint8_t *buf, size_t len, size_t max_size, struct Sdwan__Envelope **out,
		   struct ctl_msg_error *err) __attribute__((warn_unused_result));

/* Wipe and free an envelope from ctl_msg_decode (not one the caller built). NULL-safe. */
void ctl_msg_free(struct Sdwan__Envelope *env);

/* The body's field name in control.proto ("config", "health", ...), "none" when no body is set
 * (including a body type this build does not know). Static string. */
const char *ctl_msg_body_name(const struct Sdwan__Envelope *env);

/* Read a wire Prefix into *out. Returns 0, or -EINVAL if the address is not 4 or 16 bytes, the
 * length is out of range, or host bits are set. */
int ctl_msg_prefix_get(const struct Sdwan__Prefix *in, struct prefix *out)
	__attribute__((warn_unused_result));

/* Fill a wire Prefix from p. out->addr borrows p's bytes: p must outlive out. */
void ctl_msg_prefix_set(struct Sdwan__Prefix *out, const struct prefix *p);

/* Read a wire address (4 or 16 bytes) into *out. Returns 0 or -EINVAL. */
int ctl_msg_addr_get(const ProtobufCBinaryData *in, struct ip_addr *out)
	__attribute__((warn_unused_result));

#endif
