/*
 * export_swanctl: the strongSwan configuration of an external site says what our plan says
 * (proposals in strongSwan syntax, selectors with hub transit, ids, PSKs, hub priority), its
 * strongswan.conf fragment sets charon's retransmissions to the plan's DPD timeout, and
 * a real charon, when installed, loads it: with PSKs, and with the certificate files that
 * `sdwanctl export swanctl --state` issues from the controller's CA.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "common/x509id.h"
#include "controller/ca.h"
#include "controller/export_swanctl.h"
#include "controller/store.h"
#include "tests/unit/controller/intent_helpers.h"

static const char *src_dir(void)
{
	const char *s = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(s, "SDWAN_SOURCE_DIR must be set (ctest sets it)");
	return s;
}

static void compile_example(struct intent *in)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/topologies/external-gateway.yaml", src_dir());
	struct diag_list d = {0};
	int rc = intent_compile_file(path, in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
}

/* A PSK of recognisable bytes: tunnel name's first letter, then 1, 2, 3, ... */
static int fake_psk(void *arg, const char *tunnel, uint8_t psk[static EXPORT_PSK_LEN])
{
	int *calls = arg;
	++*calls;
	for (int i = 0; i < EXPORT_PSK_LEN; i++)
		psk[i] = (uint8_t)(i ? i : tunnel[0]);
	return 0;
}

static char *render(const struct plan *p, const char *site, const struct export_swanctl_creds *c,
		    int *rc)
{
	char *buf = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	long idx = topo_find_site(p->topo, site);
	cr_assert_geq(idx, 0);
	*rc = export_swanctl_write(p, (uint32_t)idx, c, f, err, sizeof(err));
	fclose(f);
	if (*rc)
		cr_log_info("export: %s", err);
	return buf;
}

