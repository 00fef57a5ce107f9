/*
 * journal.c - sequenced messages held until acknowledged.
 *
 * Held messages are sorted by seq in two stores that together cover
 * [first, next): memory (descriptors in a ring, bytes in FIFO slabs) and an unlinked
 * spill file of [u64 seq][u64 len][bytes] records. A message goes to memory when it
 * fits the memory bound, else to the file when it fits the disk bound, else to
 * memory anyway (full). Either store can therefore hold gaps that the other fills,
 * which is why every lookup is by seq rather than by position.
 */
#ifdef HAVE_CONFIG_H
#include "cxs_config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/journal.h"

#define SLAB_SIZE	(64u * 1024u)
#define SLAB_BIG	(SLAB_SIZE / 4)	/* bigger messages get a slab of their own */
#define ENTRY_OVERHEAD	32u		/* descriptor and slack, charged per message */
#define RING_MIN	64u
#define REC_HDR		16u		/* u64 seq, u64 len, native order */
#define IDX_EVERY_RECS	256u
#define IDX_BYTES_MAX	(256u * 1024u)
#define READ_AHEAD	(64u * 1024u)
#define PAGE_ROUND	4096u

struct slab {
	struct slab *next;
	size_t cap;
	size_t used;
	size_t live;		/* messages in it not yet acknowledged */
	uint8_t data[];
};

struct ment {
	uint64_t seq;
	const uint8_t *p;
	size_t len;
};

struct didx {
	uint64_t seq;
	uint64_t off;
};

struct journal {
	uint64_t first;		/* oldest held */
	uint64_t next;		/* next to assign */
	size_t mem_max;
	uint64_t disk_max;
	char *spill_dir;

	/* memory store: ring of descriptors addressed by absolute index */
	struct ment *ring;
	size_t rcap;		/* power of two, or 0 */
	uint64_t rhead, rtail;
	uint64_t rcur;		/* where the next sequential lookup should look */
	struct slab *shead, *stail, *spare;
	size_t mem_bytes;

	/* disk store */
	int fd;
	uint64_t dend;		/* where the next record is written */
	uint64_t dpunched;	/* bytes before this were handed back */
	uint64_t dlive;		/* records not yet acknowledged */
	uint64_t idx_bytes;	/* spacing of index entries in bytes */
	struct didx *idx;	/* sparse, sorted; idx[ihead] precedes every live record */
	size_t icap, ihead, itail;
	uint64_t idx_recs;	/* records since the last index entry */
	int cur_ok;		/* disk records with seq > cur_seq start at cur_off */
	uint64_t cur_seq, cur_off;
	uint8_t *rbuf;		/* read cache: file bytes [roff, roff + rlen) */
	size_t rbcap, rlen;
	uint64_t roff;
	int no_punch;
	int broken;		/* a spill failed: no more spilling until the file drains */
	int err;
	int full;
};

#define RING(j, i) (&(j)->ring[(size_t)(i) & ((j)->rcap - 1)])

