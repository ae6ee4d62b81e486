// nginx/mkv-s3.js: GetObject's headers that nginx drops across an
// X-Accel-Redirect (user metadata, Content-Encoding, Content-Language,
// x-amz-storage-class).
// The worker sends them in the redirect's query, "?mkv-meta=" and the
// base64url of "Name: value\r\n" lines (fcgi/s3_object.c); this header
// filter of the internal locations in mkv-s3.conf adds them to the answer.
// Stock nginx has no way to add a header whose name is not in its
// configuration, which user metadata needs; njs (Debian's
// libnginx-mod-http-js) does.
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

export default {meta};
