/*
 * run.c: `camvault run`, the supervisor of the recorder and the server. Each is its own process
 * (docs/architecture.md: recording must go on whatever happens to the web side), restarted
 * with backoff when it exits; SIGTERM/SIGINT stops both.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/log.h"
#include "server/srv.h"
#include "common/banned.h"

#define BACKOFF_MAX_US (30 * CV_US_PER_S)
#define STABLE_US (60 * CV_US_PER_S)
#define KILL_AFTER_US (20 * CV_US_PER_S)

struct child {
    const char *name;
    char *const *argv;
    pid_t pid;
    int64_t started_us, restart_at_us, backoff_us;
};

static void start(struct child *c, const sigset_t *orig)
{
    pid_t pid = fork();

    if (pid == 0) {
        sigprocmask(SIG_SETMASK, orig, NULL);
        execv(c->argv[0], c->argv);
        fprintf(stderr, "camvault run: cannot run %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        cv_error("run: cannot fork the %s: %s", c->name, strerror(errno));
        c->restart_at_us = cv_mono_us() + CV_US_PER_S;
        return;
    }
    c->pid = pid;
    c->started_us = cv_mono_us();
    c->restart_at_us = 0;
    cv_info("run: started the %s (pid %d)", c->name, (int)pid);
}

static void reaped(struct child *c, int status)
{
    int64_t now = cv_mono_us();

    if (now - c->started_us >= STABLE_US)
        c->backoff_us = 0;
    c->backoff_us = c->backoff_us ? c->backoff_us * 2 : CV_US_PER_S;
    if (c->backoff_us > BACKOFF_MAX_US)
        c->backoff_us = BACKOFF_MAX_US;
    if (WIFSIGNALED(status))
        cv_warn("run: the %s (pid %d) was killed by signal %d; restarting in %lld s", c->name,
                (int)c->pid, WTERMSIG(status), (long long)(c->backoff_us / CV_US_PER_S));
    else
        cv_warn("run: the %s (pid %d) exited with status %d; restarting in %lld s", c->name,
                (int)c->pid, WEXITSTATUS(status), (long long)(c->backoff_us / CV_US_PER_S));
    c->pid = 0;
    c->restart_at_us = now + c->backoff_us;
}

int srv_supervise(char *const record_argv[], char *const serve_argv[], struct cv_err *err)
{
    struct child kids[2] = {{"recorder", record_argv, 0, 0, 0, 0},
                            {"server", serve_argv, 0, 0, 0, 0}};
    sigset_t set, orig;
    int64_t deadline;

    (void)err;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &orig);
    for (int i = 0; i < 2; i++)
        start(&kids[i], &orig);
    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts), status;
        pid_t pid;
        if (sig == SIGTERM || sig == SIGINT)
            break;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            for (int i = 0; i < 2; i++)
                if (kids[i].pid == pid)
                    reaped(&kids[i], status);
        for (int i = 0; i < 2; i++)
            if (!kids[i].pid && kids[i].restart_at_us && cv_mono_us() >= kids[i].restart_at_us)
                start(&kids[i], &orig);
    }
    cv_info("run: stopping the recorder and the server");
    for (int i = 0; i < 2; i++)
        if (kids[i].pid)
            kill(kids[i].pid, SIGTERM);
    deadline = cv_mono_us() + KILL_AFTER_US;
    while (kids[0].pid || kids[1].pid) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            for (int i = 0; i < 2; i++)
                if (kids[i].pid == pid)
                    kids[i].pid = 0;
            continue;
        }
        if (pid < 0 && errno == ECHILD)
            break;
        if (cv_mono_us() >= deadline) {
            for (int i = 0; i < 2; i++)
                if (kids[i].pid) {
                    cv_warn("run: the %s did not stop within 20 s: killing it", kids[i].name);
                    kill(kids[i].pid, SIGKILL);
                }
            deadline = INT64_MAX;
        }
        usleep(50 * 1000);
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
