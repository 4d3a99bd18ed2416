// SPDX-License-Identifier: GPL-2.0
/*
 * races: runs one race of mmlab.race on the real kernel, inside the guest.
 *
 * Built statically on the host with a generated header, race_table.h
 * (tools/kernel-captures/capture.py writes it from mmlab.race.RACES): the
 * image's mount point, the mapping (mmlab.scenarios' "libc-past-xip": pages
 * 0-2 from flash, 3-4 not), and the race's two threads. Usage:
 *
 *     races NAME LAYOUT
 *
 * LAYOUT "typical": the mapping goes where mmap puts it, under the other
 * mappings of a real process (the stack, the vDSO are above it); "alone":
 * it is placed above the stack (5-level paging), the highest VMA and the
 * only one in its page-table ranges, as in the model's process.
 *
 * Thread A does the race's first step (a fault on a page, or a
 * get_user_pages read of it through /proc/self/mem) and enters the split
 * handler's window; the patched cramfs sleeps there (debugfs
 * cramfs/window_ms, set by the init script). Thread B waits until
 * cramfs/window_entries moves (or a while, if A never gets there), then does
 * its step: a fault, munmap, mprotect, mmap MAP_FIXED of the same file, or
 * mremap of another mapping onto the faulting one. Each thread prints what
 * it got; the main thread prints the maps before and after. The kernel's
 * own words (oops, KASAN, lockdep, hung task) are on the console.
 *
 * Output: "TAG fields" lines on stdout, as probe.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

enum kind { FAULT, GUP, MUNMAP, MPROTECT, REMAP, MREMAP };

struct actor {
	enum kind kind;
	int page;		/* FAULT, GUP: the page; MUNMAP, MPROTECT: the first page; MREMAP: where to */
	int pages;		/* MUNMAP, MPROTECT */
	int prot;		/* MPROTECT */
	const char *path;	/* MREMAP: the file mapped whole beforehand */
};

struct race {
	const char *name;
	struct actor a, b;
};

#include "race_table.h"	/* MOUNT_POINT, MAP_PATH, MAP_OFFSET, MAP_LENGTH, MAP_PROT, MAP_FLAGS,
			   ALONE_HINT, RACES[], NRACES */

static char *base;
static int fd = -1;
static char *other;		/* the mapping B moves (MREMAP) */
static size_t other_len;
static volatile int a_done;
static __thread sigjmp_buf jump;
static __thread volatile sig_atomic_t armed;
static char line[4096];

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EINTR: return "EINTR";
	default: break;
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "E%d", e);
	return buf;
}

