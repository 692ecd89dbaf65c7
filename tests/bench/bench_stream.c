/*
 * bench_stream.c: throughput of the SSE and NDJSON parsers.
 *
 * A model reply arrives at a few hundred tokens a second, so the parsers
 * are never the bottleneck for one stream; what matters is that they stay
 * cheap when many streams run at once on the loop's thread and when the
 * network hands over tiny reads. This builds two realistic streams of about
 * 10 MB each and feeds them through the parsers:
 *
 *   openai-sse  chat.completion.chunk events as OpenAI sends them,
 *               "data: {...}\n\n", ending with "data: [DONE]";
 *   ollama-ndjson  /api/generate lines {"model":..,"response":..,"done":..}
 *               ending with the done line and its counters.
 *
 * Each is fed in 16 KB chunks (a typical socket read) and in 7-byte chunks
 * (a pathological network), REPS times; the callback counts events and
 * bytes so the work cannot be skipped, and the counts are checked against
 * what was generated. Prints one line per stream and chunk size: median,
 * slowest and fastest MB/s (MB = 10^6 bytes).
 *
 * Usage: bench_stream [target megabytes]
 */
#include "chorus/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REPS = 7 };

typedef struct counter {
  size_t events;
  size_t bytes;
  unsigned checksum;
} counter;

static int count_event(void *userdata, const char *event, const char *data,
                       size_t len) {
  counter *c = userdata;
  (void)event;
  c->events++;
  c->bytes += len;
  c->checksum += (unsigned char)data[len / 2];
  return 0;
}

static int count_line(void *userdata, const char *line, size_t len) {
  counter *c = userdata;
  c->events++;
  c->bytes += len;
  c->checksum += (unsigned char)line[len / 2];
  return 0;
}

/* Token texts as a code model emits them: short pieces with JSON escapes. */
static const char *const tokens[] = {
    "def",   " compute", "_total", "(",     "items",  ")",      ":\\n",
    "    ",  "return",   " sum",   "(item", ".price", " for",   " item",
    " in",   " items",   ")\\n",   "\\n",   "    #",  " apply", " the",
    " \\\"", "discount", "\\\"",   " rate", " =",     " 0",     ".15",
};

static char *make_sse(size_t target, size_t *len, size_t *events) {
  ch_buf b;
  ch_buf_init(&b, target + (1 << 20));
  size_t n = 0;
  for(unsigned i = 0; b.len < target; i++) {
    ch_status s = ch_buf_appendf(
        &b,
        "data: {\"id\":\"chatcmpl-AbC123xyz789\",\"object\":\"chat.completion."
        "chunk\",\"created\":1732800000,\"model\":\"gpt-4o-mini-2024-07-18\","
        "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":"
        "null}]}\n\n",
        tokens[i % (sizeof(tokens) / sizeof(tokens[0]))]);
    if(s) break;
    n++;
  }
  ch_buf_appendf(&b, "data: {\"id\":\"chatcmpl-AbC123xyz789\",\"choices\":[{"
                     "\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
                     "\n\ndata: [DONE]\n\n");
  *events = n + 2;
  return ch_buf_detach(&b, len);
}

