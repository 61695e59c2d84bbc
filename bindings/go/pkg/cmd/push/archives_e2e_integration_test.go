//go:build integration

package push

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
)

// pushArchive runs bin/idpbuilder push IMAGE with the test registry's credentials and CA,
// quietly, plus args.
func pushArchive(t *testing.T, env testenv.Env, image string, args ...string) binRun {
	t.Helper()
	all := append([]string{"push", image, "-u", env.Username, "--password-stdin", "--ca-file", env.CA, "-q"}, args...)
	return runBinary(t, env.Password, nil, all...)
}

// checkPushed checks a successful run: one stdout line REF@DIGEST with REF = want, and the
// digest skopeo sees for REF is DIGEST. It returns the digest.
func checkPushed(t *testing.T, env testenv.Env, r binRun, want string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	m := pinned.FindStringSubmatch(lastLine(r.stdout))
	if m == nil || m[1] != want || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout %q, want one line %s@sha256:...", r.stdout, want)
	}
	got, err := env.SkopeoDigest(t, want)
	if err != nil {
		t.Fatal(err)
	}
	if got != m[2] {
		t.Errorf("skopeo sees %s, idpbuilder printed %s", got, m[2])
	}
	if strings.Contains(r.stdout+r.stderr, env.Password) {
		t.Error("the password was printed")
	}
	return m[2]
}

func TestE2EPushArchives(t *testing.T) {
	env := testenv.Load(t)
	a := env.Archives()
	cases := []struct {
		name  string
		image string
		args  []string
		// digest, when set, is the manifest the archive holds, pushed byte for byte.
		digest string
	}{
		{"oci-archive, skopeo", "oci-archive:" + filepath.Join(a, "oci-skopeo.tar") + ":v1", nil, ""},
		{"oci-archive, tar of a layout, detected", filepath.Join(a, "oci-tar.tar"), nil, ""},
		{"docker-archive, classic, skopeo", "docker-archive:" + filepath.Join(a, "docker-skopeo.tar"), nil, ""},
		{"docker-archive, classic, kept uncompressed", "docker-archive:" + filepath.Join(a, "docker-skopeo.tar"), []string{"--keep-uncompressed"}, ""},
		{"docker-archive, classic, two images, by name", "docker-archive:" + filepath.Join(a, "docker-two.tar") + ":other:b", nil, ""},
		{"docker-archive, classic, detected, by name", filepath.Join(a, "docker-two.tar") + ":app:v1", nil, ""},
		{"docker-archive, docker 25 form", "docker-archive:" + filepath.Join(a, "docker-oci.tar"), nil, readDigestFile(t, filepath.Join(a, "docker-oci.manifest-digest"))},
		{"multi-platform index, whole", filepath.Join(a, "multi.tar") + ":multi", nil, ""},
		{"docker-archive, buildah, detected", filepath.Join(a, "docker-buildah.tar"), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dest := env.Ref("e2e-archive", "1")
			r := pushArchive(t, env, c.image, append([]string{"--dest", dest}, c.args...)...)
			got := checkPushed(t, env, r, dest)
			if c.digest != "" && got != c.digest {
				t.Errorf("pushed %s, want the archive's manifest %s", got, c.digest)
			}
			raw, err := env.SkopeoRaw(t, dest)
			if err != nil {
				t.Fatal(err)
			}
			uncompressed := strings.Contains(string(raw), "application/vnd.docker.image.rootfs.diff.tar\"")
			if keep := len(c.args) > 0 && c.args[0] == "--keep-uncompressed"; keep != uncompressed {
				t.Errorf("--keep-uncompressed %v, but uncompressed docker layers %v in %s", keep, uncompressed, raw)
			}
		})
	}
}

// TestE2EArchiveDestinationDefaults pushes archives without --dest, to a fresh owner: the
// name and tag come from the archive (file name, ref name, RepoTag).
func TestE2EArchiveDestinationDefaults(t *testing.T) {
	env := testenv.Load(t)
	a := env.Archives()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	owner := "itest-" + hex.EncodeToString(b)
	prefix := env.Registry + "/" + owner + "/"
	for _, c := range []struct{ image, want string }{
		{"oci-archive:" + filepath.Join(a, "oci-skopeo.tar"), "oci-skopeo:v1"},
		{filepath.Join(a, "oci-tar.tar"), "oci-tar:v1"},
		{"docker-archive:" + filepath.Join(a, "docker-skopeo.tar"), "app:v1"},
		{"docker-archive:" + filepath.Join(a, "docker-two.tar") + ":docker.io/library/other:b", "other:b"},
		{filepath.Join(a, "multi.tar") + ":multi", "multi:multi"},
	} {
		r := pushArchive(t, env, c.image, "--registry", env.Registry, "--owner", owner)
		checkPushed(t, env, r, prefix+c.want)
	}
}

