/* owner.h: files root makes in a state directory another user owns. */
#ifndef DSMTP_OWNER_H
#define DSMTP_OWNER_H

/* When running as root and DIR belongs to another user (the service
 * account the systemd units run as), give NAME inside DIR (or DIR/NAME
 * when NAME is a directory) DIR's owner and group, so the service can use
 * what `dsmtp-cert` run as root wrote. Symbolic links are never followed.
 * Private keys are the exception, and their writers do not call this:
 * root's keys stay root's, mode 0600 (tls_store.c, key_write).
 * Does nothing when not root or when DIR is root's. 0, or -1 with errno. */
int owner_follow_dir(const char *dir, const char *name);
/* the same for a file root has just created and still holds open as fd:
 * no name is looked up again, so nothing can be swapped in between */
int owner_follow_dir_fd(const char *dir, int fd);

#endif
