/*
 * chorus/cache.h: the index on disk, so a restart reparses only what
 * changed.
 *
 * One file per repository under the user's cache directory
 * ($XDG_CACHE_HOME/chorus/index/, else ~/.cache/chorus/index/), named by a
 * hash of the repository root. It holds records (chorus/index.h) with the
 * size, mtime and content hash of the file they came from. The file
 * starts with a magic number, a format version and the root path, and
 * every record is checksummed: a truncated, corrupt, foreign or older cache
 * is ignored (CH_ERR_PARSE or CH_ERR_STATE), never trusted, never a crash.
 * Loading validates every offset and count in a record against its
 * bounds before anything reads through it.
 *
 * Writes are atomic: a temporary file in the same directory, fsync,
 * rename.
 *
 * Threads: functions are reentrant; two processes writing the same cache
 * leave one complete file.
 */
#ifndef CHORUS_CACHE_H
#define CHORUS_CACHE_H

#include "chorus/index.h"

#define CH_CACHE_VERSION 1

/* The cache file for a repository root; caller frees with ch_free. NULL when
 * neither XDG_CACHE_HOME nor HOME is set. */
char *ch_cache_path(const char *root);

/* Appends one record's bytes (no framing, no checksum). */
ch_status ch_record_serialize(const ch_record *record, ch_buf *out);
/* Rebuilds a record from exactly data[0..len), validating everything
 * (pool offsets inside the pool and at string starts, NUL-terminated pool,
 * containers < ndefs, spans ordered, counts within len). The language is
 * looked up by name; an unknown one is an error. Returns NULL and sets
 * *error (CH_ERR_PARSE) on anything wrong. */
ch_record *ch_record_deserialize(const char *data, size_t len,
                                 ch_status *error);

/* Writes the records for root to path atomically. */
ch_status ch_cache_save(const char *path, const char *root,
                        ch_record *const *records, size_t count);
/* Loads the records saved for root. On success *records is a new array the
 * caller frees with ch_free, holding one reference per record. Errors:
 * CH_ERR_NOT_FOUND (no cache), CH_ERR_STATE (another version or root),
 * CH_ERR_PARSE (corrupt or truncated: nothing is returned), CH_ERR_IO. */
ch_status ch_cache_load(const char *path, const char *root,
                        ch_record ***records, size_t *count);

#endif
