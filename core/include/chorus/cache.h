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

#define CH_CACHE_VERSION 3

/* The cache file for a repository root:
 * "$XDG_CACHE_HOME/chorus/index/<16 hex digits of ch_hash_bytes(root)>.idx",
 * or under "$HOME/.cache/" when XDG_CACHE_HOME is unset, empty or relative
 * (the XDG spec says to ignore a relative value). The root is hashed as
 * given, not normalised. Caller frees with ch_free. NULL when neither
 * variable gives a folder (or root is NULL). */
char *ch_cache_path(const char *root);

/* Appends one record's bytes (no framing, no checksum). A record that
 * ch_record_deserialize would refuse is refused here too, with
 * CH_ERR_INVALID and nothing appended, so whatever is written reads back;
 * CH_ERR_TOO_LARGE when out would pass its maximum. */
ch_status ch_record_serialize(const ch_record *record, ch_buf *out);
/* Rebuilds a record from exactly data[0..len), validating everything
 * (pool offsets inside the pool and at string starts, NUL-terminated pool,
 * containers < ndefs and without loops, kinds known, spans ordered and
 * inside the text, identifiers sorted and distinct, line starts ascending
 * from 0, token starts strictly ascending and inside the text, counts
 * checked against len before anything is allocated). The language is
 * looked up by its canonical name; an unknown one is an error. Rows are not checked against line_starts. Returns a record with
 * one reference (*error = CH_OK), or NULL and sets *error (CH_ERR_PARSE)
 * on anything wrong. */
ch_record *ch_record_deserialize(const char *data, size_t len,
                                 ch_status *error);

/* Writes the records for root to path atomically: a temporary file
 * "<path>.tmp.<pid>.<random>" (mode 0600), fsync, rename, fsync of the
 * folder. Missing folders are created with mode 0700. A record that would
 * not read back (see ch_record_serialize) is left out with a warning, so
 * its file is parsed again next time. CH_ERR_INVALID for a NULL argument
 * or a NULL record; CH_ERR_IO (logged) when a write or rename fails, and
 * then no temporary file remains. */
ch_status ch_cache_save(const char *path, const char *root,
                        ch_record *const *records, size_t count);
/* Loads the records saved for root. On success *records is a new array the
 * caller frees with ch_free, holding one reference per record. Errors:
 * CH_ERR_NOT_FOUND (no cache), CH_ERR_STATE (not a cache file, or another
 * version, build or root), CH_ERR_PARSE (corrupt, truncated or empty),
 * CH_ERR_IO (unreadable, or not a regular file), CH_ERR_TOO_LARGE (over
 * 4 GiB), CH_ERR_INVALID (a NULL argument). All or nothing: on any error
 * *records is NULL and *count 0. */
ch_status ch_cache_load(const char *path, const char *root,
                        ch_record ***records, size_t *count);

#endif
