package testenv

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TarFile is one entry of a tar written by WriteTar: a regular file with Data, or a link
// (Type tar.TypeSymlink or tar.TypeLink) to Link.
type TarFile struct {
	Name string
	Data []byte
	Type byte
	Link string
}

// WriteTar writes files, in order, as an uncompressed tar at file. Names are written as given
// (no sanitizing), so tests can make hostile archives.
func WriteTar(t testing.TB, file string, files []TarFile) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range files {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Typeflag: e.Type, Linkname: e.Link, Format: tar.FormatPAX}
		if e.Type == 0 {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// LayoutFiles are the files of the layout at dir (oci-layout, index.json, blobs/sha256/*) as
// tar entries named relative to dir, prefixed with prefix (e.g. "./").
func LayoutFiles(t testing.TB, dir, prefix string) []TarFile {
	t.Helper()
	var files []TarFile
	for _, name := range []string{"oci-layout", "index.json"} {
		files = append(files, TarFile{Name: prefix + name, Data: readFile(t, filepath.Join(dir, name))})
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		files = append(files, TarFile{Name: prefix + "blobs/sha256/" + b.Name(),
			Data: readFile(t, filepath.Join(dir, "blobs", "sha256", b.Name()))})
	}
	return files
}

// WriteOCIArchive writes the layout of l as an OCI archive (a tar of the layout) at file.
func WriteOCIArchive(t testing.TB, file string, l Layout) {
	t.Helper()
	WriteTar(t, file, LayoutFiles(t, l.Dir, ""))
}

// DockerImage is the content of one image of a layout written by WriteLayout, as a docker
// archive holds it: the config and the (uncompressed) layers, whose digests are the
// diff_ids.
type DockerImage struct {
	Config []byte
	Layers [][]byte
}

// ReadDockerImage reads the config and layers of the image of l.
func ReadDockerImage(t testing.TB, l Layout) DockerImage {
	t.Helper()
	blob := func(d string) []byte {
		return readFile(t, filepath.Join(l.Dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	}
	var m struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(l.Digest), &m); err != nil {
		t.Fatal(err)
	}
	img := DockerImage{Config: blob(m.Config.Digest)}
	for _, d := range m.Layers {
		img.Layers = append(img.Layers, blob(d.Digest))
	}
	return img
}

// DockerEntry is one image of a docker archive's manifest.json.
type DockerEntry struct {
	Image    DockerImage
	RepoTags []string
}

// WriteDockerArchive writes a classic docker archive (docker save before 25, podman save,
// skopeo) at file: <hex>.json configs, <hex>.tar layers (reached through <id>/layer.tar
// symlinks, as skopeo writes them) and manifest.json listing entries in order.
func WriteDockerArchive(t testing.TB, file string, entries ...DockerEntry) {
	t.Helper()
	type manifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var files []TarFile
	seen := map[string]bool{}
	add := func(name string, data []byte) {
		if !seen[name] {
			seen[name] = true
			files = append(files, TarFile{Name: name, Data: data})
		}
	}
	var manifest []manifestEntry
	for _, e := range entries {
		me := manifestEntry{Config: hexOf(e.Image.Config) + ".json", RepoTags: e.RepoTags, Layers: []string{}}
		add(me.Config, e.Image.Config)
		for _, l := range e.Image.Layers {
			h := hexOf(l)
			add(h+".tar", l)
			link := h[:16] + "/layer.tar"
			if !seen[link] {
				seen[link] = true
				files = append(files, TarFile{Name: link, Type: tar.TypeSymlink, Link: "../" + h + ".tar"})
			}
			me.Layers = append(me.Layers, link)
		}
		manifest = append(manifest, me)
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, TarFile{Name: "manifest.json", Data: b})
	WriteTar(t, file, files)
}

// WriteDockerOCIArchive writes the docker 25+ form of a docker archive of l at file: the
// layout's files plus a manifest.json whose entry names blobs/sha256/ paths and has repoTags;
// the index.json entry gets an io.containerd.image.name annotation with the first repo tag.
// It returns the digest of the manifest it holds (l.Digest).
func WriteDockerOCIArchive(t testing.TB, file string, l Layout, repoTags ...string) string {
	t.Helper()
	img := ReadDockerImage(t, l)
	files := LayoutFiles(t, l.Dir, "")
	if len(repoTags) > 0 {
		var index map[string]any
		if err := json.Unmarshal(files[1].Data, &index); err != nil {
			t.Fatal(err)
		}
		m := index["manifests"].([]any)[0].(map[string]any)
		ann, _ := m["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann["io.containerd.image.name"] = "docker.io/library/" + repoTags[0]
		m["annotations"] = ann
		b, err := json.Marshal(index)
		if err != nil {
			t.Fatal(err)
		}
		files[1].Data = b
	}
	layers := []string{}
	for _, layer := range img.Layers {
		layers = append(layers, "blobs/sha256/"+hexOf(layer))
	}
	b, err := json.Marshal([]map[string]any{{
		"Config": "blobs/sha256/" + hexOf(img.Config), "RepoTags": repoTags, "Layers": layers,
	}})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, TarFile{Name: "manifest.json", Data: b})
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	WriteTar(t, file, files)
	return l.Digest
}

func hexOf(b []byte) string { return strings.TrimPrefix(Sha256(b), "sha256:") }

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
