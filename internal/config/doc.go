// Package config reads pgswitch's configuration (SPEC §5): one YAML file
// read with viper, every key overridable by PGSWITCH_<SECTION>_<KEY>, decoded
// strictly into Config and validated. Unknown keys, unknown PGSWITCH_
// variables and invalid values are errors that name the key; every problem
// is reported at once.
package config
