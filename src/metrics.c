/* metrics.c - Prometheus text exposition (0.0.4) writer, lock-free latency histogram and
 * process metrics from /proc/self. Holds no state of its own: a writer lives for one rendering,
 * histograms live where their owners put them. */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dg.h"

/* ---------------------------------------------------------------------------------------------
 * Writer */

static const char *const type_names[] = {"counter", "gauge", "histogram", "untyped"};

static int fail(mt_writer_t *w, int err, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fail(mt_writer_t *w, int err, const char *f, ...)
{
    if (w->err)
        return w->err;
    w->err = err;
    va_list ap;
    va_start(ap, f);
    vsnprintf(w->errstr, sizeof(w->errstr), f, ap);
    va_end(ap);
    return err;
}

/* Appends and turns a buffer failure into the writer's sticky error. */
static int put(mt_writer_t *w, const char *s, size_t n)
{
    if (w->err)
        return w->err;
    if (buf_append(w->out, s, n) != DG_OK)
        return fail(w, DG_ENOMEM, "out of memory");
    return DG_OK;
}

static int puts_(mt_writer_t *w, const char *s)
{
    return put(w, s, strlen(s));
}

static int valid_name(const char *s, int colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && (p == s || c < '0' || c > '9'))
            return 0;
    }
    return 1;
}

/* FNV-1a: families begun are remembered by hash only (a collision would at worst let a
 * duplicate family through, which promtool in the tests would still catch). */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Appends s with the escapes given: label values escape backslash, quote and newline; HELP
 * text only backslash and newline. Copies runs between escapes in one append. */
static int put_escaped(mt_writer_t *w, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (!esc)
            continue;
        put(w, run, (size_t)(s - run));
        put(w, esc, 2);
        run = s + 1;
    }
    return put(w, run, (size_t)(s - run));
}

void mt_writer_init(mt_writer_t *w, buf_t *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

int mt_family(mt_writer_t *w, const char *name, mt_type_t type, const char *help)
{
    if (w->err)
        return w->err;
    if (!valid_name(name, 1) || strlen(name) >= sizeof(w->family))
        return fail(w, DG_EINVAL, "invalid metric name '%.64s'", name ? name : "(null)");
    if ((unsigned)type >= DG_ARRAY_LEN(type_names))
        return fail(w, DG_EINVAL, "%s: invalid type %d", name, (int)type);
    uint64_t h = name_hash(name);
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i] == h)
            return fail(w, DG_EINVAL, "%s: family written twice", name);
    if (w->nseen == MT_MAX_FAMILIES)
        return fail(w, DG_ELIMIT, "%s: more than %d families", name, MT_MAX_FAMILIES);
    w->seen[w->nseen++] = h;
    memcpy(w->family, name, strlen(name) + 1);
    w->type = type;
    if (help) {
        puts_(w, "# HELP ");
        puts_(w, name);
        puts_(w, " ");
        put_escaped(w, help, 0);
        puts_(w, "\n");
    }
    puts_(w, "# TYPE ");
    puts_(w, name);
    puts_(w, " ");
    puts_(w, type_names[type]);
    return puts_(w, "\n");
}

static int check_labels(mt_writer_t *w, const mt_label_t *l, size_t n, int histogram)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = l[i].name;
        if (!valid_name(name, 0) || (name[0] == '_' && name[1] == '_') || !l[i].value)
            return fail(w, DG_EINVAL, "%s: invalid label '%.64s'", w->family,
                        name ? name : "(null)");
        if (histogram && strcmp(name, "le") == 0)
            return fail(w, DG_EINVAL, "%s: label le is the histogram's own", w->family);
        for (size_t j = 0; j < i; j++)
            if (strcmp(l[j].name, name) == 0)
                return fail(w, DG_EINVAL, "%s: label %s repeated", w->family, name);
    }
    return DG_OK;
}

/* Writes `<family><suffix>{labels[,le="..."]} ` (labels already checked). */
static int put_series(mt_writer_t *w, const char *suffix, const mt_label_t *l, size_t n,
                      const char *le)
{
    puts_(w, w->family);
    puts_(w, suffix);
    if (n || le) {
        puts_(w, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                puts_(w, ",");
            puts_(w, l[i].name);
            puts_(w, "=\"");
            put_escaped(w, l[i].value, 1);
            puts_(w, "\"");
        }
        if (le) {
            puts_(w, n ? ",le=\"" : "le=\"");
            puts_(w, le);
            puts_(w, "\"");
        }
        puts_(w, "}");
    }
    return puts_(w, " ");
}

/* The shortest of %.15g .. %.17g that reads back as v: what Go's strconv 'g' -1 prints for the
 * bounds and sums Prometheus users are used to (0.1, not 0.10000000000000001). The process
 * never calls setlocale, so the decimal point is '.'. */
