/*
 * natsc-bench: the third column of benches/compare.sh, some natsy-bench scenarios on
 * nats.c (the C client, Debian's libnats-dev), with the same flags, the same
 * completeness checks and the same JSON line as natsy-bench, so natsy-compare can put it
 * beside natsy and async-nats.
 *
 * Scenarios: pub, sub, pubsub, fanout, req (the rest are natsy-bench's and
 * async-nats-bench's only; natsy-compare does not ask for them). Written the way a nats.c
 * user would:
 * natsConnection_Publish, asynchronous subscriptions with a message handler (nats.c's
 * fast path: one delivery thread per subscription), natsConnection_Request, and a
 * responder connection with natsOptions_SetSendAsap, as nats.h advises for a connection
 * that only sends replies (without it each reply waits up to 1 ms for nats.c's flusher;
 * p50 was 990 us).
 *
 * sub receives from natsy-bench's publisher process (`$NATSY_BENCH_PUBLISHER _publisher`,
 * the same sender natsy and async-nats get; natsy-compare sets the variable), driven over
 * its stdin/stdout as natsy-bench drives it: `ready`, `go`, `done N`.
 *
 * --rate N (sub and req only), as natsy-bench's: operation i (from 0) is due at
 * start + i/N on CLOCK_MONOTONIC and waited for with clock_nanosleep(TIMER_ABSTIME), never
 * by spinning; a late one goes at once and the schedule does not move. sub: the publisher
 * process is paced at N msgs/s. req: N sequential requests/s, answered by natsy-bench's
 * responder process (`_responder`) instead of a responder connection in this process, so
 * that the process measured holds only the requester. Default --msgs: N x 5 (5 s).
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
 *        [--rate N] [--json] [--no-progress]        (or: natsc-bench --version)
 * Always prints one JSON line per repetition (--json and --no-progress are accepted for
 * natsy-compare's sake).
 *
 * Build: benches/natsc/build OUT (the build line compare.sh and tests/run share).
 */
#include <nats/nats.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STALL_SECONDS 10
#define FLUSH_TIMEOUT_MS 60000
#define REQUEST_TIMEOUT_MS 5000
/* The same per-subscription bound as natsy's default and async-nats-bench's setting. */
#define PENDING_MSGS (512 * 1024)
/* Untimed requests before the timed ones, as natsy-bench. */
#define REQ_WARM_UP 100
/* A --rate run without --msgs lasts this long, as natsy-bench's. */
#define RATE_DEFAULT_SECONDS 5

typedef struct {
    const char *scenario;
    const char *url;
    int size;
    int64_t msgs; /* 0: the scenario's default */
    int subs;
    int reps;
    int64_t rate; /* --rate: operations per second; 0: flat out */
} Config;

typedef struct {
    int64_t msgs;
    double elapsed_s;
    double cpu_s;
    int has_latency;
    double p50, p90, p99, p999, max;
    char note[160]; /* empty: none */
} Outcome;

static double now_s(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* natsy-bench's defaults: 1M messages capped at 512 MiB of payload (at least 10k); req 20k;
 * at a --rate, 5 s worth. */
static int64_t default_msgs(const Config *c) {
    if (c->rate > 0) return c->rate * RATE_DEFAULT_SECONDS;
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

/* After `c` has its count: nothing extra arrives (a flush of the receiving connection,
 * then a moment for the handler), nothing was dropped or of the wrong size. */
static int check_counted(natsConnection *nc, natsSubscription *sub, Counter *c, int which) {
    natsStatus s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
    if (s != NATS_OK) return fail("flush", s);
    usleep(10 * 1000);
    int64_t dropped = 0;
    natsSubscription_GetDropped(sub, &dropped);
    int64_t got = atomic_load(&c->got);
    if (atomic_load(&c->wrong_size)) return fail_text("a message of the wrong size");
    if (dropped > 0) {
        snprintf(err_text, sizeof err_text, "receiver %d dropped %lld", which,
                 (long long)dropped);
        return -1;
    }
    if (got != c->expect) {
        snprintf(err_text, sizeof err_text, "receiver %d got %lld of %lld", which,
                 (long long)got, (long long)c->expect);
        return -1;
    }
    return 0;
}

static void counter_init(Counter *k, int64_t expect, int size) {
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->changed, NULL);
    atomic_init(&k->got, 0);
    atomic_init(&k->wrong_size, 0);
    k->expect = expect;
    k->size = size;
}

static void counter_destroy(Counter *k) {
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->changed);
}

