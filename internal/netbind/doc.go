// Package netbind owns the virtual IP: it adds and removes the address on the
// configured interface through netlink and announces a newly bound address to
// the segment (gratuitous ARP for IPv4, unsolicited neighbour advertisements
// for IPv6) so that clients and switches move to the new host at once.
package netbind
