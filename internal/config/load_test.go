package config_test

import (
	"fmt"
	"testing"

	"github.com/pgswitch/pgswitch/internal/config"
)

const rest = `peer:
  name: b
  api_url: http://h:7400
security:
  token_file: /etc/t
`

func TestScratch(t *testing.T) {
	for _, y := range []string{
		"node: {name: a, api_listen: ':1', name.sub: y}\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
		"node: {name: a, api_listen: ':1'}\nnode.name.x: 1\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
		"node: {name: a, api_listen: ':1'}\nNODE: {name: c}\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
		"node: {name: a, api_listen: ':1'}\nNode: {name: c, api_listen: ':1'}\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
		"node: {name: a, api_listen: ':1', NAME: c}\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
		"node: {name: a, api_listen: ':1'}\nnode.name: c\npostgres: {dsn: host=h, peer_dsn: host=h}\n" + rest,
	} {
		res := map[string]int{}
		for i := 0; i < 200; i++ {
			c, err := config.LoadBytes([]byte(y), nil)
			s := fmt.Sprint(err)
			if c != nil {
				s += " name=" + c.Node.Name
			}
			res[s]++
		}
		fmt.Printf("---- %q\n", y[:60])
		for k, v := range res {
			fmt.Printf("   %d× %s\n", v, k)
		}
	}
}
