/* thread.c: raising a worker's flag and joining it (see thread.h). */
#include "common/thread.h"

#include "common/banned.h"

void cv_thread_raise(pthread_mutex_t *mu, pthread_cond_t *cond, bool *flag)
{
    pthread_mutex_lock(mu);
    *flag = true;
    pthread_cond_broadcast(cond);
    pthread_mutex_unlock(mu);
}

void cv_thread_stop(pthread_mutex_t *mu, pthread_cond_t *cond, bool *flag, pthread_t thread)
{
    cv_thread_raise(mu, cond, flag);
    pthread_join(thread, NULL);
}
