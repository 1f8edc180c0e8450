/* The page server's network side, shared by `page-server` (images from a directory) and
 * `dump --lazy-pages` (the frozen tree's memory): TCP sockets, and a server that runs one thread
 * per client connection over page-xfer (pagesrv/include/page-xfer.h).
 *
 * When it stops (CRIU's behaviour for a lazy page server): once at least one client said a valid
 * HELLO and every connection of every client has closed since, the clients are done and so is
 * the server. A client that fails the HELLO (another dump, another version) is told why and does
 * not count. Without a client the server waits (bounded by idle_timeout_s when set). */
#ifndef CRL_PAGE_SERVER_H
#define CRL_PAGE_SERVER_H

#include <stdint.h>

#include "page-xfer.h"

/* A listening TCP socket on address (NULL: 127.0.0.1, never every address by default) and port.
 * fd or -errno (logged). */
int ps_listen(const char *address, int port);

/* True for 127.0.0.0/8, ::1 and "localhost". */
int ps_address_is_loopback(const char *address);

struct ps_server {
	int lfd;
	const uint8_t *uuid; /* the dump served; NULL: any (receiving pushed images) */
	int idle_timeout_s;  /* no client at all within this: -ETIMEDOUT; 0: wait for ever */
	int reconnect_s;     /* how long a broken client may take to reconnect */
	/* serves one client connection after its HELLO; 0 or -errno (logged by the server) */
	int (*serve)(void *arg, struct pxf_conn *c);
	void *arg;
	/* statistics, filled by ps_run */
	uint64_t clients, conns, conn_errors;
};

/* Runs until the clients are done (see above). 0, or -errno. */
int ps_run(struct ps_server *s);

/* For the commands that serve: --pidfile and --status-fd (one zero byte, then close). */
int ps_write_pidfile(const char *path);
void ps_say_ready(int fd);

#endif
