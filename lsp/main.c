/* main.c: the `chorus` command line. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>
#include <unistd.h>

#include "chorus/syntax.h"
#include "chorus/util.h"
#include "chorus_build.h"
#include "cli.h"
#include "server.h"

static const char usage[] =
    "usage: chorus <command> [options]\n"
    "\n"
    "chorus is a language server that completes and edits code with language\n"
    "models, using context from the whole repository.\n"
    "\n"
    "commands:\n"
    "  lsp          serve the Language Server Protocol on stdin/stdout\n"
    "               (also: chorus --stdio)\n"
    "  index        index a folder as the server does and print statistics;\n"
    "               --find NAME lists where NAME is defined\n"
    "  complete     one completion at FILE:LINE:COL from a configured model\n"
    "  doctor       check the config and every model's endpoint\n"
    "  context      print the context built for FILE:LINE:COL, with reasons,\n"
    "               tokens and redactions\n"
    "  eval context measure definition recall of the context on holes\n"
    "               sampled from a repository, against two baselines\n"
    "  version      print versions of chorus and its libraries (--version)\n"
    "  help         print this help (--help)\n"
    "\n"
    "options for lsp:\n"
    "  --log-level LEVEL        error, warn, info (default), debug, trace\n"
    "  --max-message-bytes N    refuse JSON-RPC messages larger than N bytes\n"
    "                           (default 67108864)\n"
    "  --config FILE            read settings from FILE instead of\n"
    "                           $XDG_CONFIG_HOME/chorus/config.json\n";

static void print_version(void) {
  curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
  printf("chorus %s\n", CHORUS_VERSION);
  printf("tree-sitter: language ABI %d (reads %d-%d)\n",
         TREE_SITTER_LANGUAGE_VERSION,
         TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
         TREE_SITTER_LANGUAGE_VERSION);
  printf("libcurl: %s (%s)\n", curl->version,
         curl->ssl_version ? curl->ssl_version : "no TLS");
  printf("cJSON: %s\n", cJSON_Version());
  char *grammars = ch_syntax_versions();
  printf("%s\n", grammars);
  ch_free(grammars);
}

/* Parses a non-negative decimal size. */
static bool parse_size(const char *s, size_t *out) {
  if(!s || !*s) return false;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if(errno || *end || s[0] == '-' || v == 0) return false;
  *out = (size_t)v;
  return true;
}

static int run_lsp(int argc, char **argv) {
  ch_server_options options = {0};
  options.in_fd = STDIN_FILENO;
  options.out_fd = STDOUT_FILENO;
  for(int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if(strcmp(arg, "--stdio") == 0) {
      continue;
    } else if(strcmp(arg, "--log-level") == 0) {
      if(ch_log_level_parse(value, &options.log_level)) {
        fprintf(stderr, "chorus: --log-level: expected error, warn, info, "
                        "debug or trace\n");
        return 2;
      }
      options.has_log_level = true;
      i++;
    } else if(strcmp(arg, "--max-message-bytes") == 0) {
      if(!parse_size(value, &options.max_message_bytes)) {
        fprintf(stderr, "chorus: --max-message-bytes: expected a positive "
                        "number of bytes\n");
        return 2;
      }
      i++;
    } else if(strcmp(arg, "--config") == 0) {
      if(!value) {
        fprintf(stderr, "chorus: --config: expected a file name\n");
        return 2;
      }
      options.config_path = value;
      i++;
    } else if(strncmp(arg, "--clientProcessId", 17) == 0) {
      /* VS Code appends this; chorus exits when stdin closes anyway. */
      if(!strchr(arg, '=')) i++;
    } else {
      fprintf(stderr, "chorus: lsp: unknown option '%s' (see chorus --help)\n",
              arg);
      return 2;
    }
  }
  return ch_server_run(&options);
}

int main(int argc, char **argv) {
  if(argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if(strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
     strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if(strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    print_version();
    return 0;
  }
  if(curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "chorus: cannot initialise libcurl\n");
    return 2;
  }
  /* A fixed mmap threshold: glibc otherwise raises it after the first large
   * free, and the buffers of one big message (a didOpen of a large file)
   * would then stay resident for the life of the server. */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  int code;
  if(strcmp(cmd, "lsp") == 0)
    code = run_lsp(argc - 2, argv + 2);
  else if(strcmp(cmd, "index") == 0)
    code = ch_cli_index(argc - 2, argv + 2);
  else if(strcmp(cmd, "complete") == 0)
    code = ch_cli_complete(argc - 2, argv + 2);
  else if(strcmp(cmd, "doctor") == 0)
    code = ch_cli_doctor(argc - 2, argv + 2);
  else if(strcmp(cmd, "context") == 0)
    code = ch_cli_context(argc - 2, argv + 2);
  else if(strcmp(cmd, "eval") == 0)
    code = ch_cli_eval(argc - 2, argv + 2);
  else if(strcmp(cmd, "--stdio") == 0)
    code = run_lsp(argc - 1, argv + 1);
  else {
    fprintf(stderr, "chorus: unknown command '%s' (see chorus --help)\n", cmd);
    code = 2;
  }
  curl_global_cleanup();
  return code;
}
