package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router/backend"
)

// tcpCheck passes when a TCP connect to addr completes within connect.
func tcpCheck(ctx context.Context, addr string, connect time.Duration) (bool, string) {
	d := net.Dialer{Timeout: connect}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, backend.Reason(err)
	}
	conn.Close()
	return true, "connected"
}

// httpCheck sends `GET path HTTP/1.1` with a Host header and passes on a
// 2xx or 3xx status (as HAProxy's httpchk does) or 101, all within timeout.
// It reads only the status line: a check must not depend on the body.
func httpCheck(ctx context.Context, addr, path string, connect, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{Timeout: connect}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, backend.Reason(err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) }) // Stop interrupts a hung check
	defer stop()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: wsgate-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return false, backend.Reason(err)
	}
	line, err := bufio.NewReaderSize(conn, 256).ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return false, fmt.Sprintf("bad HTTP status line %q", truncate(string(line), 40))
	case err == io.EOF && len(line) == 0:
		return false, "connection closed without a response"
	case err != nil && len(line) == 0:
		return false, backend.Reason(err)
	}
	code, err := parseStatus(string(line))
	if err != nil {
		return false, err.Error()
	}
	return code == 101 || code >= 200 && code < 400, "HTTP status " + strconv.Itoa(code)
}

// parseStatus reads the code of an HTTP/1.x status line with the grammar
// the proxy applies to a server's response (codec.ParseStatusLine), so a
// check does not pass a server whose answers the proxy would refuse.
func parseStatus(line string) (int, error) {
	_, code, _, err := codec.ParseStatusLine([]byte(line))
	if err != nil {
		return 0, fmt.Errorf("bad HTTP status line %q", truncate(line, 40))
	}
	return code, nil
}

func truncate(s string, n int) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
