// Package cidp is the only cgo package: it wraps the C ABI of libidp_push (include/idp_push.h)
// and turns its results into Go values and *types.Error.
//
// Ownership, as the header describes it: every C string made here is freed here (the password
// and the identity token are zeroed first), error messages from the library are freed with idp_string_free, the
// options struct lives in C memory for the duration of one call, and each call gets its own
// cancel token that is freed only after the call has returned and the goroutine watching the
// context has stopped.
//
// The static library must exist before this package builds: run `cargo build --release` at
// the repository root. The link flags come from
// `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`.
package cidp

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include
#cgo LDFLAGS: ${SRCDIR}/../../../../target/release/libidp_push.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <stdint.h>
#include <stdlib.h>
#include "idp_push.h"

// Defined in callback.go (exported from Go).
extern void idpGoProgress(void *userdata, idp_progress_event *event);

// Sets the Go progress callback and its cgo.Handle. The handle is an integer; converting it to
// a pointer here keeps Go code free of uintptr-to-unsafe.Pointer conversions.
static void idp_go_set_progress(idp_options *o, uintptr_t handle) {
	o->progress = (idp_progress_callback)idpGoProgress;
	o->progress_userdata = (void *)handle;
}

// Zeroes and frees a C string holding a secret.
static void idp_go_free_secret(char *s) {
	if (s == NULL) return;
	for (volatile char *p = s; *p != 0; p++) *p = 0;
	free(s);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// Options are the settings of Push and Login.
type Options struct {
	// Username, Password and IdentityToken are the credentials; with all three empty the
	// library looks credentials up as docker does (docker config, credential helpers,
	// containers auth file), else goes anonymous. Password and IdentityToken exclude each
	// other; a Password needs a Username.
	Username, Password string
	IdentityToken      string
	// SaveCredentials (Login only) stores the verified credentials as `docker login` does.
	SaveCredentials bool
	CAFile          string
	Insecure        bool
	PlainHTTP       bool
	// Concurrency is how many blobs go up at once; 0 for the library's default.
	Concurrency uint32
	// ChunkSize sends larger blobs in chunks of this many bytes; 0 for whole blobs (the
	// library switches to chunks by itself on HTTP 413).
	ChunkSize uint64
	// Platform ("os/arch[/variant]", Push only) pushes only that platform's image of a
	// multi-platform source, and checks that a single image's config is that platform; ""
	// pushes everything the source holds.
	Platform string
	// KeepUncompressed (Push only) pushes the layers of a classic docker archive as stored
	// instead of gzip-compressing them while they stream.
	KeepUncompressed bool
	// Timeout is how long a connection may stay silent (and the longest wait to connect)
	// before the request fails; 0 for the library's defaults (120 s, 15 s to connect). It is
	// sent in whole milliseconds, rounded up.
	Timeout time.Duration
	// Progress receives push progress events (nil: none). It runs on a library thread, never
	// twice at once for one push, and must return quickly. A panic in it cancels the push and
	// is re-raised by Push once the C call has returned. It must not call runtime.Goexit
	// (so no t.FailNow/t.Fatal inside it).
	Progress func(types.ProgressEvent)
}

// String shows the settings with the secrets hidden (as types.Credentials shows them), so
// that options printed by mistake leak nothing.
func (o Options) String() string {
	creds := types.Credentials{Username: o.Username, Password: o.Password, IdentityToken: o.IdentityToken}
	return fmt.Sprintf("{credentials:%v ca:%q insecure:%t plainHTTP:%t concurrency:%d chunk:%d platform:%q timeout:%v}",
		creds, o.CAFile, o.Insecure, o.PlainHTTP, o.Concurrency, o.ChunkSize, o.Platform, o.Timeout)
}

// GoString hides the secrets in %#v too.
func (o Options) GoString() string { return "cidp.Options" + o.String() }

// PushResult is what idp_push reported.
type PushResult struct {
	Digest        string
	BlobsUploaded uint64
	BlobsPresent  uint64
	BlobsMounted  uint64
	BytesSent     uint64
}

// Version is the library version (MAJOR.MINOR.PATCH).
func Version() string { return C.GoString(C.idp_version()) }

// StatusMessage is the library's generic description of a status code.
func StatusMessage(s types.Status) string { return C.GoString(C.idp_status_message(C.uint32_t(s))) }

// Push pushes source to destination ("host[:port]/path[:tag]"). Sources: "oci:DIR[:TAG]" or
// a layout directory, "oci-archive:FILE[:TAG]", "docker-archive:FILE[:NAME:TAG]", or a path to
// a tar file (its kind is detected). Cancelling ctx stops the push; it then fails with
// types.StatusCancelled (and errors.Is(err, context.Canceled) holds) and nothing is tagged.
func Push(ctx context.Context, source, destination string, o Options) (PushResult, error) {
	if ctx.Err() != nil {
		return PushResult{}, cancelled(ctx)
	}
	call, err := newCall(ctx, o)
	if err != nil {
		return PushResult{}, err
	}
	defer call.close()

	csource := C.CString(source)
	defer C.free(unsafe.Pointer(csource))
	cdest := C.CString(destination)
	defer C.free(unsafe.Pointer(cdest))

	var result C.idp_push_result
	result.struct_size = C.sizeof_idp_push_result
	var message *C.char
	status := C.idp_push(csource, cdest, call.options, &result, &message)
	err = makeError(ctx, status, message) // frees message
	call.finish()
	runtime.KeepAlive(call)
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{
		Digest:        C.GoString(&result.digest[0]),
		BlobsUploaded: uint64(result.blobs_uploaded),
		BlobsPresent:  uint64(result.blobs_present),
		BlobsMounted:  uint64(result.blobs_mounted),
		BytesSent:     uint64(result.bytes_sent),
	}, nil
}

// Login checks the credentials in o (or, with none, those the library finds) against
// registry ("host[:port]"), reports how the registry authenticated them and where they came
// from, and stores them when o.SaveCredentials is set. o.Progress, o.Platform and
// o.KeepUncompressed are ignored.
func Login(ctx context.Context, registry string, o Options) (types.LoginResult, error) {
	if ctx.Err() != nil {
		return types.LoginResult{}, cancelled(ctx)
	}
	o.Progress, o.Platform, o.KeepUncompressed = nil, "", false
	call, err := newCall(ctx, o)
	if err != nil {
		return types.LoginResult{}, err
	}
	defer call.close()

	cregistry := C.CString(registry)
	defer C.free(unsafe.Pointer(cregistry))
	var result C.idp_login_result
	result.struct_size = C.sizeof_idp_login_result
	var message *C.char
	status := C.idp_login(cregistry, call.options, &result, &message)
	err = makeError(ctx, status, message) // frees message
	call.finish()
	runtime.KeepAlive(call)
	if err != nil {
		return types.LoginResult{}, err
	}
	return types.LoginResult{
		Scheme:            types.AuthScheme(result.scheme),
		Source:            types.CredentialSource(result.source),
		SourceDescription: cArrayString(result.source_description[:]),
		SavedTo:           cArrayString(result.saved_to[:]),
	}, nil
}

// cArrayString is the NUL-terminated text of a fixed-size char array, never reading past it.
func cArrayString(a []C.char) string {
	b := make([]byte, 0, len(a))
	for _, c := range a {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// call holds the C resources of one idp_push/idp_login call.
type call struct {
	options  *C.idp_options // C memory, so the Go GC never sees the handle stored in it
	username *C.char
	password *C.char
	idToken  *C.char
	caFile   *C.char
	platform *C.char
	token    *C.idp_cancel_token
	progress *progress
	handle   cgo.Handle
	stop     func() // stops the goroutine watching the context and waits for it
}

// newCall allocates the C side of one call. Nothing here touches signal dispositions: the
// library does all network I/O on its own runtime threads, which block SIGPIPE, so a write to
// a connection the registry closed fails with EPIPE there instead of killing the process.
func newCall(ctx context.Context, o Options) (*call, error) {
	timeoutMS, err := milliseconds(o.Timeout)
	if err != nil {
		return nil, err
	}
	c := &call{stop: func() {}}
	c.token = C.idp_cancel_token_new()
	if c.token == nil {
		return nil, &types.Error{Code: types.StatusInternal, Message: "cannot allocate a cancel token"}
	}
	c.options = (*C.idp_options)(C.calloc(1, C.sizeof_idp_options))
	if c.options == nil {
		C.idp_cancel_token_free(c.token)
		return nil, &types.Error{Code: types.StatusInternal, Message: "cannot allocate options"}
	}
	C.idp_options_init(c.options)
	if o.Username != "" {
		c.username = C.CString(o.Username)
		c.options.username = c.username
	}
	if o.Password != "" {
		c.password = C.CString(o.Password)
		c.options.password = c.password
	}
	if o.IdentityToken != "" {
		c.idToken = C.CString(o.IdentityToken)
		c.options.identity_token = c.idToken
	}
	c.options.save_credentials = C.bool(o.SaveCredentials)
	if o.CAFile != "" {
		c.caFile = C.CString(o.CAFile)
		c.options.ca_file = c.caFile
	}
	c.options.insecure = C.bool(o.Insecure)
	c.options.plain_http = C.bool(o.PlainHTTP)
	c.options.concurrency = C.uint32_t(o.Concurrency)
	c.options.chunk_size = C.uint64_t(o.ChunkSize)
	if o.Platform != "" {
		c.platform = C.CString(o.Platform)
		c.options.platform = c.platform
	}
	c.options.keep_uncompressed = C.bool(o.KeepUncompressed)
	c.options.timeout_ms = C.uint32_t(timeoutMS)
	c.options.cancel = c.token
	if o.Progress != nil {
		c.progress = &progress{fn: o.Progress, token: c.token}
		c.handle = cgo.NewHandle(c.progress)
		C.idp_go_set_progress(c.options, C.uintptr_t(c.handle))
	}
	c.stop = watch(ctx, c.token)
	return c, nil
}

// milliseconds is d for idp_options.timeout_ms: whole milliseconds, rounded up so that a
// positive timeout never becomes 0 (the defaults).
func milliseconds(d time.Duration) (uint32, error) {
	if d < 0 || d > time.Duration(math.MaxUint32)*time.Millisecond {
		return 0, &types.Error{Code: types.StatusInvalidArgument,
			Message: fmt.Sprintf("timeout %v is out of range (0 to %v)", d, time.Duration(math.MaxUint32)*time.Millisecond)}
	}
	return uint32((d + time.Millisecond - 1) / time.Millisecond), nil
}

// finish runs right after the C call returned: it stops the context watcher and re-raises a
// panic of the progress callback.
func (c *call) finish() {
	c.stop()
	c.stop = func() {}
	if c.progress != nil {
		if p, ok := c.progress.recovered(); ok {
			c.close()
			panic(p)
		}
	}
}

// close frees everything; safe to call more than once.
func (c *call) close() {
	c.stop()
	c.stop = func() {}
	if c.handle != 0 {
		c.handle.Delete()
		c.handle = 0
	}
	if c.token != nil {
		C.idp_cancel_token_free(c.token)
		c.token = nil
	}
	if c.username != nil {
		C.free(unsafe.Pointer(c.username))
		c.username = nil
	}
	if c.password != nil {
		C.idp_go_free_secret(c.password)
		c.password = nil
	}
	if c.idToken != nil {
		C.idp_go_free_secret(c.idToken)
		c.idToken = nil
	}
	if c.caFile != nil {
		C.free(unsafe.Pointer(c.caFile))
		c.caFile = nil
	}
	if c.platform != nil {
		C.free(unsafe.Pointer(c.platform))
		c.platform = nil
	}
	if c.options != nil {
		C.free(unsafe.Pointer(c.options))
		c.options = nil
	}
}

// watch fires token when ctx is done. The returned stop function ends the goroutine and
// waits for it, so the token can be freed safely afterwards.
func watch(ctx context.Context, token *C.idp_cancel_token) (stop func()) {
	done := ctx.Done()
	if done == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-done:
			C.idp_cancel_token_cancel(token)
		case <-quit:
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// makeError turns a status and message into a *types.Error (nil for OK) and frees message.
func makeError(ctx context.Context, status C.idp_status, message *C.char) error {
	if status == C.IDP_STATUS_OK {
		if message != nil {
			C.idp_string_free(message)
		}
		return nil
	}
	e := &types.Error{Code: types.Status(status)}
	if message != nil {
		e.Message = C.GoString(message)
		C.idp_string_free(message)
	} else {
		e.Message = StatusMessage(e.Code)
	}
	if e.Code == types.StatusCancelled {
		e.Cause = ctx.Err()
	}
	return e
}

func cancelled(ctx context.Context) error {
	return &types.Error{Code: types.StatusCancelled, Message: "cancelled before it started: " + context.Cause(ctx).Error(), Cause: ctx.Err()}
}
