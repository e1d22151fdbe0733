#include "common/prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned ip_family_bits(uint8_t family)
{
	return family == IP_V4 ? 32 : 128;
}

int ip_addr_parse(const char *s, struct ip_addr *out)
{
	struct ip_addr a;
	memset(&a, 0, sizeof(a));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, a.bytes) != 1)
			return -EINVAL;
		a.family = IP_V6;
	} else {
		/* inet_pton rejects the shorthand and octal forms inet_aton would accept. */
		if (inet_pton(AF_INET, s, a.bytes) != 1)
			return -EINVAL;
		a.family = IP_V4;
	}
	*out = a;
	return 0;
}

char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN])
{
	int af = a->family == IP_V4 ? AF_INET : AF_INET6;
	if (!inet_ntop(af, a->bytes, buf, IP_ADDR_STRLEN))
		snprintf(buf, IP_ADDR_STRLEN, "?");
	return buf;
}

static void mask_to(uint8_t bytes[16], unsigned len, unsigned bits)
{
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep;
		if (len >= (i + 1) * 8)
			keep = 8;
		else if (len <= i * 8)
			keep = 0;
		else
			keep = len - i * 8;
		bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int prefix_parse(const char *s, struct prefix *out, bool *host_bits_set)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || slash[1] == '\0')
		return -EINVAL;
	size_t alen = (size_t)(slash - s);
	char abuf[IP_ADDR_STRLEN];
	if (alen >= sizeof(abuf))
		return -EINVAL;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';

	struct prefix p;
	memset(&p, 0, sizeof(p));
	if (ip_addr_parse(abuf, &p.addr) != 0)
		return -EINVAL;
	const char *num = slash + 1;
	unsigned long len = 0;
	for (const char *c = num; *c; c++) {
		if (*c < '0' || *c > '9' || c - num > 2)
			return -EINVAL;
		len = len * 10 + (unsigned long)(*c - '0');
	}
	unsigned bits = ip_family_bits(p.addr.family);
	if (len > bits)
		return -EINVAL;
	p.len = (uint8_t)len;
	struct ip_addr unmasked = p.addr;
	mask_to(p.addr.bytes, p.len, bits);
	*host_bits_set = memcmp(unmasked.bytes, p.addr.bytes, sizeof(p.addr.bytes)) != 0;
	*out = p;
	return 0;
}

char *prefix_format(const struct prefix *p, char buf[static PREFIX_STRLEN])
{
	char abuf[IP_ADDR_STRLEN];
	ip_addr_format(&p->addr, abuf);
	snprintf(buf, PREFIX_STRLEN, "%s/%u", abuf, p->len);
	return buf;
}

bool prefix_contains_addr(const struct prefix *p, const struct ip_addr *a)
{
	if (p->addr.family != a->family)
		return false;
	struct ip_addr masked = *a;
	mask_to(masked.bytes, p->len, ip_family_bits(a->family));
	return memcmp(masked.bytes, p->addr.bytes, sizeof(masked.bytes)) == 0;
}

bool prefix_overlaps(const struct prefix *a, const struct prefix *b)
{
	const struct prefix *shorter = a->len <= b->len ? a : b;
	const struct prefix *longer = shorter == a ? b : a;
	return prefix_contains_addr(shorter, &longer->addr);
}

int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	int c = ip_addr_cmp(&a->addr, &b->addr);
	if (c)
		return c;
	return (int)a->len - (int)b->len;
}

bool ip_addr_is_unicast(const struct ip_addr *a)
{
	static const uint8_t zero[16];
	if (a->family == IP_V4) {
		const uint8_t *b = a->bytes;
		if (b[0] == 0 || b[0] == 127 || b[0] >= 224)
			return false; /* this-network, loopback, multicast, reserved, broadcast */
		return true;
	}
	if (memcmp(a->bytes, zero, 16) == 0)
		return false; /* :: */
	if (memcmp(a->bytes, zero, 15) == 0 && a->bytes[15] == 1)
		return false; /* ::1 */
	return a->bytes[0] != 0xff;
}

struct ip_addr prefix_last_addr(const struct prefix *p)
{
	struct ip_addr a = p->addr;
	unsigned bits = ip_family_bits(a.family);
	for (unsigned i = p->len; i < bits; i++)
		a.bytes[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	return a;
}
