/* privdrop.h: running as the configured `user` (DESIGN.md 13.4). A program
 * started as root looks the user up, gives it the state directory, and
 * each process that parses peer input (and the key process) drops to it
 * with no way back. Started as another user, nothing here does anything. */
#ifndef DSMTP_PRIVDROP_H
#define DSMTP_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/diag.h"

struct dsmtp_config;

struct privdrop_user {
	char	name[64];
	uid_t	uid;
	gid_t	gid;
};

/* were we started as root (euid 0)? Then the drop applies */
bool privdrop_wanted(void);
/* the user's uid and primary gid: 0, or -1 with err ("user \"x\" does not
 * exist": the caller exits 78) */
int privdrop_lookup(const char *name, struct privdrop_user *u, struct dsmtp_err *err);
/* as root, before any drop: state_dir and everything under it (the spool,
 * logs, caches) become the user's, except certs/: that directory becomes
 * root:GROUP 0750 (the workers read the certificates) and its private
 * keys root's, mode 0600 (no process running as the user can open them);
 * an absolute logs.dir outside state_dir becomes the user's too.
 * Symbolic links are never followed. 0, or -1 with err. */
int privdrop_prepare_state(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err);
/* become u for good: supplementary groups (initgroups), setresgid,
 * setresuid, then check there is no way back (every id is u's, setuid(0)
 * fails) and set PR_SET_NO_NEW_PRIVS. A uid of 0 (`user: root`) only sets
 * no-new-privileges. 0, or -1 with err (the caller must exit). */
int privdrop_to(const struct privdrop_user *u, struct dsmtp_err *err);

#endif
