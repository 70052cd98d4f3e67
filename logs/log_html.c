/* log_html.c: dsmtp-log report --html: the report as one self-contained
 * HTML page a person reads in a browser: inline CSS, inline SVG charts
 * (TLS coverage per day, failures by cause, the peers' certificate expiry
 * timeline), tables; no script, no font or image, nothing fetched (its
 * Content-Security-Policy forbids every fetch and every script, so even a
 * mistake in escaping could not run anything). Every value that came from
 * a peer (names, subjects, causes) goes out through log_fput_html. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logs/log_report.h"

#define CHART_W		960
#define MAX_CHART_DAYS	366	/* days drawn (the latest); the table has all */
#define MAX_CHART_CAUSES 12
#define MAX_CHART_CERTS	30

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;"
    "max-width:1100px;padding:0 16px;color:#1b1b1b;background:#fff}"
    "h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}"
    "p.span{color:#555;margin-top:0}"
    "table{border-collapse:collapse;margin:8px 0;font-size:0.9em}"
    "th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}"
    "th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.small{font-size:0.85em;color:#333;max-width:220px;overflow-wrap:anywhere}"
    "td.name{min-width:10em;max-width:240px;overflow-wrap:anywhere;font-weight:600}"
    "table#peers{width:100%}tr.peer td{border-bottom:none;padding-top:8px}"
    "td.detail{font-size:0.85em;color:#333;overflow-wrap:anywhere;padding-top:0}"
    "td.detail b{color:#1b1b1b}"
    "tr.other td.name{font-style:italic;font-weight:400}"
    ".bad{color:#b71c1c;font-weight:600}.warn{color:#e65100}.good{color:#2e7d32}"
    "svg{display:block;margin:8px 0;max-width:100%;height:auto}"
    "svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#333}"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
    "vertical-align:middle}"
    "code{font-size:0.85em}"
    "details{margin:8px 0}";

static void
h(FILE *out, const char *s)
{
	log_fput_html(out, s);
}

/* a value cut to at most n bytes (readable, on a UTF-8 boundary), escaped */
static void
h_cut(FILE *out, const char *s, size_t n)
{
	char buf[512];
	size_t len;

	log_readable(s, buf, sizeof(buf));
	len = strlen(buf);
	if (len > n) {
		while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
			n--;
		buf[n] = '\0';
		log_fput_html_text(out, buf);
		fputs("\xe2\x80\xa6", out);	/* an ellipsis */
		return;
	}
	log_fput_html_text(out, buf);
}

static void
totals_row(FILE *out, const char *name, const struct rpt_totals *t)
{
	fprintf(out, "<tr data-dir=\"%s\"><th>%s</th><td class=\"n\" data-k=\"sessions\">%lu</td>"
	    "<td class=\"n\" data-k=\"tls\">%lu</td><td class=\"n\" data-k=\"share\">%.1f%%</td>"
	    "<td class=\"n\" data-k=\"messages\">%lu</td><td class=\"n\" data-k=\"failed\">%lu</td>"
	    "<td class=\"n\" data-k=\"changes\">%lu</td></tr>\n", name, name, t->sessions, t->tls,
	    rpt_share(t->tls, t->sessions), t->messages, t->failed, t->changes);
}

static void
totals(FILE *out, const struct report *rp)
{
	struct rpt_totals sum;
	int i;

	memset(&sum, 0, sizeof(sum));
	fputs("<h2>Totals</h2>\n<table id=\"totals\"><tr><th>Direction</th><th>Sessions</th>"
	    "<th>With TLS</th><th>TLS share</th><th>Messages</th><th>Failed sessions</th>"
	    "<th>Certificate changes</th></tr>\n", out);
	for (i = 0; i < 2; i++) {
		totals_row(out, log_dir_names[i], &rp->tot[i]);
		sum.sessions += rp->tot[i].sessions;
		sum.tls += rp->tot[i].tls;
		sum.messages += rp->tot[i].messages;
		sum.failed += rp->tot[i].failed;
		sum.changes += rp->tot[i].changes;
	}
	totals_row(out, "all", &sum);
	fputs("</table>\n", out);
}

