/*
 * C harness for the idp_push ABI, linked against the static library and run against the real
 * registry that `make test` starts (tests/support/registry.sh). Run under valgrind by
 * tests/c/run.sh. Environment: IDP_TEST_REGISTRY, IDP_TEST_CA, IDP_TEST_WRONG_CA,
 * IDP_TEST_USERNAME, IDP_TEST_PASSWORD, IDP_TEST_LAYOUT (an OCI layout with tag v1),
 * IDP_TEST_EXPECTED_DIGEST (its manifest digest), IDP_TEST_EXPECTED_VERSION.
 *
 * Prints the references it pushed as "PUSHED ref@digest" lines for run.sh to verify with skopeo,
 * and ends with "N passed, N failed".
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idp_push.h"

static int passed, failed;

#define CHECK(cond, ...)                                      \
  do {                                                        \
    if (cond) {                                               \
      passed++;                                               \
    } else {                                                  \
      failed++;                                               \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
      fprintf(stderr, __VA_ARGS__);                           \
      fprintf(stderr, "\n");                                  \
    }                                                         \
  } while (0)

static const char *need(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') {
    fprintf(stderr, "%s is not set: run through `make test`\n", name);
    exit(2);
  }
  return v;
}

static const char *registry, *ca, *wrong_ca, *user, *password, *layout, *expected_digest, *fixtures;
static char source[4096];

static void base_options(idp_options *o) {
  idp_options_init(o);
  o->username = user;
  o->password = password;
  o->ca_file = ca;
}

static void dest(char *buf, size_t n, const char *repo, const char *tag) {
  snprintf(buf, n, "%s/c-harness-%d/%s:%s", registry, (int)getpid(), repo, tag);
}

/* Runs a push expected to fail with `want`; checks the message exists and omits `secret`. */
static void expect_push(idp_status want, const char *what, const char *src, const char *dst,
                        const idp_options *o, const char *secret) {
  char *err = NULL;
  idp_push_result r = {.struct_size = sizeof r};
  idp_status got = idp_push(src, dst, o, &r, &err);
  CHECK(got == want, "%s: status %u, want %u (%s)", what, got, want, err ? err : "no message");
  if (want != IDP_STATUS_OK) {
    CHECK(err != NULL && strlen(err) > 0, "%s: no error message", what);
    CHECK(err == NULL || strchr(err, '\n') == NULL, "%s: message has a newline", what);
    if (secret != NULL) CHECK(err == NULL || strstr(err, secret) == NULL, "%s: secret leaked", what);
  } else {
    CHECK(err == NULL, "%s: error message set on success", what);
  }
  idp_string_free(err);
}

static void test_version_and_messages(void) {
  const char *want = need("IDP_TEST_EXPECTED_VERSION");
  CHECK(strcmp(idp_version(), want) == 0, "version %s, want %s", idp_version(), want);
  CHECK(strcmp(idp_status_message(IDP_STATUS_OK), "ok") == 0, "status 0 message");
  CHECK(strcmp(idp_status_message(IDP_STATUS_UNAUTHORIZED), "unauthorized") == 0, "status 7");
  CHECK(strcmp(idp_status_message(99999), "unknown status") == 0, "unknown status");
  for (uint32_t s = 0; s <= IDP_STATUS_INTERNAL; s++)
    CHECK(strcmp(idp_status_message(s), "unknown status") != 0, "status %u has a message", s);
}

