// Package client embeds wsgate.js, the browser client of the wsgate.v1
// protocol, served by the gateway at GET /wsgate.js.
package client

import _ "embed"

// Script is wsgate.js.
//
//go:embed wsgate.js
var Script []byte