struct journal *
journal_new(const struct journal_limits *lim, uint64_t first_seq)
{
	struct journal *j;
	uint64_t step;

	if (first_seq == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->first = j->next = first_seq;
	j->mem_max = lim->mem_max;
	j->disk_max = lim->disk_max;
	j->fd = -1;
	if (lim->spill_dir != NULL &&
	    (j->spill_dir = strdup(lim->spill_dir)) == NULL) {
		free(j);
		return NULL;
	}
	/*
	 * Index spacing small enough that the dead bytes in front of the anchor (which
	 * cannot be punched yet) stay a small part of the disk bound.
	 */
	step = j->disk_max / 16;
	if (step < PAGE_ROUND)
		step = PAGE_ROUND;
	if (step > IDX_BYTES_MAX)
		step = IDX_BYTES_MAX;
	j->idx_bytes = step;
	return j;
}

void
journal_free(struct journal *j)
{
	struct slab *s, *n;

	if (j == NULL)
		return;
	for (s = j->shead; s != NULL; s = n) {
		n = s->next;
		free(s);
	}
	free(j->spare);
	free(j->ring);
	free(j->idx);
	free(j->rbuf);
	if (j->fd != -1)
		close(j->fd);
	free(j->spill_dir);
	free(j);
}

/* ---- memory store ------------------------------------------------------ */

static int
ring_resize(struct journal *j, size_t ncap)
{
	struct ment *n;
	uint64_t i;

	if (ncap > SIZE_MAX / sizeof(*n) ||
	    (n = malloc(ncap * sizeof(*n))) == NULL)
		return PROTO_ERR_NOMEM;
	for (i = j->rhead; i < j->rtail; i++)
		n[(size_t)i & (ncap - 1)] = *RING(j, i);
	free(j->ring);
	j->ring = n;
	j->rcap = ncap;
	return 0;
}

static uint8_t *
slab_take(struct journal *j, size_t len)
{
	struct slab *s = j->stail;
	size_t cap;
	uint8_t *p;

	if (s == NULL || s->cap - s->used < len) {
		if (len <= SLAB_SIZE && j->spare != NULL) {
			s = j->spare;
			j->spare = NULL;
		} else {
			cap = len > SLAB_BIG ? len : SLAB_SIZE;
			if (cap > SIZE_MAX - sizeof(*s) ||
			    (s = malloc(sizeof(*s) + cap)) == NULL)
				return NULL;
			s->cap = cap;
		}
		s->next = NULL;
		s->used = 0;
		s->live = 0;
		if (j->stail != NULL)
			j->stail->next = s;
		else
			j->shead = s;
		j->stail = s;
	}
	p = s->data + s->used;
	s->used += len;
	s->live++;
	return p;
}

/* Messages leave in the order they came, so the oldest always sits in the head slab. */
static void
slab_release(struct journal *j)
{
	struct slab *s = j->shead;

	if (--s->live > 0)
		return;
	j->shead = s->next;
	if (j->shead == NULL)
		j->stail = NULL;
	if (s->cap == SLAB_SIZE && j->spare == NULL)
		j->spare = s;
	else
		free(s);
}

static int
mem_push(struct journal *j, uint64_t seq, const void *msg, size_t len)
{
	struct ment *m;
	uint8_t *p;
	int r;

	if (j->rtail - j->rhead == j->rcap &&
	    (r = ring_resize(j, j->rcap == 0 ? RING_MIN : j->rcap * 2)) != 0)
		return r;
	if ((p = slab_take(j, len)) == NULL)
		return PROTO_ERR_NOMEM;
	if (len > 0)
		memcpy(p, msg, len);
	m = RING(j, j->rtail);
	m->seq = seq;
	m->p = p;
	m->len = len;
	j->rtail++;
	j->mem_bytes += len + ENTRY_OVERHEAD;
	return 0;
}

static int
mem_fits(const struct journal *j, size_t len)
{
	return j->mem_bytes <= j->mem_max &&
	    len + ENTRY_OVERHEAD <= j->mem_max - j->mem_bytes;
}

static const struct ment *
mem_find(struct journal *j, uint64_t seq)
{
	uint64_t c = j->rcur, lo, hi, mid;
	const struct ment *m;

	if (j->rhead == j->rtail)
		return NULL;
	/* Sequential reads: either the entry at the cursor or a gap left for disk. */
	if (c < j->rtail && RING(j, c)->seq == seq) {
		j->rcur = c + 1;
		return RING(j, c);
	}
	if ((c == j->rtail || RING(j, c)->seq > seq) &&
	    (c == j->rhead || RING(j, c - 1)->seq < seq))
		return NULL;
	lo = j->rhead;
	hi = j->rtail;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (RING(j, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < j->rtail && (m = RING(j, lo))->seq == seq) {
		j->rcur = lo + 1;
		return m;
	}
	j->rcur = lo;
	return NULL;
}

/* ---- disk store -------------------------------------------------------- */

static int
disk_usable(const struct journal *j)
{
	return j->spill_dir != NULL && j->disk_max > 0 && !j->broken;
}

static uint64_t
disk_used(const struct journal *j)
{
	return j->dend - j->dpunched;
}

static int
disk_fits(const struct journal *j, size_t len)
{
	uint64_t used = disk_used(j);

	if (!disk_usable(j) || used > j->disk_max)
		return 0;
	return (uint64_t)len <= j->disk_max - used &&
	    REC_HDR <= j->disk_max - used - len;
}

/*
 * Opens the spill file with no name anyone else could open; -1 with errno set.
 * The directory is opened first without following a symbolic link and must be
 * ours and writable by nobody else (EPERM otherwise); the file is then created
 * from that descriptor, so a directory swapped in after the check is not used.
 */
static int
disk_open(struct journal *j)
{
	static unsigned long counter;
	struct stat st;
	char name[64];
	int dfd, fd = -1, e, tries;

	dfd = open(j->spill_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	if (fstat(dfd, &st) == -1)
		goto fail;
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		errno = EPERM;
		goto fail;
	}
#ifdef O_TMPFILE
	fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1) {
		close(dfd);
		j->fd = fd;
		return 0;
	}
#endif
	/* No O_TMPFILE (old kernel, some filesystems): a new file of a name no one
	 * can guess, unlinked at once. */
	for (tries = 0; tries < 16 && fd == -1; tries++) {
		snprintf(name, sizeof(name), ".codex-ssh-journal.%ld.%lu.%lx",
		    (long)getpid(), ++counter, (unsigned long)random());
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST)
			goto fail;
	}
	if (fd == -1)
		goto fail;
	if (unlinkat(dfd, name, 0) == -1) {
		e = errno;
		close(fd);
		errno = e;
		fd = -1;
		goto fail;
	}
	close(dfd);
	j->fd = fd;
	return 0;
 fail:
	e = errno;
	close(dfd);
	errno = e;
	return -1;
}

