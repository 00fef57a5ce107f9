/*
 * sshconf-t.c - tests of the ssh_config reader (client/sshconf.c).
 *
 * Every case writes its files under a private temporary directory laid out as
 * home/.ssh/config (user file), etc/ssh/ssh_config (system file) and whatever
 * else the case names; "@ROOT@" in a file's text becomes that directory.
 * Resolutions are compared as one compact string (see describe()).
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "client/sshconf.h"
#include "tests/tap.h"

#define MAX_FILES	8
#define MAX_EXPECT	8

struct tfile {
	const char *path;	/* relative to the case directory */
	const char *text;
};

struct texpect {
	const char *name;
	const char *want;	/* describe() of the resolution */
};

struct tcase {
	const char *label;
	struct tfile files[MAX_FILES];
	const char *aliases;	/* expected sshconf_alias() list, space separated */
	int nwarn;		/* expected warnings, -1: any */
	struct texpect ex[MAX_EXPECT];
};

static const struct tcase cases[] = {
	{ "host key keywords: HostKeyAlias, HashKnownHosts, RevokedHostKeys",
	  { { "home/.ssh/config",
	      "Host box\n"
	      "  HostKeyAlias Box-Key\n"
	      "  HashKnownHosts no\n"
	      "  RevokedHostKeys ~/.ssh/revoked\n"
	      "  HostKeyAlgorithms ssh-ed25519\n"
	      "Host nohash\n"
	      "  RevokedHostKeys none\n"
	      "  HashKnownHosts maybe\n"
	      "Host *\n"
	      "  HashKnownHosts true\n"
	      "  HostKeyAlias later\n" } },
	  "box nohash", 1,
	  { { "box", "h=box u=me p=22 ka=Box-Key hk=0 rk=~/.ssh/revoked "
	      "ha=ssh-ed25519 m=1" },
	    { "nohash", "h=nohash u=me p=22 ka=later hk=1 m=1" },
	    { "other", "h=other u=me p=22 ka=later hk=1" } } },

	{ "Host with several aliases, %h",
	  { { "home/.ssh/config",
	      "Host a b c\n"
	      "  HostName %h.example.com\n"
	      "  User bob\n" } },
	  "a b c", 0,
	  { { "a", "h=a.example.com u=bob p=22 m=1" },
	    { "c", "h=c.example.com u=bob p=22 m=1" },
	    { "d", "h=d u=me p=22" } } },

	{ "first obtained value wins across blocks",
	  { { "home/.ssh/config",
	      "Host web\n"
	      "  Port 2200\n"
	      "Host *\n"
	      "  Port 22\n"
	      "  User def\n"
	      "  HostName fallback.example\n"
	      "Host web\n"
	      "  User late\n"
	      "  HostName web.example\n" } },
	  "web", 0,
	  { { "web", "h=fallback.example u=def p=2200 m=1" },
	    { "other", "h=fallback.example u=def p=22" } } },

	{ "patterns and negation",
	  { { "home/.ssh/config",
	      "Host *.corp !bastion.corp\n"
	      "  ProxyJump bastion.corp\n"
	      "Host bastion.corp db.corp\n"
	      "  User admin\n"
	      "Host db?\n"
	      "  Port 5432\n"
	      "Host *\n"
	      "  IdentityFile ~/.ssh/id_ed25519\n"
	      "  IdentityFile ~/.ssh/id_rsa\n" } },
	  "bastion.corp db.corp", 0,
	  { { "db.corp", "h=db.corp u=admin p=22 j=bastion.corp "
	      "i=~/.ssh/id_ed25519 m=1" },
	    { "bastion.corp", "h=bastion.corp u=admin p=22 "
	      "i=~/.ssh/id_ed25519 m=1" },
	    { "x.corp", "h=x.corp u=me p=22 j=bastion.corp i=~/.ssh/id_ed25519" },
	    { "db1", "h=db1 u=me p=5432 i=~/.ssh/id_ed25519" },
	    { "db12", "h=db12 u=me p=22 i=~/.ssh/id_ed25519" } } },

	{ "negation alone never matches",
	  { { "home/.ssh/config",
	      "Host !nope\n"
	      "  User neg\n"
	      "Host x\n" } },
	  "x", 0,
	  { { "x", "h=x u=me p=22 m=1" },
	    { "nope", "h=nope u=me p=22" } } },

	{ "host patterns are case-sensitive",
	  { { "home/.ssh/config",
	      "Host Foo\n"
	      "  User upper\n" } },
	  "Foo", 0,
	  { { "Foo", "h=Foo u=upper p=22 m=1" },
	    { "foo", "h=foo u=me p=22" } } },

	{ "quotes, = syntax, comments, keyword case",
	  { { "home/.ssh/config",
	      "# a comment\n"
	      "   \t\n"
	      "HOST=q1\n"
	      "  hostname = \"my host.example\"   # trailing comment\n"
	      "  USER 'al ice'\n"
	      "  Port=2022\n"
	      "\tIdentityFile \"/keys/with space\"\n"
	      "Host \"q2\" #q3\n"
	      "  User=x\\\"y\r\n"
	      "  hostName  h\"al\"f\n" } },
	  "q1 q2", 0,
	  { { "q1", "h=my host.example u=al ice p=2022 i=/keys/with space m=1" },
	    { "q2", "h=half u=x\"y p=22 m=1" },
	    { "q3", "h=q3 u=me p=22" } } },

	{ "HostName %-expansion",
	  { { "home/.ssh/config",
	      "Host pct\n"
	      "  HostName %h-%%-%p.%h.net\n" } },
	  "pct", 0,
	  { { "pct", "h=pct-%-%p.pct.net u=me p=22 m=1" } } },

	{ "Include with a relative glob, sorted",
	  { { "home/.ssh/config",
	      "Include conf.d/*.conf\n"
	      "Host top\n"
	      "  User topuser\n" },
	    { "home/.ssh/conf.d/b.conf", "Host ib\n  Port 2\n" },
	    { "home/.ssh/conf.d/a.conf", "Host ia\n  Port 1\nHost *\n  User inc\n" },
	    { "home/.ssh/conf.d/c.txt", "Host notread\n" } },
	  "ia ib top", 0,
	  { { "ia", "h=ia u=inc p=1 m=1 src=home/.ssh/conf.d/a.conf:1" },
	    { "ib", "h=ib u=inc p=2 m=1 src=home/.ssh/conf.d/b.conf:1" },
	    { "top", "h=top u=inc p=22 m=1 src=home/.ssh/config:2" } } },

	{ "Include: absolute, ~/ and several paths on one line",
	  { { "home/.ssh/config",
	      "Include @ROOT@/abs.conf ~/tilde.conf\n" },
	    { "abs.conf", "Host abs\n  User a\n" },
	    { "home/tilde.conf", "Host til\n  User t\n" } },
	  "abs til", 0,
	  { { "abs", "h=abs u=a p=22 m=1 src=abs.conf:1" },
	    { "til", "h=til u=t p=22 m=1 src=home/tilde.conf:1" } } },

	{ "system file after user file, relative to the system dir",
	  { { "home/.ssh/config",
	      "Host *\n"
	      "  User fromuser\n" },
	    { "etc/ssh/ssh_config",
	      "Include ssh_config.d/*.conf\n"
	      "Host *\n"
	      "  Port 2222\n"
	      "  User fromsystem\n" },
	    { "etc/ssh/ssh_config.d/sys.conf", "Host sysalias\n  HostName s.example\n" } },
	  "sysalias", 0,
	  { { "sysalias", "h=s.example u=fromuser p=2222 m=1 "
	      "src=etc/ssh/ssh_config.d/sys.conf:1" } } },

	{ "missing include files are ignored",
	  { { "home/.ssh/config",
	      "Include nonexistent.conf\n"
	      "Include /nonexistent/dir/*\n"
	      "Include conf.d/*\n"
	      "Host after\n" } },
	  "after", 0,
	  { { "after", "h=after u=me p=22 m=1" } } },

	{ "Include recursion stops at the depth limit",
	  { { "home/.ssh/config",
	      "Host loop\n"
	      "  Port 7\n"
	      "Host *\n"
	      "Include config\n" } },
	  "loop", 1,
	  { { "loop", "h=loop u=me p=7 m=1 src=home/.ssh/config:1" } } },

	{ "Include in a non-matching block cannot match",
	  { { "home/.ssh/config",
	      "Host other\n"
	      "  Include inc.cfg\n"
	      "Host foo\n"
	      "  User fromfoo\n" },
	    { "home/.ssh/inc.cfg",
	      "HostName fromincl\n"
	      "Host foo\n"
	      "  Port 2222\n" } },
	  "other foo", 0,
	  { { "foo", "h=foo u=fromfoo p=22 m=1 src=home/.ssh/inc.cfg:2" },
	    { "other", "h=fromincl u=me p=22 m=1 src=home/.ssh/config:1" } } },

	{ "Include restores the including block's state",
	  { { "home/.ssh/config",
	      "Host foo\n"
	      "  Include inc.cfg\n"
	      "  User stillfoo\n"
	      "Host bar\n"
	      "  Include inc.cfg\n" },
	    { "home/.ssh/inc.cfg",
	      "Port 1000\n"
	      "Host nomatch\n"
	      "  HostName never\n" } },
	  "foo nomatch bar", 0,
	  { { "foo", "h=foo u=stillfoo p=1000 m=1" },
	    { "bar", "h=bar u=me p=1000 m=1" },
	    { "nomatch", "h=nomatch u=me p=22 src=home/.ssh/inc.cfg:2" } } },

	{ "Match all is Host *, other Match blocks are skipped",
	  { { "home/.ssh/config",
	      "Match host foo\n"
	      "  Port 1\n"
	      "Match exec \"true\"\n"
	      "  HostName exec\n"
	      "Match all\n"
	      "  User matchall\n"
	      "Host foo\n"
	      "  Port 2\n"
	      "Match ALL\n"
	      "  HostName %h.all\n" } },
	  "foo", 0,
	  { { "foo", "h=foo.all u=matchall p=2 m=1" } } },

	{ "the other options",
	  { { "home/.ssh/config",
	      "Host k\n"
	      "  UserKnownHostsFile ~/.ssh/kh /other/kh\n"
	      "  StrictHostKeyChecking off\n"
	      "  ServerAliveInterval 1m30s\n"
	      "  ConnectTimeout 10\n"
	      "Host k2\n"
	      "  StrictHostKeyChecking Accept-New\n"
	      "  ConnectTimeout none\n"
	      "Host *\n"
	      "  ConnectTimeout 5\n"
	      "  StrictHostKeyChecking true\n"
	      "  ServerAliveInterval 0\n" } },
	  "k k2", 0,
	  { { "k", "h=k u=me p=22 k=~/.ssh/kh s=no a=90 t=10 m=1" },
	    { "k2", "h=k2 u=me p=22 s=accept-new a=0 m=1" },
	    { "z", "h=z u=me p=22 s=yes a=0 t=5" } } },

	{ "ProxyJump none wins like any first value",
	  { { "home/.ssh/config",
	      "Host direct\n"
	      "  ProxyJump none\n"
	      "Host *\n"
	      "  ProxyJump jump1,jump2\n" } },
	  "direct", 0,
	  { { "direct", "h=direct u=me p=22 m=1" },
	    { "else", "h=else u=me p=22 j=jump1,jump2" } } },

	{ "bad lines are skipped with a warning",
	  { { "home/.ssh/config",
	      "Host bad\n"
	      "  Port abc\n"
	      "  Port 0\n"
	      "  Port 70000\n"
	      "  User \"unterminated\n"
	      "  ServerAliveInterval 5x\n"
	      "  StrictHostKeyChecking maybe\n"
	      "  HostName\n"
	      "Host\n"
	      "Include\n"
	      "Host bad\n"
	      "  Port 2\n"
	      "  User good\n"
	      "  UnknownKeyword whatever\n" } },
	  "bad", 9,
	  { { "bad", "h=bad u=good p=2 m=1" } } },

	{ "~ in a system Include is refused",
	  { { "etc/ssh/ssh_config", "Include ~/x.conf\nHost s\n" },
	    { "home/x.conf", "Host never\n" } },
	  "s", 1,
	  { { "s", "h=s u=me p=22 m=1 src=etc/ssh/ssh_config:2" } } },

	{ "no files at all",
	  { { NULL, NULL } },
	  "", 0,
	  { { "anything", "h=anything u=me p=22" } } },

	{ "include of a directory and of a non-file",
	  { { "home/.ssh/config", "Include conf.d\nInclude /dev/null\nHost d\n" },
	    { "home/.ssh/conf.d/x", "Host x\n" } },
	  "d", -1,
	  { { "d", "h=d u=me p=22 m=1" } } },

	{ "a whole configuration",
	  { { "home/.ssh/config",
	      "# personal\n"
	      "Include ~/.ssh/config.d/*\n"
	      "\n"
	      "Host devbox dev\n"
	      "    HostName devbox.internal\n"
	      "    User dev\n"
	      "    ProxyJump gw\n"
	      "\n"
	      "Host gw\n"
	      "    HostName gw.example.com\n"
	      "    Port 2222\n"
	      "\n"
	      "Host *.example.com !gw.example.com\n"
	      "    ProxyJump gw\n"
	      "\n"
	      "Match all\n"
	      "    IdentityFile ~/.ssh/id_ed25519\n"
	      "\n"
	      "Host *\n"
	      "    User someone\n"
	      "    ServerAliveInterval 30\n" },
	    { "home/.ssh/config.d/10-work",
	      "Host work-*\n"
	      "    User worker\n"
	      "Host work-db work-web\n"
	      "    HostName %h.corp.example.com\n" },
	    { "home/.ssh/config.d/20-home",
	      "Host nas\n"
	      "    HostName 192.168.1.10\n"
	      "    User admin\n"
	      "    IdentityFile ~/.ssh/nas\n" },
	    { "etc/ssh/ssh_config",
	      "Include ssh_config.d/*.conf\n"
	      "Host *\n"
	      "    SendEnv LANG LC_*\n"
	      "    HashKnownHosts yes\n" } },
	  "work-db work-web nas devbox dev gw", 0,
	  { { "work-db", "h=work-db.corp.example.com u=worker p=22 "
	      "i=~/.ssh/id_ed25519 a=30 hk=1 m=1" },
	    { "nas", "h=192.168.1.10 u=admin p=22 i=~/.ssh/nas a=30 hk=1 m=1" },
	    { "dev", "h=devbox.internal u=dev p=22 j=gw i=~/.ssh/id_ed25519 "
	      "a=30 hk=1 m=1" },
	    { "gw", "h=gw.example.com u=someone p=2222 i=~/.ssh/id_ed25519 "
	      "a=30 hk=1 m=1" },
	    { "x.example.com", "h=x.example.com u=someone p=22 j=gw "
	      "i=~/.ssh/id_ed25519 a=30 hk=1" } } },
};

