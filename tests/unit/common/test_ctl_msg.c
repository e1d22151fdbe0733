#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_msg.h"

/* ---- one populated sample of every body ---- */

struct samples {
	uint8_t v4[4], v6[16], v4b[4], key[32], der[3][40], psk[32];
	struct Sdwan__Prefix pfx[6];
	struct Sdwan__Prefix *pfx_local[2], *pfx_remote[1], *pfx_site_a[2], *pfx_site_b[1];
	struct Sdwan__Endpoint ep[2];
	struct Sdwan__Endpoint *ep_list[2];
	struct Sdwan__UnderlayLink link[2];
	struct Sdwan__UnderlayLink *link_list[2];
	struct Sdwan__Tunnel tun[2];
	struct Sdwan__Tunnel *tun_list[2];
	struct Sdwan__SitePrefixes site[2];
	struct Sdwan__SitePrefixes *site_list[2];
	ProtobufCBinaryData chain[2];
	struct Sdwan__EnrollRequest enroll_req;
	struct Sdwan__EnrollResponse enroll_resp;
	struct Sdwan__EdgeConfig config;
	struct Sdwan__ConfigAck ack;
	struct Sdwan__ConfigNack nack;
	struct Sdwan__ChildSa sa[2];
	struct Sdwan__ChildSa *sa_list[2];
	struct Sdwan__DropCounters drops[2];
	struct Sdwan__TunnelHealth th[1];
	struct Sdwan__TunnelHealth *th_list[1];
	struct Sdwan__HealthReport health;
	struct Sdwan__Event event;
	struct Sdwan__Command command;
	struct Sdwan__CommandResult result;
	struct Sdwan__CertRenewRequest renew_req;
	struct Sdwan__CertRenewResponse renew_resp;
	struct Sdwan__ProtocolError error;
	struct Sdwan__Reachability reach;
	struct Sdwan__SiteRoute route[2], *routep[2];
};

static ProtobufCBinaryData bin(uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){.len = n, .data = p};
}

static void set_prefix(struct Sdwan__Prefix *p, uint8_t *addr, size_t alen, uint32_t len)
{
	sdwan__prefix__init(p);
	p->addr = bin(addr, alen);
	p->len = len;
}

