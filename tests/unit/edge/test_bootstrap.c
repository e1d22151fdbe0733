/*
 * The bootstrap file (edge/bootstrap.h): the seed files of the fuzz corpus are parsed and their
 * verdicts checked one by one, so the corpus and the parser cannot drift apart.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/bootstrap.h"

static int load(const char *name, struct bootstrap *b, struct diag_list *d)
{
	char path[512];
	const char *src = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(src);
	(void)snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/bootstrap/%s", src, name);
	return bootstrap_load(path, b, d);
}

Test(bootstrap, minimal_file)
{
	struct bootstrap b;
	struct diag_list d = {0};
	cr_assert_eq(load("valid_minimal", &b, &d), 0);
	cr_assert_str_eq(b.controller, "tcp://192.0.2.1:7800");
	cr_assert_eq(strncmp(b.token, "sdwan1.branch-1.", 16), 0);
	cr_assert_str_eq(b.controller_key, "");
	cr_assert_str_eq(b.enroll_endpoint, "");
	bootstrap_clear(&b);
	diag_list_free(&d);
}

Test(bootstrap, full_file)
{
	struct bootstrap b;
	struct diag_list d = {0};
	cr_assert_eq(load("valid_full", &b, &d), 0);
	cr_assert_eq(strlen(b.controller_key), 64);
	cr_assert_str_eq(b.enroll_endpoint, "tcp://192.0.2.1:9000");
	bootstrap_clear(&b);
	diag_list_free(&d);
}

Test(bootstrap, refusals_say_why_and_leave_nothing)
{
	const char *bad[] = {"bad_unknown_key", "bad_no_token",      "bad_types", "bad_endpoint",
			     "bad_not_mapping", "bad_uppercase_key", "empty"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bootstrap b;
		struct diag_list d = {0};
		cr_assert_neq(load(bad[i], &b, &d), 0, "%s accepted", bad[i]);
		cr_assert_gt(d.errors, 0, "%s refused without a reason", bad[i]);
		cr_assert_str_eq(b.token, "", "%s left the token behind", bad[i]);
		diag_list_free(&d);
	}
}

Test(bootstrap, missing_file)
{
	struct bootstrap b;
	struct diag_list d = {0};
	cr_assert_neq(load("no-such-file", &b, &d), 0);
	cr_assert_gt(d.errors, 0);
	diag_list_free(&d);
}