/* Makes room for one more index entry. */
static int
idx_reserve(struct journal *j)
{
	struct didx *n;
	size_t ncap;

	if (j->itail < j->icap)
		return 0;
	/* Slide down only when that frees half, so pushes stay O(1) amortised. */
	if (j->ihead > 0 && j->ihead >= j->icap / 2) {
		memmove(j->idx, j->idx + j->ihead,
		    (j->itail - j->ihead) * sizeof(*j->idx));
		j->itail -= j->ihead;
		j->ihead = 0;
		return 0;
	}
	ncap = j->icap == 0 ? 64 : j->icap * 2;
	if (ncap > SIZE_MAX / sizeof(*n) ||
	    (n = realloc(j->idx, ncap * sizeof(*n))) == NULL)
		return PROTO_ERR_NOMEM;
	j->idx = n;
	j->icap = ncap;
	return 0;
}

/*
 * Keeps a copy of the record just written in the read cache when a reader is likely
 * to want it next (the cache ends where it starts, or the reader has caught up), so
 * a sender streaming from a spilled journal does not read back what it just wrote.
 */
static void
cache_tail(struct journal *j, uint64_t off, const uint64_t hdr[2], const void *msg,
    size_t len)
{
	size_t total = REC_HDR + len;

	if (j->rbcap == 0) {
		if ((j->rbuf = malloc(READ_AHEAD)) == NULL)
			return;
		j->rbcap = READ_AHEAD;
	}
	if (total > j->rbcap)
		return;
	if (j->rlen == 0 || j->roff + j->rlen != off || j->rbcap - j->rlen < total) {
		if (j->rlen != 0 && !(j->cur_ok && j->cur_off == off))
			return;
		j->roff = off;
		j->rlen = 0;
	}
	memcpy(j->rbuf + j->rlen, hdr, REC_HDR);
	if (len > 0)
		memcpy(j->rbuf + j->rlen + REC_HDR, msg, len);
	j->rlen += total;
}

/*
 * Appends one record. Returns 0 when the message is on disk, -1 when it is not
 * (the caller keeps it in memory); an I/O failure also stops spilling for now.
 */
static int
disk_push(struct journal *j, uint64_t seq, const void *msg, size_t len)
{
	uint64_t hdr[2] = { seq, len };
	uint64_t off = j->dend, total = REC_HDR + (uint64_t)len, done = 0;
	struct iovec iov[2];
	int need_idx, cnt;
	ssize_t n;

	if (j->fd == -1 && disk_open(j) == -1)
		goto broken;
	need_idx = j->ihead == j->itail || j->idx_recs >= IDX_EVERY_RECS ||
	    off - j->idx[j->itail - 1].off >= j->idx_bytes;
	/* Make room in the index first: a record it cannot find would be lost. */
	if (need_idx && idx_reserve(j) != 0)
		return -1;
	while (done < total) {
		if (done < REC_HDR) {
			iov[0].iov_base = (uint8_t *)hdr + done;
			iov[0].iov_len = REC_HDR - done;
			iov[1].iov_base = (void *)(uintptr_t)msg;
			iov[1].iov_len = len;
			cnt = len > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = (uint8_t *)(uintptr_t)msg + (done - REC_HDR);
			iov[0].iov_len = total - done;
			cnt = 1;
		}
		n = pwritev(j->fd, iov, cnt, (off_t)(off + done));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto failed;
		if (n == 0) {
			errno = EIO;
			goto failed;
		}
		done += (uint64_t)n;
	}
	if (need_idx) {
		j->idx[j->itail].seq = seq;
		j->idx[j->itail].off = off;
		j->itail++;
		j->idx_recs = 0;
	}
	j->idx_recs++;
	j->dend = off + total;
	j->dlive++;
	cache_tail(j, off, hdr, msg, len);
	return 0;
 failed:
	/* Drop a partial record so the file ends where the last whole one does. */
	j->err = errno;
	(void)ftruncate(j->fd, (off_t)j->dend);
	j->broken = 1;
	return -1;
 broken:
	j->err = errno;
	j->broken = 1;
	return -1;
}

