/*
 * cli.h - the selfckpt program's verbs.
 *
 * Each verb is a function taking its own argv (argv[0] is the verb) and
 * returning the program's exit status; tools/selfckpt.c holds the table.
 */
#ifndef SELFCKPT_CLI_H
#define SELFCKPT_CLI_H

int cmd_restart(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Print "selfckpt VERB: message" to stderr. */
void cli_err(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
