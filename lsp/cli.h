/*
 * cli.h: subcommands of the `chorus` program other than `lsp`. Each takes
 * the arguments after its name and returns the process exit code.
 */
#ifndef CHORUS_LSP_CLI_H
#define CHORUS_LSP_CLI_H

int ch_cli_index(int argc, char **argv);
int ch_cli_complete(int argc, char **argv);
int ch_cli_doctor(int argc, char **argv);
int ch_cli_context(int argc, char **argv);
int ch_cli_eval(int argc, char **argv);

#endif