static void test_null_and_utf8(void) {
  char dst[512];
  dest(dst, sizeof dst, "nulls", "v1");
  idp_options o;
  base_options(&o);
  expect_push(IDP_STATUS_NULL_PARAMETER, "NULL source", NULL, dst, &o, NULL);
  expect_push(IDP_STATUS_NULL_PARAMETER, "NULL destination", source, NULL, &o, NULL);
  /* NULL error_message and result pointers are allowed. */
  CHECK(idp_push(NULL, dst, &o, NULL, NULL) == IDP_STATUS_NULL_PARAMETER, "NULL outputs");

  const char bad_utf8[] = {'o', 'c', 'i', ':', (char)0xff, (char)0xfe, 0};
  expect_push(IDP_STATUS_INVALID_UTF8, "bad UTF-8 source", bad_utf8, dst, &o, NULL);
  expect_push(IDP_STATUS_INVALID_UTF8, "bad UTF-8 destination", source, bad_utf8, &o, NULL);
  /* Each string option with bad UTF-8: the options are copied, one field changed. */
#define EXPECT_BAD_UTF8(field)                                                              \
  do {                                                                                      \
    idp_options with_bad = o;                                                               \
    with_bad.field = bad_utf8;                                                              \
    expect_push(IDP_STATUS_INVALID_UTF8, "bad UTF-8 " #field, source, dst, &with_bad, NULL); \
  } while (0)
  EXPECT_BAD_UTF8(username);
  EXPECT_BAD_UTF8(password);
  EXPECT_BAD_UTF8(ca_file);
  EXPECT_BAD_UTF8(identity_token);
  EXPECT_BAD_UTF8(platform);
#undef EXPECT_BAD_UTF8
  /* A password and an identity token at once: which one is meant? */
  idp_options bad = o;
  bad.identity_token = "harness-identity-token";
  expect_push(IDP_STATUS_INVALID_ARGUMENT, "password and identity token", source, dst, &bad,
              "harness-identity-token");

  /* Options not initialised with idp_options_init. */
  idp_options zero;
  memset(&zero, 0, sizeof zero);
  expect_push(IDP_STATUS_INVALID_ARGUMENT, "zeroed options", source, dst, &zero, NULL);
  /* A result struct without struct_size. */
  idp_push_result small = {.struct_size = 0};
  char *err = NULL;
  CHECK(idp_push(source, dst, &o, &small, &err) == IDP_STATUS_INVALID_ARGUMENT, "result size");
  idp_string_free(err);
  /* A password without a user name. */
  bad = o;
  bad.username = NULL;
  expect_push(IDP_STATUS_INVALID_ARGUMENT, "password without user", source, dst, &bad, password);

  CHECK(idp_login(NULL, &o, NULL, NULL) == IDP_STATUS_NULL_PARAMETER, "login NULL registry");
  err = NULL;
  CHECK(idp_login(bad_utf8, &o, NULL, &err) == IDP_STATUS_INVALID_UTF8, "login bad UTF-8");
  idp_string_free(err);

  /* Free functions and init accept NULL. */
  idp_string_free(NULL);
  idp_cancel_token_free(NULL);
  idp_cancel_token_cancel(NULL);
  idp_options_init(NULL);
}

static void test_bad_inputs(void) {
  char dst[512];
  dest(dst, sizeof dst, "bad", "v1");
  idp_options o;
  base_options(&o);
  expect_push(IDP_STATUS_INVALID_SOURCE, "missing layout", "oci:/nonexistent/layout:v1", dst, &o,
              NULL);
  char notag[4200];
  snprintf(notag, sizeof notag, "oci:%s:nosuchtag", layout);
  expect_push(IDP_STATUS_INVALID_SOURCE, "missing tag", notag, dst, &o, NULL);
  expect_push(IDP_STATUS_INVALID_REFERENCE, "no host", source, "giteaadmin/app:1", &o, NULL);
  expect_push(IDP_STATUS_INVALID_REFERENCE, "uppercase", source, "localhost:5000/Giteaadmin/app",
              &o, NULL);
  expect_push(IDP_STATUS_INVALID_REFERENCE, "bad port", source, "localhost:99999/app", &o, NULL);

  idp_options wrong = o;
  const char *secret = "harness-wrong-password-XYZ";
  wrong.password = secret;
  expect_push(IDP_STATUS_UNAUTHORIZED, "wrong password", source, dst, &wrong, secret);
  char *err = NULL;
  CHECK(idp_login(registry, &wrong, NULL, &err) == IDP_STATUS_UNAUTHORIZED, "login wrong pw");
  CHECK(err != NULL && strstr(err, secret) == NULL, "login message leaks nothing");
  idp_string_free(err);

  idp_options badca = o;
  badca.ca_file = wrong_ca;
  expect_push(IDP_STATUS_TLS, "wrong CA", source, dst, &badca, NULL);
  badca.ca_file = "/nonexistent/ca.pem";
  expect_push(IDP_STATUS_INVALID_ARGUMENT, "missing CA file", source, dst, &badca, NULL);
  /* NULL options: system roots only, which do not know the test CA. */
  expect_push(IDP_STATUS_TLS, "NULL options", source, dst, NULL, NULL);

  expect_push(IDP_STATUS_NETWORK, "unreachable", source, "127.0.0.1:1/x/y:1", &o, NULL);
}

/* idp_inspect: what a push would send, without pushing; who frees what. */
static void test_inspect(void) {
  idp_options o;
  idp_options_init(&o);
  idp_image_info info = {.struct_size = sizeof info};
  char *err = NULL;
  CHECK(idp_inspect(source, &o, &info, &err) == IDP_STATUS_OK, "inspect layout: %s",
        err ? err : "");
  CHECK(err == NULL, "inspect: error message set on success");
  CHECK(info.kind == IDP_SOURCE_KIND_LAYOUT, "layout kind %u", info.kind);
  CHECK(strcmp(info.digest, expected_digest) == 0, "inspect digest %s, want %s", info.digest,
        expected_digest);
  CHECK(info.media_type != NULL && strstr(info.media_type, "manifest") != NULL, "media type %s",
        info.media_type ? info.media_type : "NULL");
  /* JSON as stored (umoci ends it with a newline). */
  size_t end = info.manifest_len;
  while (end > 0 && info.manifest != NULL && (info.manifest[end - 1] == '\n' || info.manifest[end - 1] == ' '))
    end--;
  CHECK(info.manifest != NULL && end > 2 && info.manifest[0] == '{' && info.manifest[end - 1] == '}',
        "manifest bytes (%zu)", info.manifest_len);
  CHECK(info.ref_name != NULL && strcmp(info.ref_name, "v1") == 0, "ref name %s",
        info.ref_name ? info.ref_name : "NULL");
  CHECK(info.repo_tag == NULL, "a layout has no repo tag");
  idp_image_info_clear(&info);
  CHECK(info.manifest == NULL && info.manifest_len == 0 && info.media_type == NULL &&
            info.ref_name == NULL && info.repo_tag == NULL && info.digest[0] == 0,
        "clear resets the struct");
  idp_image_info_clear(&info); /* twice: harmless */
  idp_image_info_clear(NULL);

  /* A classic docker archive: its manifest is made during the push, so no digest yet. */
  char docker[4200];
  snprintf(docker, sizeof docker, "docker-archive:%s/archives/docker-skopeo.tar", fixtures);
  CHECK(idp_inspect(docker, NULL, &info, NULL) == IDP_STATUS_OK, "inspect docker archive");
  CHECK(info.kind == IDP_SOURCE_KIND_DOCKER_ARCHIVE, "docker kind %u", info.kind);
  CHECK(info.digest[0] == 0 && info.manifest == NULL && info.media_type == NULL,
        "classic docker archive: no manifest before the push");
  CHECK(info.repo_tag != NULL && strcmp(info.repo_tag, "app:v1") == 0, "repo tag %s",
        info.repo_tag ? info.repo_tag : "NULL");
  idp_image_info_clear(&info);
  /* ...unless its layers are kept as stored: then the manifest is known. */
  o.keep_uncompressed = true;
  CHECK(idp_inspect(docker, &o, &info, NULL) == IDP_STATUS_OK, "inspect, kept uncompressed");
  CHECK(strncmp(info.digest, "sha256:", 7) == 0 && info.manifest != NULL,
        "kept uncompressed: digest %s", info.digest);
  idp_image_info_clear(&info);
  o.keep_uncompressed = false;

  /* An index narrowed to one platform reports that platform's manifest. */
  char multi[4200];
  snprintf(multi, sizeof multi, "oci-archive:%s/archives/multi.tar:multi", fixtures);
  CHECK(idp_inspect(multi, NULL, &info, NULL) == IDP_STATUS_OK, "inspect multi");
  CHECK(info.kind == IDP_SOURCE_KIND_OCI_ARCHIVE, "multi kind %u", info.kind);
  char index_digest[IDP_DIGEST_CAPACITY];
  memcpy(index_digest, info.digest, sizeof index_digest);
  CHECK(info.media_type != NULL && strstr(info.media_type, "index") != NULL, "multi: an index");
  idp_image_info_clear(&info);
  o.platform = "linux/arm64";
  CHECK(idp_inspect(multi, &o, &info, NULL) == IDP_STATUS_OK, "inspect multi arm64");
  CHECK(strcmp(info.digest, index_digest) != 0 && info.media_type != NULL &&
            strstr(info.media_type, "index") == NULL,
        "arm64: its own manifest, %s", info.digest);
  idp_image_info_clear(&info);
  o.platform = NULL;

  /* Bad arguments: a status, a message, and nothing written (the struct keeps a sentinel). */
  idp_image_info sentinel;
  memset(&sentinel, 0xAB, sizeof sentinel);
  sentinel.struct_size = sizeof sentinel;
  memcpy(&info, &sentinel, sizeof info);
  CHECK(idp_inspect(NULL, &o, &info, NULL) == IDP_STATUS_NULL_PARAMETER, "inspect NULL source");
  CHECK(idp_inspect(source, &o, NULL, NULL) == IDP_STATUS_NULL_PARAMETER, "inspect NULL info");
  const char bad_utf8[] = {'o', 'c', 'i', ':', (char)0xff, 0};
  CHECK(idp_inspect(bad_utf8, &o, &info, NULL) == IDP_STATUS_INVALID_UTF8, "inspect bad UTF-8");
  err = NULL;
  CHECK(idp_inspect("oci:/nonexistent/layout:v1", &o, &info, &err) == IDP_STATUS_INVALID_SOURCE,
        "inspect missing layout");
  CHECK(err != NULL && strstr(err, "/nonexistent/layout") != NULL && strchr(err, '\n') == NULL,
        "inspect message: %s", err ? err : "NULL");
  idp_string_free(err);
  CHECK(memcmp(&info, &sentinel, sizeof info) == 0, "nothing written on failure");
  idp_image_info small;
  memcpy(&small, &sentinel, sizeof small);
  small.struct_size = sizeof small - 1;
  CHECK(idp_inspect(source, &o, &small, NULL) == IDP_STATUS_INVALID_ARGUMENT, "info size");
  CHECK(small.digest[0] == (char)0xAB && small.kind == sentinel.kind, "too small: untouched");
}

struct progress_sum {
  uint64_t done_bytes;
  int started, done, skipped, mounted, manifests;
};

static void count_progress(void *userdata, const idp_progress_event *e) {
  struct progress_sum *s = userdata;
  switch (e->kind) {
    case IDP_PROGRESS_KIND_BLOB_STARTED: s->started++; break;
    case IDP_PROGRESS_KIND_BLOB_DONE: s->done++; s->done_bytes += e->total; break;
    case IDP_PROGRESS_KIND_BLOB_SKIPPED: s->skipped++; break;
    case IDP_PROGRESS_KIND_BLOB_MOUNTED: s->mounted++; break;
    case IDP_PROGRESS_KIND_MANIFEST_PUSHED: s->manifests++; break;
    default: break;
  }
}

static void test_push_and_login(void) {
  char dst[512];
  dest(dst, sizeof dst, "app", "v1");
  idp_options o;
  base_options(&o);
  struct progress_sum sum = {0};
  o.progress = count_progress;
  o.progress_userdata = &sum;
  idp_push_result r = {.struct_size = sizeof r};
  char *err = NULL;
  idp_status s = idp_push(source, dst, &o, &r, &err);
  CHECK(s == IDP_STATUS_OK, "push: %u %s", s, err ? err : "");
  idp_string_free(err);
  if (s != IDP_STATUS_OK) return;
  CHECK(strcmp(r.digest, expected_digest) == 0, "digest %s, want %s", r.digest, expected_digest);
  /* Other tests may have pushed the same blobs elsewhere: they are then mounted, not sent. */
  CHECK(r.blobs_uploaded + r.blobs_mounted > 0 && r.blobs_present == 0, "counts %llu/%llu/%llu",
        (unsigned long long)r.blobs_uploaded, (unsigned long long)r.blobs_mounted,
        (unsigned long long)r.blobs_present);
  /* Sent may exceed the blob sizes by the one small blob that probes single-request uploads. */
  CHECK(sum.done_bytes <= r.bytes_sent && r.bytes_sent <= sum.done_bytes + 64 * 1024,
        "progress bytes %llu, sent %llu",
        (unsigned long long)sum.done_bytes, (unsigned long long)r.bytes_sent);
  CHECK(sum.started == (int)r.blobs_uploaded && sum.manifests == 1, "progress events");
  CHECK(sum.mounted == (int)r.blobs_mounted, "mount events %d", sum.mounted);
  printf("PUSHED %s@%s\n", dst, r.digest);

  /* Again: everything is there. */
  idp_push_result again = {.struct_size = sizeof again};
  CHECK(idp_push(source, dst, &o, &again, NULL) == IDP_STATUS_OK, "second push");
  CHECK(again.blobs_uploaded == 0 && again.bytes_sent == 0, "second push sends nothing");

  idp_login_result lr = {.struct_size = sizeof lr};
  err = NULL;
  CHECK(idp_login(registry, &o, &lr, &err) == IDP_STATUS_OK, "login: %s", err ? err : "");
  idp_string_free(err);
  CHECK(lr.scheme == IDP_AUTH_SCHEME_BASIC, "login scheme %u", lr.scheme);
  CHECK(lr.source == IDP_CREDENTIAL_SOURCE_EXPLICIT &&
            strcmp(lr.source_description, "explicit") == 0,
        "login source %u '%s'", lr.source, lr.source_description);
  CHECK(lr.saved_to[0] == '\0', "login saved to '%s' without save_credentials", lr.saved_to);

  /* Callers built before a result field existed pass a smaller struct_size: the call works and
     the bytes past their struct stay untouched. */
  idp_push_result old_push;
  memset(&old_push, 0xAB, sizeof old_push);
  old_push.struct_size = offsetof(idp_push_result, blobs_mounted);
  CHECK(idp_push(source, dst, &o, &old_push, NULL) == IDP_STATUS_OK, "push, older result");
  CHECK(strcmp(old_push.digest, expected_digest) == 0, "older result: digest");
  const unsigned char *mounted = (const unsigned char *)&old_push.blobs_mounted;
  CHECK(mounted[0] == 0xAB && mounted[sizeof old_push.blobs_mounted - 1] == 0xAB,
        "older push result: nothing written past its end");
  idp_login_result old_login;
  memset(&old_login, 0xAB, sizeof old_login);
  old_login.struct_size = offsetof(idp_login_result, source);
  CHECK(idp_login(registry, &o, &old_login, NULL) == IDP_STATUS_OK, "login, older result");
  CHECK(old_login.scheme == IDP_AUTH_SCHEME_BASIC, "older login result: scheme");
  const unsigned char *rest = (const unsigned char *)&old_login.source;
  CHECK(rest[0] == 0xAB && old_login.saved_to[0] == (char)0xAB,
        "older login result: nothing written past its end");
}

static void test_cancel(void) {
  char dst[512];
  dest(dst, sizeof dst, "cancelled", "v1");
  idp_options o;
  base_options(&o);
  idp_cancel_token *t = idp_cancel_token_new();
  CHECK(t != NULL, "token");
  idp_cancel_token_cancel(t);
  idp_cancel_token_cancel(t); /* twice is fine */
  o.cancel = t;
  expect_push(IDP_STATUS_CANCELLED, "cancelled push", source, dst, &o, NULL);
  idp_cancel_token_free(t);
  printf("ABSENT %s\n", dst);
}

struct worker {
  int index;
  idp_status status;
  idp_cancel_token *token;
};

static void *push_worker(void *arg) {
  struct worker *w = arg;
  char dst[512], repo[64];
  snprintf(repo, sizeof repo, "thread-%d", w->index);
  dest(dst, sizeof dst, repo, "v1");
  idp_options o;
  base_options(&o);
  o.cancel = w->token;
  char *err = NULL;
  w->status = idp_push(source, dst, &o, NULL, &err);
  idp_string_free(err);
  return NULL;
}

/* Sixteen threads at once; every other one with a token fired while it runs. */
static void test_threads(void) {
  enum { N = 16 };
  pthread_t threads[N];
  struct worker workers[N];
  for (int i = 0; i < N; i++) {
    workers[i] = (struct worker){.index = i, .token = idp_cancel_token_new()};
    if (workers[i].token == NULL || pthread_create(&threads[i], NULL, push_worker, &workers[i])) {
      fprintf(stderr, "FAIL: cannot start thread %d\n", i);
      exit(1);
    }
  }
  for (int i = 1; i < N; i += 2) idp_cancel_token_cancel(workers[i].token);
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    idp_cancel_token_free(workers[i].token);
    if (i % 2 == 0)
      CHECK(workers[i].status == IDP_STATUS_OK, "thread %d: %u", i, workers[i].status);
    else
      CHECK(workers[i].status == IDP_STATUS_OK || workers[i].status == IDP_STATUS_CANCELLED,
            "thread %d: %u", i, workers[i].status);
  }
}

