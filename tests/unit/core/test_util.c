/* Tests for core/src/util.c: status strings, the bounded buffer, string
 * copies, the hash map (against a plain array as reference), logging and
 * UTF-8 decoding. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "chorus/util.h"

/* A small deterministic generator (xorshift64*), so every run sees the same
 * keys and operations. */
static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* ---- ch_strerror --------------------------------------------------------- */

static void test_strerror_every_status(void **state) {
  (void)state;
  const char *seen[CH_ERR_STATE + 1];
  for(int s = CH_OK; s <= CH_ERR_STATE; s++) {
    const char *msg = ch_strerror((ch_status)s);
    assert_non_null(msg);
    assert_true(msg[0] != 0);
    seen[s] = msg;
    for(int t = CH_OK; t < s; t++)
      assert_string_not_equal(seen[t], msg);
  }
  /* A value outside the enum still gets a string. */
  assert_non_null(ch_strerror((ch_status)1000));
}

/* ---- ch_buf -------------------------------------------------------------- */

/* The invariants every buffer keeps. */
static void check_buf(const ch_buf *b) {
  assert_true(b->len <= b->cap || (b->data == NULL && b->len == 0));
  assert_true(b->cap <= b->max);
  if(b->data) assert_int_equal(b->data[b->len], 0);
}

static void test_buf_append(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(ch_buf_append(&b, "abc", 3), CH_OK);
  assert_int_equal(ch_buf_append_char(&b, '-'), CH_OK);
  assert_int_equal(ch_buf_append_str(&b, "def"), CH_OK);
  assert_int_equal(ch_buf_append(&b, "ignored", 0), CH_OK);
  assert_int_equal(b.len, 7);
  assert_string_equal(b.data, "abc-def");
  check_buf(&b);

  /* Bytes are copied as they are, NUL included. */
  assert_int_equal(ch_buf_append(&b, "x\0y", 3), CH_OK);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, "abc-defx\0y", 11);

  /* Growth through many reallocations keeps the contents. */
  ch_buf_reset(&b);
  for(int i = 0; i < 10000; i++)
    assert_int_equal(ch_buf_append_char(&b, (char)('a' + i % 26)), CH_OK);
  assert_int_equal(b.len, 10000);
  for(int i = 0; i < 10000; i++)
    assert_int_equal(b.data[i], (char)('a' + i % 26));
  check_buf(&b);
  ch_buf_release(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.max, 1 << 20);
  /* Reusable after release. */
  assert_int_equal(ch_buf_append_str(&b, "again"), CH_OK);
  assert_string_equal(b.data, "again");
  ch_buf_release(&b);
}

static void test_buf_appendf(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1 << 20);
  assert_int_equal(ch_buf_appendf(&b, "%d-%s", 42, "x"), CH_OK);
  assert_string_equal(b.data, "42-x");

  /* Outputs around and well past the 256-byte stack buffer. */
  static const size_t sizes[] = {254, 255, 256, 257, 1000, 5000};
  for(size_t k = 0; k < CH_ARRAY_LEN(sizes); k++) {
    size_t n = sizes[k];
    char *long_str = ch_malloc(n + 1);
    for(size_t i = 0; i < n; i++)
      long_str[i] = (char)('A' + i % 23);
    long_str[n] = 0;
    ch_buf_reset(&b);
    assert_int_equal(ch_buf_append_str(&b, "<"), CH_OK);
    assert_int_equal(ch_buf_appendf(&b, "%s|%zu", long_str, n), CH_OK);
    char *expect = ch_strdupf("<%s|%zu", long_str, n);
    assert_int_equal(b.len, strlen(expect));
    assert_string_equal(b.data, expect);
    check_buf(&b);
    /* And something after it lands right behind. */
    assert_int_equal(ch_buf_appendf(&b, "%c", '>'), CH_OK);
    assert_int_equal(b.data[b.len - 1], '>');
    assert_int_equal(b.len, strlen(expect) + 1);
    assert_int_equal(strlen(b.data), b.len);
    ch_free(expect);
    ch_free(long_str);
  }
  ch_buf_release(&b);
}