static void samples_bytes(struct samples *s)
{
	static const uint8_t v4[4] = {10, 1, 0, 0}, v4b[4] = {192, 0, 2, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
	memcpy(s->v4, v4, 4);
	memcpy(s->v4b, v4b, 4);
	memcpy(s->v6, v6, 16);
	for (unsigned i = 0; i < 32; i++) {
		s->key[i] = (uint8_t)(0xa0 + i);
		s->psk[i] = (uint8_t)(0x50 ^ i);
	}
	for (unsigned c = 0; c < 3; c++)
		for (unsigned i = 0; i < sizeof(s->der[c]); i++)
			s->der[c][i] = (uint8_t)(0x30 + c * 7 + i);
	set_prefix(&s->pfx[0], s->v4, 4, 16);
	set_prefix(&s->pfx[1], s->v6, 16, 48);
	set_prefix(&s->pfx[2], s->v4b, 4, 32);
	set_prefix(&s->pfx[3], s->v4, 4, 0);
	set_prefix(&s->pfx[4], s->v6, 16, 128);
	set_prefix(&s->pfx[5], s->v4, 4, 8);
	s->pfx_local[0] = &s->pfx[0];
	s->pfx_local[1] = &s->pfx[1];
	s->pfx_remote[0] = &s->pfx[2];
	s->pfx_site_a[0] = &s->pfx[3];
	s->pfx_site_a[1] = &s->pfx[4];
	s->pfx_site_b[0] = &s->pfx[5];
	s->chain[0] = bin(s->der[1], sizeof(s->der[1]));
	s->chain[1] = bin(s->der[2], sizeof(s->der[2]));
}

static void samples_tunnel(struct samples *s, struct Sdwan__Tunnel *t, const char *name)
{
	sdwan__tunnel__init(t);
	t->name = (char *)name;
	t->peer_site = "hub-1";
	t->peer_identity = "site=hub-1";
	t->n_peer_addresses = 2;
	t->peer_addresses = s->ep_list;
	t->initiator = true;
	t->kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB;
	t->hub_priority = 1;
	t->ike_proposal = "aes256gcm16-prfsha384-x25519";
	t->esp_proposal = "aes256gcm16-x25519";
	t->ike_lifetime_ms = 24ull * 3600 * 1000;
	t->esp_lifetime_ms = 3600ull * 1000;
	t->dpd_interval_ms = 200;
	t->dpd_timeout_ms = 1000;
	t->dpd_mode = SDWAN__DPD_MODE__DPD_MODE_ON_IDLE;
	t->auth = SDWAN__AUTH_METHOD__AUTH_METHOD_PSK;
	t->psk = bin(s->psk, sizeof(s->psk));
	t->mtu = 1400;
	t->mss_v4 = 1360;
	t->mss_v6 = 1340;
	t->n_local_prefixes = 2;
	t->local_prefixes = s->pfx_local;
	t->n_remote_prefixes = 1;
	t->remote_prefixes = s->pfx_remote;
	t->remote_transit = true;
	t->local_link = "inet1";
}

static void samples_config(struct samples *s)
{
	for (unsigned i = 0; i < 2; i++) {
		sdwan__endpoint__init(&s->ep[i]);
		s->ep_list[i] = &s->ep[i];
		sdwan__underlay_link__init(&s->link[i]);
		s->link_list[i] = &s->link[i];
		sdwan__site_prefixes__init(&s->site[i]);
		s->site_list[i] = &s->site[i];
	}
	s->ep[0].addr = bin(s->v4b, 4);
	s->ep[0].port = 4500;
	s->ep[0].link = "inet1";
	s->ep[1].addr = bin(s->v6, 16);
	s->link[0].name = "inet1";
	s->link[0].addressing_case = SDWAN__UNDERLAY_LINK__ADDRESSING_STATIC_ADDRESS;
	s->link[0].static_address = bin(s->v4b, 4);
	s->link[1].name = "lte";
	s->link[1].addressing_case = SDWAN__UNDERLAY_LINK__ADDRESSING_DYNAMIC;
	s->link[1].dynamic = true;
	samples_tunnel(s, &s->tun[0], "branch-1:hub-1");
	samples_tunnel(s, &s->tun[1], "branch-1:hub-2");
	s->tun[1].peer_site = "hub-2";
	s->tun[1].hub_priority = 2;
	s->tun[1].auth = SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE;
	s->tun[1].psk = bin(NULL, 0);
	s->tun[1].dpd_mode = SDWAN__DPD_MODE__DPD_MODE_OFF;
	s->tun[1].initiator = false;
	s->tun[1].local_transit = true;
	s->tun_list[0] = &s->tun[0];
	s->tun_list[1] = &s->tun[1];
	s->site[0].site = "hub-1";
	s->site[0].n_prefixes = 2;
	s->site[0].prefixes = s->pfx_site_a;
	s->site[1].site = "branch-1";
	s->site[1].n_prefixes = 1;
	s->site[1].prefixes = s->pfx_site_b;

	struct Sdwan__EdgeConfig *c = &s->config;
	sdwan__edge_config__init(c);
	c->generation = 42;
	c->site = "branch-1";
	c->role = SDWAN__SITE_ROLE__SITE_ROLE_SPOKE;
	c->n_local_subnets = 2;
	c->local_subnets = s->pfx_local;
	c->n_links = 2;
	c->links = s->link_list;
	c->n_tunnels = 2;
	c->tunnels = s->tun_list;
	c->n_wan_prefixes = 2;
	c->wan_prefixes = s->site_list;
	c->ca_certificate_der = bin(s->der[2], sizeof(s->der[2]));
	c->failback_hold_down_ms = 30000;
	c->health_interval_ms = 5000;
	c->wan_name = "acme";
}

static void samples_health(struct samples *s)
{
	for (unsigned i = 0; i < 2; i++) {
		sdwan__child_sa__init(&s->sa[i]);
		s->sa_list[i] = &s->sa[i];
		sdwan__drop_counters__init(&s->drops[i]);
	}
	s->sa[0].spi_in = 0xc0ffee01;
	s->sa[0].spi_out = 0xdeadbeef;
	s->sa[0].established_at_ms = 1790000000000ull;
	s->sa[0].esp_proposal = "aes256gcm16-x25519";
	s->sa[1].spi_in = 0xffffffff;
	s->sa[1].spi_out = 1;
	struct Sdwan__DropCounters *d = &s->drops[0];
	d->malformed = 1;
	d->no_sa = 2;
	d->replay = 3;
	d->icv = 4;
	d->policy = 5;
	d->seq_overflow = 6;
	d->dummy = 7;
	d->mtu = 8;
	d->no_route = 9;
	s->drops[1].no_route = UINT64_MAX;

	struct Sdwan__TunnelHealth *th = &s->th[0];
	sdwan__tunnel_health__init(th);
	th->name = "branch-1:hub-1";
	th->ike_state = SDWAN__IKE_STATE__IKE_STATE_REKEYING;
	th->n_child_sas = 2;
	th->child_sas = s->sa_list;
	th->packets_in = 1000;
	th->packets_out = 2000;
	th->bytes_in = 1ull << 40;
	th->bytes_out = 12345678901ull;
	th->drops = &s->drops[0];
	th->rtt_us = 850;
	th->last_alive_ms = 1790000000123ull;
	th->uptime_ms = 86400000;
	th->active = true;
	s->th_list[0] = th;

	struct Sdwan__HealthReport *h = &s->health;
	sdwan__health_report__init(h);
	h->software_version = "0.1.0";
	h->uptime_ms = 99;
	h->active_hub = "hub-1";
	h->generation_applied = 41;
	h->n_tunnels = 1;
	h->tunnels = s->th_list;
	h->drops = &s->drops[1];
	h->timestamp_ms = 1790000000999ull;
}

static void samples_small(struct samples *s)
{
	sdwan__enroll_request__init(&s->enroll_req);
	s->enroll_req.token = "K7Q2-ZP4M-8WXC";
	s->enroll_req.csr_der = bin(s->der[0], sizeof(s->der[0]));
	s->enroll_req.curve_public_key = bin(s->key, 32);
	s->enroll_req.software_version = "0.1.0";

	sdwan__enroll_response__init(&s->enroll_resp);
	s->enroll_resp.status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
	s->enroll_resp.certificate_der = bin(s->der[1], sizeof(s->der[1]));
	s->enroll_resp.n_ca_chain_der = 2;
	s->enroll_resp.ca_chain_der = s->chain;
	s->enroll_resp.site = "branch-1";
	s->enroll_resp.error_reason = "";

	sdwan__config_ack__init(&s->ack);
	s->ack.generation = 42;
	sdwan__config_nack__init(&s->nack);
	s->nack.generation = 43;
	s->nack.code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID;
	s->nack.reason = "unknown ESP proposal \"aes512\": use aes256gcm16";
	s->nack.tunnel = "branch-1:hub-2";

	sdwan__event__init(&s->event);
	s->event.type = SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER;
	s->event.tunnel = "branch-1:hub-2";
	s->event.timestamp_ms = 1790000000500ull;
	s->event.detail = "hub-1 dead (dpd timeout 1000ms) -> hub-2";
	s->event.seq = 17;

	sdwan__command__init(&s->command);
	s->command.type = SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL;
	s->command.token = "NEW-TOKEN";
	sdwan__command_result__init(&s->result);
	s->result.type = SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW;
	s->result.ok = false;
	s->result.reason = "no such tunnel";

	sdwan__cert_renew_request__init(&s->renew_req);
	s->renew_req.csr_der = bin(s->der[0], sizeof(s->der[0]));
	s->renew_req.new_curve_public_key = bin(s->key, 32);
	sdwan__cert_renew_response__init(&s->renew_resp);
	s->renew_resp.status = SDWAN__CERT_STATUS__CERT_STATUS_DENIED;
	s->renew_resp.certificate_der = bin(s->der[1], sizeof(s->der[1]));
	s->renew_resp.n_ca_chain_der = 1;
	s->renew_resp.ca_chain_der = s->chain;
	s->renew_resp.error_reason = "renewal too early";

	sdwan__protocol_error__init(&s->error);
	s->error.code = SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_VERSION;
	s->error.supported_version = 1;
	s->error.reason = "upgrade";
}

static void samples_reach(struct samples *s)
{
	sdwan__reachability__init(&s->reach);
	s->reach.epoch = 0x5eed5eed5eed5eedull;
	s->reach.seq = 3;
	for (int i = 0; i < 2; i++) {
		sdwan__site_route__init(&s->route[i]);
		s->routep[i] = &s->route[i];
	}
	s->route[0].site = "branch-1";
	s->route[0].via_hub = "hub-west";
	s->route[1].site = "branch-3";
	s->route[1].via_hub = ""; /* unreachable */
	s->reach.routes = s->routep;
	s->reach.n_routes = 2;
}

static void samples_init(struct samples *s)
{
	memset(s, 0, sizeof(*s));
	samples_bytes(s);
	samples_config(s);
	samples_health(s);
	samples_small(s);
	samples_reach(s);
}

/* Put the sample for body `c` into env; false if there is none (a body this test misses). */
static bool attach(struct samples *s, struct Sdwan__Envelope *env, unsigned c)
{
	ctl_msg_envelope_init(env, 1000 + c);
	env->in_reply_to = 7;
	env->sent_at_ms = 1790000000000ull;
	env->body_case = (Sdwan__Envelope__BodyCase)c;
	switch (c) {
	case SDWAN__ENVELOPE__BODY_ENROLL_REQUEST:
		env->enroll_request = &s->enroll_req;
		return true;
	case SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE:
		env->enroll_response = &s->enroll_resp;
		return true;
	case SDWAN__ENVELOPE__BODY_CONFIG:
		env->config = &s->config;
		return true;
	case SDWAN__ENVELOPE__BODY_CONFIG_ACK:
		env->config_ack = &s->ack;
		return true;
	case SDWAN__ENVELOPE__BODY_CONFIG_NACK:
		env->config_nack = &s->nack;
		return true;
	case SDWAN__ENVELOPE__BODY_HEALTH:
		env->health = &s->health;
		return true;
	case SDWAN__ENVELOPE__BODY_EVENT:
		env->event = &s->event;
		return true;
	case SDWAN__ENVELOPE__BODY_COMMAND:
		env->command = &s->command;
		return true;
	case SDWAN__ENVELOPE__BODY_COMMAND_RESULT:
		env->command_result = &s->result;
		return true;
	case SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST:
		env->cert_renew_request = &s->renew_req;
		return true;
	case SDWAN__ENVELOPE__BODY_CERT_RENEW_RESPONSE:
		env->cert_renew_response = &s->renew_resp;
		return true;
	case SDWAN__ENVELOPE__BODY_ERROR:
		env->error = &s->error;
		return true;
	case SDWAN__ENVELOPE__BODY_REACHABILITY:
		env->reachability = &s->reach;
		return true;
	default:
		return false;
	}
}

/* Encode, decode, re-encode: the two encodings must be identical. Returns the decoded copy. */
static struct Sdwan__Envelope *roundtrip(const struct Sdwan__Envelope *env, uint8_t **wire,
					 size_t *wire_len)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	cr_assert_eq(ctl_msg_encode_alloc(env, &a, &alen), 0, "encode %s", ctl_msg_body_name(env));
	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	int rc = ctl_msg_decode(a, alen, CTL_MSG_MAX_SIZE, &dec, &err);
	cr_assert_eq(rc, 0, "decode %s: %d %s", ctl_msg_body_name(env), rc, err.text);
	cr_assert_eq(dec->body_case, env->body_case);
	cr_assert_eq(dec->msg_id, env->msg_id);
	cr_assert_eq(dec->in_reply_to, env->in_reply_to);
	cr_assert_eq(dec->sent_at_ms, env->sent_at_ms);
	cr_assert_eq(dec->base.n_unknown_fields, 0);
	cr_assert_eq(ctl_msg_encode_alloc(dec, &b, &blen), 0);
	cr_assert_eq(alen, blen, "%s: %zu bytes, re-encoded %zu", ctl_msg_body_name(env), alen,
		     blen);
	cr_assert_arr_eq(a, b, alen, "%s: re-encoding differs", ctl_msg_body_name(env));
	ctl_msg_buf_free(b, blen);
	if (wire) {
		*wire = a;
		*wire_len = alen;
	} else {
		ctl_msg_buf_free(a, alen);
	}
	return dec;
}

