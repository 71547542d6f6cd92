/*
 * errors.h — engine error detail, per thread.
 */
#ifndef HDB_ERRORS_H
#define HDB_ERRORS_H

#include <stdint.h>

/* Records the detail hdb_errdetail() returns in this thread. */
void hdb_set_errdetail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records "<file> offset <off>: <what>" and returns HDB_ECORRUPT. */
int hdb_corrupt(const char *file, uint64_t offset, const char *what);

/* The file and offset of the last hdb_corrupt() in this thread ("" and 0
 * when none), for callers that report them separately. */
void hdb_errdetail_where(const char **file, uint64_t *offset);
void hdb_errdetail_clear(void);

#endif
