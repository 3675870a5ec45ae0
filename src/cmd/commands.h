/* commands.h: every top-level command's entry point. Each lives in its own
 * src/cmd/<name>.c and is listed in the table in main.c. */
#ifndef WR_CMD_COMMANDS_H
#define WR_CMD_COMMANDS_H

int wr_cmd_init(int argc, char **argv);
int wr_cmd_id(int argc, char **argv);
int wr_cmd_diag(int argc, char **argv);
/* `warren diag quic`, reached through wr_cmd_diag (src/cmd/diag_quic.c). */
int wr_cmd_diag_quic(int argc, char **argv);
/* `warren diag p2p` (src/cmd/diag_p2p.c). */
int wr_cmd_diag_p2p(int argc, char **argv);
/* `warren diag dht` (src/cmd/diag_dht.c). */
int wr_cmd_diag_dht(int argc, char **argv);
/* `warren routing ...` (src/cmd/routing.c). */
int wr_cmd_routing(int argc, char **argv);
int wr_cmd_block(int argc, char **argv);
int wr_cmd_pin(int argc, char **argv);
int wr_cmd_gc(int argc, char **argv);
int wr_cmd_repo(int argc, char **argv);
int wr_cmd_dag(int argc, char **argv);
int wr_cmd_add(int argc, char **argv);
/* Adds path (a file or a folder, recursively, hidden files left out as `add
 * -r`) and pins its root, through the daemon when one runs, printing
 * nothing but a failure; root gets the root's CID text (cid_version 0 or 1,
 * -1 for the default). Returns the exit status (src/cmd/add.c). */
int wr_cmd_add_snapshot(const char *path, int cid_version, char root[]);
int wr_cmd_publish(int argc, char **argv);
int wr_cmd_cat(int argc, char **argv);
int wr_cmd_get(int argc, char **argv);
int wr_cmd_ls(int argc, char **argv);
int wr_cmd_edge(int argc, char **argv);
int wr_cmd_tunnel(int argc, char **argv);
int wr_cmd_service(int argc, char **argv);
int wr_cmd_swarm(int argc, char **argv);
int wr_cmd_ping(int argc, char **argv);
int wr_cmd_daemon(int argc, char **argv);
int wr_cmd_resolve(int argc, char **argv);
int wr_cmd_key(int argc, char **argv);
int wr_cmd_name(int argc, char **argv);

/* `warren tunnel [FLAGS] run [FLAGS] [NAME]` (src/cmd/tunnel_run.c); argv[0] is
 * "tunnel", and "run" is among the words that are not flags. */
int wr_cmd_tunnel_run(int argc, char **argv);
/* `warren tunnel [FLAGS] cleanup [FLAGS] [NAME]` (src/cmd/tunnel_run.c: it
 * dials the edges as the connector does). */
int wr_cmd_tunnel_cleanup(int argc, char **argv);

#endif
