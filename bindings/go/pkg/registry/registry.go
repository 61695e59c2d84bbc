// Package registry implements types.Registry over the push library's C ABI.
package registry

import (
	"context"
	"fmt"
	"math"

	"github.com/cnoe-io/idp-push/bindings/go/internal/cidp"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/source"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Client pushes images with the Rust library. The zero value is ready to use; it is safe for
// concurrent use.
//
// Credentials left empty (the zero types.Credentials) are looked up by the library the way
// docker does: the docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json: auths,
// credHelpers, credsStore through docker-credential-<name>), then $REGISTRY_AUTH_FILE or
// $XDG_RUNTIME_DIR/containers/auth.json, else anonymous. Trust: TLS.CAFile, then the certs.d
// directories for host:port (/etc/docker/certs.d, /etc/containers/certs.d,
// ~/.config/containers/certs.d, ~/.docker/certs.d: ca.crt files, and client.cert with
// client.key for mutual TLS), then SSL_CERT_FILE, then the system roots. The library never
// prints: warnings for --insecure and --plain-http are the caller's (idptls.Options.Warning).
type Client struct {
	// TLS is used by Login (Push and LoginWithResult take their TLS settings from their
	// options).
	TLS idptls.Options
}

var (
	_ types.Registry      = (*Client)(nil)
	_ types.ResultPusher  = (*Client)(nil)
	_ types.LoginReporter = (*Client)(nil)
)

// New returns a Client whose Login uses tlsOptions.
func New(tlsOptions idptls.Options) *Client { return &Client{TLS: tlsOptions} }

// AuthScheme is how a registry authenticated the caller.
type AuthScheme = types.AuthScheme

// Authentication schemes reported by LoginScheme and LoginWithResult.
const (
	AuthNone   = types.AuthNone
	AuthBasic  = types.AuthBasic
	AuthBearer = types.AuthBearer
)

// Version is the version of the linked push library.
func Version() string { return cidp.Version() }

// OpenImage opens a local image: "oci:DIR[:TAG]" or a layout directory,
// "oci-archive:FILE[:TAG]", "docker-archive:FILE[:NAME:TAG]", or a path to a tar file (its
// kind is detected); see package source.
func OpenImage(image string) (types.LocalImage, error) {
	img, err := source.Open(image)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return img, nil
}

// Push pushes image to destination ("host[:port]/path[:tag]"); see PushImage.
func (c *Client) Push(ctx context.Context, image types.Image, destination string, opts types.PushOptions) error {
	_, err := c.PushImage(ctx, image, destination, opts)
	return err
}

// PushImage pushes image to destination and reports what it did. The image must be a
// types.LocalImage (an OCI layout or archive, a docker archive, or a Buildah image exported
// to a layout). The result's Digest is that of the manifest pushed under the tag, also when
// image.Digest() is "" (a classic docker archive) or opts.Platform chose one child of an
// index. Cancelling ctx stops
// the push promptly; the error is then a *types.Error with StatusCancelled and the
// destination tag is neither created nor moved. Errors are *types.Error.
func (c *Client) PushImage(ctx context.Context, image types.Image, destination string, opts types.PushOptions) (types.PushResult, error) {
	local, ok := image.(types.LocalImage)
	if !ok || local.Source() == "" {
		what := fmt.Sprintf("%T", image)
		if d := image.Digest(); d != "" {
			what = d + " (" + what + ")"
		}
		return types.PushResult{}, &types.Error{Code: types.StatusInvalidSource,
			Message: fmt.Sprintf("image %s is not stored locally in a form the push library reads", what)}
	}
	o, err := options(opts.Credentials, opts.TLS, opts.Concurrency)
	if err != nil {
		return types.PushResult{}, err
	}
	o.Progress = opts.Progress
	o.ChunkSize = opts.ChunkSize
	o.Platform = opts.Platform
	o.KeepUncompressed = opts.KeepUncompressed
	o.Timeout = opts.Timeout
	r, err := cidp.Push(ctx, local.Source(), destination, o)
	if err != nil {
		return types.PushResult{}, err
	}
	return types.PushResult{
		Reference:     destination,
		Digest:        r.Digest,
		BytesSent:     r.BytesSent,
		BlobsUploaded: r.BlobsUploaded,
		BlobsPresent:  r.BlobsPresent,
		BlobsMounted:  r.BlobsMounted,
	}, nil
}

// Login checks creds against registry ("host[:port]") using c.TLS: the registry's challenge,
// the token exchange when it uses tokens, and one authenticated request. Zero creds check
// what the library finds (see Client). Nothing is saved.
func (c *Client) Login(ctx context.Context, registry string, creds types.Credentials) error {
	_, err := c.LoginWithResult(ctx, registry, creds, types.LoginOptions{TLS: c.TLS})
	return err
}

// LoginScheme is Login that also reports how the registry authenticated the credentials.
func (c *Client) LoginScheme(ctx context.Context, registry string, creds types.Credentials) (AuthScheme, error) {
	r, err := c.LoginWithResult(ctx, registry, creds, types.LoginOptions{TLS: c.TLS})
	return r.Scheme, err
}

// LoginWithResult checks creds against registry with opts.TLS (c.TLS is not used), reports
// how the registry authenticated them and where they came from (zero creds: what the library
// found), and with opts.Save stores them as `docker login` does. Errors are *types.Error;
// saving with no credentials given or found is StatusInvalidArgument.
func (c *Client) LoginWithResult(ctx context.Context, registry string, creds types.Credentials, opts types.LoginOptions) (types.LoginResult, error) {
	o, err := options(creds, opts.TLS, 0)
	if err != nil {
		return types.LoginResult{}, err
	}
	o.SaveCredentials = opts.Save
	o.Timeout = opts.Timeout
	return cidp.Login(ctx, registry, o)
}

func options(creds types.Credentials, t idptls.Options, concurrency int) (cidp.Options, error) {
	if concurrency < 0 || concurrency > math.MaxUint32 {
		return cidp.Options{}, &types.Error{Code: types.StatusInvalidArgument,
			Message: fmt.Sprintf("concurrency %d is out of range", concurrency)}
	}
	// The library reads and checks the CA file itself (InvalidArgument when it is unusable).
	if err := t.Conflict(); err != nil {
		return cidp.Options{}, &types.Error{Code: types.StatusInvalidArgument, Message: err.Error()}
	}
	return cidp.Options{
		Username:      creds.Username,
		Password:      creds.Password,
		IdentityToken: creds.IdentityToken,
		CAFile:        t.CAFile,
		Insecure:      t.Insecure,
		PlainHTTP:     t.PlainHTTP,
		Concurrency:   uint32(concurrency),
	}, nil
}