static char root[256];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
mkdirs(const char *path)
{
	char tmp[1024], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
			bail("mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
		bail("mkdir %s: %s", tmp, strerror(errno));
}

/* Writes text to dir/rel, replacing @ROOT@ with dir. */
static void
write_file(const char *dir, const char *rel, const char *text)
{
	char path[1024], *slash;
	const char *p, *at;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		mkdirs(path);
		*slash = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		bail("create %s: %s", path, strerror(errno));
	for (p = text; (at = strstr(p, "@ROOT@")) != NULL; p = at + 6) {
		fwrite(p, 1, (size_t)(at - p), f);
		fputs(dir, f);
	}
	fputs(p, f);
	fclose(f);
}

static void
case_opts(const char *dir, struct sshconf_opts *o, char *uf, char *sf, char *home,
    char *sd, size_t sz)
{
	snprintf(uf, sz, "%s/home/.ssh/config", dir);
	snprintf(sf, sz, "%s/etc/ssh/ssh_config", dir);
	snprintf(home, sz, "%s/home", dir);
	snprintf(sd, sz, "%s/etc/ssh", dir);
	memset(o, 0, sizeof(*o));
	o->user_file = uf;
	o->system_file = sf;
	o->home = home;
	o->system_dir = sd;
	o->local_user = "me";
}

/* "h=HOST u=USER p=PORT" then j, i, k, s, a, t, ka, hk, rk, ha only when set,
 * m=1 when matched,
 * src=FILE:LINE (relative to dir) when src is asked for. */
static void
describe(const struct sshconf_host *h, const char *dir, int with_src, char *out,
    size_t sz)
{
	size_t n, dl = strlen(dir);

	n = (size_t)snprintf(out, sz, "h=%s u=%s p=%d", h->hostname, h->user,
	    h->port);
#define ADD(...) do { if (n < sz) n += (size_t)snprintf(out + n, sz - n, __VA_ARGS__); } while (0)
	if (h->proxyjump != NULL)
		ADD(" j=%s", h->proxyjump);
	if (h->identityfile != NULL)
		ADD(" i=%s", h->identityfile);
	if (h->known_hosts != NULL)
		ADD(" k=%s", h->known_hosts);
	if (h->strict_host_key_checking != NULL)
		ADD(" s=%s", h->strict_host_key_checking);
	if (h->server_alive_interval != -1)
		ADD(" a=%d", h->server_alive_interval);
	if (h->connect_timeout != -1)
		ADD(" t=%d", h->connect_timeout);
	if (h->host_key_alias != NULL)
		ADD(" ka=%s", h->host_key_alias);
	if (h->hash_known_hosts != -1)
		ADD(" hk=%d", h->hash_known_hosts);
	if (h->revoked_host_keys != NULL)
		ADD(" rk=%s", h->revoked_host_keys);
	if (h->host_key_algorithms != NULL)
		ADD(" ha=%s", h->host_key_algorithms);
	if (h->matched)
		ADD(" m=1");
	if (with_src && h->source_file != NULL) {
		const char *f = h->source_file;

		if (strncmp(f, dir, dl) == 0 && f[dl] == '/')
			f += dl + 1;
		ADD(" src=%s:%d", f, h->line);
	}
#undef ADD
}

static void
join_aliases(const struct sshconf *cfg, char *out, size_t sz)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < sshconf_nalias(cfg) && n < sz; i++)
		n += (size_t)snprintf(out + n, sz - n, "%s%s", i ? " " : "",
		    sshconf_alias(cfg, i));
}

