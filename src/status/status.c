#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "status.h"
#include "../common/banned.h"

static const char *const state_names[] = {
	[STATE_CREATED] = "Created",
	[STATE_INITIALIZING] = "Initializing",
	[STATE_HYBRID_CRAWL] = "Hybrid Crawl",
	[STATE_CHANGELOG_CRAWL] = "Changelog Crawl",
	[STATE_PAUSED] = "Paused",
	[STATE_FAULTY] = "Faulty",
	[STATE_STOPPED] = "Stopped",
};

static const char *const turn_names[] = {
	[TURN_NONE] = "none",
	[TURN_FIRST_CRAWL] = "first crawl",
	[TURN_FULL_CRAWL] = "full crawl",
	[TURN_JOURNAL] = "journal",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
state_name(enum session_state s)
{
	return (size_t)s < NELEM(state_names) ? state_names[s] : "?";
}

int
state_parse(const char *name, enum session_state *out)
{
	for (size_t i = 0; i < NELEM(state_names); i++)
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum session_state)i;
			return 0;
		}
	return -1;
}

const char *
turn_kind_name(enum turn_kind k)
{
	return (size_t)k < NELEM(turn_names) ? turn_names[k] : "?";
}

void
status_init(struct status *s)
{
	memset(s, 0, sizeof(*s));
	s->state = STATE_CREATED;
}

static void
failures_release(struct status *s)
{
	for (size_t i = 0; i < s->nfailures; i++) {
		free(s->failures[i].path);
		free(s->failures[i].error);
	}
	s->nfailures = 0;
}

void
status_release(struct status *s)
{
	failures_release(s);
	status_verify_release(&s->verify);
	free(s->detail);
	free(s->detector);
	free(s->log);
	memset(s, 0, sizeof(*s));
}

void
status_set_detail(struct status *s, const char *detail)
{
	free(s->detail);
	s->detail = detail ? xstrdup(detail) : NULL;
}

void
status_set_failures(struct status *s, char *const *paths, char *const *errors,
    size_t n, uint64_t count)
{
	struct failure next[STATUS_FAILURES_SHOWN];
	size_t nn = 0;
	int64_t now = now_ns();

	for (size_t i = 0; i < n && nn < STATUS_FAILURES_SHOWN; i++) {
		struct failure *f = &next[nn++];
		f->path = xstrdup(paths[i]);
		f->error = xstrdup(errors[i]);
		f->since = now;
		f->tries = 1;
		for (size_t k = 0; k < s->nfailures; k++)
			if (strcmp(s->failures[k].path, paths[i]) == 0) {
				f->since = s->failures[k].since;
				f->tries = s->failures[k].tries + 1;
			}
	}
	failures_release(s);
	memcpy(s->failures, next, nn * sizeof(*next));
	s->nfailures = nn;
	s->failure_count = count;
}

bool
status_synced(struct status *s, int64_t t)
{
	if (t > s->last_synced)
		s->last_synced = t;
	if (s->checkpoint == 0 || s->checkpoint_completed ||
	    s->last_synced < s->checkpoint)
		return false;
	s->checkpoint_completed = true;
	s->checkpoint_completed_at = now_ns();
	return true;
}

void
status_clock_back(struct status *s, int64_t bound)
{
	if (s->last_synced > bound)
		s->last_synced = bound;
}

void
status_set_checkpoint(struct status *s, int64_t when)
{
	s->checkpoint = when;
	s->checkpoint_completed = false;
	s->checkpoint_completed_at = 0;
	status_synced(s, 0);
}

/* ---- JSON ---- */

static json_t *
time_json(int64_t ns)
{
	char buf[40];

	if (ns == 0)
		return json_null();
	format_rfc3339(ns, buf, sizeof(buf));
	return json_string(buf);
}

/* RFC 3339 in UTC as format_rfc3339 writes it ("...T...[.mmm]Z"); 0 for
 * anything else. */
static int64_t
json_time(json_t *v)
{
	struct tm tm;
	const char *s = json_string_value(v);
	int ms = 0;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return 0;
	if (tm.tm_year < 1970 || ms < 0 || ms > 999)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || t < 0)
		return 0;
	return (int64_t)t * 1000000000 + (int64_t)ms * 1000000;
}