/* chart 1: sessions per day, the part with TLS in green */
static void
coverage_chart(FILE *out, const struct report *rp)
{
	const int left = 56, top = 16, ph = 200, pw = CHART_W - left - 16;
	size_t first, n, i, step;
	unsigned long max = 0, all, tls;
	double bw, x, ht, hn;
	char day[16];

	fputs("<h2>TLS coverage per day</h2>\n", out);
	if (rp->ndays == 0) {
		fputs("<p>No sessions in the period.</p>\n", out);
		return;
	}
	first = rp->ndays > MAX_CHART_DAYS ? rp->ndays - MAX_CHART_DAYS : 0;
	n = rp->ndays - first;
	for (i = first; i < rp->ndays; i++) {
		all = rp->days[i].sessions[0] + rp->days[i].sessions[1];
		if (all > max)
			max = all;
	}
	bw = (double)pw / (double)n;
	if (bw > 48)
		bw = 48;	/* a few days: narrow bars from the left */
	fprintf(out, "<svg id=\"chart-coverage\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"Sessions per day, with and without TLS\">\n", CHART_W,
	    top + ph + 40, CHART_W, top + ph + 40);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n", left,
	    top + ph, left + pw, top + ph);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n", left,
	    top, left + pw, top);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%lu</text>\n", left - 6, top + 4,
	    max);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", left - 6, top + ph);
	for (i = first; i < rp->ndays; i++) {
		all = rp->days[i].sessions[0] + rp->days[i].sessions[1];
		tls = rp->days[i].tls[0] + rp->days[i].tls[1];
		x = left + (double)(i - first) * bw;
		ht = max ? (double)ph * (double)tls / (double)max : 0;
		hn = max ? (double)ph * (double)(all - tls) / (double)max : 0;
		rpt_day_str(rp->days[i].day, day, sizeof(day));
		fprintf(out, "<g><title>%s: %lu sessions, %lu with TLS (%.1f%%)</title>", day, all,
		    tls, rpt_share(tls, all));
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		    "fill=\"#2e7d32\"/>", x + bw * 0.1, top + ph - ht, bw * 0.8, ht);
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		    "fill=\"#ef6c00\"/></g>\n", x + bw * 0.1, top + ph - ht - hn, bw * 0.8, hn);
	}
	step = n > 8 ? (n + 7) / 8 : 1;
	for (i = 0; i < n; i += step) {
		rpt_day_str(rp->days[first + i].day, day, sizeof(day));
		fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
		    left + ((double)i + 0.5) * bw, top + ph + 16, day);
	}
	fputs("</svg>\n<p class=\"legend\"><span style=\"background:#2e7d32\"></span>with TLS"
	    "<span style=\"background:#ef6c00\"></span>without TLS</p>\n", out);
	fputs("<details><summary>Per day</summary>\n<table id=\"days\"><tr><th>Day</th>"
	    "<th>Receive sessions</th><th>with TLS</th><th>Send sessions</th><th>with TLS</th>"
	    "<th>TLS share</th></tr>\n", out);
	for (i = 0; i < rp->ndays; i++) {
		rpt_day_str(rp->days[i].day, day, sizeof(day));
		all = rp->days[i].sessions[0] + rp->days[i].sessions[1];
		tls = rp->days[i].tls[0] + rp->days[i].tls[1];
		fprintf(out, "<tr class=\"day\" data-day=\"%s\"><td>%s</td>"
		    "<td class=\"n\" data-k=\"receive-sessions\">%lu</td>"
		    "<td class=\"n\" data-k=\"receive-tls\">%lu</td>"
		    "<td class=\"n\" data-k=\"send-sessions\">%lu</td>"
		    "<td class=\"n\" data-k=\"send-tls\">%lu</td><td class=\"n\">%.1f%%</td></tr>\n",
		    day, day, rp->days[i].sessions[0], rp->days[i].tls[0], rp->days[i].sessions[1],
		    rp->days[i].tls[1], rpt_share(tls, all));
	}
	fputs("</table></details>\n", out);
}

