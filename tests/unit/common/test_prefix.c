/* Addresses and prefixes: parsing, host bits, containment, ordering, formatting. */
#include <criterion/criterion.h>

#include "common/prefix.h"

static struct prefix P(const char *s) {
	struct prefix p;
	bool host;
	cr_assert_eq(prefix_parse(s, &p, &host), 0, "%s", s);
	return p;
}

static struct ip_addr
A(const char *s) {
	struct ip_addr a;
	cr_assert_eq(ip_addr_parse(s, &a), 0, "%s", s);
	return a;
}

Test(prefix, parse_and_format_round_trip)
{
	const char *ok[] = {"10.0.0.0/8", "0.0.0.0/0",       "192.0.2.1/32",   "2001:db8::/32",
			    "::/0",       "2001:db8::1/128", "fd00:1:2:3::/64"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char buf[PREFIX_STRLEN];
		struct prefix p = P(ok[i]);
		cr_expect_str_eq(prefix_format(&p, buf), ok[i]);
	}
}

Test(prefix, malformed_is_refused)
{
	const char *bad[] = {"10.0.0.0",  "10.0.0.0/",   "10.0.0.0/33",   "/24",
			     "10.0.0/24", "010.0.0.0/8", "10.0.0.0/-1",   "2001:db8::/129",
			     "x/1",       "10.0.0.0/2a", "10.0.0.0/0024", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct prefix p;
		bool host;
		cr_expect_neq(prefix_parse(bad[i], &p, &host), 0, "'%s' must be refused", bad[i]);
	}
}

Test(prefix, host_bits_are_detected_and_masked)
{
	struct prefix p;
	bool host;
	char buf[PREFIX_STRLEN];
	cr_assert_eq(prefix_parse("10.1.2.3/16", &p, &host), 0);
	cr_expect(host);
	cr_expect_str_eq(prefix_format(&p, buf), "10.1.0.0/16");
	cr_assert_eq(prefix_parse("2001:db8::1/64", &p, &host), 0);
	cr_expect(host);
	cr_expect_str_eq(prefix_format(&p, buf), "2001:db8::/64");
	cr_assert_eq(prefix_parse("10.1.0.0/16", &p, &host), 0);
	cr_expect(!host);
	cr_assert_eq(prefix_parse("10.1.128.0/17", &p, &host), 0);
	cr_expect(!host);
	cr_assert_eq(prefix_parse("10.1.128.0/16", &p, &host), 0);
	cr_expect(host);
}

Test(prefix, containment_and_overlap)
{
	struct prefix net = P("10.1.0.0/16");
	struct ip_addr in = A("10.1.255.255"), out = A("10.2.0.0"), v6 = A("::ffff:10.1.0.1");
	cr_expect(prefix_contains_addr(&net, &in));
	cr_expect(!prefix_contains_addr(&net, &out));
	cr_expect(!prefix_contains_addr(&net, &v6), "families never mix");
	struct prefix a = P("10.1.2.0/24"), b = P("10.1.3.0/24"), all = P("0.0.0.0/0");
	cr_expect(prefix_overlaps(&net, &a));
	cr_expect(prefix_overlaps(&a, &net));
	cr_expect(!prefix_overlaps(&a, &b));
	cr_expect(prefix_overlaps(&all, &b));
	struct prefix s6 = P("2001:db8::/48"), t6 = P("2001:db8:0:8000::/49");
	cr_expect(prefix_overlaps(&s6, &t6));
	struct ip_addr last = prefix_last_addr(&a);
	char buf[IP_ADDR_STRLEN];
	cr_expect_str_eq(ip_addr_format(&last, buf), "10.1.2.255");
}

Test(prefix, ordering)
{
	struct prefix a = P("10.0.0.0/8"), b = P("10.0.0.0/16"), c = P("10.1.0.0/16"),
		      d = P("::/0");
	cr_expect_lt(prefix_cmp(&a, &b), 0, "shorter first at the same address");
	cr_expect_lt(prefix_cmp(&b, &c), 0);
	cr_expect_lt(prefix_cmp(&c, &d), 0, "IPv4 before IPv6");
	cr_expect_eq(prefix_cmp(&a, &a), 0);
}

Test(prefix, unicast_classification)
{
	const char *no[] = {"0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255",
			    "::",      "::1",       "ff02::1"};
	const char *yes[] = {"192.0.2.1", "10.0.0.1", "2001:db8::1", "fe80::1"};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct ip_addr a = A(no[i]);
		cr_expect(!ip_addr_is_unicast(&a), "%s", no[i]);
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct ip_addr a = A(yes[i]);
		cr_expect(ip_addr_is_unicast(&a), "%s", yes[i]);
	}
}
