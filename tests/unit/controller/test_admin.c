/*
 * The admin protocol framing: frames split at every byte boundary, several frames in one read,
 * empty frames, a declared length over the limit, and a request/response round trip through the
 * framing (the codec sdwanctl and the controller share).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/admin.h"

/* NOLINTBEGIN(readability-function-size): Criterion assertion macros nest deeply. */

static size_t status_frame(uint8_t **out)
{
	Sdwan__Admin__StatusRequest sr = SDWAN__ADMIN__STATUS_REQUEST__INIT;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_STATUS;
	rq.status = &sr;
	size_t len = 0;
	cr_assert_eq(admin_request_frame(&rq, out, &len), 0);
	return len;
}

Test(admin, frame_split_at_every_byte)
{
	Sdwan__Admin__TokenCreateRequest tc = SDWAN__ADMIN__TOKEN_CREATE_REQUEST__INIT;
	tc.site = (char *)"branch1";
	tc.ttl_ms = 3600000;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_TOKEN_CREATE;
	rq.token_create = &tc;
	uint8_t *f = NULL;
	size_t len = 0;
	cr_assert_eq(admin_request_frame(&rq, &f, &len), 0);
	cr_assert_gt(len, ADMIN_HEADER_LEN);
	for (size_t cut = 0; cut <= len; cut++) {
		struct admin_reader r = {0};
		const uint8_t *p = NULL;
		size_t plen = 0;
		cr_assert_eq(admin_reader_feed(&r, f, cut), 0);
		int got = admin_reader_next(&r, &p, &plen);
		if (cut < len) {
			cr_assert_eq(got, 0, "cut %zu: no frame yet", cut);
			cr_assert_eq(admin_reader_feed(&r, f + cut, len - cut), 0);
			got = admin_reader_next(&r, &p, &plen);
		}
		cr_assert_eq(got, 1, "cut %zu", cut);
		cr_assert_eq(plen, len - ADMIN_HEADER_LEN);
		Sdwan__Admin__AdminRequest *back =
			sdwan__admin__admin_request__unpack(NULL, plen, p);
		cr_assert_not_null(back);
		cr_expect_eq(back->body_case, SDWAN__ADMIN__ADMIN_REQUEST__BODY_TOKEN_CREATE);
		cr_expect_str_eq(back->token_create->site, "branch1");
		cr_expect_eq(back->token_create->ttl_ms, 3600000);
		sdwan__admin__admin_request__free_unpacked(back, NULL);
		cr_expect_eq(admin_reader_next(&r, &p, &plen), 0, "nothing left");
		admin_reader_free(&r);
	}
	free(f);
}

Test(admin, several_frames_in_one_read_and_empty_frames)
{
	uint8_t *a = NULL;
	size_t alen = status_frame(&a);
	uint8_t empty[ADMIN_HEADER_LEN];
	admin_header_put(empty, 0);
	size_t total = 2 * alen + sizeof(empty);
	uint8_t *buf = malloc(total);
	memcpy(buf, a, alen);
	memcpy(buf + alen, empty, sizeof(empty));
	memcpy(buf + alen + sizeof(empty), a, alen);
	struct admin_reader r = {0};
	cr_assert_eq(admin_reader_feed(&r, buf, total), 0);
	const uint8_t *p = NULL;
	size_t plen = 0;
	cr_assert_eq(admin_reader_next(&r, &p, &plen), 1);
	cr_expect_eq(plen, alen - ADMIN_HEADER_LEN);
	cr_assert_eq(admin_reader_next(&r, &p, &plen), 1);
	cr_expect_eq(plen, 0, "an empty frame is a frame");
	cr_assert_eq(admin_reader_next(&r, &p, &plen), 1);
	cr_expect_eq(plen, alen - ADMIN_HEADER_LEN);
	cr_expect_eq(admin_reader_next(&r, &p, &plen), 0);
	admin_reader_free(&r);
	free(buf);
	free(a);
}

Test(admin, declared_length_over_limit_is_refused)
{
	uint8_t hdr[ADMIN_HEADER_LEN] = {0xff, 0xff, 0xff, 0xff};
	struct admin_reader r = {0};
	const uint8_t *p = NULL;
	size_t plen = 0;
	cr_expect_eq(admin_reader_feed(&r, hdr, 2), 0, "half a header says nothing yet");
	cr_expect_eq(admin_reader_next(&r, &p, &plen), 0);
	cr_expect_eq(admin_reader_feed(&r, hdr + 2, 2), -EMSGSIZE);
	cr_expect_eq(admin_reader_next(&r, &p, &plen), -EMSGSIZE);
	admin_reader_free(&r);
	admin_header_put(hdr, ADMIN_FRAME_MAX);
	struct admin_reader r2 = {0};
	cr_expect_eq(admin_reader_feed(&r2, hdr, sizeof(hdr)), 0, "exactly the limit is allowed");
	admin_reader_free(&r2);
}

Test(admin, response_round_trip)
{
	Sdwan__Admin__SiteStatus s = SDWAN__ADMIN__SITE_STATUS__INIT;
	s.site = (char *)"hub-east";
	s.connected = true;
	s.tunnels_total = 4;
	s.tunnels_up = 3;
	s.generation = 9;
	s.generation_applied = 8;
	Sdwan__Admin__SiteStatus *sv[] = {&s};
	Sdwan__Admin__Status st = SDWAN__ADMIN__STATUS__INIT;
	st.wan = (char *)"acme";
	st.generation = 2;
	st.sites = sv;
	st.n_sites = 1;
	Sdwan__Admin__AdminResponse r = SDWAN__ADMIN__ADMIN_RESPONSE__INIT;
	r.ok = true;
	r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_STATUS;
	r.status = &st;
	uint8_t *f = NULL;
	size_t len = 0;
	cr_assert_eq(admin_response_frame(&r, &f, &len), 0);
	struct admin_reader rd = {0};
	const uint8_t *p = NULL;
	size_t plen = 0;
	cr_assert_eq(admin_reader_feed(&rd, f, len), 0);
	cr_assert_eq(admin_reader_next(&rd, &p, &plen), 1);
	Sdwan__Admin__AdminResponse *back = sdwan__admin__admin_response__unpack(NULL, plen, p);
	cr_assert_not_null(back);
	cr_expect(back->ok);
	cr_assert_eq(back->body_case, SDWAN__ADMIN__ADMIN_RESPONSE__BODY_STATUS);
	cr_expect_str_eq(back->status->wan, "acme");
	cr_assert_eq(back->status->n_sites, 1);
	cr_expect_eq(back->status->sites[0]->tunnels_up, 3);
	cr_expect_eq(back->status->sites[0]->generation_applied, 8);
	sdwan__admin__admin_response__free_unpacked(back, NULL);
	admin_reader_free(&rd);
	free(f);
}

Test(admin, client_connect_to_missing_socket_fails_cleanly)
{
	cr_expect_eq(admin_client_connect("/nonexistent/dir/admin.sock"), -ENOENT);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cr_expect_eq(admin_client_connect(longp), -ENAMETOOLONG);
}

/* NOLINTEND(readability-function-size) */
