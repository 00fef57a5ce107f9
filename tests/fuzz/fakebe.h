/*
 * fakebe.h - the session backend of the session host's fuzz targets, played by the
 * target itself so that a run is cheap and deterministic.
 *
 * The targets link with -Wl,--wrap=backend_start, so the host's backend_start()
 * lands here. A backend whose command is "fake" still gets a real child process
 * (the host reaps it, signals its group and reads its status as usual), but that
 * child is only `cat` reading a pipe: the target ends it by closing the pipe (exit
 * status 0), by the same with a missing file argument (status 1) or by SIGKILL.
 * The backend's stdin, stdout and stderr pipes are held here: fakebe_pump() reads
 * what the host wrote, checks that every line is one JSON object within the
 * message limit without CR, and answers. A command "broken" fails to start.
 *
 * What a fake says on stdout is one JSON-RPC notification per line, method
 * "fake/..." with params {"be": fake index, "n": line number from 1}; a line is
 * "deliverable" when it was written whole and is within the message limit.
 */
#ifndef CXS_TESTS_FUZZ_FAKEBE_H
#define CXS_TESTS_FUZZ_FAKEBE_H

#include <stddef.h>
#include <stdint.h>

#define FAKEBE_MAX 8               /* fakes per run; more fail to start */

/* Behaviour of the fakes started from now on (fakebe_mode). */
#define FAKEBE_GREET   0x01u       /* says hello before any input */
#define FAKEBE_SILENT  0x02u       /* never echoes */
#define FAKEBE_STDERR  0x04u       /* chatters on stderr */
#define FAKEBE_BIG     0x08u       /* after the first line: one line over a chunk */
#define FAKEBE_HUGE    0x10u       /* after the second line: one over the limit */
#define FAKEBE_EXIT(f)  (((f) >> 5) & 3u)  /* 0 status 0, 1 status 1, 2 SIGKILL,
					    * 3 SIGKILL dropping unsent output */
#define FAKEBE_EARLY(f) (((f) >> 7) & 3u)  /* end without EOF: 0 never, 1 after
					    * one line, 2 after three, 3 at once */

/* Starts a run: max_message is the host's limit. Closes what a previous run left. */
void fakebe_begin(size_t max_message);
void fakebe_mode(unsigned flags);
/* Moves bytes between the host and the fakes; returns 1 if anything happened. */
int fakebe_pump(void);
/* Ends a run: closes every pipe still held (the children must have been reaped by
 * the host by then; fakebe_end() does not wait for them). */
void fakebe_end(void);

/* How many of this run's children the host has not reaped (running or not);
 * call it before fakebe_end(). */
int fakebe_unreaped(void);

/* Fakes started in this run. */
int fakebe_count(void);
/* Whether fake i got EOF on its stdin or ended itself. */
int fakebe_done(int i);
/* Lines fake i wrote whole: n = 1..fakebe_written(i). */
uint64_t fakebe_written(int i);
/* Whether line n of fake i is deliverable (written whole, within the limit). */
int fakebe_deliverable(int i, uint64_t n);
/* Lines fake i received (each checked as said above), in order: how many, and
 * the fakebe_hash() of line k (from 0). */
size_t fakebe_received(int i);
uint64_t fakebe_line_hash(int i, size_t k);

/* FNV-1a over p[0..len), continuing from h (start with FAKEBE_HASH0); CR and LF
 * count as spaces, the way the host hands a framed message to a backend. */
#define FAKEBE_HASH0 14695981039346656037ull
uint64_t fakebe_hash(uint64_t h, const uint8_t *p, size_t len);

#endif