#ifdef IDP_TEST_HOOKS
/* A panic inside the library comes back as IDP_STATUS_PANIC, and the library stays usable. */
static void test_panic(void) {
  char dst[512];
  dest(dst, sizeof dst, "panic", "v1");
  idp_options o;
  base_options(&o);
  char *err = NULL;
  idp_status s = idp_push("test-hook:panic", dst, &o, NULL, &err);
  CHECK(s == IDP_STATUS_PANIC, "forced panic: status %u", s);
  CHECK(err != NULL && strstr(err, "panic") != NULL, "panic message: %s", err ? err : "");
  idp_string_free(err);
  CHECK(idp_push(source, dst, &o, NULL, NULL) == IDP_STATUS_OK, "push after a panic");
}
#endif

int main(void) {
  registry = need("IDP_TEST_REGISTRY");
  ca = need("IDP_TEST_CA");
  wrong_ca = need("IDP_TEST_WRONG_CA");
  user = need("IDP_TEST_USERNAME");
  password = need("IDP_TEST_PASSWORD");
  layout = need("IDP_TEST_LAYOUT");
  fixtures = need("IDP_TEST_FIXTURES");
  expected_digest = need("IDP_TEST_EXPECTED_DIGEST");
  snprintf(source, sizeof source, "oci:%s:v1", layout);

  test_version_and_messages();
  test_null_and_utf8();
  test_bad_inputs();
  test_inspect();
  test_push_and_login();
  test_cancel();
  test_threads();
#ifdef IDP_TEST_HOOKS
  test_panic();
#endif

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
