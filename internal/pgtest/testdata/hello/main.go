// Command hello is built by TestBuildBinary.
package main

import "fmt"

func main() { fmt.Println("hello from pgtest") }
