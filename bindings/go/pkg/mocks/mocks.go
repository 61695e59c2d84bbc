// Package mocks has hand-written fakes of the types interfaces that record their calls, for
// unit tests of code that uses types.Registry, types.Builder and types.Image.
package mocks

import (
	"context"
	"sync"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Image is a fake types.LocalImage and types.NamedImage that counts Close calls.
type Image struct {
	DigestValue   string
	TagValue      string
	ManifestBytes []byte
	ManifestErr   error
	SourceValue   string
	// RepoTagValue is what RepoTag returns (a docker archive's NAME:TAG; "" for none).
	RepoTagValue string

	mu     sync.Mutex
	closed int
}

var (
	_ types.LocalImage = (*Image)(nil)
	_ types.NamedImage = (*Image)(nil)
)

func (i *Image) Digest() string            { return i.DigestValue }
func (i *Image) Tag() string               { return i.TagValue }
func (i *Image) Manifest() ([]byte, error) { return i.ManifestBytes, i.ManifestErr }
func (i *Image) Source() string            { return i.SourceValue }
func (i *Image) RepoTag() string           { return i.RepoTagValue }

// Close counts calls.
func (i *Image) Close() error {
	i.mu.Lock()
	i.closed++
	i.mu.Unlock()
	return nil
}

// Closed is how many times Close was called.
func (i *Image) Closed() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closed
}

// PushCall records one Push or PushImage call.
type PushCall struct {
	Image       types.Image
	Destination string
	Options     types.PushOptions
}

// LoginCall records one Login or LoginWithResult call (Options is zero for Login).
type LoginCall struct {
	Registry    string
	Credentials types.Credentials
	Options     types.LoginOptions
}

// Registry is a fake types.Registry, types.ResultPusher and types.LoginReporter. Without
// PushFunc a push succeeds with the image's digest; without LoginFunc and LoginResultFunc a
// login succeeds (LoginWithResult then reports SourceExplicit for given credentials, else
// SourceAnonymous, and SavedTo "docker config (mock)" when saving given credentials).
type Registry struct {
	PushFunc  func(ctx context.Context, image types.Image, destination string, opts types.PushOptions) (types.PushResult, error)
	LoginFunc func(ctx context.Context, registry string, creds types.Credentials) error
	// LoginResultFunc runs for LoginWithResult (LoginFunc does not).
	LoginResultFunc func(ctx context.Context, registry string, creds types.Credentials, opts types.LoginOptions) (types.LoginResult, error)

	mu     sync.Mutex
	pushes []PushCall
	logins []LoginCall
}

var (
	_ types.Registry      = (*Registry)(nil)
	_ types.ResultPusher  = (*Registry)(nil)
	_ types.LoginReporter = (*Registry)(nil)
)

// Push records the call.
func (r *Registry) Push(ctx context.Context, image types.Image, destination string, opts types.PushOptions) error {
	_, err := r.PushImage(ctx, image, destination, opts)
	return err
}

// PushImage records the call and runs PushFunc.
func (r *Registry) PushImage(ctx context.Context, image types.Image, destination string, opts types.PushOptions) (types.PushResult, error) {
	r.mu.Lock()
	r.pushes = append(r.pushes, PushCall{image, destination, opts})
	r.mu.Unlock()
	if r.PushFunc != nil {
		return r.PushFunc(ctx, image, destination, opts)
	}
	return types.PushResult{Reference: destination, Digest: image.Digest()}, nil
}

// Login records the call and runs LoginFunc.
func (r *Registry) Login(ctx context.Context, registry string, creds types.Credentials) error {
	r.mu.Lock()
	r.logins = append(r.logins, LoginCall{Registry: registry, Credentials: creds})
	r.mu.Unlock()
	if r.LoginFunc != nil {
		return r.LoginFunc(ctx, registry, creds)
	}
	return nil
}

// LoginWithResult records the call and runs LoginResultFunc.
func (r *Registry) LoginWithResult(ctx context.Context, registry string, creds types.Credentials, opts types.LoginOptions) (types.LoginResult, error) {
	r.mu.Lock()
	r.logins = append(r.logins, LoginCall{Registry: registry, Credentials: creds, Options: opts})
	r.mu.Unlock()
	if r.LoginResultFunc != nil {
		return r.LoginResultFunc(ctx, registry, creds, opts)
	}
	if creds.IsZero() {
		if opts.Save {
			return types.LoginResult{}, &types.Error{Code: types.StatusInvalidArgument, Message: "nothing to save: no credentials were given or found"}
		}
		return types.LoginResult{Scheme: types.AuthNone, Source: types.SourceAnonymous, SourceDescription: "anonymous"}, nil
	}
	res := types.LoginResult{Scheme: types.AuthBasic, Source: types.SourceExplicit, SourceDescription: "explicit"}
	if opts.Save {
		res.SavedTo = "docker config (mock)"
	}
	return res, nil
}

// Pushes returns the recorded pushes.
func (r *Registry) Pushes() []PushCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]PushCall(nil), r.pushes...)
}

// Logins returns the recorded logins.
func (r *Registry) Logins() []LoginCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]LoginCall(nil), r.logins...)
}

// PlainRegistry hides PushImage, so only types.Registry is implemented.
type PlainRegistry struct{ R *Registry }

func (p PlainRegistry) Push(ctx context.Context, image types.Image, destination string, opts types.PushOptions) error {
	return p.R.Push(ctx, image, destination, opts)
}

func (p PlainRegistry) Login(ctx context.Context, registry string, creds types.Credentials) error {
	return p.R.Login(ctx, registry, creds)
}

// BuildCall records one Build call.
type BuildCall struct {
	Dockerfile, ContextDir string
	Options                types.BuildOptions
}

// Builder is a fake types.Builder. Without BuildFunc/GetImageFunc it returns Image.
type Builder struct {
	Image        *Image
	BuildFunc    func(ctx context.Context, dockerfile, contextDir string, opts types.BuildOptions) (types.Image, error)
	GetImageFunc func(ctx context.Context, ref string) (types.Image, error)

	mu     sync.Mutex
	builds []BuildCall
	gets   []string
}

var _ types.Builder = (*Builder)(nil)

// Build records the call.
func (b *Builder) Build(ctx context.Context, dockerfile, contextDir string, opts types.BuildOptions) (types.Image, error) {
	b.mu.Lock()
	b.builds = append(b.builds, BuildCall{dockerfile, contextDir, opts})
	b.mu.Unlock()
	if b.BuildFunc != nil {
		return b.BuildFunc(ctx, dockerfile, contextDir, opts)
	}
	return b.Image, nil
}

// GetImage records the call.
func (b *Builder) GetImage(ctx context.Context, ref string) (types.Image, error) {
	b.mu.Lock()
	b.gets = append(b.gets, ref)
	b.mu.Unlock()
	if b.GetImageFunc != nil {
		return b.GetImageFunc(ctx, ref)
	}
	return b.Image, nil
}

// Builds returns the recorded builds.
func (b *Builder) Builds() []BuildCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BuildCall(nil), b.builds...)
}

// Gets returns the recorded GetImage references.
func (b *Builder) Gets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.gets...)
}
