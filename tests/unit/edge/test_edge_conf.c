/*
 * The edge configuration file: a complete file yields exactly the EdgeConfig it describes;
 * every class of error is reported at its line and column with what to write instead; PSK
 * files are refused when others can read them; and every YAML example in
 * docs/edge-config.md loads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ctl_msg.h"
#include "edge/edge_conf.h"

static int load_text(const char *yaml, Sdwan__EdgeConfig **cfg, struct edge_local_settings *l,
		     struct diag_list *d)
{
	return edge_conf_load_buf((const uint8_t *)yaml, strlen(yaml), NULL, cfg, l, d);
}

/* Whether a diagnostic of this severity at line:col containing needle was reported. */
static bool has_diag(const struct diag_list *d, enum diag_severity sev, uint32_t line, uint32_t col,
		     const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *x = &d->items[i];
		if (x->severity == sev && x->pos.line == line && x->pos.col == col &&
		    strstr(x->msg, needle))
			return true;
	}
	return false;
}

#define PSK32 "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Lines 1-3 of the error cases; the tunnel mapping starts on line 4, keys at column 5. */
#define HEAD "site: b1\ntunnels:\n  - name: hq:b1\n"
#define TUN_OK                                                                                     \
	"    peer_site: hq\n"                                                                      \
	"    ike_proposal: aes256gcm16-prfsha384-x25519\n"                                         \
	"    esp_proposal: aes256gcm16\n"                                                          \
	"    psk: " PSK32 "\n"

struct ecase {
	const char *name;
	const char *yaml;
	uint32_t line, col;
	const char *needle;
};

