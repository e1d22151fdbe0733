/*
 * Validation: every class of error the topology compiler reports, each asserting the line, the
 * column and the message, and that a valid file yields no diagnostics at all.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tests/unit/controller/intent_helpers.h"

/* Lines 1-4 of every case; sites start on line 5. */
#define HEAD                                                                                       \
	"wan: t\n"                                                                                 \
	"controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"                                     \
	"type: hub-and-spoke\n"                                                                    \
	"sites:\n"

#define HUB1                                                                                       \
	"  - name: hub1\n"                                                                         \
	"    role: hub\n"                                                                          \
	"    underlay: [{name: inet, address: 192.0.2.1}]\n"                                       \
	"    subnets: [10.0.0.0/24]\n"

struct vcase {
	const char *name;
	const char *yaml;
	uint32_t line, col;
	const char *needle;
};

static const struct vcase cases[] = {
	{"malformed yaml", HEAD "  - name: [oops\n", 6, 1, "malformed YAML"},
	{"tab indentation", "wan: t\n\tcontroller: x\n", 2, 1, "spaces, not tabs"},
	{"unknown top key with suggestion", "wan: t\nsitez: []\n", 2, 1,
	 "unknown key 'sitez' in the topology (did you mean 'sites'?)"},
	{"unknown site key", HEAD HUB1 "    subnet: [10.9.0.0/24]\n", 9, 5,
	 "unknown key 'subnet' in site (did you mean 'subnets'?)"},
	{"unknown key no suggestion", HEAD HUB1 "    colour: blue\n", 9, 5,
	 "expected one of: name, role"},
	{"missing wan",
	 "controller: {endpoint: \"tcp://192.0.2.1:1\"}\ntype: full-mesh\nsites: []\n", 1, 1,
	 "missing required key 'wan'"},
	{"missing site name", HEAD "  - role: hub\n    underlay: [{name: a, address: 192.0.2.1}]\n",
	 5, 5, "site is missing required key 'name'"},
	{"missing underlay", HEAD "  - name: hub1\n    role: hub\n", 5, 5,
	 "missing required key 'underlay'"},
	{"wrong type: subnets scalar",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "    subnets: 10.1.0.0/24\n",
	 13, 14, "subnets must be a list"},
	{"wrong type: mtu", "wan: t\ndefaults:\n  mtu: big\n", 3, 8, "mtu must be a whole number"},
	{"mtu out of range", "wan: t\ndefaults:\n  mtu: 100\n", 3, 8, "mtu 100 is out of range"},
	{"bad duration", "wan: t\ndefaults:\n  ike-lifetime: 24\n", 3, 17,
	 "'24' has no unit; write e.g. 24s"},
	{"bad duration unit", "wan: t\ndefaults:\n  ike-lifetime: 24y\n", 3, 17,
	 "is not a duration"},
	{"bad site name", HEAD "  - name: Hub_1\n", 5, 11, "must be 1-31 lowercase letters"},
	{"bad role", HEAD "  - name: h\n    role: hubb\n", 6, 11,
	 "unknown role 'hubb' (did you mean 'hub'?)"},
	{"bad type", "wan: t\ntype: star\n", 2, 7, "unknown topology type 'star'"},
	{"bad endpoint", "wan: t\ncontroller: {endpoint: 192.0.2.1}\n", 2, 24,
	 "must look like tcp://HOST:PORT"},
	{"bad underlay address",
	 HEAD "  - name: h\n    role: hub\n"
	      "    underlay: [{name: inet, address: 192.0.2.300}]\n",
	 7, 38, "not an IPv4 or IPv6 address"},
	{"underlay multicast",
	 HEAD "  - name: h\n    role: hub\n"
	      "    underlay: [{name: inet, address: 224.0.0.1}]\n",
	 7, 38, "cannot identify a site"},
	{"subnet host bits",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "    subnets: [10.1.0.1/24]\n",
	 13, 15, "has host bits set; did you mean 10.1.0.0/24?"},
	{"subnet without length",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "    subnets: [10.1.0.0]\n",
	 13, 15, "has no prefix length"},
	{"ipv6 host bits",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "    subnets: [\"2001:db8::1/64\"]\n",
	 13, 16, "did you mean 2001:db8::/64?"},
	{"overlap between sites",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "    subnets: [10.0.0.128/25]\n",
	 13, 15, "subnet 10.0.0.128/25 of site 'b1' overlaps 10.0.0.0/24 of site 'hub1'"},
	{"overlap inside a site",
	 HEAD "  - name: hub1\n    role: hub\n"
	      "    underlay: [{name: inet, address: 192.0.2.1}]\n"
	      "    subnets: [10.0.0.0/16, 10.0.5.0/24]\n",
	 8, 28, "subnets 10.0.5.0/24 and 10.0.0.0/16 of site 'hub1' overlap"},
	{"duplicate site name",
	 HEAD HUB1 "  - name: hub1\n    role: hub\n"
		   "    underlay: [{name: inet, address: 192.0.2.9}]\n",
	 9, 11, "duplicate site name 'hub1'"},
	{"duplicate yaml key", HEAD "  - name: a\n    name: b\n", 6, 5, "duplicate key 'name'"},
	{"unknown hub",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub9]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n",
	 11, 12, "names hub 'hub9', but there is no such site"},
	{"hub that is not a hub",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1, b2]\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n"
		   "  - name: b2\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.3}]\n",
	 11, 18, "names 'b2' as a hub, but 'b2' has role spoke"},
	{"spoke without hubs",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n"
		   "    underlay: [{name: a, address: 192.0.2.2}]\n",
	 9, 11, "needs a hubs list"},
	{"no hub",
	 "wan: t\ncontroller: {endpoint: \"tcp://192.0.2.100:7800\"}\ntype: hybrid\nsites:\n"
	 "  - name: p1\n    role: peer\n    underlay: [{name: a, address: 192.0.2.2}]\n",
	 3, 7, "needs at least one site with role: hub"},
	{"role not in full mesh",
	 "wan: t\ncontroller: {endpoint: \"tcp://192.0.2.1:1\"}\n"
	 "type: full-mesh\nsites:\n" HUB1,
	 6, 11, "role 'hub' does not exist in a full-mesh topology"},
	{"both dynamic",
	 HEAD "  - name: hub1\n    role: hub\n    underlay: [{name: a, address: dynamic}]\n"
	      "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
	      "    underlay: [{name: a, address: dynamic}]\n",
	 8, 11, "both are dynamic, so neither can reach the other"},
	{"unknown algorithm with suggestion",
	 "wan: t\ndefaults:\n  ike: aes256gcm16-prfsha384-x2519\n", 3, 30,
	 "unknown algorithm 'x2519' (did you mean 'x25519'?)"},
	{"weak sha1", "wan: t\ndefaults:\n  ike: aes256gcm16-prfsha1-x25519\n", 3, 20,
	 "'prfsha1' is weak"},
	{"weak md5", "wan: t\ndefaults:\n  ike: aes256gcm16-prfmd5-x25519\n", 3, 20,
	 "'prfmd5' is broken"},
	{"weak 3des", "wan: t\ndefaults:\n  esp: 3des\n", 3, 8, "'3des' is weak"},
	{"weak des", "wan: t\ndefaults:\n  esp: des\n", 3, 8, "'des' is broken"},
	{"weak modp1024", "wan: t\ndefaults:\n  ike: aes256gcm16-prfsha384-modp1024\n", 3, 30,
	 "'modp1024' is too small a group"},
	{"weak modp768", "wan: t\ndefaults:\n  esp: aes256gcm16-modp768\n", 3, 20,
	 "'modp768' is too small"},
	{"null encryption", "wan: t\ndefaults:\n  esp: null\n", 3, 8, "means no encryption"},
	{"esp lifetime not below ike",
	 "wan: t\ndefaults:\n  ike-lifetime: 1h\n  esp-lifetime: 1h\n", 4, 17,
	 "esp-lifetime (1h) must be shorter than ike-lifetime (1h)"},
	{"dpd timeout below interval", "wan: t\ndefaults:\n  dpd: {interval: 1s, timeout: 500ms}\n",
	 3, 32, "dpd timeout (500ms) is below its interval (1s)"},
	{"underlay inside a subnet",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 10.0.0.7}]\n",
	 12, 35, "lies inside subnet 10.0.0.0/24 of site 'hub1'"},
	{"duplicate underlay address",
	 HEAD HUB1 "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
		   "    underlay: [{name: a, address: 192.0.2.1}]\n",
	 12, 35, "underlay address 192.0.2.1 is used twice"},
	{"conflicting overrides",
	 HEAD "  - name: hub1\n    role: hub\n"
	      "    underlay: [{name: inet, address: 192.0.2.1}]\n"
	      "    esp: aes128gcm16\n"
	      "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
	      "    underlay: [{name: a, address: 192.0.2.2}]\n"
	      "    esp: chacha20poly1305\n",
	 13, 10, "they set esp to different values"},
	{"alias refused", "wan: &w t\ncontroller: *w\n", 2, 13, "aliases (*w) are not supported"},
	{"second document", "wan: t\n---\nwan: u\n", 2, 1, "a second YAML document"},
	{"nesting too deep",
	 "a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", 1,
	 35, "nesting deeper than 32 levels"},
	{"ipv6 mtu floor",
	 HEAD "  - name: hub1\n    role: hub\n"
	      "    underlay: [{name: inet, address: 192.0.2.1}]\n"
	      "    subnets: [\"2001:db8::/64\"]\n"
	      "    mtu: 1300\n"
	      "  - name: b1\n    role: spoke\n    hubs: [hub1]\n"
	      "    underlay: [{name: a, address: 192.0.2.2}]\n",
	 9, 10, "below the 1280 bytes IPv6 requires; raise mtu to at least 1342"},
};

