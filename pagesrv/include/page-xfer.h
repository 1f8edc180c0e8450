/* page-xfer: the page server's wire protocol, version 1, as a library (no sockets of its own, no
 * logging, no globals). Both ends are this code; neither trusts the other's lengths.
 *
 * A connection is a byte stream (TCP, or a unix socket). Every message is a 20-byte header and a
 * payload, all integers little endian:
 *
 *   u32 magic    PXF_MAGIC
 *   u16 type     PXF_HELLO ...
 *   u16 flags    0 (PXF_F_MORE on INDEX only)
 *   u32 len      payload bytes; checked against the type's bound before anything is read
 *   u64 tag      chosen by the client, echoed by the server's answer
 *
 * HELLO      c->s  u32 version, u32 page_size, u8 uuid[16]     first message, exactly 24 bytes
 * HELLO_OK   s->c  u32 version, u32 page_size, u8 uuid[16]     the server speaks the version and
 *                                                              serves that dump
 *   The server answers a HELLO of another version with ERROR EPROTO, and one naming another dump
 *   (uuid) with ERROR ESTALE, then closes. A version is checked before the rest of the HELLO, so
 *   a later version may grow it.
 * GET_INDEX  c->s  u64 id                                      the entries of one memory owner
 * INDEX      s->c  u32 nr, u32 0, nr * { u64 vaddr, u32 nr_pages, u32 flags }
 *                  nr <= PXF_MAX_INDEX_CHUNK; PXF_F_MORE: another INDEX with the same tag follows.
 *                  flags are pagemap's (PRESENT, LAZY, PARENT, RAW); sorted, not overlapping.
 * GET_PAGES  c->s  u64 id, u64 vaddr, u32 nr_pages, u32 0      1 <= nr_pages <= PXF_MAX_REQ_PAGES
 * PAGES      s->c  u32 nr_items, u32 0, then items, each
 *                  { u64 vaddr, u32 nr_pages, u16 kind, u16 0, u32 len, u32 csum } + len bytes
 *   kind PXF_ITEM_ZSTD / PXF_ITEM_RAW: a stored frame, whole (it may start before the range or
 *   end after it), csum = frame_csum of its len bytes, len < nr_pages * page (ZSTD) or
 *   == nr_pages * page (RAW), nr_pages <= PGS_MAX_FRAME_PAGES;
 *   kind PXF_ITEM_HOLE: pages that read as zero, len 0, inside the range.
 *   Items tile the range: each starts where the last ended, the first covers vaddr, the last
 *   reaches vaddr + nr_pages; nothing follows the last item.
 * ERROR      s->c  i32 errno (1..4095), u32 text_len, text     text_len <= PXF_MAX_ERROR_TEXT
 *   The answer to a request that cannot be served: ENOENT (no such owner, or pages that live in
 *   the parent image set), EINVAL (a malformed request: the server closes after it), EIO/EBADMSG
 *   (the server's images are damaged).
 *
 * A peer that breaks any rule gets ERROR (where it is a client) and a closed connection; the
 * library returns -EBADMSG for anything malformed, -ECONNRESET for a stream that ends mid-message,
 * -ETIMEDOUT when the peer stops sending within the connection's timeout.
 *
 * A connection is used by one thread at a time. Requests may be pipelined: the server answers in
 * order.
 */
#ifndef PAGESRV_PAGE_XFER_H
#define PAGESRV_PAGE_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagestore.h"

#define PXF_MAGIC 0x31465850u /* "PXF1" */
#define PXF_VERSION 1
#define PXF_HDR_SIZE 20
#define PXF_MAX_REQ_PAGES 1024
#define PXF_MAX_INDEX_CHUNK 65536
#define PXF_MAX_ERROR_TEXT 256
#define PXF_ITEM_SIZE 24
/* the largest PAGES payload: the range, a frame sticking out at each end, and an item per page */
#define PXF_MAX_PAGES_PAYLOAD                                                                      \
	(8 + (PXF_MAX_REQ_PAGES + 2 * PGS_MAX_FRAME_PAGES) * (PGS_PAGE_SIZE + PXF_ITEM_SIZE))

enum pxf_type {
	PXF_HELLO = 1,
	PXF_HELLO_OK = 2,
	PXF_GET_INDEX = 3,
	PXF_INDEX = 4,
	PXF_GET_PAGES = 5,
	PXF_PAGES = 6,
	PXF_ERROR = 7,
	PXF_PUT_FILE = 8, /* pushing images, see below */
	PXF_PUT_OK = 9,
};

