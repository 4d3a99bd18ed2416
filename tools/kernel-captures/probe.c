/*
 * probe: runs mmlab's XIP scenarios against the real kernel, inside the guest.
 *
 * Built statically on the host (gcc -static) with a generated header,
 * probe_table.h, that tools/kernel-captures/capture.py writes from
 * mmlab.scenarios.SCENARIOS (or from the files of a third-party image).
 * It mounts the image (mount(2), cramfs on mtd:MTD_NAME at MOUNT_POINT),
 * then, for each scenario: open, mmap, the /proc/self/maps and smaps entries
 * of the range, each touched or written page (signal, content check against
 * pread(2), minor/major fault counts, pfn from /proc/self/pagemap), the
 * kernel log lines (/dev/kmsg) of each step, maps and smaps again, munmap.
 * With PROBE_TOUCH_MAPS defined in probe_table.h (the split captures), the
 * maps of the range are printed after each touch too ("MAPS touch"), and the
 * patched cramfs's xip_mode parameter ("XIP_MODE"). Without it the program
 * is byte for byte the one the Debian captures were made with.
 *
 * Output: one record per line on stdout, "TAG field..." (see capture.py's
 * parser). Strings are the last field of their line; /dev/kmsg already
 * escapes non-printable bytes, so no line contains a newline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <sys/utsname.h>
#include <unistd.h>

#define PAGE 4096

struct scenario {
	const char *name;
	const char *path;	/* inside the image, e.g. "/bin/xipexe" */
	unsigned long offset;
	unsigned long length;
	int prot;
	int flags;
	int open_write;
	int ntouch;
	const int *touch;
	int nwrite;
	const int *write;
};

#include "probe_table.h"	/* MTD_NAME, MOUNT_POINT, SCENARIOS[], NSCENARIOS */

static int kmsg = -1;
static char page_copy[PAGE];
static char file_copy[PAGE];
static char line[8192];
static sigjmp_buf jump;
static volatile sig_atomic_t armed;

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	case EOVERFLOW: return "EOVERFLOW";
	case ENODATA: return "ENODATA";
	case ENOEXEC: return "ENOEXEC";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
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

/* Skip the kernel log records written so far. */
static void kmsg_mark(void)
{
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
}

/* Print the records written since kmsg_mark() that mention cramfs. */
static void kmsg_dump(const char *tag)
{
	if (kmsg < 0)
		return;
	for (;;) {
		ssize_t n = read(kmsg, line, sizeof line - 1);
		if (n < 0) {
			if (errno == EPIPE)	/* overwritten records: go on */
				continue;
			break;	/* EAGAIN: no more records */
		}
		line[n] = 0;
		char *nl = strchr(line, '\n');	/* continuation lines follow */
		if (nl)
			*nl = 0;
		char *text = strchr(line, ';');	/* "pri,seq,ts,flags;text" */
		text = text ? text + 1 : line;
		if (strstr(text, "cramfs"))
			printf("%s %s\n", tag, text);
	}
}

static int overlaps(unsigned long s, unsigned long e, unsigned long a, unsigned long b)
{
	return s < b && a < e;
}

static void dump_maps(const char *phase, unsigned long a, unsigned long b)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && overlaps(s, e, a, b))
			printf("MAPS %s %s\n", phase, line);
	}
	fclose(f);
}

static void dump_smaps(const char *phase, unsigned long a, unsigned long b)
{
	static const char *keys[] = {"Rss", "Pss", "Shared_Clean", "Shared_Dirty",
		"Private_Clean", "Private_Dirty", "Anonymous", NULL};
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char perms[8];
		line[strcspn(line, "\n")] = 0;
		char *colon = strchr(line, ':');
		char *space = strchr(line, ' ');
		int header = space && (!colon || colon > space) &&
			sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3;
		if (header) {
			in = overlaps(s, e, a, b);
			if (in)
				printf("SMAPS %s VMA %lu %lu\n", phase, s, e);
			continue;
		}
		if (!in || !colon)
			continue;
		*colon = 0;
		char *val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		if (!strcmp(line, "VmFlags")) {
			size_t len = strlen(val);
			while (len && val[len - 1] == ' ')
				val[--len] = 0;
			printf("SMAPS %s VmFlags %s\n", phase, val);
			continue;
		}
		for (int i = 0; keys[i]; i++)
			if (!strcmp(line, keys[i]))
				printf("SMAPS %s %s %ld\n", phase, keys[i], strtol(val, NULL, 10));
	}
	fclose(f);
}

/* FNV-1a, 64 bits: lets the host compare a page with the image's file data. */
static unsigned long long fnv1a(const char *p, size_t n)
{
	unsigned long long h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static long pfn_of(unsigned long addr)
{
	uint64_t entry;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, &entry, sizeof entry, (off_t)(addr / PAGE) * sizeof entry);
	close(fd);
	if (n != sizeof entry || !(entry >> 63))
		return -1;
	return (long)(entry & ((1ULL << 55) - 1));
}

/*
 * Touch one page of the mapping: read all of it ("read") or write 0x5a to
 * its first byte ("write"), then compare it with the file (pread).
 */