/* ----- natsy-bench's helper processes: `$NATSY_BENCH_PUBLISHER _publisher|_responder ...`,
 * talking in lines on their stdin and stdout (see benches/src/publisher.rs) ----- */

typedef struct {
    const char *what;
    pid_t pid; /* 0: not running */
    FILE *to;  /* its stdin */
    FILE *from; /* its stdout */
} Helper;

/* The next line it printed, without the newline; -1 (and err_text) at its end. */
static int helper_line(Helper *h, char *line, size_t cap) {
    if (!fgets(line, (int)cap, h->from)) {
        snprintf(err_text, sizeof err_text, "%s exited early (see its message above)",
                 h->what);
        return -1;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return 0;
}

/* Kills it if it still runs and releases everything. */
static void helper_kill(Helper *h) {
    if (h->to) fclose(h->to);
    if (h->from) fclose(h->from);
    h->to = h->from = NULL;
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
        h->pid = 0;
    }
}

/* Starts `$NATSY_BENCH_PUBLISHER args...` (args[0] is the subcommand, NULL-terminated)
 * and waits for its `ready`. */
static int helper_start(Helper *h, const char *what, const char **args) {
    memset(h, 0, sizeof *h);
    h->what = what;
    const char *exe = getenv("NATSY_BENCH_PUBLISHER");
    if (!exe || !*exe) {
        return fail_text("sub and req --rate use natsy-bench's helper processes: set "
                         "NATSY_BENCH_PUBLISHER to natsy-bench (natsy-compare does)");
    }
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)exe;
    for (; args[argc - 1] && argc < 15; argc++) argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return fail_text("pipe failed");
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return fail_text("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    /* dup2 clears close-on-exec on the child's 0 and 1; every pipe end closes at exec. */
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    int e = posix_spawn(&h->pid, exe, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (e != 0) {
        close(in[1]);
        close(out[0]);
        h->pid = 0;
        snprintf(err_text, sizeof err_text, "cannot start %s: %s", exe, strerror(e));
        return -1;
    }
    h->to = fdopen(in[1], "w");
    h->from = fdopen(out[0], "r");
    if (!h->to || !h->from) {
        if (!h->to) close(in[1]);
        if (!h->from) close(out[0]);
        helper_kill(h);
        return fail_text("fdopen failed");
    }
    char line[128];
    if (helper_line(h, line, sizeof line) != 0) {
        helper_kill(h);
        return -1;
    }
    if (strcmp(line, "ready") != 0) {
        snprintf(err_text, sizeof err_text, "%s: expected ready, got \"%s\"", what, line);
        helper_kill(h);
        return -1;
    }
    return 0;
}

static int helper_send(Helper *h, const char *line) {
    if (fprintf(h->to, "%s\n", line) < 0 || fflush(h->to) != 0) {
        snprintf(err_text, sizeof err_text, "%s: cannot write to it", h->what);
        return -1;
    }
    return 0;
}

/* Closes its stdin, reads `done N` into *done and waits for a clean exit. */
static int helper_finish(Helper *h, int64_t *done) {
    char line[128];
    fclose(h->to);
    h->to = NULL;
    int r = helper_line(h, line, sizeof line);
    long long n = -1;
    if (r == 0 && sscanf(line, "done %lld", &n) != 1) {
        snprintf(err_text, sizeof err_text, "%s: expected done, got \"%s\"", h->what, line);
        r = -1;
    }
    fclose(h->from);
    h->from = NULL;
    int status = 0;
    if (waitpid(h->pid, &status, 0) != h->pid) status = -1;
    h->pid = 0;
    if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        snprintf(err_text, sizeof err_text, "%s exited with status %d", h->what, status);
        r = -1;
    }
    *done = n;
    return r;
}

