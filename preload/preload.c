/*
 * preload.c - what only libselfckpt-preload.so does (issue 4).
 *
 * The preload library is the shared library (the API, the signal
 * interposers of interpose.c, automatic checkpoints of auto.c, which the
 * environment `selfckpt run` sets turns on) plus this file: a program that
 * execs itself or another program with an environment of its own choosing
 * (execve, execvpe, execle, fexecve) still takes the library and its
 * settings along, since the exec keeps the process, its PID and its
 * checkpoint directory. Programs that exec with `environ` need nothing:
 * the variables are there.
 *
 * exec is async-signal-safe, so these are too: the new environment is
 * built on the stack, nothing is allocated.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* The variables that carry the library across an exec, as they were. */
static const char *const names[] = {
	"LD_PRELOAD", "SELFCKPT_DIR", "SELFCKPT_PID", "SELFCKPT_INTERVAL",
	"SELFCKPT_KEEP", "SELFCKPT_EXIT_SIGNAL", "SELFCKPT_SIGNAL", "SELFCKPT_LOG_FD",
};
#define NVARS (sizeof(names) / sizeof(names[0]))
static char saved[NVARS][PATH_MAX + 32];
static int nsaved;

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);

__attribute__((constructor)) static void save_env(void)
{
	real_execve = (__typeof__(real_execve))dlsym(RTLD_NEXT, "execve");
	real_execvpe = (__typeof__(real_execvpe))dlsym(RTLD_NEXT, "execvpe");
	real_fexecve = (__typeof__(real_fexecve))dlsym(RTLD_NEXT, "fexecve");
	if (!getenv("SELFCKPT_DIR"))
		return;		/* not run by selfckpt run: nothing to carry */
	for (size_t i = 0; i < NVARS; i++) {
		const char *v = getenv(names[i]);
		size_t n = strlen(names[i]);

		if (!v || n + 1 + strlen(v) >= sizeof(saved[0]))
			continue;
		memcpy(saved[i], names[i], n);
		saved[i][n] = '=';
		strcpy(saved[i] + n + 1, v);
		nsaved++;
	}
}

static int has_var(char *const envp[], const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
			return 1;
	return 0;
}

static size_t count(char *const v[])
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/*
 * out = envp plus every saved variable envp lacks. An LD_PRELOAD of the
 * program's own that lacks the library gets the library in front, in
 * lp (a buffer of the caller's).
 */
static void fill(char **out, char *const envp[], char *lp, size_t lpn)
{
	size_t k = 0;
	const char *ours = saved[0][0] ? saved[0] + sizeof("LD_PRELOAD") : NULL;

	for (size_t i = 0; envp && envp[i]; i++) {
		if (ours && !strncmp(envp[i], "LD_PRELOAD=", 11) &&
		    !strstr(envp[i] + 11, ours) &&
		    strlen(ours) + strlen(envp[i]) + 2 < lpn) {
			strcpy(lp, saved[0]);
			strcat(lp, ":");
			strcat(lp, envp[i] + 11);
			out[k++] = lp;
			continue;
		}
		out[k++] = envp[i];
	}
	for (size_t i = 0; i < NVARS; i++)
		if (saved[i][0] && !has_var(envp, names[i]))
			out[k++] = saved[i];
	out[k] = NULL;
}

#define WITH_ENV(envp, call)                                                  \
	do {                                                                  \
		if (!nsaved)                                                  \
			return call(envp);                                    \
		char *env_[count(envp) + NVARS + 1];                          \
		char lp_[2 * PATH_MAX];                                       \
		fill(env_, envp, lp_, sizeof(lp_));                           \
		return call(env_);                                            \
	} while (0)

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
#define CALL(e) (real_execve ? real_execve(path, argv, e) : (errno = ENOSYS, -1))
	WITH_ENV(envp, CALL);
#undef CALL
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
#define CALL(e) (real_execvpe ? real_execvpe(file, argv, e) : (errno = ENOSYS, -1))
	WITH_ENV(envp, CALL);
#undef CALL
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
#define CALL(e) (real_fexecve ? real_fexecve(fd, argv, e) : (errno = ENOSYS, -1))
	WITH_ENV(envp, CALL);
#undef CALL
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	size_t n = 1;

	va_start(ap, arg);
	while (va_arg(ap, const char *))
		n++;
	va_end(ap);
	const char *argv[n + 1];
	char *const *envp;

	va_start(ap, arg);
	argv[0] = arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, const char *);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, (char *const *)argv, envp);
}
