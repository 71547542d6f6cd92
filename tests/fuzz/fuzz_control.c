/*
 * fuzz_control.c — libFuzzer target for the /.control command parser
 * (fs/control.c): any bytes, never a crash or a read out of bounds, and
 * the answer agrees with a plain re-reading of the input: every command
 * returned is a valid one whose name is the next word of the input, and a
 * refusal points at a word that names no command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static enum hdb_control_cmd cmds[HDB_CONTROL_MAX_WORDS];
	const char *buf = (const char *)data;
	size_t n, bad, badlen;
	int rc = hdb_control_parse(buf, size, cmds, &n, &bad, &badlen);
	if (rc) {
		/* The refused word is a whole word of the input ... */
		if (n != 0 || badlen == 0 || bad + badlen > size || (bad > 0 && !space(buf[bad - 1])) ||
		    (bad + badlen < size && !space(buf[bad + badlen])))
			abort();
		int known = 0;
		for (int c = 0; c < HDB_CONTROL_NCMDS; c++)
			known |= strlen(hdb_control_name(c)) == badlen && !memcmp(hdb_control_name(c), buf + bad, badlen);
		if (!known)
			return 0;
		/* ... that names no command, or comes after the most a write may hold. */
		size_t words = 0;
		for (size_t i = 0; i < bad; i++)
			words += !space(buf[i]) && (i == 0 || space(buf[i - 1]));
		if (words < HDB_CONTROL_MAX_WORDS)
			abort();
		return 0;
	}
	size_t i = 0;
	for (size_t k = 0; k < n; k++) {
		if ((unsigned)cmds[k] >= HDB_CONTROL_NCMDS)
			abort();
		while (i < size && space(buf[i]))
			i++;
		const char *name = hdb_control_name(cmds[k]);
		size_t len = strlen(name);
		if (i + len > size || memcmp(buf + i, name, len) || (i + len < size && !space(buf[i + len])))
			abort();
		i += len;
	}
	while (i < size && space(buf[i]))
		i++;
	if (i != size)
		abort(); /* a word was left out */
	return 0;
}
