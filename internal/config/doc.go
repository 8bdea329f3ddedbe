// Package config reads pgswitch's configuration (SPEC §5): one YAML file
// read with viper, every key overridable by an environment variable
// PGSWITCH_<SECTION>_<KEY>, decoded strictly into Config and validated.
//
// Strictness is the point: an unknown section or key, a key given twice
// (also in another case: viper folds case), a value of the wrong type, a
// PGSWITCH_ variable that names no key and an invalid value are all errors
// that name the key (or the variable), and every problem is reported at once
// (errors.Join of *Error). A key that is absent, or present with no value,
// takes its default.
//
// Every key is one line of the table in keys.go; the sections, environment
// variable names, defaults, decoding, Validate's defaults and Redacted all
// follow from it.
package config
