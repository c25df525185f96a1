// Package codec turns bytes into protocol decisions and back, without I/O:
// HTTP/1.x request and response heads (one grammar, head.go), body framing
// and chunked bodies, the RFC 6455 opening handshake (gobwas/ws's Upgrader
// checks, made on the parsed request), client frames (gobwas/ws's header reader and checks, wsflate for
// permessage-deflate) and server frames. The gateway owns the sockets; codec
// only says what the bytes mean and which answer they deserve.
//
// # HTTP answers
//
// ParseRequestHead (ParseResponseHead applies the same grammar and refuses
// with an error wrapping ErrBadResponse; its start line is checked by
// ParseStatusLine's rules: HTTP/1.x, a status in 100-599, a reason without
// control characters):
//
//	incomplete head, fewer than max bytes            → n == 0, err == nil
//	no complete head within max bytes                → 431 (ErrHeadTooLarge)
//	more fields than ParseRequestHeadLimits allows   → 431 (ErrTooManyFields)
//	bad request line (method not a token, target not
//	  visible ASCII or in none of the four forms,
//	  HTTP/0.9 style line without version)           → 400
//	version other than HTTP/1.x (HTTP/2.0, HTTP/0.9)  → 400
//	bad header line (no colon, name not a token,
//	  space before colon, control char in value)     → 400
//	obs-fold (line starting with SP/HTAB)            → 400
//	bare CR                                          → 400
//	several Host headers; HTTP/1.1 without Host      → 400
//	Host not host[:port] ("a b/c@d", userinfo)       → 400
//	absolute-form with userinfo or no host           → 400
//	"#" in the request-target                        → 400
//	HTTP/1.2 … HTTP/1.9                              → 505
//
// Bare LF line ends are accepted in a head (RFC 9112 2.2), and so are
// empty lines before the start line; chunked framing, relayed as sent,
// must use CRLF (ChunkedScanner). An absolute-form target's authority
// replaces Host (Request.Host) and Request.URI is its origin-form.
//
// AcceptRequest, and Accept on head bytes (every refusal carries Connection: close):
//
//	valid upgrade                                    → 101 with Sec-WebSocket-Accept
//	method other than GET                            → 405 + Allow: GET (gobwas's choice)
//	HTTP/1.0                                         → 505 (gobwas's choice)
//	missing Host / Upgrade: websocket / Connection: upgrade → 400
//	missing or empty Sec-WebSocket-Version           → 400 (gobwas: not in the RFC's ABNF)
//	Sec-WebSocket-Version other than 13              → 426 + Sec-WebSocket-Version: 13
//	Sec-WebSocket-Key missing, repeated, or not
//	  base64 of 16 bytes                             → 400
//	Origin present and not in UpgradeOptions.Origins → 403
//	subprotocol: the first one the client lists that is in UpgradeOptions.Subprotocols
//	permessage-deflate: only with UpgradeOptions.Compression, answered with
//	  server_no_context_takeover; client_no_context_takeover; offers with
//	  bad parameters or a server_max_window_bits are declined, not refused
//
// # Close codes (Parser.Next returns a *CloseError)
//
//	unmasked client frame                            → 1002
//	RSV bit set without permessage-deflate           → 1002
//	RSV2/RSV3 set with permessage-deflate            → 1002
//	RSV1 on a continuation or control frame          → 1002
//	control frame longer than 125 bytes or not final → 1002
//	reserved opcode (0x3-0x7, 0xB-0xF)               → 1002
//	64-bit length with the most significant bit set  → 1002
//	continuation without a message in progress       → 1002
//	new text/binary frame while a message is in progress → 1002
//	message longer than MaxMessage (from the header) → 1009
//	inflated message longer than MaxMessage          → 1009
//	corrupt deflate data                             → 1007
//	text message (whole, across fragments) not UTF-8 → 1007
//	close body of one byte                           → 1002
//	close code 0-999, 1004, 1005, 1006, 1015, 1012-2999
//	  (reserved or undefined, per ws.CheckCloseFrameData), 5000 and up → 1002
//	close reason not UTF-8                           → 1007
//
// Codes 3000-4999 are accepted. Codes from 5000 up, which gobwas's
// CheckCloseFrameData lets through, are refused: RFC 6455 does not define them.
//
// Ping, pong and close frames are returned as events, also between the
// fragments of a message; the message in progress is kept in the Decoder.
package codec
