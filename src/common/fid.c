#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fid.h"
#include "util.h"
#include "banned.h"

int
fid_at(int dirfd, const char *name, uint64_t fsid, struct fid *out)
{
	union {
		struct file_handle fh;
		uint8_t space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	int mount_id;
	int flags = name[0] == '\0' ? AT_EMPTY_PATH : 0;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dirfd, name, &h.fh, &mount_id, flags) < 0)
		return -1;
	if (h.fh.handle_bytes + 12 > FID_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	memcpy(out->bytes, &fsid, 8);
	memcpy(out->bytes + 8, &h.fh.handle_type, 4);
	memcpy(out->bytes + 12, h.fh.f_handle, h.fh.handle_bytes);
	out->len = (uint8_t)(12 + h.fh.handle_bytes);
	return 0;
}

int
fid_open(int mountfd, const struct fid *fid, uint64_t fsid, int flags)
{
	union {
		struct file_handle fh;
		uint8_t space[sizeof(struct file_handle) + FID_MAX];
	} h;

	if (fid->len <= 12 || memcmp(fid->bytes, &fsid, 8) != 0) {
		errno = ESTALE;
		return -1;
	}
	h.fh.handle_bytes = fid->len - 12u;
	memcpy(&h.fh.handle_type, fid->bytes + 8, 4);
	memcpy(h.fh.f_handle, fid->bytes + 12, h.fh.handle_bytes);
	return open_by_handle_at(mountfd, &h.fh, flags | O_CLOEXEC);
}

void
fid_hex(const struct fid *f, char *out)
{
	hex_encode(f->bytes, f->len, out);
}
