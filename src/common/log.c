#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "georep";
static enum log_level log_level = LOG_LVL_INFO;
static FILE *log_out;
/* The last error logged, for a status that must say why without a look
 * at the log (log_last_error). */
static char log_last[512];

static const char *level_names[] = { "error", "warning", "info", "debug" };
/* sd-daemon(3) priorities, for stderr read by the journal. */
static const int journal_prio[] = { 3, 4, 6, 7 };
static bool log_journal;
static const char *log_tag;

/* Whether fd is the stream the journal reads (systemd exports its device
 * and inode in JOURNAL_STREAM to what it starts). */
static bool
is_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, enum log_level level, FILE *out)
{
	log_prog = progname;
	log_level = level;
	log_out = out;
	/* Any stream on the journal's (a dup of standard error too). */
	log_journal = is_journal(out ? fileno(out) : 2);
}

void
log_set_tag(const char *tag)
{
	log_tag = tag;
}

bool
log_to_journal(void)
{
	return log_journal;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

/* One record is one line: a byte that would break it (a newline in a
 * file name, say) or fool a terminal is written as \xNN. */
static void
escape_controls(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p &&
	    o + 5 < outlen; p++) {
		if (*p < 0x20 && *p != '\t') {
			snprintf(out + o, outlen - o, "\\x%02x", *p);
			o += 4;
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap, int err)
{
	FILE *out = log_out ? log_out : stderr;
	char raw[4096], msg[4096 + 64];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (err) {
		size_t n = strlen(raw);
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(err));
	}
	escape_controls(raw, msg, sizeof(msg));
	if (lvl == LOG_LVL_ERR) {
		/* Cut where it fits (a status line, not the log's record). */
		size_t n = strnlen(msg, sizeof(log_last) - 1);
		memcpy(log_last, msg, n);
		log_last[n] = '\0';
	}
	if (log_journal) {
		/* The journal stamps the time and the pid itself; the
		 * level goes as a priority it files the line under. */
		fprintf(out, "<%d>", journal_prio[lvl]);
		if (log_tag)
			fprintf(out, "%s: ", log_tag);
		if (lvl != LOG_LVL_INFO)
			fprintf(out, "%s: ", level_names[lvl]);
	} else if (out != stderr) {
		/* A file log gets timestamps; a terminal does not need them. */
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(out, "%s.%03ldZ [%d] %s%s%s: ", when, ts.tv_nsec /
		    1000000, (int)getpid(), log_tag ? log_tag : "", log_tag ?
		    " " : "", level_names[lvl]);
	} else {
		fprintf(out, "%s: ", log_prog);
		if (log_tag)
			fprintf(out, "%s: ", log_tag);
		if (lvl != LOG_LVL_INFO)
			fprintf(out, "%s: ", level_names[lvl]);
	}
	fprintf(out, "%s\n", msg);
	fflush(out);
}

const char *
log_last_error(void)
{
	return log_last[0] ? log_last : NULL;
}

void
log_clear_last_error(void)
{
	log_last[0] = '\0';
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (lvl <= log_level) {
		va_start(ap, fmt);
		log_vwrite(lvl, fmt, ap, 0);
		va_end(ap);
	}
	errno = saved;
}

void
log_sys(enum log_level lvl, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (lvl <= log_level) {
		va_start(ap, fmt);
		log_vwrite(lvl, fmt, ap, saved);
		va_end(ap);
	}
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, fmt, ap, 0);
	va_end(ap);
	exit(70);	/* EX_SOFTWARE */
}
