package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/viper"
)

// Error is one configuration problem. Key names the key ("vip.address"),
// the environment variable ("PGSWITCH_VIP_ADRESS"), "(file)" for the file
// as a whole, or the path of a file that cannot be read.
type Error struct {
	Key string
	Msg string
	Err error // the cause, if any
}

// Error is "config: <key>: <msg>", followed by the cause if there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("config: %s: %s: %v", e.Key, e.Msg, e.Err)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Load reads the YAML file at path, applies the PGSWITCH_* variables of the
// process's environment, decodes strictly and validates. Every problem is
// reported at once: the error is an *Error or an errors.Join of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the Key already
		}
		return nil, &Error{Key: path, Msg: "cannot read the configuration file", Err: err}
	}
	return LoadBytes(data, os.Environ())
}

// LoadBytes does what Load does with the file's contents in data and env as
// the environment (NAME=value lines, as from os.Environ).
func LoadBytes(data []byte, env []string) (*Config, error) {
	file := &fileDecoder{}
	v := viper.NewWithOptions(viper.WithDecoderRegistry(file))
	v.SetConfigType("yaml")
	var problems []error
	readErr := v.ReadConfig(bytes.NewReader(data))
	if readErr != nil {
		if inner := errors.Unwrap(readErr); inner != nil {
			readErr = inner // viper's "While parsing config:" adds nothing
		}
		problems = append(problems, &Error{Key: fileKey, Msg: "is not valid YAML", Err: readErr})
	}
	problems = append(problems, file.problems...)
	problems = append(problems, applyEnv(v, env)...)
	if readErr != nil || file.unusable {
		// Without the file, checking the values would only add noise.
		return nil, errors.Join(problems...)
	}

	c := &Config{}
	given := map[string]raw{} // the keys set by the file or the environment
	undecoded := map[string]bool{}
	for i := range keys {
		k := &keys[i]
		k.setDefault(c)
		r, ok := v.Get(k.name).(raw)
		if !ok {
			continue
		}
		given[k.name] = r
		if err := k.decode(c, r); err != nil {
			problems = append(problems, err)
			undecoded[k.name] = true
		}
	}
	if _, ok := given["node.state_dir"]; !ok {
		c.defaultStateDir()
	}
	// The values are checked as given, without Validate's defaults: an
	// explicit "timeout: 0s" is a mistake, not a request for the default.
	for _, p := range c.check() {
		if undecoded[p.Key] {
			continue // reported already
		}
		if r, ok := given[p.Key]; ok {
			p.Msg += r.where()
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}
