/*
 * journal-t.c - the resume journal: seq bookkeeping, acks, replay, spilling to disk,
 * bounds, disk failures and a long run with small bounds.
 */
#ifdef HAVE_CONFIG_H
#include "cxs_config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/journal.h"
#include "tests/tap.h"

#define MSG_MAX 256
#define OVERHEAD 64	/* generous per-message overhead for bound checks */

static char tmpdir[PATH_MAX];

/* Deterministic message for seq: 20..249 bytes starting with the seq itself. */
static size_t
msg_make(uint64_t seq, uint8_t *out)
{
	size_t len = 20 + (size_t)((seq * 2654435761u) % 230), i;

	memcpy(out, &seq, sizeof(seq));
	for (i = sizeof(seq); i < len; i++)
		out[i] = (uint8_t)(seq * 31 + i * 7);
	return len;
}

static int
append_n(struct journal *j, size_t n)
{
	uint8_t m[MSG_MAX];
	size_t len;
	int r;

	while (n-- > 0) {
		len = msg_make(journal_next_seq(j), m);
		if ((r = journal_append(j, m, len)) != 0)
			return r;
	}
	return 0;
}

/* Returns how many of [from, to) fail to read back intact (0 is good). */
static size_t
read_range(struct journal *j, uint64_t from, uint64_t to)
{
	uint8_t want[MSG_MAX];
	const uint8_t *p;
	size_t len, wlen, bad = 0;
	uint64_t s;
	int r;

	for (s = from; s < to; s++) {
		wlen = msg_make(s, want);
		r = journal_get(j, s, &p, &len);
		if (r != 0 || len != wlen || memcmp(p, want, len) != 0) {
			if (bad++ == 0)
				diag("seq %llu: r=%d len=%zu want %zu",
				    (unsigned long long)s, r, len, wlen);
		}
	}
	return bad;
}

static struct journal *
jnew(size_t mem_max, uint64_t disk_max, const char *dir, uint64_t first)
{
	struct journal_limits lim;
	struct journal *j;

	lim.mem_max = mem_max;
	lim.disk_max = disk_max;
	lim.spill_dir = dir;
	if ((j = journal_new(&lim, first)) == NULL)
		bail("journal_new failed");
	return j;
}

/* The fd open on a file under dir (the spill file), or -1. */
static int
spill_fd(const char *dir)
{
	char path[300], link[PATH_MAX];
	struct dirent *de;
	DIR *d;
	ssize_t n;
	int fd = -1;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, dir, strlen(dir)) == 0 &&
		    link[strlen(dir)] == '/') {
			fd = atoi(de->d_name);
			break;
		}
	}
	closedir(d);
	return fd;
}

static int
dir_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- basics -------------------------------------------------------------- */

static void
test_basics(void)
{
	struct journal_limits lim = { 1 << 20, 0, NULL };
	const uint8_t *p;
	struct journal *j;
	size_t len;

	ok(journal_new(&lim, 0) == NULL, "first_seq 0 is refused");
	j = jnew(1 << 20, 0, NULL, 1);
	is_int((long long)journal_first_seq(j), 1, "empty: first 1");
	is_int((long long)journal_next_seq(j), 1, "empty: next 1");
	is_int((long long)journal_count(j), 0, "empty: count 0");
	is_int(journal_get(j, 1, &p, &len), PROTO_ERR_RESUME, "empty: get 1 not there");
	is_int(journal_get(j, 0, &p, &len), PROTO_ERR_RESUME, "empty: get 0 not there");
	is_int(journal_can_replay(j, 1), 0, "empty: replay from 1 ok");
	is_int(journal_full(j), 0, "empty: not full");
	is_int(append_n(j, 10), 0, "append 10");
	is_int((long long)journal_next_seq(j), 11, "next 11");
	is_int((long long)journal_count(j), 10, "count 10");
	ok(read_range(j, 1, 11) == 0, "all 10 read back");
	ok(journal_mem_bytes(j) > 0, "mem_bytes counted");
	is_int((long long)journal_disk_bytes(j), 0, "no disk without spill");
	is_int(journal_get(j, 11, &p, &len), PROTO_ERR_RESUME, "get next_seq fails");
	is_int(journal_append(j, NULL, 0), 0, "empty message");
	ok(journal_get(j, 11, &p, &len) == 0 && len == 0, "empty message reads back");
	is_int(journal_ack(j, 12), 0, "ack all");
	is_int((long long)journal_mem_bytes(j), 0, "mem_bytes back to 0");
	journal_free(j);
	journal_free(NULL);

	/* A journal that starts where a previous life left off. */
	j = jnew(1 << 20, 0, NULL, 1000000);
	is_int(append_n(j, 3), 0, "append from seq 1000000");
	ok(read_range(j, 1000000, 1000003) == 0, "read back from 1000000");
	is_int(journal_can_replay(j, 999999), PROTO_ERR_RESUME, "before first: no replay");
	journal_free(j);
}

