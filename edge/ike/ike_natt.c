/*
 * NAT traversal for IKE SAs: the float to port 4500, following a peer that moves behind its NAT,
 * and NAT-keepalives (RFC 7296 §2.23, RFC 3948 §2.2-§2.3). See ike_natt.h.
 */
#include "edge/ike/ike_natt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "edge/ike/ike_internal.h"

static bool ep_equal(const struct ike_endpoint *a, const struct ike_endpoint *b)
{
	return a->port == b->port && ip_addr_cmp(&a->addr, &b->addr) == 0;
}

static void ep_str(const struct ike_endpoint *ep, char *buf, size_t cap)
{
	char a[IP_ADDR_STRLEN];

	snprintf(buf, cap, "%s:%u", ip_addr_format(&ep->addr, a), (unsigned)ep->port);
}

void ike__natt_after_init(struct ike_ikesa *sa)
{
	struct ike_engine *eng = sa->eng;

	sa->natt = sa->nat_local || sa->nat_remote || sa->peer->cfg.force_encap;
	if (!sa->natt)
		return;
	/* §2.23: the initiator moves to port 4500 for IKE_AUTH and everything after it; the
	 * responder follows when that request authenticates (ike__natt_authenticated). */
	if (sa->initiator) {
		sa->local.port = IKE_NATT_PORT;
		if (sa->remote.port == IKE_SA_PORT) {
			struct ike_endpoint r = sa->remote;
			r.port = IKE_NATT_PORT;
			ike__sa_set_remote(sa, &r);
		}
	}
	if (sa->nat_local)
		sa->keepalive_at = ike__now(eng) + eng->cfg.natt_keepalive_ms;
	LOG_INFO(IKE, "NAT-T in use",
		 "tunnel=%s sa=%016" PRIx64 " nat_local=%s nat_remote=%s forced=%s",
		 sa->peer->cfg.name, ike__sa_handle(sa), sa->nat_local ? "yes" : "no",
		 sa->nat_remote ? "yes" : "no", sa->peer->cfg.force_encap ? "yes" : "no");
}

/* An established SA's peer moved to `from`: follow it, count it, report it. */
static void peer_moved(struct ike_ikesa *sa, const struct ike_endpoint *from, const char *phase,
		       const char *why)
{
	char old[IP_ADDR_STRLEN + 8], now[IP_ADDR_STRLEN + 8];

	ep_str(&sa->remote, old, sizeof(old));
	ep_str(from, now, sizeof(now));
	ike__sa_set_remote(sa, from);
	sa->eng->stats.peer_moved++;
	LOG_NOTICE(IKE, "IKE peer moved",
		   "tunnel=%s sa=%016" PRIx64 " peer=\"%s -> %s\" seen_in=%s", sa->peer->cfg.name,
		   ike__sa_handle(sa), old, now, phase);
	ike__event(sa->eng, sa, IKE_EVENT_PEER_MOVED, phase, 0, why);
}

void ike__natt_authenticated(struct ike_ikesa *sa, const struct ike_endpoint *from,
			     const struct ike_endpoint *to)
{
	char old[IP_ADDR_STRLEN + 8], now[IP_ADDR_STRLEN + 8];
	bool established = sa->state == IKE_STATE_ESTABLISHED;

	if (ep_equal(from, &sa->remote) && ep_equal(to, &sa->local))
		return;
	/* During IKE_AUTH the initiator chooses where IKE runs: follow its authenticated request
	 * even without a NAT (strongSwan floats to 4500 whenever MOBIKE is on). Once established
	 * only a peer behind a NAT may move (a host not behind one keeps its address, §2.23). */
	if (established && (!sa->natt || !sa->nat_remote))
		return;
	sa->local = *to;
	if (established) {
		peer_moved(sa, from, ike__exchange_name(sa->eng->rx.hdr.exchange),
			   "an authenticated message came from a new address or port (NAT "
			   "rebinding)");
		return;
	}
	ep_str(&sa->remote, old, sizeof(old));
	ep_str(from, now, sizeof(now));
	ike__sa_set_remote(sa, from);
	LOG_INFO(IKE, "IKE floated", "tunnel=%s sa=%016" PRIx64 " peer=\"%s -> %s\"",
		 sa->peer->cfg.name, ike__sa_handle(sa), old, now);
}

int ike__natt_esp_seen(struct ike_ikesa *sa, const struct ike_endpoint *from)
{
	if (sa->state != IKE_STATE_ESTABLISHED || !sa->natt || !sa->nat_remote)
		return -EPERM;
	if (ep_equal(from, &sa->remote))
		return 0;
	peer_moved(sa, from, "ESP",
		   "authenticated ESP came from a new address or port (NAT rebinding)");
	return 0;
}

void ike__natt_tick(struct ike_ikesa *sa, uint64_t now)
{
	static const uint8_t keepalive = 0xff; /* RFC 3948 §2.3 */
	struct ike_engine *eng = sa->eng;

	if (ike__natt_next(sa) > now)
		return;
	sa->keepalive_at = now + eng->cfg.natt_keepalive_ms;
	eng->stats.natt_keepalives++;
	ike__send_raw(eng, &sa->local, &sa->remote, &keepalive, 1);
}

uint64_t ike__natt_next(const struct ike_ikesa *sa)
{
	if (!sa->natt || !sa->nat_local || sa->state != IKE_STATE_ESTABLISHED)
		return UINT64_MAX;
	return sa->keepalive_at;
}

void ike__natt_child_keys(const struct ike_ikesa *sa, struct ike_child_keys *k)
{
	k->udp_encap = sa->natt;
	ike__natt_esp_endpoints(sa, &k->local, &k->remote);
}

void ike__natt_inherit(struct ike_ikesa *n, const struct ike_ikesa *old)
{
	n->natt = old->natt;
	n->keepalive_at = old->keepalive_at;
	n->peer_sig_hashes = old->peer_sig_hashes;
	n->cert_auth = old->cert_auth;
	memcpy(n->peer_site, old->peer_site, sizeof(n->peer_site));
}

void ike__natt_esp_endpoints(const struct ike_ikesa *sa, struct ike_endpoint *local,
			     struct ike_endpoint *remote)
{
	*local = sa->local;
	*remote = sa->remote;
	if (!sa->natt) {
		local->port = IKE_NATT_PORT;
		remote->port = IKE_NATT_PORT;
	}
}