static void
run_case(size_t ci, const struct tcase *c)
{
	char dir[512], uf[600], sf[600], home[600], sd[600];
	char got[1024], list[1024];
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	struct sshconf_host h;
	size_t i, w;
	int r;

	snprintf(dir, sizeof(dir), "%s/case%zu", root, ci);
	mkdirs(dir);
	for (i = 0; i < MAX_FILES && c->files[i].path != NULL; i++)
		write_file(dir, c->files[i].path, c->files[i].text);
	case_opts(dir, &o, uf, sf, home, sd, sizeof(uf));
	r = sshconf_load(&o, &cfg);
	if (!is_int(r, 0, "%s: loads", c->label))
		return;
	join_aliases(cfg, list, sizeof(list));
	is_str(list, c->aliases, "%s: aliases", c->label);
	if (c->nwarn >= 0 && !is_int((long long)sshconf_nwarnings(cfg), c->nwarn,
	    "%s: warnings", c->label)) {
		for (w = 0; w < sshconf_nwarnings(cfg); w++)
			diag("warning: %s", sshconf_warning(cfg, w));
	}
	for (i = 0; i < MAX_EXPECT && c->ex[i].name != NULL; i++) {
		r = sshconf_resolve(cfg, c->ex[i].name, &h);
		if (!is_int(r, 0, "%s: resolve %s", c->label, c->ex[i].name))
			continue;
		describe(&h, dir, strstr(c->ex[i].want, "src=") != NULL, got,
		    sizeof(got));
		is_str(got, c->ex[i].want, "%s: %s", c->label, c->ex[i].name);
		is_str(h.alias, c->ex[i].name, "%s: %s alias kept", c->label,
		    c->ex[i].name);
		sshconf_host_clear(&h);
	}
	sshconf_free(cfg);
}

