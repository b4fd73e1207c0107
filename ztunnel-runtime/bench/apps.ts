// Upstream apps for the benchmark, in their own process: HTTP 1 KB responses, a byte sink, a connection holder.
// argv: <host>
import * as http from 'node:http';
import * as net from 'node:net';

const host = process.argv[2]!;
const body = Buffer.alloc(1024, 'a');
const app = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body));
app.keepAliveTimeout = 60_000;
const sink = net.createServer({ allowHalfOpen: true }, (c) => {
  c.on('data', () => undefined);
  c.on('end', () => c.end());
  c.on('error', () => undefined);
});
let holding = 0;
const hold = net.createServer((c) => {
  holding++;
  c.on('close', () => holding--);
  c.on('error', () => undefined);
});
// The bench asks how many held connections reached the app: only those count in the memory per connection.
process.on('message', (m) => m === 'holding' && process.send?.({ holding }));
let n = 0;
const up = () => ++n === 3 && process.send?.({ ready: true });
app.listen(8080, host, up);
sink.listen(9000, host, up);
// A deep accept queue: with the default (511) a burst of held connections overflows it, the kernel drops the
// handshake's last ACK, and connections the ztunnels hold never reach the app (and would not be counted).
hold.listen({ port: 9001, host, backlog: 8192 }, up);
