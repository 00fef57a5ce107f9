/*
 * codex-connect - drive a Codex app server on a remote host over SSH.
 * main() parses and hands over; see app.c (front ends) and link.c (the link).
 */
#include "client/app.h"

int
main(int argc, char **argv)
{
	struct app_opts o;
	int done, rc;

	rc = app_parse(argc, argv, &o, &done);
	if (done)
		return rc;
	return app_run(&o);
}
