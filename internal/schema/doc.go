// Package schema reads the shape of the replicated tables on a node and
// compares the two nodes: the source of the "schema drift" findings of
// `pgswitch check`, of init's refusal and of the standby's fault check.
// DDL is not replicated, so the operator keeps both schemas equal; this
// package tells them when they are not.
package schema
