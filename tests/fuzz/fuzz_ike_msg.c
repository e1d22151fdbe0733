/*
 * libFuzzer target for the IKEv2 message codec (edge/ike/ike_msg.h).
 *
 * Each input is parsed twice: as a datagram (ike_msg_parse) and as decrypted SK content whose
 * first octet is the first payload's type (ike_msg_parse_inner), so mutations reach the typed
 * parsers directly. Whatever parses is re-encoded and checked:
 *
 *   - every payload that its typed parser accepts is rebuilt with the typed builder, and the
 *     rebuilt payload must parse back to an equal struct (transform attributes the codec does
 *     not know are not re-encoded, so unknown_attr is not compared);
 *   - an accepted message is rebuilt payload by payload (bodies as opaque octets; unknown
 *     payloads, which the parser skips, are dropped) and must parse back to the same header and
 *     payload list; rebuilding that parse again must give the same octets.
 *
 * A mismatch is a codec bug and traps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wr.h"
#include "edge/ike/ike_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool view_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* A rebuilt payload: its type, the octets it was written into, and its parsed view. */
struct rebuilt {
	uint8_t *buf;
	struct ike_build b;
	struct wr w;
	struct ike_payloads pls;
};

static void rebuilt_start(struct rebuilt *r, size_t body_len)
{
	size_t cap = body_len + 64;

	r->buf = malloc(cap);
	check(r->buf != NULL);
	r->w = wr_init(r->buf, cap);
	ike_build_init(&r->b, &r->w, NULL);
}

/* Finish the one-payload chain and return its re-parsed view. */
static const struct ike_payload *rebuilt_view(struct rebuilt *r, uint8_t type)
{
	size_t len;

	check(ike_build_finish(&r->b, &len) == 0);
	check(ike_msg_parse_inner(r->buf, len, type, &r->pls) == IKE_PARSE_OK);
	check(r->pls.n == 1 && r->pls.pl[0].type == type);
	return &r->pls.pl[0];
}

static bool sa_eq(const struct ike_sa *a, const struct ike_sa *b)
{
	if (a->n_prop != b->n_prop || a->n_xf != b->n_xf)
		return false;
	for (size_t i = 0; i < a->n_prop; i++) {
		const struct ike_proposal *p = &a->prop[i], *q = &b->prop[i];
		if (p->num != q->num || p->proto != q->proto || p->spi_size != q->spi_size ||
		    p->first != q->first || p->count != q->count ||
		    memcmp(p->spi, q->spi, p->spi_size) != 0)
			return false;
	}
	for (size_t i = 0; i < a->n_xf; i++)
		if (a->xf[i].type != b->xf[i].type || a->xf[i].id != b->xf[i].id ||
		    a->xf[i].key_len != b->xf[i].key_len)
			return false;
	return true;
}

static void rt_sa(const struct ike_payload *pl, bool response)
{
	struct ike_sa *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rebuilt r;

	check(a && b);
	if (ike_sa_parse(pl->body, pl->len, response, a) == IKE_PARSE_OK) {
		rebuilt_start(&r, pl->len);
		ike_build_sa(&r.b, a);
		const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_SA);
		check(ike_sa_parse(v->body, v->len, response, b) == IKE_PARSE_OK);
		check(sa_eq(a, b));
		free(r.buf);
	}
	free(a);
	free(b);
}

