package cidp

/*
#include "idp_push.h"
*/
import "C"

// headerConstants are the numbers the C header gives, so tests can check that the Go
// constants in pkg/types match them.
func headerConstants() map[string]uint32 {
	return map[string]uint32{
		"StatusOK":                 C.IDP_STATUS_OK,
		"StatusNullParameter":      C.IDP_STATUS_NULL_PARAMETER,
		"StatusInvalidUTF8":        C.IDP_STATUS_INVALID_UTF8,
		"StatusInvalidArgument":    C.IDP_STATUS_INVALID_ARGUMENT,
		"StatusInvalidReference":   C.IDP_STATUS_INVALID_REFERENCE,
		"StatusInvalidSource":      C.IDP_STATUS_INVALID_SOURCE,
		"StatusDigestMismatch":     C.IDP_STATUS_DIGEST_MISMATCH,
		"StatusUnauthorized":       C.IDP_STATUS_UNAUTHORIZED,
		"StatusDenied":             C.IDP_STATUS_DENIED,
		"StatusTLS":                C.IDP_STATUS_TLS,
		"StatusNetwork":            C.IDP_STATUS_NETWORK,
		"StatusRegistry":           C.IDP_STATUS_REGISTRY,
		"StatusCancelled":          C.IDP_STATUS_CANCELLED,
		"StatusIO":                 C.IDP_STATUS_IO,
		"StatusPanic":              C.IDP_STATUS_PANIC,
		"StatusInternal":           C.IDP_STATUS_INTERNAL,
		"BlobStarted":              C.IDP_PROGRESS_KIND_BLOB_STARTED,
		"BlobProgress":             C.IDP_PROGRESS_KIND_BLOB_PROGRESS,
		"BlobDone":                 C.IDP_PROGRESS_KIND_BLOB_DONE,
		"BlobSkipped":              C.IDP_PROGRESS_KIND_BLOB_SKIPPED,
		"ManifestPushed":           C.IDP_PROGRESS_KIND_MANIFEST_PUSHED,
		"BlobMounted":              C.IDP_PROGRESS_KIND_BLOB_MOUNTED,
		"AuthNone":                 C.IDP_AUTH_SCHEME_NONE,
		"AuthBasic":                C.IDP_AUTH_SCHEME_BASIC,
		"AuthBearer":               C.IDP_AUTH_SCHEME_BEARER,
		"SourceExplicit":           C.IDP_CREDENTIAL_SOURCE_EXPLICIT,
		"SourceDockerConfig":       C.IDP_CREDENTIAL_SOURCE_DOCKER_CONFIG,
		"SourceCredentialHelper":   C.IDP_CREDENTIAL_SOURCE_CREDENTIAL_HELPER,
		"SourceContainersAuthFile": C.IDP_CREDENTIAL_SOURCE_CONTAINERS_AUTH_FILE,
		"SourceAnonymous":          C.IDP_CREDENTIAL_SOURCE_ANONYMOUS,
	}
}
