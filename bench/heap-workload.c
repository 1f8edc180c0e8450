/* A process to checkpoint in bench/lazy-restore.sh: N MiB of heap-like memory (bench/heapgen.h, so
 * images compress as real heaps do), a counter it keeps touching, and on SIGTERM a check of every
 * byte against the generator, written to the outfile as PASS or FAIL.
 *
 * usage: heap-workload MIB PIDFILE OUTFILE
 * Returns once the daemon is ready (memory filled, pidfile written). */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "heapgen.h"

#define CHUNK MIB /* each MiB has its own seed, so the check can regenerate it alone */
#define SEED 0x4ea9

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", getpid());
	return fclose(f) ? -errno : 0;
}

static long check(const unsigned char *area, size_t len)
{
	unsigned char *want = malloc(CHUNK);
	size_t off, i;

	if (!want)
		return -2;
	for (off = 0; off < len; off += CHUNK) {
		heap_fill(want, CHUNK, SEED + off / CHUNK);
		if (memcmp(area + off, want, CHUNK))
			for (i = 0; i < CHUNK; i++)
				if (area[off + i] != want[i]) {
					free(want);
					return off + i;
				}
	}
	free(want);
	return -1;
}

static int daemon_main(size_t len, const char *pidfile, int ready_fd)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	volatile unsigned long *counter;
	unsigned char *area;
	unsigned long seen;
	size_t off;
	long bad;

	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || counter == MAP_FAILED) {
		printf("FAIL: mmap of %zu bytes: %s\n", len, strerror(errno));
		return 1;
	}
	for (off = 0; off < len; off += CHUNK)
		heap_fill(area + off, CHUNK, SEED + off / CHUNK);
	signal(SIGTERM, on_term);
	if (write_pidfile(pidfile)) {
		printf("FAIL: cannot write %s\n", pidfile);
		return 1;
	}
	printf("heap workload: %zu MiB filled, waiting for SIGTERM\n", len / MIB);
	fflush(stdout);
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	close(ready_fd);
	while (!stop) {
		(*counter)++;
		nanosleep(&ts, NULL);
	}
	seen = *counter;
	bad = check(area, len);
	if (bad >= 0)
		printf("FAIL: bad data at offset %ld of %zu\n", bad, len);
	else if (bad < -1)
		printf("FAIL: out of memory for the check\n");
	else if (!seen)
		printf("FAIL: the counter never moved\n");
	else
		printf("heap workload: %zu MiB intact, counter at %lu\nPASS\n", len / MIB, seen);
	fflush(stdout);
	return bad != -1 || !seen;
}

int main(int argc, char **argv)
{
	size_t mb = argc == 4 ? strtoul(argv[1], NULL, 0) : 0;
	int pfd[2], fd;
	char c;
	pid_t pid;

	if (!mb) {
		fprintf(stderr, "usage: heap-workload MIB PIDFILE OUTFILE\n");
		return 2;
	}
	if (pipe(pfd))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			return 1;
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		if (fd > 0)
			close(fd);
		return daemon_main(mb * MIB, argv[2], pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		fprintf(stderr, "heap-workload: the daemon died before it was ready (see %s)\n",
			argv[3]);
		return 1;
	}
	return 0;
}
