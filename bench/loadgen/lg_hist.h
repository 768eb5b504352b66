/* lg_hist.h - fixed-size log-linear latency histogram (HdrHistogram's layout, 7 sub-bucket
 * bits: under 0.8% error) for loadgen. Values are unsigned integers (microseconds here).
 * Not thread-safe and not mergeable across processes; one per run. */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LGH_SUB_BITS 7
#define LGH_SUB (1u << LGH_SUB_BITS)
#define LGH_BUCKETS (64u * LGH_SUB)

typedef struct lg_hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t b[LGH_BUCKETS];
} lg_hist_t;

/* Zeroes h. */
void lgh_reset(lg_hist_t *h);
/* Records one value. */
void lgh_add(lg_hist_t *h, uint64_t v);
/* Value at quantile q (0..1]: the midpoint of the bucket holding it, the exact max for q = 1,
 * 0 when empty. */
uint64_t lgh_quantile(const lg_hist_t *h, double q);

#endif
