package config

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/spf13/viper"
)

func TestZZScratch(t *testing.T) {
	for _, y := range []string{
		"node: {name: a, name.sub: y}\n",
		"node: {name: a}\nnode.name.x: 1\n",
		"node: {name: a}\nNODE: {name: c}\n",
		"node: {name: a, NAME: c}\n",
		"node: {name: a}\nnode.name: c\n",
		"node.name: c\n",
		"node: {name: a}\nnode: {api_listen: b}\n",
		"node:\n  name: a\n  name: b\n",
		"1: x\n",
		"node: {1: x}\n",
		"? [a]\n: x\n",
		"node: {? [a] : x}\n",
		"node:\n  name: !!binary aGVsbG8=\n",
		"node:\n  name: 2024-01-01\n",
		"vip:\n  garp_interval: 1h\n",
		"a: &x {b: 1}\nc: *x\n",
		"~: 1\n",
		"node: {~: 1}\n",
		"<<: {node: {name: a}}\n",
		"node: {<<: {name: a}}\n",
		"node: {name: .inf}\n",
		"node: {name: 0x1F}\n",
		"node: {name: 1_000}\n",
		"node: {name: 12345678901234567890123}\n",
		"node: {name: !!float 3}\n",
		"node: {name: null}\n",
		"node: {name: }\n",
	} {
		v := viper.New()
		v.SetConfigType("yaml")
		err := v.ReadConfig(bytes.NewReader([]byte(y)))
		fmt.Printf("%q -> err=%v\n   all=%#v\n   keys=%v\n", y, err, v.AllSettings(), v.AllKeys())
	}
}