Test(ctl_msg, roundtrip_every_body)
{
	struct samples s;
	samples_init(&s);
	const ProtobufCMessageDescriptor *d = &sdwan__envelope__descriptor;
	unsigned bodies = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		struct Sdwan__Envelope env;
		cr_assert(attach(&s, &env, f->id), "no test sample for body %s: add one", f->name);
		cr_expect_str_eq(ctl_msg_body_name(&env), f->name);
		struct Sdwan__Envelope *dec = roundtrip(&env, NULL, NULL);
		ctl_msg_free(dec);
		bodies++;
	}
	cr_expect_eq(bodies, 13);
}

Test(ctl_msg, roundtrip_config_fields)
{
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_CONFIG));
	struct Sdwan__Envelope *dec = roundtrip(&env, NULL, NULL);
	const struct Sdwan__EdgeConfig *c = dec->config;
	cr_expect_eq(c->generation, 42);
	cr_expect_str_eq(c->site, "branch-1");
	cr_expect_eq(c->role, SDWAN__SITE_ROLE__SITE_ROLE_SPOKE);
	cr_assert_eq(c->n_links, 2);
	cr_expect_eq(c->links[0]->addressing_case, SDWAN__UNDERLAY_LINK__ADDRESSING_STATIC_ADDRESS);
	cr_expect_eq(c->links[1]->addressing_case, SDWAN__UNDERLAY_LINK__ADDRESSING_DYNAMIC);
	cr_assert_eq(c->n_tunnels, 2);
	const struct Sdwan__Tunnel *t = c->tunnels[0];
	cr_expect_str_eq(t->ike_proposal, "aes256gcm16-prfsha384-x25519");
	cr_expect_eq(t->psk.len, 32);
	cr_expect_arr_eq(t->psk.data, s.psk, 32);
	cr_expect_eq(t->auth, SDWAN__AUTH_METHOD__AUTH_METHOD_PSK);
	cr_expect_eq(t->dpd_interval_ms, 200);
	cr_expect_eq(t->ike_lifetime_ms, 86400000);
	cr_expect(t->remote_transit);
	cr_expect_not(t->local_transit);
	cr_expect(c->tunnels[1]->local_transit);
	cr_expect_eq(c->tunnels[1]->psk.len, 0);
	cr_assert_eq(t->n_peer_addresses, 2);
	cr_expect_eq(t->peer_addresses[0]->port, 4500);
	cr_assert_eq(t->n_remote_prefixes, 1);
	struct prefix p;
	cr_assert_eq(ctl_msg_prefix_get(t->remote_prefixes[0], &p), 0);
	char buf[PREFIX_STRLEN];
	cr_expect_str_eq(prefix_format(&p, buf), "192.0.2.1/32");
	cr_assert_eq(c->n_wan_prefixes, 2);
	cr_expect_eq(c->wan_prefixes[0]->n_prefixes, 2);
	cr_expect_eq(c->wan_prefixes[0]->prefixes[0]->len, 0);
	cr_expect_eq(c->failback_hold_down_ms, 30000);
	ctl_msg_free(dec);
}

