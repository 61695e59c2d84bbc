// Package testenv holds test helpers: OCI layouts with random layers, an in-memory fake
// registry for unit tests, and (with the integration build tag) the real test environment.
package testenv

import (
	"archive/tar"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Layout describes an OCI layout written by WriteLayout.
type Layout struct {
	Dir, Tag string
	// Digest of the image manifest.
	Digest string
	// Blobs maps each blob digest (config and layers) to its size.
	Blobs map[string]int64
	// BlobBytes is the sum of all blob sizes.
	BlobBytes int64
}

// Source is "oci:DIR:TAG".
func (l Layout) Source() string { return "oci:" + l.Dir + ":" + l.Tag }

// WriteLayout writes an OCI layout at dir holding one image tagged tag, with one
// uncompressed tar layer per entry of fileSizes, each holding one file of that many random
// bytes (so no two calls share blobs).
func WriteLayout(t testing.TB, dir, tag string, fileSizes ...int64) Layout {
	t.Helper()
	l, err := writeLayout(dir, tag, fileSizes)
	if err != nil {
		t.Fatalf("writing OCI layout: %v", err)
	}
	return l
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func writeLayout(dir, tag string, sizes []int64) (Layout, error) {
	l := Layout{Dir: dir, Tag: tag, Blobs: map[string]int64{}}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return l, err
	}
	var layers []descriptor
	var diffIDs []string
	for i, size := range sizes {
		d, err := writeLayer(blobs, fmt.Sprintf("data/file-%d", i), size)
		if err != nil {
			return l, err
		}
		layers = append(layers, d)
		diffIDs = append(diffIDs, d.Digest) // uncompressed: the diff ID is the digest
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": nonNil(diffIDs)},
	})
	if err != nil {
		return l, err
	}
	configDesc, err := writeBlob(blobs, "application/vnd.oci.image.config.v1+json", config)
	if err != nil {
		return l, err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        nonNilDesc(layers),
	})
	if err != nil {
		return l, err
	}
	manifestDesc, err := writeBlob(blobs, "application/vnd.oci.image.manifest.v1+json", manifest)
	if err != nil {
		return l, err
	}
	manifestDesc.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return l, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		return l, err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return l, err
	}
	l.Digest = manifestDesc.Digest
	for _, d := range append(layers, configDesc) {
		l.Blobs[d.Digest] = d.Size
		l.BlobBytes += d.Size
	}
	return l, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilDesc(s []descriptor) []descriptor {
	if s == nil {
		return []descriptor{}
	}
	return s
}

func writeBlob(blobs, mediaType string, b []byte) (descriptor, error) {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(blobs, h), b, 0o644); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mediaType, Digest: "sha256:" + h, Size: int64(len(b))}, nil
}

// writeLayer streams a tar holding one file of random bytes into blobs, hashing as it goes.
func writeLayer(blobs, name string, size int64) (descriptor, error) {
	tmp, err := os.CreateTemp(blobs, "layer-*")
	if err != nil {
		return descriptor{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	tw := tar.NewWriter(cw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return descriptor{}, err
	}
	if _, err := io.CopyN(tw, randomReader(), size); err != nil {
		return descriptor{}, err
	}
	if err := tw.Close(); err != nil {
		return descriptor{}, err
	}
	if err := tmp.Close(); err != nil {
		return descriptor{}, err
	}
	d := descriptor{
		MediaType: "application/vnd.oci.image.layer.v1.tar",
		Digest:    "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Size:      cw.n,
	}
	return d, os.Rename(tmp.Name(), filepath.Join(blobs, d.Digest[len("sha256:"):]))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// randomReader is a fast stream of unpredictable bytes: AES-CTR with a random key.
func randomReader() io.Reader {
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	return cipher.StreamReader{S: cipher.NewCTR(block, iv), R: zeros{}}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Sha256 is "sha256:<hex>" of b.
func Sha256(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
