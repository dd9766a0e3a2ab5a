/*
 * image-enc.c - the image encoder (see image.h).
 *
 * Freestanding: the writer calls it after the registers are captured, when
 * no libc function may run.
 */
#include "image.h"
#include "nolibc/xxh64.h"

void selfckpt__meta_start(struct sck_meta *m, void *buf, size_t cap)
{
	struct sck_preamble *pre = buf;

	m->buf = buf;
	m->cap = cap;
	__builtin_memset(pre, 0, sizeof(*pre));
	__builtin_memcpy(pre->magic, SCK_MAGIC, SCK_MAGIC_LEN);
	pre->major = SCK_VERSION_MAJOR;
	pre->minor = SCK_VERSION_MINOR;
	pre->arch = SCK_ARCH_X86_64;
	m->len = m->first = sizeof(*pre);
	m->seed = m->chain = selfckpt__xxh64(pre, sizeof(*pre), SCK_HASH_SEED);
	m->nrecords = 0;
	m->offset = 0;
}

void selfckpt__meta_continue(struct sck_meta *m, const struct sck_meta *prev,
			     void *buf, size_t cap)
{
	m->buf = buf;
	m->cap = cap;
	m->len = m->first = 0;
	m->seed = m->chain = prev->chain;
	m->nrecords = prev->nrecords;
	m->offset = prev->offset + prev->len;
}

void selfckpt__rec_seal(struct sck_rec *r, uint32_t type, uint32_t flags,
			uint64_t len, uint64_t payload_hash, uint64_t *chain)
{
	r->type = type;
	r->flags = flags;
	r->len = len;
	r->payload_hash = payload_hash;
	r->hdr_hash = selfckpt__xxh64(r, 24, *chain);
	*chain = r->hdr_hash;
}

int selfckpt__meta_add(struct sck_meta *m, uint32_t type, uint32_t flags,
		       const struct sck_part *parts, int nparts, void **payload)
{
	uint64_t len = 0;

	for (int i = 0; i < nparts; i++)
		len += parts[i].p ? parts[i].n : 0;
	uint64_t total = sizeof(struct sck_rec) + len + sck_pad8(len);

	if (total > m->cap - m->len)
		return -28; /* ENOSPC */

	struct sck_rec *r = (struct sck_rec *)(m->buf + m->len);
	uint8_t *p = (uint8_t *)(r + 1);

	r->type = type;
	r->flags = flags;
	r->len = len;
	r->payload_hash = 0;
	r->hdr_hash = 0;
	if (payload)
		*payload = p;
	for (int i = 0; i < nparts; i++) {
		if (!parts[i].p || !parts[i].n)
			continue;
		__builtin_memcpy(p, parts[i].p, parts[i].n);
		p += parts[i].n;
	}
	for (uint64_t i = 0; i < sck_pad8(len); i++)
		*p++ = 0;
	m->len += total;
	m->nrecords++;
	return 0;
}

void selfckpt__meta_seal(struct sck_meta *m)
{
	uint64_t chain = m->seed;

	for (size_t off = m->first; off < m->len;) {
		struct sck_rec *r = (struct sck_rec *)(m->buf + off);
		uint64_t h = selfckpt__xxh64(r + 1, r->len, 0);

		selfckpt__rec_seal(r, r->type, r->flags, r->len, h, &chain);
		off += sizeof(*r) + r->len + sck_pad8(r->len);
	}
	m->chain = chain;
}
