/*
 * elf.c - the ELF build-id of a file, and the vDSO's symbol table.
 *
 * The build-id tells restart that a mapped library is the very build the
 * image was made with, even on another machine (P24). The vDSO symbols let
 * restart check that the entry points libc cached at start-up are at the
 * same offsets in this kernel's vDSO (P5).
 *
 * Async-signal-safe: pread and plain memory reads; every offset read from a
 * file is checked against the bytes actually read.
 */
#include <elf.h>
#include <string.h>

#include "internal.h"
#include "nolibc/str.h"
#include "sys.h"

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	return sys_pread(fd, buf, n, (int64_t)off) == (long)n ? 0 : -1;
}

/* Find NT_GNU_BUILD_ID in a PT_NOTE segment of an ELF64 file. */
int selfckpt__elf_build_id(int fd, uint8_t *out, uint32_t cap)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t notes[1024];

	if (read_at(fd, &eh, sizeof(eh), 0) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256)
		return 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (read_at(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)))
			return 0;
		if (ph.p_type != PT_NOTE)
			continue;
		size_t len = ph.p_filesz < sizeof(notes) ? ph.p_filesz
							 : sizeof(notes);

		if (read_at(fd, notes, len, ph.p_offset))
			continue;
		for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= len;) {
			Elf64_Nhdr nh;

			memcpy(&nh, notes + off, sizeof(nh));
			size_t name = off + sizeof(nh);
			size_t desc = name + ((nh.n_namesz + 3) & ~3u);
			size_t next = desc + ((nh.n_descsz + 3) & ~3u);

			if (next > len || next <= off)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(notes + name, "GNU", 4) == 0 &&
			    nh.n_descsz > 0 && nh.n_descsz <= cap) {
				memcpy(out, notes + desc, nh.n_descsz);
				return (int)nh.n_descsz;
			}
			off = next;
		}
	}
	return 0;
}

int selfckpt__vdso_symbols(const void *base, size_t len,
			   uint64_t off[SCK_VDSO_NSYMS])
{
	static const char *const names[SCK_VDSO_NSYMS] = {
		"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
		"__vdso_getcpu", "__vdso_clock_getres",
	};
	const uint8_t *b = base;
	const Elf64_Ehdr *eh = base;
	uint64_t load = 0;

	for (int i = 0; i < SCK_VDSO_NSYMS; i++)
		off[i] = 0;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_shoff > len || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shnum > (len - eh->e_shoff) / sizeof(Elf64_Shdr) ||
	    eh->e_phoff > len || eh->e_phnum > (len - eh->e_phoff) / sizeof(Elf64_Phdr))
		return -1;
	const Elf64_Phdr *ph = (const void *)(b + eh->e_phoff);

	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			load = ph[i].p_vaddr - ph[i].p_offset;
			break;
		}
	const Elf64_Shdr *sh = (const void *)(b + eh->e_shoff);

	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *str = &sh[sh[i].sh_link];

		if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset ||
		    str->sh_offset > len || str->sh_size > len - str->sh_offset)
			return -1;
		const Elf64_Sym *sym = (const void *)(b + sh[i].sh_offset);
		size_t n = sh[i].sh_size / sizeof(*sym);
		const char *strtab = (const char *)b + str->sh_offset;

		for (size_t k = 0; k < n; k++) {
			if (sym[k].st_name >= str->sh_size)
				continue;
			const char *nm = strtab + sym[k].st_name;

			if (memchr(nm, '\0', str->sh_size - sym[k].st_name) == NULL)
				continue;
			for (int s = 0; s < SCK_VDSO_NSYMS; s++)
				if (!strcmp(nm, names[s]))
					off[s] = sym[k].st_value - load;
		}
	}
	return 0;
}
