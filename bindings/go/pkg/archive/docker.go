package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/layout"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// ImageNameAnnotation is the annotation docker (and containerd) put on index.json entries:
// the image's full name.
const ImageNameAnnotation = "io.containerd.image.name"

// maxNesting bounds how deep indexes are followed when looking for an image by its config.
const maxNesting = 8

// manifestEntry is one image of a docker archive's manifest.json.
type manifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func (e manifestEntry) names() []string {
	names := make([]string, 0, len(e.RepoTags))
	for _, t := range e.RepoTags {
		names = append(names, Familiar(t))
	}
	return names
}

func (e manifestEntry) label() string {
	if len(e.RepoTags) > 0 {
		return Familiar(e.RepoTags[0])
	}
	return "untagged image with config " + e.Config
}

// DockerImage is one image of a docker archive. It implements types.LocalImage and
// types.NamedImage.
//
// In the classic form the archive holds no registry manifest: the push makes a Docker v2
// schema 2 manifest whose layers are gzip-compressed while they stream (or kept as stored
// with PushOptions.KeepUncompressed), so Digest is "" and Manifest fails with
// types.ErrManifestNotStored; the digest comes back in the push's result. In the docker 25+
// form the OCI manifest the archive holds is pushed byte for byte: Digest and Manifest give
// it.
type DockerImage struct {
	ix       *tarIndex
	asked    string             // NAME[:TAG] as asked for ("" when none was)
	repoTag  string             // RepoTag()
	manifest *layout.Descriptor // the docker 25+ form's manifest; nil for the classic form
}

// OpenDocker opens the image named name (NAME[:TAG], matched against the archive's RepoTags
// as docker matches names: "app" is "app:latest", "docker.io/library/app:1" is "app:1") in
// the docker archive file, or the only image when name is "".
func OpenDocker(file, name string) (*DockerImage, error) {
	ix, err := indexTar(file)
	if err != nil {
		return nil, err
	}
	return openDocker(ix, name)
}

func openDocker(ix *tarIndex, name string) (*DockerImage, error) {
	file := ix.path
	raw, err := ix.read("manifest.json", maxSmall)
	if err != nil {
		hint := ""
		if ix.has("oci-layout") {
			hint = "; it is an OCI archive: write oci-archive:" + file
		}
		return nil, invalid("%s is not a docker archive: %s%s", file, missing("manifest.json", err), hint)
	}
	var entries []manifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, invalid("docker archive %s: manifest.json is not valid: %v", file, err)
	}
	entry, err := chooseEntry(entries, name, file)
	if err != nil {
		return nil, err
	}
	img := &DockerImage{ix: ix, asked: name}
	switch {
	case name != "":
		img.repoTag = Familiar(name)
	case len(entry.RepoTags) == 1:
		img.repoTag = Familiar(entry.RepoTags[0])
	}
	if ix.has("oci-layout") && ix.has("index.json") {
		d, err := chooseInLayout(ix, entries, entry)
		if err != nil {
			return nil, err
		}
		img.manifest = &d
	}
	return img, nil
}

func chooseEntry(entries []manifestEntry, name, file string) (manifestEntry, error) {
	if name != "" {
		want := Familiar(name)
		var all []string
		for _, e := range entries {
			if slices.Contains(e.names(), want) {
				return e, nil
			}
			all = append(all, e.names()...)
		}
		return manifestEntry{}, invalid("docker archive %s has no image named %s (it has: %s)", file, want, list(all))
	}
	switch len(entries) {
	case 1:
		return entries[0], nil
	case 0:
		return manifestEntry{}, invalid("docker archive %s holds no image", file)
	}
	labels := make([]string, len(entries))
	for i, e := range entries {
		labels[i] = e.label()
	}
	return manifestEntry{}, invalid("docker archive %s holds %d images; choose one with docker-archive:%s:NAME:TAG (images: %s)",
		file, len(entries), file, strings.Join(labels, ", "))
}