static void
test_replay_every_seq(void)
{
	struct journal *j = jnew(1 << 20, 0, NULL, 1);
	size_t bad = 0;
	uint64_t s;

	if (append_n(j, 50) != 0)
		bail("append");
	for (s = 1; s <= 51; s++) {
		if (journal_can_replay(j, s) != 0)
			bad++;
		bad += read_range(j, s, 51);
	}
	ok(bad == 0, "replay from every seq 1..51 reads the rest in order");
	is_int(journal_can_replay(j, 0), PROTO_ERR_RESUME, "replay from 0 impossible");
	is_int(journal_can_replay(j, 52), PROTO_ERR_RESUME, "replay from next+1 impossible");
	journal_free(j);
}

static void
test_ack_semantics(void)
{
	static const struct {
		uint64_t ack;
		int rc;
		uint64_t first;		/* first_seq afterwards */
		const char *what;
	} t[] = {
		{ 0, 0, 1, "ack 0: below first, no-op" },
		{ 1, 0, 1, "ack 1: equal to first, no-op" },
		{ 5, 0, 5, "ack 5 discards 1..4" },
		{ 3, 0, 5, "ack 3 after 5: no-op" },
		{ 5, 0, 5, "ack 5 again: no-op" },
		{ 52, PROTO_ERR_ARG, 5, "ack beyond next: error, nothing changes" },
		{ UINT64_MAX, PROTO_ERR_ARG, 5, "ack UINT64_MAX: error" },
		{ 30, 0, 30, "ack 30" },
		{ 51, 0, 51, "ack next: everything" },
		{ 51, 0, 51, "ack next again: no-op" },
	};
	struct journal *j = jnew(1 << 20, 0, NULL, 1);
	const uint8_t *p;
	size_t i, len;

	if (append_n(j, 50) != 0)
		bail("append");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = journal_ack(j, t[i].ack);

		ok(rc == t[i].rc && journal_first_seq(j) == t[i].first &&
		    journal_count(j) == 51 - t[i].first &&
		    read_range(j, t[i].first, 51) == 0 &&
		    (t[i].first == 1 ||
		    journal_get(j, t[i].first - 1, &p, &len) == PROTO_ERR_RESUME) &&
		    (t[i].first == 1 ||
		    journal_can_replay(j, t[i].first - 1) == PROTO_ERR_RESUME) &&
		    journal_can_replay(j, t[i].first) == 0,
		    "%s (rc %d first %llu)", t[i].what, rc,
		    (unsigned long long)journal_first_seq(j));
	}
	is_int((long long)journal_mem_bytes(j), 0, "nothing held after full ack");
	is_int(append_n(j, 2), 0, "appends continue after a full ack");
	ok(read_range(j, 51, 53) == 0, "new messages read back");
	journal_free(j);
}

/* ---- spilling ------------------------------------------------------------ */