static void
set_u64(json_t *o, const char *key, uint64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *
failures_json(const struct status *s)
{
	json_t *fo = json_object(), *f = json_array();

	for (size_t i = 0; i < s->nfailures; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "path", json_string(s->failures[i].path));
		json_object_set_new(e, "error",
		    json_string(s->failures[i].error));
		json_object_set_new(e, "since", time_json(s->failures[i].since));
		set_u64(e, "tries", s->failures[i].tries);
		json_array_append_new(f, e);
	}
	set_u64(fo, "count", s->failure_count);
	json_object_set_new(fo, "last", f);
	return fo;
}

static json_t *
checkpoint_json(const struct status *s)
{
	json_t *cp = json_object();

	json_object_set_new(cp, "time", time_json(s->checkpoint));
	json_object_set_new(cp, "completed",
	    json_boolean(s->checkpoint && s->checkpoint_completed));
	json_object_set_new(cp, "completed_at",
	    time_json(s->checkpoint_completed ? s->checkpoint_completed_at : 0));
	return cp;
}

static json_t *
turn_json(const struct status_turn *t)
{
	json_t *o;

	if (t->kind == TURN_NONE)
		return json_null();
	o = json_object();
	json_object_set_new(o, "kind", json_string(turn_kind_name(t->kind)));
	json_object_set_new(o, "started", time_json(t->started));
	set_u64(o, "files_seen", t->files_seen);
	set_u64(o, "dirs_seen", t->dirs_seen);
	set_u64(o, "bytes_total", t->bytes_total);
	set_u64(o, "bytes_done", t->bytes_done);
	return o;
}

void
status_verify_release(struct status_verify *v)
{
	for (size_t i = 0; i < v->nshown; i++)
		free(v->shown[i]);
	memset(v, 0, sizeof(*v));
}

static json_t *
verify_json(const struct status_verify *v)
{
	if (v->at == 0)
		return json_null();
	json_t *o = json_object(), *a = json_array();
	json_object_set_new(o, "finished", time_json(v->at));
	set_u64(o, "differences", v->differences);
	set_u64(o, "unreadable", v->unreadable);
	set_u64(o, "changing", v->changing);
	json_object_set_new(o, "repaired", json_boolean(v->repaired));
	for (size_t i = 0; i < v->nshown; i++)
		json_array_append_new(a, json_string(v->shown[i]));
	json_object_set_new(o, "shown", a);
	return o;
}

/* The fields status.json and every view share. */
static json_t *
to_json(const struct status *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(state_name(s->state)));
	json_object_set_new(o, "detail", s->detail ? json_string(s->detail) :
	    json_null());
	json_object_set_new(o, "change_detector", s->detector ?
	    json_string(s->detector) : json_null());
	json_object_set_new(o, "last_synced", time_json(s->last_synced));
	set_u64(o, "entries_pending", s->entries_pending);
	set_u64(o, "data_pending", s->data_pending);
	set_u64(o, "meta_pending", s->meta_pending);
	set_u64(o, "changes_pending", s->changes_pending);
	set_u64(o, "files_synced", s->files_synced);
	set_u64(o, "bytes_synced", s->bytes_synced);
	set_u64(o, "wire_bytes", s->wire_bytes);
	set_u64(o, "wire_plain_bytes", s->wire_plain);
	set_u64(o, "turns", s->turns);
	set_u64(o, "full_crawls", s->full_crawls);
	set_u64(o, "last_crawl_ms", (uint64_t)s->last_crawl_ms);
	set_u64(o, "crawl_ms_total", (uint64_t)s->crawl_ms_total);
	json_object_set_new(o, "failures", failures_json(s));
	json_object_set_new(o, "checkpoint", checkpoint_json(s));
	json_object_set_new(o, "crawl", turn_json(&s->turn));
	json_object_set_new(o, "verify", verify_json(&s->verify));
	return o;
}