static void fmt_double(char *out, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Writes one sample of the current family with its value already formatted. */
static int sample(mt_writer_t *w, const mt_label_t *l, size_t n, const char *value)
{
    if (w->err)
        return w->err;
    if (!w->nseen)
        return fail(w, DG_EINVAL, "sample before any family");
    if (w->type == MT_HISTOGRAM)
        return fail(w, DG_EINVAL, "%s: a histogram takes mt_hist()", w->family);
    if (check_labels(w, l, n, 0) != DG_OK)
        return w->err;
    put_series(w, "", l, n, NULL);
    puts_(w, value);
    return puts_(w, "\n");
}

/* Counters only go up: a negative (or NaN) one is the caller's bug, caught here. */
static int counter_ok(mt_writer_t *w, int negative, const char *what)
{
    if (w->err || !w->nseen || w->type != MT_COUNTER || !negative)
        return 1;
    fail(w, DG_EINVAL, "%s: %s", w->family, what);
    return 0;
}

int mt_u64(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%" PRIu64, v);
    return sample(w, labels, nlabels, t);
}

int mt_i64(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, int64_t v)
{
    char t[24];
    if (!counter_ok(w, v < 0, "negative counter"))
        return w->err;
    snprintf(t, sizeof(t), "%" PRId64, v);
    return sample(w, labels, nlabels, t);
}

int mt_double(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, double v)
{
    char t[40];
    if (!counter_ok(w, !(v >= 0), "negative or NaN counter"))
        return w->err;
    fmt_double(t, sizeof(t), v);
    return sample(w, labels, nlabels, t);
}

int mt_writer_finish(mt_writer_t *w)
{
    return w->err;
}

/* ---------------------------------------------------------------------------------------------
 * Histogram */

const double mt_hist_bounds[MT_HIST_NBOUNDS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                                0.5,     1,      2.5,     5,      10};

/* The same bounds in nanoseconds: observe compares integers. */
static const uint64_t bounds_ns[MT_HIST_NBOUNDS] = {
    50000ULL,     100000ULL,     250000ULL,     500000ULL,     1000000ULL,    2500000ULL,
    5000000ULL,   10000000ULL,   25000000ULL,   50000000ULL,   100000000ULL,  250000000ULL,
    500000000ULL, 1000000000ULL, 2500000000ULL, 5000000000ULL, 10000000000ULL};

void mt_hist_init(mt_hist_t *h)
{
    for (size_t i = 0; i <= MT_HIST_NBOUNDS; i++)
        atomic_init(&h->bucket[i], 0);
    atomic_init(&h->sum_ns, 0);
}

void mt_hist_observe_ns(mt_hist_t *h, int64_t ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    size_t i = 0;
    while (i < MT_HIST_NBOUNDS && v > bounds_ns[i]) /* le: a bound counts values equal to it */
        i++;
    /* Relaxed: readers want totals, not an order between this and other memory. */
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, v, memory_order_relaxed);
}

void mt_hist_sum(const mt_hist_t *const *h, size_t n, mt_hist_snap_t *out)
{
    uint64_t per[MT_HIST_NBOUNDS + 1] = {0}, sum_ns = 0;
    for (size_t k = 0; k < n; k++) {
        if (!h[k])
            continue;
        for (size_t i = 0; i <= MT_HIST_NBOUNDS; i++)
            per[i] += atomic_load_explicit(&h[k]->bucket[i], memory_order_relaxed);
        sum_ns += atomic_load_explicit(&h[k]->sum_ns, memory_order_relaxed);
    }
    /* Cumulating the values read once keeps count == +Inf bucket and the buckets monotone,
     * even while other threads observe. */
    uint64_t acc = 0;
    for (size_t i = 0; i <= MT_HIST_NBOUNDS; i++) {
        acc += per[i];
        out->bucket[i] = acc;
    }
    out->count = acc;
    out->sum = (double)sum_ns / 1e9;
}

int mt_hist(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, const mt_hist_t *const *h,
            size_t n)
{
    if (w->err)
        return w->err;
    if (!w->nseen || w->type != MT_HISTOGRAM)
        return fail(w, DG_EINVAL, "%s: not a histogram family", w->nseen ? w->family : "(none)");
    if (check_labels(w, labels, nlabels, 1) != DG_OK)
        return w->err;
    mt_hist_snap_t s;
    mt_hist_sum(h, n, &s);
    char t[40], le[40];
    for (size_t i = 0; i <= MT_HIST_NBOUNDS; i++) {
        if (i < MT_HIST_NBOUNDS)
            fmt_double(le, sizeof(le), mt_hist_bounds[i]);
        put_series(w, "_bucket", labels, nlabels, i < MT_HIST_NBOUNDS ? le : "+Inf");
        snprintf(t, sizeof(t), "%" PRIu64 "\n", s.bucket[i]);
        puts_(w, t);
    }
    put_series(w, "_sum", labels, nlabels, NULL);
    fmt_double(t, sizeof(t), s.sum);
    puts_(w, t);
    puts_(w, "\n");
    put_series(w, "_count", labels, nlabels, NULL);
    snprintf(t, sizeof(t), "%" PRIu64 "\n", s.count);
    return puts_(w, t);
}