Test(ctl_msg, roundtrip_health_fields)
{
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_HEALTH));
	struct Sdwan__Envelope *dec = roundtrip(&env, NULL, NULL);
	const struct Sdwan__HealthReport *h = dec->health;
	cr_expect_str_eq(h->active_hub, "hub-1");
	cr_expect_eq(h->generation_applied, 41);
	cr_assert_eq(h->n_tunnels, 1);
	const struct Sdwan__TunnelHealth *th = h->tunnels[0];
	cr_expect_eq(th->ike_state, SDWAN__IKE_STATE__IKE_STATE_REKEYING);
	cr_assert_eq(th->n_child_sas, 2);
	cr_expect_eq(th->child_sas[0]->spi_in, 0xc0ffee01);
	cr_expect_eq(th->child_sas[0]->spi_out, 0xdeadbeef);
	cr_expect_eq(th->child_sas[1]->spi_in, 0xffffffff);
	cr_expect_eq(th->bytes_in, 1ull << 40);
	cr_assert_not_null(th->drops);
	cr_expect_eq(th->drops->malformed, 1);
	cr_expect_eq(th->drops->icv, 4);
	cr_expect_eq(th->drops->no_route, 9);
	cr_expect_eq(h->drops->no_route, UINT64_MAX);
	cr_expect_eq(th->rtt_us, 850);
	cr_expect(th->active);
	ctl_msg_free(dec);
}

