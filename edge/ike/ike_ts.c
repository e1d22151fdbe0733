/*
 * Traffic selectors (RFC 7296 §2.9, §3.13.1). Our configuration speaks prefixes; the wire speaks
 * address ranges with a protocol and a port range. A responder narrows what the initiator
 * proposes to the intersection with its own configuration; an initiator accepts a narrowed
 * answer only if it lies inside what it proposed.
 *
 * Addresses compare as 16-octet big-endian strings (IPv4 in the first 4, the rest zero), so one
 * memcmp orders them within a family.
 */
#include <string.h>

#include "edge/ike/ike_internal.h"

static uint8_t ts_type_of(uint8_t family)
{
	return family == IP_V4 ? IKE_TS_IPV4_ADDR_RANGE : IKE_TS_IPV6_ADDR_RANGE;
}

static size_t addr_len(uint8_t ts_type)
{
	return ts_type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;
}

void ike__ts_from_prefixes(const struct prefix *p, size_t n, struct ike_ts_list *out)
{
	out->n = 0;
	for (size_t i = 0; i < n && out->n < IKE_TS_MAX; i++) {
		struct ike_ts *ts = &out->ts[out->n++];
		struct ip_addr last = prefix_last_addr(&p[i]);

		memset(ts, 0, sizeof(*ts));
		ts->type = ts_type_of(p[i].addr.family);
		ts->proto = 0;
		ts->start_port = 0;
		ts->end_port = 65535;
		memcpy(ts->start, p[i].addr.bytes, addr_len(ts->type));
		memcpy(ts->end, last.bytes, addr_len(ts->type));
	}
}

static bool opaque(const struct ike_ts *t)
{
	return t->start_port == IKE_TS_PORT_OPAQUE_START && t->end_port == IKE_TS_PORT_OPAQUE_END;
}

/* The intersection of two selectors into *out; false if empty. */
static bool ts_intersect(const struct ike_ts *a, const struct ike_ts *b, struct ike_ts *out)
{
	if (a->type != b->type)
		return false;
	if (a->proto != 0 && b->proto != 0 && a->proto != b->proto)
		return false;
	memset(out, 0, sizeof(*out));
	out->type = a->type;
	out->proto = a->proto ? a->proto : b->proto;
	if (opaque(a) || opaque(b)) {
		/* OPAQUE only survives against itself or "all ports". */
		const struct ike_ts *o = opaque(a) ? b : a;
		if (!opaque(o) && !(o->start_port == 0 && o->end_port == 65535))
			return false;
		out->start_port = IKE_TS_PORT_OPAQUE_START;
		out->end_port = IKE_TS_PORT_OPAQUE_END;
	} else {
		out->start_port = a->start_port > b->start_port ? a->start_port : b->start_port;
		out->end_port = a->end_port < b->end_port ? a->end_port : b->end_port;
		if (out->start_port > out->end_port)
			return false;
	}
	const uint8_t *lo = memcmp(a->start, b->start, IKE_TS_ADDR_MAX) > 0 ? a->start : b->start;
	const uint8_t *hi = memcmp(a->end, b->end, IKE_TS_ADDR_MAX) < 0 ? a->end : b->end;
	if (memcmp(lo, hi, IKE_TS_ADDR_MAX) > 0)
		return false;
	memcpy(out->start, lo, IKE_TS_ADDR_MAX);
	memcpy(out->end, hi, IKE_TS_ADDR_MAX);
	return true;
}

bool ike__ts_narrow(const struct ike_ts_list *offered, const struct prefix *cfg, size_t n,
		    struct ike_ts_list *out)
{
	struct ike_ts_list mine;

	ike__ts_from_prefixes(cfg, n, &mine);
	out->n = 0;
	for (size_t i = 0; i < offered->n; i++)
		for (size_t j = 0; j < mine.n && out->n < IKE_TS_MAX; j++)
			if (ts_intersect(&offered->ts[i], &mine.ts[j], &out->ts[out->n]))
				out->n++;
	return out->n > 0;
}

/* Whether a lies inside b. */
static bool ts_inside(const struct ike_ts *a, const struct ike_ts *b)
{
	struct ike_ts x;

	if (!ts_intersect(a, b, &x))
		return false;
	return x.proto == a->proto && x.start_port == a->start_port && x.end_port == a->end_port &&
	       memcmp(x.start, a->start, IKE_TS_ADDR_MAX) == 0 &&
	       memcmp(x.end, a->end, IKE_TS_ADDR_MAX) == 0;
}

bool ike__ts_subset(const struct ike_ts_list *got, const struct ike_ts_list *allowed)
{
	if (got->n == 0)
		return false;
	for (size_t i = 0; i < got->n; i++) {
		bool in = false;
		for (size_t j = 0; j < allowed->n && !in; j++)
			in = ts_inside(&got->ts[i], &allowed->ts[j]);
		if (!in)
			return false;
	}
	return true;
}

/* The prefix length if [start, end] is exactly one prefix, else -1: after the common leading
 * bits, start has only zeros and end only ones. */
static int range_prefix_len(const struct ike_ts *t)
{
	size_t bits = addr_len(t->type) * 8;
	int plen = -1;

	for (size_t b = 0; b < bits; b++) {
		unsigned s = t->start[b / 8] >> (7 - b % 8) & 1;
		unsigned e = t->end[b / 8] >> (7 - b % 8) & 1;
		if (plen < 0 && s == e)
			continue;
		if (plen < 0)
			plen = (int)b;
		if (s != 0 || e != 1)
			return -1;
	}
	return plen < 0 ? (int)bits : plen;
}

char *ike__ts_format(const struct ike_ts_list *ts, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < ts->n; i++) {
		const struct ike_ts *t = &ts->ts[i];
		struct ip_addr a = {.family = t->type == IKE_TS_IPV4_ADDR_RANGE ? IP_V4 : IP_V6};
		struct ip_addr b = a;
		char sa[IP_ADDR_STRLEN], sb[IP_ADDR_STRLEN];
		int plen = range_prefix_len(t);

		memcpy(a.bytes, t->start, sizeof(a.bytes));
		memcpy(b.bytes, t->end, sizeof(b.bytes));
		ip_addr_format(&a, sa);
		if (plen >= 0)
			ike__appendf(buf, cap, "%s%s/%d", i ? "," : "", sa, plen);
		else
			ike__appendf(buf, cap, "%s%s-%s", i ? "," : "", sa, ip_addr_format(&b, sb));
		if (t->proto != 0)
			ike__appendf(buf, cap, "[proto %u]", (unsigned)t->proto);
		if (opaque(t))
			ike__appendf(buf, cap, "[opaque]");
		else if (t->start_port != 0 || t->end_port != 65535)
			ike__appendf(buf, cap, "[ports %u-%u]", (unsigned)t->start_port,
				     (unsigned)t->end_port);
	}
	return buf;
}
