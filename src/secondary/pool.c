#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "pool.h"
#include "../common/banned.h"

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job queued, or stop */
	pthread_cond_t done;		/* a job done */
	struct pool_job *work_head, *work_tail;
	struct pool_job *out_head, *out_tail;
	size_t nout;
	size_t undone;			/* handed over, not done yet */
	bool stop;
	int evfd;
	pool_fn fn;
	void *arg;
	int nthreads;
	pthread_t *threads;
};

static struct pool_job *
next_work(struct pool *p)
{
	struct pool_job *j;

	pthread_mutex_lock(&p->lock);
	while (p->work_head == NULL && !p->stop)
		pthread_cond_wait(&p->work, &p->lock);
	j = p->work_head;
	if (j != NULL) {
		p->work_head = j->next_work;
		if (p->work_head == NULL)
			p->work_tail = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct pool_job *j;
	uint64_t one = 1;

	while ((j = next_work(p)) != NULL) {
		p->fn(p->arg, j);
		pthread_mutex_lock(&p->lock);
		j->done = true;
		p->undone--;
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
		/* A full counter (2^64 - 2) cannot happen; EAGAIN is harmless. */
		if (write(p->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_sys(LOG_LVL_WARN, "worker: eventfd");
	}
	return NULL;
}

struct pool *
pool_new(int n, pool_fn fn, void *arg)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	p->fn = fn;
	p->arg = arg;
	p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->evfd < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = xcalloc((size_t)n, sizeof(*p->threads));
	for (; p->nthreads < n; p->nthreads++) {
		int err = pthread_create(&p->threads[p->nthreads], NULL,
		    worker, p);
		if (err != 0) {
			pool_free(p);
			errno = err;
			return NULL;
		}
	}
	return p;
}

void
pool_submit(struct pool *p, struct pool_job *j)
{
	j->next_work = j->next_out = NULL;
	j->done = false;
	pthread_mutex_lock(&p->lock);
	if (p->work_tail)
		p->work_tail->next_work = j;
	else
		p->work_head = j;
	p->work_tail = j;
	if (p->out_tail)
		p->out_tail->next_out = j;
	else
		p->out_head = j;
	p->out_tail = j;
	p->nout++;
	p->undone++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

struct pool_job *
pool_take(struct pool *p, bool wait)
{
	struct pool_job *j;
	uint64_t n;

	/* Read the count down first: a job done after this read writes it
	 * again, so a poll after a NULL here does wake for it. */
	if (read(p->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_sys(LOG_LVL_WARN, "pool: eventfd");
	pthread_mutex_lock(&p->lock);
	while (wait && p->out_head != NULL && !p->out_head->done)
		pthread_cond_wait(&p->done, &p->lock);
	j = p->out_head;
	if (j != NULL && j->done) {
		p->out_head = j->next_out;
		if (p->out_head == NULL)
			p->out_tail = NULL;
		p->nout--;
	} else {
		j = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

size_t
pool_out(const struct pool *p)
{
	return p->nout;	/* the caller's thread alone changes it */
}

int
pool_fd(const struct pool *p)
{
	return p->evfd;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->undone > 0)
		pthread_cond_wait(&p->done, &p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	close(p->evfd);
	free(p->threads);
	free(p);
}
