/*
 * sockets.h - what the checkpoint (res-sock.c), restart (restore-sock.c)
 * and `selfckpt info` share about sockets: the options kept, by their
 * index in struct sck_sockopts (image-format.h), and how addresses and
 * names are written in messages.
 *
 * No libc functions (the checkpoint side may run in a signal handler):
 * only constants from the socket headers.
 */
#ifndef SELFCKPT_SOCKETS_H
#define SELFCKPT_SOCKETS_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "image-format.h"

/* How an option's value is read and set (image-format.h, sck_sockopt). */
enum { SCK_OPT_INT, SCK_OPT_BUF, SCK_OPT_LINGER, SCK_OPT_TIMEO };

/* The struct timeval forms on x86-64 (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD). */
#define SCK_SO_RCVTIMEO_OLD 20
#define SCK_SO_SNDTIMEO_OLD 21

struct sck_sockopt_def {
	int level, name;
	uint8_t enc;
	const char *label;
};

static const struct sck_sockopt_def sck_sockopt_defs[SCK_NSOCKOPT] = {
	[SCK_SO_REUSEADDR] = { SOL_SOCKET, SO_REUSEADDR, SCK_OPT_INT, "SO_REUSEADDR" },
	[SCK_SO_REUSEPORT] = { SOL_SOCKET, SO_REUSEPORT, SCK_OPT_INT, "SO_REUSEPORT" },
	[SCK_SO_KEEPALIVE] = { SOL_SOCKET, SO_KEEPALIVE, SCK_OPT_INT, "SO_KEEPALIVE" },
	[SCK_SO_BROADCAST] = { SOL_SOCKET, SO_BROADCAST, SCK_OPT_INT, "SO_BROADCAST" },
	[SCK_SO_OOBINLINE] = { SOL_SOCKET, SO_OOBINLINE, SCK_OPT_INT, "SO_OOBINLINE" },
	[SCK_SO_PASSCRED] = { SOL_SOCKET, SO_PASSCRED, SCK_OPT_INT, "SO_PASSCRED" },
	[SCK_SO_SNDBUF] = { SOL_SOCKET, SO_SNDBUF, SCK_OPT_BUF, "SO_SNDBUF" },
	[SCK_SO_RCVBUF] = { SOL_SOCKET, SO_RCVBUF, SCK_OPT_BUF, "SO_RCVBUF" },
	[SCK_SO_RCVLOWAT] = { SOL_SOCKET, SO_RCVLOWAT, SCK_OPT_INT, "SO_RCVLOWAT" },
	[SCK_SO_PRIORITY] = { SOL_SOCKET, SO_PRIORITY, SCK_OPT_INT, "SO_PRIORITY" },
	[SCK_SO_LINGER] = { SOL_SOCKET, SO_LINGER, SCK_OPT_LINGER, "SO_LINGER" },
	[SCK_SO_RCVTIMEO] = { SOL_SOCKET, SCK_SO_RCVTIMEO_OLD, SCK_OPT_TIMEO, "SO_RCVTIMEO" },
	[SCK_SO_SNDTIMEO] = { SOL_SOCKET, SCK_SO_SNDTIMEO_OLD, SCK_OPT_TIMEO, "SO_SNDTIMEO" },
	[SCK_SO_PEEK_OFF] = { SOL_SOCKET, SO_PEEK_OFF, SCK_OPT_INT, "SO_PEEK_OFF" },
	[SCK_TCP_NODELAY] = { IPPROTO_TCP, TCP_NODELAY, SCK_OPT_INT, "TCP_NODELAY" },
	[SCK_TCP_KEEPIDLE] = { IPPROTO_TCP, TCP_KEEPIDLE, SCK_OPT_INT, "TCP_KEEPIDLE" },
	[SCK_TCP_KEEPINTVL] = { IPPROTO_TCP, TCP_KEEPINTVL, SCK_OPT_INT, "TCP_KEEPINTVL" },
	[SCK_TCP_KEEPCNT] = { IPPROTO_TCP, TCP_KEEPCNT, SCK_OPT_INT, "TCP_KEEPCNT" },
	[SCK_TCP_USER_TIMEOUT] = { IPPROTO_TCP, TCP_USER_TIMEOUT, SCK_OPT_INT, "TCP_USER_TIMEOUT" },
	[SCK_TCP_DEFER_ACCEPT] = { IPPROTO_TCP, TCP_DEFER_ACCEPT, SCK_OPT_INT, "TCP_DEFER_ACCEPT" },
	[SCK_TCP_FASTOPEN] = { IPPROTO_TCP, TCP_FASTOPEN, SCK_OPT_INT, "TCP_FASTOPEN" },
	[SCK_IPV6_V6ONLY] = { IPPROTO_IPV6, IPV6_V6ONLY, SCK_OPT_INT, "IPV6_V6ONLY" },
	[SCK_IP_TOS] = { IPPROTO_IP, IP_TOS, SCK_OPT_INT, "IP_TOS" },
	[SCK_IP_TTL] = { IPPROTO_IP, IP_TTL, SCK_OPT_INT, "IP_TTL" },
};