static const struct ecase cases[] = {
	{"empty file", "", 1, 1, "the file is empty"},
	{"not a mapping", "- a\n", 1, 1, "must be a mapping"},
	{"missing site", "tunnels: []\n", 1, 1, "missing required key 'site'"},
	{"unknown key with suggestion", "site: b1\ntunnel: []\n", 2, 1,
	 "unknown key 'tunnel' in the edge configuration (did you mean 'tunnels'?)"},
	{"duration key with _ms", "site: b1\nhealth_interval_ms: 2000\n", 2, 1,
	 "write 'health_interval: 30s'"},
	{"ca der key", "site: b1\nca_certificate_der: x\n", 2, 1, "ca_path"},
	{"bad site name", "site: Branch_1\n", 1, 7, "must be 1-31 lowercase letters"},
	{"bad role", "site: b1\nrole: spok\n", 2, 7, "unknown role 'spok' (did you mean 'spoke'?)"},
	{"generation zero", "site: b1\ngeneration: 0\n", 2, 13, "generation 0 is out of range"},
	{"generation not a number", "site: b1\ngeneration: -1\n", 2, 13, "must be a whole number"},
	{"duration without unit", "site: b1\nhealth_interval: 2000\n", 2, 18,
	 "'2000' has no unit; write e.g. 2000s or 2000ms"},
	{"duration bad unit", "site: b1\nfailback_hold_down: 3y\n", 2, 21, "is not a duration"},
	{"duration out of range", "site: b1\nhealth_interval: 1ms\n", 2, 18,
	 "health_interval 1ms is out of range; allowed: 100ms to 1h"},
	{"subnet host bits", "site: b1\nlocal_subnets: [10.1.0.1/24]\n", 2, 17,
	 "has host bits set; did you mean 10.1.0.0/24?"},
	{"summary host bits", "site: b1\nwan_summary: [10.8.0.1/13]\n", 2, 15,
	 "has host bits set; did you mean 10.8.0.0/13?"},
	{"subnet without length", "site: b1\nlocal_subnets: [10.1.0.0]\n", 2, 17,
	 "has no prefix length; write e.g. 10.1.0.0/24"},
	{"subnets not a list", "site: b1\nlocal_subnets: 10.1.0.0/24\n", 2, 16,
	 "local_subnets must be a list"},
	{"link static and dynamic",
	 "site: b1\nlinks:\n  - {name: inet, static_address: 192.0.2.1, dynamic: true}\n", 3, 54,
	 "not both"},
	{"link multicast", "site: b1\nlinks:\n  - {name: inet, static_address: 224.0.0.1}\n", 3, 34,
	 "cannot identify a host"},
	{"wan prefixes missing prefixes", "site: b1\nwan_prefixes:\n  - site: hq\n", 3, 5,
	 "missing required key 'prefixes'"},
	{"tunnel missing name", "site: b1\ntunnels:\n  - peer_site: hq\n", 3, 5,
	 "tunnel is missing required key 'name'"},
	{"tunnel missing proposals", HEAD "    peer_site: hq\n    psk: " PSK32 "\n", 3, 5,
	 "missing required key 'ike_proposal'"},
	{"tunnel unknown key", HEAD TUN_OK "    dpd_intervall: 1s\n", 8, 5,
	 "unknown key 'dpd_intervall' in tunnel (did you mean 'dpd_interval'?)"},
	{"weak ike proposal",
	 HEAD "    peer_site: hq\n    ike_proposal: aes256gcm16-prfsha1-x25519\n", 5, 31,
	 "'prfsha1' is weak"},
	{"esp proposal typo", HEAD "    peer_site: hq\n    esp_proposal: aes256gcm16-x2519\n", 5,
	 31, "did you mean 'x25519'?"},
	{"initiator without address", HEAD TUN_OK "    initiator: true\n", 8, 16,
	 "an initiator needs peer_addresses"},
	{"initiator not bool", HEAD TUN_OK "    initiator: yes\n", 8, 16,
	 "initiator must be true or false, not 'yes'"},
	{"peer address with prefix", HEAD TUN_OK "    peer_addresses: [192.0.2.1/32]\n", 8, 22,
	 "must be a single address without a prefix length"},
	{"peer address port range",
	 HEAD TUN_OK "    peer_addresses: [{addr: 192.0.2.1, port: 0}]\n", 8, 46,
	 "port 0 is out of range; allowed: 1 to 65535"},
	{"dpd timeout below interval", HEAD TUN_OK "    dpd_interval: 1s\n    dpd_timeout: 500ms\n",
	 9, 18, "dpd_timeout 500ms is shorter than dpd_interval 1s"},
	{"dpd mode", HEAD TUN_OK "    dpd_mode: idle\n", 8, 15, "unknown dpd_mode 'idle'"},
	{"kind", HEAD TUN_OK "    kind: spoke-hubb\n", 8, 11,
	 "unknown tunnel kind 'spoke-hubb' (did you mean 'spoke-hub'?)"},
	{"mtu range", HEAD TUN_OK "    mtu: 100\n", 8, 10, "mtu 100 is out of range"},
	{"psk not hex", HEAD "    peer_site: hq\n    psk: secret\n", 5, 10,
	 "psk must be hex starting with 0x"},
	{"psk odd digits", HEAD "    peer_site: hq\n    psk: 0x0102030405060708090a0b0c0d0e0f101\n",
	 5, 10, "psk has an odd number of hex digits"},
	{"psk bad digit", HEAD "    peer_site: hq\n    psk: 0x0102030405060708090a0b0c0d0e0fzz\n",
	 5, 10, "not a hex digit"},
	{"psk short", HEAD "    peer_site: hq\n    psk: 0x0102\n", 5, 10, "shorter than 16 octets"},
	{"auth psk without key", HEAD "    peer_site: hq\n    auth: psk\n", 5, 11,
	 "auth: psk needs the key"},
	{"auth certificate with psk",
	 HEAD "    peer_site: hq\n    auth: certificate\n    psk: " PSK32 "\n", 6, 10,
	 "a PSK is given but auth is certificate"},
	{"certificate without local files", HEAD "    peer_site: hq\n    auth: certificate\n", 3, 5,
	 "local: needs key_path, cert_path and ca_path"},
	{"psk and psk_file", HEAD "    peer_site: hq\n    psk: " PSK32 "\n    psk_file: k\n", 6, 15,
	 "give the key once"},
	{"psk_file from a buffer", HEAD "    peer_site: hq\n    psk_file: k\n", 5, 15,
	 "psk_file cannot be read when the configuration is not a file"},
	{"duplicate tunnel", HEAD TUN_OK "  - name: hq:b1\n" TUN_OK, 8, 11,
	 "tunnel name 'hq:b1' is used twice"},
	{"tunnel name with space", "site: b1\ntunnels:\n  - name: hq b1\n", 3, 11,
	 "tunnel name must be 1-63 printable characters"},
	{"local unknown key", "site: b1\nlocal: {tun: x}\n", 2, 9, "unknown key 'tun' in local"},
	{"local bad tun name", "site: b1\nlocal: {tun_name: a/b}\n", 2, 19,
	 "tun_name 'a/b' must be an interface name"},
	{"local same ports", "site: b1\nlocal: {ike_port: 4500}\n", 2, 8,
	 "ike_port and natt_port are both 4500"},
	{"local listen addr", "site: b1\nlocal: {listen_addr: 10.0.0.300}\n", 2, 22,
	 "listen_addr '10.0.0.300' is not an IPv4 or IPv6 address"},
	{"tab indentation", "site: b1\n\ttunnels: []\n", 2, 1, "spaces, not tabs"},
	{"alias refused", "site: &a b1\nwan_name: *a\n", 2, 11, "alias"},
};

