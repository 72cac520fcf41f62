/*
 * thread.h: the two moves every worker thread in camvault is told with. A worker waits on a
 * condition variable under its mutex for a flag (stop, kick, quit); the owner sets the flag
 * under the mutex and wakes it, and at close joins it. Setting the flag under the mutex is what
 * keeps the wake-up from being lost between the worker's test and its wait.
 * Both functions may be called from any thread but the worker's own.
 */
#ifndef CV_THREAD_H
#define CV_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/* Set *flag to true under mu and wake every thread waiting on cond. */
void cv_thread_raise(pthread_mutex_t *mu, pthread_cond_t *cond, bool *flag);

/* cv_thread_raise(), then join thread (which must have been started and not yet joined). */
void cv_thread_stop(pthread_mutex_t *mu, pthread_cond_t *cond, bool *flag, pthread_t thread);

#endif