char *
status_to_text(const struct status *s)
{
	json_t *o = to_json(s);
	char hex[20];
	char *text;

	/* The file keeps the raw facts; shown values are derived. */
	json_object_set_new(o, "format", json_integer(STATUS_FORMAT));
	json_object_set_new(o, "started_at", time_json(s->started_at));
	json_object_set_new(o, "pid", json_integer(s->pid));
	json_object_set_new(o, "log", s->log ? json_string(s->log) :
	    json_null());
	snprintf(hex, sizeof(hex), "%016llx",
	    (unsigned long long)s->config_applied);
	json_object_set_new(o, "config_applied", s->config_applied ?
	    json_string(hex) : json_null());
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		fatal("out of memory formatting the status");
	return text;
}

int
status_save(const struct status *s, const char *dir)
{
	char *text = status_to_text(s);
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", dir);
		free(text);
		return -1;
	}
	rc = durable_write_at(fd, "status.json", text, strlen(text), 0600);
	close(fd);
	free(text);
	return rc;
}

static uint64_t
json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

static void
failures_from_json(struct status *s, json_t *fo)
{
	json_t *arr = json_object_get(fo, "last"), *e;
	size_t i;

	s->failure_count = json_u64(fo, "count");
	json_array_foreach(arr, i, e) {
		if (s->nfailures == STATUS_FAILURES_SHOWN)
			break;
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *er = json_string_value(json_object_get(e, "error"));
		if (p == NULL || er == NULL)
			continue;
		struct failure *f = &s->failures[s->nfailures++];
		f->path = xstrdup(p);
		f->error = xstrdup(er);
		f->since = json_time(json_object_get(e, "since"));
		uint64_t tries = json_u64(e, "tries");
		f->tries = tries > UINT32_MAX ? UINT32_MAX : (uint32_t)tries;
	}
}

static void
verify_from_json(struct status_verify *v, json_t *o)
{
	json_t *arr = json_object_get(o, "shown"), *e;
	size_t i;

	status_verify_release(v);
	if (!json_is_object(o))
		return;
	v->at = json_time(json_object_get(o, "finished"));
	v->differences = json_u64(o, "differences");
	v->unreadable = json_u64(o, "unreadable");
	v->changing = json_u64(o, "changing");
	v->repaired = json_is_true(json_object_get(o, "repaired"));
	json_array_foreach(arr, i, e) {
		if (v->nshown == STATUS_VERIFY_SHOWN)
			break;
		if (json_is_string(e))
			v->shown[v->nshown++] = xstrdup(json_string_value(e));
	}
}

static void
turn_from_json(struct status_turn *t, json_t *o)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));

	memset(t, 0, sizeof(*t));
	for (size_t i = 1; kind && i < NELEM(turn_names); i++)
		if (strcmp(kind, turn_names[i]) == 0)
			t->kind = (enum turn_kind)i;
	if (t->kind == TURN_NONE)
		return;
	t->started = json_time(json_object_get(o, "started"));
	t->files_seen = json_u64(o, "files_seen");
	t->dirs_seen = json_u64(o, "dirs_seen");
	t->bytes_total = json_u64(o, "bytes_total");
	t->bytes_done = json_u64(o, "bytes_done");
}

/* Every field is checked for its type; what does not fit is left at its
 * initial value. */
static void
from_json(struct status *s, json_t *o)
{
	json_t *v;

	if ((v = json_object_get(o, "state")) && json_is_string(v) &&
	    state_parse(json_string_value(v), &s->state) < 0)
		s->state = STATE_CREATED;
	if ((v = json_object_get(o, "detail")) && json_is_string(v))
		s->detail = xstrdup(json_string_value(v));
	if ((v = json_object_get(o, "change_detector")) && json_is_string(v))
		s->detector = xstrdup(json_string_value(v));
	s->last_synced = json_time(json_object_get(o, "last_synced"));
	s->entries_pending = json_u64(o, "entries_pending");
	s->data_pending = json_u64(o, "data_pending");
	s->meta_pending = json_u64(o, "meta_pending");
	s->changes_pending = json_u64(o, "changes_pending");
	s->files_synced = json_u64(o, "files_synced");
	s->bytes_synced = json_u64(o, "bytes_synced");
	s->wire_bytes = json_u64(o, "wire_bytes");
	s->wire_plain = json_u64(o, "wire_plain_bytes");
	s->turns = json_u64(o, "turns");
	s->full_crawls = json_u64(o, "full_crawls");
	s->last_crawl_ms = (int64_t)(json_u64(o, "last_crawl_ms") & INT64_MAX);
	s->crawl_ms_total = (int64_t)(json_u64(o, "crawl_ms_total") &
	    INT64_MAX);
	failures_from_json(s, json_object_get(o, "failures"));
	json_t *cp = json_object_get(o, "checkpoint");
	s->checkpoint = json_time(json_object_get(cp, "time"));
	s->checkpoint_completed = json_is_true(json_object_get(cp,
	    "completed"));
	s->checkpoint_completed_at = json_time(json_object_get(cp,
	    "completed_at"));
	turn_from_json(&s->turn, json_object_get(o, "crawl"));
	verify_from_json(&s->verify, json_object_get(o, "verify"));
	s->started_at = json_time(json_object_get(o, "started_at"));
	uint64_t pid = json_u64(o, "pid");
	s->pid = pid > INT32_MAX ? 0 : (int)pid;
	if ((v = json_object_get(o, "log")) && json_is_string(v))
		s->log = xstrdup(json_string_value(v));
	const char *hex = json_string_value(json_object_get(o,
	    "config_applied"));
	s->config_applied = hex ? strtoull(hex, NULL, 16) : 0;
}

