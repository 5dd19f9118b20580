#include <signal.h>
#include <string.h>

#include "../common/log.h"
#include "cli.h"
#include "../common/banned.h"

volatile int cli_stop_signal;

static void
on_stop(int sig)
{
	cli_stop_signal = sig;
}

/*
 * Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the work at its next step
 * instead of killing the process: the secondary is told BYE at a frame
 * boundary, and the exit status says what happened.  A second signal
 * kills at once (SA_RESETHAND).  A signal ignored when we started (a
 * background job of a non-interactive shell, nohup) stays ignored.
 */
void
cli_catch_stop_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESETHAND | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(sigs[i], &sa, NULL) < 0)
			log_sys(LOG_LVL_WARN, "sigaction %s",
			    strsignal(sigs[i]));
	}
}