#define PXF_F_MORE 1

enum pxf_item_kind {
	PXF_ITEM_HOLE = 0,
	PXF_ITEM_ZSTD = 1,
	PXF_ITEM_RAW = 2,
};

struct pxf_conn;

/* Wraps a connected stream socket; the caller keeps ownership of fd. timeout_ms bounds every wait
 * for the peer (0: no bound). 0 or -ENOMEM. */
int pxf_conn_create(struct pxf_conn **c, int fd, int timeout_ms);
void pxf_conn_free(struct pxf_conn *c); /* accepts NULL; does not close fd */

/* Why the last call on c failed, including the text of an ERROR from the peer. */
const char *pxf_last_error(const struct pxf_conn *c);

/* ---- client ---- */

/* Sends HELLO with the dump's uuid and waits for HELLO_OK. 0, -EPROTO (versions differ), -ESTALE
 * (the server serves another dump), -EBADMSG, -ECONNRESET, -ETIMEDOUT. */
int pxf_hello(struct pxf_conn *c, const uint8_t *uuid);

/* The index of owner id: *ents (malloc'ed, off/len/csum zero) and *nr. 0, -ENOENT, or as above. */
int pxf_get_index(struct pxf_conn *c, uint64_t id, struct pgs_entry **ents, size_t *nr);

/* Reads pages as pgs_read does (1: data in dst, holes zero-filled; 0: all hole, dst untouched;
 * -ENOENT: parent pages; -EBADMSG: a frame failed its checksum or decode), for at most
 * PXF_MAX_REQ_PAGES pages (-EINVAL beyond). */
int pxf_read(struct pxf_conn *c, uint64_t id, uint64_t vaddr, unsigned long nr_pages, void *dst);

/* Pipelining: send requests, then take their answers in order. */
int pxf_send_get_pages(struct pxf_conn *c, uint64_t tag, uint64_t id, uint64_t vaddr,
		       uint32_t nr_pages);

struct pxf_item {
	uint64_t vaddr;
	uint32_t nr_pages;
	uint32_t kind; /* enum pxf_item_kind */
	uint32_t len;
	uint32_t csum;
	const uint8_t *data; /* len bytes, valid until the next receive on the connection */
};

struct pxf_pages {
	size_t nr;
	const struct pxf_item *items;
};

/* Receives the answer to GET_PAGES(tag, vaddr, nr_pages) and checks it against that request
 * (tiling, sizes; not checksums: pxf_pages_decode does). An ERROR answer returns its -errno. */
int pxf_recv_pages(struct pxf_conn *c, uint64_t tag, uint64_t vaddr, uint32_t nr_pages,
		   struct pxf_pages *p);

/* Checks and decodes a received answer into dst (nr_pages pages from vaddr, as requested).
 * Returns as pxf_read. */
int pxf_pages_decode(struct pxf_conn *c, const struct pxf_pages *p, uint64_t vaddr,
		     uint32_t nr_pages, void *dst);

/* ---- server ---- */

/* The store serving owner id, or NULL (answered with ENOENT). */
typedef struct pgs_ctx *(*pxf_lookup_fn)(void *arg, uint64_t id);

/* Waits for the client's HELLO and answers it. 0, or -EPROTO / -ESTALE (the client was told and
 * the caller should close), or the receive errors. */
int pxf_accept_hello(struct pxf_conn *c, const uint8_t *uuid);

/* Answers requests until the client closes (0) or breaks the protocol (-EBADMSG, after telling
 * it), or the connection fails. Damaged images are reported to the client per request. */
int pxf_serve(struct pxf_conn *c, pxf_lookup_fn lookup, void *arg);

/* Serving pages that are not in a page store: a post-copy source that reads the frozen tree's
 * memory and compresses each frame when it is asked for. The index must be known up front (off,
 * len and csum of the entries are not used); frames are made on request. */
struct pxf_backend_ops {
	size_t (*nr_entries)(void *priv);
	const struct pgs_entry *(*entry)(void *priv, size_t i); /* sorted, not overlapping */
	/* Present entry i as it goes on the wire: its bytes into dst (cap >= nr_pages pages),
	 * their length returned, *raw and *csum (frame_csum of the bytes) set; frame_encode makes
	 * exactly this. -errno: the client gets ERROR for the request. Called from the serving
	 * thread; a server with several clients calls it from several threads. */
	ssize_t (*read_stored)(void *priv, size_t i, void *dst, size_t cap, bool *raw,
			       uint32_t *csum);
};