/* ---- refusals ---- */

Test(ctl_msg, encode_checks)
{
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_CONFIG));
	uint8_t small[16];
	size_t len = 0;
	cr_expect_eq(ctl_msg_encode(&env, small, sizeof(small), &len), -EMSGSIZE);
	cr_expect_gt(len, sizeof(small), "the needed size is reported");
	uint8_t *big = malloc(len);
	cr_assert_not_null(big);
	size_t need = len;
	cr_expect_eq(ctl_msg_encode(&env, big, need, &len), 0);
	cr_expect_eq(len, need);
	free(big);

	env.version = 2;
	uint8_t *out = (uint8_t *)&env;
	cr_expect_eq(ctl_msg_encode_alloc(&env, &out, &len), -EINVAL);
	cr_expect_null(out);
	env.version = CTL_PROTO_VERSION;
	/* A count that promises an array which is not there. */
	s.config.n_tunnels = 3;
	s.config.tunnels = NULL;
	cr_expect_eq(ctl_msg_encode(&env, small, sizeof(small), &len), -EINVAL);
	ctl_msg_buf_free(NULL, 0);
	ctl_msg_free(NULL);
}

Test(ctl_msg, version_mismatch_is_refused_with_reason)
{
	static const uint32_t versions[] = {0, 2, 77};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct Sdwan__ConfigAck ack = SDWAN__CONFIG_ACK__INIT;
		ack.generation = 5;
		struct Sdwan__Envelope env;
		ctl_msg_envelope_init(&env, 1);
		env.version = versions[i];
		env.body_case = SDWAN__ENVELOPE__BODY_CONFIG_ACK;
		env.config_ack = &ack;
		/* Bypass ctl_msg_encode, which refuses to send a foreign version. */
		uint8_t buf[64];
		size_t len = sdwan__envelope__pack(&env, buf);
		struct Sdwan__Envelope dummy;
		struct Sdwan__Envelope *dec = &dummy;
		struct ctl_msg_error err;
		cr_expect_eq(ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &dec, &err),
			     -EPROTONOSUPPORT);
		cr_expect_null(dec);
		cr_expect_eq(err.peer_version, versions[i]);
		cr_expect(strstr(err.text, "version") != NULL, "%s", err.text);
		if (versions[i] > 0) {
			char want[32];
			snprintf(want, sizeof(want), "version %u", versions[i]);
			cr_expect(strstr(err.text, want) != NULL, "%s", err.text);
			cr_expect(strstr(err.text, "upgrade") != NULL, "%s", err.text);
		}
	}
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

