#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static wr_log_level min_level = WR_LOG_INFO;
static int as_json;
static FILE *out_stream;

/* --logfile: lines may come from worker threads, and rotation swaps the
 * stream, so writes to the file and its rotation share one lock. */
static struct {
  char path[4096];
  unsigned long long max_bytes;
  unsigned backups;
  FILE *f;
  pthread_mutex_t lock;
} logfile = {.lock = PTHREAD_MUTEX_INITIALIZER};
static volatile sig_atomic_t reopen_wanted;

int wr_log_level_parse(const char *s, wr_log_level *plevel) {
  static const struct { const char *name; wr_log_level level; } names[] = {
      {"debug", WR_LOG_DEBUG}, {"info", WR_LOG_INFO},   {"warn", WR_LOG_WARN},
      {"warning", WR_LOG_WARN}, {"error", WR_LOG_ERROR}, {"err", WR_LOG_ERROR},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(s, names[i].name) == 0) {
      *plevel = names[i].level;
      return 0;
    }
  }
  return -2; /* WR_ERR_INVAL, without pulling err.h into every logger user */
}

void wr_log_set_level(wr_log_level level) { min_level = level; }
wr_log_level wr_log_get_level(void) { return min_level; }
void wr_log_set_json(int on) { as_json = on; }
void wr_log_set_stream(FILE *f) { out_stream = f; }

static FILE *open_logfile(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return NULL;
  FILE *f = fdopen(fd, "a");
  if (!f) {
    close(fd);
    return NULL;
  }
  setvbuf(f, NULL, _IOLBF, 0); /* a line lands as it is written */
  return f;
}

static void on_sigusr1(int sig) {
  (void)sig;
  reopen_wanted = 1;
}

int wr_log_set_file(const char *path, unsigned long long max_bytes, unsigned backups, char *err,
                    size_t errlen) {
  if (strlen(path) + 16 > sizeof logfile.path) {
    snprintf(err, errlen, "the log file's path is too long");
    return -1;
  }
  FILE *f = open_logfile(path);
  if (!f) {
    snprintf(err, errlen, "cannot open %s for appending: %s", path, strerror(errno));
    return -1;
  }
  pthread_mutex_lock(&logfile.lock);
  if (logfile.f)
    fclose(logfile.f);
  snprintf(logfile.path, sizeof logfile.path, "%s", path);
  logfile.f = f;
  logfile.max_bytes = max_bytes;
  logfile.backups = backups;
  pthread_mutex_unlock(&logfile.lock);
  struct sigaction sa = {.sa_handler = on_sigusr1, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  return 0;
}

/* Shifts path.N-1 to path.N ... path to path.1 and starts a new path. A
 * failure leaves lines going to the old stream (a full disk must not stop
 * the program), retried at the next line. */
static void rotate(void) {
  char from[sizeof logfile.path + 16], to[sizeof logfile.path + 16];
  if (logfile.backups == 0) {
    unlink(logfile.path);
  } else {
    for (unsigned i = logfile.backups; i > 1; i--) {
      snprintf(from, sizeof from, "%s.%u", logfile.path, i - 1);
      snprintf(to, sizeof to, "%s.%u", logfile.path, i);
      rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", logfile.path);
    rename(logfile.path, to);
  }
  reopen_wanted = 1;
}

/* The stream for the next line, reopening the file when asked. Called with
 * logfile.lock held. */
static FILE *file_stream(void) {
  if (reopen_wanted) {
    FILE *f = open_logfile(logfile.path);
    if (f) {
      reopen_wanted = 0;
      fclose(logfile.f);
      logfile.f = f;
    }
  }
  return logfile.f;
}

static void json_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* Length of a field key at s ("[A-Za-z0-9_.-]+="), or 0 if s does not start one. */
static size_t key_len(const char *s) {
  size_t n = 0;
  while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.' || s[n] == '-')
    n++;
  return n > 0 && s[n] == '=' ? n : 0;
}

/* 1 when v[0..n) is a JSON number a reader gets back exactly: an integer or
 * a decimal, no leading zeros, at most 15 significant digits (a double's
 * exact range), so ids such as 0123 or long hex-free serials stay strings. */
static int is_number(const char *v, size_t n) {
  size_t i = v[0] == '-' ? 1 : 0, digits = 0;
  if (i >= n || !isdigit((unsigned char)v[i]) || (v[i] == '0' && i + 1 < n && v[i + 1] != '.'))
    return 0;
  for (; i < n && isdigit((unsigned char)v[i]); i++)
    digits++;
  if (i < n && v[i] == '.') {
    if (++i >= n)
      return 0;
    for (; i < n && isdigit((unsigned char)v[i]); i++)
      digits++;
  }
  return i == n && digits <= 15;
}

/* A field's value: numbers bare, a console-quoted value ("...") as the
 * string inside the quotes, anything else as a string. */
static void json_value(FILE *f, const char *v, size_t n) {
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
    json_string(f, v + 1, n - 2);
  else if (n > 0 && is_number(v, n))
    fwrite(v, 1, n, f);
  else
    json_string(f, v, n);
}

/* Writes "k=v k=v" as ,"k":v pairs. A value runs until the next " key=". */
static void json_fields(FILE *f, const char *s) {
  while (*s) {
    while (*s == ' ')
      s++;
    size_t kl = key_len(s);
    if (!kl)
      break;
    const char *v = s + kl + 1, *e = v;
    while (*e && !(*e == ' ' && key_len(e + 1)))
      e++;
    fputc(',', f);
    json_string(f, s, kl);
    fputc(':', f);
    json_value(f, v, (size_t)(e - v));
    s = e;
  }
}

void wr_log(wr_log_level level, const char *msg, const char *fields_fmt, ...) {
  static const char *const console_names[] = {"DBG", "INF", "WRN", "ERR"};
  static const char *const json_names[] = {"debug", "info", "warn", "error"};
  if (level < min_level)
    return;
  char fields[2048] = "";
  if (fields_fmt && *fields_fmt) {
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof fields, fields_fmt, ap);
    va_end(ap);
  }
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);

  pthread_mutex_lock(&logfile.lock);
  FILE *f = logfile.f ? file_stream() : out_stream ? out_stream : stderr;
  flockfile(f);
  if (as_json) {
    fprintf(f, "{\"level\":\"%s\",\"time\":\"%s\",\"message\":", json_names[level], ts);
    json_string(f, msg, strlen(msg));
    json_fields(f, fields);
    fputs("}\n", f);
  } else {
    fprintf(f, "%s %s %s%s%s\n", ts, console_names[level], msg, *fields ? " " : "", fields);
  }
  funlockfile(f);
  fflush(f);
  struct stat st;
  if (logfile.f && logfile.max_bytes && fstat(fileno(f), &st) == 0 &&
      (unsigned long long)st.st_size >= logfile.max_bytes)
    rotate();
  pthread_mutex_unlock(&logfile.lock);
}
