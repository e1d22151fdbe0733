/*
 * Private to edge/ike: NAT traversal (RFC 7296 §2.23, RFC 3948) on top of the NAT detection of
 * ike_init.c. When either side is behind a NAT, or either forces encapsulation (a fake
 * NAT_DETECTION_SOURCE_IP, like strongSwan's encap=yes), the SA "uses NAT-T":
 *
 *   - the initiator floats IKE to port IKE_NATT_PORT from IKE_AUTH on (both ends' ports);
 *   - a new authenticated message from another endpoint moves the SA there: during IKE_AUTH
 *     that is the float itself (followed even without NAT-T, the initiator's choice); once
 *     established only for a peer behind a NAT, reported as IKE_EVENT_PEER_MOVED;
 *   - a side behind a NAT sends a NAT-keepalive (the octet 0xFF) every natt_keepalive_ms;
 *   - ESP must be UDP-encapsulated (which our data plane always does, on port 4500).
 *
 * Runs on the engine's thread, inside ike_input()/ike_tick().
 */
#ifndef SDWAN_EDGE_IKE_IKE_NATT_H
#define SDWAN_EDGE_IKE_IKE_NATT_H

#include <stdint.h>

#include "edge/ike/ike_sa.h"

struct ike_ikesa;

/* After IKE_SA_INIT (NAT detection recorded): decide whether the SA uses NAT-T; an initiator
 * floats to port IKE_NATT_PORT. Arms keepalives when we are behind a NAT. */
void ike__natt_after_init(struct ike_ikesa *sa);

/* A message of sa that decrypted and authenticated (a new request or the expected response)
 * arrived from `from` at `to`: follow the peer if it moved (see above). */
void ike__natt_authenticated(struct ike_ikesa *sa, const struct ike_endpoint *from,
			     const struct ike_endpoint *to);

/* Authenticated ESP of one of sa's Child SAs came from `from`: follow it like an authenticated
 * IKE message once established (only a peer behind a NAT moves). 0 (followed, or already
 * there) or -EPERM (sa's peer may not move). */
int ike__natt_esp_seen(struct ike_ikesa *sa, const struct ike_endpoint *from);

/* Send a NAT-keepalive if one is due at now. */
void ike__natt_tick(struct ike_ikesa *sa, uint64_t now);

/* When sa next needs ike__natt_tick(), or UINT64_MAX. */
uint64_t ike__natt_next(const struct ike_ikesa *sa);

/* Fill a Child SA's udp_encap and ESP endpoints from its IKE SA (every Child SA, first or
 * not). */
void ike__natt_child_keys(const struct ike_ikesa *sa, struct ike_child_keys *k);

/* A rekeyed IKE SA (RFC 7296 §2.18) carries on where the old one was: NAT-T state, endpoints'
 * keepalive schedule, and what IKE_SA_INIT and IKE_AUTH learnt about the peer (signature
 * hashes, the certificate's site). Call after copying endpoints and NAT detection. */
void ike__natt_inherit(struct ike_ikesa *n, const struct ike_ikesa *old);

/* The endpoints ESP-in-UDP uses for sa: the IKE endpoints once NAT-T floated them, otherwise
 * the same addresses on port IKE_NATT_PORT (our data plane always encapsulates). */
void ike__natt_esp_endpoints(const struct ike_ikesa *sa, struct ike_endpoint *local,
			     struct ike_endpoint *remote);

#endif
