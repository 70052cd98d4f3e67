/* metrics_http.c: the "metrics" process: libmicrohttpd on a socket bound
 * by the parent, answering GET /metrics with metrics_render() and nothing
 * else (405 for another method on /metrics, 404 elsewhere). It runs apart
 * from the SMTP loops: a slow or hostile scraper holds one of a bounded
 * number of connections, for a bounded time, in this process only. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics/metrics.h"

#define MX_HTTP_CONNECTIONS	16	/* at once, in all */
#define MX_HTTP_PER_IP		4
#define MX_HTTP_TIMEOUT		10	/* seconds a connection may idle */
#define MX_HTTP_MEMORY		(16 * 1024)	/* per connection: request headers */

struct mx_http {
	const char	*queue_dir;
};

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct mx_http *h = cls;
	struct MHD_Response *r;
	enum MHD_Result rc;
	char *body;
	size_t len;

	(void)version;
	(void)upload_data;
	/* a request body is never read: the answer does not depend on it */
	if (*upload_data_size != 0)
		*upload_data_size = 0;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: only GET /metrics is served\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET only\n");
	if ((body = metrics_render(h->queue_dir, &len)) == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static void
mhd_log(void *arg, const char *fmt, va_list ap)
{
	char msg[512];

	(void)arg;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	diag_warnx("metrics: %s", msg);
}

int
metrics_listen(const struct addr_endpoint *ep, struct dsmtp_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char name[80];
	int fd, one = 1;

	addr_endpoint_sockaddr(ep, &ss, &sl);
	addr_endpoint_format(ep, name, sizeof(name));
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		dsmtp_err_set(err, "metrics %s: socket: %s", name, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
		dsmtp_err_set(err, "metrics %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

pid_t
metrics_child_start(int fd, const char *queue_dir, void (*in_child)(void *), void *arg,
    struct dsmtp_err *err)
{
	struct mx_http h = { queue_dir };
	struct MHD_Daemon *d;
	pid_t parent = getpid(), p;
	sigset_t set;
	int sig;

	fflush(stderr);
	if ((p = fork()) < 0) {
		dsmtp_err_set(err, "metrics: fork: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (p > 0) {
		close(fd);
		return p;
	}
	/* the child: ends with its parent, whatever kills the parent */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	if (in_child)
		in_child(arg);
	/* "ps" and "pgrep" tell it from the workers */
	(void)prctl(PR_SET_NAME, metrics_process_name());
	signal(SIGPIPE, SIG_IGN);
	/* blocked before MHD's thread starts, so that thread inherits it and
	 * sigwait below takes them */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, &h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MX_HTTP_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)MX_HTTP_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MX_HTTP_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MX_HTTP_MEMORY,
	    MHD_OPTION_END);
	if (d == NULL) {
		diag_warnx("metrics: libmicrohttpd did not start");
		_exit(EX_DSMTP_SOFTWARE);
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	MHD_stop_daemon(d);
	_exit(0);
}

void
metrics_child_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	(void)kill(pid, SIGTERM);
	/* already reaped by a SIGCHLD loop: ECHILD at once */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