Test(topo_check, every_error_class_has_its_position_and_message)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct intent in;
		struct diag_list d = {0};
		int rc = compile_text(cases[i].yaml, &in, &d);
		bool found = has_error(&d, cases[i].line, cases[i].col, cases[i].needle);
		if (!found)
			dump_diags(&d);
		cr_expect(rc != 0, "case '%s' must fail", cases[i].name);
		cr_expect(found, "case '%s': expected error at %u:%u containing \"%s\"",
			  cases[i].name, cases[i].line, cases[i].col, cases[i].needle);
		cr_expect(in.plan == NULL, "case '%s': no plan from an invalid file",
			  cases[i].name);
		intent_free(&in);
		diag_list_free(&d);
	}
}

Test(topo_check, all_errors_in_one_pass)
{
	const char *yaml = HEAD "  - name: hub1\n    role: hubb\n"
				"    underlay: [{name: inet, address: 192.0.2.1}]\n"
				"    subnets: [10.0.0.1/24]\n"
				"    colour: red\n";
	struct intent in;
	struct diag_list d = {0};
	cr_assert_neq(compile_text(yaml, &in, &d), 0);
	cr_expect(has_error(&d, 6, 11, "unknown role"));
	cr_expect(has_error(&d, 8, 15, "host bits"));
	cr_expect(has_error(&d, 9, 5, "unknown key 'colour'"));
	cr_expect_geq(d.errors, 3);
	/* Sorted by position. */
	for (size_t i = 1; i < d.n; i++)
		cr_expect_leq(d.items[i - 1].pos.line, d.items[i].pos.line);
	intent_free(&in);
	diag_list_free(&d);
}

Test(topo_check, shipped_topologies_are_clean)
{
	const char *src = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(src, "SDWAN_SOURCE_DIR must be set by ctest");
	const char *files[] = {"full-mesh.yaml", "hub-spoke.yaml", "hybrid.yaml"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/topologies/%s", src, files[i]);
		struct intent in;
		struct diag_list d = {0};
		int rc = intent_compile_file(path, &in, &d);
		if (d.n)
			dump_diags(&d);
		cr_expect_eq(rc, 0, "%s must be valid", files[i]);
		cr_expect_eq(d.n, 0, "%s must have no diagnostics", files[i]);
		intent_free(&in);
		diag_list_free(&d);
	}
}

Test(topo_check, hostile_size_is_refused_before_parsing)
{
	size_t len = 17u << 20;
	char *big = malloc(len + 1);
	cr_assert_not_null(big);
	memset(big, 'a', len);
	big[len] = '\0';
	struct intent in;
	struct diag_list d = {0};
	cr_expect_neq(intent_compile_buf((const uint8_t *)big, len, &in, &d), 0);
	cr_expect(has_error(&d, 0, 0, "limited to 16 MiB"));
	free(big);
	intent_free(&in);
	diag_list_free(&d);
}
