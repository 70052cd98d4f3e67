/* sts_fetch.c: the HTTPS GET of an MTA-STS policy (RFC 8461 3.3) with
 * libcurl's multi interface driven by dsmtpc's libev loop (socket and
 * timer callbacks become ev_io and ev_timer watchers), so a slow policy
 * host never blocks a delivery. Owns the fetch rules: https only, the
 * certificate verified against mta_sts.ca_file (default trust.ca_file)
 * with SNI and the name check on mta-sts.DOMAIN, the addresses given by
 * our own resolver (CURLOPT_RESOLVE, no DNS of curl's own, no proxy), no
 * redirects, 200 only, Content-Type text/plain only, a 64 KiB body cap,
 * 10 s to connect and 30 s in all. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define FETCH_CONNECT_TIMEOUT	10L	/* seconds */
#define FETCH_TOTAL_TIMEOUT	30L

struct smtpc_sts_fetch {
	struct smtpc_sts_fetcher *f;
	CURL			*easy;
	struct curl_slist	*resolve;
	smtpc_sts_fetch_cb	*cb;		/* NULL once cancelled */
	void			*arg;
	char			*body;
	size_t			 len;
	bool			 too_big;
	char			 url[400];
	char			 errbuf[CURL_ERROR_SIZE];
	struct smtpc_sts_fetch	*next, *prev;
};

/* one socket curl asked us to watch */
struct fetch_sock {
	ev_io			 io;
	struct smtpc_sts_fetcher *f;
};

struct smtpc_sts_fetcher {
	struct ev_loop		*loop;
	CURLM			*multi;
	ev_timer		 timer;
	char			*ca_file;	/* NULL: curl's default (the system store) */
	long			 connect_ms, total_ms;
	unsigned		 port;
	struct smtpc_sts_fetch	*fetches;
};

static void	fetch_check_done(struct smtpc_sts_fetcher *f);

static void
sock_cb_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fetch_sock *fs = (struct fetch_sock *)w;
	struct smtpc_sts_fetcher *f = fs->f;
	int running, action = 0;

	(void)loop;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	(void)curl_multi_socket_action(f->multi, w->fd, action, &running);
	fetch_check_done(f);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what, or stop watching it */
static int
multi_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct smtpc_sts_fetcher *f = userp;
	struct fetch_sock *fs = socketp;
	int ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (fs) {
			ev_io_stop(f->loop, &fs->io);
			free(fs);
			(void)curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (fs == NULL) {
		if ((fs = calloc(1, sizeof(*fs))) == NULL)
			return -1;
		fs->f = f;
		(void)curl_multi_assign(f->multi, s, fs);
	} else
		ev_io_stop(f->loop, &fs->io);
	ev_io_init(&fs->io, sock_cb_io, s, ev);
	ev_io_start(f->loop, &fs->io);
	return 0;
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_sts_fetcher *f = w->data;
	int running;

	(void)loop;
	(void)revents;
	(void)curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	fetch_check_done(f);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, else one shot in ms */
static int
multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct smtpc_sts_fetcher *f = userp;

	(void)multi;
	ev_timer_stop(f->loop, &f->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&f->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(f->loop, &f->timer);
	}
	return 0;
}

struct smtpc_sts_fetcher *
smtpc_sts_fetcher_new(struct ev_loop *loop, const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	struct smtpc_sts_fetcher *f;
	const char *ca = cfg->mta_sts.ca_file, *cap;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		dsmtp_err_set(err, "libcurl initialisation failed");
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	f->loop = loop;
	f->port = cfg->mta_sts.port ? cfg->mta_sts.port : 443;
	f->connect_ms = FETCH_CONNECT_TIMEOUT * 1000;
	f->total_ms = FETCH_TOTAL_TIMEOUT * 1000;
	/* DSMTPC_TIMEOUT caps every timeout of dsmtpc, for tests (client.c) */
	if ((cap = getenv("DSMTPC_TIMEOUT")) != NULL && atof(cap) > 0) {
		long ms = (long)(atof(cap) * 1000);

		f->connect_ms = ms < f->connect_ms ? ms : f->connect_ms;
		f->total_ms = ms < f->total_ms ? ms : f->total_ms;
	}
	if (ca == NULL || strcmp(ca, "trust") == 0)
		ca = cfg->trust.ca_file;
	if (ca != NULL && strcmp(ca, "system") != 0 && (f->ca_file = strdup(ca)) == NULL) {
		free(f);
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	if ((f->multi = curl_multi_init()) == NULL) {
		free(f->ca_file);
		free(f);
		dsmtp_err_set(err, "libcurl: no multi handle");
		return NULL;
	}
	(void)curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb);
	(void)curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	(void)curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	(void)curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	ev_timer_init(&f->timer, timer_cb, 0., 0.);
	f->timer.data = f;
	return f;
}

static void
fetch_free(struct smtpc_sts_fetch *q)
{
	struct smtpc_sts_fetcher *f = q->f;

	if (q->prev)
		q->prev->next = q->next;
	else
		f->fetches = q->next;
	if (q->next)
		q->next->prev = q->prev;
	(void)curl_multi_remove_handle(f->multi, q->easy);
	curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->resolve);
	free(q->body);
	free(q);
}

void
smtpc_sts_fetcher_free(struct smtpc_sts_fetcher *f)
{
	if (f == NULL)
		return;
	while (f->fetches)
		fetch_free(f->fetches);
	ev_timer_stop(f->loop, &f->timer);
	(void)curl_multi_cleanup(f->multi);
	free(f->ca_file);
	free(f);
}