static void
test_spill(void)
{
	static const struct {
		size_t mem_max;
		uint64_t disk_max;
		size_t n;
		uint64_t ack_step;
	} t[] = {
		{ 4096, 1 << 20, 2000, 97 },
		{ 0, 1 << 20, 1500, 250 },	/* everything on disk */
		{ 4096, 64 << 10, 300, 7 },
		{ 64 << 10, 4 << 20, 20000, 1000 },
	};
	size_t i, bad;
	uint64_t s, maxmem, maxdisk;
	struct journal *j;
	struct stat st;
	int fd;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		j = jnew(t[i].mem_max, t[i].disk_max, tmpdir, 1);
		maxmem = maxdisk = 0;
		bad = 0;
		for (s = 0; s < t[i].n; s++) {
			if (append_n(j, 1) != 0)
				bad++;
			if (journal_mem_bytes(j) > maxmem)
				maxmem = journal_mem_bytes(j);
			if (journal_disk_bytes(j) > maxdisk)
				maxdisk = journal_disk_bytes(j);
		}
		ok(bad == 0 && !journal_full(j), "spill %zu: %zu appended, not full",
		    i, t[i].n);
		ok(maxmem <= t[i].mem_max + MSG_MAX + OVERHEAD,
		    "spill %zu: mem_bytes peak %llu within %zu + one message", i,
		    (unsigned long long)maxmem, t[i].mem_max);
		ok(maxdisk > 0 && maxdisk <= t[i].disk_max,
		    "spill %zu: disk_bytes peak %llu within %llu", i,
		    (unsigned long long)maxdisk, (unsigned long long)t[i].disk_max);
		ok(read_range(j, 1, t[i].n + 1) == 0, "spill %zu: all read back in order", i);

		fd = spill_fd(tmpdir);
		ok(fd != -1 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600 &&
		    st.st_nlink == 0, "spill %zu: spill file open, mode 0600, unlinked", i);
		is_int(dir_entries(tmpdir), 0, "spill %zu: no file left in spill_dir", i);

		/* Partial acks; the rest stays readable, from its start and at random. */
		bad = 0;
		for (s = 1; s <= t[i].n; s += t[i].ack_step) {
			if (journal_ack(j, s) != 0 || journal_first_seq(j) != s)
				bad++;
			bad += read_range(j, s, s + 3 < t[i].n ? s + 3 : t[i].n + 1);
			bad += read_range(j, s + (t[i].n + 1 - s) * 2 / 3, t[i].n + 1);
			bad += read_range(j, s + (t[i].n - s) / 2,
			    s + (t[i].n - s) / 2 + 1);
		}
		ok(bad == 0, "spill %zu: partial acks, the rest reads back", i);
		ok(read_range(j, journal_first_seq(j), t[i].n + 1) == 0,
		    "spill %zu: the tail reads back in order", i);
		is_int(journal_ack(j, t[i].n + 1), 0, "spill %zu: ack all", i);
		ok(journal_mem_bytes(j) == 0 && journal_disk_bytes(j) == 0 &&
		    journal_count(j) == 0, "spill %zu: nothing held after ack all", i);
		ok(fd == -1 || (fstat(fd, &st) == 0 && st.st_size == 0),
		    "spill %zu: drained spill file truncated", i);
		journal_free(j);
		ok(spill_fd(tmpdir) == -1, "spill %zu: spill file closed by free", i);
	}
}

/* Messages too big for memory go to disk while small ones still fit memory. */
static void
test_interleave(void)
{
	static const size_t lens[] = { 100, 10000, 50, 3000, 5000, 70, 1 << 20, 10,
	    0, 200000, 60 };
	struct journal *j = jnew(4096, 8 << 20, tmpdir, 1);
	const uint8_t *p;
	uint8_t *m;
	size_t i, k, len, bad = 0, n = sizeof(lens) / sizeof(lens[0]);

	if ((m = malloc(1 << 20)) == NULL)
		bail("malloc");
	for (i = 0; i < n; i++) {
		memset(m, (int)('a' + i), lens[i]);
		if (journal_append(j, m, lens[i]) != 0)
			bad++;
	}
	ok(bad == 0 && journal_disk_bytes(j) > 1 << 20, "mixed sizes appended, big ones spilled");
	/* Twice, forwards then backwards, so the read cache grows and shrinks. */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < n; i++) {
			size_t ii = k == 0 ? i : n - 1 - i;

			memset(m, (int)('a' + ii), lens[ii]);
			if (journal_get(j, ii + 1, &p, &len) != 0 || len != lens[ii] ||
			    (len > 0 && memcmp(p, m, len) != 0))
				bad++;
		}
	}
	ok(bad == 0, "mixed sizes read back forwards and backwards");
	is_int(journal_ack(j, 8), 0, "ack past the 1 MiB message");
	ok(journal_get(j, 10, &p, &len) == 0 && len == 200000, "the 200 KB one still reads");
	journal_free(j);
	free(m);
}