/* One loop rather than a parameterized test: Criterion re-executes the binary for each
 * parameter, and the cases' string pointers would not survive that. */
Test(edge_conf, error_cases)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ecase *c = &cases[i];
		Sdwan__EdgeConfig *cfg = (Sdwan__EdgeConfig *)1;
		struct edge_local_settings l;
		struct diag_list d = {0};
		int rc = load_text(c->yaml, &cfg, &l, &d);
		bool found = has_diag(&d, DIAG_ERROR, c->line, c->col, c->needle);
		if (!found)
			diag_print(&d, c->name, stderr);
		cr_expect(rc < 0, "%s: loaded", c->name);
		cr_expect_null(cfg, "%s", c->name);
		cr_expect(found, "%s: no error at %u:%u containing \"%s\"", c->name, c->line,
			  c->col, c->needle);
		edge_conf_free(rc == 0 ? cfg : NULL);
		diag_list_free(&d);
	}
}

static const char full[] = "generation: 7\n"
			   "site: b1\n"
			   "role: spoke\n"
			   "wan_name: acme\n"
			   "local_subnets: [10.1.0.0/24, \"2001:db8:1::/64\"]\n"
			   "links:\n"
			   "  - {name: inet, static_address: 192.0.2.2}\n"
			   "  - {name: lte, dynamic: true}\n"
			   "failback_hold_down: 30s\n"
			   "health_interval: 2s\n"
			   "wan_prefixes:\n"
			   "  - {site: hq, prefixes: [10.0.0.0/16]}\n"
			   "  - {site: b1, prefixes: [10.1.0.0/24]}\n"
			   "wan_summary: [10.8.0.0/13, 10.1.128.0/17]\n"
			   "tunnels:\n"
			   "  - name: hq:b1\n"
			   "    peer_site: hq\n"
			   "    peer_identity: hq.example\n"
			   "    peer_addresses: [192.0.2.1, {addr: \"2001:db8::1\", port: 4500, "
			   "link: inet}]\n"
			   "    initiator: true\n"
			   "    kind: spoke-hub\n"
			   "    hub_priority: 1\n"
			   "    ike_proposal: aes128gcm16-prfsha256-x25519\n"
			   "    esp_proposal: chacha20poly1305-noesn\n"
			   "    ike_lifetime: 4h\n"
			   "    esp_lifetime: 1h30m\n"
			   "    dpd_interval: 200ms\n"
			   "    dpd_timeout: 1s\n"
			   "    dpd_mode: on-demand\n"
			   "    psk: " PSK32 "\n"
			   "    mtu: 1400\n"
			   "    mss_v4: 1360\n"
			   "    mss_v6: 1340\n"
			   "    local_prefixes: [10.1.0.0/24]\n"
			   "    remote_prefixes: [10.0.0.0/16]\n"
			   "    local_transit: false\n"
			   "    remote_transit: true\n"
			   "    local_link: inet\n"
			   "local:\n"
			   "  tun_name: wan0\n"
			   "  listen_addr: 192.0.2.2\n"
			   "  ike_port: 1500\n"
			   "  natt_port: 14500\n"
			   "  workers: 2\n"
			   "  keylog_path: /tmp/keys.txt\n";

