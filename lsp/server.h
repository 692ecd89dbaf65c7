/*
 * server.h: the language server: lifecycle, dispatch, documents, logging.
 *
 * ch_server_run reads JSON-RPC from in_fd and writes to out_fd on the
 * calling thread, which becomes the loop thread (chorus/loop.h). It returns
 * the process exit code: 0 after shutdown + exit, 1 when the client exits
 * without shutdown or the input ends first, 2 on a start-up error.
 *
 * Messages are handled in batches: everything one read brought is parsed
 * first, then $/cancelRequest notifications mark the requests they name in
 * the batch, then the batch is dispatched in order. A cancelled request is
 * answered RequestCancelled (-32800).
 */
#ifndef CHORUS_LSP_SERVER_H
#define CHORUS_LSP_SERVER_H

#include "chorus/util.h"

#define CH_SERVER_DEFAULT_MAX_MESSAGE (64u << 20)

typedef struct ch_server_options {
  int in_fd;
  int out_fd;
  size_t max_message_bytes; /* 0: CH_SERVER_DEFAULT_MAX_MESSAGE */
  bool has_log_level;       /* --log-level given: it wins over config */
  ch_log_level log_level;
  const char *config_path; /* NULL: the default path; borrowed */
} ch_server_options;

int ch_server_run(const ch_server_options *options);

#endif
