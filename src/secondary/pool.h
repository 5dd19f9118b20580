/*
 * pool: the secondary's workers (sync_jobs, DESIGN.md "A turn", step 3).
 *
 * Threads that run jobs handed to them, and give them back in the order
 * they were handed over: the secondary answers requests in order, so a
 * job finished early waits for the ones before it.  What a job does is
 * the caller's (one function for all); the pool knows only the links.
 *
 *   pool_new()        start n threads running fn(arg, job); NULL with errno
 *   pool_submit()     hand a job over (it is the caller's again once taken
 *                     back)
 *   pool_take()       the oldest job handed over, once it is done (wait:
 *                     until it is); NULL if none is out, or not done yet
 *   pool_out()        how many are handed over and not taken back
 *   pool_fd()         readable after a job is done (an eventfd: poll it
 *                     beside the input, then pool_take what is done)
 *   pool_free()       wait for every job out, stop the threads, free
 *                     (the jobs not taken back are the caller's to free
 *                     first: pool_take them)
 */
#ifndef GEOREP_POOL_H
#define GEOREP_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool;
struct pool_job {
	struct pool_job *next_work;	/* the queue of jobs not started */
	struct pool_job *next_out;	/* the order they were handed over */
	bool done;
};
typedef void (*pool_fn)(void *arg, struct pool_job *job);

struct pool *pool_new(int n, pool_fn fn, void *arg);
void pool_submit(struct pool *p, struct pool_job *job);
struct pool_job *pool_take(struct pool *p, bool wait);
size_t pool_out(const struct pool *p);
int pool_fd(const struct pool *p);
void pool_free(struct pool *p);

#endif