Test(edge_conf, full_file_maps_every_field)
{
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	int rc = load_text(full, &cfg, &l, &d);
	if (rc != 0)
		diag_print(&d, "full", stderr);
	cr_assert_eq(rc, 0);
	cr_expect_eq(d.n, 0);
	cr_expect_eq(cfg->generation, 7);
	cr_expect_str_eq(cfg->site, "b1");
	cr_expect_eq(cfg->role, SDWAN__SITE_ROLE__SITE_ROLE_SPOKE);
	cr_expect_str_eq(cfg->wan_name, "acme");
	cr_assert_eq(cfg->n_local_subnets, 2);
	struct prefix p;
	cr_assert_eq(ctl_msg_prefix_get(cfg->local_subnets[1], &p), 0);
	char buf[PREFIX_STRLEN];
	cr_expect_str_eq(prefix_format(&p, buf), "2001:db8:1::/64");
	cr_assert_eq(cfg->n_links, 2);
	cr_expect_eq(cfg->links[0]->addressing_case,
		     SDWAN__UNDERLAY_LINK__ADDRESSING_STATIC_ADDRESS);
	cr_expect_eq(cfg->links[0]->static_address.len, 4);
	cr_expect_eq(cfg->links[1]->addressing_case, SDWAN__UNDERLAY_LINK__ADDRESSING_DYNAMIC);
	cr_expect_eq(cfg->failback_hold_down_ms, 30000);
	cr_expect_eq(cfg->health_interval_ms, 2000);
	cr_assert_eq(cfg->n_wan_prefixes, 2);
	cr_expect_str_eq(cfg->wan_prefixes[1]->site, "b1");
	cr_assert_eq(cfg->n_wan_summary, 2);
	cr_assert_eq(ctl_msg_prefix_get(cfg->wan_summary[1], &p), 0);
	cr_expect_str_eq(prefix_format(&p, buf), "10.1.128.0/17");
	cr_assert_eq(cfg->n_tunnels, 1);
	const Sdwan__Tunnel *t = cfg->tunnels[0];
	cr_expect_str_eq(t->name, "hq:b1");
	cr_expect_str_eq(t->peer_site, "hq");
	cr_expect_str_eq(t->peer_identity, "hq.example");
	cr_assert_eq(t->n_peer_addresses, 2);
	cr_expect_eq(t->peer_addresses[0]->addr.len, 4);
	cr_expect_eq(t->peer_addresses[0]->port, 0);
	cr_expect_eq(t->peer_addresses[1]->addr.len, 16);
	cr_expect_eq(t->peer_addresses[1]->port, 4500);
	cr_expect_str_eq(t->peer_addresses[1]->link, "inet");
	cr_expect(t->initiator);
	cr_expect_eq(t->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB);
	cr_expect_eq(t->hub_priority, 1);
	cr_expect_str_eq(t->ike_proposal, "aes128gcm16-prfsha256-x25519");
	cr_expect_str_eq(t->esp_proposal, "chacha20poly1305-noesn");
	cr_expect_eq(t->ike_lifetime_ms, 4 * 3600 * 1000);
	cr_expect_eq(t->esp_lifetime_ms, 90 * 60 * 1000);
	cr_expect_eq(t->dpd_interval_ms, 200);
	cr_expect_eq(t->dpd_timeout_ms, 1000);
	cr_expect_eq(t->dpd_mode, SDWAN__DPD_MODE__DPD_MODE_ON_DEMAND);
	cr_expect_eq(t->auth, SDWAN__AUTH_METHOD__AUTH_METHOD_PSK);
	cr_assert_eq(t->psk.len, 32);
	for (size_t i = 0; i < 32; i++)
		cr_expect_eq(t->psk.data[i], i);
	cr_expect_eq(t->mtu, 1400);
	cr_expect_eq(t->mss_v4, 1360);
	cr_expect_eq(t->mss_v6, 1340);
	cr_expect_eq(t->n_local_prefixes, 1);
	cr_expect_eq(t->n_remote_prefixes, 1);
	cr_expect(!t->local_transit);
	cr_expect(t->remote_transit);
	cr_expect_str_eq(t->local_link, "inet");
	cr_expect_str_eq(l.tun_name, "wan0");
	cr_expect_eq(l.listen_addr.family, IP_V4);
	cr_expect_eq(l.ike_port, 1500);
	cr_expect_eq(l.natt_port, 14500);
	cr_expect_eq(l.workers, 2);
	cr_expect_str_eq(l.keylog_path, "/tmp/keys.txt");
	cr_expect_str_eq(l.key_path, "");
	edge_conf_free(cfg);
	diag_list_free(&d);
}

