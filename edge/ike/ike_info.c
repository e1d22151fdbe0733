/*
 * INFORMATIONAL (RFC 7296 §1.4): the empty liveness check, and Delete of Child SAs and of the
 * IKE SA itself (§1.4.1, §3.11).
 *
 *   liveness       HDR, SK {}                          -->
 *                                                 <--  HDR, SK {}
 *   Child SAs      HDR, SK {D(ESP, our inbound SPIs)}  -->
 *                                                 <--  HDR, SK {D(ESP, its inbound SPIs)}
 *   the IKE SA     HDR, SK {D(IKE)}                    -->
 *                                                 <--  HDR, SK {}
 *
 * §1.4.1: ESP SAs exist in pairs; a Delete names the sender's inbound SPIs and is answered with
 * the receiver's inbound SPIs of the same pairs. When both ends delete the same pair at once,
 * the requests cross: each side drops the pair when it gets the other's request and leaves it
 * out of its answer (listing it would delete it twice). Unknown SPIs are ignored. Other content
 * of a request (notifications we do not act on) is answered empty and logged at debug.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "common/wr.h"
#include "edge/ike/ike_internal.h"

enum {
	/* SPIs in one Delete payload we send; more wait for the next request. */
	DELETE_SPIS_MAX = 64,
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint32_t v, uint8_t *out)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

int ike__info_request_send_empty(struct ike_ikesa *sa)
{
	struct ike_hdr hdr;
	int rc = ike__request_hdr(sa, IKE_EXCH_INFORMATIONAL, &hdr);

	if (rc != 0)
		return rc;
	return ike__request_send_sk(sa, &hdr, IKE_PAYLOAD_NONE, NULL, 0);
}

int ike__info_request_send_delete(struct ike_ikesa *sa, bool ike_sa)
{
	struct ike_engine *eng = sa->eng;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	uint8_t spis[DELETE_SPIS_MAX * IKE_SPI_SIZE_CHILD];
	struct ike_build b;
	struct ike_hdr hdr;
	uint16_t n = 0;
	size_t len;
	int rc;

	rc = ike__request_hdr(sa, IKE_EXCH_INFORMATIONAL, &hdr);
	if (rc != 0)
		return rc;
	ike_build_init(&b, &w, NULL);
	if (ike_sa) {
		ike_build_delete(&b, &(struct ike_delete){.proto = IKE_PROTO_IKE});
	} else {
		for (struct ike_child *c = sa->children; c && n < DELETE_SPIS_MAX; c = c->next)
			if (c->delete_wanted)
				put32(c->spi_in, spis + (size_t)IKE_SPI_SIZE_CHILD * n++);
		if (n == 0)
			return 0;
		ike_build_delete(&b, &(struct ike_delete){.proto = IKE_PROTO_ESP,
							  .spi_size = IKE_SPI_SIZE_CHILD,
							  .n_spi = n,
							  .spis = spis});
	}
	rc = ike_build_finish(&b, &len);
	if (rc == 0)
		rc = ike__request_send_sk(sa, &hdr, ike_build_first(&b), eng->chain, len);
	if (rc != 0)
		return rc;
	eng->stats.deletes_sent++;
	if (ike_sa) {
		ike__sa_set_state(sa, IKE_STATE_DELETING, "Delete sent");
		return 0;
	}
	/* Exactly the pairs listed: the first n wanting deletion. */
	uint16_t marked = 0;
	for (struct ike_child *c = sa->children; c && marked < n; c = c->next) {
		if (!c->delete_wanted)
			continue;
		c->delete_wanted = false;
		c->rekey_wanted = false;
		c->state = IKE_CHILD_DELETING;
		marked++;
		LOG_INFO(IKE, "Child SA Delete sent",
			 "tunnel=%s sa=%016" PRIx64 " spi_in=%08" PRIx32 " reason=%s",
			 sa->peer->cfg.name, ike__sa_handle(sa), c->spi_in,
			 ike_child_down_reason_name(c->down_reason));
	}
	return 0;
}

/* The ESP SPIs of one Delete payload of the peer: drop each pair we know, and list our inbound
 * SPI of it for the answer unless our own Delete of it is outstanding (§1.4.1). */