/* ---------------------------------------------------------------------------------------------
 * Process metrics */

#define STAT_MAX 4096

/* Field numbers of proc(5)'s /proc/<pid>/stat, counted from 3 (state), the first after comm. */
enum { F_UTIME = 14, F_STIME = 15, F_THREADS = 20, F_STARTTIME = 22, F_VSIZE = 23, F_RSS = 24 };

/* A field we need: digits only (strtoull alone would take a sign or blanks), in range. */
static int parse_field(const char *p, size_t n, uint64_t *out)
{
    char tmp[24];
    if (n == 0 || n >= sizeof(tmp))
        return DG_EPROTO;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return DG_EPROTO;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoull(tmp, NULL, 10);
    return errno == ERANGE ? DG_EPROTO : DG_OK;
}

int mt_proc_parse_stat(const char *text, size_t len, mt_proc_stat_t *out)
{
    if (len > STAT_MAX)
        return DG_ELIMIT;
    /* comm is "(name)" and name may hold ") ": the fields start after the last ')'. */
    const char *end = text + len, *p = NULL;
    for (const char *q = text; q < end; q++)
        if (*q == ')')
            p = q + 1;
    if (!p)
        return DG_EPROTO;
    struct {
        int field;
        uint64_t *dst;
    } want[] = {{F_UTIME, &out->utime},         {F_STIME, &out->stime}, {F_THREADS, &out->threads},
                {F_STARTTIME, &out->starttime}, {F_VSIZE, &out->vsize}, {F_RSS, &out->rss}};
    size_t next = 0;
    for (int field = 3; next < DG_ARRAY_LEN(want); field++) {
        while (p < end && (*p == ' ' || *p == '\n'))
            p++;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        if (tok == p)
            return DG_EPROTO; /* ran out of fields */
        if (field == want[next].field) {
            if (parse_field(tok, (size_t)(p - tok), want[next].dst) != DG_OK)
                return DG_EPROTO;
            next++;
        }
    }
    return DG_OK;
}

static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return DG_EIO;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap)
            break;
    }
    close(fd);
    *len = n;
    return n ? DG_OK : DG_EIO;
}

static int count_fds(uint64_t *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return DG_EIO;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    *out = n ? n - 1 : 0; /* the directory stream's own descriptor */
    return DG_OK;
}

static double ts_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mt_proc_read(mt_proc_t *out)
{
    char text[STAT_MAX + 1];
    size_t len;
    mt_proc_stat_t st;
    struct rlimit rl;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0 || page <= 0 ||
        read_small("/proc/self/stat", text, sizeof(text), &len) != DG_OK ||
        mt_proc_parse_stat(text, len, &st) != DG_OK || count_fds(&out->open_fds) != DG_OK ||
        getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return DG_EIO;
    out->cpu_seconds = (double)(st.utime + st.stime) / (double)ticks;
    out->rss_bytes = st.rss * (uint64_t)page;
    out->vsize_bytes = st.vsize;
    out->threads = st.threads;
    out->max_fds = (uint64_t)rl.rlim_cur;
    /* starttime counts ticks after boot; boot time in wall-clock terms is REALTIME - BOOTTIME
     * (what /proc/stat's btime is, which ProcSubset=pid hides). Rounding to the tick keeps the
     * value the same from one scrape to the next. */
    double boot = ts_seconds(CLOCK_REALTIME) - ts_seconds(CLOCK_BOOTTIME);
    out->start_time = round(boot * (double)ticks + (double)st.starttime) / (double)ticks;
    return DG_OK;
}

int mt_proc_write(mt_writer_t *w, const mt_proc_t *p)
{
    mt_family(w, "process_cpu_seconds_total", MT_COUNTER,
              "Total user and system CPU time spent in seconds.");
    mt_double(w, MT_NOLABELS, p->cpu_seconds);
    mt_family(w, "process_resident_memory_bytes", MT_GAUGE, "Resident memory size in bytes.");
    mt_u64(w, MT_NOLABELS, p->rss_bytes);
    mt_family(w, "process_virtual_memory_bytes", MT_GAUGE, "Virtual memory size in bytes.");
    mt_u64(w, MT_NOLABELS, p->vsize_bytes);
    mt_family(w, "process_open_fds", MT_GAUGE, "Number of open file descriptors.");
    mt_u64(w, MT_NOLABELS, p->open_fds);
    mt_family(w, "process_max_fds", MT_GAUGE, "Maximum number of open file descriptors.");
    mt_u64(w, MT_NOLABELS, p->max_fds);
    mt_family(w, "process_threads", MT_GAUGE, "Number of OS threads in the process.");
    mt_u64(w, MT_NOLABELS, p->threads);
    mt_family(w, "process_start_time_seconds", MT_GAUGE,
              "Start time of the process since unix epoch in seconds.");
    return mt_double(w, MT_NOLABELS, p->start_time);
}
