/*
 * names: the checks every name and relative path must pass before any
 * filesystem call is made with it.  Used on both sides of the wire; on the
 * secondary they are the first line of the trust boundary.
 *
 * A name is valid when it is 1..NAME_MAX bytes, has no '/' and no NUL, and
 * is not "." or "..".  A relative path is zero or more valid names joined by
 * single '/': no leading or trailing '/', no empty component.  The empty
 * path means "the root".
 */
#ifndef GEOREP_NAMES_H
#define GEOREP_NAMES_H

#include <stdbool.h>
#include <stddef.h>

bool name_valid(const char *name, size_t len);
bool relpath_valid(const char *path, size_t len);

/* The name the secondary keeps its own state under, at its root. */
#define GEOREP_STATE_DIR ".georep"

#endif
