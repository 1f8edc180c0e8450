/* Capabilities: effective/permitted/inheritable sets reduced to different subsets, a capability
 * dropped from the bounding set and one raised in the ambient set. */
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static int capget_(struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};

	return syscall(SYS_capget, &h, d);
}

static int capset_(struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};

	return syscall(SYS_capset, &h, d);
}

#define BIT(c) (1U << (c))

int main(int argc, char **argv)
{
	struct __user_cap_data_struct d[2], now[2];
	int i;

	test_init(argc, argv);
	if (capget_(d))
		pr_perror("capget");
	d[0].permitted &= ~(BIT(CAP_SYS_BOOT) | BIT(CAP_MKNOD));
	d[0].effective = d[0].permitted & ~(BIT(CAP_NET_RAW) | BIT(CAP_KILL));
	d[0].inheritable = BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_CHOWN);
	d[1].permitted &= ~BIT(CAP_SYSLOG - 32);
	d[1].effective = d[1].permitted & ~BIT(CAP_WAKE_ALARM - 32);
	d[1].inheritable = 0;
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_MODULE, 0, 0, 0) || capset_(d))
		pr_perror("capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0))
		pr_perror("ambient raise");
	if (capget_(d))
		pr_perror("capget");
	test_daemon();
	test_waitsig();

	if (capget_(now))
		fail("capget: %s", strerror(errno));
	for (i = 0; i < 2; i++)
		if (now[i].effective != d[i].effective || now[i].permitted != d[i].permitted ||
		    now[i].inheritable != d[i].inheritable)
			fail("caps[%d]: eff %#x prm %#x inh %#x, were %#x %#x %#x", i,
			     now[i].effective, now[i].permitted, now[i].inheritable, d[i].effective,
			     d[i].permitted, d[i].inheritable);
	if (prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) != 0)
		fail("CAP_SYS_MODULE is back in the bounding set");
	if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 1)
		fail("CAP_SYS_ADMIN left the bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) != 1)
		fail("the ambient CAP_NET_BIND_SERVICE is lost");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) != 0)
		fail("CAP_CHOWN became ambient");
	pass();
	return 0;
}