/* The listing, resolved and as JSON, for the "whole configuration" case. */
static void
test_list_json(void)
{
	char dir[512], uf[600], sf[600], home[600], sd[600], want[4096];
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	struct sshconf_host *hosts = NULL;
	size_t n = 0, last = sizeof(cases) / sizeof(cases[0]) - 1;
	cJSON *json = NULL;
	char *text;

	snprintf(dir, sizeof(dir), "%s/case%zu", root, last);
	case_opts(dir, &o, uf, sf, home, sd, sizeof(uf));
	if (!is_int(sshconf_load(&o, &cfg), 0, "list: loads"))
		return;
	is_int(sshconf_list(cfg, &hosts, &n), 0, "list: resolves");
	is_int((long long)n, 6, "list: six aliases");
	if (n == 6) {
		is_str(hosts[0].alias, "work-db", "list: first alias");
		is_str(hosts[0].user, "worker", "list: first user");
		is_int(hosts[0].line, 3, "list: first line");
		is_str(hosts[5].alias, "gw", "list: last alias");
		is_int(hosts[5].port, 2222, "list: last port");
	}
	sshconf_hosts_free(hosts, n);

	is_int(sshconf_list_json(cfg, &json), 0, "json: built");
	text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
	snprintf(want, sizeof(want), "["
	    "{\"alias\":\"work-db\",\"user\":\"worker\",\"hostname\":"
	    "\"work-db.corp.example.com\",\"port\":22,\"proxyjump\":null,"
	    "\"identityfile\":\"~/.ssh/id_ed25519\",\"source_file\":"
	    "\"%s/home/.ssh/config.d/10-work\",\"line\":3},"
	    "{\"alias\":\"work-web\",\"user\":\"worker\",\"hostname\":"
	    "\"work-web.corp.example.com\",\"port\":22,\"proxyjump\":null,"
	    "\"identityfile\":\"~/.ssh/id_ed25519\",\"source_file\":"
	    "\"%s/home/.ssh/config.d/10-work\",\"line\":3},"
	    "{\"alias\":\"nas\",\"user\":\"admin\",\"hostname\":\"192.168.1.10\","
	    "\"port\":22,\"proxyjump\":null,\"identityfile\":\"~/.ssh/nas\","
	    "\"source_file\":\"%s/home/.ssh/config.d/20-home\",\"line\":1},"
	    "{\"alias\":\"devbox\",\"user\":\"dev\",\"hostname\":"
	    "\"devbox.internal\",\"port\":22,\"proxyjump\":\"gw\","
	    "\"identityfile\":\"~/.ssh/id_ed25519\",\"source_file\":"
	    "\"%s/home/.ssh/config\",\"line\":4},"
	    "{\"alias\":\"dev\",\"user\":\"dev\",\"hostname\":"
	    "\"devbox.internal\",\"port\":22,\"proxyjump\":\"gw\","
	    "\"identityfile\":\"~/.ssh/id_ed25519\",\"source_file\":"
	    "\"%s/home/.ssh/config\",\"line\":4},"
	    "{\"alias\":\"gw\",\"user\":\"someone\",\"hostname\":"
	    "\"gw.example.com\",\"port\":2222,\"proxyjump\":null,"
	    "\"identityfile\":\"~/.ssh/id_ed25519\",\"source_file\":"
	    "\"%s/home/.ssh/config\",\"line\":9}]",
	    dir, dir, dir, dir, dir, dir);
	is_str(text, want, "json: listing");
	free(text);
	cJSON_Delete(json);
	sshconf_free(cfg);
}

