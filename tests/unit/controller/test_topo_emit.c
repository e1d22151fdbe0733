/*
 * The schema round trip: every shipped topology, and a file using every key, loads, writes back
 * as canonical YAML, and loads again into the same model and plan; writing that again gives
 * the same text.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "controller/plan_json.h"
#include "controller/topo_emit.h"
#include "tests/unit/controller/intent_helpers.h"

static char *emit(const struct topo *t, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	cr_assert_not_null(f);
	topo_emit_yaml(t, f);
	fclose(f);
	return buf;
}

static char *plan_json(const struct plan *p)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	plan_json_write(p, f, false);
	fclose(f);
	return buf;
}

static void round_trip(const char *label, const char *yaml)
{
	struct intent a, b;
	struct diag_list d = {0};
	int rc = compile_text(yaml, &a, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0, "%s must compile", label);
	size_t len1, len2;
	char *once = emit(a.topo, &len1);
	rc = compile_text(once, &b, &d);
	if (rc) {
		dump_diags(&d);
		fprintf(stderr, "%s", once);
	}
	cr_assert_eq(rc, 0, "%s: the emitted YAML must compile", label);
	char *twice = emit(b.topo, &len2);
	cr_expect_str_eq(once, twice, "%s: emitting is a fixed point", label);
	char *ja = plan_json(a.plan), *jb = plan_json(b.plan);
	cr_expect_str_eq(ja, jb, "%s: same plan after the round trip", label);
	/* And the model itself: every site and every override flag survives. */
	cr_assert_eq(a.topo->n_sites, b.topo->n_sites);
	for (size_t i = 0; i < a.topo->n_sites; i++)
		cr_expect_eq(a.topo->sites[i].overrides.set, b.topo->sites[i].overrides.set,
			     "%s: overrides of site %zu", label, i);
	free(once);
	free(twice);
	free(ja);
	free(jb);
	intent_free(&a);
	intent_free(&b);
	diag_list_free(&d);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	char *buf = malloc(1 << 20);
	cr_assert_not_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(topo_emit, shipped_topologies_round_trip)
{
	const char *src = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(src);
	const char *files[] = {"full-mesh.yaml", "hub-spoke.yaml", "hybrid.yaml",
			       "external-gateway.yaml"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/topologies/%s", src, files[i]);
		char *text = slurp(path);
		round_trip(files[i], text);
		free(text);
	}
}

Test(topo_emit, every_key_round_trips)
{
	round_trip(
		"every key",
		"wan: all\n"
		"controller: {endpoint: \"tcp://[2001:db8::10]:7800\",\n"
		"             enroll-endpoint: \"tcp://192.0.2.10:7801\"}\n"
		"type: hybrid\n"
		"defaults:\n"
		"  ike: chacha20poly1305-prfsha512-ecp256\n"
		"  esp: aes128gcm16-noesn\n"
		"  ike-lifetime: 12h\n"
		"  esp-lifetime: 90m\n"
		"  dpd: {interval: 250ms, timeout: 1s, mode: on-demand}\n"
		"  auth: psk\n"
		"  mtu: 1400\n"
		"  hold-down: 1m\n"
		"sites:\n"
		"  - name: h\n    role: hub\n"
		"    underlay: [{name: a, address: \"2001:db8::1\"}, {name: b, address: 192.0.2.1}]\n"
		"    subnets: [10.0.0.0/16, \"2001:db8:1::/48\"]\n"
		"    dpd: {interval: 500ms}\n"
		"  - name: s\n    role: spoke\n    hubs: [h]\n"
		"    underlay: [{name: lte, address: dynamic}]\n"
		"    subnets: [10.1.0.0/24]\n"
		"    mtu: 1380\n    hold-down: 5s\n    esp-lifetime: 30m\n"
		"  - name: p\n    role: peer\n"
		"    underlay: [{name: a, address: 192.0.2.9}]\n"
		"    auth: psk\n    ike: aes256gcm16-prfsha384-x25519\n");
}