Test(ctl_msg, oversized_refused_before_parsing)
{
	/* One big unknown bytes field, then a truncated version field: one byte over the limit. */
	size_t len = CTL_MSG_ENROLL_MAX_SIZE + 1;
	uint8_t *buf = calloc(1, len);
	cr_assert_not_null(buf);
	size_t n = put_varint(buf, (99u << 3) | 2);
	size_t payload = len - 1 - n - 3;
	n += put_varint(buf + n, payload);
	cr_assert_eq(n + payload, len - 1);
	buf[len - 1] = 0x08;
	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	cr_expect_eq(ctl_msg_decode(buf, len, CTL_MSG_ENROLL_MAX_SIZE, &dec, &err), -EMSGSIZE);
	cr_expect_null(dec);
	cr_expect(strstr(err.text, "65537") != NULL, "%s", err.text);
	/* With the limit raised it is parsed, and refused as corrupt. */
	cr_expect_eq(ctl_msg_decode(buf, len, len, &dec, NULL), -EBADMSG);
	free(buf);
}

#define N_EMPTY 60000

/* A small message of many empty submessages must not turn into unbounded allocation. */
Test(ctl_msg, decode_memory_is_bounded)
{
	size_t cap = 16 + 2 * N_EMPTY;
	uint8_t *inner = malloc(cap), *buf = malloc(cap + 16);
	cr_assert(inner && buf);
	size_t ilen = 0;
	for (unsigned i = 0; i < N_EMPTY; i++) {
		inner[ilen++] = (5 << 3) | 2; /* HealthReport.tunnels, empty TunnelHealth */
		inner[ilen++] = 0;
	}
	size_t len = 0;
	buf[len++] = 0x08; /* version = 1 */
	buf[len++] = CTL_PROTO_VERSION;
	len += put_varint(buf + len, (21 << 3) | 2); /* Envelope.health */
	len += put_varint(buf + len, ilen);
	memcpy(buf + len, inner, ilen);
	len += ilen;
	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	int rc = ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &dec, &err);
	cr_expect_eq(rc, -EMSGSIZE, "rc %d: %s", rc, err.text);
	cr_expect(strstr(err.text, "memory") != NULL, "%s", err.text);
	ctl_msg_free(dec);

	/* A few thousand of them are within bounds. */
	len = 0;
	buf[len++] = 0x08;
	buf[len++] = CTL_PROTO_VERSION;
	const size_t few = 4000; /* 2000 empty TunnelHealth */
	len += put_varint(buf + len, (21 << 3) | 2);
	len += put_varint(buf + len, few);
	memcpy(buf + len, inner, few);
	len += few;
	rc = ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &dec, &err);
	cr_assert_eq(rc, 0, "rc %d: %s", rc, err.text);
	cr_expect_eq(dec->health->n_tunnels, 2000);
	ctl_msg_free(dec);
	free(inner);
	free(buf);
}

Test(ctl_msg, truncations_are_refused)
{
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_CONFIG));
	uint8_t *wire;
	size_t len;
	ctl_msg_free(roundtrip(&env, &wire, &len));

	/* The header fields come first; every cut after the body's tag must fail. */
	struct Sdwan__Envelope hdr = env;
	hdr.body_case = SDWAN__ENVELOPE__BODY__NOT_SET;
	size_t body_at = sdwan__envelope__get_packed_size(&hdr);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		cr_assert_not_null(copy);
		memcpy(copy, wire, cut);
		struct Sdwan__Envelope *dec = NULL;
		int rc = ctl_msg_decode(copy, cut, CTL_MSG_MAX_SIZE, &dec, NULL);
		if (cut > body_at) {
			cr_assert_eq(rc, -EBADMSG, "cut at %zu of %zu: rc %d", cut, len, rc);
		} else if (rc == 0) {
			cr_assert_eq(dec->body_case, SDWAN__ENVELOPE__BODY__NOT_SET);
		}
		ctl_msg_free(dec);
		free(copy);
	}
	ctl_msg_buf_free(wire, len);
}