static void test_buf_max(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 10);
  assert_int_equal(ch_buf_append(&b, "12345678", 8), CH_OK);
  assert_int_equal(ch_buf_append(&b, "abc", 3), CH_ERR_TOO_LARGE);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  assert_int_equal(ch_buf_appendf(&b, "%s", "abc"), CH_ERR_TOO_LARGE);
  assert_string_equal(b.data, "12345678");
  /* A long printf goes the other way through appendf; same refusal. */
  char big[400];
  memset(big, 'z', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  assert_int_equal(ch_buf_appendf(&b, "%s", big), CH_ERR_TOO_LARGE);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  assert_int_equal(ch_buf_reserve(&b, 3), CH_ERR_TOO_LARGE);
  assert_int_equal(ch_buf_reserve(&b, SIZE_MAX), CH_ERR_TOO_LARGE);
  check_buf(&b);
  /* Exactly up to the maximum is fine. */
  assert_int_equal(ch_buf_append(&b, "90", 2), CH_OK);
  assert_int_equal(b.len, 10);
  assert_string_equal(b.data, "1234567890");
  assert_int_equal(ch_buf_append_char(&b, 'x'), CH_ERR_TOO_LARGE);
  assert_int_equal(ch_buf_append_str(&b, "x"), CH_ERR_TOO_LARGE);
  assert_int_equal(ch_buf_append(&b, "", 0), CH_OK);
  assert_string_equal(b.data, "1234567890");
  check_buf(&b);
  /* Consuming makes room again. */
  ch_buf_consume(&b, 4);
  assert_int_equal(ch_buf_append_str(&b, "abcd"), CH_OK);
  assert_string_equal(b.data, "567890abcd");
  ch_buf_release(&b);

  /* A long appendf into a buffer whose cap would allow a partial write. */
  ch_buf_init(&b, 300);
  assert_int_equal(ch_buf_append_str(&b, "keep"), CH_OK);
  assert_int_equal(ch_buf_appendf(&b, "%s", big), CH_ERR_TOO_LARGE);
  assert_int_equal(b.len, 4);
  assert_string_equal(b.data, "keep");
  check_buf(&b);
  ch_buf_release(&b);

  /* max 0: nothing fits. */
  ch_buf_init(&b, 0);
  assert_int_equal(ch_buf_append_char(&b, 'x'), CH_ERR_TOO_LARGE);
  assert_int_equal(b.len, 0);
  ch_buf_release(&b);
}

static void test_buf_consume(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1024);
  ch_buf_consume(&b, 0); /* empty, never allocated */
  assert_int_equal(b.len, 0);
  assert_int_equal(ch_buf_append_str(&b, "hello world"), CH_OK);
  ch_buf_consume(&b, 0);
  assert_string_equal(b.data, "hello world");
  ch_buf_consume(&b, 6);
  assert_int_equal(b.len, 5);
  assert_string_equal(b.data, "world");
  check_buf(&b);
  ch_buf_consume(&b, 5);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  assert_int_equal(ch_buf_append_str(&b, "abc"), CH_OK);
  ch_buf_consume(&b, 2);
  assert_string_equal(b.data, "c");
  ch_buf_release(&b);
}

static void test_buf_detach(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1024);
  size_t len = 99;
  char *empty = ch_buf_detach(&b, &len);
  assert_non_null(empty);
  assert_int_equal(len, 0);
  assert_string_equal(empty, "");
  ch_free(empty);

  assert_int_equal(ch_buf_append_str(&b, "owned"), CH_OK);
  char *p = ch_buf_detach(&b, &len);
  assert_int_equal(len, 5);
  assert_string_equal(p, "owned");
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_int_equal(b.max, 1024);
  /* The buffer starts over and does not share storage with p. */
  assert_int_equal(ch_buf_append_str(&b, "next"), CH_OK);
  assert_string_equal(b.data, "next");
  assert_string_equal(p, "owned");
  ch_free(p);
  p = ch_buf_detach(&b, NULL);
  assert_string_equal(p, "next");
  ch_free(p);
  ch_buf_release(&b);
}

static void test_buf_reset_reserve(void **state) {
  (void)state;
  ch_buf b;
  ch_buf_init(&b, 1 << 16);
  ch_buf_reset(&b); /* never allocated: fine */
  assert_int_equal(b.len, 0);

  assert_int_equal(ch_buf_reserve(&b, 1000), CH_OK);
  assert_non_null(b.data);
  assert_true(b.cap >= 1000);
  assert_int_equal(b.len, 0);
  check_buf(&b);
  /* Appending within the reservation does not move the storage. */
  char *before = b.data;
  size_t cap = b.cap;
  char chunk[100];
  memset(chunk, 'q', sizeof(chunk));
  for(int i = 0; i < 10; i++)
    assert_int_equal(ch_buf_append(&b, chunk, sizeof(chunk)), CH_OK);
  assert_ptr_equal(b.data, before);
  assert_int_equal(b.cap, cap);
  assert_int_equal(b.len, 1000);

  /* Reserve counts from len. */
  assert_int_equal(ch_buf_reserve(&b, 5000), CH_OK);
  assert_true(b.cap >= 6000);
  assert_int_equal(b.len, 1000);
  assert_int_equal(b.data[0], 'q');
  assert_int_equal(b.data[999], 'q');
  check_buf(&b);

  /* Reset keeps the storage and empties the string. */
  before = b.data;
  cap = b.cap;
  ch_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_ptr_equal(b.data, before);
  assert_int_equal(b.cap, cap);
  assert_string_equal(b.data, "");

  assert_int_equal(ch_buf_reserve(&b, (1 << 16) + 1), CH_ERR_TOO_LARGE);
  assert_int_equal(ch_buf_reserve(&b, 1 << 16), CH_OK);
  assert_true(b.cap <= b.max);
  ch_buf_release(&b);
}