/* chart 2: failures by cause, the most frequent first */
static void
failures_chart(FILE *out, const struct report *rp)
{
	const int label = 430, row = 22, bar = CHART_W - label - 70;
	struct log_cause **all;
	size_t n, i, shown;

	fputs("<h2>Failures by cause</h2>\n", out);
	all = log_causes_sorted(&rp->causes, &n);
	if (n == 0) {
		fputs("<p>No TLS or policy failures in the period.</p>\n", out);
		return;
	}
	shown = n < MAX_CHART_CAUSES ? n : MAX_CHART_CAUSES;
	fprintf(out, "<svg id=\"chart-failures\" width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\" "
	    "role=\"img\" aria-label=\"Failures by cause\">\n", CHART_W, shown * row + 8, CHART_W,
	    shown * row + 8);
	for (i = 0; i < shown; i++) {
		fprintf(out, "<g><title>%lu: ", all[i]->count);
		h(out, all[i]->text);
		fprintf(out, "</title><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", label - 8,
		    i * row + 16);
		h_cut(out, all[i]->text, 70);
		fprintf(out, "</text><rect x=\"%d\" y=\"%zu\" width=\"%.1f\" height=\"%d\" "
		    "fill=\"#c62828\"/><text x=\"%.1f\" y=\"%zu\">%lu</text></g>\n", label,
		    i * row + 4, (double)bar * (double)all[i]->count / (double)all[0]->count + 1,
		    row - 6, label + (double)bar * (double)all[i]->count / (double)all[0]->count + 6,
		    i * row + 16, all[i]->count);
	}
	fputs("</svg>\n<table id=\"failures\"><tr><th>Count</th><th>Cause</th>"
	    "<th>RFC 8460 result type</th><th>Example</th></tr>\n", out);
	for (i = 0; i < n; i++) {
		fprintf(out, "<tr class=\"cause\"><td class=\"n\" data-k=\"count\">%lu</td>"
		    "<td class=\"small\" data-k=\"cause\">", all[i]->count);
		h(out, all[i]->text);
		fputs("</td><td>", out);
		h(out, all[i]->result_type);
		fprintf(out, "</td><td class=\"small\">session <code>%016llx</code>, ",
		    (unsigned long long)all[i]->example);
		h(out, all[i]->example_peer);
		fputs(", ", out);
		h(out, all[i]->example_time);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	free(all);
}

struct exp_row {
	const struct rpt_peer	*p;
	const struct rpt_cert	*c;
	long			 days;
};

static int
cmp_exp(const void *x, const void *y)
{
	const struct exp_row *a = x, *b = y;

	if (a->days != b->days)
		return a->days < b->days ? -1 : 1;
	return strcmp(a->p->name, b->p->name);
}

static const char *
exp_class(long days)
{
	return days < 14 ? "bad" : days < 30 ? "warn" : "good";
}

static const char *
exp_color(long days)
{
	return days < 14 ? "#c62828" : days < 30 ? "#ef6c00" : "#2e7d32";
}

/* chart 3: the peers' certificates on a time line from today */
static void
expiry_chart(FILE *out, const struct report *rp, const struct rpt_peer **peers, size_t np)
{
	const int label = 300, row = 20, right = 24, pw = CHART_W - label - right;
	struct exp_row *rows;
	size_t n = 0, i, j, shown;
	long lo = -30, hi = 90, d;
	double x0, x;

	fputs("<h2>Peer certificates by expiry</h2>\n", out);
	for (i = 0; i < np; i++)
		n += peers[i]->ncerts;
	if (n == 0 || (rows = calloc(n, sizeof(*rows))) == NULL) {
		fputs("<p>No peer certificates in the period.</p>\n", out);
		return;
	}
	n = 0;
	for (i = 0; i < np; i++)
		for (j = 0; j < peers[i]->ncerts; j++) {
			if (!rpt_days_left(rp, peers[i]->certs[j].not_after, &d))
				d = 100000;	/* unknown: last */
			rows[n].p = peers[i];
			rows[n].c = &peers[i]->certs[j];
			rows[n++].days = d;
		}
	qsort(rows, n, sizeof(*rows), cmp_exp);
	shown = n < MAX_CHART_CERTS ? n : MAX_CHART_CERTS;
	for (i = 0; i < shown; i++) {
		if (rows[i].days == 100000)
			continue;
		if (rows[i].days < lo)
			lo = rows[i].days;
		if (rows[i].days > hi)
			hi = rows[i].days;
	}
	if (lo < -3 * 365)
		lo = -3 * 365;
	if (hi > 3 * 365)
		hi = 3 * 365;	/* later ones are drawn at the right edge */
	x0 = label + (double)pw * (double)(0 - lo) / (double)(hi - lo);
	fprintf(out, "<svg id=\"chart-expiry\" width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\" "
	    "role=\"img\" aria-label=\"Peer certificate expiry\">\n", CHART_W, shown * row + 40,
	    CHART_W, shown * row + 40);
	fprintf(out, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%zu\" stroke=\"#1565c0\" "
	    "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%zu\" text-anchor=\"middle\" "
	    "fill=\"#1565c0\">today</text>\n", x0, x0, shown * row + 4, x0, shown * row + 18);
	fprintf(out, "<text x=\"%d\" y=\"%zu\">%+ld d</text><text x=\"%d\" y=\"%zu\" "
	    "text-anchor=\"end\">%+ld d</text>\n", label, shown * row + 34, lo, CHART_W - right,
	    shown * row + 34, hi);
	for (i = 0; i < shown; i++) {
		d = rows[i].days;
		fprintf(out, "<g><title>");
		h(out, rows[i].p->name);
		fputs(": ", out);
		h(out, rows[i].c->subject);
		fputs(", not after ", out);
		h(out, rows[i].c->not_after);
		fprintf(out, "</title><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">%s ", label - 8,
		    i * row + 14, rows[i].p->dir == PLOG_RECEIVE ? "\xe2\x86\x90" : "\xe2\x86\x92");
		h_cut(out, rows[i].p->name, 40);
		fputs("</text>", out);
		if (d != 100000) {
			x = label + (double)pw * (double)((d < lo ? lo : d > hi ? hi : d) - lo) /
			    (double)(hi - lo);
			fprintf(out, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
			    "stroke=\"%s\" stroke-width=\"3\"/><circle cx=\"%.1f\" cy=\"%zu\" r=\"5\" "
			    "fill=\"%s\"/>", x0, i * row + 10, x, i * row + 10, exp_color(d), x,
			    i * row + 10, exp_color(d));
		}
		fputs("</g>\n", out);
	}
	fputs("</svg>\n<p class=\"legend\">\xe2\x86\x90 a client of ours (receive), "
	    "\xe2\x86\x92 a server we send to. <span style=\"background:#c62828\"></span>"
	    "expired or within 14 days<span style=\"background:#ef6c00\"></span>within 30 days"
	    "<span style=\"background:#2e7d32\"></span>later</p>\n", out);
	fputs("<table id=\"certs\"><tr><th>Expires</th><th>Days left</th><th>Direction</th>"
	    "<th>Peer</th><th>Subject</th><th>SHA-256</th><th>Seen</th></tr>\n", out);
	for (i = 0; i < n; i++) {
		d = rows[i].days;
		fprintf(out, "<tr class=\"cert\" data-dir=\"%s\" data-peer=\"",
		    log_dir_names[rows[i].p->dir]);
		h(out, rows[i].p->name);
		fputs("\"><td>", out);
		h(out, rows[i].c->not_after);
		if (d == 100000)
			fputs("</td><td class=\"n\">?</td>", out);
		else
			fprintf(out, "</td><td class=\"n %s\" data-k=\"days\">%ld</td>", exp_class(d),
			    d);
		fprintf(out, "<td>%s</td><td class=\"name\">", log_dir_names[rows[i].p->dir]);
		h(out, rows[i].p->name);
		fputs("</td><td class=\"small\" data-k=\"subject\">", out);
		h(out, rows[i].c->subject);
		fputs("</td><td><code>", out);
		h_cut(out, rows[i].c->sha256, 16);
		fprintf(out, "</code></td><td class=\"n\" data-k=\"count\">%lu</td></tr>\n",
		    rows[i].c->count);
	}
	fputs("</table>\n", out);
	free(rows);
}

/* one small table as "Label value n, value n" in a peer's detail row */
static void
tab_span(FILE *out, const char *label, const char *k, const struct rpt_tab *t)
{
	unsigned i;

	if (t->nv == 0 && t->other == 0)
		return;
	fprintf(out, "<div><b>%s</b> <span data-k=\"%s\">", label, k);
	for (i = 0; i < t->nv; i++) {
		if (i > 0)
			fputs(", ", out);
		h(out, t->v[i].key);
		fprintf(out, " <b>%lu</b>", t->v[i].n);
	}
	if (t->other > 0)
		fprintf(out, "%sother <b>%lu</b>", t->nv ? ", " : "", t->other);
	fputs("</span></div>", out);
}

static void
peers_table(FILE *out, const struct report *rp, const struct rpt_peer **peers, size_t np)
{
	const struct rpt_peer *p;
	size_t i;

	fputs("<h2>Peers</h2>\n", out);
	if (np == 0) {
		fputs("<p>No sessions in the period.</p>\n", out);
		return;
	}
	fputs("<table id=\"peers\"><tr><th>Direction</th><th>Peer domain</th><th>Sessions</th>"
	    "<th>With TLS</th><th>TLS share</th><th>Messages</th><th>Failed</th>"
	    "<th>Cert changes</th></tr>\n", out);
	for (i = 0; i < np; i++) {
		p = peers[i];
		fprintf(out, "<tr class=\"peer%s\" data-dir=\"%s\" data-peer=\"",
		    p == &rp->other[p->dir] ? " other" : "", log_dir_names[p->dir]);
		h(out, p->name);
		fprintf(out, "\"><td>%s</td><td class=\"name\">", log_dir_names[p->dir]);
		if (p == &rp->other[p->dir])
			fputs("(other peers)", out);
		else
			h(out, p->name);
		fprintf(out, "</td><td class=\"n\" data-k=\"sessions\">%lu</td>"
		    "<td class=\"n\" data-k=\"tls\">%lu</td><td class=\"n %s\" data-k=\"share\">"
		    "%.1f%%</td><td class=\"n\" data-k=\"messages\">%lu</td>"
		    "<td class=\"n%s\" data-k=\"failed\">%lu</td>"
		    "<td class=\"n%s\" data-k=\"changes\">%lu</td></tr>\n", p->sessions, p->tls,
		    p->tls == p->sessions ? "good" : "warn", rpt_share(p->tls, p->sessions),
		    p->messages, p->failed ? " bad" : "", p->failed, p->changes ? " warn" : "",
		    p->changes);
		fputs("<tr class=\"detail\"><td></td><td colspan=\"7\" class=\"detail\">", out);
		tab_span(out, "TLS versions", "versions", &p->versions);
		tab_span(out, "Ciphers", "ciphers", &p->ciphers);
		tab_span(out, "Verification", "verification", &p->verify);
		tab_span(out, "Policy", "policy", &p->policy);
		tab_span(out, "Failures", "failures", &p->fails);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

int
rpt_write_html(const struct report *rp, FILE *out)
{
	const struct rpt_peer **peers;
	struct tm tm;
	char gen[32];
	size_t np;

	if (gmtime_r(&rp->now, &tm) == NULL ||
	    strftime(gen, sizeof(gen), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		gen[0] = '\0';
	peers = rpt_peers_sorted(rp, &np);
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>dsmtp TLS report</title>\n<style>%s</style></head>\n<body>\n"
	    "<h1>dsmtp TLS report</h1>\n<p class=\"span\">Sessions from <span id=\"first\">", css);
	h(out, rp->first[0] ? rp->first : "-");
	fputs("</span> to <span id=\"last\">", out);
	h(out, rp->last[0] ? rp->last : "-");
	fprintf(out, "</span> (UTC); generated %s by dsmtp-log report. A session counts once, "
	    "under its peer domain: the policy's domain, else the client's EHLO name, else its "
	    "address.</p>\n", gen);
	totals(out, rp);
	coverage_chart(out, rp);
	peers_table(out, rp, peers, np);
	failures_chart(out, rp);
	expiry_chart(out, rp, peers, np);
	fputs("</body></html>\n", out);
	free(peers);
	return ferror(out) ? -1 : 0;
}
