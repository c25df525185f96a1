// Reads a JSON array of base64 request heads on stdin, sends each on its own
// connection to a Node http server (llhttp, default strict options) on
// 127.0.0.1, and prints a JSON array of verdicts: "accept" when the server
// got a request (or an upgrade), "refuse:<why>" when it answered an error or
// closed, "timeout" when nothing came back within a second (incomplete head).
// The verdict is read from the answer on the client's socket, so a late
// event of an earlier connection cannot be taken for this one's.
// Node built-ins only. Used by codec's TestRequestHeadsAgreeWithLlhttp.
'use strict';
const http = require('http');
const net = require('net');

const server = http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end('accepted');
});
server.on('upgrade', (req, socket) => {
  socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 8\r\n\r\naccepted');
});
server.on('clientError', (err, socket) => {
  if (socket.writable) {
    socket.end('HTTP/1.1 400 Bad Request\r\nX-Err: ' + (err.code || 'error') + '\r\nConnection: close\r\n\r\n');
  }
});

function tryHead(port, head) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (got === '') return resolve(timedOut ? 'timeout' : 'refuse:closed');
      if (/^HTTP\/1\.1 200 /.test(got) && got.endsWith('accepted')) return resolve('accept');
      const m = /X-Err: (\S+)/.exec(got);
      resolve('refuse:' + (m ? m[1] : got.split('\r\n')[0]));
    };
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; finish(); }, 1000);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', () => {});
    sock.write(head);
  });
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  server.listen(0, '127.0.0.1', async () => {
    const port = server.address().port;
    const out = [];
    for (const h of JSON.parse(input)) {
      out.push(await tryHead(port, Buffer.from(h, 'base64')));
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exit(0);
  });
});
