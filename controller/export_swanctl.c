#include "controller/export_swanctl.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/duration.h"
#include "common/error.h"
#include "common/prefix.h"

/* Children of one gateway with the same selectors toward several hubs: strongSwan installs the
 * policy of the child with the lowest priority value, so the preferred hub carries the traffic
 * while it is up and the next takes over when its SA goes away. Far below strongSwan's
 * automatic priorities, which stay in charge of everything else on the box. */
enum {
	HUB_PRIORITY_BASE = 100
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t len, const char *fmt,
							  ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static const char *encr_name(uint8_t encr)
{
	switch (encr) {
	case PROPOSAL_ENCR_AES128GCM16:
		return "aes128gcm16";
	case PROPOSAL_ENCR_AES256GCM16:
		return "aes256gcm16";
	case PROPOSAL_ENCR_CHACHA20POLY1305:
		return "chacha20poly1305";
	default:
		return NULL;
	}
}

static const char *prf_name(uint8_t prf)
{
	switch (prf) {
	case PROPOSAL_PRF_SHA256:
		return "prfsha256";
	case PROPOSAL_PRF_SHA384:
		return "prfsha384";
	case PROPOSAL_PRF_SHA512:
		return "prfsha512";
	default:
		return NULL;
	}
}

static const char *group_name(uint16_t group)
{
	switch (group) {
	case PROPOSAL_GROUP_ECP256:
		return "ecp256";
	case PROPOSAL_GROUP_ECP384:
		return "ecp384";
	case PROPOSAL_GROUP_X25519:
		return "curve25519";
	default:
		return NULL;
	}
}

char *export_swanctl_proposal(const struct proposal *pr, enum proposal_kind kind, char *buf)
{
	/* Spelled token by token from the enums rather than reusing our display form, so a change
	 * of our canonical names cannot silently change what strongSwan is told. strongSwan's
	 * default is no ESN, so ESP always states it. */
	const char *e = encr_name(pr->encr), *g = group_name(pr->group);
	if (kind == PROPOSAL_IKE) {
		const char *f = prf_name(pr->prf);
		snprintf(buf, PROPOSAL_STRLEN, "%s-%s-%s", e ? e : "?", f ? f : "?", g ? g : "?");
	} else {
		snprintf(buf, PROPOSAL_STRLEN, "%s%s%s-%s", e ? e : "?", g ? "-" : "", g ? g : "",
			 pr->esn ? "esn" : "noesn");
	}
	return buf;
}

/* strongSwan times take s, m, h, d; sub-second values round up to a whole second. */
static const char *swan_time(uint64_t ms, char buf[static 24])
{
	uint64_t s = (ms + 999) / 1000;
	if (s % 86400 == 0)
		snprintf(buf, 24, "%llud", (unsigned long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, 24, "%lluh", (unsigned long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, 24, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, 24, "%llus", (unsigned long long)s);
	return buf;
}

/* Static underlay addresses, comma-separated; "%any" for a dynamic site. */
static void write_addrs(FILE *out, const struct topo_site *s)
{
	char a[IP_ADDR_STRLEN];
	bool any = false;
	for (size_t i = 0; i < s->n_links; i++) {
		if (s->links[i].dynamic)
			continue;
		fprintf(out, "%s%s", any ? "," : "", ip_addr_format(&s->links[i].addr, a));
		any = true;
	}
	if (!any)
		fputs("%any", out);
}

/* The prefixes site sends toward peer, comma-separated; false when there are none. */
static bool write_ts(FILE *out, const struct plan *p, uint32_t site, uint32_t peer)
{
	const struct topo *t = p->topo;
	char buf[PREFIX_STRLEN];
	bool any = false;
	for (uint32_t i = 0; i < t->n_sites; i++) {
		if (!plan_carries_site(p, site, peer, i))
			continue;
		for (size_t j = 0; j < t->sites[i].n_subnets; j++) {
			const struct prefix *pf = &t->sites[i].subnets[j].prefix;
			if (!pf->addr.family)
				continue;
			fprintf(out, "%s%s", any ? "," : "", prefix_format(pf, buf));
			any = true;
		}
	}
	return any;
}

static bool is_external(const struct plan *p, uint32_t site, char *err, size_t err_len)
{
	if (site >= p->topo->n_sites) {
		set_err(err, err_len, "no such site");
		return false;
	}
	const struct topo_site *s = &p->topo->sites[site];
	if (!topo_site_is_external(s)) {
		set_err(err, err_len,
			"site '%s' has role %s; only external sites are exported (our edges get "
			"their configuration from the controller)",
			s->name, topo_role_name(s->role));
		return false;
	}
	return true;
}

int export_swanctl_needs(const struct plan *p, uint32_t site, struct export_swanctl_needs *out,
			 char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	if (!is_external(p, site, err, err_len))
		return -EINVAL;
	const struct plan_edge *e = &p->edges[site];
	for (size_t i = 0; i < e->count; i++) {
		const struct plan_tunnel *tun = &p->tunnels[p->edge_tunnels[e->first + i]];
		if (p->profiles[tun->profile].auth == TOPO_AUTH_PSK)
			out->psk_tunnels++;
		else
			out->cert_tunnels++;
	}
	return 0;
}

static void write_auth(FILE *out, const char *side, const char *id, bool psk, const char *certs_key,
		       const char *certs)
{
	fprintf(out, "\t\t%s {\n", side);
	fprintf(out, "\t\t\tauth = %s\n", psk ? "psk" : "pubkey");
	/* A bare site name is an FQDN identity in strongSwan: our edges send ID_FQDN = site name
	 * and their certificates carry it as subjectAltName DNS. */
	fprintf(out, "\t\t\tid = %s\n", id);
	if (!psk)
		fprintf(out, "\t\t\t%s = %s\n", certs_key, certs);
	fprintf(out, "\t\t}\n");
}

static void write_connection(FILE *out, const struct plan *p, uint32_t site,
			     const struct plan_tunnel *tun, const struct export_swanctl_creds *c)
{
	const struct topo *t = p->topo;
	uint32_t ours = plan_tunnel_peer(tun, site);
	const struct topo_site *gw = &t->sites[site], *peer = &t->sites[ours];
	const struct plan_profile *pr = &p->profiles[tun->profile];
	bool psk = pr->auth == TOPO_AUTH_PSK;
	char name[80], prop[PROPOSAL_STRLEN], tm[24];
	fprintf(out, "\t# tunnel %s (%s, mtu %u): %s opens it\n",
		plan_tunnel_name(p, tun, name, sizeof(name)), plan_kind_name(tun->kind), tun->mtu,
		peer->name);
	fprintf(out, "\t%s {\n", peer->name);
	fputs("\t\tversion = 2\n\t\tlocal_addrs = ", out);
	write_addrs(out, gw);
	fputs("\n\t\tremote_addrs = ", out);
	write_addrs(out, peer);
	fprintf(out, "\n\t\tproposals = %s\n",
		export_swanctl_proposal(&pr->ike, PROPOSAL_IKE, prop));
	fputs("\t\t# our data plane carries ESP in UDP only: encapsulate even without NAT\n"
	      "\t\tencap = yes\n"
	      "\t\tmobike = no\n",
	      out);
	if (pr->dpd_mode == TOPO_DPD_OFF)
		fputs("\t\tdpd_delay = 0s\n", out);
	else
		fprintf(out, "\t\tdpd_delay = %s\n", swan_time(pr->dpd_interval_ms, tm));
	fprintf(out, "\t\trekey_time = %s\n", swan_time(pr->ike_lifetime_ms, tm));
	fputs("\t\tunique = replace\n", out);
	write_auth(out, "local", gw->name, psk, "certs", c->site_cert_file);
	write_auth(out, "remote", peer->name, psk, "cacerts", c->ca_cert_file);
	fprintf(out, "\t\tchildren {\n\t\t\t%s {\n", peer->name);
	fputs("\t\t\t\tlocal_ts = ", out);
	if (!write_ts(out, p, site, ours))
		fputs("dynamic", out);
	fputs("\n\t\t\t\tremote_ts = ", out);
	if (!write_ts(out, p, ours, site))
		fputs("dynamic", out);
	fprintf(out, "\n\t\t\t\tesp_proposals = %s\n",
		export_swanctl_proposal(&pr->esp, PROPOSAL_ESP, prop));
	fprintf(out, "\t\t\t\trekey_time = %s\n", swan_time(pr->esp_lifetime_ms, tm));
	fputs("\t\t\t\tmode = tunnel\n"
	      "\t\t\t\tstart_action = none\n"
	      "\t\t\t\tdpd_action = clear\n"
	      "\t\t\t\tclose_action = none\n",
	      out);
	if (tun->hub_priority)
		fprintf(out, "\t\t\t\tpriority = %u\n",
			(unsigned)HUB_PRIORITY_BASE + tun->hub_priority);
	fputs("\t\t\t}\n\t\t}\n\t}\n", out);
}

static int write_secret(FILE *out, const struct plan *p, uint32_t site,
			const struct plan_tunnel *tun, const struct export_swanctl_creds *c,
			char *err, size_t err_len)
{
	const struct topo *t = p->topo;
	uint32_t ours = plan_tunnel_peer(tun, site);
	char name[80];
	uint8_t key[EXPORT_PSK_LEN];
	plan_tunnel_name(p, tun, name, sizeof(name));
	int rc = c->psk(c->psk_arg, name, key);
	if (rc) {
		set_err(err, err_len, "no pre-shared key for tunnel %s: %s", name,
			sdw_strerror(-rc));
		goto out;
	}
	fprintf(out, "\tike-%s {\n\t\tid-gateway = %s\n\t\tid-peer = %s\n\t\tsecret = 0x",
		t->sites[ours].name, t->sites[site].name, t->sites[ours].name);
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(out, "%02x", key[i]);
	fputs("\n\t}\n", out);
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static int check_creds(const struct plan *p, uint32_t site, const struct export_swanctl_creds *c,
		       char *err, size_t err_len)
{
	struct export_swanctl_needs needs;
	int rc = export_swanctl_needs(p, site, &needs, err, err_len);
	if (rc)
		return rc;
	const char *name = p->topo->sites[site].name;
	if (needs.psk_tunnels + needs.cert_tunnels == 0) {
		set_err(err, err_len, "external site '%s' has no tunnels in the plan", name);
		return -EINVAL;
	}
	if (needs.psk_tunnels && !c->psk) {
		set_err(err, err_len,
			"site '%s' has %zu tunnel(s) with auth: psk, but no keys were "
			"given",
			name, needs.psk_tunnels);
		return -EINVAL;
	}
	if (needs.cert_tunnels && (!c->ca_cert_file || !c->site_cert_file || !c->site_key_file)) {
		set_err(err, err_len,
			"site '%s' has %zu tunnel(s) with auth: certificate, but no CA, "
			"certificate or key file was given",
			name, needs.cert_tunnels);
		return -EINVAL;
	}
	return 0;
}

int export_swanctl_write(const struct plan *p, uint32_t site,
			 const struct export_swanctl_creds *creds, FILE *out, char *err,
			 size_t err_len)
{
	int rc = check_creds(p, site, creds, err, err_len);
	if (rc)
		return rc;
	const struct topo *t = p->topo;
	const struct topo_site *gw = &t->sites[site];
	const struct plan_edge *e = &p->edges[site];
	fprintf(out,
		"# swanctl.conf of external site '%s' in WAN '%s', written by 'sdwanctl export "
		"swanctl'\n"
		"# from the same plan as our edges' configuration: regenerate it after every "
		"topology\n"
		"# change rather than editing it. It holds secrets: keep it mode 0600.\n"
		"#\n"
		"# Our edges open these tunnels; this gateway answers. IKEv2 liveness: DPD probes "
		"every\n"
		"# dpd_delay; a dead peer is declared after charon's retransmission schedule\n"
		"# (strongswan.conf charon.retransmit_*), which the strongswan.d/ fragment "
		"exported\n"
		"# beside this file sets to the plan's DPD timeout.\n\n",
		gw->name, t->wan);
	fputs("connections {\n", out);
	bool first = true;
	for (size_t i = 0; i < e->count; i++) {
		if (!first)
			fputc('\n', out);
		first = false;
		write_connection(out, p, site, &p->tunnels[p->edge_tunnels[e->first + i]], creds);
	}
	fputs("}\n\nsecrets {\n", out);
	for (size_t i = 0; i < e->count && !rc; i++) {
		const struct plan_tunnel *tun = &p->tunnels[p->edge_tunnels[e->first + i]];
		if (p->profiles[tun->profile].auth == TOPO_AUTH_PSK)
			rc = write_secret(out, p, site, tun, creds, err, err_len);
	}
	fputs("}\n", out);
	if (!rc && (fflush(out) != 0 || ferror(out))) {
		set_err(err, err_len, "write failed: %s", sdw_strerror(errno));
		rc = -EIO;
	}
	return rc;
}

/* The tunnel of site whose DPD declares a peer dead soonest; NULL when DPD is off on all. */
static const struct plan_profile *fastest_dpd(const struct plan *p, uint32_t site)
{
	const struct plan_edge *e = &p->edges[site];
	const struct plan_profile *best = NULL;
	for (size_t i = 0; i < e->count; i++) {
		const struct plan_tunnel *tun = &p->tunnels[p->edge_tunnels[e->first + i]];
		const struct plan_profile *pr = &p->profiles[tun->profile];
		if (pr->dpd_mode == TOPO_DPD_OFF || !pr->dpd_interval_ms || !pr->dpd_timeout_ms)
			continue;
		if (!best || pr->dpd_timeout_ms < best->dpd_timeout_ms ||
		    (pr->dpd_timeout_ms == best->dpd_timeout_ms &&
		     pr->dpd_interval_ms < best->dpd_interval_ms))
			best = pr;
	}
	return best;
}

int export_swanctl_write_retransmit(const struct plan *p, uint32_t site, FILE *out, char *err,
				    size_t err_len)
{
	if (!is_external(p, site, err, err_len))
		return -EINVAL;
	const struct topo_site *gw = &p->topo->sites[site];
	fprintf(out,
		"# strongswan.conf fragment of external site '%s' in WAN '%s', written by "
		"'sdwanctl export\n"
		"# swanctl' beside its swanctl.conf. Include it from strongswan.conf (Debian: copy "
		"it to\n"
		"# /etc/strongswan.d/). These settings are charon-wide: they apply to every IKE SA "
		"of the\n"
		"# gateway, not only to the WAN's tunnels.\n",
		gw->name, p->topo->wan);
	const struct plan_profile *pr = fastest_dpd(p, site);
	if (!pr) {
		fputs("#\n# DPD is off on every tunnel of this site: charon's default "
		      "retransmission schedule\n# applies.\n",
		      out);
	} else {
		/* charon gives up on a request after retransmit_tries retransmissions, waiting
		 * retransmit_timeout * retransmit_base^n before the n-th: with base 1 and
		 * timeout = dpd_timeout / (tries + 1), a DPD probe that gets no answer declares
		 * the peer dead dpd_timeout after it was sent, one retransmission per interval,
		 * as our edge does. (The defaults take 165 s.) */
		uint64_t tries =
			(pr->dpd_timeout_ms + pr->dpd_interval_ms - 1) / pr->dpd_interval_ms;
		tries = tries > 1 ? tries - 1 : 0;
		if (tries > 100)
			tries = 100;
		uint64_t step_ms = pr->dpd_timeout_ms / (tries + 1);
		if (!step_ms)
			step_ms = 1;
		char iv[DURATION_STRLEN], to[DURATION_STRLEN];
		fprintf(out,
			"#\n# A peer that stops answering is declared dead %s after the first "
			"unanswered DPD probe\n"
			"# (the plan's dpd timeout; interval %s): the probe and %llu "
			"retransmission(s), %llu.%03llu s\n"
			"# apart. Each tunnel's dpd_action then applies.\n"
			"charon {\n"
			"\tretransmit_timeout = %llu.%03llu\n"
			"\tretransmit_base = 1.0\n"
			"\tretransmit_tries = %llu\n"
			"}\n",
			duration_format(pr->dpd_timeout_ms, to),
			duration_format(pr->dpd_interval_ms, iv), (unsigned long long)tries,
			(unsigned long long)(step_ms / 1000), (unsigned long long)(step_ms % 1000),
			(unsigned long long)(step_ms / 1000), (unsigned long long)(step_ms % 1000),
			(unsigned long long)tries);
	}
	if (fflush(out) != 0 || ferror(out)) {
		set_err(err, err_len, "write failed: %s", sdw_strerror(errno));
		return -EIO;
	}
	return 0;
}
