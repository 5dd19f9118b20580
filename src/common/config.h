/*
 * config: a session's settings -- the keys DESIGN.md lists, their defaults,
 * their validation, and the INI file they live in (read with libinih,
 * written by durable_write_at).
 *
 *   config_init()        the defaults
 *   config_set()         one key from text, validated: -1 with a message in
 *                        err (the key, the value, what was expected)
 *   config_get()         one key as text (caller frees)
 *   config_load/save()   sessions/NAME/config
 *
 * The file has a [session] section (primary, secondary: fixed at create)
 * and a [config] section (the keys below).  An unknown section or key, or a
 * bad value, in the file is an error naming the file and the line: a typo
 * never silently falls back to a default.  A value the file could not give
 * back as written (a line is at most 198 bytes; blanks at either end, and
 * ';' or '#' at the start or after a blank, are lost) is refused: by
 * config_set for an exclude pattern, by config_save (-1, logged, errno
 * EINVAL) for any value, primary and secondary included.
 *
 * sync_jobs (parse_sync_jobs, which georep sync --sync-jobs uses too): the
 * workers the secondary writes files with (secondary/pool.h).
 *
 * compress and bwlimit are parsed by parse_compress and parse_rate, which
 * the command line (georep sync --compress, --bwlimit) uses too.
 */
#ifndef GEOREP_CONFIG_H
#define GEOREP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum detector { DETECT_AUTO, DETECT_FANOTIFY, DETECT_INOTIFY, DETECT_CRAWL };

struct config {
	char *primary;
	char *secondary;
	enum detector change_detector;
	int64_t change_interval_ms;
	int64_t timeout_ms;
	bool ignore_deletes;
	bool sync_xattrs;
	bool sync_acls;
	/* A mount point inside the primary is not entered: with false, each
	 * is a failure in status; with true, they are skipped on purpose. */
	bool one_file_system;
	char **exclude;
	size_t nexclude, cap_exclude;
	int64_t crawl_interval_ms;
	int64_t verify_interval_ms;	/* georep verify --repair this often
					 * (0: off) */
	int log_level;		/* enum log_level */
	/* How a [USER@]HOST:PATH secondary is reached: a command line, split
	 * into words with the shell's quoting (cmdline.h). */
	char *ssh_command;
	int compress;		/* COMPRESS_AUTO, 0 (off) or a zstd level */
	uint64_t bwlimit;	/* bytes per second to the secondary; 0: any */
	/* A changed file at least this large goes as an rsync-style delta
	 * (delta.h); 0: never; CONFIG_DELTA_AUTO: CONFIG_DELTA_THRESHOLD to
	 * a remote secondary, never to a local one. */
	uint64_t delta_threshold;
	int sync_jobs;		/* 1..SYNC_JOBS_LIMIT */
	/* Where the session logs: NULL for HOME/sessions/NAME/log, "-" for
	 * standard error, else an absolute path. */
	char *log_file;
	/* Where the monitor serves metrics (parse_listen): NULL when off. */
	char *metrics_listen;
};

/* sync_jobs: DESIGN.md's default; the most the HELLO can carry
 * (protocol/proto.h, SYNC_JOBS_MAX; checked where both are seen). */
#define SYNC_JOBS_DEFAULT	3
#define SYNC_JOBS_LIMIT		32
int parse_sync_jobs(const char *s, int *out);

/* compress: auto is on (COMPRESS_DEFAULT) over ssh, off for a local
 * secondary; "on" is COMPRESS_DEFAULT.  Level 1: on the headers of
 * /usr/include (112 MiB of frames) it wrote 23.0 MiB where level 3 wrote
 * 19.7 MiB, at about twice the speed (zstd -b, 1 MiB blocks: 176 against
 * 84 MB/s on a loaded 2-core machine) -- and the pump compresses in the
 * thread that reads the files.  DESIGN.md's default, too. */
#define COMPRESS_AUTO		(-1)
#define COMPRESS_DEFAULT	1
#define COMPRESS_MAX		19
/* bwlimit: the most a rate may be, in bytes per second (1 TiB/s). */
#define RATE_MAX		(1ull << 40)

/* Files from this size up go as deltas to a remote secondary, by default
 * (auto): below, the round trip for the signature and the signature
 * itself (about 1.5% of the file) save little over sending it whole.  To
 * a local one, never: a pipe costs nothing, the secondary writes the
 * whole new file either way, and the signature, the rolling checksum and
 * the patch cost CPU (64 MiB: 1.3 s as a delta, 0.5 s whole). */
#define CONFIG_DELTA_THRESHOLD	(1u << 20)
#define CONFIG_DELTA_AUTO	UINT64_MAX

/* A listening address as metrics_listen takes it: "off" (1), or PORT
 * (loopback: 127.0.0.1), IPV4:PORT, [IPV6]:PORT or localhost:PORT (0,
 * with the address in *sa and its length in *len; ss may be NULL).  No
 * host names: a daemon resolves nothing.  -1 for anything else. */
struct sockaddr_storage;
int parse_listen(const char *s, struct sockaddr_storage *ss,
    unsigned *len);

/* The default ssh command: never a prompt (a daemon has no terminal). */
#define CONFIG_SSH_COMMAND	"ssh -oBatchMode=yes"

void config_init(struct config *c);
void config_release(struct config *c);
/* Set KEY to VALUE.  For exclude, append (an empty VALUE clears). */
int config_set(struct config *c, const char *key, const char *value,
    char *err, size_t errlen);
/* KEY as text, or NULL (errno ENOENT) for an unknown key. */
char *config_get(const struct config *c, const char *key);
/* The settable keys, NULL-terminated, in the order they are shown. */
extern const char *const config_keys[];

/* -1 with the path, the line and the reason in err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* DIR/config, durably; -1 logged. */
int config_save(const struct config *c, const char *dir);

/* Parse "1s", "500ms", "2m", "1h" or a plain number of seconds: digits,
 * at most one '.', at most 7 days.  -1 for anything else. */
int parse_duration_ms(const char *s, int64_t *out);
/* "auto", "on"/"yes"/"true", "off"/"no"/"false"/"0", or a level 1..19
 * (COMPRESS_MAX).  -1 for anything else. */
int parse_compress(const char *s, int *out);
/* A rate as rsync's --bwlimit takes it: a number (a fraction too) of KiB
 * per second, or with a suffix K, M, G (KiB, MiB, GiB) or B (bytes); 0: no
 * limit.  Anything else, a rate below 1 KiB/s or above RATE_MAX: -1. */
int parse_rate(const char *s, uint64_t *bytes_per_s);
/* format_rate (util.h) writes a rate as parse_rate reads it back. */
/* Parse a size: digits and an optional K, M, G or T (binary: 1K is 1024),
 * at most 1 PiB.  -1 for anything else. */
int parse_size(const char *s, uint64_t *out);
/* A delta threshold: a size, "off" (0, as "0" is) or "auto"
 * (CONFIG_DELTA_AUTO). */
int parse_delta_threshold(const char *s, uint64_t *out);
/* The threshold as parse_delta_threshold reads it back (caller frees). */
char *format_delta_threshold(uint64_t v);

#endif
