#include "base/metrics.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "base/mem.h"

struct wr_metric {
  struct wr_metric *next;
  char *values[WR_METRICS_MAX_LABELS];
  double value;
};

struct wr_metric_family {
  struct wr_metric_family *next;
  wr_metrics *reg;
  wr_metric_type type;
  char *name;
  char *help;
  char *labels[WR_METRICS_MAX_LABELS];
  size_t nlabels;
  size_t nchildren;
  wr_metric *children; /* in creation order */
  wr_metric *overflow;
  const char *alias; /* a second name it is also rendered under (static) */
};

struct wr_metrics {
  wr_metric_family *families; /* in registration order */
  wr_metric *label_overflow;
};

static int valid_name(const char *s, size_t n, int allow_colon) {
  if (n == 0 || isdigit((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '_' && !(allow_colon && c == ':'))
      return 0;
  }
  return 1;
}

static char *strndup_wr(const char *s, size_t n) {
  char *d = wr_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* Splits a comma-separated list into at most max strdup'ed parts.
 * Returns the count, or -1 on a bad part or out of memory. */
static int split_list(const char *list, char **parts, size_t max, int check_names) {
  size_t n = 0;
  if (!list || !*list)
    return 0;
  for (const char *p = list;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (n == max || (check_names && !valid_name(p, len, 0)))
      goto fail;
    if (!(parts[n] = strndup_wr(p, len)))
      goto fail;
    n++;
    if (!comma)
      return (int)n;
    p = comma + 1;
  }
fail:
  while (n)
    wr_free(parts[--n]);
  return -1;
}

wr_metrics *wr_metrics_new(void) { return wr_calloc(1, sizeof(wr_metrics)); }

static void child_del(wr_metric *m, size_t nlabels) {
  for (size_t i = 0; i < nlabels; i++)
    wr_free(m->values[i]);
  wr_free(m);
}

void wr_metrics_del(wr_metrics *reg) {
  if (!reg)
    return;
  wr_metric_family *f = reg->families;
  while (f) {
    wr_metric_family *fn = f->next;
    for (wr_metric *m = f->children; m;) {
      wr_metric *mn = m->next;
      child_del(m, f->nlabels);
      m = mn;
    }
    if (f->overflow)
      child_del(f->overflow, f->nlabels);
    for (size_t i = 0; i < f->nlabels; i++)
      wr_free(f->labels[i]);
    wr_free(f->name);
    wr_free(f->help);
    wr_free(f);
    f = fn;
  }
  wr_free(reg);
}

wr_metric_family *wr_metrics_family(wr_metrics *reg, wr_metric_type type, const char *name,
                                    const char *help, const char *labels) {
  wr_metric_family **tail = &reg->families;
  for (wr_metric_family *f = reg->families; f; f = f->next) {
    if (strcmp(f->name, name) == 0)
      return f;
    tail = &f->next;
  }
  if (!valid_name(name, strlen(name), 1))
    return NULL;
  wr_metric_family *f = wr_calloc(1, sizeof *f);
  if (!f)
    return NULL;
  int n = split_list(labels, f->labels, WR_METRICS_MAX_LABELS, 1);
  f->name = wr_strdup(name);
  f->help = wr_strdup(help ? help : "");
  if (n < 0 || !f->name || !f->help) {
    for (int i = 0; i < n; i++)
      wr_free(f->labels[i]);
    wr_free(f->name);
    wr_free(f->help);
    wr_free(f);
    return NULL;
  }
  f->nlabels = (size_t)n;
  f->type = type;
  f->reg = reg;
  *tail = f;
  return f;
}

static wr_metric *new_child(wr_metric_family *f, const char *values) {
  wr_metric *m = wr_calloc(1, sizeof *m);
  if (!m)
    return NULL;
  int n = split_list(values, m->values, WR_METRICS_MAX_LABELS, 0);
  if (n != (int)f->nlabels) {
    /* A wrong number of values is a programming error; record it under
     * empty values rather than failing the update. */
    for (int i = 0; i < n; i++)
      wr_free(m->values[i]);
    for (size_t i = 0; i < f->nlabels; i++) {
      if (!(m->values[i] = wr_strdup(""))) {
        child_del(m, i);
        return NULL;
      }
    }
  }
  return m;
}

static int child_matches(const wr_metric_family *f, const wr_metric *m, const char *values) {
  const char *p = values ? values : "";
  for (size_t i = 0; i < f->nlabels; i++) {
    size_t len = strlen(m->values[i]);
    if (strncmp(p, m->values[i], len) != 0)
      return 0;
    p += len;
    if (i + 1 < f->nlabels) {
      if (*p != ',')
        return 0;
      p++;
    }
  }
  return *p == '\0';
}

wr_metric *wr_metric_child(wr_metric_family *f, const char *values) {
  if (!f)
    return NULL;
  wr_metric **tail = &f->children;
  for (wr_metric *m = f->children; m; m = m->next) {
    if (child_matches(f, m, values))
      return m;
    tail = &m->next;
  }
  if (f->nchildren >= WR_METRICS_MAX_CHILDREN) {
    wr_metrics *reg = f->reg;
    if (!reg->label_overflow)
      reg->label_overflow =
          wr_metrics_counter(reg, "warren_metrics_label_overflow_total",
                             "Metric updates folded into an _overflow child because a family "
                             "had too many label values.");
    wr_metric_inc(reg->label_overflow);
    if (!f->overflow) {
      char vals[WR_METRICS_MAX_LABELS * 10 + 1] = "";
      for (size_t i = 0; i < f->nlabels; i++)
        strcat(strcat(vals, i ? "," : ""), "_overflow");
      f->overflow = new_child(f, vals);
    }
    return f->overflow;
  }
  wr_metric *m = new_child(f, values);
  if (m) {
    *tail = m;
    f->nchildren++;
  }
  return m;
}

wr_metric *wr_metrics_counter(wr_metrics *reg, const char *name, const char *help) {
  return wr_metric_child(wr_metrics_family(reg, WR_METRIC_COUNTER, name, help, NULL), "");
}

wr_metric *wr_metrics_gauge(wr_metrics *reg, const char *name, const char *help) {
  return wr_metric_child(wr_metrics_family(reg, WR_METRIC_GAUGE, name, help, NULL), "");
}

void wr_metric_add(wr_metric *m, double v) {
  if (m)
    m->value += v;
}

void wr_metric_set(wr_metric *m, double v) {
  if (m)
    m->value = v;
}

double wr_metric_value(const wr_metric *m) { return m ? m->value : 0; }

/* Label values escape backslash, double quote and newline; help text escapes
 * backslash and newline (exposition format 0.0.4). */
static int put_escaped(wr_buf *out, const char *s, int quotes) {
  int rv = 0;
  for (; *s && !rv; s++) {
    if (*s == '\\')
      rv = wr_buf_puts(out, "\\\\");
    else if (*s == '\n')
      rv = wr_buf_puts(out, "\\n");
    else if (quotes && *s == '"')
      rv = wr_buf_puts(out, "\\\"");
    else
      rv = wr_buf_append(out, s, 1);
  }
  return rv;
}

static int render_child(const wr_metric_family *f, const char *name, const wr_metric *m,
                        wr_buf *out) {
  int rv = wr_buf_puts(out, name);
  for (size_t i = 0; i < f->nlabels && !rv; i++) {
    rv = wr_buf_printf(out, "%s%s=\"", i ? "," : "{", f->labels[i]);
    if (!rv)
      rv = put_escaped(out, m->values[i], 1);
    if (!rv)
      rv = wr_buf_puts(out, i + 1 == f->nlabels ? "\"}" : "\"");
  }
  if (rv)
    return rv;
  double v = m->value;
  if (isnan(v))
    return wr_buf_puts(out, " NaN\n");
  if (isinf(v))
    return wr_buf_puts(out, v > 0 ? " +Inf\n" : " -Inf\n");
  if (v == (double)(long long)v && fabs(v) < 1e15)
    return wr_buf_printf(out, " %lld\n", (long long)v);
  return wr_buf_printf(out, " %.17g\n", v);
}

/* One family under name: HELP, TYPE and each child. */
static int render_family(const wr_metric_family *f, const char *name, wr_buf *out) {
  int rv = wr_buf_printf(out, "# HELP %s ", name);
  if (!rv && name != f->name)
    rv = wr_buf_printf(out, "Same as %s: ", f->name);
  if (!rv)
    rv = put_escaped(out, f->help, 0);
  if (!rv)
    rv = wr_buf_printf(out, "\n# TYPE %s %s\n", name,
                       f->type == WR_METRIC_COUNTER ? "counter" : "gauge");
  for (const wr_metric *m = f->children; m && !rv; m = m->next)
    rv = render_child(f, name, m, out);
  if (!rv && f->overflow)
    rv = render_child(f, name, f->overflow, out);
  return rv;
}

int wr_metrics_alias(wr_metrics *reg, const char *name, const char *alias) {
  if (!valid_name(alias, strlen(alias), 1))
    return WR_ERR_INVAL;
  for (wr_metric_family *f = reg->families; f; f = f->next)
    if (strcmp(f->name, name) == 0) {
      f->alias = alias;
      return 0;
    }
  return WR_ERR_NOTFOUND;
}

int wr_metrics_render(const wr_metrics *reg, wr_buf *out) {
  int rv = 0;
  for (const wr_metric_family *f = reg->families; f && !rv; f = f->next) {
    rv = render_family(f, f->name, out);
    if (!rv && f->alias)
      rv = render_family(f, f->alias, out);
  }
  return rv;
}