static void
test_disk_bound(void)
{
	struct journal *j = jnew(4096, 16 << 10, tmpdir, 1);
	uint64_t s, full_at = 0;
	int rc = 0;

	for (s = 1; s <= 2000 && full_at == 0; s++) {
		rc |= append_n(j, 1);
		if (journal_full(j))
			full_at = s;
	}
	ok(rc == 0 && full_at > 0, "full after %llu messages (4 KiB mem, 16 KiB disk)",
	    (unsigned long long)full_at);
	ok(journal_disk_bytes(j) <= 16 << 10, "disk_bytes %llu within the bound",
	    (unsigned long long)journal_disk_bytes(j));
	is_int(journal_disk_error(j), 0, "no disk error");
	is_int(append_n(j, 500), 0, "500 more appends succeed while full");
	ok(journal_full(j), "still full");
	ok(journal_disk_bytes(j) <= 16 << 10, "disk bound held");
	is_int((long long)journal_count(j), (long long)full_at + 500, "nothing dropped");
	ok(read_range(j, 1, journal_next_seq(j)) == 0, "all read back in order");
	is_int(journal_ack(j, 10), 0, "a small ack");
	ok(journal_full(j), "a small ack does not clear full");
	is_int(journal_ack(j, journal_next_seq(j) - 5), 0, "ack all but 5");
	ok(!journal_full(j), "acks clear full");
	ok(read_range(j, journal_first_seq(j), journal_next_seq(j)) == 0, "the last 5 read back");
	journal_free(j);

	/* No spill configured: full as soon as memory overflows. */
	j = jnew(4096, 0, NULL, 1);
	for (s = 0; s < 100 && !journal_full(j); s++)
		rc |= append_n(j, 1);
	ok(rc == 0 && journal_full(j) && journal_disk_bytes(j) == 0,
	    "no spill: full once memory overflows");
	is_int(journal_ack(j, journal_next_seq(j)), 0, "ack all");
	ok(!journal_full(j), "no spill: ack clears full");
	journal_free(j);
}

/* The spill directory cannot be used at all. */
static void
test_no_spill_dir(void)
{
	char dir[PATH_MAX + 16];
	struct journal *j;

	snprintf(dir, sizeof(dir), "%s/missing", tmpdir);
	j = jnew(2048, 1 << 20, dir, 1);
	is_int(append_n(j, 200), 0, "appends succeed with a missing spill dir");
	ok(journal_full(j), "full once memory overflows");
	is_int(journal_disk_error(j), ENOENT, "disk error is ENOENT");
	ok(read_range(j, 1, 201) == 0, "all read back");
	is_int(journal_ack(j, 201), 0, "ack all");
	ok(!journal_full(j), "full cleared");
	journal_free(j);
}

/*
 * A spill directory others may write, or a symbolic link in its place, is not used
 * (another user could swap or fill it): spilling fails, memory still holds all.
 */
