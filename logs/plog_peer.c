/* plog_peer.c: logs.peers, the protocol log level per peer (DESIGN.md
 * 13.5): which entry a session's peer matches (by address, or by a name:
 * a domain matches itself and its subdomains), and the list read anew on
 * SIGHUP. The writer (plog_write.c) only reads the level it is given. */
#include "autoconfig.h"

#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "logs/plog.h"

/* name is dom or one of its subdomains (names compared without case and
 * without one trailing dot) */
static bool
name_in(const char *name, const char *dom)
{
	size_t n = strlen(name), d = strlen(dom);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n < d || d == 0)
		return false;
	if (strncasecmp(name + n - d, dom, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

void
plog_peer_decide(const struct dsmtp_config *cfg, struct plog_session *s,
    const struct sockaddr *sa, const char *const *names, size_t nnames)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < cfg->logs.npeers; i++) {
		const struct cfg_logpeer *p = &cfg->logs.peers[i];
		bool hit = false;

		if (p->is_net)
			hit = sa != NULL && addr_cidr_contains(&p->net, sa);
		else
			for (size_t k = 0; k < nnames && !hit; k++)
				hit = names[k] != NULL && names[k][0] && name_in(names[k], p->match);
		if (hit) {
			s->has_level = true;
			s->level = (int)p->level;
			return;
		}
	}
	s->has_level = false;
}

int
plog_peers_reload(struct dsmtp_config *cfg, struct plog **pl, enum plog_dir dir,
    struct dsmtp_err *err)
{
	struct dsmtp_config fresh;
	struct config_errors errs = { NULL, 0 };
	struct cfg_logpeer *tp;
	size_t tn;
	bool was;

	if (cfg->source == NULL)
		return 0;	/* the embedded defaults: nothing to read again */
	if (config_load(cfg->source, true, &fresh, &errs) < 0) {
		dsmtp_err_set(err, "%s", errs.n ? errs.msg[0] : "cannot load the configuration");
		config_errors_free(&errs);
		return -1;
	}
	config_errors_free(&errs);
	tp = cfg->logs.peers;
	tn = cfg->logs.npeers;
	cfg->logs.peers = fresh.logs.peers;
	cfg->logs.npeers = fresh.logs.npeers;
	fresh.logs.peers = tp;
	fresh.logs.npeers = tn;
	config_free(&fresh);
	was = plog_enabled(*pl);
	if (*pl != NULL && !was) {
		struct plog *np = plog_open(cfg, dir, err);

		if (np == NULL)
			return -1;
		if (plog_enabled(np)) {
			plog_close(*pl);
			*pl = np;
		} else
			plog_close(np);
	}
	return 0;
}
