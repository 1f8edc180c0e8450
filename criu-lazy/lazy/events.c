/* Non-cooperative uffd events: the task forked, moved, discarded or unmapped memory while its
 * pages were still coming. The reader already bumped the task's generation, so no worker copies
 * into a range these change. */
#include <errno.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "uffd.h"
#include "lazy-int.h"

static int handle_fork(struct lp_task *t, const struct uffd_msg *m)
{
	int ret = lp_add_child(t->d, t, m->arg.fork.ufd);

	if (ret)
		lp_err(t, "cannot follow a fork (uffd %u): %s\n", m->arg.fork.ufd, strerror(-ret));
	return ret;
}

static int handle_remap(struct lp_task *t, const struct uffd_msg *m)
{
	lp_debug(t, "remap %#llx -> %#llx (%llu bytes)\n", (unsigned long long)m->arg.remap.from,
		 (unsigned long long)m->arg.remap.to, (unsigned long long)m->arg.remap.len);
	return ext_move_range(t, m->arg.remap.from, m->arg.remap.to, m->arg.remap.len);
}

static int handle_remove(struct lp_task *t, const struct uffd_msg *m)
{
	lp_debug(t, "%s %#llx-%#llx\n", uffd_event_name(m->event),
		 (unsigned long long)m->arg.remove.start, (unsigned long long)m->arg.remove.end);
	return ext_drop_range(t, m->arg.remove.start, m->arg.remove.end);
}

int handle_event(struct lp_task *t, const struct uffd_msg *m)
{
	int ret;

	switch (m->event) {
	case UFFD_EVENT_FORK:
		ret = handle_fork(t, m);
		break;
	case UFFD_EVENT_REMAP:
		lp_guard_taint(t->d, t); /* the ranges the guard knows are stale now */
		ret = handle_remap(t, m);
		break;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		lp_guard_taint(t->d, t);
		ret = handle_remove(t, m);
		break;
	default:
		lp_warn(t, "unexpected uffd event %u\n", m->event);
		return 0;
	}
	if (ret) /* a range we can no longer track could only be zero-filled: stop the task */
		lp_task_lost(t, ret, 0);
	return 0;
}