static uint64_t xorshift(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

Test(ctl_msg, garbage_is_refused)
{
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
	} rows[] = {
		{"all ones", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 8},
		{"overlong varint",
		 {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		 12},
		{"length past the end", {0x08, 0x01, 0x92, 0x01, 0x7f, 0x08}, 6},
		{"wrong wire type for body", {0x08, 0x01, 0x90, 0x01, 0x05}, 5},
		{"field number 0", {0x00, 0x01}, 2},
		{"reserved wire type 7", {0x0f, 0x01}, 2},
		{"version as bytes", {0x0a, 0x01, 0x01}, 3},
		/* Field 0 hidden in an overlong key: protobuf-c alone would take it. */
		{"field 0, overlong key", {0x08, 0x01, 0x81, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}, 12},
		{"group wire type", {0x0b, 0x0c}, 2},
		{"varint over 64 bits",
		 {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		 11},
		{"bad key inside a body", {0x08, 0x01, 0x92, 0x01, 0x02, 0x80, 0x00}, 7},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct Sdwan__Envelope *dec = NULL;
		struct ctl_msg_error err;
		int rc = ctl_msg_decode(rows[i].bytes, rows[i].len, CTL_MSG_MAX_SIZE, &dec, &err);
		cr_expect_eq(rc, -EBADMSG, "%s: rc %d", rows[i].what, rc);
		cr_expect_null(dec);
		cr_expect_neq(err.text[0], '\0');
	}
	/* Empty input is a valid protobuf encoding of nothing: no version. */
	struct Sdwan__Envelope *dec = NULL;
	cr_expect_eq(ctl_msg_decode(NULL, 0, CTL_MSG_MAX_SIZE, &dec, NULL), -EPROTONOSUPPORT);
	cr_expect_eq(ctl_msg_decode(NULL, 5, CTL_MSG_MAX_SIZE, &dec, NULL), -EINVAL);

	/* Random bytes, and random corruption of a valid message: never a crash or a leak. */
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_HEALTH));
	uint8_t *wire;
	size_t len;
	ctl_msg_free(roundtrip(&env, &wire, &len));
	uint64_t x = 0x9a4b3e17u;
	uint8_t buf[512];
	for (unsigned iter = 0; iter < 20000; iter++) {
		size_t n;
		x = xorshift(x);
		if (iter % 2) {
			n = (size_t)(x % sizeof(buf));
			for (size_t k = 0; k < n; k++) {
				x = xorshift(x);
				buf[k] = (uint8_t)x;
			}
		} else {
			n = len;
			memcpy(buf, wire, len);
			buf[x % len] ^= (uint8_t)(x >> 32 | 1);
		}
		int rc = ctl_msg_decode(buf, n, CTL_MSG_MAX_SIZE, &dec, NULL);
		cr_assert(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT, "rc %d", rc);
		cr_assert_eq(rc == 0, dec != NULL);
		ctl_msg_free(dec);
	}
	ctl_msg_buf_free(wire, len);
}

/* ---- unknown fields: a newer peer's additions are kept, not refused ---- */

Test(ctl_msg, unknown_fields_at_top_level_are_tolerated)
{
	struct samples s;
	samples_init(&s);
	struct Sdwan__Envelope env;
	cr_assert(attach(&s, &env, SDWAN__ENVELOPE__BODY_EVENT));
	uint8_t *wire;
	size_t len;
	ctl_msg_free(roundtrip(&env, &wire, &len));

	uint8_t buf[512];
	memcpy(buf, wire, len);
	size_t n = len;
	n += put_varint(buf + n, (99u << 3) | 0); /* varint field 99 */
	n += put_varint(buf + n, 123456789);
	n += put_varint(buf + n, (1000u << 3) | 2); /* bytes field 1000 */
	n += put_varint(buf + n, 3);
	static const uint8_t extra[3] = {0x6e, 0x65, 0x77};
	memcpy(buf + n, extra, sizeof(extra));
	n += sizeof(extra);

	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	cr_assert_eq(ctl_msg_decode(buf, n, CTL_MSG_MAX_SIZE, &dec, &err), 0, "%s", err.text);
	cr_expect_eq(dec->base.n_unknown_fields, 2);
	cr_assert_eq(dec->body_case, SDWAN__ENVELOPE__BODY_EVENT);
	cr_expect_eq(dec->event->type, SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER);
	cr_expect_str_eq(dec->event->detail, s.event.detail);
	/* Re-encoding keeps what this build did not understand. */
	uint8_t *again;
	size_t alen;
	cr_assert_eq(ctl_msg_encode_alloc(dec, &again, &alen), 0);
	cr_expect_eq(alen, n);
	ctl_msg_buf_free(again, alen);
	ctl_msg_free(dec);
	ctl_msg_buf_free(wire, len);
}