/* A status of a format this build reads: "format" absent (the first
 * builds wrote none) or STATUS_FORMAT. */
static int
check_format(json_t *o, const char *where)
{
	json_t *v = json_object_get(o, "format");

	if (v == NULL || (json_is_integer(v) && json_integer_value(v) ==
	    STATUS_FORMAT))
		return 0;
	log_warn("%s has status format %lld; this georep reads format %d "
	    "(made by another version?): not read, the counters start again",
	    where, json_is_integer(v) ? (long long)json_integer_value(v) :
	    -1LL, STATUS_FORMAT);
	return -1;
}

int
status_load_text(struct status *s, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, 0, &jerr);

	status_init(s);
	if (o == NULL || !json_is_object(o) || check_format(o,
	    "the status text") < 0) {
		json_decref(o);
		return -1;
	}
	from_json(s, o);
	json_decref(o);
	return 0;
}

/* verify.json, written by georep verify, overrides what status.json
 * holds of it (a copy from when the worker last saved). */
#define VERIFY_FILE	"verify.json"
static void
load_verify(struct status *s, const char *dir)
{
	char *path = xasprintf("%s/" VERIFY_FILE, dir);
	json_error_t jerr;
	json_t *o = json_load_file(path, 0, &jerr);

	if (o != NULL)
		verify_from_json(&s->verify, o);
	else if (access(path, F_OK) == 0)
		log_warn("%s: %s (line %d)", path, jerr.text, jerr.line);
	json_decref(o);
	free(path);
}

int
status_load(struct status *s, const char *dir)
{
	char *path = xasprintf("%s/status.json", dir);
	json_error_t jerr;
	json_t *o;
	int rc = 0;

	status_init(s);
	o = json_load_file(path, 0, &jerr);
	if (o == NULL) {
		bool missing = access(path, F_OK) < 0 && errno == ENOENT;
		if (!missing)
			log_err("%s: %s (line %d)", path, jerr.text, jerr.line);
		free(path);
		return missing ? 1 : -1;
	}
	if (!json_is_object(o) || check_format(o, path) < 0) {
		if (!json_is_object(o))
			log_err("%s: not a JSON object", path);
		rc = -1;
	} else {
		from_json(s, o);
	}
	json_decref(o);
	free(path);
	load_verify(s, dir);
	return rc;
}

int
status_save_verify(const struct status_verify *v, const char *dir)
{
	json_t *o = verify_json(v);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	int fd, rc;

	json_decref(o);
	if (text == NULL)
		fatal("out of memory formatting the verify result");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", dir);
		free(text);
		return -1;
	}
	rc = durable_write_at(fd, VERIFY_FILE, text, strlen(text), 0600);
	close(fd);
	free(text);
	return rc;
}

/* ---- views ---- */