static void
test_unsafe_spill_dir(void)
{
	char dir[PATH_MAX + 16], link[PATH_MAX + 16], target[PATH_MAX + 16];
	struct journal *j;

	snprintf(dir, sizeof(dir), "%s/open", tmpdir);
	if (mkdir(dir, 0700) != 0 || chmod(dir, 0777) != 0)
		bail("mkdir %s: %s", dir, strerror(errno));
	j = jnew(2048, 1 << 20, dir, 1);
	is_int(append_n(j, 200), 0, "a world-writable spill dir: appends succeed");
	ok(journal_full(j), "  full once memory overflows");
	is_int(journal_disk_error(j), EPERM, "  disk error is EPERM");
	is_int(dir_entries(dir), 0, "  nothing created there");
	ok(read_range(j, 1, 201) == 0, "  all read back");
	journal_free(j);
	rmdir(dir);

	snprintf(target, sizeof(target), "%s/target", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	if (mkdir(target, 0700) != 0 || symlink(target, link) != 0)
		bail("symlink %s: %s", link, strerror(errno));
	j = jnew(2048, 1 << 20, link, 1);
	is_int(append_n(j, 200), 0, "a spill dir that is a symbolic link: appends succeed");
	ok(journal_disk_error(j) == ELOOP || journal_disk_error(j) == ENOTDIR,
	    "  not followed (ELOOP)");
	is_int(dir_entries(target), 0, "  nothing created where it points");
	ok(read_range(j, 1, 201) == 0, "  all read back");
	journal_free(j);
	unlink(link);
	rmdir(target);
}

/*
 * The spill file turns unreadable (replaced behind the journal's back by
 * /dev/null): reads of spilled messages fail with PROTO_ERR_IO, memory ones still
 * work, and the journal recovers once everything is acknowledged.
 */
static void
test_read_error(void)
{
	struct journal *j = jnew(4096, 1 << 20, tmpdir, 1);
	const uint8_t *p;
	size_t len, nio = 0, nok = 0;
	uint64_t s;
	int fd, nul;

	if (append_n(j, 2000) != 0)
		bail("append");
	if ((fd = spill_fd(tmpdir)) == -1 || (nul = open("/dev/null", O_RDONLY)) == -1) {
		skip("no spill fd to break");
		journal_free(j);
		return;
	}
	if (dup2(nul, fd) == -1)
		bail("dup2: %s", strerror(errno));
	close(nul);
	for (s = 1; s <= 2000; s++) {
		int r = journal_get(j, s, &p, &len);

		if (r == PROTO_ERR_IO)
			nio++;
		else if (r == 0)
			nok++;
	}
	ok(nio > 0 && nok > 0 && nio + nok == 2000,
	    "unreadable spill file: %zu reads fail with PROTO_ERR_IO, %zu from memory or cache",
	    nio, nok);
	ok(journal_disk_error(j) != 0, "the read error is kept");
	is_int(journal_ack(j, 2001), 0, "ack all");
	is_int(append_n(j, 200), 0, "appends after the failure");
	ok(read_range(j, 2001, 2201) == 0, "a fresh spill file works");
	journal_free(j);
}

/*
 * Writes that start failing part way: everything accepted stays readable, full is
 * true with the errno kept, and acks recover.
 */
static void
run_failing_disk(const char *what, const char *dir, size_t n, int want_err)
{
	struct journal *j = jnew(4096, 64 << 20, dir, 1);
	int rc;

	rc = append_n(j, n);
	ok(rc == 0, "%s: %zu appends succeed", what, n);
	ok(journal_full(j), "%s: full", what);
	is_int(journal_disk_error(j), want_err, "%s: disk error kept", what);
	is_int((long long)journal_count(j), (long long)n, "%s: nothing lost", what);
	ok(read_range(j, 1, n + 1) == 0, "%s: all read back in order", what);
	ok(read_range(j, n / 2, n + 1) == 0, "%s: replay from the middle", what);
	is_int(journal_ack(j, n / 2), 0, "%s: ack half", what);
	ok(read_range(j, n / 2, n + 1) == 0, "%s: the rest reads back", what);
	is_int(journal_ack(j, n + 1), 0, "%s: ack all", what);
	ok(!journal_full(j) && journal_disk_bytes(j) == 0 && journal_mem_bytes(j) == 0,
	    "%s: empty and not full", what);
	is_int(journal_disk_error(j), 0, "%s: the error is cleared once the file drained",
	    what);
	is_int(append_n(j, 10), 0, "%s: appends after recovery", what);
	ok(read_range(j, n + 1, n + 11) == 0, "%s: read back after recovery", what);
	journal_free(j);
}

static void
test_tmpfs_full(void)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/tiny", tmpdir);
	if (mkdir(dir, 0700) == -1)
		bail("mkdir %s: %s", dir, strerror(errno));
	/* A private mount namespace, so nothing leaks if the test dies. */
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") == -1) {
		diag("no tmpfs (%s): skipping the full-disk test", strerror(errno));
		skip("tmpfs full disk");
		rmdir(dir);
		return;
	}
	run_failing_disk("64 KiB tmpfs", dir, 3000, ENOSPC);
	if (umount(dir) == -1)
		diag("umount %s: %s", dir, strerror(errno));
	rmdir(dir);
}

