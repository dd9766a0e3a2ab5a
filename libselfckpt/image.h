/*
 * image.h - writing and reading selfckpt images (format: image-format.h).
 *
 * Writing: records are appended to a metadata buffer (struct sck_meta) whose
 * memory comes from the checkpoint arena. Appending computes the payload hash
 * and continues the hdr_hash chain, so the buffer holds final bytes that the
 * writer sends as they are. The encoder is freestanding: the writer appends
 * VMA and THREAD records after the registers were captured.
 *
 * Reading: selfckpt__image_read_meta() reads and checks the preamble and
 * every metadata record up to the PAGES record header, from any fd (a pipe
 * too: it never reads past what it needs). selfckpt__image_verify_data()
 * then checks the page data, the hash list and the commit record. Both
 * reject anything malformed with a one-line message; they never trust a
 * length before checking it against a limit and against the record.
 */
#ifndef SELFCKPT_IMAGE_H
#define SELFCKPT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "image-format.h"

/* ---- encoder ---------------------------------------------------------- */

/*
 * Records are appended unhashed, so that a record (the HEADER, first in the
 * stream) may be completed after later ones were added; selfckpt__meta_seal
 * then computes every payload hash and the hdr_hash chain in stream order.
 */
struct sck_meta {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t first;			/* offset of the first record in buf */
	uint64_t seed;			/* chain value before the first record */
	uint64_t chain;			/* after seal: hdr_hash of the last record */
	uint64_t nrecords;		/* records in buf */
	uint64_t offset;		/* stream offset of buf[0] */
};

/* Start a stream: the preamble, and the chain seeded from it. */
void selfckpt__meta_start(struct sck_meta *m, void *buf, size_t cap);

/* Continue a stream in another buffer, after the records of prev. */
void selfckpt__meta_continue(struct sck_meta *m, const struct sck_meta *prev,
			     void *buf, size_t cap);

/*
 * Append a record whose payload is the concatenation of up to 4 parts
 * (NULL parts are skipped). *payload (if not NULL) receives the payload's
 * address, to complete it before sealing. Returns 0 or -ENOSPC.
 */
struct sck_part {
	const void *p;
	size_t n;
};
int selfckpt__meta_add(struct sck_meta *m, uint32_t type, uint32_t flags,
		       const struct sck_part *parts, int nparts, void **payload);

/* Hash every record of m in order; sets m->chain. */
void selfckpt__meta_seal(struct sck_meta *m);

/* Seal one record header whose payload hash is known (PAGES: 0). */
void selfckpt__rec_seal(struct sck_rec *r, uint32_t type, uint32_t flags,
			uint64_t len, uint64_t payload_hash, uint64_t *chain);

/* Bytes of zero padding after a payload of len bytes. */
static inline uint64_t sck_pad8(uint64_t len)
{
	return (8 - (len & 7)) & 7;
}

/* ---- decoder ---------------------------------------------------------- */

struct sck_img_file {
	struct sck_file f;
	char *path;
};

struct sck_img_vma {
	struct sck_vma v;
	struct sck_run *runs;
	struct sck_range *guards;
	char *name;
};

struct sck_img_thread {
	struct sck_thread t;
	uint8_t *xsave;
};

struct sck_img_obj {
	struct sck_obj o;
	uint8_t *state;			/* o.state_len bytes (at least the
					 * kind's struct, zero-filled) */
	uint8_t *data;			/* o.data_len bytes */
};

/* An SCM record: fds[nfds] follow s in the record. */
struct sck_img_scm {
	struct sck_scm s;
	struct sck_scm_fd *fds;
};

struct sck_img_sysv {
	struct sck_sysv s;
	uint8_t *data;			/* s.data_len bytes */
};

struct sck_image {
	struct sck_preamble pre;
	struct sck_header hdr;
	struct sck_process proc;
	char *cwd;
	struct sck_rlimits rlim;
	struct sck_sigactions sig;
	struct sck_img_file *files;
	uint32_t nfiles;
	struct sck_img_vma *vmas;
	uint32_t nvmas;
	struct sck_fd *fds;
	uint32_t nfds;
	struct sck_img_obj *objs;	/* objs[i].o.id == i + 1 */
	uint32_t nobjs;
	struct sck_lock *locks;		/* in record order */
	uint32_t nlocks;
	struct sck_img_thread *threads;
	uint32_t nthreads;
	char **notes;
	uint32_t nnotes;
	/* POSIX_TIMER, SIGINFO and CLOCKS records (timers and signals). */
	struct sck_posix_timer *timers;
	uint32_t ntimers;
	struct sck_siginfo *sigs;
	uint32_t nsigs;
	struct sck_clocks clocks;
	int has_clocks;
	/* SCM records: messages carrying descriptors in flight, in order. */
	struct sck_img_scm *scms;
	uint32_t nscms;
	uint32_t nflight;		/* distinct flight numbers */
	struct sck_img_sysv *sysv;	/* SYSV records, in record order */
	uint32_t nsysv;
	struct sck_end_meta end;
	uint64_t data_off;		/* stream offset of the PAGES payload */
	uint64_t chain;			/* hdr_hash of the PAGES record */
	uint64_t nrecords;		/* records read, PAGES included */
	/* Filled by verify_data. */
	struct sck_commit commit;
	uint64_t *chunk_hash;
	uint64_t nchunks;
	uint64_t file_len;
	/* Set by selfckpt__image_read_meta_seen(), see there. */
	void (*seen)(void *arg, uint64_t off, const struct sck_rec *rec);
	void *seen_arg;
};

/*
 * Read and check everything up to the PAGES payload. Returns 0, or a
 * negative code with a one-line reason in err:
 *   -EIO        read error;
 *   -ENODATA    truncated;
 *   -EBADMSG    damaged (checksum, structure);
 *   -EPROTO     not a selfckpt image at all;
 *   -EPROTONOSUPPORT  another format version or architecture.
 */
int selfckpt__image_read_meta(int fd, struct sck_image *img, char *err,
			      size_t errlen);

/*
 * The same, and call seen(arg, offset, header) for every record whose
 * header passed its checksum, in stream order, before its payload is read
 * (so a record whose payload turns out damaged was seen); the PAGES record
 * is the last one read_meta sees, selfckpt__image_verify_data() calls it
 * for PAGE_HASHES and COMMIT. For `selfckpt info --records`; seen reads
 * nothing and cannot fail.
 */
int selfckpt__image_read_meta_seen(int fd, struct sck_image *img,
				   void (*seen)(void *arg, uint64_t off,
						const struct sck_rec *rec),
				   void *arg, char *err, size_t errlen);

/*
 * Read the PAGES payload (from the current position of fd, which must be
 * img->data_off), PAGE_HASHES and COMMIT, and check them all, and that
 * nothing follows. If sink is not NULL, it is called with every piece of
 * page data as it goes (in data order). Same returns as read_meta.
 */
int selfckpt__image_verify_data(int fd, struct sck_image *img,
				int (*sink)(void *arg, const void *p,
					    size_t n, uint64_t off),
				void *arg, char *err, size_t errlen);

void selfckpt__image_free(struct sck_image *img);

/* Names for messages and `selfckpt info`. */
const char *selfckpt__vma_kind_name(uint32_t kind);
const char *selfckpt__fd_kind_name(uint32_t kind);
const char *selfckpt__obj_kind_name(uint32_t kind);
const char *selfckpt__rec_type_name(uint32_t type);
const char *selfckpt__sysv_kind_name(uint32_t kind);

#endif
