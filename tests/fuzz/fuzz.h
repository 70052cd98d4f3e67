/* tests/fuzz/fuzz.h: what every fuzz target shares: the invariant check
 * that stops the run with a reason (and a trap, so libFuzzer saves the
 * input as a crash), and a reader of control bytes taken from the front of
 * the fuzzer's input. Header-only; each target is one translation unit. */
#ifndef DSMTP_FUZZ_H
#define DSMTP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* an invariant of the parser under test: print which one, then trap */
#define FUZZ_CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n  ",	\
			    __FILE__, __LINE__, #cond);				\
			fprintf(stderr, __VA_ARGS__);				\
			fputc('\n', stderr);					\
			__builtin_trap();					\
		}								\
	} while (0)

/* Each check for a bug already reported has a name (README lists them).
 * DSMTP_FUZZ_SKIP="name,name" turns those checks off, so a developer can
 * look for the next bug while one is still open; run.sh never sets it. */
static inline bool
fuzz_checking(const char *name)
{
	const char *skip = getenv("DSMTP_FUZZ_SKIP"), *p;
	size_t n = strlen(name);

	if (skip == NULL)
		return true;
	for (p = skip; (p = strstr(p, name)) != NULL; p += n)
		if ((p == skip || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return false;
	return true;
}

/* control bytes: taken from the front of the input, zero when it runs out */
struct fuzz_in {
	const uint8_t	*p;
	size_t		 n;
};

static inline uint8_t
fuzz_byte(struct fuzz_in *in)
{
	uint8_t b;

	if (in->n == 0)
		return 0;
	b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

static inline uint16_t
fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_byte(in);

	return (uint16_t)(hi << 8 | fuzz_byte(in));
}

/* a small deterministic generator for chunk sizes (xorshift32) */
static inline uint32_t
fuzz_rand(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

#endif