static void touch(const struct scenario *sc, int fd, off_t fsize, char *map, int page, int is_write)
{
	volatile char *p = (volatile char *)(map + (unsigned long)page * PAGE);
	struct rusage r0, r1;
	int sig;

	kmsg_mark();
	getrusage(RUSAGE_SELF, &r0);
	armed = 1;
	sig = sigsetjmp(jump, 1);
	if (!sig) {
		if (is_write)
			p[0] = 0x5a;
		else
			for (int i = 0; i < PAGE; i++)
				page_copy[i] = p[i];
	}
	armed = 0;
	getrusage(RUSAGE_SELF, &r1);

	const char *sname = sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : sig ? "SIG?" : "-";
	const char *matches = "-", *zero = "-";
	long pfn = -1;
	if (!sig) {
		if (is_write) {
			armed = 1;
			sig = sigsetjmp(jump, 1);
			if (!sig)
				for (int i = 0; i < PAGE; i++)
					page_copy[i] = p[i];
			armed = 0;
		}
		off_t foff = (off_t)sc->offset + (off_t)page * PAGE;
		long inside = fsize > foff ? (long)(fsize - foff) : 0;
		if (inside > PAGE)
			inside = PAGE;
		memset(file_copy, 0, sizeof file_copy);
		if (inside && pread(fd, file_copy, inside, foff) != inside)
			inside = -1;
		if (!sig && inside >= 0) {
			if (is_write)
				file_copy[0] = 0x5a;
			if (inside > 0)
				matches = memcmp(page_copy, file_copy, inside) ? "false" : "true";
			if (inside < PAGE) {
				zero = "true";
				for (long i = inside; i < PAGE; i++)
					if (page_copy[i] != (is_write && i == 0 ? 0x5a : 0)) {
						zero = "false";
						break;
					}
			}
		}
		pfn = pfn_of((unsigned long)p);
	}
	/* The last two fields: FNV-1a of the page as mapped and of pread's bytes (zero-padded
	 * to a page; byte 0 replaced by 0x5a for a write), "-" after a signal. */
	char hashes[40] = "- -";
	if (!sig)
		snprintf(hashes, sizeof hashes, "%016llx %016llx",
			 fnv1a(page_copy, PAGE), fnv1a(file_copy, PAGE));
	printf("TOUCH %d %s %s %s %s %ld %ld %ld %s\n", page, is_write ? "write" : "read", sname,
	       matches, zero, r1.ru_minflt - r0.ru_minflt, r1.ru_majflt - r0.ru_majflt, pfn,
	       hashes);
	kmsg_dump("TLOG");
#ifdef PROBE_TOUCH_MAPS
	/* the split captures: the maps after each access (the split happens at a fault) */
	dump_maps("touch", (unsigned long)map, (unsigned long)map + sc->length);
#endif
}

static void run(const struct scenario *sc)
{
	char path[512];
	struct stat st;

	printf("SCENARIO %s\n", sc->name);
	snprintf(path, sizeof path, "%s%s", MOUNT_POINT, sc->path);
	int fd = open(path, sc->open_write ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		printf("OPEN_ERRNO %s\n", errno_name(errno));
		printf("END\n");
		return;
	}
	fstat(fd, &st);
	kmsg_mark();
	char *map = mmap(NULL, sc->length, sc->prot, sc->flags, fd, (off_t)sc->offset);
	int e = errno;
	kmsg_dump("LOG");
	if (map == MAP_FAILED) {
		printf("MMAP_ERRNO %s\n", errno_name(e));
		close(fd);
		printf("END\n");
		return;
	}
	unsigned long a = (unsigned long)map, b = a + sc->length;
	printf("ADDRESS %lu\n", a);
	dump_maps("before", a, b);
	dump_smaps("before", a, b);
	for (int i = 0; i < sc->ntouch; i++)
		touch(sc, fd, st.st_size, map, sc->touch[i], 0);
	for (int i = 0; i < sc->nwrite; i++)
		touch(sc, fd, st.st_size, map, sc->write[i], 1);
	dump_maps("after", a, b);
	dump_smaps("after", a, b);
	kmsg_mark();
	munmap(map, sc->length);
	close(fd);
	kmsg_dump("ULOG");
	printf("END\n");
}

int main(void)
{
	struct utsname u;
	struct sigaction sa;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(page_copy, 0, sizeof page_copy);	/* fault these in before any count */
	memset(file_copy, 0, sizeof file_copy);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	uname(&u);
	printf("RELEASE %s\n", u.release);
	printf("VERSION %s\n", u.version);
	printf("PAGE_SIZE %ld\n", sysconf(_SC_PAGESIZE));
#ifdef PROBE_TOUCH_MAPS
	/* the patched kernel of the split captures says which ->mmap cramfs runs */
	FILE *mode = fopen("/sys/module/cramfs/parameters/xip_mode", "r");
	if (mode) {
		if (fgets(line, sizeof line, mode))
			printf("XIP_MODE %s", line);
		fclose(mode);
	}
#endif

	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0)
		printf("NOTE no /dev/kmsg: %s\n", errno_name(errno));

	mkdir(MOUNT_POINT, 0755);
	kmsg_mark();
	int r = mount("mtd:" MTD_NAME, MOUNT_POINT, "cramfs", MS_RDONLY, NULL);
	int e = errno;
	kmsg_dump("MLOG");
	if (r) {
		printf("MOUNT %s\n", errno_name(e));
		printf("DONE\n");
		return 1;
	}
	printf("MOUNT ok\n");

	for (int i = 0; i < NSCENARIOS; i++)
		run(&SCENARIOS[i]);

	umount(MOUNT_POINT);
	printf("DONE\n");
	return 0;
}
