/*
 * IKE fragmentation (RFC 7383): sealing an SK message as SKF fragments, keeping fragmented
 * messages for retransmission, and verified, bounded reassembly. See ike_frag.h for the order of
 * checks on receipt.
 *
 * A fragmented message in a struct ike_cached:
 *
 *   +--------+------------------+--------+------------------+-----
 *   | len(2) | datagram 1       | len(2) | datagram 2       | ...     n_frags datagrams
 *   +--------+------------------+--------+------------------+-----
 */
#include "edge/ike/ike_frag.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/rd.h"
#include "common/wr.h"
#include "edge/ike/ike_internal.h"

enum {
	/* An SKF datagram's octets around its share of the plaintext. */
	SKF_OVERHEAD = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + IKE_SKF_HDR_LEN + IKE_SK_IV_LEN +
		       IKE_SK_PAD_LEN_LEN + IKE_SK_ICV_LEN,
	LEN_PREFIX = 2,
};

_Static_assert(IKE_FRAG_REASSEMBLY_MAX <= IKE_RX_MAX, "reassembly fits the decryption buffer");
_Static_assert((int)IKE_FRAG_SIZE_MIN > (int)SKF_OVERHEAD, "a fragment carries some plaintext");

void ike__frag_config(struct ike_engine_config *cfg)
{
	if (!cfg->fragment_size)
		cfg->fragment_size = IKE_FRAG_SIZE_DEFAULT;
	if (cfg->fragment_size < IKE_FRAG_SIZE_MIN)
		cfg->fragment_size = IKE_FRAG_SIZE_MIN;
	if (cfg->fragment_size > UINT16_MAX)
		cfg->fragment_size = UINT16_MAX;
	if (!cfg->frag_max_fragments)
		cfg->frag_max_fragments = IKE_FRAG_MAX_DEFAULT;
	if (cfg->frag_max_fragments > IKE_FRAG_MAX_LIMIT)
		cfg->frag_max_fragments = IKE_FRAG_MAX_LIMIT;
	if (!cfg->frag_max_octets)
		cfg->frag_max_octets = IKE_FRAG_OCTETS_DEFAULT;
	if (cfg->frag_max_octets > IKE_FRAG_REASSEMBLY_MAX)
		cfg->frag_max_octets = IKE_FRAG_REASSEMBLY_MAX;
	if (!cfg->frag_timeout_ms)
		cfg->frag_timeout_ms = IKE_FRAG_TIMEOUT_DEFAULT;
}

bool ike__frag_is_skf(const struct ike_payloads *pls)
{
	return pls->encrypted && pls->n > 0 && pls->pl[pls->n - 1].type == IKE_PAYLOAD_SKF;
}

static void slot_clear(struct ike_frag_slot *s)
{
	if (s->pieces) {
		for (size_t i = 0; i < s->total; i++) {
			if (s->pieces[i].data)
				OPENSSL_cleanse(s->pieces[i].data, s->pieces[i].len);
			free(s->pieces[i].data);
		}
		free(s->pieces);
	}
	memset(s, 0, sizeof(*s));
}

void ike__frag_rx_free(struct ike_frag_rx *rx)
{
	for (size_t i = 0; i < 2; i++)
		slot_clear(&rx->slot[i]);
}

/* ---- receiving ---- */

/* Drop a fragment: count it under its frag counter (may be NULL) and the engine's drop reason. */
static enum ike_frag_verdict refuse(struct ike_ikesa *sa, uint64_t *counter, enum ike_drop why,
				    const struct ike_endpoint *from, const char *detail)
{
	if (counter)
		(*counter)++;
	ike__drop(sa->eng, why, from, detail);
	return IKE_FRAG_DROPPED;
}

/* Concatenate the pieces into eng->pt and parse them as the content of one SK payload. */
static enum ike_frag_verdict assemble(struct ike_ikesa *sa, struct ike_frag_slot *s,
				      const struct ike_endpoint *from)
{
	struct ike_engine *eng = sa->eng;
	size_t off = 0;

	for (size_t i = 0; i < s->total; i++) {
		memcpy(eng->pt + off, s->pieces[i].data, s->pieces[i].len);
		off += s->pieces[i].len;
	}
	uint8_t first = s->first;
	slot_clear(s);
	eng->stats.frag.reassembled++;
	enum ike_parse perr = ike_msg_parse_inner(eng->pt, off, first, &eng->inner);
	if (perr != IKE_PARSE_OK) {
		eng->stats.parse[perr]++;
		return refuse(sa, NULL, IKE_DROP_PARSE, from, ike_parse_name(perr));
	}
	return IKE_FRAG_COMPLETE;
}

