'use strict'
// The client is always 127.0.0.1: name it without Haraka's default dns.reverse() query,
// which goes to the configured DNS server rather than /etc/hosts.

exports.hook_lookup_rdns = (next) => next(OK, 'localhost')
