/* retry.c: when a deferred recipient is tried again (DESIGN.md section 5,
 * send.retry): retry.first seconds after the first failure, doubling after
 * each further one, capped at retry.max; after retry.lifetime from arrival
 * a recipient still pending fails. Pure arithmetic, unit-tested. */
#include "autoconfig.h"

#include "smtpc/smtpc.h"

unsigned
smtpc_retry_delay(unsigned first, unsigned max, unsigned attempts)
{
	uint64_t d = first ? first : 1;

	if (attempts == 0)
		return 0;
	/* doubling, without overflow: stop as soon as max is reached */
	for (unsigned i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (max > 0 && d > max)
		d = max;
	return (unsigned)d;
}

bool
smtpc_retry_expired(int64_t arrival, unsigned lifetime, int64_t now)
{
	/* times are whole seconds: ">" errs late, never before the lifetime
	 * (">=" expired a message created at x.999 one millisecond later) */
	return now - arrival > (int64_t)lifetime;
}