static json_t *
view_json(const struct status *s, const struct status_view *v)
{
	json_t *o = to_json(s);
	int64_t now = now_ns();

	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "primary", json_string(v->primary));
	json_object_set_new(o, "secondary", json_string(v->secondary));
	json_object_set_new(o, "log", json_string(v->log));
	json_object_set_new(o, "lag_seconds", s->last_synced ?
	    json_real((double)(now - s->last_synced) / 1e9) : json_null());
	json_object_set_new(o, "uptime_seconds", v->running && s->started_at ?
	    json_real((double)(now - s->started_at) / 1e9) : json_integer(0));
	json_object_set_new(o, "started_at", time_json(v->running ?
	    s->started_at : 0));
	json_object_set_new(o, "pid", json_integer(v->running ? s->pid : 0));
	return o;
}

void
status_print_json(const struct status *s, const struct status_view *v,
    void *array)
{
	json_t *o = view_json(s, v);

	if (array) {
		json_array_append_new(array, o);
		return;
	}
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(6));
	json_decref(o);
	printf("%s\n", text);
	free(text);
}

void
status_print_header(void)
{
	printf("%-16s %-16s %-24s %-20s %8s %7s %9s %s\n", "NAME", "STATE",
	    "LAST SYNCED", "SECONDARY", "LAG", "FAILED", "FILES", "CHECKPOINT");
}

/* s shortened to at most width columns (bytes: names may be any bytes),
 * with "..." where it was cut. */
static void
print_fitted(const char *prefix, const char *s, int width)
{
	size_t room = width > 40 ? (size_t)width : 40;
	size_t plen = strlen(prefix), len = strlen(s);

	room = room > plen ? room - plen : 0;
	if (len <= room)
		printf("%s%s\n", prefix, s);
	else
		printf("%s%.*s...\n", prefix, (int)(room > 3 ? room - 3 : 0), s);
}

static void
format_lag(int64_t synced, char *out, size_t len)
{
	if (synced == 0) {
		snprintf(out, len, "-");
		return;
	}
	double lag = (double)(now_ns() - synced) / 1e9;
	snprintf(out, len, "%.3fs", lag < 0 ? 0 : lag);
}

void
status_print_row(const struct status *s, const struct status_view *v)
{
	char synced[40] = "-", lag[32], cp[64] = "-";
	int width = v->width > 0 ? v->width : 100;

	if (s->last_synced)
		format_rfc3339(s->last_synced, synced, sizeof(synced));
	format_lag(s->last_synced, lag, sizeof(lag));
	if (s->checkpoint) {
		char t[40];
		format_rfc3339(s->checkpoint, t, sizeof(t));
		snprintf(cp, sizeof(cp), "%s %s", t, s->checkpoint_completed ?
		    "completed" : "pending");
	}
	printf("%-16s %-16s %-24s %-20s %8s %7llu %9llu %s\n", v->name,
	    state_name(s->state), synced, v->secondary, lag,
	    (unsigned long long)s->failure_count,
	    (unsigned long long)s->files_synced, cp);
	/* The reason itself, then where the whole story is. */
	if (s->detail)
		print_fitted("    ", s->detail, width);
	for (size_t i = 0; i < s->nfailures; i++) {
		char *line = xasprintf("failed: %s: %s (%u tries)",
		    s->failures[i].path, s->failures[i].error,
		    s->failures[i].tries);
		print_fitted("    ", line, width);
		free(line);
	}
	if (s->verify.at && s->verify.differences) {
		char t[40];
		format_rfc3339(s->verify.at, t, sizeof(t));
		char *line = xasprintf("verify at %s found %llu %s%s", t,
		    (unsigned long long)s->verify.differences,
		    plural(s->verify.differences, "difference", "differences"),
		    s->verify.repaired ? " (being repaired)" : "");
		print_fitted("    ", line, width);
		free(line);
	}
	if (s->state == STATE_FAULTY || s->nfailures)
		print_fitted("    log: ", v->log, width);
}

static void
print_verify(const struct status_verify *v)
{
	char t[40];

	if (v->at == 0) {
		printf("  verify:          never\n");
		return;
	}
	format_rfc3339(v->at, t, sizeof(t));
	printf("  verify:          %s: %llu %s", t,
	    (unsigned long long)v->differences, plural(v->differences,
	    "difference", "differences"));
	if (v->unreadable)
		printf(" (%llu could not be compared)",
		    (unsigned long long)v->unreadable);
	if (v->changing)
		printf(", %llu changed since the sync point", (unsigned long
		    long)v->changing);
	printf("%s\n", v->differences && v->repaired ?
	    "; handed to the session to repair" : "");
	for (size_t i = 0; i < v->nshown; i++)
		printf("    %s\n", v->shown[i]);
}

