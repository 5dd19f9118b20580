#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "metrics.h"
#include "status.h"
#include "../common/banned.h"

/* The length of the UTF-8 sequence at p (at most n bytes), 0 if there is
 * none (a stray continuation byte, a sequence cut short, an overlong or
 * surrogate form). */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, min = 0x80, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, min = 0x10000, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A label value, quoted as the format asks. */
static void
add_label_value(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	buf_addstr(b, "\"");
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(p + i, n - i);
		if (p[i] == '\\')
			buf_addstr(b, "\\\\");
		else if (p[i] == '"')
			buf_addstr(b, "\\\"");
		else if (p[i] == '\n')
			buf_addstr(b, "\\n");
		else if (len == 0 || p[i] < 0x20 || p[i] == 0x7f)
			buf_addstr(b, "?");
		else
			buf_add(b, p + i, len);
		i += len ? len : 1;
	}
	buf_addstr(b, "\"");
}

/* A value as the format writes it: integers exactly, +Inf and NaN by
 * name. */
static void
add_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_addstr(b, "NaN");
	else if (isinf(v))
		buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		buf_addf(b, "%.0f", v);
	else if (fabs(v) >= 1e6)
		buf_addf(b, "%.3f", v);	/* a time: to the millisecond */
	else
		buf_addf(b, "%.9g", v);
}

static void
add_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
add_sample(struct buf *b, const char *name, const struct status_view *v,
    const char *extra_key, const char *extra_value, double value)
{
	buf_addf(b, "%s{session=", name);
	add_label_value(b, v->name);
	if (extra_key) {
		buf_addf(b, ",%s=", extra_key);
		add_label_value(b, extra_value);
	}
	buf_addstr(b, "} ");
	add_value(b, value);
	buf_addstr(b, "\n");
}

static double
seconds(int64_t ns)
{
	return (double)ns / 1e9;
}

/* The families whose one sample per session is a figure of its status. */
struct figure {
	const char *name, *type, *help;
	double (*get)(const struct status *s, const struct status_view *v,
	    int64_t now);
};

#define FIGURE(fn, expr) \
	static double fn(const struct status *s, const struct status_view *v, \
	    int64_t now) { (void)s; (void)v; (void)now; return (expr); }

FIGURE(f_running, v->running ? 1 : 0)
FIGURE(f_lag, !s->last_synced ? INFINITY : now > s->last_synced ?
    seconds(now - s->last_synced) : 0)
FIGURE(f_sync_point, seconds(s->last_synced))
FIGURE(f_files, (double)s->files_synced)
FIGURE(f_bytes, (double)s->bytes_synced)
FIGURE(f_wire, (double)s->wire_bytes)
FIGURE(f_wire_plain, (double)s->wire_plain)
FIGURE(f_entries, (double)s->entries_pending)
FIGURE(f_data, (double)s->data_pending)
FIGURE(f_meta, (double)s->meta_pending)
FIGURE(f_changes, (double)s->changes_pending)
FIGURE(f_failures, (double)s->failure_count)
FIGURE(f_turns, (double)s->turns)
FIGURE(f_crawls, (double)s->full_crawls)
FIGURE(f_crawl_last, (double)s->last_crawl_ms / 1e3)
FIGURE(f_crawl_total, (double)s->crawl_ms_total / 1e3)
FIGURE(f_checkpoint, seconds(s->checkpoint))
FIGURE(f_checkpoint_done, s->checkpoint && s->checkpoint_completed ? 1 : 0)
FIGURE(f_verify_at, seconds(s->verify.at))
FIGURE(f_verify_diff, (double)s->verify.differences)
FIGURE(f_started, v->running ? seconds(s->started_at) : 0)