/* The disk store is empty: give the space back and start again at offset 0. */
static void
disk_reset(struct journal *j)
{
	/* Whatever stopped spilling is in the past now: the next spill tries again. */
	j->err = 0;
	if (j->fd != -1 && j->dend > 0 && ftruncate(j->fd, 0) == -1) {
		/* Closing frees an unlinked file just as well. */
		j->err = errno;
		close(j->fd);
		j->fd = -1;
	}
	j->dend = j->dpunched = 0;
	j->ihead = j->itail = 0;
	j->idx_recs = 0;
	j->cur_ok = 0;
	j->rlen = 0;
	j->broken = 0;
}

static void
disk_trim(struct journal *j)
{
	uint64_t to, step;

	/* Keep the last index entry at or before the first live record as the anchor. */
	while (j->itail - j->ihead >= 2 && j->idx[j->ihead + 1].seq <= j->first)
		j->ihead++;
	if (j->no_punch)
		return;
	to = j->idx[j->ihead].off & ~(uint64_t)(PAGE_ROUND - 1);
	step = j->idx_bytes;
	if (to <= j->dpunched || to - j->dpunched < step)
		return;
	if (fallocate(j->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)j->dpunched, (off_t)(to - j->dpunched)) == 0)
		j->dpunched = to;
	else if (errno == EOPNOTSUPP || errno == ENOSYS)
		j->no_punch = 1;	/* the bound then counts the file to its end */
}

/* Makes file bytes [off, off + n) readable at *p through the read cache. */
static int
disk_view(struct journal *j, uint64_t off, uint64_t n, const uint8_t **p)
{
	uint64_t want, got = 0;
	size_t ncap;
	ssize_t r;

	if (j->rlen > 0 && off >= j->roff && off - j->roff <= j->rlen &&
	    n <= j->rlen - (off - j->roff)) {
		*p = j->rbuf + (off - j->roff);
		return 0;
	}
	if (n > j->dend - off)
		return PROTO_ERR_IO;
	want = n > READ_AHEAD ? n : READ_AHEAD;
	if (want > j->dend - off)
		want = j->dend - off;
	if (want < n)
		want = n;
	j->rlen = 0;
	/* Grow for a big record; shrink back once only small ones are read. */
	if (want > j->rbcap || (j->rbcap > 4 * READ_AHEAD && want <= READ_AHEAD)) {
		ncap = want > READ_AHEAD ? (size_t)want : READ_AHEAD;
		free(j->rbuf);
		j->rbcap = 0;
		if ((j->rbuf = malloc(ncap)) == NULL)
			return PROTO_ERR_NOMEM;
		j->rbcap = ncap;
	}
	while (got < want) {
		r = pread(j->fd, j->rbuf + got, (size_t)(want - got),
		    (off_t)(off + got));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			j->err = errno;
			return PROTO_ERR_IO;
		}
		if (r == 0)
			break;
		got += (uint64_t)r;
	}
	if (got < n) {
		j->err = EIO;
		return PROTO_ERR_IO;
	}
	j->roff = off;
	j->rlen = (size_t)got;
	*p = j->rbuf;
	return 0;
}