static void
print_turn(const struct status_turn *t)
{
	char done[16], total[16], since[40];

	if (t->kind == TURN_NONE) {
		printf("  crawl:           idle\n");
		return;
	}
	format_size(t->bytes_done, done, sizeof(done));
	format_size(t->bytes_total, total, sizeof(total));
	format_rfc3339(t->started, since, sizeof(since));
	printf("  crawl:           %s since %s: %llu %s and %llu %s seen; "
	    "%s of %s sent\n", turn_kind_name(t->kind), since,
	    (unsigned long long)t->files_seen, plural(t->files_seen, "file",
	    "files"), (unsigned long long)t->dirs_seen, plural(t->dirs_seen,
	    "directory", "directories"), done, total);
}

void
status_print_detail(const struct status *s, const struct status_view *v)
{
	char t[40], lag[32], bytes[16];

	printf("session %s: %s -> %s\n", v->name, v->primary, v->secondary);
	printf("  state:           %s%s%s%s\n", state_name(s->state),
	    s->detector ? " (" : "", s->detector ? s->detector : "",
	    s->detector ? ")" : "");
	if (s->detail)
		printf("  detail:          %s\n", s->detail);
	format_lag(s->last_synced, lag, sizeof(lag));
	if (s->last_synced)
		format_rfc3339(s->last_synced, t, sizeof(t));
	printf("  last synced:     %s (lag %s)\n", s->last_synced ? t : "never",
	    lag);
	print_turn(&s->turn);
	printf("  pending:         %llu %s, %llu data, %llu metadata; %llu "
	    "recorded %s not applied yet\n",
	    (unsigned long long)s->entries_pending, plural(s->entries_pending,
	    "entry", "entries"), (unsigned long long)s->data_pending,
	    (unsigned long long)s->meta_pending,
	    (unsigned long long)s->changes_pending,
	    plural(s->changes_pending, "change", "changes"));
	format_size(s->bytes_synced, bytes, sizeof(bytes));
	printf("  synced:          %llu %s, %s\n",
	    (unsigned long long)s->files_synced, plural(s->files_synced,
	    "file", "files"), bytes);
	if (s->wire_plain != s->wire_bytes) {
		char wire[16], plain[16];
		format_size(s->wire_bytes, wire, sizeof(wire));
		format_size(s->wire_plain, plain, sizeof(plain));
		printf("  on the wire:     %s (%s before compression)\n", wire,
		    plain);
	}
	printf("  turns:           %llu, of which %llu full %s", (unsigned long
	    long)s->turns, (unsigned long long)s->full_crawls,
	    plural(s->full_crawls, "crawl", "crawls"));
	if (s->full_crawls)
		printf(" (the last took %.3f s)", (double)s->last_crawl_ms / 1e3);
	printf("\n");
	printf("  failures:        %llu\n", (unsigned long long)s->failure_count);
	for (size_t i = 0; i < s->nfailures; i++) {
		format_rfc3339(s->failures[i].since, t, sizeof(t));
		printf("    %s: %s (since %s, %u %s)\n", s->failures[i].path,
		    s->failures[i].error, t, s->failures[i].tries,
		    plural(s->failures[i].tries, "try", "tries"));
	}
	if (s->checkpoint) {
		format_rfc3339(s->checkpoint, t, sizeof(t));
		printf("  checkpoint:      %s, ", t);
		if (s->checkpoint_completed) {
			format_rfc3339(s->checkpoint_completed_at, t, sizeof(t));
			printf("completed at %s\n", t);
		} else {
			printf("pending\n");
		}
	} else {
		printf("  checkpoint:      none\n");
	}
	if (v->running && s->started_at) {
		format_rfc3339(s->started_at, t, sizeof(t));
		printf("  running since:   %s (monitor pid %d)\n", t, s->pid);
	}
	print_verify(&s->verify);
	printf("  log:             %s\n", v->log);
}