// chooseInLayout finds the OCI manifest of entry in a docker 25+ archive, as the push library
// does: by the index entries' image name annotation, else the only entry, else by config.
func chooseInLayout(ix *tarIndex, entries []manifestEntry, entry manifestEntry) (layout.Descriptor, error) {
	raw, err := ix.read("index.json", maxSmall)
	if err != nil {
		return layout.Descriptor{}, invalid("docker archive %s: cannot read index.json: %v", ix.path, err)
	}
	var index struct {
		Manifests []layout.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return layout.Descriptor{}, invalid("docker archive %s: index.json is not valid JSON: %v", ix.path, err)
	}
	names := entry.names()
	for _, d := range index.Manifests {
		if n := d.Annotations[ImageNameAnnotation]; n != "" && slices.Contains(names, Familiar(n)) {
			return d, nil
		}
	}
	if len(index.Manifests) == 1 && len(entries) == 1 {
		return index.Manifests[0], nil
	}
	config := digestInName(entry.Config)
	if config == "" {
		b, err := ix.read(entry.Config, maxSmall)
		if err != nil {
			return layout.Descriptor{}, invalid("docker archive %s: config %q: %v", ix.path, entry.Config, err)
		}
		sum := sha256.Sum256(b)
		config = "sha256:" + hex.EncodeToString(sum[:])
	}
	for _, d := range index.Manifests {
		found, ok, err := withConfig(ix, d, config, 0)
		if err != nil {
			return layout.Descriptor{}, err
		}
		if ok {
			return found, nil
		}
	}
	return layout.Descriptor{}, invalid("docker archive %s: no manifest in its index.json is for %s (config %s)",
		ix.path, entry.label(), config)
}

// withConfig finds, at d or below it, the manifest whose config is config.
func withConfig(ix *tarIndex, d layout.Descriptor, config string, depth int) (layout.Descriptor, bool, error) {
	if depth > maxNesting {
		return layout.Descriptor{}, false, invalid("indexes in docker archive %s nest deeper than %d levels", ix.path, maxNesting)
	}
	b, err := readManifest(ix, d)
	if err != nil {
		return layout.Descriptor{}, false, err
	}
	var m struct {
		Config    *layout.Descriptor  `json:"config"`
		Manifests []layout.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return layout.Descriptor{}, false, invalid("docker archive %s: manifest %s is not valid JSON: %v", ix.path, d.Digest, err)
	}
	if m.Config != nil {
		return d, m.Config.Digest == config, nil
	}
	for _, child := range m.Manifests {
		found, ok, err := withConfig(ix, child, config, depth+1)
		if err != nil || ok {
			return found, ok, err
		}
	}
	return layout.Descriptor{}, false, nil
}

// digestInName is the digest a file name carries (<hex>.json, <hex>.tar, blobs/sha256/<hex>),
// or "".
func digestInName(p string) string {
	base := path.Base(p)
	h := strings.TrimSuffix(strings.TrimSuffix(base, ".json"), ".tar")
	d := "sha256:" + h
	if layout.CheckDigest(d) != nil {
		return ""
	}
	return d
}

// Digest is the digest of the manifest the push sends under the tag when the archive holds it
// (the docker 25+ form); "" for the classic form, whose manifest the push makes (the push's
// result carries its digest).
func (i *DockerImage) Digest() string {
	if i.manifest == nil {
		return ""
	}
	return i.manifest.Digest
}

// RepoTag is the image's name in docker's short form ("app:v1"): the NAME[:TAG] asked for, or
// else the image's RepoTag when it has exactly one; "" otherwise.
func (i *DockerImage) RepoTag() string { return i.repoTag }

// Tag is the tag part of RepoTag ("" when there is none).
func (i *DockerImage) Tag() string {
	_, tag := SplitRepoTag(i.repoTag)
	return tag
}

// File is the archive's path.
func (i *DockerImage) File() string { return i.ix.path }

// Kind is Docker.
func (i *DockerImage) Kind() Kind { return Docker }

// Source is the push library's source string: "docker-archive:FILE[:NAME:TAG]".
func (i *DockerImage) Source() string {
	if i.asked != "" {
		return "docker-archive:" + i.ix.path + ":" + i.asked
	}
	return "docker-archive:" + i.ix.path
}

// Manifest returns the manifest the archive holds (the docker 25+ form), checked against its
// digest. For the classic form it fails with an error wrapping types.ErrManifestNotStored.
func (i *DockerImage) Manifest() ([]byte, error) {
	if i.manifest == nil {
		return nil, fmt.Errorf("docker archive %s holds no registry manifest (classic form): %w", i.ix.path, types.ErrManifestNotStored)
	}
	return readManifest(i.ix, *i.manifest)
}

// Familiar is docker's short form of an image name: "docker.io/library/app:v1" -> "app:v1";
// ":latest" is added when the name has no tag (nor digest).
func Familiar(name string) string {
	s := strings.TrimSpace(name)
	for _, prefix := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s = rest
			if rest, ok := strings.CutPrefix(s, "library/"); ok && !strings.Contains(rest, "/") {
				s = rest
			}
			break
		}
	}
	last := s[strings.LastIndexByte(s, '/')+1:]
	if strings.ContainsAny(last, ":@") {
		return s
	}
	return s + ":latest"
}

// SplitRepoTag splits "[host[:port]/]path[:tag][@digest]" into the repository and the tag
// ("" when there is none).
func SplitRepoTag(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i+1:], "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
