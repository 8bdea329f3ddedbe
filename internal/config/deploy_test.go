package config

import (
	"os"
	"testing"
)

// The example shipped in deploy/ is the tested one.
func TestDeployExampleIsTheTestedExample(t *testing.T) {
	deploy, err := os.ReadFile("../../deploy/pgswitch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(deploy) != string(example) {
		t.Fatal("deploy/pgswitch.yaml differs from internal/config/testdata/example.yaml: copy it over")
	}
	if _, err := LoadBytes(deploy, nil); err != nil {
		t.Fatalf("deploy/pgswitch.yaml does not load: %v", err)
	}
}