static const struct {
	const char *a, *b;
	size_t limit, want;
} distances[] = {
	{ "kitten", "sitting", 5, 3 },
	{ "ab", "ba", 3, 1 },		/* transposition */
	{ "ca", "abc", 3, 3 },		/* OSA, not unrestricted Damerau */
	{ "", "abc", 5, 3 },
	{ "abc", "", 5, 3 },
	{ "ABC", "abc", 3, 0 },		/* case-insensitive */
	{ "aaaa", "bbbb", 1, 2 },	/* capped at limit + 1 */
	{ "short", "a-much-longer-name", 2, 3 },
	{ "prod-db", "prod-bd", 2, 1 },
};

static const char suggest_config[] =
    "Host prod-db prod-web staging\n"
    "Host dev devbox laptop\n"
    "Host *.corp x?\n";

static const struct {
	const char *name;
	size_t n;
	const char *want;	/* space separated */
} suggestions[] = {
	{ "prod-dv", 5, "prod-db" },
	{ "stagign", 5, "staging" },
	{ "prod", 5, "prod-db prod-web" },
	{ "prod", 1, "prod-db" },
	{ "Laptop", 5, "laptop" },
	{ "de", 5, "dev devbox" },
	{ "dev", 5, "devbox" },
	{ "devbx", 5, "devbox dev" },
	{ "xyz", 5, "" },
	{ "q", 5, "" },
	{ "", 5, "" },
	{ "prod-wbe", 0, "" },
	{ "a-name-longer-than-anything-configured-here", 5, "" },
};