static const struct figure figures[] = {
	{ "georep_running", "gauge", "1 while the session's monitor runs.",
	    f_running },
	{ "georep_lag_seconds", "gauge", "Seconds since the sync point (+Inf "
	    "before the first sync).", f_lag },
	{ "georep_sync_point_timestamp_seconds", "gauge", "The sync point: "
	    "every change made before it is on the secondary (0: never).",
	    f_sync_point },
	{ "georep_files_synced_total", "counter", "Files whose content was "
	    "sent.", f_files },
	{ "georep_bytes_synced_total", "counter", "Bytes of content sent.",
	    f_bytes },
	{ "georep_wire_bytes_total", "counter", "Bytes written to the "
	    "secondary's connection.", f_wire },
	{ "georep_wire_plain_bytes_total", "counter", "Bytes of frames "
	    "before compression.", f_wire_plain },
	{ "georep_entries_pending", "gauge", "Namespace operations of the "
	    "running turn not yet acknowledged.", f_entries },
	{ "georep_data_pending", "gauge", "Content operations of the running "
	    "turn not yet acknowledged.", f_data },
	{ "georep_meta_pending", "gauge", "Attribute operations of the "
	    "running turn not yet acknowledged.", f_meta },
	{ "georep_changes_pending", "gauge", "Changes recorded in the "
	    "journal and not yet applied.", f_changes },
	{ "georep_failures", "gauge", "Paths that failed to sync and are "
	    "retried.", f_failures },
	{ "georep_turns_total", "counter", "Turns applied.", f_turns },
	{ "georep_full_crawls_total", "counter", "Turns that crawled the "
	    "whole primary.", f_crawls },
	{ "georep_last_full_crawl_duration_seconds", "gauge", "How long the "
	    "last full crawl took.", f_crawl_last },
	{ "georep_full_crawl_duration_seconds_total", "counter", "Time spent "
	    "in full crawls.", f_crawl_total },
	{ "georep_checkpoint_timestamp_seconds", "gauge", "The checkpoint "
	    "set (0: none).", f_checkpoint },
	{ "georep_checkpoint_completed", "gauge", "1 once the sync point has "
	    "passed the checkpoint.", f_checkpoint_done },
	{ "georep_verify_timestamp_seconds", "gauge", "When the last verify "
	    "finished (0: never).", f_verify_at },
	{ "georep_verify_differences", "gauge", "Differences the last verify "
	    "found.", f_verify_diff },
	{ "georep_start_timestamp_seconds", "gauge", "When the monitor "
	    "started (0: not running).", f_started },
};

char *
status_prometheus(const struct status *st, const struct status_view *v,
    size_t n, int64_t now)
{
	struct buf b = BUF_INIT;

	add_family(&b, "georep_info", "gauge", "A session: its primary, "
	    "secondary and change detector.");
	for (size_t i = 0; i < n; i++) {
		buf_addstr(&b, "georep_info{session=");
		add_label_value(&b, v[i].name);
		buf_addstr(&b, ",primary=");
		add_label_value(&b, v[i].primary);
		buf_addstr(&b, ",secondary=");
		add_label_value(&b, v[i].secondary);
		buf_addstr(&b, ",detector=");
		add_label_value(&b, st[i].detector ? st[i].detector : "");
		buf_addstr(&b, "} 1\n");
	}
	add_family(&b, "georep_state", "gauge", "1 for the state the session "
	    "is in, 0 for the others.");
	for (size_t i = 0; i < n; i++)
		for (int s = STATE_CREATED; s <= STATE_STOPPED; s++)
			add_sample(&b, "georep_state", &v[i], "state",
			    state_name((enum session_state)s),
			    st[i].state == (enum session_state)s);
	for (size_t f = 0; f < sizeof(figures) / sizeof(figures[0]); f++) {
		add_family(&b, figures[f].name, figures[f].type,
		    figures[f].help);
		for (size_t i = 0; i < n; i++)
			add_sample(&b, figures[f].name, &v[i], NULL, NULL,
			    figures[f].get(&st[i], &v[i], now));
	}
	buf_add(&b, "", 1);
	return (char *)b.data;
}