/* A tiny appender: text goes to b[*o..n), always terminated. */
static inline void sck_put(char *b, size_t n, size_t *o, const char *s)
{
	for (; *s; s++)
		if (*o + 1 < n)
			b[(*o)++] = *s;
	if (n)
		b[*o < n ? *o : n - 1] = '\0';
}

static inline void sck_put_num(char *b, size_t n, size_t *o, uint64_t v,
			       unsigned base)
{
	char t[24];
	int k = 0;

	do {
		t[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	char s[24];
	int m = 0;

	while (k)
		s[m++] = t[--k];
	s[m] = '\0';
	sck_put(b, n, o, s);
}

/*
 * A unix socket name as messages and `info` show it: "@" for each NUL
 * (so an abstract name starts with "@"), printable ASCII as it is, other
 * bytes as \xHH. Empty: "unnamed".
 */
static inline void sck_unix_name_str(char *b, size_t n, const uint8_t *name,
				     uint32_t len)
{
	size_t o = 0;

	if (n)
		b[0] = '\0';
	if (!len)
		sck_put(b, n, &o, "unnamed");
	for (uint32_t i = 0; i < len && i < SCK_UNIX_NAME_MAX; i++) {
		char c[2] = { (char)name[i], 0 };

		if (!name[i]) {
			sck_put(b, n, &o, "@");
		} else if (name[i] < 0x20 || name[i] > 0x7e) {
			sck_put(b, n, &o, "\\x");
			if (name[i] < 16)
				sck_put(b, n, &o, "0");
			sck_put_num(b, n, &o, name[i], 16);
		} else {
			sck_put(b, n, &o, c);
		}
	}
}

/*
 * An IPv4 or IPv6 socket address (struct sockaddr_in or sockaddr_in6, as
 * the image keeps it): "127.0.0.1:8080", "[::1]:8080" (RFC 5952: the
 * longest run of two or more zero groups, the first of equals, becomes
 * "::"; hex in lower case; no dotted form for mapped addresses).
 */
static inline void sck_inet_str(char *b, size_t n, const uint8_t *sa)
{
	uint16_t family = (uint16_t)(sa[0] | sa[1] << 8);
	unsigned port = (unsigned)sa[2] << 8 | sa[3];
	size_t o = 0;

	if (n)
		b[0] = '\0';
	if (family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				sck_put(b, n, &o, ".");
			sck_put_num(b, n, &o, sa[4 + i], 10);
		}
	} else {
		unsigned g[8];
		int best = -1, blen = 1;

		for (int i = 0; i < 8; i++)
			g[i] = (unsigned)sa[8 + 2 * i] << 8 | sa[9 + 2 * i];
		for (int i = 0; i < 8;) {
			int j = i;

			while (j < 8 && !g[j])
				j++;
			if (j - i > blen) {
				best = i;
				blen = j - i;
			}
			i = j > i ? j : i + 1;
		}
		sck_put(b, n, &o, "[");
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				sck_put(b, n, &o, "::");
				i += blen - 1;
				continue;
			}
			if (i && i != best + blen)
				sck_put(b, n, &o, ":");
			sck_put_num(b, n, &o, g[i], 16);
		}
		sck_put(b, n, &o, "]");
	}
	sck_put(b, n, &o, ":");
	sck_put_num(b, n, &o, port, 10);
}

static inline const char *sck_unix_type_name(uint32_t type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" :
	       type == SOCK_SEQPACKET ? "seqpacket" : "?";
}

#endif
