/* check_buf.c: unit tests of common/buf.c, the byte buffer under every
 * connection: growth (512 bytes, then doubling), compaction before growth,
 * the size_t overflow refusals, consume/reset/free, the tail room, and a
 * randomised run against a plain model of the bytes. */
#include "autoconfig.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/unit/unit.h"

START_TEST(test_empty)
{
	struct buf b = { 0 };

	ck_assert_uint_eq(buf_avail(&b), 0);
	/* nothing to append allocates nothing */
	ck_assert_int_eq(buf_append(&b, "x", 0), 0);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
	buf_consume(&b, 0);
	buf_reset(&b);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_growth)
{
	struct buf b = { 0 };
	char chunk[300];

	memset(chunk, 'a', sizeof(chunk));
	ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
	ck_assert_uint_eq(b.cap, 512);		/* the first allocation */
	ck_assert_uint_eq(buf_avail(&b), 5);
	ck_assert(memcmp(buf_head(&b), "hello", 5) == 0);
	ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.cap, 512);		/* 305 fits */
	ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.cap, 1024);		/* 605: doubled once */
	ck_assert_int_eq(buf_reserve(&b, 5000), 0);
	ck_assert_uint_eq(b.cap, 8192);		/* 605 + 5000: doubled to fit */
	ck_assert_uint_ge(b.cap - b.len, 5000);
	ck_assert_uint_eq(buf_avail(&b), 605);
	ck_assert(memcmp(buf_head(&b), "hello", 5) == 0);
	ck_assert_int_eq(buf_head(&b)[604], 'a');
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len + b.off + b.cap, 0);
}
END_TEST

START_TEST(test_compact_before_grow)
{
	struct buf b = { 0 };
	char chunk[400];
	char *before;

	memset(chunk, 'x', sizeof(chunk));
	chunk[399] = 'y';
	ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.cap, 512);
	buf_consume(&b, 390);			/* 10 unread at offset 390 */
	ck_assert_uint_eq(b.off, 390);
	ck_assert_uint_eq(buf_avail(&b), 10);
	before = b.data;
	/* 400 more: only 112 free at the end, but 502 once compacted */
	ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.cap, 512);
	ck_assert_ptr_eq(b.data, before);	/* no realloc */
	ck_assert_uint_eq(b.off, 0);
	ck_assert_uint_eq(buf_avail(&b), 410);
	ck_assert_int_eq(buf_head(&b)[9], 'y');	/* the old tail moved to the front */
	ck_assert_int_eq(buf_head(&b)[409], 'y');
	buf_free(&b);
}
END_TEST

START_TEST(test_consume_and_reset)
{
	struct buf b = { 0 };

	ck_assert_int_eq(buf_append(&b, "abcdef", 6), 0);
	buf_consume(&b, 2);
	ck_assert_uint_eq(buf_avail(&b), 4);
	ck_assert(memcmp(buf_head(&b), "cdef", 4) == 0);
	/* consuming the rest (or more) empties it and rewinds */
	buf_consume(&b, 4);
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_append(&b, "gh", 2), 0);
	buf_consume(&b, 100);
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_uint_eq(b.off + b.len, 0);
	/* reset drops the bytes, keeps the memory */
	ck_assert_int_eq(buf_append(&b, "ij", 2), 0);
	buf_reset(&b);
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_uint_eq(b.cap, 512);
	buf_free(&b);
}
END_TEST

START_TEST(test_tail_commit)
{
	struct buf b = { 0 };

	ck_assert_int_eq(buf_reserve(&b, 16), 0);
	memcpy(buf_tail(&b), "0123456789", 10);
	buf_commit(&b, 10);
	ck_assert_uint_eq(buf_avail(&b), 10);
	buf_consume(&b, 4);
	ck_assert_int_eq(buf_reserve(&b, 16), 0);
	memcpy(buf_tail(&b), "ab", 2);
	buf_commit(&b, 2);
	ck_assert(memcmp(buf_head(&b), "456789ab", 8) == 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_overflow_refused)
{
	struct buf b = { 0 };

	/* sizes that cannot be had are refused before any allocation */
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX / 2 + 2), -1);
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	/* len + more wraps around: refused, the bytes kept */
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 1), -1);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_uint_eq(buf_avail(&b), 3);
	ck_assert(memcmp(buf_head(&b), "abc", 3) == 0);
	ck_assert_uint_eq(b.cap, 512);
	buf_free(&b);
}
END_TEST

START_TEST(test_random_against_model)
{
	unsigned seed = unit_seed("buf against a model", 4096);
	static unsigned char model[1 << 20];
	size_t mlen = 0;
	struct buf b = { 0 };

	for (int i = 0; i < 200000; i++) {
		unsigned r = (unsigned)rand_r(&seed);

		if (r % 3 == 0 && mlen > 0) {
			size_t n = (size_t)rand_r(&seed) % (mlen + 1);

			buf_consume(&b, n);
			memmove(model, model + n, mlen - n);
			mlen -= n;
		} else if (mlen < sizeof(model) - 4096) {
			unsigned char piece[4096];
			size_t n = (size_t)rand_r(&seed) % (r % 7 == 0 ? 4096 : 64);

			for (size_t k = 0; k < n; k++)
				piece[k] = (unsigned char)rand_r(&seed);
			if (r % 2) {
				ck_assert_int_eq(buf_append(&b, piece, n), 0);
			} else {
				ck_assert_int_eq(buf_reserve(&b, n), 0);
				memcpy(buf_tail(&b), piece, n);
				buf_commit(&b, n);
			}
			memcpy(model + mlen, piece, n);
			mlen += n;
		}
		ck_assert_uint_eq(buf_avail(&b), mlen);
		ck_assert(b.off <= b.len && b.len <= b.cap);
		/* never more than twice what it ever held, plus the first 512 */
		ck_assert_uint_le(b.cap, 2 * (1 << 20) + 512);
		if (i % 97 == 0 && mlen > 0)
			ck_assert(memcmp(buf_head(&b), model, mlen) == 0);
	}
	if (mlen > 0)
		ck_assert(memcmp(buf_head(&b), model, mlen) == 0);
	buf_free(&b);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_compact_before_grow);
	tcase_add_test(tc, test_consume_and_reset);
	tcase_add_test(tc, test_tail_commit);
	tcase_add_test(tc, test_overflow_refused);
	tcase_add_test(tc, test_random_against_model);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(buf_suite());
}
