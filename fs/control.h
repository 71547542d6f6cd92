/*
 * control.h — the command language of /.control: whitespace-separated
 * words (space, tab, CR, LF), each one of the command names below.  Pure
 * code over bytes, so that it can be fuzzed (tests/fuzz/fuzz_control.c);
 * fs/vfiles.c runs what it parses.
 *
 * Decisions: a write is parsed whole before anything runs, so a write with
 * one unknown word runs nothing; an empty write (or only whitespace) is no
 * command at all and succeeds; a command may be repeated and runs as often
 * as it is named; at most HDB_CONTROL_MAX_WORDS commands per write.
 *
 * Thread safety: no state.
 */
#ifndef HDB_FS_CONTROL_H
#define HDB_FS_CONTROL_H

#include <stddef.h>

enum hdb_control_cmd {
	HDB_CONTROL_COMPACT,    /* flush the MemTable and compact every level */
	HDB_CONTROL_FLUSH,      /* flush the MemTable */
	HDB_CONTROL_SYNC,       /* make the WAL durable */
	HDB_CONTROL_CHECKPOINT, /* flush, then sync */
	HDB_CONTROL_NCMDS
};

/* A 4096-byte write holds at most 2048 one-letter words. */
#define HDB_CONTROL_MAX_WORDS 2048

/* The name of command c. */
const char *hdb_control_name(enum hdb_control_cmd c);

/* The commands the help text lists, one per line. */
extern const char hdb_control_help[];

/* Parses buf[0..n) into cmds (room for HDB_CONTROL_MAX_WORDS), *ncmds of
 * them.  -EINVAL for an unknown word (*bad, *badlen: where it is) or more
 * than HDB_CONTROL_MAX_WORDS words; then *ncmds is 0. */
int hdb_control_parse(const char *buf, size_t n, enum hdb_control_cmd *cmds, size_t *ncmds, size_t *bad,
                      size_t *badlen);

#endif
