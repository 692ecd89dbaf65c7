/*
 * cli.h: subcommands of the `chorus` program other than `lsp`. Each takes
 * the arguments after its name and returns the process exit code.
 */
#ifndef CHORUS_LSP_CLI_H
#define CHORUS_LSP_CLI_H

int ch_cli_index(int argc, char **argv);

#endif
