/*
 * natsc-bench: the third column of benches/compare.sh, some natsy-bench scenarios on
 * nats.c (the C client, Debian's libnats-dev), with the same flags, the same
 * completeness checks and the same JSON line as natsy-bench, so natsy-compare can put it
 * beside natsy and async-nats.
 *
 * Scenarios: pub, pubsub, fanout, req (the rest are natsy-bench's and async-nats-bench's
 * only; natsy-compare does not ask for them). Written the way a nats.c user would:
 * natsConnection_Publish, asynchronous subscriptions with a message handler (nats.c's
 * fast path: one delivery thread per subscription), natsConnection_Request, and a
 * responder connection with natsOptions_SetSendAsap, as nats.h advises for a connection
 * that only sends replies (without it each reply waits up to 1 ms for nats.c's flusher;
 * p50 was 990 us).
 *
 * Timing and checks, as in natsy-bench:
 * - the timer starts before the first publish and stops when the server has confirmed
 *   everything (natsConnection_FlushTimeout, a PING/PONG) and, with receivers, when every
 *   receiver has counted every message;
 * - CPU is CLOCK_PROCESS_CPUTIME_ID over the timed part (every thread of this process);
 * - a run is failed (ok false, no numbers) if a message is missing, extra, of the wrong
 *   size or dropped, or a receiver goes 10 s without progress.
 *
 * Usage: natsc-bench SCENARIO --url URL [--size N] [--msgs N] [--subs N] [--reps N]
 *        [--json] [--no-progress]        (or: natsc-bench --version)
 * Always prints one JSON line per repetition (--json and --no-progress are accepted for
 * natsy-compare's sake).
 *
 * Build: benches/natsc/build OUT (the build line compare.sh and tests/run share).
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STALL_SECONDS 10
#define FLUSH_TIMEOUT_MS 60000
#define REQUEST_TIMEOUT_MS 5000
/* The same per-subscription bound as natsy's default and async-nats-bench's setting. */
#define PENDING_MSGS (512 * 1024)

typedef struct {
    const char *scenario;
    const char *url;
    int size;
    int64_t msgs; /* 0: the scenario's default */
    int subs;
    int reps;
} Config;

typedef struct {
    int64_t msgs;
    double elapsed_s;
    double cpu_s;
    int has_latency;
    double p50, p90, p99, p999, max;
} Outcome;

static double now_s(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* natsy-bench's defaults: 1M messages capped at 512 MiB of payload (at least 10k); req 20k. */
static int64_t default_msgs(const Config *c) {
    if (strcmp(c->scenario, "req") == 0) {
        return 20000;
    }
    int64_t n = (int64_t)(512 << 20) / (c->size > 0 ? c->size : 1);
    if (n < 10000) n = 10000;
    if (n > 1000000) n = 1000000;
    return n;
}

static char err_text[512];

/* Records why the run failed; returns -1 for `return fail(...)`. */
static int fail(const char *what, natsStatus s) {
    snprintf(err_text, sizeof err_text, "%s: %s", what, natsStatus_GetText(s));
    return -1;
}

static int fail_text(const char *text) {
    snprintf(err_text, sizeof err_text, "%s", text);
    return -1;
}

/* `send_asap`: write each publish at once instead of leaving it to nats.c's flusher
 * thread, which batches for up to a millisecond; nats.h recommends it for a connection
 * that only sends replies, so the req responder uses it. */
static natsStatus connect_to(natsConnection **nc, const char *url, bool send_asap) {
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK && send_asap) s = natsOptions_SetSendAsap(opts, true);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK) s = natsOptions_SetName(opts, "natsc-bench");
    if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(opts, PENDING_MSGS);
    if (s == NATS_OK) s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}

/* ----- receivers: one asynchronous subscription each, counting what arrives ----- */