static void
test_fsize_limit(void)
{
	struct journal *j;
	struct rlimit old, lim;
	int rc = 0, full, err;
	size_t bad;

	/* RLIMIT_FSIZE makes writes past 32 KiB fail with EFBIG (SIGXFSZ ignored). */
	if (getrlimit(RLIMIT_FSIZE, &old) == -1 ||
	    signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
		skip("RLIMIT_FSIZE");
		return;
	}
	lim = old;
	lim.rlim_cur = 32 << 10;
	if (setrlimit(RLIMIT_FSIZE, &lim) == -1) {
		skip("RLIMIT_FSIZE");
		return;
	}
	j = jnew(4096, 64 << 20, tmpdir, 1);
	rc = append_n(j, 1000);
	full = journal_full(j);
	err = journal_disk_error(j);
	bad = read_range(j, 1, 1001);
	if (setrlimit(RLIMIT_FSIZE, &old) == -1)
		bail("cannot restore RLIMIT_FSIZE");
	signal(SIGXFSZ, SIG_DFL);
	ok(rc == 0 && full, "RLIMIT_FSIZE: appends succeed, full");
	is_int(err, EFBIG, "RLIMIT_FSIZE: EFBIG kept");
	ok(bad == 0, "RLIMIT_FSIZE: all read back");
	ok(journal_disk_bytes(j) <= 32 << 10, "RLIMIT_FSIZE: disk_bytes %llu within the limit",
	    (unsigned long long)journal_disk_bytes(j));
	journal_free(j);
}

/*
 * A sliding window of unacknowledged messages bigger than memory: the disk part
 * never drains, so the bound holds only if acknowledged file space is given back.
 */
static void
test_window(void)
{
	struct journal *j = jnew(4096, 64 << 10, tmpdir, 1);
	uint64_t s, maxdisk = 0;
	size_t bad = 0, fulls = 0;
	struct stat st;
	int fd, rc = 0;

	for (s = 1; s <= 20000; s++) {
		rc |= append_n(j, 1);
		bad += read_range(j, s, s + 1);
		if (s > 100)
			rc |= journal_ack(j, s - 100);
		if (journal_full(j))
			fulls++;
		if (journal_disk_bytes(j) > maxdisk)
			maxdisk = journal_disk_bytes(j);
	}
	ok(rc == 0 && bad == 0, "window: 20,000 messages, all read back");
	ok(maxdisk <= 64 << 10, "window: disk_bytes within 64 KiB (peak %llu)",
	    (unsigned long long)maxdisk);
	ok(read_range(j, journal_first_seq(j), journal_next_seq(j)) == 0,
	    "window: the last 100 read back");
	fd = spill_fd(tmpdir);
	if (fd != -1 && fstat(fd, &st) == 0 && st.st_size > 64 << 10) {
		ok(fulls == 0, "window: file offsets passed the bound (%lld) and "
		    "never full: space was given back", (long long)st.st_size);
		ok((uint64_t)st.st_blocks * 512 <= (64 << 10) + 65536,
		    "window: blocks held %lld", (long long)st.st_blocks * 512);
	} else {
		skip("window: no hole punching on this filesystem");
		skip("window: no hole punching on this filesystem");
	}
	journal_free(j);
}

