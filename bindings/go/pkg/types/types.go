// Package types holds the interfaces of idpbuilder push (Builder, Registry, Image) and their
// option, result and error types, so that the implementations and the command import this
// package and never each other.
package types

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
)

// Builder builds images and finds images in local storage.
type Builder interface {
	// Build builds contextDir with dockerfile and returns the built image. The image may hold
	// local resources: close it (see io.Closer) when done.
	Build(ctx context.Context, dockerfile string, contextDir string, opts BuildOptions) (Image, error)
	// GetImage finds imageRef in local storage. The image may hold local resources: close it
	// (see io.Closer) when done.
	GetImage(ctx context.Context, imageRef string) (Image, error)
}

// Registry pushes images to an OCI registry.
type Registry interface {
	Push(ctx context.Context, image Image, destination string, opts PushOptions) error
	Login(ctx context.Context, registry string, creds Credentials) error
}

// Image is an image that can be pushed.
type Image interface {
	// Digest is the digest of the image's manifest (or index): "sha256:<hex>". It is "" when
	// the manifest does not exist before the push: a classic docker archive holds no registry
	// manifest, the push makes one (its layers gzip-compressed while they stream), so its
	// digest is known only afterwards; PushResult.Digest then carries it. With
	// PushOptions.Platform the pushed manifest is that platform's child, whose digest also
	// comes from PushResult.Digest.
	Digest() string
	// Tag is the image's tag in its store ("" when it has none).
	Tag() string
	// Manifest returns the raw manifest (or index) bytes. When the source stores none (see
	// Digest) the error wraps ErrManifestNotStored.
	Manifest() ([]byte, error)
}

// ErrManifestNotStored is wrapped by Image.Manifest when the source holds no manifest because
// the push makes it (a classic docker archive).
var ErrManifestNotStored = errors.New("the source stores no manifest: the push makes it")

// LocalImage is an Image stored where the push library can read it. Source returns the
// library's source string: "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]" or
// "docker-archive:FILE[:NAME:TAG]".
type LocalImage interface {
	Image
	Source() string
}

// NamedImage is an Image that knows the repository name it was saved under, as docker and
// podman archives do (their manifest.json RepoTags). The push command names the destination
// after it.
type NamedImage interface {
	Image
	// RepoTag is "NAME:TAG" in docker's short form ("app:v1", "localhost:5000/team/app:v1";
	// docker.io/library/ dropped, ":latest" added when the name has no tag), or "" when the
	// image has no single name.
	RepoTag() string
}

// LoginReporter is a Registry whose login also reports where the credentials came from and
// can store them as `docker login` does. registry.Client implements it; the login command
// uses it when the Registry it is given does.
type LoginReporter interface {
	LoginWithResult(ctx context.Context, registry string, creds Credentials, opts LoginOptions) (LoginResult, error)
}

// ResultPusher is a Registry that also reports what a push did. registry.Client implements
// it; the push command uses it when the Registry it is given does.
type ResultPusher interface {
	PushImage(ctx context.Context, image Image, destination string, opts PushOptions) (PushResult, error)
}

// Credentials for a registry. The zero value gives none: the push library then looks them
// up the way docker does (the docker config's auths, credHelpers and credsStore, then the
// containers auth file) and, when it finds none, goes anonymous.
type Credentials struct {
	Username string
	// Password or access token. Never logged or printed.
	Password string
	// IdentityToken is an OAuth2 refresh token (docker's "identitytoken") used instead of a
	// password; Username may then be empty. Never logged or printed.
	IdentityToken string
}

// IsZero reports whether no credentials are given (the library then looks them up).
func (c Credentials) IsZero() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// String hides the password and the identity token, so that credentials printed by mistake
// leak nothing.
func (c Credentials) String() string {
	s := "{" + c.Username
	if c.Password != "" {
		s += " ********"
	}
	if c.IdentityToken != "" {
		s += " token:********"
	}
	return s + "}"
}

// GoString hides the password in %#v too.
func (c Credentials) GoString() string { return "types.Credentials" + c.String() }