static void on_signal(int sig)
{
	if (armed)
		siglongjmp(jump, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static unsigned long long fnv1a(const volatile char *p, size_t n)
{
	unsigned long long h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static long read_counter(const char *name)
{
	char path[128], buf[32];
	snprintf(path, sizeof path, "/sys/kernel/debug/cramfs/%s", name);
	int f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static void dump_maps(const char *phase)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (strstr(line, MOUNT_POINT "/"))
			printf("MAPS %s %s\n", phase, line);
	}
	fclose(f);
}

/* Read a whole page through the mapping; the signal it got, or 0. */
static int touch(int page, unsigned long long *hash)
{
	volatile char *p = base + (unsigned long)page * PAGE;
	static __thread char copy[PAGE];
	int sig;

	armed = 1;
	sig = sigsetjmp(jump, 1);
	if (!sig)
		for (int i = 0; i < PAGE; i++)
			copy[i] = p[i];
	armed = 0;
	if (!sig)
		*hash = fnv1a(copy, PAGE);
	return sig;
}

static const char *sig_name(int sig)
{
	return sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : sig ? "SIG?" : "-";
}

/* One thread's step; prints "<WHO> <what> <result> [hash]". */
static void act(const char *who, const struct actor *x)
{
	unsigned long long hash = 0;
	int r, e;

	switch (x->kind) {
	case FAULT: {
		struct rusage r0, r1;
		getrusage(RUSAGE_THREAD, &r0);
		int sig = touch(x->page, &hash);
		getrusage(RUSAGE_THREAD, &r1);
		printf("%s fault page %d: %s %016llx minflt %ld majflt %ld\n", who, x->page,
		       sig ? sig_name(sig) : "ok", sig ? 0ULL : hash,
		       r1.ru_minflt - r0.ru_minflt, r1.ru_majflt - r0.ru_majflt);
		break;
	}
	case GUP: {
		/* /proc/self/mem: the kernel reads the page with get_user_pages_remote() */
		static char copy[PAGE];
		int mem = open("/proc/self/mem", O_RDONLY);
		ssize_t n = pread(mem, copy, PAGE, (off_t)(uintptr_t)(base + (unsigned long)x->page * PAGE));
		e = errno;
		close(mem);
		if (n == PAGE)
			printf("%s gup page %d: ok %016llx\n", who, x->page, fnv1a(copy, PAGE));
		else
			printf("%s gup page %d: %s\n", who, x->page, n < 0 ? errno_name(e) : "short");
		break;
	}
	case MUNMAP:
		r = munmap(base + (unsigned long)x->page * PAGE, (size_t)x->pages * PAGE);
		printf("%s munmap pages %d+%d: %s\n", who, x->page, x->pages, r ? errno_name(errno) : "0");
		break;
	case MPROTECT:
		r = mprotect(base + (unsigned long)x->page * PAGE, (size_t)x->pages * PAGE, x->prot);
		printf("%s mprotect pages %d+%d: %s\n", who, x->page, x->pages,
		       r ? errno_name(errno) : "0");
		break;
	case REMAP: {
		void *m = mmap(base, MAP_LENGTH, MAP_PROT, MAP_FLAGS | MAP_FIXED, fd, MAP_OFFSET);
		printf("%s mmap MAP_FIXED: %s\n", who,
		       m == MAP_FAILED ? errno_name(errno) : m == base ? "0" : "moved?");
		break;
	}
	case MREMAP: {
		void *to = base + (unsigned long)x->page * PAGE;
		void *m = mremap(other, other_len, other_len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		printf("%s mremap %s onto page %d: %s\n", who, x->path, x->page,
		       m == MAP_FAILED ? errno_name(errno) : m == to ? "0" : "moved?");
		break;
	}
	}
	fflush(stdout);
}

static const struct race *race;

static void *thread_a(void *arg)
{
	act("A", &race->a);
	a_done = 1;
	return NULL;
}

static void *thread_b(void *arg)
{
	long start = (long)arg;
	/* wait for A in the window: window_entries moves; give up after ~2000 polls */
	for (int i = 0; i < 2000 && !a_done; i++) {
		if (read_counter("window_entries") > start)
			break;
		usleep(500);
	}
	printf("B starts: window_entries %ld, in_window %ld\n", read_counter("window_entries"),
	       read_counter("in_window"));
	act("B", &race->b);
	return NULL;
}

/* The race itself, in a child process: a thread that oopses holding mmap_lock
 * leaves its process unable to exit, and the supervisor must go on. */
static int run_race(int alone)
{
	struct sigaction sa;
	char path[512];

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	snprintf(path, sizeof path, "%s%s", MOUNT_POINT, MAP_PATH);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("ERROR open %s: %s\n", path, errno_name(errno));
		return 1;
	}
	base = mmap(alone ? (void *)ALONE_HINT : NULL, MAP_LENGTH, MAP_PROT, MAP_FLAGS, fd,
		    MAP_OFFSET);
	if (base == MAP_FAILED) {
		printf("ERROR mmap: %s\n", errno_name(errno));
		return 1;
	}
	/* B's mapping to move, mapped after the faulting one: mmap allocates top down, so it
	 * lies below, as in the model (mmlab.race.Mremap), and moves up */
	if (race->b.kind == MREMAP) {
		struct stat st;
		int ofd = fd;
		snprintf(path, sizeof path, "%s%s", MOUNT_POINT, race->b.path);
		if (strcmp(race->b.path, MAP_PATH))
			ofd = open(path, O_RDONLY);
		fstat(ofd, &st);
		other_len = (st.st_size + PAGE - 1) / PAGE * PAGE;
		other = mmap(NULL, other_len, MAP_PROT, MAP_FLAGS, ofd, 0);
		printf("OTHER %s %lu pages at %p\n", race->b.path, other_len / PAGE, (void *)other);
	}
	printf("BASE %p\n", (void *)base);
	if (alone && base != (char *)ALONE_HINT)
		printf("NOTE the hint was not honoured: no 5-level paging?\n");
	dump_maps("before");

	long start = read_counter("window_entries");
	pthread_t ta, tb;
	pthread_create(&ta, NULL, thread_a, NULL);
	pthread_create(&tb, NULL, thread_b, (void *)start);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	printf("WINDOW entries %ld in_window %ld\n", read_counter("window_entries") - start,
	       read_counter("in_window"));
	dump_maps("after");
	return 0;
}

/* What the race's threads are doing, as the kernel sees them. */
static void dump_tasks(pid_t pid)
{
	char path[128];

	for (int tid = pid; tid < pid + 8; tid++) {
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof line, f)) {
			char *end = strrchr(line, ')');	/* "tid (comm) S ..." */
			printf("TASK %d state %c\n", tid, end && end[1] ? end[2] : '?');
		}
		fclose(f);
		snprintf(path, sizeof path, "/proc/%d/task/%d/stack", pid, tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof line, f)) {
			line[strcspn(line, "\n")] = 0;
			printf("STACK %d %s\n", tid, line);
		}
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: races NAME typical|alone\n");
		return 2;
	}
	for (int i = 0; i < NRACES; i++)
		if (!strcmp(RACES[i].name, argv[1]))
			race = &RACES[i];
	if (!race) {
		printf("ERROR no race %s\n", argv[1]);
		return 2;
	}
	printf("RACE %s %s\n", race->name, argv[2]);
	pid_t pid = fork();
	if (pid == 0) {
		int r = run_race(!strcmp(argv[2], "alone"));
		fflush(stdout);
		_exit(r);
	}
	/* 5 s (virtual) for the race; then say who is stuck where, and give the kernel's
	 * hung-task detector (10 s) time to speak */
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFSIGNALED(status))
				printf("EXIT signal %d\n", WTERMSIG(status));
			else
				printf("EXIT %d\n", WEXITSTATUS(status));
			printf("DONE\n");
			return 0;
		}
		usleep(100000);
	}
	printf("TIMEOUT the race's process has not exited after 5 s\n");
	dump_tasks(pid);
	sleep(30);
	printf("DONE\n");
	return 0;
}