/*
 * A producer that stops while journal_full() and a consumer that reads everything
 * in order and acks late: 100,000 messages through 4 KiB of memory and 32 KiB of
 * disk. The disk part rarely drains, so the file must give space back as it goes.
 */
static void
test_long_run(void)
{
	const uint64_t total = 100000;
	struct journal *j = jnew(4096, 32 << 10, tmpdir, 1);
	uint64_t sent = 1, acked = 1, maxdisk = 0, s;
	size_t bad = 0, maxmem = 0, fulls = 0, fullmem = 0, drained = 0;
	uint8_t want[MSG_MAX];
	const uint8_t *p;
	size_t len, wlen;
	struct stat st;
	int fd = -1, rc = 0;
	off_t maxsize = 0;

	while (acked <= total) {
		/* Producer: up to 37 messages per round while not full. */
		for (s = 0; s < 37 && journal_next_seq(j) <= total; s++) {
			if (journal_full(j)) {
				fulls++;
				break;
			}
			rc |= append_n(j, 1);
			if (journal_full(j) && journal_mem_bytes(j) > fullmem)
				fullmem = journal_mem_bytes(j);
			if (!journal_full(j) && journal_mem_bytes(j) > maxmem)
				maxmem = journal_mem_bytes(j);
			if (journal_disk_bytes(j) > maxdisk)
				maxdisk = journal_disk_bytes(j);
		}
		/* Consumer: reads what is new, acks all but the last 300 unless full. */
		for (; sent < journal_next_seq(j); sent++) {
			wlen = msg_make(sent, want);
			if (journal_get(j, sent, &p, &len) != 0 || len != wlen ||
			    memcmp(p, want, len) != 0)
				bad++;
		}
		if (fd == -1)
			fd = spill_fd(tmpdir);
		if (fd != -1 && fstat(fd, &st) == 0 && st.st_size > maxsize)
			maxsize = st.st_size;
		if (journal_next_seq(j) > total)
			s = sent;
		else if (journal_full(j))
			s = sent > 100 && sent - 100 > acked ? sent - 100 : sent;
		else
			s = sent > 300 ? sent - 300 : 1;
		if (s > acked) {
			rc |= journal_ack(j, s);
			acked = s;
			if (journal_disk_bytes(j) == 0)
				drained++;
		}
		if (journal_next_seq(j) > total && acked == sent)
			break;
	}
	ok(rc == 0 && bad == 0 && sent == total + 1,
	    "100,000 messages through small bounds, all read in order");
	ok(maxmem <= 4096, "mem_bytes within 4 KiB while not full (peak %zu)", maxmem);
	ok(fullmem <= 4096 + MSG_MAX + OVERHEAD,
	    "mem_bytes within 4 KiB + one message when full (peak %zu)", fullmem);
	ok(maxdisk <= 32 << 10, "disk_bytes within 32 KiB (peak %llu)",
	    (unsigned long long)maxdisk);
	diag("long run: %zu full stalls, %zu drains, spill file size peak %lld",
	    fulls, drained, (long long)maxsize);
	ok(fulls > 0, "back-pressure happened");
	ok(journal_count(j) == 0 && journal_mem_bytes(j) == 0 &&
	    journal_disk_bytes(j) == 0, "empty at the end");
	journal_free(j);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	plan_lazy();
	snprintf(tmpdir, sizeof(tmpdir), "%s/journal-t.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		bail("mkdtemp: %s", strerror(errno));

	test_basics();
	test_replay_every_seq();
	test_ack_semantics();
	test_spill();
	test_interleave();
	test_disk_bound();
	test_no_spill_dir();
	test_unsafe_spill_dir();
	test_read_error();
	test_fsize_limit();
	if (geteuid() == 0)
		test_tmpfs_full();
	else
		skip("tmpfs full disk needs root");
	test_window();
	test_long_run();

	is_int(dir_entries(tmpdir), 0, "spill_dir left empty");
	if (rmdir(tmpdir) == -1)
		diag("rmdir %s: %s", tmpdir, strerror(errno));
	return done_testing();
}