/* Start (or restart) reassembly of a message of `total` fragments. */
static int slot_start(struct ike_ikesa *sa, struct ike_frag_slot *s, uint32_t msg_id,
		      uint16_t total)
{
	slot_clear(s);
	s->pieces = calloc(total, sizeof(*s->pieces));
	if (!s->pieces)
		return -ENOMEM;
	s->active = true;
	s->msg_id = msg_id;
	s->total = total;
	s->started = ike__now(sa->eng);
	return 0;
}

/* Verify one fragment with the peer's SK key into eng->pt; the plaintext's length or a drop. */
static bool frag_decrypt(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
			 const struct ike_skf *f, size_t *pt_len, const struct ike_endpoint *from)
{
	struct ike_engine *eng = sa->eng;
	/* RFC 7383 §2.5: the AAD runs through Total Fragments, i.e. up to the IV. */
	enum ike_sk_verdict v = ike_sk_decrypt(&sa->sk_in, pkt, len, (size_t)(f->data - pkt),
					       f->len, eng->pt, sizeof(eng->pt), pt_len);

	if (v == IKE_SK_OK)
		return true;
	eng->stats.sk[v]++;
	ike__drop(eng, IKE_DROP_DECRYPT, from, ike_sk_verdict_name(v));
	return false;
}

enum ike_frag_verdict ike__frag_input(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
				      const struct ike_payload *skf,
				      const struct ike_endpoint *from)
{
	struct ike_engine *eng = sa->eng;
	struct ike_frag_stats *st = &eng->stats.frag;
	const struct ike_hdr *h = &eng->rx.hdr;
	struct ike_frag_slot *s = &sa->frag_rx.slot[(h->flags & IKE_FLAG_RESPONSE) ? 1 : 0];
	struct ike_skf f;
	size_t pt_len = 0;

	enum ike_parse perr = ike_skf_parse(skf->body, skf->len, skf->next, &f);
	if (perr != IKE_PARSE_OK) {
		eng->stats.parse[perr]++;
		return refuse(sa, NULL, IKE_DROP_PARSE, from, ike_parse_name(perr));
	}
	if (s->refused && s->refused_msg_id == h->msg_id)
		return refuse(sa, NULL, IKE_DROP_INVALID, from,
			      "IKE fragment of a message refused as too long");
	if (f.total > eng->cfg.frag_max_fragments)
		return refuse(sa, &st->too_many, IKE_DROP_INVALID, from,
			      "IKE fragment: more fragments than we reassemble");
	/* Nothing held changes before this fragment proves itself authentic. */
	if (!frag_decrypt(sa, pkt, len, &f, &pt_len, from))
		return IKE_FRAG_DROPPED;
	if (s->active && s->msg_id != h->msg_id)
		slot_clear(s); /* the window moved on: that message is obsolete */
	if (s->active && f.total < s->total) {
		OPENSSL_cleanse(eng->pt, pt_len);
		return refuse(sa, &st->inconsistent, IKE_DROP_INVALID, from,
			      "IKE fragment: fewer total fragments than those held");
	}
	/* §2.6.1: a larger total means the sender re-fragmented (smaller): start over. */
	if ((!s->active || f.total > s->total) && slot_start(sa, s, h->msg_id, f.total) != 0)
		return refuse(sa, NULL, IKE_DROP_STATE, from, "out of memory");
	struct ike_frag_piece *pc = &s->pieces[f.number - 1];
	if (pc->data)
		return refuse(sa, &st->duplicate, IKE_DROP_INVALID, from,
			      "IKE fragment: number already held");
	if (pt_len > eng->cfg.frag_max_octets - s->octets) {
		slot_clear(s);
		s->refused = true;
		s->refused_msg_id = h->msg_id;
		return refuse(sa, &st->too_big, IKE_DROP_INVALID, from,
			      "IKE fragment: reassembled message too long");
	}
	pc->data = malloc(pt_len ? pt_len : 1);
	if (!pc->data)
		return refuse(sa, NULL, IKE_DROP_STATE, from, "out of memory");
	memcpy(pc->data, eng->pt, pt_len);
	OPENSSL_cleanse(eng->pt, pt_len);
	pc->len = pt_len;
	if (f.number == 1)
		s->first = skf->next;
	s->octets += pt_len;
	s->received++;
	st->rx_fragments++;
	if (s->received < s->total)
		return IKE_FRAG_KEPT;
	return assemble(sa, s, from);
}

bool ike__frag_retransmit_trigger(struct ike_ikesa *sa, const uint8_t *pkt, size_t len)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_payloads *pls = &eng->rx.pls;
	const struct ike_payload *skf = &pls->pl[pls->n - 1];
	struct ike_skf f;
	size_t pt_len = 0;

	if (!ike__frag_is_skf(pls) ||
	    ike_skf_parse(skf->body, skf->len, skf->next, &f) != IKE_PARSE_OK || f.number != 1)
		return false;
	enum ike_sk_verdict v = ike_sk_decrypt(&sa->sk_in, pkt, len, (size_t)(f.data - pkt), f.len,
					       eng->pt, sizeof(eng->pt), &pt_len);
	OPENSSL_cleanse(eng->pt, pt_len);
	if (v != IKE_SK_OK)
		return false;
	eng->stats.frag.retransmit_trigger++;
	return true;
}

