/* metrics.h: a small Prometheus metrics registry and its text exposition.
 *
 * A family has a name, help text, a type and up to WR_METRICS_MAX_LABELS label
 * names; each distinct tuple of label values is a child holding one value.
 * Children are created on first use and never freed until the registry is,
 * so a pointer to a child may be cached by the code that updates it.
 * Not thread-safe: each event loop updates its own figures. */
#ifndef WR_BASE_METRICS_H
#define WR_BASE_METRICS_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_METRICS_MAX_LABELS 4
/* At most this many children per family; past it, updates go to one child with
 * every label set to "_overflow" and warren_metrics_label_overflow_total grows. */
#define WR_METRICS_MAX_CHILDREN 256

typedef enum wr_metric_type { WR_METRIC_COUNTER, WR_METRIC_GAUGE } wr_metric_type;

typedef struct wr_metrics wr_metrics;
typedef struct wr_metric_family wr_metric_family;
typedef struct wr_metric wr_metric;

/* Creates an empty registry; NULL when out of memory. */
wr_metrics *wr_metrics_new(void);
/* Frees the registry with every family and child in it. */
void wr_metrics_del(wr_metrics *reg);

/* Registers a family. labels is a comma-separated list of label names ("" or
 * NULL for none). Registering the same name twice returns the first family.
 * NULL when out of memory or when the name or labels are not valid
 * Prometheus names. The strings are copied. */
wr_metric_family *wr_metrics_family(wr_metrics *reg, wr_metric_type type, const char *name,
                                    const char *help, const char *labels);

/* The child for a tuple of label values, comma-separated in the order the
 * labels were registered (values may not contain commas). NULL only when out
 * of memory. */
wr_metric *wr_metric_child(wr_metric_family *f, const char *values);

/* Shorthand for families without labels: registers and returns the one child. */
wr_metric *wr_metrics_counter(wr_metrics *reg, const char *name, const char *help);
wr_metric *wr_metrics_gauge(wr_metrics *reg, const char *name, const char *help);

/* Updates a value. A NULL metric is ignored, so code can update metrics that
 * failed to register without checking. */
void wr_metric_add(wr_metric *m, double v);
void wr_metric_set(wr_metric *m, double v);
static inline void wr_metric_inc(wr_metric *m) { wr_metric_add(m, 1); }
double wr_metric_value(const wr_metric *m);

/* Renders the family name a second time under alias (a string that
 * outlives the registry, such as a literal), for dashboards that know another
 * program's names: cloudflared's, beside warren's own. A second call replaces
 * it. Returns 0, WR_ERR_NOTFOUND (no family name) or WR_ERR_INVAL (alias is
 * not a metric name). */
int wr_metrics_alias(wr_metrics *reg, const char *name, const char *alias);

/* Appends the registry in the Prometheus text format (version 0.0.4). */
WR_MUST_CHECK int wr_metrics_render(const wr_metrics *reg, wr_buf *out);

#endif