static void delete_children(struct ike_ikesa *sa, const struct ike_delete *d, uint8_t *answer,
			    uint16_t *n_answer)
{
	for (uint16_t i = 0; i < d->n_spi; i++) {
		uint32_t spi = be32(d->spis + (size_t)i * IKE_SPI_SIZE_CHILD);
		struct ike_child *c = ike__child_find(sa, spi, true);
		if (!c) {
			IKE_PEER_DEBUG(sa->eng, "Delete for an unknown Child SA",
				       "tunnel=%s sa=%016" PRIx64 " spi=%08" PRIx32,
				       sa->peer->cfg.name, ike__sa_handle(sa), spi);
			continue;
		}
		if (c->state != IKE_CHILD_DELETING && *n_answer < DELETE_SPIS_MAX)
			put32(c->spi_in, answer + (size_t)IKE_SPI_SIZE_CHILD * (*n_answer)++);
		ike__child_remove(sa, c,
				  c->state == IKE_CHILD_INSTALLED ? IKE_CHILD_DOWN_PEER_DELETED
								  : c->down_reason);
	}
}

void ike__info_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			       const struct ike_payloads *pls, const struct ike_endpoint *from,
			       const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	uint8_t answer[DELETE_SPIS_MAX * IKE_SPI_SIZE_CHILD];
	uint16_t n_answer = 0;
	bool ike_sa = false, any_delete = false, other = false;
	struct ike_delete d;

	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		if (pl->type != IKE_PAYLOAD_DELETE ||
		    ike_delete_parse(pl->body, pl->len, &d) != IKE_PARSE_OK) {
			other = true;
			continue;
		}
		any_delete = true;
		if (d.proto == IKE_PROTO_IKE)
			ike_sa = true;
		else if (d.proto == IKE_PROTO_ESP && !ike_sa)
			delete_children(sa, &d, answer, &n_answer);
	}
	if (other)
		IKE_PEER_DEBUG(eng, "INFORMATIONAL content not acted on",
			       "tunnel=%s sa=%016" PRIx64 " payloads=%zu", sa->peer->cfg.name,
			       ike__sa_handle(sa), pls->n);
	if (any_delete)
		eng->stats.deletes_received++;
	struct wr w = wr_init(eng->chain, sizeof(eng->chain));
	struct ike_build b;
	size_t len = 0;
	ike_build_init(&b, &w, NULL);
	if (n_answer && !ike_sa)
		ike_build_delete(&b, &(struct ike_delete){.proto = IKE_PROTO_ESP,
							  .spi_size = IKE_SPI_SIZE_CHILD,
							  .n_spi = n_answer,
							  .spis = answer});
	if (ike_build_finish(&b, &len) != 0 ||
	    ike__response_send_sk(sa, hdr, ike_build_first(&b), eng->chain, len, from, to) != 0)
		LOG_WARN(IKE, "could not answer INFORMATIONAL", "tunnel=%s sa=%016" PRIx64,
			 sa->peer->cfg.name, ike__sa_handle(sa));
	if (!ike_sa)
		return;
	/* §1.4.1: the IKE SA and every Child SA it still holds are gone (a collision winner of
	 * the peer's first takes the children, see ike__child_sa_ending). */
	ike__sa_set_state(sa, IKE_STATE_CLOSED, "deleted by the peer");
	ike__event(eng, sa, IKE_EVENT_IKE_DELETED, "INFORMATIONAL", 0, "deleted by the peer");
}

void ike__info_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls)
{
	struct ike_child *c = sa->children;

	if (sa->state == IKE_STATE_DELETING) {
		ike__sa_set_state(sa, IKE_STATE_CLOSED, "our Delete answered");
		ike__event(sa->eng, sa, IKE_EVENT_IKE_DELETED, "INFORMATIONAL", 0, "deleted by us");
		return;
	}
	/* Our Delete of Child SAs answered (pairs the peer deleted meanwhile are gone already). */
	while (c) {
		struct ike_child *next = c->next;
		if (c->state == IKE_CHILD_DELETING)
			ike__child_remove(sa, c, c->down_reason);
		c = next;
	}
	LOG_DEBUG(IKE, "INFORMATIONAL answered", "tunnel=%s sa=%016" PRIx64 " payloads=%zu",
		  sa->peer->cfg.name, ike__sa_handle(sa), pls->n);
}