Test(ctl_msg, unknown_fields_inside_a_body_are_tolerated)
{
	struct samples s;
	samples_init(&s);
	/* EdgeConfig with an extra field 77 (a fixed64) and a Tunnel-like extra submessage 78. */
	size_t clen = sdwan__edge_config__get_packed_size(&s.config);
	uint8_t *body = malloc(clen + 32);
	cr_assert_not_null(body);
	sdwan__edge_config__pack(&s.config, body);
	clen += put_varint(body + clen, (77u << 3) | 1);
	memset(body + clen, 0xab, 8);
	clen += 8;
	clen += put_varint(body + clen, (78u << 3) | 2);
	clen += put_varint(body + clen, 2);
	body[clen++] = 0x08;
	body[clen++] = 0x01;

	uint8_t *buf = malloc(clen + 16);
	cr_assert_not_null(buf);
	size_t n = 0;
	buf[n++] = 0x08;
	buf[n++] = CTL_PROTO_VERSION;
	n += put_varint(buf + n, (18u << 3) | 2); /* Envelope.config */
	n += put_varint(buf + n, clen);
	memcpy(buf + n, body, clen);
	n += clen;

	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	cr_assert_eq(ctl_msg_decode(buf, n, CTL_MSG_MAX_SIZE, &dec, &err), 0, "%s", err.text);
	cr_assert_eq(dec->body_case, SDWAN__ENVELOPE__BODY_CONFIG);
	cr_expect_eq(dec->config->base.n_unknown_fields, 2);
	cr_expect_eq(dec->config->generation, 42);
	cr_expect_eq(dec->config->n_tunnels, 2);
	ctl_msg_free(dec);
	free(body);
	free(buf);
}

Test(ctl_msg, unknown_body_type_decodes_without_body)
{
	/* version 1, msg_id 5, then field 40 (tag 0xc2 0x02) holding a 2-byte message. */
	uint8_t buf[] = {0x08, CTL_PROTO_VERSION, 0x10, 0x05, 0xc2, 0x02, 0x02, 0x08, 0x01};
	struct Sdwan__Envelope *dec = NULL;
	struct ctl_msg_error err;
	cr_assert_eq(ctl_msg_decode(buf, sizeof(buf), CTL_MSG_MAX_SIZE, &dec, &err), 0, "%s",
		     err.text);
	cr_expect_eq(dec->body_case, SDWAN__ENVELOPE__BODY__NOT_SET);
	cr_expect_eq(dec->msg_id, 5);
	cr_expect_str_eq(ctl_msg_body_name(dec), "none");
	cr_expect_eq(dec->base.n_unknown_fields, 1);
	ctl_msg_free(dec);
}

/* ---- prefix and address helpers ---- */

Test(ctl_msg, prefix_helpers)
{
	static const char *const good[] = {"0.0.0.0/0", "10.1.0.0/16",   "192.0.2.1/32",
					   "::/0",      "2001:db8::/32", "2001:db8::1/128"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct prefix p, q;
		bool host;
		cr_assert_eq(prefix_parse(good[i], &p, &host), 0);
		struct Sdwan__Prefix w;
		ctl_msg_prefix_set(&w, &p);
		cr_assert_eq(ctl_msg_prefix_get(&w, &q), 0, "%s", good[i]);
		cr_expect_eq(prefix_cmp(&p, &q), 0, "%s", good[i]);
	}
	uint8_t a4[4] = {10, 1, 2, 3}, a5[5] = {0};
	struct Sdwan__Prefix w = SDWAN__PREFIX__INIT;
	struct prefix p;
	w.addr = bin(a4, 4);
	w.len = 24;
	cr_expect_eq(ctl_msg_prefix_get(&w, &p), -EINVAL, "host bits set");
	w.len = 32;
	cr_expect_eq(ctl_msg_prefix_get(&w, &p), 0);
	w.len = 33;
	cr_expect_eq(ctl_msg_prefix_get(&w, &p), -EINVAL, "length past the family");
	w.addr = bin(a5, 5);
	w.len = 0;
	cr_expect_eq(ctl_msg_prefix_get(&w, &p), -EINVAL, "5-byte address");
	w.addr = bin(NULL, 0);
	cr_expect_eq(ctl_msg_prefix_get(&w, &p), -EINVAL, "no address");

	struct ip_addr ip;
	ProtobufCBinaryData b = bin(a4, 4);
	cr_assert_eq(ctl_msg_addr_get(&b, &ip), 0);
	cr_expect_eq(ip.family, IP_V4);
	cr_expect_eq(ip.bytes[3], 3);
	b.len = 15;
	cr_expect_eq(ctl_msg_addr_get(&b, &ip), -EINVAL);
}
