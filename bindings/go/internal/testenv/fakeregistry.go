package testenv

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeRegistry is a small in-memory registry (distribution API v2) for unit tests:
// monolithic, streamed and chunked blob uploads, HEAD checks, manifests and tags. It serves
// HTTPS with a certificate from its own CA (CAFile), or plain HTTP (NewPlainFakeRegistry).
type FakeRegistry struct {
	srv *httptest.Server
	// CAFile is the PEM file of the CA that signed the server certificate ("" for HTTP).
	CAFile             string
	username, password string // required as HTTP Basic credentials when set (SetAuth)
	// With token auth (SetTokenAuth) the registry answers 401 with a Bearer challenge whose
	// realm is its own /token endpoint, which hands out tokens for username and password (GET
	// with Basic) or for refreshToken (POST grant_type=refresh_token).
	tokenAuth    bool
	refreshToken string
	tokens       map[string]bool
	// Stall makes blob uploads read their body slowly (64 KiB every 50 ms), so a test can
	// cancel a push in the middle of an upload.
	Stall atomic.Bool
	// Reset makes blob uploads drop the connection after the first 64 KiB of a body: a FIN,
	// then a reset while the client is still sending (see abort).
	Reset atomic.Bool

	mu        sync.Mutex
	blobs     map[string]int64             // digest -> size
	uploads   map[string]*upload           // session id -> state
	manifests map[string]map[string][]byte // repo -> tag or digest -> bytes
	nextID    int
	// UploadsStarted counts blob upload requests that began sending a body.
	UploadsStarted atomic.Int64
}

type upload struct {
	h    hash.Hash
	size int64
}

// NewFakeRegistry starts a fake HTTPS registry that is closed when the test ends; trust
// its CAFile.
func NewFakeRegistry(t testing.TB) *FakeRegistry {
	f := newFake()
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS, f.CAFile = testCA(t)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// NewPlainFakeRegistry starts a fake plain-HTTP registry that is closed when the test ends.
func NewPlainFakeRegistry(t testing.TB) *FakeRegistry {
	f := newFake()
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func newFake() *FakeRegistry {
	return &FakeRegistry{
		blobs:     map[string]int64{},
		uploads:   map[string]*upload{},
		manifests: map[string]map[string][]byte{},
	}
}

// SetAuth makes the registry require these HTTP Basic credentials ("" for none).
func (f *FakeRegistry) SetAuth(username, password string) {
	f.mu.Lock()
	f.username, f.password = username, password
	f.mu.Unlock()
}

// SetTokenAuth makes the registry use bearer tokens from its own token service, given for
// username and password or for the OAuth2 refresh token refreshToken (docker's identity
// token).
func (f *FakeRegistry) SetTokenAuth(username, password, refreshToken string) {
	f.mu.Lock()
	f.username, f.password, f.refreshToken = username, password, refreshToken
	f.tokenAuth = true
	f.tokens = map[string]bool{}
	f.mu.Unlock()
}

// Host is the registry's host:port.
func (f *FakeRegistry) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(f.srv.URL, "https://"), "http://")
}

// Manifest returns what is stored under repo and reference (tag or digest).
func (f *FakeRegistry) Manifest(repo, reference string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.manifests[repo][reference]
	return b, ok
}

// HasBlob reports whether the registry holds digest.
func (f *FakeRegistry) HasBlob(digest string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.blobs[digest]
	return ok
}