static void rt_ke(const struct ike_payload *pl)
{
	struct ike_ke a, b;
	struct rebuilt r;

	if (ike_ke_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_ke(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_KE);
	check(ike_ke_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(a.group == b.group && view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static void rt_nonce(const struct ike_payload *pl)
{
	struct ike_nonce a, b;
	struct rebuilt r;

	if (ike_nonce_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_nonce(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_NONCE);
	check(ike_nonce_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static void rt_notify(const struct ike_payload *pl)
{
	struct ike_notify a, b;
	struct rebuilt r;

	if (ike_notify_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_notify(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_NOTIFY);
	check(ike_notify_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(a.proto == b.proto && a.type == b.type &&
	      view_eq(a.spi, a.spi_size, b.spi, b.spi_size) &&
	      view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static void rt_id(const struct ike_payload *pl)
{
	struct ike_id a, b;
	struct rebuilt r;

	if (ike_id_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_id(&r.b, pl->type, &a);
	const struct ike_payload *v = rebuilt_view(&r, pl->type);
	check(ike_id_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(a.type == b.type && view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static enum ike_parse cert_parse(uint8_t type, const struct ike_payload *pl, struct ike_cert *out)
{
	if (type == IKE_PAYLOAD_CERTREQ)
		return ike_certreq_parse(pl->body, pl->len, out);
	return ike_cert_parse(pl->body, pl->len, out);
}

static void rt_cert(const struct ike_payload *pl)
{
	struct ike_cert a, b;
	struct rebuilt r;

	if (cert_parse(pl->type, pl, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_cert(&r.b, pl->type, &a);
	const struct ike_payload *v = rebuilt_view(&r, pl->type);
	check(cert_parse(pl->type, v, &b) == IKE_PARSE_OK);
	check(a.encoding == b.encoding && view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static void rt_auth(const struct ike_payload *pl)
{
	struct ike_auth a, b;
	struct rebuilt r;

	if (ike_auth_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_auth(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_AUTH);
	check(ike_auth_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(a.method == b.method && view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

static bool ts_eq(const struct ike_ts_list *a, const struct ike_ts_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct ike_ts *s = &a->ts[i], *t = &b->ts[i];
		if (s->type != t->type || s->proto != t->proto || s->start_port != t->start_port ||
		    s->end_port != t->end_port ||
		    memcmp(s->start, t->start, IKE_TS_ADDR_MAX) != 0 ||
		    memcmp(s->end, t->end, IKE_TS_ADDR_MAX) != 0)
			return false;
	}
	return true;
}

static void rt_ts(const struct ike_payload *pl)
{
	struct ike_ts_list *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rebuilt r;

	check(a && b);
	if (ike_ts_parse(pl->body, pl->len, a) == IKE_PARSE_OK) {
		rebuilt_start(&r, pl->len);
		ike_build_ts(&r.b, pl->type, a);
		const struct ike_payload *v = rebuilt_view(&r, pl->type);
		check(ike_ts_parse(v->body, v->len, b) == IKE_PARSE_OK);
		check(ts_eq(a, b));
		free(r.buf);
	}
	free(a);
	free(b);
}

static void rt_delete(const struct ike_payload *pl)
{
	struct ike_delete a, b;
	struct rebuilt r;

	if (ike_delete_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_delete(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_DELETE);
	check(ike_delete_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	size_t spis = (size_t)a.n_spi * a.spi_size;
	check(a.proto == b.proto && a.spi_size == b.spi_size && a.n_spi == b.n_spi &&
	      view_eq(a.spis, spis, b.spis, (size_t)b.n_spi * b.spi_size));
	free(r.buf);
}

static void rt_vendor(const struct ike_payload *pl)
{
	struct ike_vendor a, b;
	struct rebuilt r;

	if (ike_vendor_parse(pl->body, pl->len, &a) != IKE_PARSE_OK)
		return;
	rebuilt_start(&r, pl->len);
	ike_build_vendor(&r.b, &a);
	const struct ike_payload *v = rebuilt_view(&r, IKE_PAYLOAD_VENDOR);
	check(ike_vendor_parse(v->body, v->len, &b) == IKE_PARSE_OK);
	check(view_eq(a.data, a.len, b.data, b.len));
	free(r.buf);
}

/* SKF must end a message, so it is rebuilt inside one. */
static void rt_skf(const struct ike_payload *pl)
{
	static const struct ike_hdr hdr = {.exchange = IKE_EXCH_IKE_AUTH};
	struct ike_skf a, b;
	struct ike_msg *m = malloc(sizeof(*m));
	size_t cap = pl->len + 64, len;
	uint8_t *buf = malloc(cap);
	struct wr w = wr_init(buf, cap);
	struct ike_build bld;

	check(m && buf);
	if (ike_skf_parse(pl->body, pl->len, pl->next, &a) == IKE_PARSE_OK) {
		ike_build_init(&bld, &w, &hdr);
		ike_build_skf_begin(&bld, pl->next, a.number, a.total);
		wr_bytes(&w, a.data, a.len);
		ike_build_end(&bld);
		check(ike_build_finish(&bld, &len) == 0);
		check(ike_msg_parse(buf, len, m) == IKE_PARSE_OK && m->pls.encrypted);
		const struct ike_payload *v = &m->pls.pl[m->pls.n - 1];
		check(v->type == IKE_PAYLOAD_SKF && v->next == pl->next);
		check(ike_skf_parse(v->body, v->len, v->next, &b) == IKE_PARSE_OK);
		check(a.number == b.number && a.total == b.total &&
		      view_eq(a.data, a.len, b.data, b.len));
	}
	free(buf);
	free(m);
}

/* Run the typed parser of a payload and, if it accepts, the typed round trip. */
static void fuzz_payload(const struct ike_payload *pl)
{
	switch (pl->type) {
	case IKE_PAYLOAD_SA:
		rt_sa(pl, false);
		rt_sa(pl, true);
		break;
	case IKE_PAYLOAD_KE:
		rt_ke(pl);
		break;
	case IKE_PAYLOAD_NONCE:
		rt_nonce(pl);
		break;
	case IKE_PAYLOAD_NOTIFY:
		rt_notify(pl);
		break;
	case IKE_PAYLOAD_IDI:
	case IKE_PAYLOAD_IDR:
		rt_id(pl);
		break;
	case IKE_PAYLOAD_CERT:
	case IKE_PAYLOAD_CERTREQ:
		rt_cert(pl);
		break;
	case IKE_PAYLOAD_AUTH:
		rt_auth(pl);
		break;
	case IKE_PAYLOAD_TSI:
	case IKE_PAYLOAD_TSR:
		rt_ts(pl);
		break;
	case IKE_PAYLOAD_DELETE:
		rt_delete(pl);
		break;
	case IKE_PAYLOAD_VENDOR:
		rt_vendor(pl);
		break;
	case IKE_PAYLOAD_SKF:
		rt_skf(pl);
		break;
	default:
		break; /* SK, CP, EAP: opaque here */
	}
}

static void fuzz_payloads(const struct ike_payloads *pls)
{
	for (size_t i = 0; i < pls->n; i++)
		fuzz_payload(&pls->pl[i]);
}

/* Rebuild a parsed message: header, then each listed payload with its body as opaque octets.
 * Returns 0 and the length, or -1 if an SKF header cannot be re-encoded (it did not parse). */
static int msg_rebuild(const struct ike_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w = wr_init(buf, cap);
	struct ike_build b;

	ike_build_init(&b, &w, &m->hdr);
	for (size_t i = 0; i < m->pls.n; i++) {
		const struct ike_payload *pl = &m->pls.pl[i];
		struct ike_skf skf;

		if (pl->type == IKE_PAYLOAD_SK) {
			ike_build_sk_begin(&b, pl->next);
			wr_bytes(&w, pl->body, pl->len);
			ike_build_end(&b);
		} else if (pl->type == IKE_PAYLOAD_SKF) {
			if (ike_skf_parse(pl->body, pl->len, pl->next, &skf) != IKE_PARSE_OK)
				return -1;
			ike_build_skf_begin(&b, pl->next, skf.number, skf.total);
			wr_bytes(&w, skf.data, skf.len);
			ike_build_end(&b);
		} else {
			ike_build_raw(&b, pl->type, pl->critical, pl->body, pl->len);
		}
	}
	check(ike_build_finish(&b, len) == 0);
	return 0;
}

static bool msg_eq(const struct ike_msg *a, const struct ike_msg *b)
{
	uint8_t first = a->pls.n ? a->pls.pl[0].type : IKE_PAYLOAD_NONE;

	if (a->hdr.spi_i != b->hdr.spi_i || a->hdr.spi_r != b->hdr.spi_r ||
	    b->hdr.next_payload != first || a->hdr.major != b->hdr.major ||
	    a->hdr.minor != b->hdr.minor || a->hdr.exchange != b->hdr.exchange ||
	    a->hdr.flags != b->hdr.flags || a->hdr.msg_id != b->hdr.msg_id)
		return false;
	if (a->pls.n != b->pls.n || a->pls.encrypted != b->pls.encrypted || b->pls.skipped != 0)
		return false;
	for (size_t i = 0; i < a->pls.n; i++) {
		const struct ike_payload *p = &a->pls.pl[i], *q = &b->pls.pl[i];
		bool enc = p->type == IKE_PAYLOAD_SK || p->type == IKE_PAYLOAD_SKF;
		/* The builder sends SK/SKF with the C bit clear. */
		if (p->type != q->type || (!enc && p->critical != q->critical) ||
		    (enc && p->next != q->next) || !view_eq(p->body, p->len, q->body, q->len))
			return false;
	}
	return true;
}

static void fuzz_msg_round_trip(const struct ike_msg *m1, size_t size)
{
	/* The rebuilt message is never longer: skipped payloads go, bodies stay. */
	size_t cap = size + 64, len1, len2;
	uint8_t *y = malloc(cap), *z = malloc(cap);
	struct ike_msg *m2 = malloc(sizeof(*m2));

	check(y && z && m2);
	if (msg_rebuild(m1, y, cap, &len1) == 0) {
		check(len1 <= size);
		check(ike_msg_parse(y, len1, m2) == IKE_PARSE_OK);
		check(msg_eq(m1, m2));
		check(msg_rebuild(m2, z, cap, &len2) == 0);
		check(len1 == len2 && memcmp(y, z, len1) == 0);
	}
	free(y);
	free(z);
	free(m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ike_msg *m = malloc(sizeof(*m));
	struct ike_payloads *inner = malloc(sizeof(*inner));

	check(m && inner);
	if (ike_msg_parse(data, size, m) == IKE_PARSE_OK) {
		fuzz_payloads(&m->pls);
		fuzz_msg_round_trip(m, size);
		/* Treat an SK body as if it had decrypted to itself. */
		const struct ike_payload *last = m->pls.n ? &m->pls.pl[m->pls.n - 1] : NULL;
		if (last && last->type == IKE_PAYLOAD_SK &&
		    ike_msg_parse_inner(last->body, last->len, last->next, inner) == IKE_PARSE_OK)
			fuzz_payloads(inner);
	}
	if (size > 0 && ike_msg_parse_inner(data + 1, size - 1, data[0], inner) == IKE_PARSE_OK)
		fuzz_payloads(inner);
	free(m);
	free(inner);
	return 0;
}