static char *make_ndjson(size_t target, size_t *len, size_t *lines) {
  ch_buf b;
  ch_buf_init(&b, target + (1 << 20));
  size_t n = 0;
  for(unsigned i = 0; b.len < target; i++) {
    ch_status s = ch_buf_appendf(
        &b,
        "{\"model\":\"qwen2.5-coder:7b\",\"created_at\":\"2024-11-28T20:"
        "%02u:%02u.%06uZ\",\"response\":\"%s\",\"done\":false}\n",
        (i / 60000) % 60, (i / 1000) % 60, (i * 7919u) % 1000000u,
        tokens[i % (sizeof(tokens) / sizeof(tokens[0]))]);
    if(s) break;
    n++;
  }
  ch_buf_appendf(&b,
                 "{\"model\":\"qwen2.5-coder:7b\",\"created_at\":\"2024-11-28T"
                 "21:00:00.000000Z\",\"response\":\"\",\"done\":true,"
                 "\"done_reason\":\"stop\",\"context\":[1,2,3],"
                 "\"total_duration\":5043500667,\"load_duration\":5025959,"
                 "\"prompt_eval_count\":26,\"prompt_eval_duration\":"
                 "325953000,\"eval_count\":%zu,\"eval_duration\":"
                 "4709213000}\n",
                 n);
  *lines = n + 1;
  return ch_buf_detach(&b, len);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Feeds the whole stream once in `chunk`-byte pieces; returns MB/s, or a
 * negative number when the parser disagreed with the generator. */
static double run_once(int sse, const char *data, size_t len, size_t chunk,
                       size_t want_events) {
  counter c = {0, 0, 0};
  ch_sse p;
  ch_ndjson q;
  if(sse)
    ch_sse_init(&p, 1 << 20, count_event, &c);
  else
    ch_ndjson_init(&q, 1 << 20, count_line, &c);
  uint64_t t0 = ch_now_ns();
  ch_status s = CH_OK;
  for(size_t at = 0; at < len && !s; at += chunk) {
    size_t n = len - at < chunk ? len - at : chunk;
    s = sse ? ch_sse_feed(&p, data + at, n) : ch_ndjson_feed(&q, data + at, n);
  }
  if(!s) s = sse ? ch_sse_finish(&p) : ch_ndjson_finish(&q);
  uint64_t t1 = ch_now_ns();
  if(sse)
    ch_sse_release(&p);
  else
    ch_ndjson_release(&q);
  if(s || c.events != want_events) {
    fprintf(stderr, "bench_stream: %s parser: status %s, %zu events of %zu\n",
            sse ? "sse" : "ndjson", ch_strerror(s), c.events, want_events);
    return -1;
  }
  double secs = (double)(t1 - t0) / 1e9;
  return (double)len / 1e6 / (secs > 0 ? secs : 1e-9);
}

static int bench(const char *name, int sse, const char *data, size_t len,
                 size_t chunk, size_t events) {
  double mbs[REPS];
  for(int r = 0; r < REPS; r++) {
    mbs[r] = run_once(sse, data, len, chunk, events);
    if(mbs[r] < 0) return 1;
  }
  qsort(mbs, REPS, sizeof(double), cmp_double);
  printf("%-14s %6zu-byte chunks  %8.1f MB/s median  (%.1f .. %.1f; %.1f MB, "
         "%zu events, %d runs)\n",
         name, chunk, mbs[REPS / 2], mbs[0], mbs[REPS - 1], (double)len / 1e6,
         events, REPS);
  return 0;
}

int main(int argc, char **argv) {
  size_t megabytes = 10;
  if(argc > 1) {
    char *end;
    unsigned long v = strtoul(argv[1], &end, 10);
    if(*end || v == 0 || v > 1000) {
      fprintf(stderr,
              "bench_stream: target megabytes must be 1..1000, not "
              "\"%s\"\n",
              argv[1]);
      return 2;
    }
    megabytes = v;
  }
  size_t target = megabytes * 1000 * 1000;
  size_t sse_len, sse_events, nd_len, nd_lines;
  char *sse = make_sse(target, &sse_len, &sse_events);
  char *nd = make_ndjson(target, &nd_len, &nd_lines);
  int failed = 0;
  failed |= bench("openai-sse", 1, sse, sse_len, 16384, sse_events);
  failed |= bench("openai-sse", 1, sse, sse_len, 7, sse_events);
  failed |= bench("ollama-ndjson", 0, nd, nd_len, 16384, nd_lines);
  failed |= bench("ollama-ndjson", 0, nd, nd_len, 7, nd_lines);
  ch_free(sse);
  ch_free(nd);
  return failed;
}
