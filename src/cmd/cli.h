/* cli.h: shared helpers for the command-line front end.
 *
 * Every command parses its flags with wr_cli_getopt, which turns getopt's
 * complaints into one clear sentence and exit status 2. */
#ifndef WR_CMD_CLI_H
#define WR_CMD_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "io/addr.h"

/* A top-level command: "warren NAME ...". argv[0] is the command name. */
typedef struct wr_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} wr_command;

/* One subcommand of a command with several (`warren block get`). */
typedef struct wr_subcommand {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} wr_subcommand;

/* Runs the subcommand named by argv[1] from table. No subcommand prints usage
 * to stderr and returns 2; -h, --help or help prints it to stdout and
 * returns 0; an unknown name is a usage error that lists the known ones. */
int wr_cli_dispatch(const char *cmd, int argc, char **argv, const wr_subcommand *table,
                    size_t n, void (*usage)(FILE *f));

/* Prints "warren: <message>" and a hint to run `warren CMD --help`, exits 2. */
_Noreturn void wr_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "warren: <message>" to stderr (for failures that are not usage errors). */
void wr_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt_long with argument permutation; unknown flags and missing values end
 * in wr_cli_usage_error. Returns the option's val, or -1 at the end. */
int wr_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *longopts);

/* For a command whose only flag is -h/--help: parses argv from optind = 1
 * (unknown flags end in wr_cli_usage_error), prints help to stdout and
 * returns 1 when asked, else 0 with optind at the first operand. */
int wr_cli_help_only(const char *cmd, int argc, char **argv, const char *help);

/* Parses a decimal integer in [min, max] given to flag; exits 2 otherwise. */
uint64_t wr_cli_parse_uint(const char *cmd, const char *flag, const char *value, uint64_t min,
                           uint64_t max);

/* Parses a size such as 8388608, 8M, 8MiB or 512k; exits 2 otherwise. */
uint64_t wr_cli_parse_size(const char *cmd, const char *flag, const char *value);

/* A local address to listen on: numeric "ADDR:PORT" as wr_addr_parse, or
 * "NAME:PORT" resolved once now ("localhost:2000", as cloudflared's metrics
 * address; the first IPv4 address the name has, else its first address).
 * Returns 0, or -1 with a sentence in err. */
int wr_cli_listen_addr(const char *s, wr_addr *out, char *err, size_t errlen);

/* Writes bytes for people: "512 B", "1.5 MiB", "2.2 GiB". */
void wr_cli_human_bytes(char *out, size_t n, uint64_t bytes);

/* Parses "true"/"false" (also 1/0, yes/no); exits 2 otherwise. */
int wr_cli_parse_bool(const char *cmd, const char *flag, const char *value);

/* Tunnel connection timing (edge and connector): exits 2 unless keepalive_ms
 * (0: default) is shorter than idle_ms (0: the 30 s default), or the
 * connection would close between keep-alive PINGs. */
void wr_cli_check_keepalive(const char *cmd, uint64_t idle_ms, uint64_t keepalive_ms);

/* Longest certificate or key path wr_cli_self_signed writes, with its NUL. */
#define WR_CLI_PATH_MAX 4096

/* For --self-signed DIR: makes sure DIR holds a certificate and its key
 * (wr_tls_self_signed_ensure creates a pair when either is missing; then
 * *pcreated is 1) and writes their paths into cert and key
 * (WR_CLI_PATH_MAX bytes each). Returns 0, or the error with its sentence
 * in err. */
int wr_cli_self_signed(const char *dir, char *cert, char *key, int *pcreated, char *err,
                       size_t errlen);

#endif
