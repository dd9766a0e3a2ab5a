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
int cmd_run(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* A signal name (USR1, SIGTERM) or number; -1 if neither (auto.c). */
int selfckpt__sig_number(const char *s);

/* Print "selfckpt VERB: message" to stderr. */
void cli_err(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
