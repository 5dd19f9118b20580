/*
 * contact: what a one-shot sync and a session's worker share before their
 * first turn -- the primary's volume id, the index of the pair, the HELLO,
 * and what the secondary's answer means for the index (DESIGN.md, "First
 * contact").
 *
 *   secondary_connect() start the secondary: `georep secondary DIR` here,
 *                      or over the ssh command for [USER@]HOST:PATH
 *   volume_id()        the primary's identity, from the primary itself
 *   open_index()       the pair's index, bound to that volume
 *   say_hello()        version and binding; a refusal gives a sysexits code
 *   reconcile_hello()  a new or taken-over secondary empties the index; a
 *                      bound one with no index is refused without --force
 *
 * Each returns 0, or -1 with the reason logged (and, where it says so, the
 * sysexits(3) code for the command in *exit_code).
 */
#ifndef GEOREP_CONTACT_H
#define GEOREP_CONTACT_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct index;
struct fid;

struct hello_result {
	int state;		/* enum hello_state */
	bool privileged;	/* the secondary may set owners, make devices */
	uint32_t uid, gid;	/* what it runs as: without privilege, the
				 * owner of everything it holds */
};

/* -1 with c->error set (the spec or the ssh command not valid, or the
 * process could not be started). */
int secondary_connect(struct conn *c, const char *secondary,
    const char *ssh_cmd);
/* The primary's volume id ("fid:HEX" of its root); fills fsid and root.
 * NULL (logged) when the primary's filesystem has no file handles. */
char *volume_id(int rootfd, const char *prim, uint64_t *fsid,
    struct fid *root);
/* Open (create) the index in dir, bound to volume: 1 (not logged, *ix
 * NULL) when it is bound to another volume. */
int open_index(const char *dir, const char *volume, struct index **ix);
/* flags: HELLO_FORCE, HELLO_READONLY (proto.h); HELLO_COMPRESS is added
 * when conn_set_wire asked for compression, which starts once the
 * secondary agreed. */
/* The HELLO flags asking for n workers (sync_jobs; below 1: one). */
uint32_t hello_jobs(int n);
int say_hello(struct conn *c, const char *volume, uint32_t flags,
    struct hello_result *out, int *exit_code);
/* *adopt: in, --adopt was given; out, the secondary is to be adopted
 * (adopt.h) before the first turn. */
int reconcile_hello(struct conn *c, struct index *ix,
    const struct hello_result *h, bool *adopt, const char *sec,
    int *exit_code);

#endif
