/* log.h: logging in cloudflared's console style.
 *
 *   2026-11-22T10:00:00Z INF Registered tunnel connection connIndex=0 protocol=quic
 *
 * or, with wr_log_set_json(1), one JSON object per line:
 *
 *   {"level":"info","time":"2026-11-22T10:00:00Z","message":"...","connIndex":"0"}
 *
 * Fields are written as a printf format of "key=value" pairs separated by
 * single spaces; a value may contain spaces but not the text " key=". */
#ifndef WR_BASE_LOG_H
#define WR_BASE_LOG_H

#include <stdio.h>

typedef enum wr_log_level {
  WR_LOG_DEBUG = 0,
  WR_LOG_INFO = 1,
  WR_LOG_WARN = 2,
  WR_LOG_ERROR = 3,
} wr_log_level;

/* Parses "debug", "info", "warn" or "error" (also "warning", "err").
 * Returns 0 and sets *plevel, or WR_ERR_INVAL. */
int wr_log_level_parse(const char *s, wr_log_level *plevel);
void wr_log_set_level(wr_log_level level);
wr_log_level wr_log_get_level(void);
void wr_log_set_json(int on);
/* Where log lines go (default stderr). */
void wr_log_set_stream(FILE *f);

/* Sends log lines to the file path instead (appended, created 0640).
 * Rotation: when a line takes the file past max_bytes (0: never), it is
 * renamed path.1 (path.1 to path.2, and so on; path.<backups> is dropped) and
 * a new path is started. SIGUSR1 makes the next line reopen path, for an
 * outside logrotate that renamed it (nginx's convention; SIGHUP is the edge's
 * reload). Returns 0, or -1 with a sentence in err (errlen bytes). */
int wr_log_set_file(const char *path, unsigned long long max_bytes, unsigned backups, char *err,
                    size_t errlen);

void wr_log(wr_log_level level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define wr_log_enabled(level) ((level) >= wr_log_get_level())
#define WR_DEBUG(msg, ...) \
  do { if (wr_log_enabled(WR_LOG_DEBUG)) wr_log(WR_LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define WR_INFO(msg, ...) wr_log(WR_LOG_INFO, msg, __VA_ARGS__)
#define WR_WARN(msg, ...) wr_log(WR_LOG_WARN, msg, __VA_ARGS__)
#define WR_ERROR(msg, ...) wr_log(WR_LOG_ERROR, msg, __VA_ARGS__)

#endif