static size_t
idx_find(const struct journal *j, uint64_t seq)
{
	size_t lo = j->ihead + 1, hi = j->itail, mid;

	/* The last entry with seq <= the one wanted; idx[ihead] always qualifies. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (j->idx[mid].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

static int
disk_get(struct journal *j, uint64_t seq, const uint8_t **msg, size_t *len)
{
	uint64_t off, hdr[2];
	const uint8_t *p;
	int r;

	if (j->dlive == 0 || j->fd == -1 || j->ihead == j->itail)
		return PROTO_ERR_IO;
	if (j->cur_ok && seq > j->cur_seq && j->cur_off >= j->idx[j->ihead].off)
		off = j->cur_off;
	else
		off = j->idx[idx_find(j, seq)].off;
	for (;;) {
		if (REC_HDR > j->dend - off)
			return PROTO_ERR_IO;
		if ((r = disk_view(j, off, REC_HDR, &p)) != 0)
			return r;
		memcpy(hdr, p, sizeof(hdr));
		if (hdr[1] > j->dend - off - REC_HDR || hdr[0] > seq)
			return PROTO_ERR_IO;
		if (hdr[0] == seq)
			break;
		off += REC_HDR + hdr[1];
	}
	if ((r = disk_view(j, off, REC_HDR + hdr[1], &p)) != 0)
		return r;
	j->cur_ok = 1;
	j->cur_seq = seq;
	j->cur_off = off + REC_HDR + hdr[1];
	*msg = p + REC_HDR;
	*len = (size_t)hdr[1];
	return 0;
}

/* ---- the API ----------------------------------------------------------- */

int
journal_append(struct journal *j, const void *msg, size_t len)
{
	int r;

	if (len > SIZE_MAX - ENTRY_OVERHEAD - SLAB_SIZE)
		return PROTO_ERR_NOMEM;
	if (mem_fits(j, len)) {
		if ((r = mem_push(j, j->next, msg, len)) != 0)
			return r;
	} else if (!disk_fits(j, len) || disk_push(j, j->next, msg, len) != 0) {
		/* Past both bounds or the disk failed: keep it anyway, and say so. */
		if ((r = mem_push(j, j->next, msg, len)) != 0)
			return r;
		j->full = 1;
	}
	j->next++;
	return 0;
}

int
journal_ack(struct journal *j, uint64_t next)
{
	uint64_t nmem = 0;
	size_t ncap;

	if (next > j->next)
		return PROTO_ERR_ARG;
	if (next <= j->first)
		return 0;
	while (j->rhead < j->rtail && RING(j, j->rhead)->seq < next) {
		j->mem_bytes -= RING(j, j->rhead)->len + ENTRY_OVERHEAD;
		slab_release(j);
		j->rhead++;
		nmem++;
	}
	if (j->rcur < j->rhead)
		j->rcur = j->rhead;
	j->dlive -= (next - j->first) - nmem;
	j->first = next;

	/* Give a ring that once held a burst back, keeping room to grow again. */
	ncap = j->rcap / 4;
	if (ncap >= RING_MIN && j->rtail - j->rhead <= ncap / 2)
		(void)ring_resize(j, ncap);

	if (j->dlive == 0)
		disk_reset(j);
	else
		disk_trim(j);

	/*
	 * Clear full once a store has real room again; a quarter of the disk bound is
	 * asked for so that one big message cannot flip it on and off per ack.
	 */
	if (j->full && (j->mem_bytes < j->mem_max ||
	    (disk_usable(j) && disk_used(j) <= j->disk_max - j->disk_max / 4)))
		j->full = 0;
	return 0;
}

int
journal_get(struct journal *j, uint64_t seq, const uint8_t **msg, size_t *len)
{
	const struct ment *m;

	if (seq < j->first || seq >= j->next)
		return PROTO_ERR_RESUME;
	if ((m = mem_find(j, seq)) != NULL) {
		*msg = m->p;
		*len = m->len;
		return 0;
	}
	return disk_get(j, seq, msg, len);
}

int
journal_can_replay(const struct journal *j, uint64_t next)
{
	return next >= j->first && next <= j->next ? 0 : PROTO_ERR_RESUME;
}

uint64_t
journal_first_seq(const struct journal *j)
{
	return j->first;
}

uint64_t
journal_next_seq(const struct journal *j)
{
	return j->next;
}

size_t
journal_count(const struct journal *j)
{
	return (size_t)(j->next - j->first);
}

size_t
journal_mem_bytes(const struct journal *j)
{
	return j->mem_bytes;
}

uint64_t
journal_disk_bytes(const struct journal *j)
{
	return disk_used(j);
}

int
journal_full(const struct journal *j)
{
	return j->full;
}

int
journal_disk_error(const struct journal *j)
{
	return j->err;
}