/* ----- pacing (--rate): operation i is due at start + i/rate ----- */

typedef struct {
    int64_t start_ns;
    int64_t rate;
    double max_lag_s;
    int64_t late; /* started more than 1/rate late */
} Pacer;

static int64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void pacer_init(Pacer *p, int64_t rate) {
    p->start_ns = mono_ns();
    p->rate = rate;
    p->max_lag_s = 0;
    p->late = 0;
}

/* Sleeps (absolute, on CLOCK_MONOTONIC) until operation i is due; records its lateness. */
static void pacer_wait(Pacer *p, int64_t i) {
    int64_t due = p->start_ns + i * 1000000000 / p->rate;
    struct timespec t = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0) {
        /* interrupted by a signal: sleep on to the same time */
    }
    double lag = (double)(mono_ns() - due) / 1e9;
    if (lag > p->max_lag_s) p->max_lag_s = lag;
    if (lag > 1.0 / (double)p->rate) p->late++;
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
    for (int i = 0; i < receivers; i++) counter_init(&counters[i], n, c->size);
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
        r = check_counted(rx[i], subs[i], &counters[i], i);
    }
    for (int i = 0; i < receivers; i++) {
        if (subs[i]) natsSubscription_Destroy(subs[i]);
        if (rx[i]) natsConnection_Destroy(rx[i]);
    }
    if (tx) natsConnection_Destroy(tx);
    /* The handlers have stopped once their subscriptions are destroyed. */
    for (int i = 0; i < receivers; i++) counter_destroy(&counters[i]);
    o->msgs = n * receivers;
    return r;
}

/* sub: one asynchronous subscription receiving from natsy-bench's publisher process
 * (paced at --rate if given); the timer runs from `go` to the last message counted. */