func TestE2EPushPlatform(t *testing.T) {
	env := testenv.Load(t)
	multi := filepath.Join(env.Archives(), "multi")
	arm64 := childFor(t, multi, "multi", "arm64")
	for _, image := range []string{"oci:" + multi + ":multi", filepath.Join(env.Archives(), "multi.tar") + ":multi"} {
		dest := env.Ref("e2e-platform", "arm64")
		r := pushArchive(t, env, image, "--dest", dest, "--platform", "linux/arm64")
		if got := checkPushed(t, env, r, dest); got != arm64 {
			t.Errorf("%s: pushed %s, want the linux/arm64 child %s", image, got, arm64)
		}
		raw, err := env.SkopeoRaw(t, dest)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Config    json.RawMessage   `json:"config"`
			Manifests []json.RawMessage `json:"manifests"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Manifests != nil || m.Config == nil {
			t.Errorf("%s: pushed manifest is not a single image manifest: %s", image, raw)
		}
	}
	// A platform the index does not hold: one line, nothing tagged.
	dest := env.Ref("e2e-platform", "s390x")
	r := pushArchive(t, env, "oci:"+multi+":multi", "--dest", dest, "--platform", "linux/s390x")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "linux/s390x") {
		t.Errorf("missing platform: exit %d stderr %q", r.code, r.stderr)
	}
	if d, err := env.SkopeoDigest(t, dest); err == nil {
		t.Errorf("tagged %s for a platform the image does not have", d)
	}
}

func TestE2EHostileArchives(t *testing.T) {
	env := testenv.Load(t)
	h := filepath.Join(env.Archives(), "hostile")
	for _, c := range []struct{ image, want string }{
		{filepath.Join(h, "traversal.tar"), "'..'"},
		{"oci-archive:" + filepath.Join(h, "traversal.tar") + ":v1", "'..'"},
		{filepath.Join(h, "absolute.tar"), "absolute"},
		{filepath.Join(h, "symlink.tar"), "outside the archive"},
		{filepath.Join(h, "hardlink.tar"), "'..'"},
		{filepath.Join(h, "truncated.tar"), "truncated"},
		{filepath.Join(h, "duplicate.tar"), "twice"},
		{filepath.Join(h, "compressed.tar.gz"), "gzip-compressed; decompress it first"},
		{"oci-archive:" + filepath.Join(h, "compressed.tar.gz"), "gzip-compressed; decompress it first"},
	} {
		t.Run(filepath.Base(c.image), func(t *testing.T) {
			dest := env.Ref("e2e-hostile", "1")
			r := pushArchive(t, env, c.image, "--dest", dest)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q: want one line \"Error: ...%s...\"", r.stderr, c.want)
			}
			if d, err := env.SkopeoDigest(t, dest); err == nil {
				t.Errorf("the tag exists (%s) after a refused archive", d)
			}
		})
	}
}

// childFor returns the digest of the child for arch of the index tagged tag in the layout.
func childFor(t *testing.T, layoutDir, tag, arch string) string {
	t.Helper()
	type desc struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	var index struct {
		Manifests []desc `json:"manifests"`
	}
	read := func(p string, v any) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	read(filepath.Join(layoutDir, "index.json"), &index)
	for _, d := range index.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] != tag {
			continue
		}
		var children struct {
			Manifests []desc `json:"manifests"`
		}
		read(filepath.Join(layoutDir, "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:")), &children)
		for _, c := range children.Manifests {
			if c.Platform != nil && c.Platform.OS == "linux" && c.Platform.Architecture == arch {
				return c.Digest
			}
		}
	}
	t.Fatalf("no linux/%s child under tag %s in %s", arch, tag, layoutDir)
	return ""
}

func readDigestFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