/* ---- string copies ------------------------------------------------------- */

static void test_string_copies(void **state) {
  (void)state;
  char src[] = "hello";
  char *d = ch_strdup(src);
  assert_string_equal(d, "hello");
  assert_ptr_not_equal(d, src);
  src[0] = 'J';
  assert_string_equal(d, "hello");
  ch_free(d);

  d = ch_strdup("");
  assert_string_equal(d, "");
  ch_free(d);

  d = ch_strndup("hello", 3);
  assert_string_equal(d, "hel");
  ch_free(d);
  d = ch_strndup("hi", 10);
  assert_string_equal(d, "hi");
  ch_free(d);
  d = ch_strndup("hi", 0);
  assert_string_equal(d, "");
  ch_free(d);
  /* Not NUL-terminated input: strndup reads at most n bytes. */
  const char unterminated[3] = {'a', 'b', 'c'};
  d = ch_strndup(unterminated, sizeof(unterminated));
  assert_string_equal(d, "abc");
  ch_free(d);

  const unsigned char bytes[] = {1, 0, 2, 0xff};
  unsigned char *m = ch_memdup(bytes, sizeof(bytes));
  assert_memory_equal(m, bytes, sizeof(bytes));
  ch_free(m);
  m = ch_memdup(bytes, 0);
  assert_non_null(m);
  ch_free(m);

  d = ch_strdupf("%s=%d", "x", 7);
  assert_string_equal(d, "x=7");
  ch_free(d);
  d = ch_strdupf("%s", "");
  assert_string_equal(d, "");
  ch_free(d);
  char big[3000];
  memset(big, 'b', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  d = ch_strdupf("[%s]", big);
  assert_int_equal(strlen(d), sizeof(big) + 1);
  assert_int_equal(d[0], '[');
  assert_int_equal(d[sizeof(big)], ']');
  assert_int_equal(strspn(d + 1, "b"), sizeof(big) - 1);
  ch_free(d);

  void *z = ch_malloc(0);
  assert_non_null(z);
  ch_free(z);
  ch_free(NULL);
}

/* ---- ch_map -------------------------------------------------------------- */

/* Checks the structure of the table: len matches the occupied slots, every
 * hash is the key's, and every key is reachable from its home slot through
 * occupied slots only (what backward-shift deletion must preserve). */
static void check_map(const ch_map *m) {
  if(m->cap == 0) {
    assert_int_equal(m->len, 0);
    return;
  }
  assert_int_equal(m->cap & (m->cap - 1), 0);
  size_t mask = m->cap - 1, used = 0;
  for(size_t j = 0; j < m->cap; j++) {
    const ch_map_slot *s = &m->slots[j];
    if(!s->key) continue;
    used++;
    assert_true(s->hash == ch_hash_bytes(s->key, strlen(s->key)));
    for(size_t i = (size_t)s->hash & mask; i != j; i = (i + 1) & mask) {
      if(!m->slots[i].key)
        fail_msg("key %s at slot %zu is cut off from its home slot %zu by "
                 "the empty slot %zu",
                 s->key, j, (size_t)(s->hash & mask), i);
    }
  }
  assert_int_equal(used, m->len);
  assert_true(used < m->cap); /* an empty slot always ends a probe */
}

static int values[4];

static void test_map_basics(void **state) {
  (void)state;
  ch_map m;
  ch_map_init(&m);
  assert_null(ch_map_get(&m, "a"));
  assert_null(ch_map_remove(&m, "a"));
  size_t iter = 0;
  assert_false(ch_map_next(&m, &iter, NULL, NULL));

  char key[8] = "alpha";
  assert_null(ch_map_put(&m, key, &values[0]));
  strcpy(key, "XXXXX"); /* the map copied the key */
  assert_ptr_equal(ch_map_get(&m, "alpha"), &values[0]);
  assert_null(ch_map_get(&m, "XXXXX"));
  assert_null(ch_map_put(&m, "beta", &values[1]));
  assert_null(ch_map_put(&m, "", &values[2])); /* the empty key is a key */
  assert_int_equal(m.len, 3);
  /* Replacing returns the old value and keeps the count. */
  assert_ptr_equal(ch_map_put(&m, "alpha", &values[3]), &values[0]);
  assert_int_equal(m.len, 3);
  assert_ptr_equal(ch_map_get(&m, "alpha"), &values[3]);
  assert_ptr_equal(ch_map_get(&m, ""), &values[2]);
  assert_null(ch_map_get(&m, "alph"));
  assert_null(ch_map_get(&m, "alphaa"));
  check_map(&m);

  assert_ptr_equal(ch_map_remove(&m, "beta"), &values[1]);
  assert_null(ch_map_remove(&m, "beta"));
  assert_null(ch_map_get(&m, "beta"));
  assert_int_equal(m.len, 2);
  /* A NULL value is stored like any other. */
  assert_null(ch_map_put(&m, "nil", NULL));
  assert_int_equal(m.len, 3);
  check_map(&m);
  ch_map_release(&m, NULL);
  assert_int_equal(m.len, 0);
  assert_null(ch_map_get(&m, "alpha"));
  /* Reusable after release. */
  assert_null(ch_map_put(&m, "again", &values[0]));
  assert_ptr_equal(ch_map_get(&m, "again"), &values[0]);
  ch_map_release(&m, NULL);
}

static int freed_count;
static void count_free(void *p) {
  (void)p;
  freed_count++;
}

static void test_map_release_frees_values(void **state) {
  (void)state;
  ch_map m;
  ch_map_init(&m);
  char key[16];
  for(int i = 0; i < 100; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    ch_map_put(&m, key, &values[i % 4]);
  }
  ch_map_remove(&m, "k5");
  freed_count = 0;
  ch_map_release(&m, count_free);
  assert_int_equal(freed_count, 99);
  ch_map_release(&m, count_free); /* empty: nothing more */
  assert_int_equal(freed_count, 99);
}

#define NKEYS 10000

/* Compares the map with the reference: present[i] says whether key
 * "key-<i>" is in it, and expect[i] is then its value. */
static void check_against(const ch_map *m, const bool *present,
                          void *const *expect) {
  char key[32];
  size_t count = 0;
  for(size_t i = 0; i < NKEYS; i++) {
    snprintf(key, sizeof(key), "key-%zu", i);
    void *got = ch_map_get(m, key);
    if(present[i]) {
      count++;
      if(got != expect[i]) fail_msg("%s: wrong value", key);
    } else if(got) {
      fail_msg("%s: present after removal", key);
    }
  }
  assert_int_equal(m->len, count);

  /* Iteration visits every key exactly once, with its value. */
  unsigned char *visited = ch_calloc(NKEYS, 1);
  size_t iter = 0, n = 0;
  const char *k;
  void *v;
  while(ch_map_next(m, &iter, &k, &v)) {
    size_t i;
    assert_int_equal(sscanf(k, "key-%zu", &i), 1);
    assert_true(i < NKEYS);
    assert_true(present[i]);
    assert_ptr_equal(v, expect[i]);
    assert_int_equal(visited[i], 0);
    visited[i] = 1;
    n++;
  }
  assert_int_equal(n, count);
  assert_false(ch_map_next(m, &iter, &k, &v)); /* stays at the end */
  ch_free(visited);
}

static void test_map_random_against_reference(void **state) {
  (void)state;
  static char slots[NKEYS]; /* distinct addresses to use as values */
  bool *present = ch_calloc(NKEYS, sizeof(*present));
  void **expect = ch_calloc(NKEYS, sizeof(*expect));
  ch_map m;
  ch_map_init(&m);
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  char key[32];

  /* Insert all keys in random order, then churn: removals, reinsertions
   * and replacements, verifying the whole map at intervals. */
  for(int round = 0; round < 12; round++) {
    for(int op = 0; op < 10000; op++) {
      size_t i = (size_t)(rng_next(&seed) % NKEYS);
      snprintf(key, sizeof(key), "key-%zu", i);
      unsigned what = (unsigned)(rng_next(&seed) % 10);
      bool insert_phase = round == 0;
      if(insert_phase || what < 5) {
        void *value = &slots[(i + (size_t)op) % NKEYS];
        void *old = ch_map_put(&m, key, value);
        assert_ptr_equal(old, present[i] ? expect[i] : NULL);
        present[i] = true;
        expect[i] = value;
      } else if(what < 9) {
        void *old = ch_map_remove(&m, key);
        assert_ptr_equal(old, present[i] ? expect[i] : NULL);
        present[i] = false;
        expect[i] = NULL;
      } else {
        assert_ptr_equal(ch_map_get(&m, key), present[i] ? expect[i] : NULL);
      }
    }
    check_map(&m);
    check_against(&m, present, expect);
  }

  /* Remove everything, in a scattered order, then put it all back. */
  for(size_t n = 0; n < NKEYS; n++) {
    size_t i = (n * 7919) % NKEYS; /* 7919 is prime: a permutation */
    snprintf(key, sizeof(key), "key-%zu", i);
    assert_ptr_equal(ch_map_remove(&m, key), present[i] ? expect[i] : NULL);
    present[i] = false;
    if(n % 1000 == 0) check_map(&m);
  }
  assert_int_equal(m.len, 0);
  check_map(&m);
  for(size_t i = 0; i < NKEYS; i++) {
    snprintf(key, sizeof(key), "key-%zu", i);
    assert_null(ch_map_put(&m, key, &slots[i]));
    present[i] = true;
    expect[i] = &slots[i];
  }
  check_map(&m);
  check_against(&m, present, expect);
  ch_map_release(&m, NULL);
  ch_free(present);
  ch_free(expect);
}

/* Finds `count` keys "w<n>" whose home slot in a table of `cap` slots is
 * `home`. */
static void keys_with_home(size_t cap, size_t home, char (*out)[16],
                           size_t count) {
  size_t found = 0;
  for(unsigned n = 0; found < count; n++) {
    char k[16];
    snprintf(k, sizeof(k), "w%u", n);
    if((ch_hash_bytes(k, strlen(k)) & (cap - 1)) != home) continue;
    memcpy(out[found++], k, sizeof(k));
  }
}

static size_t slot_of(const ch_map *m, const char *key) {
  for(size_t i = 0; i < m->cap; i++)
    if(m->slots[i].key && strcmp(m->slots[i].key, key) == 0) return i;
  fail_msg("%s is not in the table", key);
  return SIZE_MAX;
}

/* A probe run that wraps around the end of the table: keys whose home is
 * the last slot spill into slots 0, 1, ..., where keys whose home is 0 or 1
 * also live. Removing any one of them must leave every other reachable. */
static void test_map_backward_shift_wraps(void **state) {
  (void)state;
  enum { CAP = 16 }; /* the first table; it grows past 12 keys */
  char k15[3][16], k14[1][16], k0[2][16], k1[1][16];
  keys_with_home(CAP, 15, k15, 3);
  keys_with_home(CAP, 14, k14, 1);
  keys_with_home(CAP, 0, k0, 2);
  keys_with_home(CAP, 1, k1, 1);
  /* Insertion order fixes the layout:
   *   14:k14[0] 15:k15[0] 0:k15[1] 1:k15[2] 2:k0[0] 3:k0[1] 4:k1[0] */
  const char *order[] = {k14[0], k15[0], k15[1], k15[2], k0[0], k0[1], k1[0]};
  const size_t expect_slot[] = {14, 15, 0, 1, 2, 3, 4};
  enum { N = CH_ARRAY_LEN(order) };

  for(size_t victim = 0; victim < N; victim++) {
    /* Then remove the rest too, each time starting from a different one,
     * so that holes open at every position of the run. */
    ch_map m;
    ch_map_init(&m);
    for(size_t i = 0; i < N; i++)
      ch_map_put(&m, order[i], (void *)order[i]);
    assert_int_equal(m.cap, CAP);
    for(size_t i = 0; i < N; i++)
      assert_int_equal(slot_of(&m, order[i]), expect_slot[i]);
    check_map(&m);

    bool gone[N] = {false};
    for(size_t step = 0; step < N; step++) {
      size_t r = (victim + step * 3) % N;
      while(gone[r])
        r = (r + 1) % N;
      assert_ptr_equal(ch_map_remove(&m, order[r]), (void *)order[r]);
      gone[r] = true;
      check_map(&m);
      for(size_t i = 0; i < N; i++) {
        void *got = ch_map_get(&m, order[i]);
        if(gone[i])
          assert_null(got);
        else if(got != order[i])
          fail_msg("after removing %s (victim %zu, step %zu), %s is lost",
                   order[r], victim, step, order[i]);
      }
    }
    assert_int_equal(m.len, 0);
    ch_map_release(&m, NULL);
  }

  /* The first removal in the run pulls the whole chain back by one. */
  ch_map m;
  ch_map_init(&m);
  for(size_t i = 0; i < N; i++)
    ch_map_put(&m, order[i], (void *)order[i]);
  ch_map_remove(&m, k15[0]);
  assert_int_equal(slot_of(&m, k15[1]), 15);
  assert_int_equal(slot_of(&m, k15[2]), 0);
  assert_int_equal(slot_of(&m, k0[0]), 1);
  assert_int_equal(slot_of(&m, k0[1]), 2);
  assert_int_equal(slot_of(&m, k1[0]), 3);
  assert_int_equal(slot_of(&m, k14[0]), 14);
  ch_map_release(&m, NULL);
}

/* ---- UTF-8 --------------------------------------------------------------- */

typedef struct utf8_case {
  const char *bytes;
  size_t n;
  uint32_t cp;
  size_t len;
} utf8_case;

#define U8(s, cp, len)                                                         \
  { s, sizeof(s) - 1, cp, len }

static const utf8_case utf8_good[] = {
    U8("A", 0x41, 1),
    U8("\x7f", 0x7F, 1),
    U8("\xc2\x80", 0x80, 2),
    U8("\xc2\xa9", 0xA9, 2),
    U8("\xdf\xbf", 0x7FF, 2),
    U8("\xe0\xa0\x80", 0x800, 3),
    U8("\xe2\x82\xac", 0x20AC, 3),
    U8("\xed\x9f\xbf", 0xD7FF, 3),
    U8("\xee\x80\x80", 0xE000, 3),
    U8("\xef\xbf\xbd", 0xFFFD, 3),
    U8("\xef\xbf\xbf", 0xFFFF, 3),
    U8("\xf0\x90\x80\x80", 0x10000, 4),
    U8("\xf0\x9f\x98\x80", 0x1F600, 4),
    U8("\xf4\x8f\xbf\xbf", 0x10FFFF, 4),
};

static const utf8_case utf8_bad[] = {
    /* overlong */
    U8("\xc0\x80", 0xFFFD, 1),
    U8("\xc1\xbf", 0xFFFD, 1),
    U8("\xe0\x80\x80", 0xFFFD, 1),
    U8("\xe0\x9f\xbf", 0xFFFD, 1),
    U8("\xf0\x80\x80\x80", 0xFFFD, 1),
    U8("\xf0\x8f\xbf\xbf", 0xFFFD, 1),
    /* surrogates */
    U8("\xed\xa0\x80", 0xFFFD, 1),
    U8("\xed\xbf\xbf", 0xFFFD, 1),
    /* past U+10FFFF */
    U8("\xf4\x90\x80\x80", 0xFFFD, 1),
    U8("\xf5\x80\x80\x80", 0xFFFD, 1),
    U8("\xf7\xbf\xbf\xbf", 0xFFFD, 1),
    U8("\xf8\x88\x80\x80\x80", 0xFFFD, 1),
    U8("\xfe", 0xFFFD, 1),
    U8("\xff", 0xFFFD, 1),
    /* lone continuation bytes */
    U8("\x80", 0xFFFD, 1),
    U8("\xbf", 0xFFFD, 1),
    U8("\x80\x80", 0xFFFD, 1),
    /* truncated sequences */
    U8("\xc2", 0xFFFD, 1),
    U8("\xe2\x82", 0xFFFD, 1),
    U8("\xf0\x9f\x98", 0xFFFD, 1),
    /* a continuation byte missing in the middle */
    U8("\xc2\x41", 0xFFFD, 1),
    U8("\xe2\x28\xa1", 0xFFFD, 1),
    U8("\xe2\x82\x28", 0xFFFD, 1),
    U8("\xf0\x9f\x98\x41", 0xFFFD, 1),
};

/* The text hash: resumable at any multiple of 8 bytes, and sensitive to
 * every byte, to the length and to where a byte is. */
static void test_hash_text(void **state) {
  (void)state;
  unsigned char text[300];
  for(size_t i = 0; i < sizeof(text); i++)
    text[i] = (unsigned char)(i * 37 + 11);
  for(size_t n = 0; n <= sizeof(text); n++) {
    uint64_t whole = ch_hash_text(text, n);
    for(size_t cut = 0; cut * 8 <= n; cut += 3) {
      uint64_t h = ch_hash_text_words(CH_HASH_TEXT_SEED, text, cut);
      size_t rest = (n - cut * 8) / 8;
      h = ch_hash_text_words(h, text + cut * 8, rest);
      size_t done = (cut + rest) * 8;
      assert_true(ch_hash_text_end(h, text + done, n - done, n) == whole);
    }
    if(n) {
      /* Any one byte changed changes the hash. */
      for(size_t i = 0; i < n; i += 7) {
        text[i] ^= 0x20;
        assert_true(ch_hash_text(text, n) != whole);
        text[i] ^= 0x20;
      }
    }
  }
  /* Trailing zero bytes count, and swapped words differ. */
  static const char zeros[16] = {0};
  assert_true(ch_hash_text(zeros, 3) != ch_hash_text(zeros, 4));
  assert_true(ch_hash_text(zeros, 8) != ch_hash_text(zeros, 16));
  assert_true(ch_hash_text("aaaaaaaabbbbbbbb", 16) !=
              ch_hash_text("bbbbbbbbaaaaaaaa", 16));
  assert_true(ch_hash_text("", 0) == ch_hash_text("", 0));
}

static void test_utf8_decode(void **state) {
  (void)state;
  uint32_t cp;
  for(size_t i = 0; i < CH_ARRAY_LEN(utf8_good); i++) {
    const utf8_case *c = &utf8_good[i];
    cp = 0;
    size_t len = ch_utf8_decode(c->bytes, c->n, &cp);
    if(len != c->len || cp != c->cp)
      fail_msg("good case %zu: got U+%04X length %zu, want U+%04X length %zu",
               i, (unsigned)cp, len, (unsigned)c->cp, c->len);
    /* Followed by more text, the same. */
    char with_tail[8] = {0};
    memcpy(with_tail, c->bytes, c->n);
    with_tail[c->n] = 'x';
    assert_int_equal(ch_utf8_decode(with_tail, c->n + 1, &cp), c->len);
    assert_int_equal(cp, c->cp);
  }
  for(size_t i = 0; i < CH_ARRAY_LEN(utf8_bad); i++) {
    const utf8_case *c = &utf8_bad[i];
    cp = 0;
    size_t len = ch_utf8_decode(c->bytes, c->n, &cp);
    if(len != 1 || cp != 0xFFFD)
      fail_msg("bad case %zu: got U+%04X length %zu, want U+FFFD length 1", i,
               (unsigned)cp, len);
  }
  /* NUL is an ordinary code point. */
  assert_int_equal(ch_utf8_decode("\0", 1, &cp), 1);
  assert_int_equal(cp, 0);
  /* n bounds the read: a valid sequence cut short by n is truncated. */
  const char euro[] = "\xe2\x82\xac";
  for(size_t n = 1; n < 3; n++) {
    assert_int_equal(ch_utf8_decode(euro, n, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
  }
  const char grin[] = "\xf0\x9f\x98\x80";
  for(size_t n = 1; n < 4; n++) {
    assert_int_equal(ch_utf8_decode(grin, n, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
  }
}

/* Decoding a whole string step by step: invalid bytes each take one step,
 * and decoding resumes at the next byte. */
static void test_utf8_decode_stream(void **state) {
  (void)state;
  const char s[] = "a\x80\xbf"
                   "b\xe2\x82"
                   "c\xc3\xa9\xed\xa0\x80"
                   "d";
  const uint32_t want[] = {'a', 0xFFFD, 0xFFFD, 'b',    0xFFFD, 0xFFFD,
                           'c', 0xE9,   0xFFFD, 0xFFFD, 0xFFFD, 'd'};
  size_t n = sizeof(s) - 1, i = 0, k = 0;
  while(i < n) {
    uint32_t cp;
    size_t len = ch_utf8_decode(s + i, n - i, &cp);
    assert_true(len >= 1 && len <= 4);
    assert_true(k < CH_ARRAY_LEN(want));
    assert_int_equal(cp, want[k]);
    k++;
    i += len;
  }
  assert_int_equal(i, n);
  assert_int_equal(k, CH_ARRAY_LEN(want));
}

static void test_utf8_valid(void **state) {
  (void)state;
  assert_true(ch_utf8_valid("", 0));
  assert_true(ch_utf8_valid("plain ascii", 11));
  assert_true(ch_utf8_valid("a\0b", 3));
  const char mixed[] =
      "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd";
  assert_true(ch_utf8_valid(mixed, sizeof(mixed) - 1));
  for(size_t i = 0; i < CH_ARRAY_LEN(utf8_good); i++)
    assert_true(ch_utf8_valid(utf8_good[i].bytes, utf8_good[i].n));
  for(size_t i = 0; i < CH_ARRAY_LEN(utf8_bad); i++) {
    if(ch_utf8_valid(utf8_bad[i].bytes, utf8_bad[i].n))
      fail_msg("bad case %zu accepted as valid", i);
    /* Also when surrounded by valid text. */
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "ok %s ok", utf8_bad[i].bytes);
    assert_false(ch_utf8_valid(buf, (size_t)len));
  }
  /* Cut mid-sequence by n. */
  assert_false(ch_utf8_valid(mixed, 2));
  assert_true(ch_utf8_valid(mixed, 3));
  assert_int_equal(ch_utf16_units(0x41), 1);
  assert_int_equal(ch_utf16_units(0xFFFF), 1);
  assert_int_equal(ch_utf16_units(0x10000), 2);
}

/* ---- logging ------------------------------------------------------------- */

static void test_log_level_names(void **state) {
  (void)state;
  static const char *const names[] = {"error", "warn", "info", "debug",
                                      "trace"};
  for(int l = CH_LOG_ERROR; l <= CH_LOG_TRACE; l++) {
    assert_string_equal(ch_log_level_name((ch_log_level)l), names[l]);
    ch_log_level out = (ch_log_level)-1;
    assert_int_equal(ch_log_level_parse(names[l], &out), CH_OK);
    assert_int_equal(out, l);
  }
  ch_log_level out = CH_LOG_ERROR;
  assert_int_equal(ch_log_level_parse("warning", &out), CH_OK);
  assert_int_equal(out, CH_LOG_WARN);
  static const char *const bad[] = {"",      "verbose", "inf",
                                    "infos", " info",   "info "};
  for(size_t i = 0; i < CH_ARRAY_LEN(bad); i++)
    assert_int_equal(ch_log_level_parse(bad[i], &out), CH_ERR_INVALID);
  assert_int_equal(ch_log_level_parse(NULL, &out), CH_ERR_INVALID);
  assert_non_null(ch_log_level_name((ch_log_level)99));
  assert_non_null(ch_log_level_name((ch_log_level)-1));
}

typedef struct log_record {
  ch_log_level level;
  char message[64];
} log_record;

typedef struct log_capture {
  log_record records[16];
  size_t count;
  size_t longest;
} log_capture;

static void capture_sink(ch_log_level level, const char *message,
                         void *userdata) {
  log_capture *c = userdata;
  size_t len = strlen(message);
  if(len > c->longest) c->longest = len;
  if(c->count < CH_ARRAY_LEN(c->records)) {
    c->records[c->count].level = level;
    snprintf(c->records[c->count].message, sizeof(c->records[c->count].message),
             "%s", message);
  }
  c->count++;
}

static void test_log_sink_and_level(void **state) {
  (void)state;
  log_capture cap;
  memset(&cap, 0, sizeof(cap));
  ch_log_level saved = ch_log_get_level();
  ch_log_set_sink(capture_sink, &cap);

  ch_log_set_level(CH_LOG_WARN);
  assert_int_equal(ch_log_get_level(), CH_LOG_WARN);
  assert_true(ch_log_enabled(CH_LOG_ERROR));
  assert_true(ch_log_enabled(CH_LOG_WARN));
  assert_false(ch_log_enabled(CH_LOG_INFO));
  ch_log(CH_LOG_ERROR, "e%d", 1);
  ch_log_warn("w%s", "2");
  ch_log_info("not this");
  ch_log_debug("nor this %d", 3);
  ch_log(CH_LOG_TRACE, "nor this");
  assert_int_equal(cap.count, 2);
  assert_int_equal(cap.records[0].level, CH_LOG_ERROR);
  assert_string_equal(cap.records[0].message, "e1");
  assert_int_equal(cap.records[1].level, CH_LOG_WARN);
  assert_string_equal(cap.records[1].message, "w2");

  ch_log_set_level(CH_LOG_TRACE);
  ch_log_debug("d");
  ch_log(CH_LOG_TRACE, "t");
  assert_int_equal(cap.count, 4);
  assert_int_equal(cap.records[2].level, CH_LOG_DEBUG);
  assert_int_equal(cap.records[3].level, CH_LOG_TRACE);
  assert_string_equal(cap.records[3].message, "t");

  ch_log_set_level(CH_LOG_ERROR);
  ch_log_warn("no");
  ch_log_error("yes");
  assert_int_equal(cap.count, 5);
  assert_string_equal(cap.records[4].message, "yes");

  /* A message longer than any fixed buffer arrives whole. */
  char big[5000];
  memset(big, 'm', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  ch_log_error("<%s>", big);
  assert_int_equal(cap.count, 6);
  assert_int_equal(cap.longest, sizeof(big) + 1);

  /* NULL restores the default sink: ours no longer hears anything. */
  ch_log_set_sink(NULL, NULL);
  ch_log_set_level(CH_LOG_INFO);
  ch_log_debug("to stderr if anywhere");
  assert_int_equal(cap.count, 6);
  ch_log_set_level(saved);
}

static void test_now_monotonic(void **state) {
  (void)state;
  uint64_t a = ch_now_ns();
  uint64_t b = ch_now_ns();
  assert_true(b >= a);
  assert_true(ch_now_ms() >= a / 1000000u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_every_status),
      cmocka_unit_test(test_buf_append),
      cmocka_unit_test(test_buf_appendf),
      cmocka_unit_test(test_buf_max),
      cmocka_unit_test(test_buf_consume),
      cmocka_unit_test(test_buf_detach),
      cmocka_unit_test(test_buf_reset_reserve),
      cmocka_unit_test(test_string_copies),
      cmocka_unit_test(test_map_basics),
      cmocka_unit_test(test_map_release_frees_values),
      cmocka_unit_test(test_map_random_against_reference),
      cmocka_unit_test(test_map_backward_shift_wraps),
      cmocka_unit_test(test_hash_text),
      cmocka_unit_test(test_utf8_decode),
      cmocka_unit_test(test_utf8_decode_stream),
      cmocka_unit_test(test_utf8_valid),
      cmocka_unit_test(test_log_level_names),
      cmocka_unit_test(test_log_sink_and_level),
      cmocka_unit_test(test_now_monotonic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