static void
test_suggest(void)
{
	char dir[512], uf[600], sf[600], home[600], sd[600], got[512];
	const char *out[8];
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	size_t i, j, n, len;

	for (i = 0; i < sizeof(distances) / sizeof(distances[0]); i++)
		is_int((long long)sshconf_distance(distances[i].a, distances[i].b,
		    distances[i].limit), (long long)distances[i].want,
		    "distance %s/%s", distances[i].a, distances[i].b);

	snprintf(dir, sizeof(dir), "%s/suggest", root);
	write_file(dir, "home/.ssh/config", suggest_config);
	case_opts(dir, &o, uf, sf, home, sd, sizeof(uf));
	if (!is_int(sshconf_load(&o, &cfg), 0, "suggest: loads"))
		return;
	for (i = 0; i < sizeof(suggestions) / sizeof(suggestions[0]); i++) {
		n = sshconf_suggest(cfg, suggestions[i].name, out,
		    suggestions[i].n);
		got[0] = '\0';
		for (j = 0, len = 0; j < n && len < sizeof(got); j++)
			len += (size_t)snprintf(got + len, sizeof(got) - len,
			    "%s%s", j ? " " : "", out[j]);
		is_str(got, suggestions[i].want, "suggest %s (n=%zu)",
		    suggestions[i].name, suggestions[i].n);
	}
	sshconf_free(cfg);
}

