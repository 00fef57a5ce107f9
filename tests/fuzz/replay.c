/*
 * replay.c - runs a fuzz target over its committed corpus without libFuzzer, so the
 * corpus is replayed by `make check` under any compiler (and under the sanitizers
 * or valgrind). Arguments are files or directories; without any, the target's corpus
 * $top_srcdir/tests/fuzz/corpus/FUZZ_NAME is used. Prints TAP: one test per input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int count;

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		printf("not ok %d - %s: cannot open\n", ++count, path);
		return 1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *nd;

			cap = cap ? cap * 2 : 4096;
			nd = realloc(data, cap);
			if (nd == NULL) {
				free(data);
				fclose(f);
				printf("not ok %d - %s: out of memory\n", ++count, path);
				return 1;
			}
			data = nd;
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	printf("ok %d - %s (%zu bytes)\n", ++count, path, len);
	fflush(stdout);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int fail = 0;

	if (stat(path, &st) != 0) {
		printf("not ok %d - %s: missing\n", ++count, path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	if ((d = opendir(path)) == NULL) {
		printf("not ok %d - %s: cannot open directory\n", ++count, path);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char *full;
		size_t flen;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		flen = strlen(path) + strlen(e->d_name) + 2;
		if ((full = malloc(flen)) == NULL)
			break;
		snprintf(full, flen, "%s/%s", path, e->d_name);
		names[n++] = full;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		fail |= run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return fail;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dflt[4096];
	int i, fail = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			fail |= run_path(argv[i]);
	} else {
		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus/%s",
		    top ? top : ".", FUZZ_NAME);
		fail |= run_path(dflt);
	}
	printf("1..%d\n", count);
	return fail || count == 0;
}
