#include "common/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *unit;
	uint64_t ms;
} units[] = {
	{"d", 86400000ull}, {"h", 3600000ull}, {"m", 60000ull}, {"s", 1000ull}, {"ms", 1ull},
};

static const uint64_t max_ms = 100ull * 365 * 86400000ull;

int duration_parse(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		uint64_t v = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > max_ms)
				return -ERANGE;
			p++;
		}
		const char *u = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		size_t ulen = (size_t)(p - u);
		bool found = false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strlen(units[i].unit) == ulen && strncmp(u, units[i].unit, ulen) == 0) {
				if (v > max_ms / units[i].ms)
					return -ERANGE;
				total += v * units[i].ms;
				found = true;
				break;
			}
		}
		if (!found)
			return -EINVAL;
		if (total > max_ms)
			return -ERANGE;
	}
	*ms = total;
	return 0;
}

char *duration_format(uint64_t ms, char buf[static DURATION_STRLEN])
{
	size_t off = 0;
	if (ms == 0) {
		snprintf(buf, DURATION_STRLEN, "0s");
		return buf;
	}
	/* Days are shown as hours ("24h"), the way IPsec lifetimes are usually written. */
	for (size_t i = 1; i < sizeof(units) / sizeof(units[0]) && ms; i++) {
		uint64_t v = ms / units[i].ms;
		if (v == 0)
			continue;
		int n = snprintf(buf + off, DURATION_STRLEN - off, "%llu%s", (unsigned long long)v,
				 units[i].unit);
		if (n < 0 || (size_t)n >= DURATION_STRLEN - off)
			break;
		off += (size_t)n;
		ms -= v * units[i].ms;
	}
	return buf;
}
