/* hooks.h: the seams between the SMTP session and the modules that judge
 * and record it: protocol logs (logs/), TLS (tls/), policy (policy/). The
 * session calls these and never those modules directly, so session.c stays
 * a pure protocol state machine. */
#ifndef DSMTP_SMTPD_HOOKS_H
#define DSMTP_SMTPD_HOOKS_H

#include <stddef.h>
#include <stdint.h>

struct smtpd_session;
struct smtp_path;

uint64_t smtpd_hook_new_id(void);
void smtpd_hook_connect(struct smtpd_session *s);
void smtpd_hook_disconnect(struct smtpd_session *s, const char *reason);
void smtpd_hook_sent(struct smtpd_session *s, const char *line, size_t len);
void smtpd_hook_received(struct smtpd_session *s, const char *line, size_t len);
/* every state change, traced with the session id when DSMTP_DEBUG is set */
void smtpd_hook_state(struct smtpd_session *s, const char *from, const char *to);
void smtpd_hook_info(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* STARTTLS accepted: set up the server session; -1 with why */
int smtpd_hook_starttls(struct smtpd_session *s, char *why, size_t len);
void smtpd_hook_tls_ready(struct smtpd_session *s);
/* MAIL FROM: domain_secure.receive; 1 passed (domain-secured), 0 not
 * required, -1 refused with the reply in reply */
int smtpd_hook_sender_policy(struct smtpd_session *s, const struct smtp_path *from, char *reply,
    size_t rl);
/* RCPT TO: relay control; 0 accepted, -1 refused with the reply */
int smtpd_hook_relay(struct smtpd_session *s, struct smtp_path *to, char *reply, size_t rl);

#endif
