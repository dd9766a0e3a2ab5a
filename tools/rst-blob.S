/*
 * rst-blob.S - the restorer blob (build/rst.bin) embedded in selfckpt.
 * restore.c copies selfckpt__rst_blob..selfckpt__rst_blob_end into the hole.
 */
	.section .rodata
	.balign	4096
	.globl	selfckpt__rst_blob
	.hidden	selfckpt__rst_blob
selfckpt__rst_blob:
	.incbin	RST_BIN
	.globl	selfckpt__rst_blob_end
	.hidden	selfckpt__rst_blob_end
selfckpt__rst_blob_end:

	.section .note.GNU-stack,"",@progbits