func (f *FakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	user, pass, tokenAuth := f.username, f.password, f.tokenAuth
	f.mu.Unlock()
	if tokenAuth {
		if r.URL.Path == "/token" {
			f.serveToken(w, r)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		ok = ok && f.tokens[token]
		f.mu.Unlock()
		if !ok {
			scheme := "https"
			if r.TLS == nil {
				scheme = "http"
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s://%s/token",service="fake"`, scheme, r.Host))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
	} else if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
	}
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/blobs/uploads/"):
		f.serveUpload(w, r)
	case strings.Contains(p, "/blobs/"):
		digest := p[strings.LastIndex(p, "/")+1:]
		f.mu.Lock()
		size, ok := f.blobs[digest]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.Header().Set("Docker-Content-Digest", digest)
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/manifests/"):
		f.serveManifest(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveToken is the token service of SetTokenAuth: GET with Basic credentials, or POST with
// grant_type=refresh_token (docker's identity token) or grant_type=password.
func (f *FakeRegistry) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	user, pass, refresh := f.username, f.password, f.refreshToken
	f.mu.Unlock()
	ok := false
	switch r.Method {
	case http.MethodGet:
		u, p, basic := r.BasicAuth()
		ok = basic && u == user && p == pass
	case http.MethodPost:
		if r.ParseForm() == nil {
			switch r.PostForm.Get("grant_type") {
			case "refresh_token":
				ok = refresh != "" && r.PostForm.Get("refresh_token") == refresh
			case "password":
				ok = r.PostForm.Get("username") == user && r.PostForm.Get("password") == pass
			}
		}
	}
	if !ok {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	f.mu.Lock()
	f.tokens[token] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token":%q,"access_token":%q,"expires_in":300}`, token, token)
}

func (f *FakeRegistry) serveManifest(w http.ResponseWriter, r *http.Request) {
	repo, ref, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		digest := Sha256(b)
		f.mu.Lock()
		if f.manifests[repo] == nil {
			f.manifests[repo] = map[string][]byte{}
		}
		f.manifests[repo][ref] = b
		f.manifests[repo][digest] = b
		f.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+digest)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		b, ok := f.Manifest(repo, ref)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Docker-Content-Digest", Sha256(b))
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (f *FakeRegistry) serveUpload(w http.ResponseWriter, r *http.Request) {
	prefix, id, _ := strings.Cut(r.URL.Path, "/blobs/uploads/")
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if d := q.Get("digest"); d != "" && q.Get("mount") == "" { // monolithic upload
			u := &upload{h: sha256.New()}
			if !f.receive(w, r, u) {
				return
			}
			f.finish(w, prefix, u, d)
			return
		}
		f.mu.Lock()
		f.nextID++
		id = strconv.Itoa(f.nextID)
		f.uploads[id] = &upload{h: sha256.New()}
		f.mu.Unlock()
		f.session(w, prefix, id, 0, http.StatusAccepted)
		return
	}
	f.mu.Lock()
	u := f.uploads[id]
	f.mu.Unlock()
	if u == nil {
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		f.session(w, prefix, id, u.size, http.StatusNoContent)
	case http.MethodPatch:
		if cr := r.Header.Get("Content-Range"); cr != "" {
			start, _, _ := strings.Cut(cr, "-")
			if n, err := strconv.ParseInt(start, 10, 64); err != nil || n != u.size {
				http.Error(w, "bad range", http.StatusRequestedRangeNotSatisfiable)
				return
			}
		}
		if !f.receive(w, r, u) {
			return
		}
		f.session(w, prefix, id, u.size, http.StatusAccepted)
	case http.MethodPut:
		if !f.receive(w, r, u) {
			return
		}
		f.mu.Lock()
		delete(f.uploads, id)
		f.mu.Unlock()
		f.finish(w, prefix, u, q.Get("digest"))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// receive appends the request body to u; false when the client went away.
func (f *FakeRegistry) receive(w http.ResponseWriter, r *http.Request, u *upload) bool {
	if r.ContentLength != 0 {
		f.UploadsStarted.Add(1)
	}
	buf := make([]byte, 64<<10)
	for {
		if f.Stall.Load() {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return false
			}
		}
		n, err := r.Body.Read(buf)
		if f.Reset.Load() {
			if conn, _, herr := w.(http.Hijacker).Hijack(); herr == nil {
				abort(conn)
			}
			return false
		}
		u.h.Write(buf[:n])
		u.size += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// abort ends a connection the way a proxy that gives up on a request does: FIN first (the
// client's socket goes to CLOSE_WAIT while it is still sending the body), then, without
// reading what the client keeps sending, a reset. The client's next write then fails with
// EPIPE, which raises SIGPIPE on the writing thread.
func abort(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return
	}
	_ = tcp.CloseWrite()
	time.Sleep(20 * time.Millisecond)
	_ = tcp.SetLinger(0)
	tcp.Close()
}

func (f *FakeRegistry) finish(w http.ResponseWriter, prefix string, u *upload, digest string) {
	got := "sha256:" + hex.EncodeToString(u.h.Sum(nil))
	if got != digest {
		http.Error(w, fmt.Sprintf(`{"errors":[{"code":"DIGEST_INVALID","message":"got %s"}]}`, got), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.blobs[digest] = u.size
	f.mu.Unlock()
	w.Header().Set("Location", prefix+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
}

func (f *FakeRegistry) session(w http.ResponseWriter, prefix, id string, size int64, status int) {
	w.Header().Set("Location", prefix+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	if size > 0 {
		w.Header().Set("Range", fmt.Sprintf("0-%d", size-1))
	} else {
		w.Header().Set("Range", "0-0")
	}
	w.WriteHeader(status)
}
