/* The bounds-checked reader and the sticky-overflow writer. */
#include <criterion/criterion.h>

#include "common/rd.h"
#include "common/wr.h"

Test(rd, reads_in_network_order_and_refuses_overruns)
{
	const uint8_t buf[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	struct rd r = rd_init(buf, sizeof(buf));
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	cr_assert(rd_u8(&r, &a));
	cr_assert(rd_u16(&r, &b));
	cr_assert(rd_u32(&r, &c));
	cr_expect_eq(a, 1);
	cr_expect_eq(b, 0x0203);
	cr_expect_eq(c, 0x04050607);
	cr_expect_eq(rd_left(&r), 8);
	cr_assert(rd_u64(&r, &d));
	cr_expect_eq(d, 0x08090a0b0c0d0e0full);
	cr_expect(rd_done(&r));
	cr_expect(!rd_u8(&r, &a));
	r.off = 13;
	size_t before = r.off;
	cr_expect(!rd_u32(&r, &c), "a short read fails");
	cr_expect_eq(r.off, before, "and leaves the cursor alone");
	cr_expect(!rd_skip(&r, SIZE_MAX), "no overflow in the bounds check");
	const uint8_t *view;
	cr_expect(!rd_bytes(&r, 3, &view));
	cr_expect(rd_bytes(&r, 2, &view));
	cr_expect_eq(view[0], 14);
}

Test(rd, sub_readers_are_confined)
{
	const uint8_t buf[] = {0, 3, 'a', 'b', 'c', 'd'};
	struct rd r = rd_init(buf, sizeof(buf)), sub;
	uint16_t len;
	cr_assert(rd_u16(&r, &len));
	cr_assert(rd_sub(&r, len, &sub));
	cr_expect_eq(rd_left(&sub), 3);
	cr_expect(rd_skip(&sub, 3));
	uint8_t x;
	cr_expect(!rd_u8(&sub, &x), "cannot read past the declared length");
	cr_expect(rd_u8(&r, &x));
	cr_expect_eq(x, 'd');
	struct rd r2 = rd_init(buf, 2);
	cr_expect(!rd_sub(&r2, 3, &sub));
	const uint8_t *tail;
	size_t n;
	rd_tail(&r2, &tail, &n);
	cr_expect_eq(n, 2);
	cr_expect(rd_done(&r2));
}

Test(wr, writes_and_back_patches)
{
	uint8_t buf[16];
	struct wr w = wr_init(buf, sizeof(buf));
	wr_u8(&w, 0xaa);
	size_t at = wr_mark(&w);
	wr_u16(&w, 0);
	wr_u32(&w, 0x01020304);
	wr_patch_u16(&w, at, (uint16_t)wr_len(&w));
	cr_assert(wr_ok(&w));
	const uint8_t want[] = {0xaa, 0, 7, 1, 2, 3, 4};
	cr_expect_arr_eq(buf, want, sizeof(want));
}

Test(wr, overflow_is_sticky)
{
	uint8_t buf[4];
	struct wr w = wr_init(buf, sizeof(buf));
	wr_u16(&w, 1);
	wr_u32(&w, 2);
	cr_expect(!wr_ok(&w));
	wr_u8(&w, 3);
	cr_expect(!wr_ok(&w));
	cr_expect_eq(wr_len(&w), 2, "nothing written after the overflow");
	wr_patch_u32(&w, 0, 1);
	cr_expect(!wr_ok(&w));
}
