/*
 * control.c — parsing /.control writes (see control.h).
 */
#include "control.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char *const names[HDB_CONTROL_NCMDS] = {
	[HDB_CONTROL_COMPACT] = "compact",
	[HDB_CONTROL_FLUSH] = "flush",
	[HDB_CONTROL_SYNC] = "sync",
	[HDB_CONTROL_CHECKPOINT] = "checkpoint",
};

const char hdb_control_help[] = "compact\nflush\nsync\ncheckpoint\n";

const char *hdb_control_name(enum hdb_control_cmd c)
{
	return (unsigned)c < HDB_CONTROL_NCMDS ? names[c] : "?";
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int find(const char *w, size_t len)
{
	for (int c = 0; c < HDB_CONTROL_NCMDS; c++)
		if (strlen(names[c]) == len && !memcmp(names[c], w, len))
			return c;
	return -1;
}

int hdb_control_parse(const char *buf, size_t n, enum hdb_control_cmd *cmds, size_t *ncmds, size_t *bad,
                      size_t *badlen)
{
	size_t i = 0, k = 0;
	*ncmds = 0;
	*bad = *badlen = 0;
	while (i < n) {
		while (i < n && is_space(buf[i]))
			i++;
		size_t start = i;
		while (i < n && !is_space(buf[i]))
			i++;
		if (i == start)
			continue;
		int c = find(buf + start, i - start);
		if (c < 0 || k == HDB_CONTROL_MAX_WORDS) {
			*bad = start;
			*badlen = i - start;
			return -EINVAL;
		}
		cmds[k++] = (enum hdb_control_cmd)c;
	}
	*ncmds = k;
	return 0;
}