static void
test_misc(void)
{
	char dir[512], uf[600], sf[600], home[600], sd[600];
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	struct sshconf_host h;
	char *old_home;

	snprintf(dir, sizeof(dir), "%s/misc", root);
	write_file(dir, "home/.ssh/config", "Host m\n");
	case_opts(dir, &o, uf, sf, home, sd, sizeof(uf));
	if (!is_int(sshconf_load(&o, &cfg), 0, "misc: loads"))
		return;
	memset(&h, 0x5a, sizeof(h));
	is_int(sshconf_resolve(cfg, "", &h), PROTO_ERR_ARG, "empty name refused");
	is_int(h.port, 0x5a5a5a5a, "refused resolve leaves the output alone");
	ok(sshconf_alias(cfg, 1) == NULL, "alias out of range is NULL");
	ok(sshconf_warning(cfg, 0) == NULL, "warning out of range is NULL");
	sshconf_free(cfg);
	sshconf_free(NULL);
	sshconf_hosts_free(NULL, 0);

	/* The default loader uses $HOME; the system file is whatever exists. */
	old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", home, 1);
	cfg = NULL;
	if (is_int(sshconf_load_default(&cfg), 0, "default load")) {
		ok(sshconf_nalias(cfg) >= 1 &&
		    strcmp(sshconf_alias(cfg, 0), "m") == 0,
		    "default load reads $HOME/.ssh/config");
		sshconf_free(cfg);
	}
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_home);
}

/* The lines as loaded, for client/sshopt.c: one compact string per entry. */
static const char lines_config[] =
    "Host a !b\n"
    "  ProxyCommand  = ssh -W \"%h:%p\" gw   # kept whole\n"
    "  NoSuchKeyword one 'two words'\n"
    "  Port notanumber\n"
    "Include inc.cfg\n"
    "Match host x user \"y z\"\n"
    "  IdentityFile ~/.ssh/%r\n";

static const char *const lines_want[] = {
	"FILE",
	"HOST Host [a|!b] raw=a !b @1",
	("OPTION ProxyCommand [ssh|-W|%h:%p|gw] "
	    "raw=ssh -W \"%h:%p\" gw   # kept whole @2"),
	"OPTION NoSuchKeyword [one|two words] raw=one 'two words' @3",
	"OPTION Port [notanumber] raw=notanumber @4",
	"PUSH",
	"OPTION User [inc] raw=inc @1",
	"POP",
	"MATCH Match [host|x|user|y z] raw=host x user \"y z\" @6",
	"OPTION IdentityFile [~/.ssh/%r] raw=~/.ssh/%r @7",
};