static int bench_sub(const Config *c, int64_t n, Outcome *o) {
    char subject[128], msgs[32], size[32], rate[32];
    unique_subject(subject, sizeof subject, "sub");
    snprintf(msgs, sizeof msgs, "%lld", (long long)n);
    snprintf(size, sizeof size, "%d", c->size);
    snprintf(rate, sizeof rate, "%lld", (long long)c->rate);
    const char *args[] = {"_publisher", "--url", c->url, "--subject", subject, "--msgs", msgs,
                          "--size", size, c->rate > 0 ? "--rate" : NULL, rate, NULL};
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    Counter counter;
    counter_init(&counter, n, c->size);
    Helper publisher = {0};
    natsStatus s = connect_to(&nc, c->url, false);
    if (s == NATS_OK) s = natsConnection_Subscribe(&sub, nc, subject, on_msg, &counter);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, PENDING_MSGS, -1);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
    int r = s == NATS_OK ? 0 : fail("receiver", s);
    if (r == 0) r = helper_start(&publisher, "publisher", args);
    if (r == 0) {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        r = helper_send(&publisher, "go");
        if (r == 0) r = wait_counted(&counter);
        o->elapsed_s = now_s(CLOCK_MONOTONIC) - w0;
        o->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    if (r == 0) {
        int64_t done = 0;
        r = helper_finish(&publisher, &done);
        if (r == 0 && done != n) {
            snprintf(err_text, sizeof err_text, "the publisher sent %lld of %lld",
                     (long long)done, (long long)n);
            r = -1;
        }
    }
    helper_kill(&publisher);
    if (r == 0) r = check_counted(nc, sub, &counter, 0);
    if (sub) natsSubscription_Destroy(sub);
    if (nc) natsConnection_Destroy(nc);
    counter_destroy(&counter);
    if (c->rate > 0) {
        snprintf(o->note, sizeof o->note, "publisher process paced at %lld/s",
                 (long long)c->rate);
    }
    o->msgs = n;
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

/* Nearest rank over every sample; natsy-bench and the async-nats peer use an HDR
 * histogram (measure::Latencies, 3 significant digits), which agrees within 0.1%. */
static double rank(const double *sorted, int64_t n, int64_t permille) {
    int64_t r = (permille * n + 999) / 1000;
    if (r < 1) r = 1;
    if (r > n) r = n;
    return sorted[r - 1];
}

/* req: flat out, the responder is a second connection in this process; with --rate,
 * natsy-bench's responder process answers instead and each request waits for its slot. */
static int bench_req(const Config *c, const char *payload, int64_t n, Outcome *o) {
    char subject[128];
    unique_subject(subject, sizeof subject, "req");
    natsConnection *responder = NULL, *client = NULL;
    natsSubscription *sub = NULL;
    Helper helper = {0};
    double *samples = calloc((size_t)n, sizeof *samples);
    int r = samples ? 0 : fail_text("out of memory");
    natsStatus s = NATS_OK;
    if (r == 0 && c->rate > 0) {
        const char *args[] = {"_responder", "--url", c->url, "--subject", subject, NULL};
        r = helper_start(&helper, "responder", args);
    } else if (r == 0) {
        s = connect_to(&responder, c->url, true);
        if (s == NATS_OK) s = natsConnection_Subscribe(&sub, responder, subject, on_request,
                                                       NULL);
        if (s == NATS_OK) s = natsConnection_FlushTimeout(responder, FLUSH_TIMEOUT_MS);
        if (s != NATS_OK) r = fail("setup", s);
    }
    if (r == 0) {
        s = connect_to(&client, c->url, false);
        if (s != NATS_OK) r = fail("connect", s);
    }
    for (int i = 0; i < REQ_WARM_UP && r == 0; i++) {
        natsMsg *reply = NULL;
        s = natsConnection_Request(&reply, client, subject, payload, c->size,
                                   REQUEST_TIMEOUT_MS);
        if (s != NATS_OK) r = fail("warm-up request", s);
        natsMsg_Destroy(reply);
    }
    Pacer pacer = {0, 1, 0, 0};
    if (r == 0) {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        pacer_init(&pacer, c->rate > 0 ? c->rate : 1);
        for (int64_t i = 0; i < n && r == 0; i++) {
            natsMsg *reply = NULL;
            if (c->rate > 0) pacer_wait(&pacer, i);
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
    if (helper.pid > 0) {
        int64_t served = 0;
        int f = helper_finish(&helper, &served);
        if (r == 0 && f != 0) r = -1;
        if (r == 0 && served != REQ_WARM_UP + n) {
            snprintf(err_text, sizeof err_text, "the responder answered %lld of %lld requests",
                     (long long)served, (long long)(REQ_WARM_UP + n));
            r = -1;
        }
    }
    helper_kill(&helper);
    if (r == 0 && c->rate > 0) {
        snprintf(o->note, sizeof o->note,
                 "paced at %lld/s; %lld started more than 1/%lld s late, the latest by %.0f "
                 "us; responder in its own process",
                 (long long)c->rate, (long long)pacer.late, (long long)c->rate,
                 pacer.max_lag_s * 1e6);
    }
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
    if (c->rate > 0) printf(",\"rate\":%lld", (long long)c->rate);
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
    if (o->note[0]) {
        printf(",\"note\":");
        json_string(o->note);
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
    fprintf(stderr, "usage: natsc-bench pub|sub|pubsub|fanout|req --url URL [--size N] "
                    "[--msgs N] [--subs N] [--reps N] [--rate N (sub, req)] [--json] "
                    "[--no-progress]\n");
    return 2;
}

int main(int argc, char **argv) {
    Config c = {NULL, NULL, 128, 0, 4, 1, 0};
    int rate_given = 0;
    /* A helper process that dies must fail the run, not kill this one. */
    signal(SIGPIPE, SIG_IGN);
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
        else if (strcmp(a, "--rate") == 0) c.rate = parse_number(v, 1000), rate_given = 1;
        else return usage();
    }
    if (!c.scenario || !c.url || c.size < 0 || c.msgs < 0 || c.subs < 1 || c.reps < 1) {
        return usage();
    }
    if (rate_given && (c.rate < 1 || (strcmp(c.scenario, "sub") != 0 &&
                                      strcmp(c.scenario, "req") != 0))) {
        fprintf(stderr, "--rate N (at least 1) applies to sub and req only\n");
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
        else if (strcmp(c.scenario, "sub") == 0) r = bench_sub(&c, n, &o);
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
