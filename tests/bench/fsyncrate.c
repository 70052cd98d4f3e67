/* fsyncrate.c: the benchmark's disk ceiling (tests/bench): how many 10 KB
 * files per second one thread can make durable the way a spool must
 * (DESIGN.md section 10): write a temporary file, fsync it, rename it into
 * place, fsync the directory. Two modes:
 *   --group 1   each file alone: write, fsync, rename, directory fsync
 *   --group N   N files at once: write all (starting writeback), fsync each,
 *               rename each, one directory fsync for the N
 * --datasync uses fdatasync(2) for the files, as dsmtpd's spool does;
 * --procs P runs P copies at once (dsmtpd runs one commit thread per
 * worker process) and adds their rates up. No SMTP, no TLS, no threads.
 * Prints "FSYNC group=N procs=P sync=fsync|fdatasync files=... per_s=...".
 *
 *	fsyncrate DIR [--group N] [--seconds S] [--size BYTES] [--datasync] [--procs P]
 *
 * DIR must exist and be on the file system under test; the program makes
 * DIR/fsyncrate.PID/{tmp,new} and removes them at the end. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FR_GROUP_MAX	1000

static char fr_top[4096], fr_tmp[4200], fr_new[4200];
static int fr_datasync;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn))
fail(const char *what, const char *name)
{
	fprintf(stderr, "fsyncrate: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

/* remove what a run made: DIR/fsyncrate.PID and the files in it */
static void
cleanup(unsigned long made)
{
	char path[4300];

	for (unsigned long i = 0; i < made; i++) {
		snprintf(path, sizeof(path), "%s/f%lu", fr_new, i);
		if (unlink(path) < 0 && errno != ENOENT)
			fail("unlink", path);
	}
	if (rmdir(fr_tmp) < 0 || rmdir(fr_new) < 0 || rmdir(fr_top) < 0)
		fail("rmdir", fr_top);
}

/* one copy: make files in DIR for SECONDS; writes "files seconds" to out */
static void
run_one(const char *dir, long group, long size, double seconds, FILE *out)
{
	int fds[FR_GROUP_MAX];
	double t0, el;
	unsigned long made = 0;
	char *buf;
	int tmpfd, newfd;

	snprintf(fr_top, sizeof(fr_top), "%s/fsyncrate.%ld", dir, (long)getpid());
	snprintf(fr_tmp, sizeof(fr_tmp), "%s/tmp", fr_top);
	snprintf(fr_new, sizeof(fr_new), "%s/new", fr_top);
	if (mkdir(fr_top, 0700) < 0)
		fail("mkdir", fr_top);
	if (mkdir(fr_tmp, 0700) < 0)
		fail("mkdir", fr_tmp);
	if (mkdir(fr_new, 0700) < 0)
		fail("mkdir", fr_new);
	if ((tmpfd = open(fr_tmp, O_RDONLY | O_DIRECTORY)) < 0)
		fail("open", fr_tmp);
	if ((newfd = open(fr_new, O_RDONLY | O_DIRECTORY)) < 0)
		fail("open", fr_new);
	if ((buf = malloc((size_t)size)) == NULL)
		fail("malloc", "buffer");
	memset(buf, 'x', (size_t)size);

	t0 = now_s();
	while (now_s() - t0 < seconds) {
		char name[32];
		long i;

		for (i = 0; i < group; i++) {
			snprintf(name, sizeof(name), "f%lu", made + (unsigned long)i);
			fds[i] = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fds[i] < 0)
				fail("open", name);
			if (write(fds[i], buf, (size_t)size) != size)
				fail("write", name);
			/* start writeback now, so one journal commit can cover the group */
			if (group > 1 && sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
				fail("sync_file_range", name);
		}
		for (i = 0; i < group; i++) {
			snprintf(name, sizeof(name), "f%lu", made + (unsigned long)i);
			if ((fr_datasync ? fdatasync(fds[i]) : fsync(fds[i])) < 0)
				fail("fsync", name);
			if (close(fds[i]) < 0)
				fail("close", name);
			if (group == 1) {
				if (renameat(tmpfd, name, newfd, name) < 0)
					fail("rename", name);
				if (fsync(newfd) < 0)
					fail("fsync", fr_new);
			}
		}
		if (group > 1) {
			/* every file durable before any rename, as a spool must */
			for (i = 0; i < group; i++) {
				snprintf(name, sizeof(name), "f%lu", made + (unsigned long)i);
				if (renameat(tmpfd, name, newfd, name) < 0)
					fail("rename", name);
			}
			if (fsync(newfd) < 0)
				fail("fsync", fr_new);
		}
		made += (unsigned long)group;
	}
	el = now_s() - t0;
	fprintf(out, "%lu %.3f\n", made, el);
	close(tmpfd);
	close(newfd);
	free(buf);
	cleanup(made);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "datasync", no_argument, NULL, 'D' },
		{ "procs", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	long group = 1, size = 10240, procs = 1;
	double seconds = 3, el = 0, rate = 0;
	unsigned long files = 0;
	int ch, pfd[2];
	FILE *in;

	while ((ch = getopt_long(argc, argv, "g:s:z:Dp:", opts, NULL)) != -1) {
		switch (ch) {
		case 'g': group = strtol(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'z': size = strtol(optarg, NULL, 10); break;
		case 'D': fr_datasync = 1; break;
		case 'p': procs = strtol(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || group < 1 || group > FR_GROUP_MAX || !(seconds > 0) ||
	    size < 1 || size > (16L << 20) || procs < 1 || procs > 64)
		goto usage;
	/* each copy reports "files seconds" on a shared pipe */
	if (pipe(pfd) < 0)
		fail("pipe", "");
	for (long p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			fail("fork", "");
		if (pid == 0) {
			FILE *out;

			close(pfd[0]);
			if ((out = fdopen(pfd[1], "w")) == NULL)
				fail("fdopen", "");
			run_one(argv[optind], group, size, seconds, out);
			if (fclose(out) != 0)
				fail("write", "pipe");
			_exit(0);
		}
	}
	close(pfd[1]);
	if ((in = fdopen(pfd[0], "r")) == NULL)
		fail("fdopen", "");
	for (;;) {
		unsigned long f;
		double e;

		if (fscanf(in, "%lu %lf", &f, &e) != 2)
			break;
		files += f;
		rate += (double)f / e;
		if (e > el)
			el = e;
	}
	fclose(in);
	for (long p = 0; p < procs; p++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fsyncrate: a copy failed\n");
			return 1;
		}
	}
	printf("FSYNC group=%ld procs=%ld sync=%s size=%ld files=%lu seconds=%.2f per_s=%.1f\n",
	    group, procs, fr_datasync ? "fdatasync" : "fsync", size, files, el, rate);
	return 0;
usage:
	fprintf(stderr, "Usage: fsyncrate DIR [--group N] [--seconds S] [--size BYTES] "
	    "[--datasync] [--procs P]\n");
	return 2;
}