void ike__frag_tick(struct ike_ikesa *sa, uint64_t now)
{
	for (size_t i = 0; i < 2; i++) {
		struct ike_frag_slot *s = &sa->frag_rx.slot[i];
		if (!s->active || now < s->started + sa->eng->cfg.frag_timeout_ms)
			continue;
		IKE_PEER_DEBUG(sa->eng, "IKE reassembly timed out",
			       "tunnel=%s sa=%016" PRIx64 " msgid=%" PRIu32 " have=%u/%u",
			       sa->peer->cfg.name, ike__sa_handle(sa), s->msg_id,
			       (unsigned)s->received, (unsigned)s->total);
		sa->eng->stats.frag.timed_out++;
		slot_clear(s);
	}
}

uint64_t ike__frag_next(const struct ike_ikesa *sa)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < 2; i++) {
		const struct ike_frag_slot *s = &sa->frag_rx.slot[i];
		if (s->active && s->started + sa->eng->cfg.frag_timeout_ms < next)
			next = s->started + sa->eng->cfg.frag_timeout_ms;
	}
	return next;
}

/* ---- sending ---- */

bool ike__frag_needed(const struct ike_ikesa *sa, size_t chain_len)
{
	return sa->peer_frag &&
	       IKE_HDR_LEN + IKE_SK_OVERHEAD + chain_len > sa->eng->cfg.fragment_size;
}

/* One SKF datagram into w: header, fragment fields, IV, chunk, Pad Length, ICV; sealed. */
static int seal_one(struct ike_ikesa *sa, const struct ike_hdr *hdr, struct wr *w, uint8_t inner,
		    uint16_t number, uint16_t total, const uint8_t *chunk, size_t n)
{
	size_t start = wr_mark(w), aad_len, flen;
	struct ike_build b;
	int rc;

	ike_build_init(&b, w, hdr);
	ike_build_skf_begin(&b, inner, number, total);
	aad_len = wr_mark(w) - start;
	wr_zero(w, IKE_SK_IV_LEN);
	wr_bytes(w, chunk, n);
	wr_u8(w, 0); /* Pad Length: stream ciphers need no padding */
	wr_zero(w, IKE_SK_ICV_LEN);
	ike_build_end(&b);
	rc = ike_build_finish(&b, &flen);
	if (rc == 0)
		rc = ike_sk_seal(&sa->sk_out, w->p + start, aad_len, n + IKE_SK_PAD_LEN_LEN);
	return rc;
}

int ike__frag_seal(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint8_t first,
		   const uint8_t *chain, size_t len, struct ike_cached *out)
{
	struct ike_engine *eng = sa->eng;
	size_t chunk = eng->cfg.fragment_size - SKF_OVERHEAD;
	size_t total = len ? (len + chunk - 1) / chunk : 1;
	size_t cap = total * (LEN_PREFIX + eng->cfg.fragment_size);
	uint8_t *buf;
	int rc = 0;

	if (total > UINT16_MAX)
		return -EMSGSIZE;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	struct wr w = wr_init(buf, cap);
	for (size_t i = 0; i < total && rc == 0; i++) {
		size_t off = i * chunk, n = len - off < chunk ? len - off : chunk;
		size_t at = wr_mark(&w);
		wr_u16(&w, 0); /* the datagram's length, patched below */
		rc = seal_one(sa, hdr, &w, i == 0 ? first : IKE_PAYLOAD_NONE, (uint16_t)(i + 1),
			      (uint16_t)total, chain + off, n);
		if (rc == 0 && !wr_ok(&w))
			rc = -ENOSPC;
		if (rc == 0)
			wr_patch_u16(&w, at, (uint16_t)(wr_mark(&w) - at - LEN_PREFIX));
	}
	if (rc != 0) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
		return rc;
	}
	ike__cache_clear(out);
	out->buf = buf;
	out->len = wr_len(&w);
	out->n_frags = (uint16_t)total;
	eng->stats.frag.tx_messages++;
	eng->stats.frag.tx_fragments += total;
	return 0;
}

void ike__cached_send(struct ike_engine *eng, const struct ike_cached *c,
		      const struct ike_endpoint *local, const struct ike_endpoint *remote)
{
	struct rd r = rd_init(c->buf, c->len);
	const uint8_t *dgram;
	uint16_t n;

	if (c->n_frags == 0) {
		ike__send_raw(eng, local, remote, c->buf, c->len);
		return;
	}
	while (rd_u16(&r, &n) && rd_bytes(&r, n, &dgram))
		ike__send_raw(eng, local, remote, dgram, n);
}
