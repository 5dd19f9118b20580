/*
 * transport: how the primary reaches its secondary (DESIGN.md, "Process
 * model").  A secondary is named by a local path, or by [USER@]HOST:PATH,
 * reached with an ssh command that runs `georep secondary PATH` there and
 * carries the protocol on its stdin and stdout.
 *
 *   remote_parse()   tell the two apart and check a remote one (rsync's
 *                    rule: a ':' before the first '/' makes it remote; a
 *                    local path holding such a ':' is written ./a:b)
 *   remote_argv()    the whole argv of the ssh process (the ssh command
 *                    split into words by common/cmdline.h)
 *
 * Functions that can fail say why in err and return -1; nothing here
 * touches a file or a process.
 */
#ifndef GEOREP_TRANSPORT_H
#define GEOREP_TRANSPORT_H

#include <stddef.h>

/* What is run on the remote host: its georep, found in its PATH. */
#define REMOTE_GEOREP		"georep"

struct remote {
	char *host;		/* [USER@]HOST, as given */
	char *path;		/* on that host: '/' not repeated, none at the
				 * end (but for "/") */
};

/* HOST:PATH of a parsed spec (malloc'ed): the one name of the pair. */
char *remote_spec(const struct remote *r);

/* 1 (remote, *r filled; free with remote_release), 0 (a local path),
 * -1 (a remote spec that is not valid: the reason in err). */
int remote_parse(const char *spec, struct remote *r, char *err,
    size_t errlen);
void remote_release(struct remote *r);

/* The ssh argv: the words of ssh_cmd, then HOST, then the remote command
 * line "georep secondary 'PATH'".  -1 (err) for a bad ssh_cmd. */
int remote_argv(const char *ssh_cmd, const struct remote *r, char ***argv,
    char *err, size_t errlen);

#endif
