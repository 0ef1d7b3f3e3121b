/*
 * The sandbox process of every pod in the test cluster (containerd's sandbox_image): it holds the
 * pod's namespaces open while the pod's containers come and go, reaps the zombies that orphaned
 * processes of a shared PID namespace leave behind it, and exits promptly when the runtime stops
 * the pod. Our machines reach no registry to pull the upstream pause image, and this is all it is.
 * Built with `gcc -static` so the image needs no libc.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) {
  (void)signo;
  /* _exit, not exit: only async-signal-safe calls belong in a handler. */
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    /* The upstream image answers -v with its version; ours has no options. */
    fprintf(stderr, "usage: pause (no arguments)\n");
    return 1;
  }
  if (getpid() != 1) fprintf(stderr, "pause: warning: not running as PID 1\n");

  struct sigaction down;
  memset(&down, 0, sizeof down);
  down.sa_handler = stop;
  if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  struct sigaction child;
  memset(&child, 0, sizeof child);
  child.sa_handler = reap;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }

  for (;;) pause();
}