Test(edge_conf, defaults)
{
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_assert_eq(load_text("site: b1\n", &cfg, &l, &d), 0);
	cr_expect_eq(cfg->generation, 1);
	cr_expect_eq(cfg->role, SDWAN__SITE_ROLE__SITE_ROLE_PEER);
	cr_expect_eq(cfg->n_tunnels, 0);
	cr_expect_str_eq(l.tun_name, "sdwan0");
	cr_expect_eq(l.ike_port, 500);
	cr_expect_eq(l.natt_port, 4500);
	cr_expect_eq(l.listen_addr.family, 0);
	edge_conf_free(cfg);
	edge_conf_free(NULL);
	diag_list_free(&d);
}

Test(edge_conf, every_error_at_once)
{
	static const char bad[] = "site: B\n"
				  "role: x\n"
				  "health_interval: 5\n"
				  "tunnels:\n"
				  "  - name: t\n"
				  "    peer_site: hq\n"
				  "    ike_proposal: aes256gcm16-prfsha1-x25519\n"
				  "    esp_proposal: des\n"
				  "    psk: 0x01\n";
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_expect_eq(load_text(bad, &cfg, &l, &d), -EINVAL);
	cr_expect(has_diag(&d, DIAG_ERROR, 1, 7, "site 'B'"));
	cr_expect(has_diag(&d, DIAG_ERROR, 2, 7, "unknown role"));
	cr_expect(has_diag(&d, DIAG_ERROR, 3, 18, "has no unit"));
	cr_expect(has_diag(&d, DIAG_ERROR, 7, 31, "weak"));
	cr_expect(has_diag(&d, DIAG_ERROR, 8, 19, "des"));
	cr_expect(has_diag(&d, DIAG_ERROR, 9, 10, "shorter than 16 octets"));
	cr_expect_geq(d.errors, 6);
	diag_list_free(&d);
}

/* A scratch directory with a config file naming a PSK file beside it. */
struct scratch {
	char dir[64];
	char conf[128];
	char key[128];
};

static void scratch_make(struct scratch *s, const char *key_text, mode_t key_mode,
			 const char *psk_line)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/test-edge-conf.XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->conf, sizeof(s->conf), "%s/edge.yaml", s->dir);
	snprintf(s->key, sizeof(s->key), "%s/hq.psk", s->dir);
	FILE *f = fopen(s->key, "w");
	cr_assert_not_null(f);
	fputs(key_text, f);
	fclose(f);
	cr_assert_eq(chmod(s->key, key_mode), 0);
	f = fopen(s->conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		HEAD "    peer_site: hq\n"
		     "    ike_proposal: aes256gcm16-prfsha384-x25519\n"
		     "    esp_proposal: aes256gcm16\n"
		     "%s\n",
		psk_line);
	fclose(f);
}

static void scratch_remove(struct scratch *s)
{
	unlink(s->conf);
	unlink(s->key);
	rmdir(s->dir);
}

Test(edge_conf, psk_file_relative_to_config)
{
	struct scratch s;
	scratch_make(&s, PSK32 "\n", 0600, "    psk_file: hq.psk");
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	int rc = edge_conf_load_file(s.conf, &cfg, &l, &d);
	if (rc != 0)
		diag_print(&d, s.conf, stderr);
	cr_assert_eq(rc, 0);
	cr_assert_eq(cfg->tunnels[0]->psk.len, 32);
	cr_expect_eq(cfg->tunnels[0]->psk.data[31], 0x1f);
	cr_expect_eq(cfg->tunnels[0]->auth, SDWAN__AUTH_METHOD__AUTH_METHOD_PSK);
	edge_conf_free(cfg);
	diag_list_free(&d);
	scratch_remove(&s);
}