Test(export_swanctl, psk_gateway_says_what_the_plan_says)
{
	struct intent in;
	compile_example(&in);
	int calls = 0, rc;
	struct export_swanctl_creds c = {.psk = fake_psk, .psk_arg = &calls};
	char *conf = render(in.plan, "cloud-vpc", &c, &rc);
	cr_assert_eq(rc, 0);
	cr_expect_eq(calls, 2, "one PSK per tunnel");
	const char *want[] = {
		"\thub-east {\n\t\tversion = 2\n\t\tlocal_addrs = 203.0.113.50\n"
		"\t\tremote_addrs = 192.0.2.1\n",
		"proposals = aes256gcm16-prfsha256-ecp256\n",
		"esp_proposals = aes256gcm16-ecp256-noesn\n",
		"encap = yes\n",
		"dpd_delay = 1s\n",
		"rekey_time = 1d\n",
		"rekey_time = 1h\n",
		"\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = cloud-vpc\n",
		"\t\tremote {\n\t\t\tauth = psk\n\t\t\tid = hub-west\n",
		"local_ts = 172.16.0.0/16\n",
		/* hub transit: every WAN prefix but the gateway's own */
		"remote_ts = 10.0.0.0/24,10.0.1.0/24,10.10.1.0/24,10.10.2.0/24,192.168.50.0/24\n",
		"priority = 101\n",
		"priority = 102\n",
		"start_action = none\n",
		"\tike-hub-east {\n\t\tid-gateway = cloud-vpc\n\t\tid-peer = hub-east\n"
		"\t\tsecret = 0x63010203",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(strstr(conf, want[i]), "missing \"%s\" in:\n%s", want[i], conf);
	cr_expect_null(strstr(conf, "172.16.0.0/16,"), "not its own prefixes back");
	free(conf);
	intent_free(&in);
}

Test(export_swanctl, refuses_our_own_sites_and_missing_credentials)
{
	struct intent in;
	compile_example(&in);
	int rc;
	struct export_swanctl_creds none = {0};
	free(render(in.plan, "hub-east", &none, &rc));
	cr_expect_eq(rc, -EINVAL, "our edges are not exported");
	free(render(in.plan, "cloud-vpc", &none, &rc));
	cr_expect_eq(rc, -EINVAL, "PSK tunnels need keys");
	free(render(in.plan, "partner", &none, &rc));
	cr_expect_eq(rc, -EINVAL, "certificate tunnels need files");
	intent_free(&in);
}

Test(export_swanctl, proposals_in_strongswan_syntax)
{
	char buf[PROPOSAL_STRLEN];
	struct proposal ike = {.encr = PROPOSAL_ENCR_CHACHA20POLY1305,
			       .prf = PROPOSAL_PRF_SHA512,
			       .group = PROPOSAL_GROUP_X25519};
	cr_expect_str_eq(export_swanctl_proposal(&ike, PROPOSAL_IKE, buf),
			 "chacha20poly1305-prfsha512-curve25519");
	struct proposal esp = {.encr = PROPOSAL_ENCR_AES128GCM16, .esn = false};
	cr_expect_str_eq(export_swanctl_proposal(&esp, PROPOSAL_ESP, buf), "aes128gcm16-noesn");
	esp.group = PROPOSAL_GROUP_ECP384;
	esp.esn = true;
	cr_expect_str_eq(export_swanctl_proposal(&esp, PROPOSAL_ESP, buf),
			 "aes128gcm16-ecp384-esn");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	char *buf = calloc(1, 65536);
	cr_assert_not_null(buf);
	size_t n = fread(buf, 1, 65535, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run swanctl_load.sh on dir; return its exit status, the connection names in names. */
static int charon_load(const char *dir, char *names, size_t len)
{
	char cmd[1024], out[512];
	snprintf(out, sizeof(out), "%s/conns.txt", dir);
	snprintf(cmd, sizeof(cmd), "bash %s/tests/unit/controller/swanctl_load.sh %s > %s",
		 src_dir(), dir, out);
	int rc = run(cmd);
	char *s = slurp(out);
	snprintf(names, len, "%s", s);
	free(s);
	return rc;
}

/* Write conf into a fresh folder and have charon load it; expect these connection names. */
static void expect_charon_loads(const char *conf, const char *expect_names)
{
	char dir[] = "/tmp/sdwan-swanctl.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256], names[512];
	snprintf(path, sizeof(path), "%s/swanctl.conf", dir);
	FILE *f = fopen(path, "we");
	cr_assert_not_null(f);
	fputs(conf, f);
	fclose(f);
	int rc = charon_load(dir, names, sizeof(names));
	if (rc == 77) {
		cr_log_warn("strongSwan (charon, swanctl) not installed: load not checked");
	} else {
		cr_expect_eq(rc, 0, "charon must load:\n%s", conf);
		cr_expect_str_eq(names, expect_names);
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	run(path);
}

Test(export_swanctl, charon_loads_psk_configuration)
{
	struct intent in;
	compile_example(&in);
	int calls = 0, rc;
	struct export_swanctl_creds c = {.psk = fake_psk, .psk_arg = &calls};
	char *conf = render(in.plan, "cloud-vpc", &c, &rc);
	cr_assert_eq(rc, 0);
	expect_charon_loads(conf, "hub-east\nhub-west\n");
	free(conf);
	intent_free(&in);
}

/* A controller state directory holding a CA for WAN globex, as the controller keeps it. */
static void make_state(const char *dir)
{
	struct ca *ca = NULL;
	struct ca_params params = {.wan = "globex"};
	cr_assert_eq(ca_create(&params, &ca), 0);
	char kp[256], cp[256];
	snprintf(kp, sizeof(kp), "%s/ca.key", dir);
	snprintf(cp, sizeof(cp), "%s/ca.pem", dir);
	cr_assert_eq(ca_save(ca, kp, cp), 0);
	ca_free(ca);
	char *key = slurp(kp), *cert = slurp(cp);
	unlink(kp);
	unlink(cp);
	struct store *st = NULL;
	cr_assert_eq(store_new(dir, NULL, &st), 0);
	cr_assert_eq(store_ca_put(st, key, cert, 1), 0);
	store_free(st);
	free(key);
	free(cert);
}

Test(export_swanctl, sdwanctl_issues_certificate_from_state_and_charon_loads_it)
{
	const char *bin = getenv("SDWAN_BIN_DIR");
	cr_assert_not_null(bin);
	char dir[] = "/tmp/sdwan-state.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	make_state(dir);
	char cmd[2048], path[512], names[512];
	snprintf(cmd, sizeof(cmd),
		 "%s/sdwanctl export swanctl partner --topology "
		 "%s/topologies/external-gateway.yaml --state %s --out %s/out",
		 bin, src_dir(), dir, dir);
	cr_assert_eq(run(cmd), 0, "%s", cmd);
	struct stat sb;
	snprintf(path, sizeof(path), "%s/out/swanctl.conf", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/out/private/partner.key", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 077, 0, "the gateway's key is private");
	/* The certificate names the gateway and chains to the CA written beside it. */
	X509 *cert = NULL, *ca = NULL;
	snprintf(path, sizeof(path), "%s/out/x509/partner.pem", dir);
	cr_assert_eq(x509id_cert_load(path, &cert), 0);
	snprintf(path, sizeof(path), "%s/out/x509ca/globex-ca.pem", dir);
	cr_assert_eq(x509id_cert_load(path, &ca), 0);
	struct x509id_identity id;
	cr_assert_eq(x509id_cert_identity(cert, &id), 0);
	cr_expect_str_eq(id.site, "partner");
	cr_expect_eq(X509_check_issued(ca, cert), X509_V_OK);
	X509_free(cert);
	X509_free(ca);
	/* The strongswan.conf fragment: the plan's DPD timeout (3s at 1s intervals). */
	snprintf(path, sizeof(path), "%s/out/strongswan.d/sdwan-partner.conf", dir);
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	char *frag = slurp(path);
	cr_expect_not_null(strstr(frag, "\tretransmit_tries = 2\n"), "%s", frag);
	cr_expect_not_null(strstr(frag, "\tretransmit_timeout = 1.000\n"), "%s", frag);
	free(frag);
	snprintf(path, sizeof(path), "%s/out", dir);
	int rc = charon_load(path, names, sizeof(names));
	if (rc == 77) {
		cr_log_warn("strongSwan (charon, swanctl) not installed: load not checked");
	} else {
		cr_expect_eq(rc, 0, "charon must load the configuration and credentials");
		cr_expect_str_eq(names, "hub-west\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
}

Test(export_swanctl, full_mesh_gateway_dynamic_and_ipv6_peers)
{
	const char *yaml = "wan: mesh\n"
			   "controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"
			   "type: full-mesh\n"
			   "defaults: {auth: psk, dpd: {mode: off}, esp: chacha20poly1305-noesn,\n"
			   "           ike-lifetime: 8h, esp-lifetime: 45m}\n"
			   "sites:\n"
			   "  - name: p1\n    role: peer\n"
			   "    underlay: [{name: a, address: dynamic}]\n"
			   "    subnets: [10.1.0.0/24]\n"
			   "  - name: p2\n    role: peer\n"
			   "    underlay: [{name: a, address: \"2001:db8::2\"}]\n"
			   "    subnets: [\"2001:db8:2::/64\"]\n"
			   "  - name: gw\n    role: external\n"
			   "    underlay: [{name: a, address: 192.0.2.9}, {name: b, address: "
			   "\"2001:db8::9\"}]\n"
			   "    subnets: [10.9.0.0/24, \"2001:db8:9::/64\"]\n";
	struct intent in;
	struct diag_list d = {0};
	int rc = compile_text(yaml, &in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	int calls = 0;
	struct export_swanctl_creds c = {.psk = fake_psk, .psk_arg = &calls};
	char *conf = render(in.plan, "gw", &c, &rc);
	cr_assert_eq(rc, 0);
	const char *want[] = {
		"\tp1 {\n\t\tversion = 2\n\t\tlocal_addrs = 192.0.2.9,2001:db8::9\n"
		"\t\tremote_addrs = %any\n",
		"\tp2 {\n\t\tversion = 2\n\t\tlocal_addrs = 192.0.2.9,2001:db8::9\n"
		"\t\tremote_addrs = 2001:db8::2\n",
		"local_ts = 10.9.0.0/24,2001:db8:9::/64\n",
		/* peers carry only their own subnets: no transit in a mesh */
		"remote_ts = 10.1.0.0/24\n",
		"remote_ts = 2001:db8:2::/64\n",
		"esp_proposals = chacha20poly1305-noesn\n",
		"dpd_delay = 0s\n",
		"rekey_time = 8h\n",
		"rekey_time = 45m\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(strstr(conf, want[i]), "missing \"%s\" in:\n%s", want[i], conf);
	cr_expect_null(strstr(conf, "priority ="), "no hub preference in a mesh");
	cr_expect_eq(calls, 2);
	expect_charon_loads(conf, "p1\np2\n");
	free(conf);
	intent_free(&in);
}

static char *render_retransmit(const struct plan *p, const char *site, int *rc)
{
	char *buf = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	long idx = topo_find_site(p->topo, site);
	cr_assert_geq(idx, 0);
	*rc = export_swanctl_write_retransmit(p, (uint32_t)idx, f, err, sizeof(err));
	fclose(f);
	if (*rc)
		cr_log_info("export: %s", err);
	return buf;
}

Test(export_swanctl, retransmit_schedule_is_the_plans_dpd_timeout)
{
	struct intent in;
	compile_example(&in);
	int rc;
	char *frag = render_retransmit(in.plan, "cloud-vpc", &rc);
	cr_assert_eq(rc, 0);
	/* dpd 1s / 3s: the probe, then a retransmission every second, dead at 3 s. */
	const char *want[] = {"charon {\n", "\tretransmit_timeout = 1.000\n",
			      "\tretransmit_base = 1.0\n", "\tretransmit_tries = 2\n"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(strstr(frag, want[i]), "missing \"%s\" in:\n%s", want[i], frag);
	free(frag);
	free(render_retransmit(in.plan, "hub-east", &rc));
	cr_expect_eq(rc, -EINVAL, "our edges get no strongSwan settings");
	intent_free(&in);
}

/* Several profiles: the shortest timeout wins, spread evenly over the retransmissions. */
Test(export_swanctl, retransmit_schedule_takes_the_fastest_tunnel)
{
	const char *yaml = "wan: t\n"
			   "controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"
			   "type: full-mesh\n"
			   "defaults: {auth: psk, dpd: {interval: 1s, timeout: 5s}}\n"
			   "sites:\n"
			   "  - name: p1\n    role: peer\n"
			   "    underlay: [{name: a, address: 192.0.2.1}]\n"
			   "    subnets: [10.1.0.0/24]\n"
			   "  - name: p2\n    role: peer\n"
			   "    dpd: {interval: 1s, timeout: 2500ms}\n"
			   "    underlay: [{name: a, address: 192.0.2.2}]\n"
			   "    subnets: [10.2.0.0/24]\n"
			   "  - name: gw\n    role: external\n"
			   "    underlay: [{name: a, address: 192.0.2.9}]\n"
			   "    subnets: [10.9.0.0/24]\n";
	struct intent in;
	struct diag_list d = {0};
	int rc = compile_text(yaml, &in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	char *frag = render_retransmit(in.plan, "gw", &rc);
	cr_assert_eq(rc, 0);
	/* 2.5 s at 1 s intervals: three sends, 833 ms apart. */
	cr_expect_not_null(strstr(frag, "\tretransmit_timeout = 0.833\n"), "%s", frag);
	cr_expect_not_null(strstr(frag, "\tretransmit_tries = 2\n"), "%s", frag);
	free(frag);
	intent_free(&in);
}

Test(export_swanctl, retransmit_schedule_left_alone_without_dpd)
{
	const char *yaml = "wan: t\n"
			   "controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"
			   "type: full-mesh\n"
			   "defaults: {auth: psk, dpd: {mode: off}}\n"
			   "sites:\n"
			   "  - name: p1\n    role: peer\n"
			   "    underlay: [{name: a, address: 192.0.2.1}]\n"
			   "    subnets: [10.1.0.0/24]\n"
			   "  - name: gw\n    role: external\n"
			   "    underlay: [{name: a, address: 192.0.2.9}]\n"
			   "    subnets: [10.9.0.0/24]\n";
	struct intent in;
	struct diag_list d = {0};
	int rc = compile_text(yaml, &in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	char *frag = render_retransmit(in.plan, "gw", &rc);
	cr_assert_eq(rc, 0);
	cr_expect_null(strstr(frag, "charon {"), "no settings when DPD is off:\n%s", frag);
	cr_expect_not_null(strstr(frag, "DPD is off"), "%s", frag);
	free(frag);
	intent_free(&in);
}

static int failing_psk(void *arg, const char *tunnel, uint8_t psk[static EXPORT_PSK_LEN])
{
	(void)arg;
	(void)tunnel;
	(void)psk;
	return -ENOENT;
}

Test(export_swanctl, psk_source_error_fails_the_export)
{
	struct intent in;
	compile_example(&in);
	int rc;
	struct export_swanctl_creds c = {.psk = failing_psk};
	free(render(in.plan, "cloud-vpc", &c, &rc));
	cr_expect_eq(rc, -ENOENT);
	intent_free(&in);
}
