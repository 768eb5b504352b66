/* lg_hist.c - log-linear histogram: exact below 2^(SUB_BITS+1), then 128 linear sub-buckets
 * per power of two. Fixed memory so a run of any length costs the same. */
#include "lg_hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * LGH_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - LGH_SUB_BITS;
    return (e + 1) * LGH_SUB + (unsigned)((v >> e) - LGH_SUB);
}

static uint64_t bucket_mid(unsigned idx)
{
    if (idx < 2 * LGH_SUB)
        return idx;
    unsigned e = idx / LGH_SUB - 1;
    uint64_t lo = ((uint64_t)(idx % LGH_SUB) + LGH_SUB) << e;
    return lo + ((1ull << e) >> 1);
}

void lgh_reset(lg_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

void lgh_add(lg_hist_t *h, uint64_t v)
{
    unsigned i = bucket_of(v);
    if (i >= LGH_BUCKETS)
        i = LGH_BUCKETS - 1;
    h->b[i]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

uint64_t lgh_quantile(const lg_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    uint64_t want = (uint64_t)(q * (double)h->count);
    if ((double)want < q * (double)h->count)
        want++;
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LGH_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t m = bucket_mid(i);
            return m > h->max ? h->max : m;
        }
    }
    return h->max;
}
