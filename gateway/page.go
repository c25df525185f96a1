package gateway

import _ "embed"

// demoPage is the chat page served at -demo-path: it connects to /ws on the
// same host and shows every message of the topic.
//
//go:embed page.html
var demoPage []byte
