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

void
status_init(struct status *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->state, sizeof(s->state), "Created");
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
	free(s->detail);
	free(s->detector);
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
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000000 + (int64_t)ms * 1000000;
}

static json_t *
to_json(const struct status *s, const char *name, const char *primary,
    const char *secondary, bool running)
{
	json_t *o = json_object(), *f = json_array(), *cp;
	int64_t now = now_ns();

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "primary", json_string(primary));
	json_object_set_new(o, "secondary", json_string(secondary));
	json_object_set_new(o, "state", json_string(s->state));
	if (s->detail)
		json_object_set_new(o, "detail", json_string(s->detail));
	if (s->detector)
		json_object_set_new(o, "change_detector",
		    json_string(s->detector));
	json_object_set_new(o, "last_synced", time_json(s->last_synced));
	json_object_set_new(o, "lag_seconds", s->last_synced ?
	    json_real((double)(now - s->last_synced) / 1e9) : json_null());
	json_object_set_new(o, "entries_pending",
	    json_integer((json_int_t)s->entries_pending));
	json_object_set_new(o, "data_pending",
	    json_integer((json_int_t)s->data_pending));
	json_object_set_new(o, "files_synced",
	    json_integer((json_int_t)s->files_synced));
	json_object_set_new(o, "bytes_synced",
	    json_integer((json_int_t)s->bytes_synced));
	for (size_t i = 0; i < s->nfailures; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "path", json_string(s->failures[i].path));
		json_object_set_new(e, "error",
		    json_string(s->failures[i].error));
		json_object_set_new(e, "since", time_json(s->failures[i].since));
		json_object_set_new(e, "tries",
		    json_integer(s->failures[i].tries));
		json_array_append_new(f, e);
	}
	json_t *fo = json_object();
	json_object_set_new(fo, "count",
	    json_integer((json_int_t)s->failure_count));
	json_object_set_new(fo, "last", f);
	json_object_set_new(o, "failures", fo);
	cp = json_object();
	json_object_set_new(cp, "time", time_json(s->checkpoint));
	json_object_set_new(cp, "completed",
	    json_boolean(s->checkpoint && s->checkpoint_completed));
	json_object_set_new(cp, "completed_at",
	    time_json(s->checkpoint_completed ? s->checkpoint_completed_at : 0));
	json_object_set_new(o, "checkpoint", cp);
	json_object_set_new(o, "uptime_seconds", running && s->started_at ?
	    json_real((double)(now - s->started_at) / 1e9) : json_integer(0));
	json_object_set_new(o, "started_at", time_json(running ?
	    s->started_at : 0));
	json_object_set_new(o, "pid", json_integer(running ? s->pid : 0));
	return o;
}

char *
status_to_text(const struct status *s)
{
	json_t *o = to_json(s, "", "", "", true);
	char *text;

	/* The file keeps the raw start time; shown values are derived. */
	json_object_set_new(o, "started_at", time_json(s->started_at));
	json_object_set_new(o, "pid", json_integer(s->pid));
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

static void from_json(struct status *s, json_t *o);

int
status_load(struct status *s, const char *dir)
{
	char *path = xasprintf("%s/status.json", dir);
	json_error_t jerr;
	json_t *o;

	status_init(s);
	o = json_load_file(path, 0, &jerr);
	if (o == NULL) {
		int missing = access(path, F_OK) < 0 && errno == ENOENT;
		if (!missing)
			log_err("%s: %s (line %d)", path, jerr.text, jerr.line);
		free(path);
		return missing ? 1 : -1;
	}
	free(path);
	from_json(s, o);
	json_decref(o);
	return 0;
}

int
status_load_text(struct status *s, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, 0, &jerr);

	status_init(s);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	from_json(s, o);
	json_decref(o);
	return 0;
}

static void
from_json(struct status *s, json_t *o)
{
	json_t *v;

	if ((v = json_object_get(o, "state")) && json_is_string(v))
		snprintf(s->state, sizeof(s->state), "%s", json_string_value(v));
	if ((v = json_object_get(o, "detail")) && json_is_string(v))
		s->detail = xstrdup(json_string_value(v));
	if ((v = json_object_get(o, "change_detector")) && json_is_string(v))
		s->detector = xstrdup(json_string_value(v));
	s->last_synced = json_time(json_object_get(o, "last_synced"));
	s->entries_pending = json_u64(o, "entries_pending");
	s->data_pending = json_u64(o, "data_pending");
	s->files_synced = json_u64(o, "files_synced");
	s->bytes_synced = json_u64(o, "bytes_synced");
	json_t *fo = json_object_get(o, "failures");
	s->failure_count = json_u64(fo, "count");
	json_t *arr = json_object_get(fo, "last");
	size_t i;
	json_t *e;
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
		f->tries = (uint32_t)json_u64(e, "tries");
	}
	json_t *cp = json_object_get(o, "checkpoint");
	s->checkpoint = json_time(json_object_get(cp, "time"));
	s->checkpoint_completed = json_is_true(json_object_get(cp,
	    "completed"));
	s->checkpoint_completed_at = json_time(json_object_get(cp,
	    "completed_at"));
	s->started_at = json_time(json_object_get(o, "started_at"));
	s->pid = (int)json_u64(o, "pid");
}

void
status_print_json(const struct status *s, const char *name,
    const char *primary, const char *secondary, bool running, void *array)
{
	json_t *o = to_json(s, name, primary, secondary, running);

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

void
status_print_row(const struct status *s, const char *name,
    const char *primary, const char *secondary, bool running)
{
	char synced[40] = "-", lag[32] = "-", cp[64] = "-";
	int64_t now = now_ns();

	(void)primary;
	(void)running;
	if (s->last_synced) {
		format_rfc3339(s->last_synced, synced, sizeof(synced));
		snprintf(lag, sizeof(lag), "%.3fs",
		    (double)(now - s->last_synced) / 1e9);
	}
	if (s->checkpoint) {
		char t[40];
		format_rfc3339(s->checkpoint, t, sizeof(t));
		snprintf(cp, sizeof(cp), "%s %s", t, s->checkpoint_completed ?
		    "completed" : "pending");
	}
	printf("%-16s %-16s %-24s %-20s %8s %7llu %9llu %s\n", name, s->state,
	    synced, secondary, lag, (unsigned long long)s->failure_count,
	    (unsigned long long)s->files_synced, cp);
	if (s->detail)
		printf("%-16s   %s\n", "", s->detail);
	for (size_t i = 0; i < s->nfailures; i++)
		printf("%-16s   failed: %s: %s (%u tries)\n", "",
		    s->failures[i].path, s->failures[i].error,
		    s->failures[i].tries);
}
