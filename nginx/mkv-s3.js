// nginx/mkv-s3.js: njs for nginx/mkv-s3.conf.  meta: GetObject's headers
// that nginx drops across an X-Accel-Redirect (user metadata,
// Content-Encoding, Content-Language, x-amz-storage-class).  The worker
// sends them in the redirect's query, "?mkv-meta=" and the base64url of
// "Name: value\r\n" lines (fcgi/s3_object.c); this header filter of the
// internal locations in mkv-s3.conf adds them to the answer.  Stock nginx
// has no way to add a header whose name is not in its configuration, which
// user metadata needs; njs (Debian's libnginx-mod-http-js) does.
// too_large: a body S3 refuses by its declared length, told before nginx
// reads it.
function meta(r) {
    var m = r.args['mkv-meta'];

    // Only to the replica's bytes: not to an error document.
    if (!m || (r.status != 200 && r.status != 206))
        return;
    Buffer.from(m, 'base64url').toString().split('\r\n').forEach(function (line) {
        var i = line.indexOf(': ');

        if (i > 0)
            r.headersOut[line.substring(0, i)] = line.substring(i + 2);
    });
}

// "1" when the request declares a value longer than S3's 5 GiB (a single
// PutObject or one part), else "".  The worker refuses it too
// (fcgi/s3_body.c, S3_LENGTH_MAX), but only once nginx has started passing
// the body: by then a client that sent "Expect: 100-continue" has been
// told to send 5 GiB.  This runs before that, from the headers alone: the
// value's length is x-amz-decoded-content-length when the body is
// aws-chunked (its Content-Length counts the chunk signatures too), else
// Content-Length.  Anything not a plain number is left to the worker.
var S3_LENGTH_MAX = '5368709120';

function too_large(r) {
    var h = r.headersIn;
    var n = h['x-amz-decoded-content-length'] || h['Content-Length'];

    if (!n || !/^[0-9]+$/.test(n))
        return '';
    n = n.replace(/^0+(?=[0-9])/, '');
    return n.length > S3_LENGTH_MAX.length ||
        (n.length == S3_LENGTH_MAX.length && n > S3_LENGTH_MAX) ? '1' : '';
}

export default {meta, too_large};