// BuildOptions are the settings of Builder.Build.
type BuildOptions struct {
	// Tag names the built image in local storage (for example "localhost/app:1").
	Tag string
	// StorageDriver overrides the builder's storage driver (for example "vfs"); "" keeps
	// the builder's default.
	StorageDriver string
	// Isolation overrides the builder's RUN isolation ("chroot", "oci", "rootless"); ""
	// keeps the builder's default.
	Isolation string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Quiet suppresses the builder's step output.
	Quiet bool
	// Output receives the builder's step output; nil for the builder's default (stderr).
	Output io.Writer
}

// PushOptions are the settings of Registry.Push.
type PushOptions struct {
	Credentials Credentials
	TLS         idptls.Options
	// Concurrency is how many blobs are uploaded at once; 0 for the library's default.
	Concurrency int
	// ChunkSize sends blobs larger than this in chunks of this many bytes; 0 sends whole
	// blobs and lets the library switch to chunks when the registry answers 413.
	ChunkSize uint64
	// Platform ("os/arch[/variant]", e.g. "linux/arm64") pushes only that platform's image of
	// a multi-platform source (an OCI index or Docker manifest list) under the tag, and for a
	// single image checks that its config is that platform. "" pushes everything.
	Platform string
	// KeepUncompressed pushes the layers of a classic docker archive as they are stored
	// (uncompressed tars) instead of gzip-compressing them while they stream. No effect on
	// other sources.
	KeepUncompressed bool
	// Timeout is how long the registry may stay silent (and the longest wait to connect)
	// before a request fails as a timeout; 0 for the library's defaults (120 s, 15 s to
	// connect).
	Timeout time.Duration
	// Progress, when not nil, receives progress events. It is called from a library thread,
	// never twice at the same time for one push, and must return quickly. Nil means quiet.
	Progress func(ProgressEvent)
}

// ProgressKind is what a ProgressEvent reports.
type ProgressKind uint32

// Progress kinds; the numbers are those of the C ABI (idp_progress_kind).
const (
	BlobStarted    ProgressKind = 0 // a blob upload started
	BlobProgress   ProgressKind = 1 // more of a blob was sent: Current of Total bytes
	BlobDone       ProgressKind = 2 // a blob upload completed
	BlobSkipped    ProgressKind = 3 // the registry already had the blob
	ManifestPushed ProgressKind = 4 // a manifest or index was stored
	BlobMounted    ProgressKind = 5 // the registry linked the blob from another repository
)

func (k ProgressKind) String() string {
	switch k {
	case BlobStarted:
		return "BlobStarted"
	case BlobProgress:
		return "BlobProgress"
	case BlobDone:
		return "BlobDone"
	case BlobSkipped:
		return "BlobSkipped"
	case ManifestPushed:
		return "ManifestPushed"
	case BlobMounted:
		return "BlobMounted"
	}
	return "ProgressKind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// ProgressEvent is one step of a push.
type ProgressEvent struct {
	Kind ProgressKind
	// Digest of the blob or manifest: "sha256:<hex>".
	Digest string
	// MediaType of the blob or manifest (may be "").
	MediaType string
	// Current is the number of bytes sent so far; Total the blob's or manifest's size.
	Current, Total uint64
}

// PushResult is what a push did.
type PushResult struct {
	// Reference is the destination as pushed to (host[:port]/path:tag).
	Reference string
	// Digest of the pushed manifest (or index).
	Digest string
	// BytesSent counts blob bytes that crossed the network (resent parts of resumed uploads
	// included); blobs the registry had or mounted are not counted.
	BytesSent uint64
	// BlobsUploaded, BlobsPresent and BlobsMounted count blobs sent, blobs the registry
	// already had, and blobs it linked from another of its repositories.
	BlobsUploaded, BlobsPresent, BlobsMounted uint64
}

// Pinned is the pushed reference with its digest: "REF@sha256:<hex>" (just REF when the
// digest is unknown, which happens only with a Registry that does not report results and an
// image whose digest is made by the push).
func (r PushResult) Pinned() string {
	if r.Digest == "" {
		return r.Reference
	}
	return r.Reference + "@" + r.Digest
}
