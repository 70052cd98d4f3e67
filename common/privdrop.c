/* privdrop.c: the drop from root to the configured user (privdrop.h):
 * looking the user up, handing it the state directory, and the drop
 * itself with its checks that there is no way back. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/privdrop.h"

#define PRIVDROP_CERTS	"certs"

bool
privdrop_wanted(void)
{
	return geteuid() == 0;
}

int
privdrop_lookup(const char *name, struct privdrop_user *u, struct dsmtp_err *err)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(u->name)) {
		dsmtp_err_set(err, "user \"%s\": not a user name", name ? name : "");
		return -1;
	}
	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		dsmtp_err_set(err, "user \"%s\" does not exist (create it, e.g. `useradd --system "
		    "--no-create-home %s`, or set `user:` in the configuration)%s%s", name, name,
		    errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

/* nftw has no argument for its callback: the walk's state */
static struct {
	const struct privdrop_user	*u;
	const char			*certs;
	int				 failed_errno;
	char				 failed_path[512];
} walk;

static int
walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	if (strcmp(path, walk.certs) == 0)
		return FTW_SKIP_SUBTREE;
	if (type == FTW_NS || type == FTW_DNR)
		return FTW_CONTINUE;
	if ((sb->st_uid != walk.u->uid || sb->st_gid != walk.u->gid) &&
	    lchown(path, walk.u->uid, walk.u->gid) < 0 && walk.failed_errno == 0) {
		walk.failed_errno = errno;
		snprintf(walk.failed_path, sizeof(walk.failed_path), "%s", path);
	}
	return FTW_CONTINUE;
}

/* certs/: root:GROUP 0750; its keys (and pending/) root's alone */
static int
prepare_certs(const char *certs, const struct privdrop_user *u, struct dsmtp_err *err)
{
	struct stat sb;
	int dfd;
	DIR *d;
	struct dirent *de;

	if (mkdir(certs, 0750) < 0 && errno != EEXIST) {
		dsmtp_err_set(err, "cannot create %s: %s", certs, strerror(errno));
		return -1;
	}
	if ((dfd = open(certs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		dsmtp_err_set(err, "%s: %s", certs, strerror(errno));
		return -1;
	}
	if (fchown(dfd, 0, u->gid) < 0 || fchmod(dfd, 0750) < 0) {
		dsmtp_err_set(err, "%s: cannot make it root:%u 0750: %s", certs, (unsigned)u->gid,
		    strerror(errno));
		close(dfd);
		return -1;
	}
	if ((d = fdopendir(dfd)) == NULL) {
		dsmtp_err_set(err, "%s: %s", certs, strerror(errno));
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		bool key = len > 4 && strcmp(de->d_name + len - 4, ".key") == 0;
		bool pending = strcmp(de->d_name, "pending") == 0;

		if (de->d_name[0] == '.' && (len == 1 || (len == 2 && de->d_name[1] == '.')))
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(sb.st_mode))
			continue;
		if (sb.st_uid != 0 && fchownat(dfd, de->d_name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0) {
			dsmtp_err_set(err, "%s/%s: cannot give it to root: %s", certs, de->d_name,
			    strerror(errno));
			closedir(d);
			return -1;
		}
		if ((key || pending) && fchmodat(dfd, de->d_name, pending ? 0700 : 0600, 0) < 0) {
			dsmtp_err_set(err, "%s/%s: chmod: %s", certs, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int
privdrop_prepare_state(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err)
{
	char state[4096], certs[4096];

	if (config_state_path(cfg, NULL, state, sizeof(state), err) < 0)
		return -1;
	if (snprintf(certs, sizeof(certs), "%s/%s", state, PRIVDROP_CERTS) >= (int)sizeof(certs)) {
		dsmtp_err_set(err, "%s: path too long", state);
		return -1;
	}
	if (prepare_certs(certs, u, err) < 0)
		return -1;
	if (u->uid == 0)
		return 0;
	walk.u = u;
	walk.certs = certs;
	walk.failed_errno = 0;
	if (nftw(state, walk_one, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0) {
		dsmtp_err_set(err, "%s: cannot walk it: %s", state, strerror(errno));
		return -1;
	}
	if (walk.failed_errno) {
		dsmtp_err_set(err, "%s: cannot give it to %s: %s", walk.failed_path, u->name,
		    strerror(walk.failed_errno));
		return -1;
	}
	return 0;
}

int
privdrop_to(const struct privdrop_user *u, struct dsmtp_err *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (u->uid != 0) {
		if (initgroups(u->name, u->gid) < 0) {
			dsmtp_err_set(err, "initgroups(%s): %s", u->name, strerror(errno));
			return -1;
		}
		if (setresgid(u->gid, u->gid, u->gid) < 0) {
			dsmtp_err_set(err, "setresgid(%u): %s", (unsigned)u->gid, strerror(errno));
			return -1;
		}
		if (setresuid(u->uid, u->uid, u->uid) < 0) {
			dsmtp_err_set(err, "setresuid(%u): %s", (unsigned)u->uid, strerror(errno));
			return -1;
		}
		/* no way back: every id is the user's and root's are refused */
		if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
		    r != u->uid || e != u->uid || s != u->uid ||
		    rg != u->gid || eg != u->gid || sg != u->gid) {
			dsmtp_err_set(err, "running as %s: the ids did not all change", u->name);
			return -1;
		}
		if (setuid(0) != -1 || setresuid(0, 0, 0) != -1 || (u->gid != 0 && setegid(0) != -1) ||
		    setgroups(0, NULL) != -1) {
			dsmtp_err_set(err, "running as %s: root could still be regained", u->name);
			return -1;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		dsmtp_err_set(err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}
