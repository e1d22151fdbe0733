/* Durations: "200ms", "30s", "24h", "1h30m"; bare numbers and unknown units refused. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/duration.h"

Test(duration, parse)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {{"200ms", 200},    {"30s", 30000},    {"5m", 300000},
		  {"24h", 86400000}, {"1d", 86400000},  {"1h30m", 5400000},
		  {"0s", 0},         {"1s500ms", 1500}, {"100ms", 100}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ms = 1;
		cr_expect_eq(duration_parse(ok[i].s, &ms), 0, "%s", ok[i].s);
		cr_expect_eq(ms, ok[i].ms, "%s", ok[i].s);
	}
}

Test(duration, refuse)
{
	const char *bad[] = {"", "30", "s", "30 s", "1.5s", "-1s", "30sec", "1h30", "ms10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms;
		cr_expect_eq(duration_parse(bad[i], &ms), -EINVAL, "'%s'", bad[i]);
	}
	uint64_t ms;
	cr_expect_eq(duration_parse("99999999999999999999d", &ms), -ERANGE);
	cr_expect_eq(duration_parse("36501d", &ms), -ERANGE);
}

Test(duration, format_round_trip)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} v[] = {{86400000, "24h"},
		 {5400000, "1h30m"},
		 {250, "250ms"},
		 {0, "0s"},
		 {1500, "1s500ms"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[DURATION_STRLEN];
		cr_expect_str_eq(duration_format(v[i].ms, buf), v[i].s);
		uint64_t back;
		cr_expect_eq(duration_parse(buf, &back), 0);
		cr_expect_eq(back, v[i].ms);
	}
}
