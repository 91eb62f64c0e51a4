// sbx-deflate: gzip on several cores with libdeflate, for the daemon's OCI layer exports.
//
// Reads stdin, cuts it into fixed-size blocks, compresses each block on one of N threads as a
// complete gzip member (libdeflate cannot sync-flush, so blocks cannot share one deflate stream),
// and writes the members to stdout in input order. Concatenated gzip members are one gzip stream
// to every reader (RFC 1952 2.2: gunzip, Go's compress/gzip, Node's zlib, pigz). The output is a
// function of the input, the level, the block size and libdeflate's version only (not of the
// thread count), so the daemon's blob digests are stable; `--version` names what the bytes
// depend on. An empty input gives one empty member: still a valid gzip file.
//
// The input is derived from sandbox files (a layer's tar): it is only compressed, and memory is
// fixed up front (2N+1 slots of one block and its compressed bound), whatever the input.
// Exit codes: 0 done, 1 usage, 2 reading stdin failed, 3 writing stdout failed, 4 out of memory.
#define _GNU_SOURCE
#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Bump when the framing changes (how blocks become members); the daemon keys its blob memo on it.
#define FRAMING "1"
#define MAX_THREADS 64

enum state { FREE, FILLED, DONE };

struct slot {
  unsigned char *in, *out;
  size_t n, outn;
  enum state state;
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct slot *slots;
  size_t nslots, block, bound;
  int level;
  // Blocks read, taken by a compressor, written; eof once the last block is read.
  uint64_t filled, taken, written;
  int eof;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void die(int code, const char *what) {
  // One line for the daemon's error message; the process ends without flushing anything else.
  if (errno)
    fprintf(stderr, "sbx-deflate: %s: %s\n", what, strerror(errno));
  else
    fprintf(stderr, "sbx-deflate: %s\n", what);
  _exit(code);
}

static void *compressor(void *arg) {
  (void)arg;
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(q.level);
  if (!c) die(4, "cannot allocate a compressor");
  pthread_mutex_lock(&q.mu);
  for (;;) {
    while (q.taken == q.filled && !q.eof) pthread_cond_wait(&q.cv, &q.mu);
    if (q.taken == q.filled) break; // eof and nothing left
    struct slot *s = &q.slots[q.taken % q.nslots];
    q.taken++;
    pthread_mutex_unlock(&q.mu);
    size_t n = libdeflate_gzip_compress(c, s->in, s->n, s->out, q.bound);
    // The output buffer holds the library's own bound: a zero here is a broken library.
    if (n == 0) die(4, "the compressed block does not fit its bound");
    pthread_mutex_lock(&q.mu);
    s->outn = n;
    s->state = DONE;
    pthread_cond_broadcast(&q.cv);
  }
  pthread_mutex_unlock(&q.mu);
  libdeflate_free_compressor(c);
  return NULL;
}

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&q.mu);
  for (;;) {
    struct slot *s = &q.slots[q.written % q.nslots];
    while (!(q.written < q.filled && s->state == DONE) && !(q.eof && q.written == q.filled))
      pthread_cond_wait(&q.cv, &q.mu);
    if (q.written == q.filled) break;
    pthread_mutex_unlock(&q.mu);
    for (size_t at = 0; at < s->outn;) {
      ssize_t w = write(STDOUT_FILENO, s->out + at, s->outn - at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) die(3, "cannot write the output");
      at += (size_t)w;
    }
    pthread_mutex_lock(&q.mu);
    s->state = FREE;
    q.written++;
    pthread_cond_broadcast(&q.cv);
  }
  pthread_mutex_unlock(&q.mu);
  return NULL;
}

/** Fills `buf` with up to `cap` bytes of stdin; fewer only at the end of the input. */
static size_t read_block(unsigned char *buf, size_t cap) {
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die(2, "cannot read the input");
    if (r == 0) break;
    n += (size_t)r;
  }
  return n;
}

static long number(const char *s, long lo, long hi, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    errno = 0;
    fprintf(stderr, "sbx-deflate: %s must be a number from %ld to %ld\n", what, lo, hi);
    _exit(1);
  }
  return v;
}

int main(int argc, char **argv) {
  long threads = sysconf(_SC_NPROCESSORS_ONLN), kib = 1024, level = 1;
  int opt;
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("sbx-deflate framing " FRAMING " libdeflate " LIBDEFLATE_VERSION_STRING "\n");
    return 0;
  }
  while ((opt = getopt(argc, argv, "t:b:l:")) != -1) {
    switch (opt) {
      case 't': threads = number(optarg, 1, MAX_THREADS, "-t (threads)"); break;
      case 'b': kib = number(optarg, 64, 16384, "-b (block KiB)"); break;
      case 'l': level = number(optarg, 0, 12, "-l (level)"); break;
      default:
        fprintf(stderr, "usage: sbx-deflate [-t threads] [-b block-KiB] [-l level] < in > out.gz | --version\n");
        return 1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "sbx-deflate: unexpected argument %s\n", argv[optind]);
    return 1;
  }
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  // A dead reader is a write error (exit 3), not a silent SIGPIPE.
  signal(SIGPIPE, SIG_IGN);

  q.level = (int)level;
  q.block = (size_t)kib << 10;
  struct libdeflate_compressor *probe = libdeflate_alloc_compressor(q.level);
  if (!probe) die(4, "cannot allocate a compressor");
  q.bound = libdeflate_gzip_compress_bound(probe, q.block);
  libdeflate_free_compressor(probe);
  // One slot per thread compressing, as many finished and waiting for the writer, one being read.
  q.nslots = 2 * (size_t)threads + 1;
  q.slots = calloc(q.nslots, sizeof *q.slots);
  if (!q.slots) die(4, "out of memory");
  for (size_t i = 0; i < q.nslots; i++) {
    q.slots[i].in = malloc(q.block);
    q.slots[i].out = malloc(q.bound);
    if (!q.slots[i].in || !q.slots[i].out) die(4, "out of memory");
  }

  pthread_t workers[MAX_THREADS], out;
  for (long i = 0; i < threads; i++)
    if ((errno = pthread_create(&workers[i], NULL, compressor, NULL))) die(4, "cannot start a thread");
  if ((errno = pthread_create(&out, NULL, writer, NULL))) die(4, "cannot start a thread");

  for (;;) {
    pthread_mutex_lock(&q.mu);
    struct slot *s = &q.slots[q.filled % q.nslots];
    while (s->state != FREE) pthread_cond_wait(&q.cv, &q.mu);
    pthread_mutex_unlock(&q.mu);
    size_t n = read_block(s->in, q.block);
    pthread_mutex_lock(&q.mu);
    // A short block is the last one; an empty one is only sent when it is the whole input.
    if (n > 0 || q.filled == 0) {
      s->n = n;
      s->state = FILLED;
      q.filled++;
    }
    if (n < q.block) q.eof = 1;
    pthread_cond_broadcast(&q.cv);
    int eof = q.eof;
    pthread_mutex_unlock(&q.mu);
    if (eof) break;
  }
  for (long i = 0; i < threads; i++) pthread_join(workers[i], NULL);
  pthread_join(out, NULL);
  return 0;
}
