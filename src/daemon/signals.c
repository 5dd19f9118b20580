/*
 * Signals of the daemon's processes (daemon.h): a handler that sets a flag
 * and writes a byte to a self-pipe, so a process asleep in poll() wakes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "daemon.h"
#include "../common/banned.h"

volatile int sig_stop, sig_wake, sig_child, sig_hup;
static int wake_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	char c = 0;

	if (sig == SIGUSR1)
		sig_wake = 1;
	else if (sig == SIGCHLD)
		sig_child = 1;
	else if (sig == SIGTERM || sig == SIGINT)
		sig_stop = 1;
	else if (sig == SIGHUP)
		sig_hup = 1;
	if (wake_pipe[1] >= 0) {
		ssize_t n = write(wake_pipe[1], &c, 1);
		(void)n;	/* a full pipe: a wake-up is pending anyway */
	}
	errno = saved;
}

void
install_signals(void)
{
	struct sigaction sa;

	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal("pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
wake_fd(void)
{
	return wake_pipe[0];
}

void
drain_wake(void)
{
	char buf[64];

	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

void
close_wake(void)
{
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	wake_pipe[0] = wake_pipe[1] = -1;
}

void
nap(int64_t ms)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };

	if (sig_stop || sig_wake || sig_hup)
		return;
	if (poll(&p, 1, ms > INT32_MAX ? INT32_MAX : (int)ms) > 0)
		drain_wake();
}