static void
describe_line(const struct sshconf_line *l, char *out, size_t sz)
{
	static const char *const kinds[] = { "FILE", "PUSH", "POP", "HOST",
	    "MATCH", "OPTION" };
	size_t n, i;

	n = (size_t)snprintf(out, sz, "%s", kinds[l->kind]);
	if (l->keyword == NULL)
		return;
	n += (size_t)snprintf(out + n, sz - n, " %s [", l->keyword);
	for (i = 0; i < l->nargs && n < sz; i++)
		n += (size_t)snprintf(out + n, sz - n, "%s%s", i ? "|" : "",
		    l->args[i]);
	if (n < sz)
		snprintf(out + n, sz - n, "] raw=%s @%d", l->raw, l->line);
}

static const struct {
	const char *line;
	int rc;
	const char *want;	/* keyword [args] raw=... */
} splits[] = {
	{ "User=bob", 1, "User [bob] raw=bob" },
	{ "ProxyCommand = nc %h %p", 1, "ProxyCommand [nc|%h|%p] raw=nc %h %p" },
	{ "IdentityFile \"/a b/c\"", 1, "IdentityFile [/a b/c] raw=\"/a b/c\"" },
	{ "  # only a comment", 0, NULL },
	{ "", 0, NULL },
	{ "User 'unterminated", PROTO_ERR_INVALID, NULL },
};

static void
test_lines(void)
{
	char dir[512], uf[600], sf[600], home[600], sd[600], got[512];
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	struct sshconf_line l;
	struct sshconf_words w;
	const char *why;
	size_t i, n;
	int r;

	snprintf(dir, sizeof(dir), "%s/lines", root);
	write_file(dir, "home/.ssh/config", lines_config);
	write_file(dir, "home/.ssh/inc.cfg", "User inc\n");
	case_opts(dir, &o, uf, sf, home, sd, sizeof(uf));
	o.system_file = NULL;
	if (!is_int(sshconf_load(&o, &cfg), 0, "lines: loads"))
		return;
	n = sshconf_nlines(cfg);
	is_int((long long)n, (long long)(sizeof(lines_want) /
	    sizeof(lines_want[0])), "lines: every line that counts is there");
	for (i = 0; i < n && i < sizeof(lines_want) / sizeof(lines_want[0]);
	    i++) {
		if (!is_int(sshconf_get_line(cfg, i, &l), 0, "lines: get %zu", i))
			continue;
		describe_line(&l, got, sizeof(got));
		is_str(got, lines_want[i], "lines: entry %zu", i);
	}
	memset(&l, 0x5a, sizeof(l));
	is_int(sshconf_get_line(cfg, n, &l), -1, "lines: out of range");
	is_int(l.line, 0x5a5a5a5a, "lines: out of range leaves the output alone");
	sshconf_free(cfg);

	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		r = sshconf_split(splits[i].line, &w, &why);
		if (!is_int(r, splits[i].rc, "split '%s'", splits[i].line) ||
		    r != 1)
			continue;
		n = (size_t)snprintf(got, sizeof(got), "%s [", w.keyword);
		for (r = 0; (size_t)r < w.nargs; r++)
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s",
			    r ? "|" : "", w.args[r]);
		snprintf(got + n, sizeof(got) - n, "] raw=%s", w.raw);
		is_str(got, splits[i].want, "split '%s': words", splits[i].line);
		sshconf_words_free(&w);
	}

	ok(sshconf_match_pattern("web1.corp", "web?.*"), "pattern ? and *");
	ok(!sshconf_match_pattern("Web1", "web1"), "patterns are case-sensitive");
	ok(!sshconf_match_pattern("a", "!a"), "no negation in one pattern");
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	size_t i;

	plan_lazy();
	snprintf(root, sizeof(root), "%s/sshconf-t.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		bail("mkdtemp: %s", strerror(errno));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(i, &cases[i]);
	test_list_json();
	test_suggest();
	test_misc();
	test_lines();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
