/*
 * secondary: the far end.  `georep secondary DIR` reads requests on stdin and
 * writes replies on stdout until BYE or EOF; it is the same program whether
 * spawned over pipes by a local primary or by sshd for a remote one.
 *
 * It trusts nothing it receives: every frame is size-checked and parsed
 * exactly, every name and path checked, every path resolved beneath DIR
 * without following symlinks (resolve.h).  It keeps its own state in
 * DIR/.georep (the volume id of its primary, the sync point, the staging
 * area), which the protocol can never name.
 *
 * Returns the process exit status (0 after BYE, sysexits otherwise).
 */
#ifndef GEOREP_SECONDARY_H
#define GEOREP_SECONDARY_H

int secondary_main(const char *dir, int in_fd, int out_fd);

#endif
