"""fcgi_client.py: a minimal FastCGI client (responder role), for tests that
talk to the workers' socket directly, with parameters no front would send.

request(sock_path, params, stdin=b'') -> (status, headers dict, body bytes)
"""

import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7


def _record(rtype, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack('>BBHHBB', 1, rtype, req_id, len(content), pad, 0) + content + b'\0' * pad


def _length(n):
    return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)


def _pairs(params):
    out = b''
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += _length(len(k)) + _length(len(v)) + k + v
    return out


def _chunks(data, size=32768):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def request(sock_path, params, stdin=b'', timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        msg = _record(BEGIN_REQUEST, struct.pack('>HB5x', 1, 0))
        for c in _chunks(_pairs(params)):
            msg += _record(PARAMS, c)
        msg += _record(PARAMS, b'')
        for c in _chunks(stdin):
            msg += _record(STDIN, c)
        msg += _record(STDIN, b'')
        s.sendall(msg)
        out, buf = b'', b''
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            ended = False
            while len(buf) >= 8:
                _v, rtype, _id, clen, pad, _r = struct.unpack('>BBHHBB', buf[:8])
                if len(buf) < 8 + clen + pad:
                    break
                content, buf = buf[8:8 + clen], buf[8 + clen + pad:]
                if rtype == STDOUT:
                    out += content
                elif rtype == END_REQUEST:
                    ended = True
            if ended:
                break
    finally:
        s.close()
    head, _sep, body = out.partition(b'\r\n\r\n')
    headers, status = {}, 200
    for line in head.split(b'\r\n'):
        name, _c, value = line.partition(b':')
        headers[name.strip().lower().decode()] = value.strip().decode('latin-1')
    if 'status' in headers:
        status = int(headers['status'].split()[0])
    return status, headers, body
