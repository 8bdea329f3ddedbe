// Package service runs the operator's service program (service.start,
// service.stop, service.check): argv without a shell, bounded by
// service.timeout, with its output captured into the log.
package service
