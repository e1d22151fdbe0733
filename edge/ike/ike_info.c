/*
 * INFORMATIONAL (RFC 7296 §1.4), so far only the empty request and its empty response: the
 * liveness check a later DPD module drives. Delete, notifications and error handling inside
 * INFORMATIONAL come with the next phase; a non-empty request is answered empty, which RFC 7296
 * allows for notifications we do not act on, and logged at debug.
 *
 *   HDR, SK {}  -->
 *              <--  HDR, SK {}
 */
#include <inttypes.h>

#include "edge/ike/ike_internal.h"

int ike__info_request_send_empty(struct ike_ikesa *sa)
{
	struct ike_hdr hdr;
	int rc = ike__request_hdr(sa, IKE_EXCH_INFORMATIONAL, &hdr);

	if (rc != 0)
		return rc;
	return ike__request_send_sk(sa, &hdr, IKE_PAYLOAD_NONE, NULL, 0);
}

void ike__info_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			       const struct ike_payloads *pls, const struct ike_endpoint *from,
			       const struct ike_endpoint *to)
{
	if (pls->n != 0)
		IKE_PEER_DEBUG(sa->eng, "INFORMATIONAL content not handled yet",
			       "tunnel=%s sa=%016" PRIx64 " payloads=%zu first=%u",
			       sa->peer->cfg.name, ike__sa_handle(sa), pls->n,
			       (unsigned)pls->pl[0].type);
	if (ike__response_send_sk(sa, hdr, IKE_PAYLOAD_NONE, NULL, 0, from, to) != 0)
		LOG_WARN(IKE, "could not answer INFORMATIONAL", "tunnel=%s sa=%016" PRIx64,
			 sa->peer->cfg.name, ike__sa_handle(sa));
}

void ike__info_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls)
{
	LOG_DEBUG(IKE, "INFORMATIONAL answered", "tunnel=%s sa=%016" PRIx64 " payloads=%zu",
		  sa->peer->cfg.name, ike__sa_handle(sa), pls->n);
}
