/*
 * envfile-t.c - client/envfile.c: entries added, replaced and removed without
 * touching a line the user wrote; ids the user defined refused; the default;
 * TOML string escaping; the atomic save.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/envfile.h"
#include "tests/tap.h"

static char dir[] = "/tmp/envfile-t.XXXXXX";
static char path[256];

static void
write_file(const char *text)
{
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
}

static char *
read_file(void)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

	if (fp)
		fclose(fp);
	buf[n] = '\0';
	return buf;
}

/* Loads, applies add (remove when program is NULL), saves; returns the result. */
static int
edit(const char *id, const char *program, int make_default, char *err)
{
	static const char *const args[] = { "devbox", "exec-server" };
	struct envfile *f = envfile_load(path, err, 300);
	int r;

	if (f == NULL)
		return -2;
	r = program != NULL ? envfile_add(f, id, program, args, 2, make_default, err, 300) :
	    envfile_remove(f, id, err, 300);
	if (r == 0 && envfile_save(f, path, err, 300) != 0)
		r = -3;
	envfile_free(f);
	return r;
}

static void
collect(void *ctx, const char *id, int ours, int is_default)
{
	char *out = ctx;

	snprintf(out + strlen(out), 512 - strlen(out), "%s%s%s ", id, ours ? "*" : "",
	    is_default ? "!" : "");
}

static const char *
list(void)
{
	static char out[512];
	char err[300];
	struct envfile *f = envfile_load(path, err, sizeof(err));

	out[0] = '\0';
	if (f != NULL) {
		envfile_each(f, collect, out);
		envfile_free(f);
	}
	return out;
}