typedef struct {
    _Atomic int64_t got;
    _Atomic int wrong_size;
    int64_t expect;
    int size;
    /* Only for the waiter: the handler signals under it once, at the last message. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
} Counter;

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    Counter *c = closure;
    if (natsMsg_GetDataLength(msg) != c->size) atomic_store(&c->wrong_size, 1);
    natsMsg_Destroy(msg);
    int64_t now = atomic_fetch_add_explicit(&c->got, 1, memory_order_relaxed) + 1;
    if (now == c->expect) {
        pthread_mutex_lock(&c->lock);
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
    }
}

/* Waits until `c` has its count, failing after STALL_SECONDS without progress. */
static int wait_counted(Counter *c) {
    pthread_mutex_lock(&c->lock);
    int64_t last = atomic_load(&c->got);
    double since = now_s(CLOCK_MONOTONIC);
    while (atomic_load(&c->got) < c->expect) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->changed, &c->lock, &until);
        int64_t got = atomic_load(&c->got);
        if (got != last) {
            last = got;
            since = now_s(CLOCK_MONOTONIC);
        } else if (now_s(CLOCK_MONOTONIC) - since > STALL_SECONDS) {
            pthread_mutex_unlock(&c->lock);
            snprintf(err_text, sizeof err_text,
                     "incomplete: no message for %d s after %lld of %lld", STALL_SECONDS,
                     (long long)got, (long long)c->expect);
            return -1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ----- scenarios ----- */

static void unique_subject(char *out, size_t cap, const char *what) {
    static int next = 0;
    snprintf(out, cap, "bench.c%d_%lx_%d.%s", (int)getpid(),
             (unsigned long)(now_s(CLOCK_REALTIME) * 1e6), next++, what);
}

/* Publishes `n` messages, then flushes (the server's PONG confirms all of them). */
static int publish_n(natsConnection *nc, const char *subject, const char *payload, int size,
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        natsStatus s = natsConnection_Publish(nc, subject, payload, size);
        if (s != NATS_OK) return fail("publish", s);
    }
    natsStatus s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
    return s == NATS_OK ? 0 : fail("flush", s);
}

static int out_msgs(natsConnection *nc, uint64_t *out) {
    natsStatistics *st = NULL;
    uint64_t in_m, in_b, out_b, rc;
    natsStatus s = natsStatistics_Create(&st);
    if (s == NATS_OK) s = natsConnection_GetStats(nc, st);
    if (s == NATS_OK) s = natsStatistics_GetCounts(st, &in_m, &in_b, out, &out_b, &rc);
    natsStatistics_Destroy(st);
    return s == NATS_OK ? 0 : fail("statistics", s);
}

static int bench_pub(const Config *c, const char *payload, int64_t n, Outcome *o) {
    char subject[128];
    unique_subject(subject, sizeof subject, "pub");
    natsConnection *nc = NULL;
    natsStatus s = connect_to(&nc, c->url, false);
    if (s != NATS_OK) return fail("connect", s);
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    int r = publish_n(nc, subject, payload, c->size, n);
    o->elapsed_s = now_s(CLOCK_MONOTONIC) - w0;
    o->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    uint64_t sent = 0;
    if (r == 0) r = out_msgs(nc, &sent);
    if (r == 0 && sent != (uint64_t)n) {
        snprintf(err_text, sizeof err_text, "sent %llu of %lld messages",
                 (unsigned long long)sent, (long long)n);
        r = -1;
    }
    natsConnection_Destroy(nc);
    o->msgs = n;
    return r;
}

/* pubsub (one receiver) and fanout (`receivers`), each receiver on its own connection. */
static int bench_publish_receive(const Config *c, const char *payload, int64_t n,
                                 int receivers, Outcome *o) {
    char subject[128];
    unique_subject(subject, sizeof subject, "pubsub");
    natsConnection *rx[64] = {0};
    natsSubscription *subs[64] = {0};
    Counter counters[64];
    natsConnection *tx = NULL;
    int r = 0;
    if (receivers < 1 || receivers > 64) return fail_text("--subs must be 1..64");
    for (int i = 0; i < receivers; i++) {
        Counter *k = &counters[i];
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->changed, NULL);
        atomic_init(&k->got, 0);
        atomic_init(&k->wrong_size, 0);
        k->expect = n;
        k->size = c->size;
    }
    for (int i = 0; i < receivers && r == 0; i++) {
        natsStatus s = connect_to(&rx[i], c->url, false);
        if (s == NATS_OK) s = natsConnection_Subscribe(&subs[i], rx[i], subject, on_msg,
                                                       &counters[i]);
        if (s == NATS_OK) s = natsSubscription_SetPendingLimits(subs[i], PENDING_MSGS, -1);
        if (s == NATS_OK) s = natsConnection_FlushTimeout(rx[i], FLUSH_TIMEOUT_MS);
        if (s != NATS_OK) r = fail("receiver", s);
    }
    if (r == 0) {
        natsStatus s = connect_to(&tx, c->url, false);
        if (s != NATS_OK) r = fail("connect", s);
    }
    if (r == 0) {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        r = publish_n(tx, subject, payload, c->size, n);
        for (int i = 0; i < receivers && r == 0; i++) r = wait_counted(&counters[i]);
        o->elapsed_s = now_s(CLOCK_MONOTONIC) - w0;
        o->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    /* Nothing extra arrives: a flush on each receiver's connection, then the count. */
    for (int i = 0; i < receivers && r == 0; i++) {
        natsStatus s = natsConnection_FlushTimeout(rx[i], FLUSH_TIMEOUT_MS);
        if (s != NATS_OK) {
            r = fail("flush", s);
            break;
        }
        usleep(10 * 1000);
        int64_t dropped = 0;
        natsSubscription_GetDropped(subs[i], &dropped);
        int64_t got = atomic_load(&counters[i].got);
        int wrong = atomic_load(&counters[i].wrong_size);
        if (wrong) r = fail_text("a message of the wrong size");
        else if (dropped > 0) {
            snprintf(err_text, sizeof err_text, "receiver %d dropped %lld", i,
                     (long long)dropped);
            r = -1;
        } else if (got != n) {
            snprintf(err_text, sizeof err_text, "receiver %d got %lld of %lld", i,
                     (long long)got, (long long)n);
            r = -1;
        }
    }
    for (int i = 0; i < receivers; i++) {
        if (subs[i]) natsSubscription_Destroy(subs[i]);
        if (rx[i]) natsConnection_Destroy(rx[i]);
    }
    if (tx) natsConnection_Destroy(tx);
    /* The handlers have stopped once their subscriptions are destroyed. */
    for (int i = 0; i < receivers; i++) {
        pthread_mutex_destroy(&counters[i].lock);
        pthread_cond_destroy(&counters[i].changed);
    }
    o->msgs = n * receivers;
    return r;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                       void *closure) {
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL) {
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    }
    natsMsg_Destroy(msg);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, as natsy-bench's Percentiles::of. */
static double rank(const double *sorted, int64_t n, int64_t permille) {
    int64_t r = (permille * n + 999) / 1000;
    if (r < 1) r = 1;
    if (r > n) r = n;
    return sorted[r - 1];
}

static int bench_req(const Config *c, const char *payload, int64_t n, Outcome *o) {
    char subject[128];
    unique_subject(subject, sizeof subject, "req");
    natsConnection *responder = NULL, *client = NULL;
    natsSubscription *sub = NULL;
    double *samples = calloc((size_t)n, sizeof *samples);
    int r = samples ? 0 : fail_text("out of memory");
    natsStatus s = NATS_OK;
    if (r == 0) {
        s = connect_to(&responder, c->url, true);
        if (s == NATS_OK) s = natsConnection_Subscribe(&sub, responder, subject, on_request,
                                                       NULL);
        if (s == NATS_OK) s = natsConnection_FlushTimeout(responder, FLUSH_TIMEOUT_MS);
        if (s == NATS_OK) s = connect_to(&client, c->url, false);
        if (s != NATS_OK) r = fail("setup", s);
    }
    for (int i = 0; i < 100 && r == 0; i++) {
        natsMsg *reply = NULL;
        s = natsConnection_Request(&reply, client, subject, payload, c->size,
                                   REQUEST_TIMEOUT_MS);
        if (s != NATS_OK) r = fail("warm-up request", s);
        natsMsg_Destroy(reply);
    }
    if (r == 0) {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int64_t i = 0; i < n && r == 0; i++) {
            natsMsg *reply = NULL;
            double t = now_s(CLOCK_MONOTONIC);
            s = natsConnection_Request(&reply, client, subject, payload, c->size,
                                       REQUEST_TIMEOUT_MS);
            samples[i] = (now_s(CLOCK_MONOTONIC) - t) * 1e6;
            if (s != NATS_OK) {
                r = fail("request", s);
            } else if (natsMsg_GetDataLength(reply) != c->size) {
                r = fail_text("a reply of the wrong size");
            }
            natsMsg_Destroy(reply);
        }
        o->elapsed_s = now_s(CLOCK_MONOTONIC) - w0;
        o->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    if (r == 0) {
        qsort(samples, (size_t)n, sizeof *samples, cmp_double);
        o->has_latency = 1;
        o->p50 = rank(samples, n, 500);
        o->p90 = rank(samples, n, 900);
        o->p99 = rank(samples, n, 990);
        o->p999 = rank(samples, n, 999);
        o->max = rank(samples, n, 1000);
    }
    if (sub) natsSubscription_Destroy(sub);
    if (client) natsConnection_Destroy(client);
    if (responder) natsConnection_Destroy(responder);
    free(samples);
    o->msgs = n;
    return r;
}

/* ----- output ----- */

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void print_result(const Config *c, int rep, int ok, const Outcome *o) {
    printf("{\"client\":\"nats.c\",\"scenario\":");
    json_string(c->scenario);
    printf(",\"size\":%d,\"rep\":%d,\"ok\":%s", c->size, rep, ok ? "true" : "false");
    if (!ok) {
        printf(",\"error\":");
        json_string(err_text);
        printf(",\"msgs\":0,\"elapsed_s\":0,\"msgs_per_sec\":0,\"mb_per_sec\":0,"
               "\"cpu_us_per_msg\":0}\n");
        return;
    }
    double rate = o->elapsed_s > 0 ? (double)o->msgs / o->elapsed_s : 0;
    double mb = o->elapsed_s > 0 ? (double)o->msgs * c->size / o->elapsed_s / 1e6 : 0;
    double cpu = o->msgs > 0 ? o->cpu_s * 1e6 / (double)o->msgs : 0;
    printf(",\"msgs\":%lld,\"elapsed_s\":%.9f,\"msgs_per_sec\":%.3f,\"mb_per_sec\":%.3f,"
           "\"cpu_us_per_msg\":%.6f",
           (long long)o->msgs, o->elapsed_s, rate, mb, cpu);
    if (o->has_latency) {
        printf(",\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
               "\"max\":%.3f}",
               o->p50, o->p90, o->p99, o->p999, o->max);
    }
    printf("}\n");
}

/* A count or size as natsy-bench takes them: digits with an optional k or m (decimal for
 * counts, binary for sizes); -1 if it is not one. */
static int64_t parse_number(const char *text, int64_t k) {
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (end == text || n < 0) return -1;
    if (*end == 'k' || *end == 'K') n *= k, end++;
    else if (*end == 'm' || *end == 'M') n *= k * k, end++;
    return *end == '\0' ? n : -1;
}

static int usage(void) {
    fprintf(stderr, "usage: natsc-bench pub|pubsub|fanout|req --url URL [--size N] "
                    "[--msgs N] [--subs N] [--reps N] [--json] [--no-progress]\n");
    return 2;
}

int main(int argc, char **argv) {
    Config c = {NULL, NULL, 128, 0, 4, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0 || strcmp(a, "--no-progress") == 0) continue;
        if (strcmp(a, "--version") == 0) {
            printf("nats.c %s\n", nats_GetVersion());
            return 0;
        }
        if (a[0] != '-') {
            if (c.scenario) return usage();
            c.scenario = a;
            continue;
        }
        if (v == NULL) return usage();
        i++;
        if (strcmp(a, "--url") == 0) c.url = v;
        else if (strcmp(a, "--size") == 0) c.size = (int)parse_number(v, 1024);
        else if (strcmp(a, "--msgs") == 0) c.msgs = parse_number(v, 1000);
        else if (strcmp(a, "--subs") == 0) c.subs = (int)parse_number(v, 1000);
        else if (strcmp(a, "--reps") == 0) c.reps = (int)parse_number(v, 1000);
        else return usage();
    }
    if (!c.scenario || !c.url || c.size < 0 || c.msgs < 0 || c.subs < 1 || c.reps < 1) {
        return usage();
    }
    int64_t n = c.msgs > 0 ? c.msgs : default_msgs(&c);
    char *payload = malloc((size_t)c.size + 1);
    if (!payload) return 1;
    memset(payload, 'x', (size_t)c.size);
    int all_ok = 1;
    for (int rep = 1; rep <= c.reps; rep++) {
        Outcome o;
        memset(&o, 0, sizeof o);
        int r;
        if (strcmp(c.scenario, "pub") == 0) r = bench_pub(&c, payload, n, &o);
        else if (strcmp(c.scenario, "pubsub") == 0)
            r = bench_publish_receive(&c, payload, n, 1, &o);
        else if (strcmp(c.scenario, "fanout") == 0)
            r = bench_publish_receive(&c, payload, n, c.subs, &o);
        else if (strcmp(c.scenario, "req") == 0) r = bench_req(&c, payload, n, &o);
        else r = fail_text("this scenario is not in the nats.c peer");
        print_result(&c, rep, r == 0, &o);
        fflush(stdout);
        all_ok &= r == 0;
    }
    free(payload);
    nats_Close();
    return all_ok ? 0 : 1;
}
