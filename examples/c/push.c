/*
 * push-c: push a local image with the idp_push C ABI.
 *
 *   push-c SOURCE DESTINATION
 *
 * SOURCE is oci:DIR[:TAG] (or a directory holding an OCI layout), oci-archive:FILE[:TAG],
 * docker-archive:FILE[:NAME:TAG], or a tar file of either kind; DESTINATION is
 * HOST[:PORT]/PATH[:TAG]. Settings come from the environment:
 *   IDP_USERNAME, IDP_PASSWORD  credentials (when unset, the library looks them up as docker
 *                               does: docker config, credential helpers, containers auth
 *                               file; else the push is anonymous)
 *   IDP_CA_FILE=PEM             trust this CA besides the system roots
 *   IDP_INSECURE=1              skip TLS verification (self-signed registries)
 *   IDP_PLAIN_HTTP=1            talk plain HTTP
 *   IDP_CONCURRENCY=N           blobs uploaded at once (default: the library's)
 *   IDP_CHUNK_SIZE=BYTES        upload blobs larger than this in chunks of this size
 *
 * Prints DESTINATION@sha256:... on success; on failure one line on stderr and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idp_push.h"

static int env_flag(const char *name) {
  const char *v = getenv(name);
  return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* Per-blob lines on stderr, like docker push; the library never calls this concurrently. */
static void on_progress(void *userdata, const idp_progress_event *event) {
  (void)userdata;
  const char *id = event->digest + strlen("sha256:");
  switch (event->kind) {
    case IDP_PROGRESS_KIND_BLOB_DONE:
      fprintf(stderr, "%.12s: Pushed (%llu bytes)\n", id, (unsigned long long)event->total);
      break;
    case IDP_PROGRESS_KIND_BLOB_SKIPPED:
      fprintf(stderr, "%.12s: Layer already exists\n", id);
      break;
    case IDP_PROGRESS_KIND_BLOB_MOUNTED:
      fprintf(stderr, "%.12s: Mounted from another repository\n", id);
      break;
    default:
      break;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SOURCE DESTINATION\n", argv[0]);
    return 2;
  }
  idp_options options;
  idp_options_init(&options);
  options.username = getenv("IDP_USERNAME");
  options.password = getenv("IDP_PASSWORD");
  options.ca_file = getenv("IDP_CA_FILE");
  options.insecure = env_flag("IDP_INSECURE");
  options.plain_http = env_flag("IDP_PLAIN_HTTP");
  options.progress = on_progress;
  const char *concurrency = getenv("IDP_CONCURRENCY");
  if (concurrency != NULL) options.concurrency = (uint32_t)strtoul(concurrency, NULL, 10);
  const char *chunk = getenv("IDP_CHUNK_SIZE");
  if (chunk != NULL) options.chunk_size = strtoull(chunk, NULL, 10);

  idp_push_result result = {.struct_size = sizeof result};
  char *error = NULL;
  idp_status status = idp_push(argv[1], argv[2], &options, &result, &error);
  if (status != IDP_STATUS_OK) {
    fprintf(stderr, "error: %s\n", error != NULL ? error : idp_status_message(status));
    idp_string_free(error);
    return 1;
  }
  printf("%s@%s\n", argv[2], result.digest);
  return 0;
}
