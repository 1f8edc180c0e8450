/* Unix stream servers: listening sockets bound to a relative path and to an abstract name, and
 * a connection accepted from the first with data queued both ways. After restore the names are
 * the same (the socket file keeps its mode and owner; the accepted socket the listener's), new
 * clients connect to both, and the old connection still carries data. */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static socklen_t mkaddr(struct sockaddr_un *a, const char *name, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int check_listener(int lsk, struct sockaddr_un *a, socklen_t al, const char *what)
{
	struct sockaddr_un got;
	socklen_t gl = sizeof(got);
	char back[8];
	int c, s, ok = 1;

	if (getsockname(lsk, (void *)&got, &gl) || gl != al || memcmp(&got, a, al)) {
		fail("%s: the name changed", what);
		return 0;
	}
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)a, al)) {
		fail("%s: cannot connect after restore: %m", what);
		return 0;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0 || write(c, "hi", 2) != 2 || read(s, back, 2) != 2 || memcmp(back, "hi", 2) ||
	    write(s, "yo", 2) != 2 || read(c, back, 2) != 2 || memcmp(back, "yo", 2)) {
		fail("%s: the new connection does not work", what);
		ok = 0;
	}
	close(c);
	close(s);
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_un pa, aa, got;
	socklen_t pl, al, gl;
	char abs_name[64], back[64];
	int lp, la, c, s;
	struct stat st;

	test_init(argc, argv);
	snprintf(abs_name, sizeof(abs_name), "zdtm-listen-%d", getpid());
	pl = mkaddr(&pa, "listen.sock", 0);
	al = mkaddr(&aa, abs_name, 1);
	lp = socket(AF_UNIX, SOCK_STREAM, 0);
	la = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lp < 0 || la < 0 || c < 0)
		pr_perror("socket");
	if (bind(lp, (void *)&pa, pl) || bind(la, (void *)&aa, al) || listen(lp, 16) ||
	    listen(la, 4))
		pr_perror("bind/listen");
	if (chmod("listen.sock", 0666) || chown("listen.sock", 1234, 5678))
		pr_perror("chmod/chown");
	if (connect(c, (void *)&pa, pl))
		pr_perror("connect");
	s = accept(lp, NULL, NULL);
	if (s < 0)
		pr_perror("accept");
	if (write(c, "request", 7) != 7 || write(s, "reply", 5) != 5)
		pr_perror("write");
	test_daemon();
	test_waitsig();

	if (stat("listen.sock", &st) || !S_ISSOCK(st.st_mode))
		fail("the socket file is gone");
	else if ((st.st_mode & 07777) != 0666 || st.st_uid != 1234 || st.st_gid != 5678)
		fail("the socket file is %o %u:%u, was 666 1234:5678", st.st_mode & 07777,
		     st.st_uid, st.st_gid);
	gl = sizeof(got);
	if (getsockname(s, (void *)&got, &gl) || gl != pl || memcmp(&got, &pa, pl))
		fail("the accepted socket lost the listener's name");
	gl = sizeof(got);
	if (getpeername(c, (void *)&got, &gl) || gl != pl || memcmp(&got, &pa, pl))
		fail("the client's peer name changed");
	if (read(s, back, sizeof(back)) != 7 || memcmp(back, "request", 7))
		fail("data queued at the accepted socket changed");
	if (read(c, back, sizeof(back)) != 5 || memcmp(back, "reply", 5))
		fail("data queued at the client changed");
	if (write(c, "more", 4) != 4 || read(s, back, sizeof(back)) != 4)
		fail("the accepted connection is broken");
	check_listener(lp, &pa, pl, "path listener");
	check_listener(la, &aa, al, "abstract listener");
	pass();
	return 0;
}
