/* client_states.c: the client session's state table: each state's name
 * (the trace and the "while in state X" of a deferral), the reply it
 * reads, and the states it may go to. client.c enters states only
 * through smtpc_sess_set_state(), which checks each move against this
 * table; tests/unit/check_smtpc_states.c holds it to the contract. */
#include "autoconfig.h"

#include <stddef.h>

#include "smtpc/client_int.h"

#define S(x)	(1u << (x))

/* the states a transaction can be started from (the next job: tx_begin
 * sends MAIL, a probe QUITs then tries the next address, a job refused
 * before MAIL hands over to the next job, idle or QUIT) */
#define TX_START	(S(SC_XFER) | S(SC_IDLE) | S(SC_QUIT) | S(SC_QUIT_NEXT))
/* the end of a transaction: the next job (RSET first), idle, or QUIT */
#define TX_END		(S(SC_RSET) | S(SC_IDLE) | S(SC_QUIT))

static const struct {
	const char	*name;
	const char	*expects;	/* NULL: reads no reply */
	unsigned	 next;
} states[SC_NSTATES] = {
	[SC_RESOLVE] = { "resolve", NULL, S(SC_CONNECT) },
	/* a failed connect tries the next address */
	[SC_CONNECT] = { "connect", NULL, S(SC_BANNER) | S(SC_CONNECT) },
	/* every state with a connection before the first transaction: lost,
	 * the next address (SC_CONNECT); refused, QUIT then the next */
	[SC_BANNER] = { "banner", "220 greeting", S(SC_EHLO) | S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	[SC_EHLO] = { "ehlo", "reply to EHLO", S(SC_HELO) | S(SC_STARTTLS) | TX_START |
	    S(SC_CONNECT) },
	[SC_HELO] = { "helo", "reply to HELO", S(SC_STARTTLS) | TX_START | S(SC_CONNECT) },
	[SC_STARTTLS] = { "starttls", "220 to STARTTLS", S(SC_TLS) | TX_START | S(SC_CONNECT) },
	/* done: EHLO again; failed: the plaintext retry or the next address */
	[SC_TLS] = { "tls", NULL, S(SC_EHLO) | S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	/* a refused RSET gives the job back and QUITs; a job refused before
	 * MAIL goes on to the next one (RSET again) */
	[SC_RSET] = { "rset", "reply to RSET", S(SC_RSET) | TX_START },
	/* with PIPELINING the last RCPT reply re-arms the DATA timeout */
	[SC_XFER] = { "xfer", "replies to MAIL, each RCPT and DATA, in order",
	    S(SC_XFER) | S(SC_SENDING) | S(SC_IGNORE_FINAL) | TX_END },
	/* the body goes out as the connection drains; then the final dot
	 * (a damaged message ends the session without one: no transition) */
	[SC_SENDING] = { "sending", NULL, S(SC_BODY) },
	[SC_BODY] = { "body", "reply to the final dot", TX_END },
	[SC_IGNORE_FINAL] = { "ignore-final", "reply to the final dot (ignored: no recipient)",
	    TX_END },
	[SC_QUIT] = { "quit", "reply to QUIT (any reply ends the session)", 0 },
	[SC_QUIT_NEXT] = { "quit-next", "reply to QUIT (then the next address)", S(SC_CONNECT) },
	/* a reply while idle is the server leaving (421); the next job
	 * starts with RSET, or MAIL when no transaction was made yet; a job
	 * refused before MAIL here ends in QUIT, not idle again */
	[SC_IDLE] = { "idle", "none (any reply ends the session: 421 on the server's timeout)",
	    S(SC_RSET) | S(SC_XFER) | S(SC_QUIT) | S(SC_QUIT_NEXT) },
};

const char *
smtpc_state_name(enum smtpc_state st)
{
	return (unsigned)st < SC_NSTATES ? states[st].name : "?";
}

const char *
smtpc_state_expects(enum smtpc_state st)
{
	return (unsigned)st < SC_NSTATES ? states[st].expects : NULL;
}

bool
smtpc_state_next_ok(enum smtpc_state from, enum smtpc_state to)
{
	if ((unsigned)from >= SC_NSTATES || (unsigned)to >= SC_NSTATES)
		return false;
	return (states[from].next & S(to)) != 0;
}

bool
smtpc_state_in_tx(enum smtpc_state st)
{
	return st == SC_XFER || st == SC_SENDING || st == SC_BODY || st == SC_IGNORE_FINAL;
}