struct pxf_backend {
	const struct pxf_backend_ops *ops;
	void *priv;
};

/* 0 and *b filled, or -ENOENT (answered as "no such memory owner"). */
typedef int (*pxf_backend_lookup_fn)(void *arg, uint64_t id, struct pxf_backend *b);

/* pxf_serve over any backend; frames it returns are checked before they go out. */
int pxf_serve_backend(struct pxf_conn *c, pxf_backend_lookup_fn lookup, void *arg);

/* Sends an ERROR (err > 0 is an errno) with a short text. */
int pxf_send_error(struct pxf_conn *c, uint64_t tag, int err, const char *text);

/* The stores of an image directory, opened on first request (pagemap-ID.img with ID the owner
 * id in decimal) and checked against uuid; its lookup is a pxf_lookup_fn, safe from several
 * server threads. */
struct pxf_store_dir;
int pxf_store_dir_open(struct pxf_store_dir **d, int dirfd, const uint8_t *uuid);
struct pgs_ctx *pxf_store_dir_lookup(void *d, uint64_t id);
void pxf_store_dir_close(struct pxf_store_dir *d); /* accepts NULL; does not close dirfd */

/* A whole page server on an image directory: accepts clients on lfd, serves each on a thread of its
 * own (HELLO checked against uuid, then pxf_serve with a pxf_store_dir), until stop_fd becomes
 * readable, or, with once, until clients have come and every one of them has gone (a lazy-pages
 * daemon opens two connections and closes both when all pages are in). */
struct pxf_server_opts {
	int lfd;		  /* listening socket (pxf_tcp_listen) */
	int dirfd;		  /* the image directory */
	const uint8_t *uuid;	  /* the dump the images belong to */
	int stop_fd;		  /* -1: none */
	int timeout_ms;		  /* per-message bound on each connection (0: none) */
	bool once;		  /* return when the clients are gone, with the first failure */
	unsigned int max_clients; /* at once; 0: 64. More wait in the listen queue. */
	/* Told how each client ended (0: it closed cleanly), for the caller's log. */
	void (*on_client_end)(void *arg, int err, const char *why);
	void *arg;
};

/* 0 (stopped, or with once every client closed cleanly), or -errno (with once, the first client's
 * failure; or the listening socket's). Every client thread is gone when it returns. */
int pxf_server_run(const struct pxf_server_opts *o);

/* ---- remote stores: a connection made to look like local page stores ---- */

/* One connection to a page server after a successful HELLO, shared by every source opened on it
 * and by any number of threads (one request at a time on the wire; checksums and decoding run
 * outside the lock, in the calling thread). After a transport or protocol failure every later
 * call fails the same way. */
struct pxf_client;

/* Takes fd (closed by pxf_client_close, also on failure). Returns as pxf_hello. */
int pxf_client_open(struct pxf_client **cl, int fd, const uint8_t *uuid, int timeout_ms);
void pxf_client_close(struct pxf_client *cl); /* accepts NULL; every source must be closed */
/* Why the calling thread's last failed call on a client failed. */
const char *pxf_client_last_error(struct pxf_client *cl);
/* The failure that broke the client's connection (0: none); every call fails with it until
 * pxf_client_reconnect. */
int pxf_client_broken(struct pxf_client *cl);
/* Gives a broken client the new connection fd (taken: closed on failure too) and says HELLO on it;
 * the sources opened on cl keep their indexes and read through it (the HELLO checks that the
 * server still serves the same dump). A client that is not broken (another thread reconnected
 * it) keeps its connection and closes fd. Returns as pxf_hello. */
int pxf_client_reconnect(struct pxf_client *cl, int fd, const uint8_t *uuid);

/* One owner's index fetched from the server; the calls mirror pgs_nr_entries, pgs_entry,
 * pgs_read_frame and pgs_read, with the same returns (off/len/csum of the entries are zero). */
struct pxf_source;
int pxf_source_open(struct pxf_source **s, struct pxf_client *cl, uint64_t id);
void pxf_source_close(struct pxf_source *s); /* accepts NULL */
size_t pxf_source_nr_entries(const struct pxf_source *s);
const struct pgs_entry *pxf_source_entry(const struct pxf_source *s, size_t i);
long pxf_source_find(const struct pxf_source *s, uint64_t vaddr);
int pxf_source_read_frame(struct pxf_source *s, size_t i, void *dst);
int pxf_source_read(struct pxf_source *s, uint64_t vaddr, unsigned long nr_pages, void *dst);