Test(edge_conf, psk_file_alias_spelling)
{
	struct scratch s;
	scratch_make(&s, PSK32, 0400, "    psk-file: hq.psk");
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_assert_eq(edge_conf_load_file(s.conf, &cfg, &l, &d), 0);
	cr_expect_eq(cfg->tunnels[0]->psk.len, 32);
	edge_conf_free(cfg);
	diag_list_free(&d);
	scratch_remove(&s);
}

Test(edge_conf, psk_file_readable_by_others_is_refused)
{
	struct scratch s;
	scratch_make(&s, PSK32 "\n", 0644, "    psk_file: hq.psk");
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_expect_eq(edge_conf_load_file(s.conf, &cfg, &l, &d), -EINVAL);
	cr_expect_null(cfg);
	cr_expect(has_diag(&d, DIAG_ERROR, 7, 15, "is accessible by group or others (mode 0644)"));
	cr_expect(has_diag(&d, DIAG_ERROR, 7, 15, "chmod 600"));
	diag_list_free(&d);
	scratch_remove(&s);
}

Test(edge_conf, psk_file_missing_and_malformed)
{
	struct scratch s;
	scratch_make(&s, "secret\n", 0600, "    psk_file: hq.psk");
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_expect_eq(edge_conf_load_file(s.conf, &cfg, &l, &d), -EINVAL);
	cr_expect(has_diag(&d, DIAG_ERROR, 7, 15, "must be hex starting with 0x"));
	diag_list_free(&d);
	unlink(s.key);
	d = (struct diag_list){0};
	cr_expect_eq(edge_conf_load_file(s.conf, &cfg, &l, &d), -EINVAL);
	cr_expect(has_diag(&d, DIAG_ERROR, 7, 15, "No such file"));
	diag_list_free(&d);
	scratch_remove(&s);
}

Test(edge_conf, inline_psk_in_shared_file_warns)
{
	struct scratch s;
	scratch_make(&s, "", 0600, "    psk: " PSK32);
	cr_assert_eq(chmod(s.conf, 0644), 0);
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_assert_eq(edge_conf_load_file(s.conf, &cfg, &l, &d), 0);
	cr_expect(has_diag(&d, DIAG_WARNING, 7, 10, "readable by group or others"));
	edge_conf_free(cfg);
	diag_list_free(&d);
	scratch_remove(&s);
}

Test(edge_conf, missing_file)
{
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings l;
	struct diag_list d = {0};
	cr_expect_eq(edge_conf_load_file("/nonexistent/edge.yaml", &cfg, &l, &d), -ENOENT);
	cr_expect(has_diag(&d, DIAG_ERROR, 0, 0, "cannot read the edge configuration"));
	diag_list_free(&d);
}

/* Every ```yaml block of docs/edge-config.md is a complete configuration that loads. */
Test(edge_conf, docs_examples_load)
{
	const char *src = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(src, "SDWAN_SOURCE_DIR is not set");
	char path[512];
	snprintf(path, sizeof(path), "%s/docs/edge-config.md", src);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char line[1024];
	char *block = NULL;
	size_t len = 0, cap = 0;
	unsigned examples = 0, lineno = 0, start = 0;
	bool in = false;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!in && strcmp(line, "```yaml\n") == 0) {
			in = true;
			len = 0;
			start = lineno + 1;
			continue;
		}
		if (!in)
			continue;
		if (strcmp(line, "```\n") != 0) {
			size_t n = strlen(line);
			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				block = realloc(block, cap);
				cr_assert_not_null(block);
			}
			memcpy(block + len, line, n + 1);
			len += n;
			continue;
		}
		in = false;
		examples++;
		Sdwan__EdgeConfig *cfg;
		struct edge_local_settings l;
		struct diag_list d = {0};
		int rc =
			edge_conf_load_buf((const uint8_t *)block, len, "/etc/sdwan", &cfg, &l, &d);
		if (rc != 0 || d.n)
			diag_print(&d, "docs/edge-config.md block", stderr);
		cr_expect_eq(rc, 0, "the example starting at docs/edge-config.md:%u does not load",
			     start);
		cr_expect_eq(d.n, 0, "the example at docs/edge-config.md:%u has diagnostics",
			     start);
		edge_conf_free(cfg);
		diag_list_free(&d);
	}
	fclose(f);
	free(block);
	cr_expect_geq(examples, 1, "no ```yaml examples in %s", path);
}