int
main(void)
{
	static const char user[] =
	    "# my environments\n"
	    "include_local = true\n"
	    "\n"
	    "[[environments]]\n"
	    "id = \"gpu\"   # mine\n"
	    "url = \"ws://127.0.0.1:9000\"\n";
	char err[300], q[64], *t;
	struct stat st;

	plan_lazy();
	if (mkdtemp(dir) == NULL)
		bail("mkdtemp failed");
	snprintf(path, sizeof(path), "%s/environments.toml", dir);

	is_int(edit("devbox", "/usr/bin/codex-connect", 0, err), 0, "add to a missing file");
	t = read_file();
	ok(strstr(t, ENVFILE_MARK "\n[[environments]]\nid = \"devbox\"\n"
	    "program = \"/usr/bin/codex-connect\"\nargs = [\"devbox\", \"exec-server\"]\n")
	    != NULL, "the entry, marked as ours");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "a new file is 0600");

	write_file(user);
	chmod(path, 0640);
	is_int(edit("devbox", "/usr/bin/codex-connect", 0, err), 0, "add beside the user's");
	t = read_file();
	ok(strncmp(t, user, strlen(user)) == 0, "every line the user wrote is kept as it was");
	is_str(list(), "gpu devbox* ", "list: the user's and ours");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "the file's mode is kept");

	is_int(edit("gpu", "/usr/bin/codex-connect", 0, err), -1, "an id the user defined is refused");
	ok(strstr(err, "already defined (line 4") != NULL, "  saying where: %s", err);
	ok(strncmp(read_file(), user, strlen(user)) == 0, "  and nothing changed");

	is_int(edit("devbox", "/opt/codex-connect", 0, err), 0, "adding ours again replaces it");
	t = read_file();
	ok(strstr(t, "/usr/bin/codex-connect") == NULL && strstr(t, "/opt/codex-connect") != NULL,
	    "  with the new values, once");
	is_str(list(), "gpu devbox* ", "  still one entry");

	is_int(edit("devbox", "/opt/codex-connect", 1, err), 0, "--default where the user set none");
	t = read_file();
	ok(strncmp(t, ENVFILE_MARK_DEFAULT "\ndefault = \"devbox\"\n\n",
	    strlen(ENVFILE_MARK_DEFAULT) + 21) == 0,
	    "  a marked top-level default at the top, before every table");
	is_str(list(), "gpu devbox*! ", "  list shows it");

	unlink(path);
	write_file("");
	is_int(edit("one", "/opt/cc", 0, err), 0, "ours as the first table");
	is_int(edit("two", "/opt/cc", 1, err), 0, "  then a default");
	is_str(list(), "one* two*! ", "  the first keeps its mark");
	write_file(user);
	is_int(edit("devbox", "/opt/codex-connect", 1, err), 0, "back to the user's file");
	is_int(edit("gpu", NULL, 0, err), -1, "removing the user's entry is refused");
	is_int(edit("nope", NULL, 0, err), -1, "removing an unknown one is refused");
	is_int(edit("devbox", NULL, 0, err), 0, "removing ours");
	t = read_file();
	ok(strcmp(t, user) == 0, "  leaves exactly the user's file (default gone too)");

	write_file("default = \"gpu\"\n[[environments]]\nid = 'gpu'\nurl = \"ws://x\"\n");
	is_int(edit("devbox", "/opt/cc", 1, err), -1, "--default over the user's default is refused");
	ok(strstr(err, "set by you (line 1") != NULL, "  saying where: %s", err);
	is_int(edit("devbox", "/opt/cc", 0, err), 0, "without --default it is added");
	is_str(list(), "gpu! devbox* ", "  ids in literal strings are read too");

	q[0] = '\0';
	is_int(envfile_quote("a\"b\\c\nd\x01", q, sizeof(q)), 0, "quote");
	is_str(q, "\"a\\\"b\\\\c\\u000ad\\u0001\"", "  every character that needs it escaped");
	q[0] = '\0';
	is_int(envfile_quote("0123456789", q, 8), -1, "  too long for the buffer: -1");
	unlink(path);
	write_file("");
	is_int(edit("we\"ird", "/opt/cc", 0, err), 0, "an id with a quote");
	is_str(list(), "we\"ird* ", "  reads back the same");
	is_int(edit("ctl\001x", "/opt/cc", 0, err), 0, "an id with a control character");
	is_str(list(), "we\"ird* ctl\001x* ", "  reads back the same (\\u0001)");
	{
		char id[300];

		memset(id, 'i', sizeof(id) - 1);
		id[sizeof(id) - 1] = '\0';
		is_int(edit(id, "/opt/cc", 0, err), -1, "an id of 299 bytes is refused");
		id[255] = '\0';
		is_int(edit(id, "/opt/cc", 0, err), 0, "  255 are fine");
		is_int(edit(id, NULL, 0, err), 0, "  and removed again");
		is_int(edit("", "/opt/cc", 0, err), -1, "an empty id is refused");
	}

	/* Removing one of ours keeps the next one ours (its mark stays). */
	unlink(path);
	is_int(edit("one", "/opt/cc", 0, err), 0, "one");
	is_int(edit("two", "/opt/cc", 1, err), 0, "  two, the default");
	is_int(edit("one", NULL, 0, err), 0, "  one removed");
	is_str(list(), "two*! ", "  two is still ours and the default");
	is_int(edit("two", NULL, 0, err), 0, "  and can be removed");
	is_str(list(), "", "  nothing left");

	/* A mark the user left above our entry does not take the next table. */
	write_file(ENVFILE_MARK "\n" ENVFILE_MARK "\n[[environments]]\nid = \"a\"\n"
	    "[[environments]]\nid = \"b\"\n");
	is_str(list(), "a* b ", "a stray mark: a is ours, b the user's");
	is_int(edit("a", NULL, 0, err), 0, "  removing a");
	is_str(list(), "b ", "  b stays the user's");
	ok(strstr(read_file(), ENVFILE_MARK "\n") != NULL, "  and the user's mark stays");

	/* A comment above the user's table stays when ours before it goes. */
	write_file("");
	is_int(edit("ours", "/opt/cc", 0, err), 0, "ours");
	{
		FILE *fp = fopen(path, "a");

		fputs("\n# my own\n[[environments]]\nid = \"mine\"\n", fp);
		fclose(fp);
	}
	is_int(edit("ours", NULL, 0, err), 0, "  removed, with the user's table after it");
	ok(strstr(read_file(), "# my own\n[[environments]]\nid = \"mine\"\n") != NULL,
	    "  the user's comment is kept");

	/* A failed add changes nothing. */
	{
		static char longarg[9000];
		static const char *const a[] = { longarg };
		struct envfile *f = envfile_load(path, err, sizeof(err));
		char before[65536];

		memset(longarg, 'a', sizeof(longarg) - 1);
		snprintf(before, sizeof(before), "%s", read_file());
		ok(f != NULL && envfile_add(f, "big", "/opt/cc", a, 1, 1, err,
		    sizeof(err)) == -1, "an argument too long for a line is refused");
		ok(f != NULL && envfile_save(f, path, err, sizeof(err)) == 0 &&
		    strcmp(read_file(), before) == 0, "  and the file is as it was");
		envfile_free(f);
	}
	ok(access(path, F_OK) == 0, "saved");
	{
		char tmpl[300];

		snprintf(tmpl, sizeof(tmpl), "%s.tmp.%ld", path, (long)getpid());
		ok(access(tmpl, F_OK) != 0, "no temporary file left");
	}
	unlink(path);
	rmdir(dir);
	return done_testing();
}
