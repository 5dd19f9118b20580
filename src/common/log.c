#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "georep";
static enum log_level log_level = LOG_LVL_INFO;
static FILE *log_out;

static const char *level_names[] = { "error", "warning", "info", "debug" };

void
log_init(const char *progname, enum log_level level, FILE *out)
{
	log_prog = progname;
	log_level = level;
	log_out = out;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap, int err)
{
	FILE *out = log_out ? log_out : stderr;
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (out != stderr) {
		/* A file log gets timestamps; a terminal does not need them. */
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(out, "%s.%03ldZ [%d] %s: ", when, ts.tv_nsec / 1000000,
		    (int)getpid(), level_names[lvl]);
	} else {
		fprintf(out, "%s: ", log_prog);
		if (lvl != LOG_LVL_INFO)
			fprintf(out, "%s: ", level_names[lvl]);
	}
	if (err)
		fprintf(out, "%s: %s\n", msg, strerror(err));
	else
		fprintf(out, "%s\n", msg);
	fflush(out);
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
