/*
 * Private to edge/ike: IKE fragmentation (RFC 7383). Both sides announce
 * IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (ike_init.c); afterwards an encrypted message
 * longer than the engine's fragment_size goes out as SKF fragments, each its own authenticated
 * datagram, and fragments coming in are verified one by one and reassembled.
 *
 *   HDR(msg ID n), SKF{number 1, total T, next = first inner payload}   chunk 1 of the plaintext
 *   HDR(msg ID n), SKF{number 2, total T, next = 0}                     chunk 2
 *   ...                                                                 (RFC 7383 §2.5)
 *
 * Receiving, in order, every refusal counted (struct ike_frag_stats) and the datagram dropped:
 *   SKF syntax (ike_skf_parse)                       -> IKE_DROP_PARSE
 *   total above frag_max_fragments                   -> too_many
 *   AEAD verification of this fragment alone         -> IKE_DROP_DECRYPT (nothing held
 *                                                       changes before this)
 *   total below that of the fragments held           -> inconsistent (§2.6.1: discard it)
 *   total above that of the fragments held           -> the held ones are discarded (the
 *                                                       sender re-fragmented smaller)
 *   number already held                              -> duplicate
 *   octets held beyond frag_max_octets               -> too_big, all of it dropped
 *   incomplete after frag_timeout_ms                 -> timed_out, all of it dropped
 * A complete message is parsed as one SK payload's content would be.
 *
 * Reassembly state lives in the SA, one slot per direction (requests from the peer, responses
 * to our request): the window size is 1, so no more can be in flight. The caller has already
 * checked the message ID against the window. Pieces are heap copies, wiped when dropped.
 */
#ifndef SDWAN_EDGE_IKE_IKE_FRAG_H
#define SDWAN_EDGE_IKE_IKE_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sa.h"

struct ike_ikesa;
struct ike_engine;
struct ike_cached;

enum ike_frag_limit {
	IKE_FRAG_SIZE_DEFAULT = 1228, /* 1280 - IPv6 (40) - UDP (8) - non-ESP marker (4) */
	IKE_FRAG_SIZE_MIN = 256,      /* smaller settings are raised to this */
	IKE_FRAG_MAX_DEFAULT = 32,    /* fragments per message */
	IKE_FRAG_MAX_LIMIT = 256,     /* largest frag_max_fragments accepted */
	IKE_FRAG_TIMEOUT_DEFAULT = 5000,
	/* A certificate chain of a few RSA-4096 certificates fits; strongSwan's max_packet is
	 * 10000. */
	IKE_FRAG_OCTETS_DEFAULT = 16384,
};

/* One direction's message under reassembly. */
struct ike_frag_slot {
	bool active;
	uint32_t msg_id;
	uint16_t total;
	uint16_t received;
	uint8_t first; /* Next Payload of fragment 1: the first inner payload's type */
	size_t octets; /* plaintext held */
	uint64_t started;
	/* A message refused as too long: its later fragments are dropped without a restart. */
	bool refused;
	uint32_t refused_msg_id;
	struct ike_frag_piece {
		uint8_t *data;
		size_t len;
	} * pieces; /* total entries */
};

/* Both directions of one SA. */
struct ike_frag_rx {
	struct ike_frag_slot slot[2]; /* [0]: requests from the peer, [1]: responses */
};

/* What ike__frag_input() did with a fragment. */
enum ike_frag_verdict {
	IKE_FRAG_COMPLETE, /* the last missing one: eng->inner holds the whole message */
	IKE_FRAG_KEPT,     /* verified and held; more to come */
	IKE_FRAG_DROPPED,  /* refused and counted */
};

/* Fill in the defaults and bounds of the engine's fragmentation settings. */
void ike__frag_config(struct ike_engine_config *cfg);

/* Whether the SK payload of pls (a parsed message) is an SKF fragment. */
bool ike__frag_is_skf(const struct ike_payloads *pls);

/* Take an SKF fragment of sa (eng->rx holds the parsed datagram pkt[0, len), whose last
 * payload is skf) into reassembly. On IKE_FRAG_COMPLETE the reassembled content is parsed into
 * eng->inner (its payload views point into eng->pt). */
enum ike_frag_verdict ike__frag_input(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
				      const struct ike_payload *skf,
				      const struct ike_endpoint *from);

/* RFC 7383 §2.6.1: a fragment of a request we already answered triggers the resend of our
 * response only if it is fragment 1 and authentic. Says whether this one does. */
bool ike__frag_retransmit_trigger(struct ike_ikesa *sa, const uint8_t *pkt, size_t len);

/* Whether the SK message holding chain_len octets of payloads must go in fragments to sa's
 * peer. */
bool ike__frag_needed(const struct ike_ikesa *sa, size_t chain_len);

/* Seal chain[0, len) (first payload type `first`) as SKF fragments with header hdr into *out
 * (replacing what it held), ready for ike__cached_send(). Returns 0, -ENOMEM, -EMSGSIZE (more
 * than 65535 fragments), or ike_sk_seal()'s errors. */
int ike__frag_seal(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint8_t first,
		   const uint8_t *chain, size_t len, struct ike_cached *out)
	__attribute__((warn_unused_result));

/* Send a cached message, every fragment of it if fragmented. */
void ike__cached_send(struct ike_engine *eng, const struct ike_cached *c,
		      const struct ike_endpoint *local, const struct ike_endpoint *remote);

/* Drop reassemblies older than frag_timeout_ms; when the next one expires (UINT64_MAX: none). */
void ike__frag_tick(struct ike_ikesa *sa, uint64_t now);
uint64_t ike__frag_next(const struct ike_ikesa *sa);

/* Free every held piece (SA teardown). */
void ike__frag_rx_free(struct ike_frag_rx *rx);

#endif
