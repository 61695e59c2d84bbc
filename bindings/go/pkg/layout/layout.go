// Package layout reads images from OCI image layout directories ("oci:DIR[:TAG]" or a bare
// directory), the source format the push library reads.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// RefNameAnnotation names an image inside a layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// maxManifestSize bounds index.json and manifests, as the registry side does (10 MiB).
const maxManifestSize = 10 << 20

// Image is one image (manifest or index) of an OCI layout. It implements types.LocalImage.
type Image struct {
	dir       string
	tag       string // the tag asked for ("" when none was)
	refName   string // the chosen entry's ref name ("" when it has none)
	digest    string
	size      int64
	mediaType string
}

var _ types.LocalImage = (*Image)(nil)

// ParseSource splits "oci:DIR[:TAG]" or "DIR[:TAG]" as the push library does: an existing
// directory is taken whole (its name may hold ':'); otherwise the part after the last ':' is
// the tag, unless it holds a '/'.
func ParseSource(source string) (dir, tag string) {
	s := strings.TrimPrefix(source, "oci:")
	if st, err := os.Stat(s); err == nil && st.IsDir() {
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// IsLayout reports whether dir holds an OCI image layout (an oci-layout or index.json file).
func IsLayout(dir string) bool {
	for _, f := range []string{"oci-layout", "index.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Open opens the image named by source ("oci:DIR[:TAG]" or a layout directory). Without a tag
// the layout must hold exactly one image.
func Open(source string) (*Image, error) {
	dir, tag := ParseSource(source)
	if dir == "" {
		return nil, invalid("the source %q names no directory; write oci:DIR[:TAG]", source)
	}
	raw, err := readSmall(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, invalid("cannot read OCI layout %s: %v", dir, err)
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, invalid("%s/index.json is not valid JSON: %v", dir, err)
	}
	var tags []string
	for _, d := range index.Manifests {
		if n := d.Annotations[RefNameAnnotation]; n != "" {
			tags = append(tags, n)
		}
	}
	var chosen *descriptor
	switch {
	case tag != "":
		for i := range index.Manifests {
			if index.Manifests[i].Annotations[RefNameAnnotation] == tag {
				chosen = &index.Manifests[i]
				break
			}
		}
		if chosen == nil {
			return nil, invalid("OCI layout %s has no image tagged %q (tags: %s)", dir, tag, list(tags))
		}
	case len(index.Manifests) == 1:
		chosen = &index.Manifests[0]
	case len(index.Manifests) == 0:
		return nil, invalid("OCI layout %s holds no image", dir)
	default:
		return nil, invalid("OCI layout %s holds %d images; choose one with oci:%s:TAG (tags: %s)",
			dir, len(index.Manifests), dir, list(tags))
	}
	if err := checkDigest(chosen.Digest); err != nil {
		return nil, invalid("%s/index.json: %v", dir, err)
	}
	return &Image{
		dir:       dir,
		tag:       tag,
		refName:   chosen.Annotations[RefNameAnnotation],
		digest:    chosen.Digest,
		size:      chosen.Size,
		mediaType: chosen.MediaType,
	}, nil
}

// Digest is the digest of the image's manifest (or index).
func (i *Image) Digest() string { return i.digest }

// Tag is the tag asked for, or else the image's ref name in the layout ("" if none).
func (i *Image) Tag() string {
	if i.tag != "" {
		return i.tag
	}
	return i.refName
}

// MediaType is the media type of the manifest as index.json records it.
func (i *Image) MediaType() string { return i.mediaType }

// Dir is the layout directory.
func (i *Image) Dir() string { return i.dir }

// Source is the push library's source string for this image.
func (i *Image) Source() string {
	if i.tag != "" {
		return "oci:" + i.dir + ":" + i.tag
	}
	return "oci:" + i.dir
}

// Manifest reads the manifest blob and checks its size and digest.
func (i *Image) Manifest() ([]byte, error) {
	path := filepath.Join(i.dir, "blobs", "sha256", strings.TrimPrefix(i.digest, "sha256:"))
	b, err := readSmall(path)
	if err != nil {
		return nil, invalid("cannot read manifest %s: %v", i.digest, err)
	}
	if i.size > 0 && int64(len(b)) != i.size {
		return nil, &types.Error{Code: types.StatusDigestMismatch,
			Message: fmt.Sprintf("manifest %s is %d bytes, index.json says %d", i.digest, len(b), i.size)}
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != i.digest {
		return nil, &types.Error{Code: types.StatusDigestMismatch,
			Message: fmt.Sprintf("manifest %s has digest %s", i.digest, got)}
	}
	return b, nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

func checkDigest(d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("unsupported digest %q (want sha256:<64 hex>)", d)
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return fmt.Errorf("malformed digest %q", d)
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxManifestSize)
	}
	return b, nil
}

func list(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func invalid(format string, args ...any) error {
	return &types.Error{Code: types.StatusInvalidSource, Message: fmt.Sprintf(format, args...)}
}