/* ---- TCP ---- */

/* A connected TCP socket (TCP_NODELAY, CLOEXEC) in *fd, trying every address of host; connecting
 * is bounded by timeout_ms (0: the system's). 0 or -errno (-EHOSTUNREACH: host does not resolve).
 */
int pxf_tcp_connect(const char *host, unsigned short port, int timeout_ms, int *fd);
/* A listening TCP socket on addr (NULL: every address) and port (0: any; *port_out gets it). */
int pxf_tcp_listen(const char *addr, unsigned short port, int *fd, unsigned short *port_out);
/* Accepts one connection (TCP_NODELAY, CLOEXEC), waiting at most timeout_ms (0: forever). */
int pxf_tcp_accept(int lfd, int timeout_ms, int *fd);

/* ---- server of live memory (the post-copy source) ----
 * Pages that are not stored anywhere: each entry of the index is read whole through the
 * callbacks when asked for and sent as one frame, compressed on the fly at level (a zstd level as
 * frame_codec_create takes it, or PXF_LEVEL_RAW: uncompressed; all-zero entries are compressed
 * all the same). With adapt, the server picks raw or level per answer, whichever is faster end to
 * end as its connections measure them: compressing only pays when the link is slower than the
 * compressor (see page-xfer-src.c). The client cannot tell this server from one that reads
 * images. */
#define PXF_LEVEL_RAW 1000

struct pxf_src_ops {
	/* The index of owner id (sorted, not overlapping, PRESENT entries of at most
	 * PGS_MAX_FRAME_PAGES pages; off/len/csum unused), or -ENOENT. */
	int (*index)(void *arg, uint64_t id, const struct pgs_entry **ents, size_t *nr);
	/* Entry i of owner id, whole, into dst (nr_pages * PGS_PAGE_SIZE bytes). 0 or -errno. */
	int (*read)(void *arg, uint64_t id, size_t i, void *dst);
	/* Optional: called in the serving thread before each GET_PAGES is answered (a server may
	 * lower the priority of a connection that asks for bulk, so that faults go first). */
	void (*request)(void *arg, uint64_t id, uint64_t vaddr, uint32_t nr_pages);
};

/* What the connections of one server measured, shared by them (a fault connection never sends
 * enough to measure the link itself). Caller-owned, zeroed before the first connection. */
struct pxf_adapt {
	_Atomic uint64_t link_ps; /* picoseconds per byte sent */
	_Atomic uint64_t comp_ps; /* picoseconds per byte compressed */
	_Atomic uint64_t ratio;	  /* stored / input, in millionths */
	_Atomic uint64_t answers;
	_Atomic uint64_t page_bytes, wire_bytes; /* pages answered, and the answers' size */
};

/* As pxf_serve, with pages from ops; adapt NULL: always at level (as with PXF_LEVEL_RAW, where
 * adapt only counts bytes). */
int pxf_serve_src(struct pxf_conn *c, const struct pxf_src_ops *ops, void *arg, int level,
		  struct pxf_adapt *adapt);

/* ---- pushing images to a page server (dump --page-server) ----
 * PUT_FILE  c->s  u32 name_len, u32 flags, u64 offset, name, data
 *                 name: 1..PXF_MAX_NAME bytes of [A-Za-z0-9._-], ending ".img", not starting
 *                 with "."; data: at most PXF_MAX_PUT_DATA bytes at offset; chunks of one file come
 *                 in order, the first at offset 0; PXF_PUT_LAST on the last one, which puts the
 *                 file in place (written under a temporary name until then).
 * PUT_OK    s->c  u64 bytes of the file written so far (on PXF_PUT_LAST: the file is in place)
 * A server that receives takes the uuid of the client's HELLO (pxf_accept_hello_any). */
#define PXF_MAX_NAME 255
#define PXF_MAX_PUT_DATA (4u << 20)
#define PXF_PUT_LAST 1u

/* As pxf_accept_hello, for any dump: its uuid goes to uuid_out. */
int pxf_accept_hello_any(struct pxf_conn *c, uint8_t *uuid_out);

/* Client: sends the whole file fd (size bytes) as name, waiting for each PUT_OK. 0 or -errno. */
int pxf_put_file(struct pxf_conn *c, const char *name, int fd, uint64_t size);

/* Server: receives PUT_FILE requests into dirfd until the client closes (0) or fails (-errno;
 * the client was told). *files counts the files put in place. */
int pxf_serve_put(struct pxf_conn *c, int dirfd, unsigned int *files);

#endif
