// Package httpsurl is Tripline's one check of the URLs it sends data to
// (notification channels, the Cosmos DB endpoint): https, or http only to a
// loopback address (local receivers and emulators).
package httpsurl

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// Parse parses raw and checks it. The error never contains the URL: webhook
// URLs carry tokens.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || !u.IsAbs() {
		return nil, errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return u, nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return u, nil
		}
		return nil, errors.New("http is only allowed to loopback addresses; use https")
	default:
		return nil, errors.New("scheme not allowed; use https")
	}
}