/* CURLOPT_WRITEFUNCTION: keep the body, abort past the cap */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct smtpc_sts_fetch *q = userdata;
	size_t n = size * nmemb;
	char *nb;

	if (n > POLICY_STS_BODY_MAX - q->len) {
		q->too_big = true;
		return 0;	/* anything but n: curl stops with CURLE_WRITE_ERROR */
	}
	if ((nb = realloc(q->body, q->len + n + 1)) == NULL)
		return 0;
	q->body = nb;
	memcpy(q->body + q->len, ptr, n);
	q->len += n;
	q->body[q->len] = '\0';
	return n;
}

/* is the Content-Type text/plain (parameters allowed)? */
static bool
is_text_plain(const char *ct)
{
	size_t n = strlen("text/plain");

	if (ct == NULL || strncasecmp(ct, "text/plain", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* one finished transfer: judge the response and tell the caller */
static void
fetch_finish(struct smtpc_sts_fetch *q, CURLcode rc)
{
	char why[800];
	long code = 0;
	char *ct = NULL;
	const char *type = "sts-policy-fetch-error";
	int ok = -1;

	(void)curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (q->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(why, sizeof(why), "%s: body larger than %d bytes", q->url,
		    POLICY_STS_BODY_MAX);
	else if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s: %s", q->url, q->errbuf[0] ? q->errbuf :
		    curl_easy_strerror(rc));
		/* RFC 8460 4.3.2: the policy host's certificate did not verify */
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
			type = "sts-webpki-invalid";
	}
	else if (code >= 300 && code < 400)
		snprintf(why, sizeof(why), "%s: HTTP %ld: redirects are refused (RFC 8461 3.3)",
		    q->url, code);
	else if (code != 200)
		snprintf(why, sizeof(why), "%s: HTTP %ld", q->url, code);
	else if (!is_text_plain(ct)) {
		char pct[80];

		policy_printable(ct ? ct : "(none)", pct, sizeof(pct));
		snprintf(why, sizeof(why), "%s: Content-Type %s, not text/plain", q->url, pct);
	} else {
		ok = 0;
		snprintf(why, sizeof(why), "%s: HTTP 200, %zu bytes", q->url, q->len);
	}
	if (q->cb)
		q->cb(q->arg, ok == 0 ? NULL : type, ok == 0 ? (q->body ? q->body : "") : NULL,
		    ok == 0 ? q->len : 0, why);
	fetch_free(q);
}

static void
fetch_check_done(struct smtpc_sts_fetcher *f)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		struct smtpc_sts_fetch *q = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (q)
			fetch_finish(q, m->data.result);
	}
}

struct smtpc_sts_fetch *
smtpc_sts_fetch(struct smtpc_sts_fetcher *f, const char *domain, const char *const *addrs,
    size_t naddrs, smtpc_sts_fetch_cb *cb, void *arg)
{
	struct smtpc_sts_fetch *q;
	char entry[1200];
	size_t used;
	int w;

	if (naddrs == 0 || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->f = f;
	q->cb = cb;
	q->arg = arg;
	if (f->port == 443)
		snprintf(q->url, sizeof(q->url), "https://mta-sts.%s/.well-known/mta-sts.txt", domain);
	else
		snprintf(q->url, sizeof(q->url), "https://mta-sts.%s:%u/.well-known/mta-sts.txt",
		    domain, f->port);
	/* "HOST:PORT:ADDR[,ADDR]...": curl connects there and still sends SNI
	 * and checks the certificate for HOST */
	w = snprintf(entry, sizeof(entry), "mta-sts.%s:%u:", domain, f->port);
	used = w > 0 ? (size_t)w : 0;
	for (size_t i = 0; i < naddrs && used < sizeof(entry); i++) {
		bool v6 = strchr(addrs[i], ':') != NULL;

		w = snprintf(entry + used, sizeof(entry) - used, "%s%s%s%s", i ? "," : "",
		    v6 ? "[" : "", addrs[i], v6 ? "]" : "");
		if (w < 0 || (size_t)w >= sizeof(entry) - used)
			break;
		used += (size_t)w;
	}
	if ((q->easy = curl_easy_init()) == NULL ||
	    (q->resolve = curl_slist_append(NULL, entry)) == NULL) {
		if (q->easy)
			curl_easy_cleanup(q->easy);
		free(q);
		return NULL;
	}
	(void)curl_easy_setopt(q->easy, CURLOPT_URL, q->url);
	(void)curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	(void)curl_easy_setopt(q->easy, CURLOPT_RESOLVE, q->resolve);
	(void)curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(q->easy, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(q->easy, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(q->easy, CURLOPT_NOPROXY, "*");
	(void)curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(q->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(q->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->ca_file)
		(void)curl_easy_setopt(q->easy, CURLOPT_CAINFO, f->ca_file);
	(void)curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS, f->connect_ms);
	(void)curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, f->total_ms);
	(void)curl_easy_setopt(q->easy, CURLOPT_MAXFILESIZE, (long)POLICY_STS_BODY_MAX);
	(void)curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, write_cb);
	(void)curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	(void)curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	(void)curl_easy_setopt(q->easy, CURLOPT_USERAGENT, "dsmtpc (MTA-STS)");
	(void)curl_easy_setopt(q->easy, CURLOPT_ACCEPT_ENCODING, NULL);
	q->next = f->fetches;
	if (f->fetches)
		f->fetches->prev = q;
	f->fetches = q;
	if (curl_multi_add_handle(f->multi, q->easy) != CURLM_OK) {
		fetch_free(q);
		return NULL;
	}
	return q;
}

void
smtpc_sts_fetch_cancel(struct smtpc_sts_fetch *q)
{
	if (q == NULL)
		return;
	fetch_free(q);
}
